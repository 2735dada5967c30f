"""Code generation scored by running the item's unit tests on the model's code in the sandbox.

Item fields the scorer reads: `input` (the prompt: a signature and docstring; for completion-style
tasks such as HumanEval, the code the completion continues), `meta.tests` (test code run after the
solution: asserts, or HumanEval's `check` plus a call to it) and `meta.entry_point` (the function's
name, used to pick the right code block). With `generation.samples: n` the scorer reports pass@k
for each configured k by the unbiased estimator of Chen et al. (2021).
"""
from __future__ import annotations

import ast
import hashlib
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from math import comb
from typing import Any

from evals.errors import UsageError
from evals.items import Item
from evals.requests import Request, Response
from evals.sandbox import Limits, SandboxResult, run_python
from evals.scoring.base import SCORERS, Score

MODES = ("auto", "fenced", "completion")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_PY_LANGS = ("", "python", "py", "python3", "py3")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def fenced_blocks(text: str) -> list[str]:
    """Python code blocks of a Markdown answer, in order; an unclosed last fence runs to the end."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PY_LANGS]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
               for n in ast.walk(tree))


def _header_imports(prompt: str) -> str:
    """The prompt's top-level imports, so a fenced rewrite of a HumanEval function keeps `List` etc."""
    return "".join(line + "\n" for line in prompt.splitlines() if re.match(r"(import|from)\s+\w", line))


def extract_program(prompt: str, response: str, entry_point: str, mode: str = "auto") -> str:
    """The solution code to test: a fenced block that defines the entry point, the prompt plus the
    completion, or the raw answer; the first candidate that parses and defines the entry point wins."""
    candidates: list[str] = []
    if mode in ("auto", "fenced"):
        imports = _header_imports(prompt)
        candidates += [imports + b for b in fenced_blocks(response)]
    if mode in ("auto", "completion"):
        body = response
        if mode == "auto" and "```" in response:
            blocks = fenced_blocks(response)
            body = blocks[0] if blocks else response
        candidates.append(prompt + body)
    if mode in ("auto", "fenced"):
        candidates.append(response)
        lines = response.splitlines()
        for i, line in enumerate(lines):  # prose before the code: start at the first code line
            if re.match(r"(def|class|import|from|@)\W", line):
                candidates.append("\n".join(lines[i:]))
                break
    for cand in candidates:
        if _parses(cand) and (not entry_point or _defines(cand, entry_point)):
            return cand
    for cand in candidates:
        if _parses(cand):
            return cand
    return candidates[0] if candidates else response


_TRACE_LINE = re.compile(r'File "solution\.py", line (\d+)')


def _why(result: SandboxResult, program: str) -> str:
    """The sandbox's reason, plus the line of the program that failed (a test's assert, usually)."""
    why = result.reason()
    if result.status != "failed":
        return why
    lines = _TRACE_LINE.findall(result.stderr)
    if lines:
        src = program.splitlines()
        n = int(lines[-1])
        if 0 < n <= len(src) and src[n - 1].strip():
            text = src[n - 1].strip()
            why += f" (line {n}: {text[:117] + '...' if len(text) > 120 else text})"
    return why


@SCORERS.register("code_exec")
class CodeExec:
    """pass@k of generated Python against the item's hidden tests, each run in the sandbox."""

    def __init__(self, k: list[int] | int = 1, mode: str = "auto", timeout_s: float = 10.0, memory_mb: int = 512,
                 tests_field: str = "tests", entry_point_field: str = "entry_point", workers: int = 4) -> None:
        ks = [k] if isinstance(k, int) else list(k)
        if not ks or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in ks):
            raise TypeError("k must be a positive integer or a list of them")
        if mode not in MODES:
            raise TypeError(f"mode must be one of {', '.join(MODES)}")
        self.ks = sorted(set(ks))
        self.metrics = tuple(f"pass@{x}" for x in self.ks)
        # pass@1 of one greedy sample is 0/1 (Wilson interval); with k > 1 values are fractions (bootstrap)
        self.binary = self.ks == [1]
        self.mode = mode
        self.limits = Limits(timeout_s=float(timeout_s), cpu_s=max(1, int(timeout_s + 0.999)), memory_mb=int(memory_mb))
        self.tests_field = tests_field
        self.entry_point_field = entry_point_field
        self.workers = max(1, int(workers))
        self._seen: OrderedDict[str, SandboxResult] = OrderedDict()  # identical samples run once
        self._lock = threading.Lock()

    def _execute(self, program: str) -> SandboxResult:
        key = hashlib.sha256(program.encode("utf-8")).hexdigest()
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        res = run_python(program, self.limits)
        with self._lock:
            self._seen[key] = res
            while len(self._seen) > 256:
                self._seen.popitem(last=False)
        return res

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        tests = item.meta.get(self.tests_field)
        if not isinstance(tests, str) or not tests.strip():
            raise UsageError(f"item {item.id!r}: code_exec needs the test code in meta.{self.tests_field}")
        n = len(responses)
        if n < self.ks[-1]:
            raise UsageError(f"scorer code_exec: pass@{self.ks[-1]} needs generation.samples >= {self.ks[-1]} "
                             f"(item {item.id!r} has {n} response(s))")
        entry = str(item.meta.get(self.entry_point_field) or "")
        prompt = item.input or ""
        programs = [extract_program(prompt, r.text, entry, self.mode) for r in responses]
        runs = [p.rstrip() + "\n\n\n" + tests.rstrip() + "\n" for p in programs]
        if n > 1 and self.workers > 1:
            with ThreadPoolExecutor(max_workers=min(self.workers, n)) as pool:
                results = list(pool.map(self._execute, runs))
        else:
            results = [self._execute(r) for r in runs]
        c = sum(r.passed for r in results)
        values = {f"pass@{k}": pass_at_k(n, c, k) for k in self.ks}
        whys = [_why(r, run) for r, run in zip(results, runs)]
        if n == 1:
            why = whys[0]
        else:
            failed = next((w for r, w in zip(results, whys) if not r.passed), None)
            why = f"{c}/{n} samples passed" + (f"; first failure: {failed}" if failed else "")
        extra: dict[str, Any] = {"exec": [{"status": r.status, "seconds": r.seconds,
                                           **({"error": r.error} if r.error else {})} for r in results]}
        return Score(values, parsed=programs[0] if n == 1 else programs, why=why, extra=extra)
