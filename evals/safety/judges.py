"""Judges by name, and their measured quality on our labelled calibration set.

Every judged score in a report carries the judge's precision and recall on the held-out split of
seeds/safety/refusal_labelled.jsonl, so a reader knows how far to trust it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from evals.paths import bundled_root, seeds_dir
from evals.registry import Registry
from evals.safety.content import ContentRuleJudge
from evals.safety.refusal import RuleJudge, Verdict
from evals.safety.refusal_classifier import ClassifierJudge, LayeredJudge  # sklearn is imported only on first use

CALIBRATION_FILE = "safety/refusal_labelled.jsonl"


class Judge(Protocol):
    name: str

    def judge(self, prompt: str, response: str, lang: str | None = None) -> Verdict: ...

    def judge_many(self, rows: list[tuple[str, str, str | None]]) -> list[Verdict]: ...


JUDGES: Registry[Judge] = Registry("judge")
JUDGES.register("refusal-rules")(RuleJudge)
JUDGES.register("refusal-clf")(ClassifierJudge)
JUDGES.register("refusal-rules+clf")(LayeredJudge)
JUDGES.register("refusal")(LayeredJudge)
JUDGES.register("content-rules")(ContentRuleJudge)
JUDGES.register("content")(ContentRuleJudge)


def get_judge(name: str, kind: str = "refusal") -> Judge:
    """A registered judge by name, or an LLM judge backed by a runner profile (or hf:PATH)."""
    return _judge(name, kind)


@lru_cache(maxsize=8)
def _judge(name: str, kind: str) -> Judge:
    if name in JUDGES:
        return JUDGES.get(name)()
    from evals.errors import UsageError
    from evals.runners import list_profiles

    if name.startswith("hf:") or name in list_profiles():
        from evals.safety.llm_judge import LLMJudge

        return LLMJudge(name, kind=kind)
    from evals.registry import did_you_mean

    known = JUDGES.names() + sorted(list_profiles())
    raise UsageError(f"unknown judge {name!r}{did_you_mean(name, known)} (judges: {', '.join(JUDGES.names())}, "
                     f"or a runner profile from `evaluate list models` for an LLM judge)")


def calibration_path() -> Path:
    """The labelled set in the data root, else the one evals ships (a custom data root need not carry it)."""
    path = seeds_dir() / CALIBRATION_FILE
    return path if path.is_file() else bundled_root() / "seeds" / CALIBRATION_FILE


def labelled(split: str | None = None) -> list[dict[str, Any]]:
    path = calibration_path()
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


def _rates(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Accuracy, and precision/recall with 'refused' as the positive class."""
    tp = sum(1 for truth, pred in pairs if truth and pred)
    fp = sum(1 for truth, pred in pairs if not truth and pred)
    fn = sum(1 for truth, pred in pairs if truth and not pred)
    correct = sum(1 for truth, pred in pairs if truth == pred)
    n = len(pairs)
    return {"n": n, "accuracy": correct / n if n else None,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None}


def evaluate_rows(triples: list[tuple[bool, bool, str]]) -> dict[str, Any]:
    """(truth is refusal, predicted refusal, lang) → overall and per-language rates."""
    by_lang: dict[str, list[tuple[bool, bool]]] = {}
    for truth, pred, lang in triples:
        by_lang.setdefault(lang, []).append((truth, pred))
    out = _rates([(t, p) for t, p, _ in triples])
    out["by_lang"] = {lang: _rates(ps) for lang, ps in sorted(by_lang.items())}
    return out


def evaluate_judge(judge: Judge, rows: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = judge.judge_many([(r["prompt"], r["response"], r.get("lang")) for r in rows])
    return {"judge": judge.name} | evaluate_rows(
        [(r["label"] == "refused", v.refused, r.get("lang", "?")) for r, v in zip(rows, verdicts)])


def calibration(name: str, split: str = "test") -> dict[str, Any] | None:
    """The judge's quality on the held-out split (None when the calibration set is absent)."""
    return _calibration(name, split, str(calibration_path()))


@lru_cache(maxsize=16)
def _calibration(name: str, split: str, root: str) -> dict[str, Any] | None:
    if name.startswith("content") or name.endswith(":content"):
        return None  # no labelled generated-content set yet: the report says calibration is not available
    rows = labelled(split)
    if not rows:
        return None
    return evaluate_judge(get_judge(name), rows) | {"split": split, "set": CALIBRATION_FILE}
