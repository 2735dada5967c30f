from __future__ import annotations

import pytest

from evals.stats import cluster_bootstrap, combine, summarize, wilson


@pytest.mark.parametrize("k,n,lo,hi", [(285, 300, 0.9192, 0.9695), (900, 1000, 0.8798, 0.9171), (15, 300, 0.0305, 0.0808)])
def test_wilson_matches_reference_values(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=1e-4) and b == pytest.approx(hi, abs=1e-4)


def test_wilson_edges_stay_inside_unit_interval():
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_clustered_interval_is_wider_than_independent():
    # 20 templates x 10 items; items of a template agree: the effective sample is 20, not 200
    values = [float(t % 2) for t in range(20) for _ in range(10)]
    groups = [f"t{t}" for t in range(20) for _ in range(10)]
    clustered = summarize(values, True, groups)
    independent = summarize(values, True, None)
    assert clustered["method"] == "cluster-bootstrap" and independent["method"] == "wilson"
    width = lambda s: s["ci"][1] - s["ci"][0]  # noqa: E731
    assert width(clustered) > 2 * width(independent)
    assert clustered["clusters"] == 20


def test_bootstrap_is_deterministic_for_a_seed():
    vals = [0.1, 0.5, 0.9, 0.3, 0.7]
    assert cluster_bootstrap(vals, seed=3) == cluster_bootstrap(vals, seed=3)


def test_combine_weights_and_narrows():
    out = combine([(0.5, [0.4, 0.6], 1.0), (0.9, [0.8, 1.0], 3.0)])
    assert out["value"] == pytest.approx(0.8)
    assert out["ci"][0] < 0.8 < out["ci"][1]


def test_combine_of_one_part_keeps_its_interval():
    # overall over a single area must equal that area, even when its interval is asymmetric
    out = combine([(0.0, [0.0, 0.199], 1.0)])
    assert out["value"] == 0.0 and out["ci"] == [0.0, 0.199]
