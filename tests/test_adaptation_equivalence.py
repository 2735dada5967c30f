"""Equivalence statistics for a candidate build against its reference build (evals.adaptation.equivalence)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from evals.adaptation.equivalence import (agreement, first_divergence, kl_from_logprobs, kl_summary,
                                          paired_difference_ci, top1_agreement, tost)
from evals.stats import cluster_bootstrap


def _table(both: int, cand_only: int, ref_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    ref = [True] * both + [False] * cand_only + [True] * ref_only + [False] * neither
    cand = [True] * both + [True] * cand_only + [False] * ref_only + [False] * neither
    return ref, cand


# --- Newcombe interval ---------------------------------------------------------------------------

def test_newcombe_matches_hand_computed_reference():
    # n = 40: both right 20, candidate only 2, reference only 8, both wrong 10; 95%, z = 1.959964.
    # cand 22/40 = 0.55, Wilson (0.398291, 0.692947); ref 28/40 = 0.70, Wilson (0.545700, 0.819252).
    # AD − BC = 20·10 − 2·8 = 184 > n/2, so φ = (184 − 20) / √(22·18·28·12) = 164 / 364.768 = 0.449600.
    # L = −0.15 − √(0.151709² + 0.119252² − 2φ·0.151709·0.119252) = −0.294806
    # U = −0.15 + √(0.154300² + 0.142947² − 2φ·0.154300·0.142947) = +0.006234
    diff, lo, hi = paired_difference_ci(*_table(20, 2, 8, 10), confidence=0.95)
    assert diff == pytest.approx(-0.15)
    assert lo == pytest.approx(-0.2948055597, abs=1e-9)
    assert hi == pytest.approx(0.0062336019, abs=1e-9)


def test_newcombe_is_antisymmetric_in_the_two_builds():
    ref, cand = _table(20, 2, 8, 10)
    d1, lo1, hi1 = paired_difference_ci(ref, cand)
    d2, lo2, hi2 = paired_difference_ci(cand, ref)
    assert (d2, lo2, hi2) == pytest.approx((-d1, -hi1, -lo1))


def test_all_agree_gives_a_non_degenerate_interval_that_shrinks_with_n():
    _, lo, hi = paired_difference_ci([True] * 500, [True] * 500, confidence=0.95)
    assert lo == pytest.approx(-0.00762, abs=2e-4) and hi == pytest.approx(0.00762, abs=2e-4)
    # a perfectly concordant mixed table: plain φ = 1 would give width 0; the corrected φ does not
    _, lo_mixed, hi_mixed = paired_difference_ci([True, False] * 250, [True, False] * 250, confidence=0.95)
    assert lo_mixed < -1e-3 and hi_mixed > 1e-3
    _, lo_small, hi_small = paired_difference_ci([True] * 20, [True] * 20, confidence=0.95)
    assert hi_small > 10 * hi / 2 and lo_small < 0


def test_empty_and_mismatched_inputs():
    assert all(math.isnan(x) for x in paired_difference_ci([], []))
    with pytest.raises(ValueError):
        paired_difference_ci([True], [True, False])
    with pytest.raises(ValueError):
        tost([True] * 40, [True] * 39, margin=0.05)
    with pytest.raises(ValueError):
        agreement([1, 2], [1])


# --- TOST ----------------------------------------------------------------------------------------

def test_tost_exactly_at_the_margin_is_inconclusive_just_inside_is_equivalent():
    ref, cand = _table(150, 3, 5, 42)  # n = 200
    _, lo, hi = paired_difference_ci(ref, cand, confidence=0.90)
    edge = max(-lo, hi)
    assert tost(ref, cand, margin=edge).verdict == "inconclusive"              # touches the margin
    assert tost(ref, cand, margin=edge * (1 + 1e-9)).verdict == "equivalent"  # strictly inside
    assert tost(ref, cand, margin=edge * 0.9).verdict == "inconclusive"       # straddles it


def test_tost_not_equivalent_needs_the_whole_interval_beyond_the_margin():
    ref, cand = _table(100, 0, 60, 40)  # candidate loses 30 points on n = 200
    res = tost(ref, cand, margin=0.05)
    assert res.verdict == "not equivalent" and res.diff == pytest.approx(-0.30)
    assert res.ci_high < -0.05 and "beyond" in res.why
    at_edge = tost(ref, cand, margin=-res.ci_high)  # upper bound exactly at −margin
    assert at_edge.verdict == "inconclusive"
    assert tost(ref, cand, margin=-res.ci_high * (1 - 1e-9)).verdict == "not equivalent"


def test_tost_straddling_interval_is_inconclusive():
    ref, cand = _table(60, 4, 9, 27)  # diff −0.05 on n = 100, margin 0.05 sits inside the interval
    res = tost(ref, cand, margin=0.05)
    assert res.ci_low < -0.05 < res.ci_high and res.verdict == "inconclusive"


def test_tost_all_agree_small_n_vs_large_n():
    small = tost([True] * 20, [True] * 20, margin=0.05)
    assert small.verdict == "inconclusive" and small.why.startswith("too few items: 20 < min_items 30")
    assert tost([True] * 20, [True] * 20, margin=0.05, min_items=10).verdict == "inconclusive"  # ±0.12
    big = tost([True, False] * 500, [True, False] * 500, margin=0.02)
    assert big.verdict == "equivalent" and big.diff == 0.0 and big.ref_acc == big.cand_acc == 0.5
    assert "inside ±0.02" in big.why


def test_tost_no_items_and_fields():
    res = tost([], [], margin=0.05, min_items=0)
    assert res.verdict == "inconclusive" and res.n == 0 and math.isnan(res.ci_low)
    ref, cand = _table(30, 1, 2, 7)
    res = tost(ref, cand, margin=0.1)
    assert (res.n, res.ref_acc, res.cand_acc, res.margin) == (40, 0.8, 0.775, 0.1)
    with pytest.raises(ValueError):
        tost(ref, cand, margin=0)


# --- agreement and KL ----------------------------------------------------------------------------

def test_agreement_share_and_wilson():
    share, lo, hi = agreement(["A", "B", "C", "D"] * 25, ["A", "B", "C", "A"] * 25)
    assert share == 0.75 and lo < 0.75 < hi and hi - lo < 0.2
    assert agreement([1] * 10, [1] * 10)[2] == 1.0
    assert all(math.isnan(x) for x in agreement([], []))


def test_top1_agreement_clusters_by_passage():
    matches = [True] * 30 + [False] * 10 + [True] * 40
    groups = [f"p{i // 20}" for i in range(80)]
    out = top1_agreement(matches, groups)
    assert out["method"] == "cluster-bootstrap" and out["value"] == 0.875 and out["clusters"] == 4
    assert top1_agreement(matches)["method"] == "wilson"


def test_kl_summary_deterministic_and_clustered():
    rng = np.random.default_rng(1)
    groups = [f"p{i // 50}" for i in range(1000)]
    kl = rng.exponential(0.01, 1000) + np.repeat(rng.exponential(0.01, 20), 50)  # passage effects
    a, b = kl_summary(kl, groups, seed=3), kl_summary(kl, groups, seed=3)
    assert a == b and a["clusters"] == 20 and a["method"] == "cluster-bootstrap"
    assert a["mean"]["value"] == pytest.approx(float(kl.mean()))
    assert a["mean"]["ci"] == pytest.approx(list(cluster_bootstrap(kl, groups, seed=3)))
    assert a["p99"]["value"] == pytest.approx(float(np.quantile(kl, 0.99, method="inverted_cdf")))
    lo, hi = a["p99"]["ci"]
    assert lo <= a["p99"]["value"] <= hi
    naive = kl_summary(kl, None, seed=3)
    assert naive["method"] == "bootstrap"
    width = lambda s: s["mean"]["ci"][1] - s["mean"]["ci"][0]  # noqa: E731
    assert width(a) > 2 * width(naive)  # passages move together: the naive interval is too narrow


def test_kl_summary_edges():
    empty = kl_summary([], None)
    assert empty["n"] == 0 and empty["mean"]["value"] is None
    one = kl_summary([0.1, 0.3], ["p", "p"])
    assert one["mean"]["ci"] == pytest.approx([0.2, 0.2]) and one["p99"]["ci"] == [0.3, 0.3]
    with pytest.raises(ValueError):
        kl_summary([0.1, float("inf")], None)
    with pytest.raises(ValueError):
        kl_summary([0.1, 0.2], ["p"])


def test_first_divergence():
    assert first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert first_divergence([1, 2, 3], [1, 5, 3]) == 1
    assert first_divergence([1, 2, 3], [1, 2]) == 2
    assert first_divergence("", "a") == 0
    assert first_divergence("你好世界", "你好世间") == 3
    assert first_divergence([], []) is None


def test_kl_full_distributions():
    p, q = np.log([0.5, 0.5]), np.log([0.9, 0.1])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    kl, kind = kl_from_logprobs(p, q)
    assert kind == "full" and kl == pytest.approx(expected)
    assert kl_from_logprobs(list(p + 3.0), list(q - 1.0))[0] == pytest.approx(expected)  # logits work too
    assert kl_from_logprobs(p, p)[0] == pytest.approx(0.0, abs=1e-12)
    assert kl_from_logprobs([0.0, -math.inf], [0.0, 0.0])[0] == pytest.approx(math.log(2))
    assert kl_from_logprobs([0.0, 0.0], [0.0, -math.inf])[0] == math.inf
    with pytest.raises(ValueError):
        kl_from_logprobs([0.0, 0.0], [0.0])


def test_kl_top_k_approximation():
    ref = {1: math.log(0.6), 2: math.log(0.3)}
    cand = {1: math.log(0.6), 3: math.log(0.3)}
    # ref lacks token 3: min(log 0.3, log(0.1 / 1)) = log 0.1 -> ref over {1,2,3} = (.6, .3, .1); cand (.6, .1, .3)
    kl, kind = kl_from_logprobs(ref, cand)
    assert kind == "top-k" and kl == pytest.approx(0.3 * math.log(3) + 0.1 * math.log(1 / 3))
    assert kl_from_logprobs(ref, dict(ref))[0] == pytest.approx(0.0, abs=1e-12)
    # close to the full KL when the top-k holds nearly all the mass
    full_p = np.array([0.70, 0.25, 0.0498, 0.0002])
    full_q = np.array([0.66, 0.28, 0.0598, 0.0002])
    exact = kl_from_logprobs(np.log(full_p), np.log(full_q))[0]
    top3 = lambda v: {i: math.log(v[i]) for i in range(3)}  # noqa: E731
    assert kl_from_logprobs(top3(full_p), top3(full_q))[0] == pytest.approx(exact, rel=0.05)
    with pytest.raises(TypeError):
        kl_from_logprobs(ref, [0.0, 0.0])
    with pytest.raises(ValueError):
        kl_from_logprobs({}, cand)
