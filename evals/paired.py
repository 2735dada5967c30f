"""Paired statistics for two runs of one suite: per-item differences, not two independent means.

Both runs scored the same items, so an item that is hard for one model is usually hard for the
other: the per-item difference has far less variance than the difference of two means, and the
tests here use it. `compare` and `gate` build on these functions:

- `pair_task`: the items both runs scored (matched on item id, errored items left out), with
  their clusters (`meta.group`: items written from one template move together).
- `bootstrap_deltas`: the paired (cluster) bootstrap distribution of mean(B) − mean(A).
- `mcnemar_exact`: the exact McNemar test (a binomial test on the discordant pairs) for 0/1 scores.
- `noninferiority`: the one-sided decision used by `evaluate gate --baseline` (see its docstring).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

N_BOOT = 2000
ALPHA = 0.05
_CHUNK = 250  # bootstrap replicates drawn at a time, so a 5,000-item task stays within a few MB


@dataclass
class PairedTask:
    """One task's primary metric on the items both runs scored."""

    metric: str
    a: np.ndarray
    b: np.ndarray
    clusters: np.ndarray  # cluster index per item (each ungrouped item its own cluster)
    ids: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.a.size)

    @property
    def n_clusters(self) -> int:
        return int(np.unique(self.clusters).size) if self.n else 0

    @property
    def clustered(self) -> bool:
        return self.n_clusters < self.n

    @property
    def binary(self) -> bool:
        """Both runs scored every shared item 0 or 1 (accuracy, refusal): McNemar applies."""
        both = np.concatenate([self.a, self.b])
        return bool(both.size) and bool(np.all((both == 0.0) | (both == 1.0)))

    @property
    def delta(self) -> float:
        return float(np.mean(self.b - self.a)) if self.n else math.nan


def pair_task(recs_a: Mapping[str, Mapping[str, Any]], recs_b: Mapping[str, Mapping[str, Any]],
              metric: str) -> PairedTask:
    """Items scored on `metric` in both runs, in a stable order; errored items are left out."""
    ids = sorted(i for i in set(recs_a) & set(recs_b) if _scored(recs_a[i], metric) and _scored(recs_b[i], metric))
    a = np.array([float(recs_a[i]["scores"][metric]) for i in ids], dtype=float)
    b = np.array([float(recs_b[i]["scores"][metric]) for i in ids], dtype=float)
    labels = []
    for i in ids:
        group = (recs_a[i].get("meta") or {}).get("group")
        labels.append(f"g:{group}" if group is not None else f"i:{i}")
    _, clusters = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True) if ids \
        else (None, np.zeros(0, dtype=int))
    return PairedTask(metric, a, b, np.asarray(clusters, dtype=int), ids)


def _scored(rec: Mapping[str, Any], metric: str) -> bool:
    if rec.get("error"):
        return False
    value = (rec.get("scores") or {}).get(metric)
    return isinstance(value, (int, float)) and math.isfinite(value)


def task_seed(name: str, seed: int) -> int:
    """A per-task seed, so adding a task to a suite leaves the other tasks' intervals unchanged."""
    return (zlib.crc32(name.encode("utf-8")) ^ seed) & 0xFFFFFFFF


def bootstrap_deltas(pair: PairedTask, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Replicates of mean(B − A), resampling whole clusters with replacement (paired: a cluster's
    items are drawn with both runs' scores). Empty for no items; constant for a single cluster."""
    if pair.n == 0:
        return np.zeros(0)
    diff = pair.b - pair.a
    sums = np.bincount(pair.clusters, weights=diff)
    counts = np.bincount(pair.clusters).astype(float)
    k = sums.size
    if k == 1:
        return np.full(n_boot, float(sums[0] / counts[0]))
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(n_boot, start + _CHUNK)
        idx = rng.integers(0, k, size=(stop - start, k), dtype=np.int32 if k < 2**31 else np.int64)
        out[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return out


def normal_deltas(delta: float, se: float, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Replicates for a task whose metric only exists over the whole task (bias scores, flip
    rates): no per-item pairs, so the difference of two independent estimates, N(delta, se²)."""
    return np.random.default_rng(seed).normal(delta, se, n_boot) if se > 0 else np.full(n_boot, delta)


def se_from_ci(ci: Sequence[float | None] | None) -> float | None:
    """Standard error implied by a reported 95% interval (normal approximation)."""
    if not ci or ci[0] is None or ci[1] is None:
        return None
    from evals.stats import Z95

    return (float(ci[1]) - float(ci[0])) / (2 * Z95)


def interval(reps: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """Two-sided percentile interval at level 1 − alpha."""
    if reps.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def one_sided_bounds(reps: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """(lower, upper) one-sided bounds at level 1 − alpha each: the alpha and 1 − alpha quantiles."""
    if reps.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: under H0 each discordant pair is equally likely to favour A or B.

    `a_only`: items A got right and B wrong; `b_only`: the reverse. Concordant pairs carry no
    information about the difference and do not enter."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(a_only, b_only), n, 0.5)))


def discordant(pair: PairedTask) -> tuple[int, int]:
    """(A right and B wrong, B right and A wrong) for 0/1 scores."""
    return int(np.sum((pair.a == 1) & (pair.b == 0))), int(np.sum((pair.a == 0) & (pair.b == 1)))


def combine_deltas(parts: Sequence[tuple[float, float, np.ndarray]]) -> tuple[float, np.ndarray]:
    """Weighted mean of independent per-task differences `(weight, delta, replicates)`.

    Tasks hold disjoint items and are resampled independently, so replicate i of the weighted
    sum is a draw from the joint bootstrap: an area's interval accounts for every task's spread."""
    parts = [(w, d, r) for w, d, r in parts if w > 0 and r.size and math.isfinite(d)]
    if not parts:
        return math.nan, np.zeros(0)
    total = sum(w for w, _, _ in parts)
    delta = sum(w * d for w, d, _ in parts) / total
    reps = sum(w * r for w, _, r in parts) / total
    return float(delta), np.asarray(reps)


def noninferiority(delta: float, reps: np.ndarray, margin: float, n_units: int, min_units: int,
                   alpha: float = ALPHA) -> dict[str, Any]:
    """The baseline gate for one task, area or overall. `delta` and `reps` are candidate − baseline
    on the "goodness" scale (positive: the candidate is better), `margin` the allowed drop.

    With L and U the one-sided (1 − alpha) lower and upper bounds of the paired bootstrap:
    - fewer than `min_units` independent units (clusters) → "inconclusive" (too few to test);
    - L > −margin → "non-inferior": H0 "candidate − baseline ≤ −margin" is rejected at alpha;
    - U < −margin → "regressed": the drop is significantly larger than the margin (the reverse
      one-sided test rejects "candidate − baseline ≥ −margin" at alpha); the gate fails;
    - otherwise → "inconclusive": the interval straddles −margin, the data cannot tell.
    Identical runs give delta 0 with L = U = 0 > −margin (non-inferior); a release within the
    margin is failed with probability at most alpha, whatever the sample size.
    """
    lower, upper = one_sided_bounds(reps, alpha)
    out = {"delta": delta, "lower": lower, "upper": upper, "margin": margin, "units": n_units,
           "min_units": min_units, "alpha": alpha}
    if reps.size == 0 or not math.isfinite(delta):
        return out | {"verdict": "inconclusive", "why": "nothing to compare: no shared scored items"}
    if n_units < min_units:
        return out | {"verdict": "inconclusive",
                      "why": f"{n_units} independent shared items < minimum {min_units}"}
    if lower > -margin:
        return out | {"verdict": "non-inferior",
                      "why": f"lower {1 - alpha:.0%} bound {lower:+.4f} > −{margin:g}"}
    if upper < -margin:
        return out | {"verdict": "regressed",
                      "why": f"upper {1 - alpha:.0%} bound {upper:+.4f} < −{margin:g}: the drop exceeds the margin"}
    return out | {"verdict": "inconclusive",
                  "why": f"one-sided bounds [{lower:+.4f}, {upper:+.4f}] straddle −{margin:g}"}
