"""The conformance section: the standard's test requirements, clause by clause.

Bank sizes against the minimum per risk or topic; refusal and pass rates against thresholds, each
with its sample size, Wilson 95% interval and a verdict: pass, fail, or not assessable (bank or
sample below the standard's minimum). Thresholds come from a versioned YAML per standard
(suites/standards/), never from code. zh/en parity puts each bank's rates side by side.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

from evals.stats import wilson

Z_ONE_SIDED_95 = 1.6448536269514722
PRIMARY_LANG = "zh"


def _bank_size_rows(standard: dict[str, Any], items_by_bank: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    risks: dict[str, list[str]] = standard.get("risks", {})
    for bank, spec in standard["banks"].items():
        metas = [m for m in items_by_bank.get(bank, []) if m.get("lang", PRIMARY_LANG) == PRIMARY_LANG]
        other = Counter(m.get("lang") for m in items_by_bank.get(bank, []) if m.get("lang", PRIMARY_LANG) != PRIMARY_LANG)
        row: dict[str, Any] = {"clause": spec.get("clause", bank), "bank": bank, "kind": "bank size",
                               "n": len(metas), "min_total": spec.get("min_total"),
                               "other_languages": dict(other)}
        shortfalls: list[str] = []
        if spec.get("min_total") and len(metas) < spec["min_total"]:
            shortfalls.append(f"{len(metas)} < {spec['min_total']} items")
        per: dict[str, int] = {}
        if "min_per_risk" in spec:
            counts = Counter(m.get("risk") for m in metas)
            minimum = spec["min_per_risk"]
            cats = spec.get("risk_categories") or (list(minimum) if isinstance(minimum, dict) else list(risks))
            for cat in cats:
                need = minimum[cat] if isinstance(minimum, dict) else minimum
                for risk in risks.get(cat, []):
                    per[risk] = counts.get(risk, 0)
                    if per[risk] < need:
                        shortfalls.append(f"{risk}: {per[risk]} < {need}")
        if "min_per_topic" in spec:
            counts = Counter(m.get("topic") for m in metas)
            for topic in standard.get("topics", []):
                per[topic] = counts.get(topic, 0)
                if per[topic] < spec["min_per_topic"]:
                    shortfalls.append(f"{topic}: {per[topic]} < {spec['min_per_topic']}")
        row["per_key"] = per
        row["verdict"] = "pass" if not shortfalls and metas else "fail"
        row["why"] = "; ".join(shortfalls[:6]) + (" …" if len(shortfalls) > 6 else "") if shortfalls else (
            "meets every minimum" if metas else "bank not in this suite")
        rows.append(row)
    return rows


def _one_sided(k: int, n: int, op: str) -> float:
    lo, hi = wilson(k, n, Z_ONE_SIDED_95)
    return lo if op == ">=" else hi


def verdict(k: int, n: int, op: str, threshold: float, min_sample: int, bank_ok: bool = True) -> tuple[str, str]:
    """pass / fail / not assessable, with the reason; the decision uses the point estimate."""
    if n == 0:
        return "not assessable", "no judged responses"
    if not bank_ok:
        return "not assessable", "the bank is below the standard's minimum size"
    if n < min_sample:
        return "not assessable", f"sample {n} < minimum {min_sample}"
    value = k / n
    ok = value >= threshold if op == ">=" else value <= threshold
    return ("pass" if ok else "fail"), f"{value:.4f} {op} {threshold}" + ("" if ok else " does not hold")


def newcombe_diff(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """Difference of two proportions p1 - p2 with Newcombe's hybrid score 95% interval."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, lo), min(1.0, hi)


def conformance(standard: dict[str, Any], items_by_bank: dict[str, list[dict[str, Any]]],
                records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    # Attack tasks reuse should-refuse items (meta.bank is inherited): they are measured as attack
    # success rates, never counted towards the standard's banks or its refusal-rate clauses.
    items_by_bank = {b: [m for m in ms if "attack" not in m] for b, ms in items_by_bank.items()}
    sizes = _bank_size_rows(standard, items_by_bank)
    size_ok = {r["bank"]: r["verdict"] == "pass" for r in sizes}
    recs = [r for r in records if not r.get("error") and "attack" not in r.get("meta", {})]
    tests = []
    parity = []
    for test in standard["tests"]:
        bank, metric = test["bank"], test["metric"]
        judged = [r for r in recs if r.get("meta", {}).get("bank") == bank and metric in r.get("scores", {})]
        by_lang: dict[str, list[float]] = {}
        for r in judged:
            by_lang.setdefault(r["meta"].get("lang", PRIMARY_LANG), []).append(float(r["scores"][metric]))
        primary = by_lang.get(PRIMARY_LANG, [])
        k, n = int(sum(primary)), len(primary)
        v, why = verdict(k, n, test["op"], float(test["threshold"]), int(test.get("min_sample", 0)),
                         size_ok.get(bank, False))
        row = {"clause": test["clause"], "bank": bank, "metric": metric, "lang": PRIMARY_LANG,
               "threshold": f"{test['op']} {test['threshold']}", "value": k / n if n else None,
               "ci": list(wilson(k, n)) if n else [None, None], "n": n, "min_sample": test.get("min_sample"),
               "one_sided_bound": _one_sided(k, n, test["op"]) if n else None, "verdict": v, "why": why}
        tests.append(row)
        langs = sorted(by_lang)
        if len(langs) >= 2 and PRIMARY_LANG in by_lang:
            for other in (lg for lg in langs if lg != PRIMARY_LANG):
                vals = by_lang[other]
                d, lo, hi = newcombe_diff(k, n, int(sum(vals)), len(vals))
                parity.append({"bank": bank, "metric": metric, PRIMARY_LANG: {"value": k / n, "n": n},
                               other: {"value": sum(vals) / len(vals), "n": len(vals)},
                               "difference": d, "ci": [lo, hi], "significant": lo > 0 or hi < 0})
    if any(t["verdict"] == "fail" for t in tests):
        overall = "fail"
    elif tests and all(t["verdict"] == "pass" for t in tests):
        overall = "pass"
    else:
        overall = "not assessable"
    return {"standard": standard["standard"], "title": standard.get("title"), "source": standard.get("source"),
            "decision_rule": standard.get("decision_rule"), "verdict": overall, "banks": sizes, "tests": tests,
            "parity": parity}
