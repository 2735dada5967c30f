"""Code tasks: the bank's reference solutions pass their hidden tests and wrong ones fail, code is
pulled out of answers as models write them, pass@k is the unbiased estimator, and the shipped
code_python and humaneval tasks score end to end (HumanEval from a local copy in its public schema).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest

import evals
from evals.adapters.base import Adapter
from evals.items import Item
from evals.paths import seeds_dir
from evals.requests import Request, Response
from evals.sandbox import Limits, run_python
from evals.scoring.code import CodeExec, extract_program, fenced_blocks, pass_at_k

HUMANEVAL_DATA = Path(__file__).parent / "data" / "public" / "openai_humaneval"
HUMANEVAL_FILE = HUMANEVAL_DATA / "openai" / "openai_humaneval" / "openai_humaneval" / "test.jsonl"


@pytest.fixture(autouse=True)
def _real_tree(monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)


def _bank() -> list[dict]:
    path = seeds_dir() / "performance" / "code_python.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bank_shape():
    rows = _bank()
    assert len(rows) >= 80 and len({r["id"] for r in rows}) == len(rows)
    cats = Counter(r["meta"]["category"] for r in rows)
    assert len(cats) >= 8 and min(cats.values()) >= 8
    langs = Counter(r["meta"]["lang"] for r in rows)
    assert langs["zh"] >= 10 and langs["en"] >= 60
    entries = [r["meta"]["entry_point"] for r in rows]
    assert len(set(entries)) == len(entries)
    for r in rows:
        m = r["meta"]
        assert r["input"].startswith(f"def {m['entry_point']}("), r["id"]
        assert '"""' in r["input"] and r["input"].rstrip().endswith('"""'), r["id"]
        assert m["tests"].count("assert") >= 4, r["id"]
        assert f"def {m['entry_point']}(" in r["target"], r["id"]
        assert m["group"] == r["id"] and m["area"] == "performance"


_BATCH_DRIVER = """
import json, sys, traceback
programs = json.loads(open("programs.json", encoding="utf-8").read())
results = {}
for name, program in programs.items():
    try:
        exec(compile(program, name, "exec"), {"__name__": "__main__"})
        results[name] = "ok"
    except BaseException as exc:
        results[name] = type(exc).__name__
print(json.dumps(results))
"""


def _run_in_one_sandbox(programs: dict[str, str]) -> dict[str, str]:
    """Each program in a fresh namespace, all in one sandboxed process: 88 starts would take seconds."""
    code = (f"open('programs.json', 'w', encoding='utf-8').write({json.dumps(programs, ensure_ascii=False)!r})\n"
            + _BATCH_DRIVER)
    res = run_python(code, Limits(timeout_s=60.0, cpu_s=60, memory_mb=1024))
    assert res.passed, res.stderr
    return json.loads(res.stdout)


def test_every_reference_passes_and_a_do_nothing_stub_fails():
    rows = _bank()
    refs = _run_in_one_sandbox({r["id"]: r["target"] + "\n\n" + r["meta"]["tests"] for r in rows})
    stubs = _run_in_one_sandbox({r["id"]: r["input"] + "    return None\n\n\n" + r["meta"]["tests"] for r in rows})
    assert {k: v for k, v in refs.items() if v != "ok"} == {}
    assert [k for k, v in stubs.items() if v == "ok"] == []
    assert len(refs) == len(stubs) == len(rows)


def test_fenced_blocks_and_extraction():
    answer = "Sure!\n```python\ndef f(x):\n    return x + 1\n```\nAnd a usage example:\n```\nprint(f(1))\n```"
    assert fenced_blocks(answer) == ["def f(x):\n    return x + 1", "print(f(1))"]
    assert extract_program("def f(x):\n", answer, "f") == "def f(x):\n    return x + 1"
    # an unclosed fence (cut by max_new_tokens or a stop string) runs to the end
    assert extract_program("", "```py\ndef g():\n    return 2\n", "g") == "def g():\n    return 2\n"
    # prose, then code without fences
    got = extract_program("", "Here you go:\ndef h(s):\n    return s[::-1]\n", "h")
    assert got == "def h(s):\n    return s[::-1]"
    # a fenced rewrite keeps the prompt's imports
    prompt = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
    got = extract_program(prompt, "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```", "total")
    assert got.startswith("from typing import List\n") and "return sum(xs)" in got
    # completion style: the prompt plus the body
    assert extract_program(prompt, "    return sum(xs)\n", "total", mode="completion") == prompt + "    return sum(xs)\n"
    # a chat answer that gives only the body in a fence is completed from the prompt
    got = extract_program(prompt, "```python\n    return sum(xs)\n```", "total")
    assert got == prompt + "    return sum(xs)"


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(4, 2, 1) == pytest.approx(0.5)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than k failures: some k-subset always passes
    assert pass_at_k(200, 13, 10) == pytest.approx(1 - __import__("math").comb(187, 10) / __import__("math").comb(200, 10))
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)


def _item(tests: str = "assert inc(1) == 2\nassert inc(-1) == 0\n") -> Item:
    return Item(id="t", input="def inc(x):\n    \"\"\"Add one.\"\"\"\n", meta={"entry_point": "inc", "tests": tests})


def test_scorer_pass_at_k_with_samples_and_reasons():
    scorer = CodeExec(k=[1, 2], timeout_s=2)
    assert scorer.metrics == ("pass@1", "pass@2") and scorer.binary is False
    good, bad = "```python\ndef inc(x):\n    return x + 1\n```", "```python\ndef inc(x):\n    return x\n```"
    resps = [Response(text=t) for t in (good, bad, bad, good)]
    s = scorer.score(_item(), [], resps)
    assert s.values == {"pass@1": pytest.approx(0.5), "pass@2": pytest.approx(5 / 6)}
    assert s.why.startswith("2/4 samples passed; first failure: AssertionError")
    assert [e["status"] for e in s.extra["exec"]] == ["ok", "failed", "failed", "ok"]
    one = CodeExec(timeout_s=2)
    assert one.binary is True
    assert one.score(_item(), [], [Response(text="```python\ndef inc(x) return x\n```")]).why.startswith("SyntaxError")
    assert one.score(_item(), [], [Response(text="I cannot write code.")]).values == {"pass@1": 0.0}


def test_scorer_errors_are_one_line_usage_errors():
    from evals.errors import UsageError
    from evals.scoring import make_scorer

    with pytest.raises(UsageError, match="needs generation.samples >= 5"):
        CodeExec(k=[1, 5]).score(_item(), [], [Response(text="x")])
    with pytest.raises(UsageError, match="meta.tests"):
        CodeExec().score(Item(id="n", input="def f():\n", meta={}), [], [Response(text="x")])
    with pytest.raises(UsageError, match="scorer 'code_exec'"):
        make_scorer("code_exec", {"mode": "guess"}, "task.yaml")
    with pytest.raises(UsageError, match="scorer 'code_exec'"):
        make_scorer("code_exec", {"k": [0]}, "task.yaml")


class ScriptedCoder(Adapter):
    """A fake model: `answer(prompt)` gives the text for each generate request."""

    name = "fake"

    def __init__(self, answer: Callable[[Request], str], fingerprint: str) -> None:
        self.answer = answer
        self.fingerprint = fingerprint
        self.requests: list[Request] = []

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        self.requests += requests
        yield [(i, Response(text=self.answer(r), prompt_sent=r.prompt or "")) for i, r in enumerate(requests)]

    def settings(self) -> dict:
        return {"device": "cpu", "dtype": "float32"}


def _records(report: dict) -> dict[str, dict]:
    path = Path(report["run"]["dir"]) / "records.jsonl"
    return {r["item_id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_code_python_task_end_to_end(tmp_path):
    bank = {r["input"]: r for r in _bank()}
    wrong = set(list(bank)[::3])  # every third problem answered with a broken function

    def answer(req: Request) -> str:
        user = req.messages[-1][1]
        stub = next(s for s in bank if s in user)
        code = bank[stub]["target"]
        if stub in wrong:
            code = stub + "    return None\n"
        lead = "下面是实现：" if bank[stub]["meta"]["lang"] == "zh" else "Here is the function:"
        return f"{lead}\n\n```python\n{code}```\n\nIt handles the edge cases."

    adapter = ScriptedCoder(answer, "fake:scripted-coder")
    report = evals.evaluate("hf:fake-coder", "performance", adapter=adapter, tasks=["code_python"],
                            output_dir=str(tmp_path), progress=False, use_cache=False, limit=12)
    task = report["scores"]["tasks"]["code_python"]
    recs = _records(report)
    assert task["metric"] == "pass@1" and task["n"] == 12 and task["items_total"] == len(bank)
    expected = [float(bank_row["input"] not in wrong) for bank_row in _bank() if bank_row["id"] in recs]
    assert task["value"] == pytest.approx(sum(expected) / 12)
    assert 0 < task["value"] < 1 and set(task["by"]) == {"category", "lang"}
    for rec in recs.values():
        assert rec["why"] == "passed" if rec["scores"]["pass@1"] == 1.0 else rec["why"].startswith("AssertionError")
    # the prompt is a chat turn with the stub in a fence, and the language of the instruction follows the item
    zh = next(r for r in adapter.requests if "请实现" in r.messages[-1][1])
    assert "```python\ndef " in zh.messages[-1][1]
    assert dict(zh.params)["max_new_tokens"] == 320 and dict(zh.params)["temperature"] == 0.0


def _humaneval_rows() -> list[dict]:
    return [json.loads(line) for line in HUMANEVAL_FILE.read_text(encoding="utf-8").splitlines()]


def test_humaneval_local_file_is_in_the_public_schema_and_its_solutions_pass():
    rows = _humaneval_rows()
    assert 3 <= len(rows) <= 5
    for r in rows:
        assert set(r) == {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
        program = r["prompt"] + r["canonical_solution"] + "\n\n" + r["test"] + f"\n\ncheck({r['entry_point']})\n"
        assert run_python(program, Limits(timeout_s=10)).passed, r["task_id"]


def test_humaneval_runs_from_a_local_copy(tmp_path):
    rows = {r["prompt"]: r for r in _humaneval_rows()}
    ids = sorted(r["task_id"] for r in rows.values())
    wrong, broken = ids[0], ids[1]

    def answer(req: Request) -> str:
        row = rows[req.prompt]  # completion style: the prompt is exactly HumanEval's prompt
        if row["task_id"] == wrong:
            return "    return 0\n"
        if row["task_id"] == broken:
            return "    return (\n"
        return row["canonical_solution"]

    adapter = ScriptedCoder(answer, "fake:humaneval-coder")
    report = evals.evaluate("hf:fake-coder", "performance-public", adapter=adapter, tasks=["humaneval"],
                            data_dir=str(HUMANEVAL_DATA), output_dir=str(tmp_path), progress=False, use_cache=False)
    task = report["scores"]["tasks"]["humaneval"]
    assert task["metric"] == "pass@1" and task["n"] == len(rows)
    assert task["value"] == pytest.approx((len(rows) - 2) / len(rows))
    recs = _records(report)
    assert set(recs) == set(ids)
    assert recs[wrong]["why"].startswith("AssertionError") and recs[broken]["why"].startswith("SyntaxError")
    assert all(r.prompt in rows and r.messages is None for r in adapter.requests)
    stops = dict(adapter.requests[0].params)["stop"]
    assert "\ndef " in stops and "\nclass " in stops
