"""From two builds' records (the same items) to figures with intervals, and from figures to a verdict.

Records pair on (task, item id); an item that errored on either side is left out and counted.
- multiple choice (loglikelihood tasks): prediction agreement (Wilson) and the accuracy difference
  on the task's primary metric, pooled over tasks, with `tost` at `margin`;
- greedy generation (generate tasks at temperature 0): exact-match rate of the responses (Wilson)
  and the mean first-divergence position in characters over the responses that differ;
- should-refuse tasks (a `refusal` scorer): refused or not per item, `tost` at `refusal_margin`.
Per-task figures are kept too; the verdict reads the pooled ones and the drift.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

DEFAULTS = {"margin": 0.01, "alpha": 0.05, "min_items": 30, "refusal_margin": 0.05, "top1_min": 0.95}

Records = Mapping[str, Mapping[str, Mapping[str, Any]]]  # task → item id → record


@dataclass
class TaskInfo:
    name: str
    suite: str
    kind: str            # "multiple-choice" | "generation" | "sampled"
    metric: str
    refusal: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.suite}/{self.name}"


def task_info(spec: Any, suite: str) -> TaskInfo:
    gen = spec.generation or {}
    refusal = any(s.name == "refusal" for s in spec.scorers)
    if spec.kind == "loglikelihood":
        kind = "multiple-choice"
    elif float(gen.get("temperature", 0) or 0) > 0 or int(gen.get("samples", 1) or 1) > 1:
        kind = "sampled"
    else:
        kind = "generation"
    return TaskInfo(spec.name, suite, kind, spec.primary_metric or (spec.metrics[0] if spec.metrics else ""), refusal)


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), 6)


def _tost_json(res: Any) -> dict[str, Any]:
    d = asdict(res)
    return {k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()}


def _agree_json(value: tuple[float, float, float], n: int) -> dict[str, Any]:
    return {"value": _num(value[0]), "ci": [_num(value[1]), _num(value[2])], "n": n, "method": "wilson"}


def _binary(recs: list[Mapping[str, Any]], metric: str) -> list[bool] | None:
    vals = [(r.get("scores") or {}).get(metric) for r in recs]
    if not vals or any(v not in (0, 1, 0.0, 1.0, True, False) for v in vals):
        return None
    return [bool(v) for v in vals]


def _text(rec: Mapping[str, Any]) -> str:
    resp = rec.get("response")
    return "\n\u241e\n".join(map(str, resp)) if isinstance(resp, list) else str(resp or "")


def compare_records(tasks: list[TaskInfo], ref: Records, cand: Records, cfg: Mapping[str, Any],
                    seed: int = 0) -> dict[str, Any]:
    """Per-task and pooled figures of the candidate against the reference."""
    from evals.adaptation.equivalence import agreement, first_divergence, tost
    from evals.stats import summarize

    margin, alpha, min_items = float(cfg["margin"]), float(cfg["alpha"]), int(cfg["min_items"])
    per_task: dict[str, Any] = {}
    mc = {"same": [], "ref": [], "cand": []}
    gen = {"ref": [], "cand": [], "div": []}
    refusal = {"ref": [], "cand": []}
    for t in tasks:
        r_all, c_all = ref.get(t.name, {}), cand.get(t.name, {})
        shared = sorted(set(r_all) & set(c_all))
        ids = [i for i in shared if not r_all[i].get("error") and not c_all[i].get("error")]
        rr, cc = [r_all[i] for i in ids], [c_all[i] for i in ids]
        entry: dict[str, Any] = {"suite": t.suite, "kind": t.kind, "metric": t.metric, "n": len(ids),
                                 "unpaired": len(set(r_all) ^ set(c_all)), "errored": len(shared) - len(ids)}
        if not r_all:
            entry["note"] = "not in the reference run"
        ok_r, ok_c = _binary(rr, t.metric), _binary(cc, t.metric)
        if ok_r is not None and ok_c is not None:
            entry["accuracy"] = _tost_json(tost(ok_r, ok_c, margin, alpha, min_items))
        if t.kind == "multiple-choice":
            key = "pred_norm" if t.metric == "acc_norm" else "parsed"
            preds_r, preds_c = [r.get(key) for r in rr], [c.get(key) for c in cc]
            entry["agreement"] = _agree_json(agreement(preds_r, preds_c), len(ids))
            mc["same"] += [a == b for a, b in zip(preds_r, preds_c)]
            if ok_r is not None and ok_c is not None:
                mc["ref"] += ok_r
                mc["cand"] += ok_c
        elif t.kind == "generation":
            texts_r, texts_c = [_text(r) for r in rr], [_text(c) for c in cc]
            divs = [d for d in (first_divergence(a, b) for a, b in zip(texts_r, texts_c)) if d is not None]
            entry["exact_match"] = _agree_json(agreement(texts_r, texts_c), len(ids))
            entry["first_divergence_chars"] = _mean_ci(divs, summarize, seed)
            gen["ref"] += texts_r
            gen["cand"] += texts_c
            gen["div"] += divs
        else:
            entry["note"] = "sampled generation (temperature > 0): outputs are not compared"
        if t.refusal:
            ref_ref, ref_cand = _binary(rr, "refused"), _binary(cc, "refused")
            if ref_ref is not None and ref_cand is not None:
                refusal["ref"] += ref_ref
                refusal["cand"] += ref_cand
                entry["refusal"] = _tost_json(tost(ref_ref, ref_cand, float(cfg["refusal_margin"]), alpha, min_items))
        per_task[t.qualified] = entry
    pooled: dict[str, Any] = {}
    if mc["same"]:
        pooled["mc_agreement"] = _agree_json(agreement(mc["same"], [True] * len(mc["same"])), len(mc["same"]))
    if mc["ref"]:
        pooled["mc_accuracy"] = _tost_json(tost(mc["ref"], mc["cand"], margin, alpha, min_items))
    if gen["ref"]:
        pooled["greedy_exact_match"] = _agree_json(agreement(gen["ref"], gen["cand"]), len(gen["ref"]))
        pooled["first_divergence_chars"] = _mean_ci(gen["div"], summarize, seed)
    if refusal["ref"]:
        pooled["refusal"] = _tost_json(tost(refusal["ref"], refusal["cand"], float(cfg["refusal_margin"]), alpha,
                                            min_items))
    return {"figures": pooled, "tasks": per_task}


def _mean_ci(values: list[int], summarize: Any, seed: int) -> dict[str, Any]:
    s = summarize([float(v) for v in values], binary=False, seed=seed)
    return {"value": _num(s["value"]), "ci": [_num(s["ci"][0]), _num(s["ci"][1])], "n": s["n"], "method": s["method"],
            "over": "responses that differ"}


TOSTS = (("mc_accuracy", "multiple-choice accuracy difference"), ("refusal", "refusal-rate drift"))


def decide(figures: Mapping[str, Any], cfg: Mapping[str, Any], drift_missing: str | None = None) -> dict[str, Any]:
    """The verdict: "not equivalent" when a TOST says so or top-1 agreement's upper 95% bound is
    below top1_min; "equivalent" when every TOST says equivalent and the lower bound reaches
    top1_min; else "inconclusive". `why` names each figure that is not a pass."""
    checks: list[dict[str, str]] = []
    for key, label in TOSTS:
        f = figures.get(key)
        if f is None:
            continue
        status = {"equivalent": "pass", "not equivalent": "fail"}.get(f["verdict"], "unclear")
        checks.append({"figure": label, "status": status, "detail": f"TOST {f['verdict']}: {f['why']}"})
    if not any(figures.get(k) for k, _ in TOSTS):
        checks.append({"figure": "accuracy", "status": "unclear",
                       "detail": "no multiple-choice or should-refuse items were compared, so no TOST ran"})
    top1 = (figures.get("drift") or {}).get("top1_agreement") or {}
    t_min = float(cfg["top1_min"])
    if top1.get("value") is None:
        checks.append({"figure": "top-1 agreement", "status": "unclear",
                       "detail": f"not measured: {drift_missing or 'no drift positions'}"})
    else:
        lo, hi = top1["ci"]
        band = f"{top1['value']:.4f}, 95% CI [{lo:.4f}, {hi:.4f}]"
        if hi < t_min:
            checks.append({"figure": "top-1 agreement", "status": "fail", "detail": f"{band} lies below top1_min {t_min:g}"})
        elif lo >= t_min:
            checks.append({"figure": "top-1 agreement", "status": "pass", "detail": f"{band} reaches top1_min {t_min:g}"})
        else:
            checks.append({"figure": "top-1 agreement", "status": "unclear",
                           "detail": f"{band} straddles top1_min {t_min:g}"})
    statuses = {c["status"] for c in checks}
    verdict = "not equivalent" if "fail" in statuses else "equivalent" if statuses == {"pass"} else "inconclusive"
    why = [f"{c['figure']}: {c['detail']}" for c in checks if c["status"] != "pass"]
    return {"verdict": verdict, "why": why, "checks": checks}
