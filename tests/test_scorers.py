from __future__ import annotations

import pytest

from evals.errors import UsageError
from evals.items import Item
from evals.requests import Request, Response
from evals.scoring import SCORERS, make_scorer
from evals.scoring.match import extract_numbers


def _score(name, target, text, **args):
    item = Item(id="x", input="q", target=target)
    return make_scorer(name, args, "test").score(item, [Request(kind="generate", prompt="q")], [Response(text=text)])


@pytest.mark.parametrize("text,gold,ok", [
    ("First 3 apples, then 5 more, so the answer is 8.", "8", True),
    ("答案：1,250 元", "1250", True),
    ("答案是：３６", "36", True),               # full-width digits
    ("2 + 2 = 4. Answer: 4\nThanks, 5 stars", "4", True),  # the marker wins over the last number
    ("答案：36\n验算：36÷4=9，正确。", "36", True),  # a check line after the answer does not override it
    ("Answer: 12. Check: 12 × 3 = 36", "12", True),
    ("4 × 9 = 36", "36", True),                      # no answer marker: "=" still marks the result
    ("It is 3/4 of the cake", "0.75", True),
    ("The result is -7", "-7", True),
    ("I think 12", "13", False),
    ("no idea", "3", False),
])
def test_number_scorer(text, gold, ok):
    assert _score("number", gold, text).values["accuracy"] == float(ok)


def test_extract_numbers_order_and_commas():
    assert extract_numbers("from 1,000 to 2.5 and 1/2") == [1000.0, 2.5, 0.5]


def test_normalized_and_exact_match():
    assert _score("normalized_match", "Paris", "  paris! ").values["normalized_match"] == 1.0
    assert _score("exact_match", "Paris", "paris").values["exact_match"] == 0.0
    assert _score("normalized_match", ["北京", "Beijing"], "beijing").values["normalized_match"] == 1.0
    assert _score("normalized_match", "Paris", "It is Paris.", contains=True).values["normalized_match"] == 1.0


def test_regex_scorer_uses_group():
    assert _score("regex", "B", "The answer is (b).", pattern=r"\(([A-D])\)", flags="i").values["accuracy"] == 1.0


def test_choice_scorer_acc_and_acc_norm():
    item = Item(id="m", input="q", choices=["a", "bbbbbbbb"], target=1)
    reqs = [Request(kind="loglikelihood", prompt="q", continuation=" a"),
            Request(kind="loglikelihood", prompt="q", continuation=" bbbbbbbb")]
    resps = [Response(logprob=-2.0), Response(logprob=-4.0)]
    s = make_scorer("choice", {}, "t").score(item, reqs, resps)
    assert s.values == {"acc": 0.0, "acc_norm": 1.0}  # raw picks the short one; per-byte picks the long one
    assert s.extra["logprobs"] == [-2.0, -4.0]


def test_unknown_scorer_did_you_mean():
    with pytest.raises(UsageError, match="did you mean 'number'"):
        SCORERS.get("numbr")


def test_bad_scorer_option_is_a_usage_error():
    with pytest.raises(UsageError, match="scorer 'number'"):
        make_scorer("number", {"pick": "middle"}, "task.yaml")
