"""report.json: the one canonical artifact. Metrics with CIs, task → area → overall, identities."""
from __future__ import annotations

from typing import Any

from evals.stats import combine, summarize

SCHEMA = "evals.report/1"


def _metric_names(task: Any) -> list[str]:
    names: list[str] = []
    for scorer in task.scorers:
        for m in scorer.metrics:
            if m not in names:
                names.append(m)
    return names


def _breakdown_aggregates(task: Any, subset: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Task-level metrics (bias scores, ...) recomputed on one slice of the items."""
    out: dict[str, Any] = {}
    for scorer in task.scorers:
        if hasattr(scorer, "aggregate"):
            out.update({k: v for k, v in scorer.aggregate(subset, seed).items() if k in (task.spec.metrics or [])})
    return out


def _binary(task: Any, metric: str) -> bool:
    return any(metric in s.metrics and getattr(s, "binary", False) for s in task.scorers)


def task_scores(task: Any, recs: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    names = _metric_names(task)
    wanted = task.spec.metrics or names
    primary = task.spec.primary_metric or wanted[0]
    ok = [r for r in recs if not r.get("error")]
    groups = [r.get("meta", {}).get("group") for r in ok]
    metrics = {}
    aggregated: dict[str, dict[str, Any]] = {}
    for scorer in task.scorers:
        if hasattr(scorer, "aggregate"):
            aggregated.update(scorer.aggregate(ok, seed))
    for m in wanted:
        if m in aggregated:
            metrics[m] = aggregated[m]
            continue
        vals = [float(r["scores"][m]) for r in ok if m in r.get("scores", {})]
        metrics[m] = summarize(vals, _binary(task, m), groups[: len(vals)] if len(vals) == len(ok) else None, seed)
    out: dict[str, Any] = {"area": task.spec.area, "weight": task.weight, "metric": primary,
                           **{k: metrics[primary][k] for k in ("value", "ci", "n", "method")},
                           "metrics": metrics, "higher_is_better": task.spec.higher_is_better,
                           "items_total": task.items_total, "items_run": len(task.items),
                           "fewshot": len(task.fewshot), "errors": len(recs) - len(ok), "kind": task.spec.kind,
                           "version": task.spec.version}
    if getattr(task, "skipped", None):  # long-context items beyond the model's window (adaptation.long_context)
        out["skipped"] = task.skipped
    fallback = sorted({str(r["fallback"]) for r in recs if r.get("fallback")})
    if fallback:  # multiple choice answered by generation: not comparable with log-prob runs
        out["method_note"] = (f"{', '.join(fallback)}: the endpoint gives no prompt log-probs, so choices were "
                              f"read from generated answers; not comparable with log-likelihood runs")
        out["comparable_with_loglikelihood_runs"] = False
    for scorer in task.scorers:
        if hasattr(scorer, "calibration"):
            cal = scorer.calibration()
            out["judge"] = cal if cal else {"judge": scorer.judge.name, "calibration": "not available"}
    by: dict[str, dict[str, Any]] = {}
    for key in task.spec.breakdowns:
        values = sorted({str(r.get("meta", {}).get(key)) for r in ok if key in r.get("meta", {})})
        if len(values) < 1:
            continue
        by[key] = {}
        for v in values:
            sub = [r for r in ok if str(r.get("meta", {}).get(key)) == v and primary in r.get("scores", {})]
            agg = _breakdown_aggregates(task, [r for r in ok if str(r.get("meta", {}).get(key)) == v], seed) \
                if aggregated else {}
            if primary in agg:
                by[key][v] = agg[primary] | {"metrics": agg}
                continue
            by[key][v] = summarize([float(r["scores"][primary]) for r in sub], _binary(task, primary),
                                   [r.get("meta", {}).get("group") for r in sub], seed)
            if agg:
                by[key][v]["metrics"] = agg
    if by:
        out["by"] = by
    if any("attack" in r.get("meta", {}) for r in ok):
        from evals.safety.attack_report import attack_summary

        out["attacks"] = attack_summary(ok, primary)
    return out


def _goodness(entry: dict[str, Any]) -> tuple[float | None, list[float]]:
    """A task's contribution to its area: its value, or 1 - value when lower is better."""
    v, ci = entry["value"], entry["ci"]
    if v is None or entry.get("higher_is_better", True):
        return v, ci
    return 1 - v, [1 - ci[1], 1 - ci[0]]


def aggregate(tasks: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Areas are suite-weighted means of their tasks; overall is the plain mean of the areas run."""
    areas: dict[str, dict[str, Any]] = {}
    for area in sorted({t["area"] for t in tasks.values()}):
        parts = [(*_goodness(t), t["weight"]) for t in tasks.values() if t["area"] == area]
        areas[area] = combine(parts) | {"tasks": [n for n, t in tasks.items() if t["area"] == area]}
    overall = combine([(a["value"], a["ci"], 1.0) for a in areas.values()])
    overall["n"] = sum(t["n"] for t in tasks.values())
    return overall, areas


def check_thresholds(thresholds: dict[str, Any], overall: dict, areas: dict, tasks: dict) -> list[dict[str, Any]]:
    out = []
    for key, minimum in (thresholds or {}).items():
        if key == "overall":
            entry = overall
        elif key in areas:
            entry = areas[key]
        elif key in tasks:
            entry = tasks[key]
        else:
            continue
        value = entry.get("value")
        out.append({"name": key, "min": minimum, "value": value, "ci": entry.get("ci"),
                    "verdict": "pass" if value is not None and value >= float(minimum) else "fail"})
    return out


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """The q-quantile of already sorted values by nearest rank (latency p50/p95 in reports)."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def usage_summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens, latency and cost over every record of the run, resumed ones included."""
    lat = sorted(float(r.get("latency_s") or 0.0) for r in recs)
    out: dict[str, Any] = {"items": len(recs), "tokens_in": sum(int(r.get("tokens_in") or 0) for r in recs),
                           "tokens_out": sum(int(r.get("tokens_out") or 0) for r in recs)}
    if lat:
        out["latency_mean_s"] = round(sum(lat) / len(lat), 4)
        out["latency_p95_s"] = round(nearest_rank(lat, 0.95), 4)
    ttft = [float(r["ttft_s"]) for r in recs if "ttft_s" in r]
    if ttft:
        out["ttft_mean_s"] = round(sum(ttft) / len(ttft), 4)
    costs = [float(r["cost"]) for r in recs if "cost" in r]
    if costs:
        out["cost"] = round(sum(costs), 6)
    return out


def build_report(*, run: dict, model: dict, suite: Any, suite_hash: str, planned: list, records: Any, seed: int,
                 environment: dict, efficiency: dict, counters: dict,
                 standard: dict[str, Any] | None = None) -> dict[str, Any]:
    tasks: dict[str, dict[str, Any]] = {}
    decoding: dict[str, Any] = {"seed": seed}
    for task in planned:
        ids = {it.id for it in task.items}
        recs = [r for r in records.for_task(task.spec.name) if r["item_id"] in ids]
        tasks[task.spec.name] = task_scores(task, recs, seed)
        if task.spec.kind == "generate":
            gen = task.spec.generation
            decoding[task.spec.name] = {"temperature": float(gen.get("temperature", 0.0)),
                                        "max_new_tokens": int(gen.get("max_new_tokens", 256)),
                                        "stop": list(gen.get("stop", [])), **({"top_p": gen["top_p"]} if "top_p" in gen else {})}
    overall, areas = aggregate(tasks)
    from evals.adaptation.report_blocks import parity_block, robustness_block

    extra = {"robustness": robustness_block(planned, records, tasks, seed),
             "parity": parity_block(planned, records, tasks, seed)}
    all_recs = [r for t in planned for r in records.for_task(t.spec.name)]
    secs = run.get("seconds") or 0
    eff = dict(efficiency)
    eff["items_per_s"] = round(counters["items"] / secs, 3) if secs else None
    eff.setdefault("tokens_out", sum(r.get("tokens_out", 0) for r in all_recs))
    eff["usage"] = usage_summary(all_recs)
    report_conformance = None
    if standard is not None:
        from evals.safety.conformance import conformance

        items_by_bank: dict[str, list[dict[str, Any]]] = {}
        for task in planned:
            for meta in task.bank_meta:
                if "bank" in meta:
                    items_by_bank.setdefault(meta["bank"], []).append(meta)
        judged = []
        for task in planned:
            ids = {it.id for it in task.items}
            judged += [r for r in records.for_task(task.spec.name) if r["item_id"] in ids]
        report_conformance = conformance(standard, items_by_bank, judged)
    return {
        "schema": SCHEMA,
        "run": run,
        "model": model,
        "suite": {"name": suite.name, "version": suite.version, "hash": suite_hash, "standard": suite.standard,
                  "tasks": {n: {"version": t["version"], "weight": t["weight"]} for n, t in tasks.items()}},
        "decoding": decoding,
        "environment": environment,
        "scores": {"overall": overall, "areas": areas, "tasks": tasks},
        "thresholds": check_thresholds(suite.thresholds, overall, areas, tasks),
        "conformance": report_conformance,
        **{k: v for k, v in extra.items() if v},  # drop rates vs clean tasks; zh/en parity of paired items
        "efficiency": eff,
        "counters": counters,
    }
