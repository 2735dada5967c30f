"""Multiple choice scored by log-likelihood: accuracy and length-normalised accuracy."""
from __future__ import annotations

from evals.items import Item
from evals.prompts import LETTERS
from evals.requests import Request, Response
from evals.scoring.base import SCORERS, Score


@SCORERS.register("choice")
class ChoiceScorer:
    """acc: the highest log P(choice); acc_norm: the highest log P per byte of the choice text.

    Per-byte normalisation (as lm-evaluation-harness does) keeps long options from being punished
    for their length, and does not depend on the tokenizer, so runs on different models compare.
    """

    metrics = ("acc", "acc_norm")
    binary = True

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        lps = [float(r.logprob if r.logprob is not None else float("-inf")) for r in responses]
        lens = [max(len((q.continuation or "").encode("utf-8")), 1) for q in requests]
        norm = [lp / n for lp, n in zip(lps, lens)]
        gold = int(item.target)
        if len(set(lps)) == 1 and len(lps) > 1:
            # no information (a generated answer that named no choice): wrong, not silently "A"
            return Score(values={"acc": 0.0, "acc_norm": 0.0}, parsed=None, why="no choice could be read from the answer",
                         extra={"logprobs": lps, "is_greedy": [r.is_greedy for r in responses], "pred_norm": None})
        pred = max(range(len(lps)), key=lambda i: (lps[i], -i))
        pred_norm = max(range(len(norm)), key=lambda i: (norm[i], -i))
        why = (f"picked {LETTERS[pred]} (logprob {lps[pred]:.3f}); gold {LETTERS[gold]} ({lps[gold]:.3f}); "
               f"per-byte pick {LETTERS[pred_norm]}")
        return Score(
            values={"acc": float(pred == gold), "acc_norm": float(pred_norm == gold)},
            parsed=pred,
            why=why,
            extra={"logprobs": lps, "is_greedy": [r.is_greedy for r in responses], "pred_norm": pred_norm},
        )
