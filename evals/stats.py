"""Confidence intervals for evaluation metrics.

Wilson for proportions of independent items; a cluster bootstrap otherwise (continuous scores, or
items written from one template that share `meta.group`, where naive intervals are several times
too narrow; Miller 2024, "Adding Error Bars to Evals").
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval; well-behaved near 0 and 1, where refusal thresholds live."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def cluster_bootstrap(values: Sequence[float], groups: Sequence[str] | None = None, n_boot: int = 2000,
                      seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval of the mean, resampling whole clusters (each item its own cluster if none)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (math.nan, math.nan)
    if groups is None:
        sums, counts = v, np.ones_like(v)
    else:
        _, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        sums = np.bincount(inverse, weights=v)
        counts = np.bincount(inverse).astype(float)
    k = sums.size
    if k == 1:
        m = float(sums[0] / counts[0])
        return (m, m)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(n_boot, k))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def has_clusters(groups: Sequence[str | None] | None) -> bool:
    if not groups:
        return False
    named = [g for g in groups if g is not None]
    return len(named) > len(set(named))


def summarize(values: Sequence[float], binary: bool, groups: Sequence[str | None] | None = None,
              seed: int = 0) -> dict:
    """`{value, ci, n, method}` for one metric over items."""
    n = len(values)
    if n == 0:
        return {"value": None, "ci": [None, None], "n": 0, "method": "none"}
    mean = float(np.mean(values))
    clustered = has_clusters(groups)
    if binary and not clustered:
        lo, hi = wilson(sum(values), n)
        method = "wilson"
    else:
        grp = [g if g is not None else f"__item{i}" for i, g in enumerate(groups)] if clustered else None
        lo, hi = cluster_bootstrap(values, grp, seed=seed)
        method = "cluster-bootstrap" if clustered else "bootstrap"
    out = {"value": mean, "ci": [lo, hi], "n": n, "method": method}
    if clustered:
        out["clusters"] = len({g for g in groups if g is not None}) + sum(1 for g in groups if g is None)
    return out


def combine(parts: Sequence[tuple[float, Sequence[float], float]]) -> dict:
    """Weighted mean of independent estimates `(value, [lo, hi], weight)`, normal-approximation CI."""
    parts = [(v, ci, w) for v, ci, w in parts if v is not None and w > 0]
    if not parts:
        return {"value": None, "ci": [None, None], "method": "none"}
    if len(parts) == 1:  # nothing to combine: keep the part's own (possibly asymmetric) interval
        v, ci, _ = parts[0]
        return {"value": v, "ci": [ci[0], ci[1]], "method": "weighted-normal"}
    total = sum(w for _, _, w in parts)
    value = sum(v * w for v, _, w in parts) / total
    var = sum((w / total) ** 2 * ((ci[1] - ci[0]) / (2 * Z95)) ** 2 for _, ci, w in parts)
    half = Z95 * math.sqrt(var)
    lo, hi = value - half, value + half
    if all(0.0 <= v <= 1.0 for v, _, _ in parts):
        lo, hi = max(0.0, lo), min(1.0, hi)
    return {"value": value, "ci": [lo, hi], "method": "weighted-normal"}
