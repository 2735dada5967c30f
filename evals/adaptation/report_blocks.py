"""Report blocks of the adaptation suite, computed from the records of one run.

- `robustness_block`: for every task with a `baseline` (its clean counterpart), the drop rate
  (clean − perturbed) / clean of the task's primary metric, on the items both tasks scored (a
  perturbed task keeps its baseline's item ids), with a paired cluster-bootstrap 95% interval.
- `parity_block`: zh/en parity for tasks whose items carry `meta.pair` (the id of the counterpart
  item in the other language): accuracy on the paired items in each language and zh − en with a
  95% interval — paired (Newcombe's interval for paired proportions) when the counterparts were
  both run, else unpaired (Wilson square-and-add) over the items that have a counterpart.

Both return lists (empty when nothing applies) that `evals.report.build_report` stores as
`report["robustness"]` and `report["parity"]`, and `evals.render.markdown` renders.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from evals.adaptation.equivalence import paired_difference_ci
from evals.adaptation.robustness import circular_correct, drop_rate
from evals.stats import Z95, wilson

N_BOOT = 2000


def _records(task: Any, records: Any) -> list[dict[str, Any]]:
    ids = {it.id for it in task.items}
    return [r for r in records.for_task(task.spec.name) if r["item_id"] in ids and not r.get("error")]


def _score(rec: dict[str, Any], metric: str) -> float | None:
    v = (rec.get("scores") or {}).get(metric)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


# --- robustness: drop rate against the clean task -----------------------------------------------

def _drop_ci(clean: np.ndarray, pert: np.ndarray, clusters: list[str], seed: int) -> list[float | None]:
    """Percentile interval of (Σclean − Σpert) / Σclean, resampling whole clusters of paired items."""
    _, inv = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    a, b = np.bincount(inv, weights=clean), np.bincount(inv, weights=pert)
    k = a.size
    if k < 2:
        return [None, None]
    idx = np.random.default_rng(seed).integers(0, k, size=(N_BOOT, k))
    sa, sb = a[idx].sum(axis=1), b[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.where(sa > 0, (sa - sb) / sa, np.nan)
    if np.all(np.isnan(reps)):
        return [None, None]
    lo, hi = np.nanquantile(reps, [0.025, 0.975])
    return [float(lo), float(hi)]


def robustness_block(planned: list[Any], records: Any, tasks: dict[str, dict[str, Any]], seed: int) -> list[dict]:
    by_name = {t.spec.name: t for t in planned}
    out = []
    for task in planned:
        base_name = getattr(task.spec, "baseline", None)
        if not base_name:
            continue
        metric = tasks[task.spec.name]["metric"]
        entry: dict[str, Any] = {"task": task.spec.name, "baseline": base_name, "metric": metric}
        if getattr(task.spec, "perturb", None):
            entry["perturbation"] = dict(task.spec.perturb)
        base = by_name.get(base_name)
        if base is None:
            entry.update(perturbed={"value": tasks[task.spec.name]["value"], "n": tasks[task.spec.name]["n"]},
                         clean=None, drop_rate=None, ci=[None, None], n=0,
                         note=f"baseline task {base_name!r} was not part of this run")
            out.append(entry)
            continue
        clean_recs = {r["item_id"]: r for r in _records(base, records)}
        pairs = []
        for r in _records(task, records):
            c = clean_recs.get(r["item_id"])
            a, b = (_score(c, metric) if c else None), _score(r, metric)
            if a is not None and b is not None:
                group = (c.get("meta") or {}).get("group")
                pairs.append((a, b, str(group) if group is not None else f"\0{r['item_id']}"))
        if pairs:
            a = np.array([p[0] for p in pairs])
            b = np.array([p[1] for p in pairs])
            clean, pert = float(a.mean()), float(b.mean())
            entry.update(clean={"value": clean, "n": len(pairs)}, perturbed={"value": pert, "n": len(pairs)},
                         drop_rate=drop_rate(clean, pert), ci=_drop_ci(a, b, [p[2] for p in pairs], seed),
                         n=len(pairs), method="paired cluster bootstrap")
        else:  # no item scored in both (different ids, or a task-level metric): the two task values
            c, p = tasks[base_name], tasks[task.spec.name]
            d = drop_rate(c["value"], p["value"]) if c["value"] is not None and p["value"] is not None else None
            entry.update(clean={"value": c["value"], "n": c["n"]}, perturbed={"value": p["value"], "n": p["n"]},
                         drop_rate=d, ci=[None, None], n=0, method="unpaired task values (no shared items)")
        out.append(entry)
    return out


# --- zh/en parity ---------------------------------------------------------------------------------

def _units(task: Any, recs: list[dict[str, Any]], metric: str) -> dict[str, tuple[float, str | None]]:
    """Per scored unit (an item, or an original item of a circular task): (value, id of its counterpart)."""
    units: dict[str, tuple[float, str | None]] = {}
    if any("rotation_of" in (r.get("meta") or {}) for r in recs):
        rot: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            rot.setdefault(str(r["meta"].get("rotation_of", r["item_id"])), []).append(r)
        for original, rs in rot.items():
            n = len(rs[0].get("choices") or []) or len(rs)
            vals = [_score(r, "acc") for r in rs]
            if len(rs) == n and None not in vals:
                units[original] = (float(circular_correct([v == 1.0 for v in vals])), rs[0]["meta"].get("pair"))
        return units
    for r in recs:
        v = _score(r, metric)
        if v is not None:
            pair = (r.get("meta") or {}).get("pair")
            units[r["item_id"]] = (v, str(pair) if pair is not None else None)
    return units


def _lang(recs: Iterable[dict[str, Any]]) -> str | None:
    langs = [str((r.get("meta") or {}).get("lang", ""))[:2].lower() for r in recs]
    langs = [x for x in langs if x in ("zh", "en")]
    return max(set(langs), key=langs.count) if langs else None


def _unpaired_ci(x: list[float], y: list[float]) -> tuple[float, float, float, str]:
    """mean(x) − mean(y) with a 95% interval for two independent samples."""
    nx, ny = len(x), len(y)
    px, py = sum(x) / nx, sum(y) / ny
    if all(v in (0.0, 1.0) for v in x + y):  # Newcombe's method 10 with φ = 0: Wilson square-and-add
        lx, ux = wilson(sum(x), nx)
        ly, uy = wilson(sum(y), ny)
        d = px - py
        return d, max(-1.0, d - math.hypot(px - lx, uy - py)), min(1.0, d + math.hypot(ux - px, py - ly)), \
            "unpaired (Newcombe)"
    se = math.sqrt(np.var(x, ddof=1) / nx + np.var(y, ddof=1) / ny) if nx > 1 and ny > 1 else math.nan
    return px - py, px - py - Z95 * se, px - py + Z95 * se, "unpaired (normal)"


def _paired_ci(zh: list[float], en: list[float], seed: int) -> tuple[float, float, float, str]:
    """mean(zh − en) with a 95% interval for paired values."""
    if all(v in (0.0, 1.0) for v in zh + en):
        d, lo, hi = paired_difference_ci([v == 1.0 for v in en], [v == 1.0 for v in zh], confidence=0.95)
        return d, lo, hi, "paired (Newcombe)"
    diff = np.asarray(zh) - np.asarray(en)
    idx = np.random.default_rng(seed).integers(0, diff.size, size=(N_BOOT, diff.size))
    lo, hi = np.quantile(diff[idx].mean(axis=1), [0.025, 0.975])
    return float(diff.mean()), float(lo), float(hi), "paired bootstrap"


def parity_block(planned: list[Any], records: Any, tasks: dict[str, dict[str, Any]], seed: int) -> list[dict]:
    info: dict[str, tuple[str | None, dict[str, tuple[float, str | None]], str]] = {}
    for task in planned:
        recs = _records(task, records)
        if not any((r.get("meta") or {}).get("pair") is not None for r in recs):
            continue
        metric = tasks[task.spec.name]["metric"]
        units = _units(task, recs, metric)
        info[task.spec.name] = (_lang(recs), units, metric)
    en_tasks = [n for n, (lang, _, _) in info.items() if lang == "en"]
    used: set[str] = set()
    out = []
    for name, (lang, zh_units, metric) in info.items():
        if lang != "zh":
            continue

        def matched(en_name: str) -> int:
            return sum(1 for _, p in zh_units.values() if p in info[en_name][1])

        twin = name[:-3] + "_en" if name.endswith("_zh") else None
        if twin in en_tasks and twin not in used:
            partner = twin
        else:
            ranked = sorted((n for n in en_tasks if n not in used), key=lambda n: (-matched(n), n))
            partner = ranked[0] if ranked and matched(ranked[0]) > 0 else None
        if partner is None:
            continue
        used.add(partner)
        en_units = info[partner][1]
        zh_vals, en_vals, seen = [], [], set()
        for value, pair in zh_units.values():
            if pair in en_units and pair not in seen:
                seen.add(pair)
                zh_vals.append(value)
                en_vals.append(en_units[pair][0])
        if zh_vals:
            d, lo, hi, method = _paired_ci(zh_vals, en_vals, seed)
            zh_part, en_part = zh_vals, en_vals
        else:  # counterparts not run (e.g. --limit sampled each language apart): the items that have one
            zh_part = [v for v, p in zh_units.values() if p is not None]
            en_part = [v for v, p in en_units.values() if p is not None]
            if not zh_part or not en_part:
                continue
            d, lo, hi, method = _unpaired_ci(zh_part, en_part)
        out.append({"zh_task": name, "en_task": partner,
                    "metric": metric,
                    "zh": {"value": sum(zh_part) / len(zh_part), "n": len(zh_part)},
                    "en": {"value": sum(en_part) / len(en_part), "n": len(en_part)},
                    "difference": d, "ci": [lo, hi], "method": method, "pairs": len(zh_vals)})
    return out
