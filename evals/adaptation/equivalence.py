"""Is a candidate build equivalent to its reference build? Paired statistics for one model run twice.

Both builds answer the same items, so their outcomes are paired: what matters is how often they
disagree, not two independent accuracies. Equivalence is shown, not assumed from a non-significant
difference: `tost` (two one-sided tests) calls a build "equivalent" only when the whole (1 − 2α)
interval of the accuracy difference lies inside the allowed margin.

- `paired_difference_ci`: cand − ref accuracy with Newcombe's hybrid score interval for paired data.
- `tost`: the equivalence verdict built on it.
- `agreement`, `top1_agreement`: how often the two builds give the same answer / top token.
- `kl_summary`, `kl_from_logprobs`: how far the next-token distributions drift (mean and tail).
- `first_divergence`: where two greedy generations part ways.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from evals.stats import Z95, cluster_bootstrap, summarize, wilson

N_BOOT = 2000
_CELLS = 2_000_000  # replicates × items held at once by the p99 bootstrap (~16 MB a matrix)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _paired(ref: Sequence[Any], cand: Sequence[Any]) -> None:
    if len(ref) != len(cand):
        raise ValueError(f"paired outcomes need equal lengths: ref has {len(ref)}, cand has {len(cand)}")


def paired_difference_ci(ref: Sequence[bool], cand: Sequence[bool],
                         confidence: float = 0.90) -> tuple[float, float, float]:
    """(cand − ref accuracy, lower, upper) for paired 0/1 outcomes on the same items.

    Newcombe (1998, Stat Med 17:2635) method 10: the Wilson intervals of both accuracies combined
    by square-and-add, with the correlation φ of the paired 2×2 table subtracted because the two
    accuracies move together. φ carries Newcombe's correction (numerator AD − BC reduced by n/2 when
    positive, 0 when that leaves it ≤ 0; φ = 0 when a margin is empty), as in Fagerland, Lydersen &
    Laake (2014). The correction is what keeps the interval non-degenerate when the builds never
    disagree: plain φ would be 1 for a perfectly concordant mixed table and give width 0. With no
    discordant pairs at n = 500 and every item right, the 95% interval is about ±0.0077.
    Bounds are nan for n = 0 (nothing to estimate).
    """
    _paired(ref, cand)
    n = len(ref)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    z = _z(confidence)
    r = [bool(x) for x in ref]
    c = [bool(x) for x in cand]
    both = sum(1 for x, y in zip(r, c) if x and y)           # A: both right
    cand_only = sum(1 for x, y in zip(r, c) if y and not x)  # B: candidate right, reference wrong
    ref_only = sum(1 for x, y in zip(r, c) if x and not y)   # C: reference right, candidate wrong
    neither = n - both - cand_only - ref_only                # D: both wrong
    x1, x2 = both + cand_only, both + ref_only               # candidate / reference successes
    p1, p2 = x1 / n, x2 / n
    l1, u1 = wilson(x1, n, z)
    l2, u2 = wilson(x2, n, z)
    phi = _phi_corrected(both, cand_only, ref_only, neither)
    diff = p1 - p2
    dl1, du1, dl2, du2 = p1 - l1, u1 - p1, p2 - l2, u2 - p2
    lower = diff - math.sqrt(max(0.0, dl1 * dl1 + du2 * du2 - 2.0 * phi * dl1 * du2))
    upper = diff + math.sqrt(max(0.0, du1 * du1 + dl2 * dl2 - 2.0 * phi * du1 * dl2))
    return (diff, max(-1.0, lower), min(1.0, upper))


def _phi_corrected(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's corrected φ of the paired table [[a, b], [c, d]]; 0 when any margin is empty."""
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    num = a * d - b * c
    if num > n / 2:
        num -= n / 2
    elif num >= 0:
        num = 0.0
    return num / math.sqrt(margins)


@dataclass
class TostResult:
    """One equivalence decision, with the numbers behind it."""

    n: int
    ref_acc: float
    cand_acc: float
    diff: float
    ci_low: float   # bounds of the (1 − 2α) interval of cand − ref
    ci_high: float
    margin: float
    verdict: str    # "equivalent" | "not equivalent" | "inconclusive"
    why: str


def tost(ref: Sequence[bool], cand: Sequence[bool], margin: float, alpha: float = 0.05,
         min_items: int = 30) -> TostResult:
    """Two one-sided tests of |cand − ref| < margin at level alpha, via the (1 − 2α) interval.

    - n < min_items → "inconclusive": too few items to claim anything either way;
    - interval strictly inside (−margin, +margin) → "equivalent" (both one-sided nulls rejected);
    - interval strictly outside [−margin, +margin] → "not equivalent": the difference is
      demonstrably beyond the margin;
    - otherwise (the interval touches or straddles a margin) → "inconclusive".
    """
    _paired(ref, cand)
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    n = len(ref)
    level = 1.0 - 2.0 * alpha
    diff, lo, hi = paired_difference_ci(ref, cand, confidence=level)
    ref_acc = sum(map(bool, ref)) / n if n else math.nan
    cand_acc = sum(map(bool, cand)) / n if n else math.nan
    out = dict(n=n, ref_acc=ref_acc, cand_acc=cand_acc, diff=diff, ci_low=lo, ci_high=hi, margin=margin)
    band = f"{level:.0%} CI [{lo:+.4f}, {hi:+.4f}]"
    if n == 0:
        return TostResult(**out, verdict="inconclusive", why="no items: nothing to compare")
    if n < min_items:
        return TostResult(**out, verdict="inconclusive",
                          why=f"too few items: {n} < min_items {min_items} (difference {diff:+.4f}, {band})")
    if -margin < lo and hi < margin:
        return TostResult(**out, verdict="equivalent",
                          why=f"difference {diff:+.4f}, {band} lies inside ±{margin:g}")
    if hi < -margin or lo > margin:
        return TostResult(**out, verdict="not equivalent",
                          why=f"difference {diff:+.4f}, {band} lies entirely beyond ±{margin:g}")
    return TostResult(**out, verdict="inconclusive",
                      why=f"difference {diff:+.4f}, {band} reaches or straddles ±{margin:g}")


def agreement(ref_preds: Sequence[Any], cand_preds: Sequence[Any]) -> tuple[float, float, float]:
    """(share of items where both builds gave the same prediction, Wilson 95% lower, upper); nan for n = 0."""
    _paired(ref_preds, cand_preds)
    n = len(ref_preds)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    same = sum(1 for a, b in zip(ref_preds, cand_preds) if a == b)
    lo, hi = wilson(same, n, Z95)
    return (same / n, lo, hi)


def top1_agreement(matches: Sequence[bool], groups: Sequence[str] | None = None, seed: int = 0) -> dict:
    """Share of positions whose top-1 token agrees, `{value, ci, n, method[, clusters]}`.

    Tokens of one passage are not independent: with `groups` (passage ids) that repeat, the 95%
    interval is a cluster bootstrap over passages; otherwise Wilson (via `evals.stats.summarize`)."""
    if groups is not None and len(groups) != len(matches):
        raise ValueError(f"groups has {len(groups)} entries for {len(matches)} values")
    return summarize([1.0 if m else 0.0 for m in matches], binary=True, groups=groups, seed=seed)


def kl_summary(kl_values: Sequence[float], groups: Sequence[str] | None = None, seed: int = 0,
               n_boot: int = N_BOOT) -> dict:
    """Mean and 99th-percentile KL with 95% intervals, resampling whole groups (passages).

    The mean says how far the builds drift on average; p99 catches the rare positions where a
    quantized or ported build goes badly wrong, which a mean hides. Per-token KLs of one passage
    move together, so intervals resample passages (each value its own cluster when `groups` is
    None). p99 is the inverted-CDF quantile (the smallest value with ≥ 99% of the weight at or
    below it), for the point estimate and every replicate alike. Seeded, hence deterministic.
    Non-finite values raise ValueError: an infinite KL means a support mismatch to fix first.
    """
    v = np.asarray(kl_values, dtype=float)
    if groups is not None and len(groups) != v.size:
        raise ValueError(f"groups has {len(groups)} entries for {v.size} values")
    if v.size and not np.all(np.isfinite(v)):
        raise ValueError("kl_values must be finite")
    empty = {"value": None, "ci": [None, None]}
    if v.size == 0:
        return {"n": 0, "clusters": 0, "method": "none", "mean": dict(empty), "p99": dict(empty)}
    if groups is None:
        cluster = np.arange(v.size)
    else:
        _, cluster = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    k = int(cluster.max()) + 1
    mean_ci = cluster_bootstrap(v, None if groups is None else list(groups), n_boot=n_boot, seed=seed)
    order = np.argsort(v, kind="stable")
    sv, sc = v[order], cluster[order]
    p99 = _weighted_quantile(sv, np.ones((1, v.size)), 0.99)[0]
    if k == 1:
        p99_ci = (float(p99), float(p99))
    else:
        # the same cluster draws as evals.stats.cluster_bootstrap (same seed, same call)
        idx = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
        reps = np.empty(n_boot)
        chunk = max(1, min(n_boot, _CELLS // v.size))
        for start in range(0, n_boot, chunk):
            rows = idx[start:start + chunk]
            times = np.zeros((rows.shape[0], k))
            np.add.at(times, (np.arange(rows.shape[0])[:, None], rows), 1.0)
            reps[start:start + rows.shape[0]] = _weighted_quantile(sv, times[:, sc], 0.99)
        lo, hi = np.quantile(reps, [0.025, 0.975])
        p99_ci = (float(lo), float(hi))
    return {"n": int(v.size), "clusters": k, "method": "cluster-bootstrap" if groups is not None else "bootstrap",
            "mean": {"value": float(v.mean()), "ci": [float(mean_ci[0]), float(mean_ci[1])]},
            "p99": {"value": float(p99), "ci": [p99_ci[0], p99_ci[1]]}}


def _weighted_quantile(sorted_values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Inverted-CDF quantile of `sorted_values` under each row of `weights` (one row per replicate)."""
    cum = np.cumsum(weights, axis=1)
    target = q * cum[:, -1:]
    pos = np.argmax(cum >= target - 1e-9 * cum[:, -1:], axis=1)
    return sorted_values[pos]


def first_divergence(ref_tokens: Sequence[int] | str, cand_tokens: Sequence[int] | str) -> int | None:
    """Index of the first differing token (or character); None when identical.

    A strict prefix diverges at the shorter length: one build stopped where the other went on."""
    for i, (a, b) in enumerate(zip(ref_tokens, cand_tokens)):
        if a != b:
            return i
    if len(ref_tokens) == len(cand_tokens):
        return None
    return min(len(ref_tokens), len(cand_tokens))


def kl_from_logprobs(ref: Mapping[Hashable, float] | Sequence[float],
                     cand: Mapping[Hashable, float] | Sequence[float]) -> tuple[float, str]:
    """KL(ref ‖ cand) in nats for one position; returns (kl, "full" | "top-k").

    Full distributions (two equal-length log-prob vectors over the vocabulary): both are
    renormalised with a log-softmax first, so logits work as well and bf16 rounding does not leave
    a mass that fails to sum to 1; exact up to that. +inf when cand gives zero mass where ref does not.

    Top-k dicts (token → logprob, as OpenAI-compatible servers return in `top_logprobs`) only show
    the head of each distribution, so the result is an approximation on the union U of both key
    sets: a token of U missing from one side's top-k is, for that side, outside its top-k, so its
    probability is at most that side's smallest top-k probability, and all such tokens share the
    side's remaining mass 1 − Σ top-k. It gets log-prob min(that side's smallest top-k logprob,
    log(remaining mass / number of its missing tokens)); each side is then renormalised over U and
    KL is taken over U. Mass outside U is ignored, so the value is close for near-identical builds
    (small k suffices when both heads agree) but can understate KL when the heads differ widely.
    """
    if isinstance(ref, Mapping) != isinstance(cand, Mapping):
        raise TypeError("ref and cand must both be top-k mappings or both be full log-prob vectors")
    if isinstance(ref, Mapping):
        return _kl_topk(ref, cand), "top-k"
    r = np.asarray(ref, dtype=float).ravel()
    c = np.asarray(cand, dtype=float).ravel()
    if r.size != c.size or r.size == 0:
        raise ValueError(f"full distributions need equal, non-zero lengths: {r.size} vs {c.size}")
    return _kl(_log_softmax(r), _log_softmax(c)), "full"


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = np.max(x)
    if not np.isfinite(top):
        raise ValueError("a distribution needs at least one finite log-probability")
    return x - (top + np.log(np.sum(np.exp(x - top))))


def _kl(log_p: np.ndarray, log_q: np.ndarray) -> float:
    p = np.exp(log_p)
    mask = p > 0
    with np.errstate(invalid="ignore", over="ignore"):
        terms = p[mask] * (log_p[mask] - log_q[mask])
    return float(max(0.0, np.sum(terms)))


def _kl_topk(ref: Mapping[Hashable, float], cand: Mapping[Hashable, float]) -> float:
    if not ref or not cand:
        raise ValueError("top-k mappings must not be empty")
    union = list(dict.fromkeys([*ref.keys(), *cand.keys()]))
    return _kl(_fill_topk(ref, union), _fill_topk(cand, union))


def _fill_topk(top: Mapping[Hashable, float], union: list[Hashable]) -> np.ndarray:
    """Log-probs of one side over `union`, missing tokens bounded as `kl_from_logprobs` says, renormalised."""
    known = np.array([float(v) for v in top.values()])
    missing = sum(1 for t in union if t not in top)
    fill = -math.inf
    if missing:
        remaining = max(1.0 - float(np.sum(np.exp(known))), 1e-12)
        fill = min(float(np.min(known)), math.log(remaining / missing))
    out = np.array([float(top[t]) if t in top else fill for t in union])
    return _log_softmax(out)
