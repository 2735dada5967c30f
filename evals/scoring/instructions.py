"""The `instruction_following` scorer: IFEval-style strict and loose accuracy over verifiable instructions.

Each item lists its instructions in `meta.instructions`, a list of `{id, params}` (ids and params
are those of `evals.scoring.instruction_checks.CHECKS`). Metrics per item:

- `prompt_strict`: 1 when every instruction is followed by the response as it is;
- `instruction_strict`: the share of the item's instructions followed;
- `prompt_loose` / `instruction_loose`: the same, but an instruction also counts as followed when
  a lightly cleaned response follows it: the first line, the last line or both removed (a chatty
  "Sure, here it is:" or a closing remark), each with or without markdown asterisks. This is the
  "loose" variant of IFEval (Zhou et al., 2023).
"""
from __future__ import annotations

from typing import Any, Iterable

from evals.errors import InputError, UsageError
from evals.items import Item
from evals.requests import Request, Response
from evals.scoring.base import SCORERS, Score
from evals.scoring.instruction_checks import CHECKS, param_problem, run_check

FIELD = "instructions"


def instructions_of(item: Item) -> list[dict[str, Any]]:
    """The item's instruction list, or an InputError naming the item and what is wrong."""
    raw = item.meta.get(FIELD)
    if not isinstance(raw, list) or not raw:
        raise InputError(f"item {item.id!r}", f"meta.{FIELD} must be a non-empty list of {{id, params}}",
                         f"known ids: {', '.join(sorted(CHECKS))}")
    for ins in raw:
        problem = param_problem(ins)
        if problem:
            raise InputError(f"item {item.id!r}", f"meta.{FIELD}: {problem}")
    return raw


def validate(items: Iterable[Item], where: str = "") -> None:
    """Check every item's instruction ids and params before any model runs (one-line error)."""
    for item in items:
        try:
            instructions_of(item)
        except InputError as exc:
            raise UsageError(f"{where}: {exc}" if where else str(exc)) from None


def loose_variants(text: str) -> list[str]:
    """The response and its cleaned variants (IFEval's loose rule), non-empty ones only."""
    lines = text.split("\n")
    base = [text, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    out = base + [b.replace("*", "") for b in base]
    return [v for v in dict.fromkeys(out) if v.strip()]


def follow(instructions: list[dict[str, Any]], text: str) -> tuple[list[bool], list[bool]]:
    """(strict, loose) verdicts, one per instruction."""
    strict = [run_check(ins, text) for ins in instructions]
    variants = loose_variants(text)
    loose = [s or any(run_check(ins, v) for v in variants) for ins, s in zip(instructions, strict)]
    return strict, loose


def _label(ins: dict[str, Any]) -> str:
    params = ins.get("params") or {}
    return ins["id"] + ("(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")


@SCORERS.register("instruction_following")
class InstructionFollowing:
    """Prompt- and instruction-level accuracy, strict and loose; `why` names the failed checks."""

    metrics = ("prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose")
    binary = False  # instruction_* are shares, not 0/1; bootstrap intervals for all four

    def check_items(self, items: list[Item], where: str) -> None:
        """Hook for the pipeline: validate the bank before generation."""
        validate(items, where)

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        instructions = instructions_of(item)
        text = responses[0].text if responses else ""
        strict, loose = follow(instructions, text)
        n = len(instructions)
        values = {"prompt_strict": float(all(strict)), "instruction_strict": sum(strict) / n,
                  "prompt_loose": float(all(loose)), "instruction_loose": sum(loose) / n}
        failed = [_label(ins) for ins, ok in zip(instructions, strict) if not ok]
        if not failed:
            why = f"all {n} instructions followed"
        else:
            rescued = [_label(ins) for ins, s, lo in zip(instructions, strict, loose) if lo and not s]
            why = "failed: " + "; ".join(failed) + (f" (loose pass: {'; '.join(rescued)})" if rescued else "")
        followed = {f"{i}:{ins['id']}": ok for i, (ins, ok) in enumerate(zip(instructions, strict))}
        return Score(values, parsed=followed, why=why,
                     extra={"families": sorted({CHECKS[ins["id"]].family for ins in instructions})})
