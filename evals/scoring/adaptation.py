"""Scorers of the adaptation suite: circular multiple choice and needle-in-a-haystack retrieval."""
from __future__ import annotations

from typing import Any

from evals.adaptation.robustness import circular_correct, needle_answer_found
from evals.items import Item
from evals.requests import Request, Response
from evals.scoring.base import SCORERS, Score
from evals.scoring.choice import ChoiceScorer
from evals.stats import summarize


@SCORERS.register("circular_choice")
class CircularChoiceScorer(ChoiceScorer):
    """`choice` on every rotation of an item (`circular: true` expands them), plus circular_acc.

    acc / acc_norm are per rotation (their intervals are clustered by the original item, whose
    rotations share `meta.group`). circular_acc is per original item: right (by `acc`) under every
    one of its n rotations (CircularEval), so a model that always answers "A" scores 0 instead of
    1/n. An original item with a rotation missing or errored is left out of circular_acc, not
    counted wrong; `incomplete` says how many were.
    """

    metrics = ("circular_acc", "acc", "acc_norm")
    binary = True

    def __init__(self, on: str = "acc") -> None:
        if on not in ("acc", "acc_norm"):
            raise TypeError(f"'on' must be acc or acc_norm, got {on!r}")
        self.on = on

    def aggregate(self, recs: list[dict[str, Any]], seed: int) -> dict[str, Any]:
        by_item: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            meta = r.get("meta") or {}
            by_item.setdefault(str(meta.get("rotation_of", r["item_id"])), []).append(r)
        values, groups, incomplete = [], [], 0
        for original, rs in by_item.items():
            n = len(rs[0].get("choices") or []) or len(rs)
            if len(rs) < n or any(self.on not in (r.get("scores") or {}) for r in rs):
                incomplete += 1
                continue
            values.append(float(circular_correct([r["scores"][self.on] == 1.0 for r in rs])))
            groups.append((rs[0].get("meta") or {}).get("source_group"))
        out = summarize(values, True, groups if any(g is not None for g in groups) else None, seed)
        if incomplete:
            out["incomplete"] = incomplete
        return {"circular_acc": out}


@SCORERS.register("needle")
class NeedleScorer:
    """found: the response states the needle's answer (`robustness.needle_answer_found`)."""

    metrics = ("found",)
    binary = True

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        text = responses[0].text if responses else ""
        found = needle_answer_found(text or "", str(item.target))
        return Score(values={"found": float(found)}, parsed=found,
                     why=f"answer {item.target!r} {'found' if found else 'not found'} in the response")
