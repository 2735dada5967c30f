"""`evaluate compare RUN_A RUN_B`: what changed between two runs of one suite, and is it real?

Differences are B − A on the items both runs scored (matched on task and item id), with paired
statistics (evals.paired): a paired cluster bootstrap interval for every task, area and overall,
and McNemar's exact test for 0/1 metrics. Runs of different suites (their hashes differ: other
tasks, prompts or items) are refused unless `--force`, and then every output says so.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from evals.errors import UsageError
from evals.paired import (ALPHA, N_BOOT, bootstrap_deltas, combine_deltas, discordant, interval, mcnemar_exact,
                          normal_deltas, pair_task, se_from_ci, task_seed)
from evals.runs import RunDir, load_run

SCHEMA = "evals.compare/1"


@dataclass
class Diff:
    """One compared row (a task, an area or overall); `delta` and `reps` are B − A on the metric's scale."""

    kind: str
    name: str
    area: str = ""
    metric: str = ""
    higher_is_better: bool = True
    method: str = "none"
    n: int = 0
    units: int = 0
    a: float | None = None
    b: float | None = None
    delta: float = math.nan
    reps: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    mcnemar: dict[str, Any] | None = None
    note: str = ""
    alpha: float = ALPHA

    @property
    def ci(self) -> tuple[float, float]:
        return interval(self.reps, self.alpha)

    @property
    def good_delta(self) -> float:
        """B − A where positive always means B is better (lower-is-better metrics flipped)."""
        return self.delta if self.higher_is_better else 0.0 - self.delta  # 0.0 - x: no "-0.0000"

    @property
    def good_reps(self) -> np.ndarray:
        return self.reps if self.higher_is_better else 0.0 - self.reps

    @property
    def significant(self) -> bool:
        """McNemar decides for 0/1 metrics on independent items (exact where the bootstrap is rough
        with few discordant pairs); otherwise the paired bootstrap interval must exclude 0."""
        if self.reps.size == 0 or not math.isfinite(self.delta):
            return False
        if self.mcnemar is not None and self.mcnemar["decides"]:
            return self.mcnemar["p"] < self.alpha
        lo, hi = self.ci
        return lo > 0 or hi < 0

    @property
    def direction(self) -> str:
        if self.reps.size == 0 or not math.isfinite(self.delta):
            return "not compared"
        if not self.significant:
            return "no significant difference"
        return "B better" if self.good_delta > 0 else "B worse"

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.ci
        out: dict[str, Any] = {"metric": self.metric, "higher_is_better": self.higher_is_better, "method": self.method,
                               "n": self.n, "units": self.units, "a": _num(self.a), "b": _num(self.b),
                               "delta": _num(self.delta), "ci": [_num(lo), _num(hi)],
                               "significant": self.significant, "direction": self.direction}
        if self.kind == "task":
            out["area"] = self.area
        if self.mcnemar is not None:
            out["mcnemar"] = self.mcnemar
        if self.note:
            out["note"] = self.note
        return out


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


@dataclass
class Comparison:
    a: RunDir
    b: RunDir
    comparable: bool
    tasks: list[Diff]
    areas: list[Diff]
    overall: Diff
    only_a: list[str]
    only_b: list[str]
    seed: int
    alpha: float = ALPHA

    @property
    def label(self) -> str | None:
        if self.comparable:
            return None
        return (f"NOT COMPARABLE: suite hashes differ (A {self.a.suite_hash}, B {self.b.suite_hash}); "
                f"compared with --force on the shared items only, so differences may come from changed "
                f"tasks, prompts or items rather than the model")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "comparable": self.comparable, "label": self.label,
            "a": run_identity(self.a), "b": run_identity(self.b),
            "difference": "B - A on shared items", "alpha": self.alpha, "bootstrap": {"resamples": N_BOOT, "seed": self.seed},
            "tasks": {d.name: d.to_json() for d in self.tasks},
            "areas": {d.name: d.to_json() for d in self.areas},
            "overall": self.overall.to_json(),
            "only_in_a": self.only_a, "only_in_b": self.only_b,
            "summary": {"B better": [d.name for d in self.tasks if d.direction == "B better"],
                        "B worse": [d.name for d in self.tasks if d.direction == "B worse"]},
        }


def run_identity(run: RunDir) -> dict[str, Any]:
    rep = run.report
    suite = rep.get("suite", {})
    return {"dir": str(run.path), "run_id": rep.get("run", {}).get("id"), "model": run.name,
            "fingerprint": rep.get("model", {}).get("fingerprint"),
            "settings": rep.get("model", {}).get("settings", {}),
            "suite": {"name": suite.get("name"), "version": suite.get("version"), "hash": suite.get("hash")}}


def check_comparable(a: RunDir, b: RunDir, force: bool, what: str = "the runs") -> bool:
    """True when the suite hashes match; a one-line usage error otherwise, unless forced."""
    if a.suite_hash == b.suite_hash:
        return True
    if force:
        return False
    sa, sb = a.report.get("suite", {}), b.report.get("suite", {})
    raise UsageError(
        f"{what} ran different suites: {a.path} has {sa.get('name')} {sa.get('version')} {a.suite_hash[:19]}…, "
        f"{b.path} has {sb.get('name')} {sb.get('version')} {b.suite_hash[:19]}… (tasks, prompts or items differ, "
        f"e.g. another --limit); pass --force to compare the shared items anyway, labelled not comparable")


def task_diff(name: str, a: RunDir, b: RunDir, recs_a: dict, recs_b: dict, seed: int,
              alpha: float = ALPHA) -> Diff:
    """One task: paired on its items when the primary metric is scored per item, otherwise (bias
    scores, flip rates: metrics of the whole task) the difference of the two reported estimates."""
    ta, tb = a.report["scores"]["tasks"][name], b.report["scores"]["tasks"][name]
    metric = ta.get("metric", "")
    d = Diff("task", name, area=ta.get("area", ""), metric=metric, higher_is_better=bool(ta.get("higher_is_better", True)),
             alpha=alpha)
    if tb.get("metric") != metric:
        d.note = f"primary metric differs (A {metric}, B {tb.get('metric')})"
        return d
    pair = pair_task(recs_a, recs_b, metric)
    if pair.n:
        d.method = "paired cluster bootstrap" if pair.clustered else "paired bootstrap"
        d.n, d.units = pair.n, pair.n_clusters
        d.a, d.b, d.delta = float(pair.a.mean()), float(pair.b.mean()), pair.delta
        d.reps = bootstrap_deltas(pair, N_BOOT, task_seed(name, seed))
        if pair.binary:
            a_only, b_only = discordant(pair)
            d.mcnemar = {"a_only": a_only, "b_only": b_only, "p": mcnemar_exact(a_only, b_only),
                         "decides": not pair.clustered}
            if pair.clustered:
                d.mcnemar["note"] = "items share meta.group: McNemar assumes independent items; the bootstrap decides"
        return d
    ma, mb = ta.get("metrics", {}).get(metric, ta), tb.get("metrics", {}).get(metric, tb)
    va, vb = ma.get("value"), mb.get("value")
    sea, seb = se_from_ci(ma.get("ci")), se_from_ci(mb.get("ci"))
    if va is None or vb is None or sea is None or seb is None:
        d.note = "no shared scored items and no task-level value to compare"
        return d
    d.method = "unpaired (task-level metric)"
    d.n = d.units = int(min(ma.get("n") or 0, mb.get("n") or 0))
    d.a, d.b, d.delta = float(va), float(vb), float(vb) - float(va)
    d.reps = normal_deltas(d.delta, math.hypot(sea, seb), N_BOOT, task_seed(name, seed))
    d.note = "metric is computed over the whole task: difference of two independent estimates"
    return d


def _combine(kind: str, name: str, parts: list[tuple[float, Diff]], alpha: float) -> Diff:
    """An area (or overall) on the goodness scale: the weighted mean of its parts' paired differences."""
    usable = [(w, p) for w, p in parts if p.reps.size and math.isfinite(p.delta)]
    delta, reps = combine_deltas([(w, p.good_delta, p.good_reps) for w, p in usable])
    d = Diff(kind, name, metric="score", method="weighted paired bootstrap", alpha=alpha,
             n=sum(p.n for _, p in usable), units=sum(p.units for _, p in usable), delta=delta, reps=reps)
    if usable:
        total = sum(w for w, _ in usable)
        d.a = sum(w * _good(p.a, p.higher_is_better) for w, p in usable) / total
        d.b = sum(w * _good(p.b, p.higher_is_better) for w, p in usable) / total
    return d


def _good(x: float | None, higher_is_better: bool) -> float:
    return math.nan if x is None else (x if higher_is_better else 1 - x)


def compare_runs(a: RunDir, b: RunDir, *, force: bool = False, seed: int = 0, alpha: float = ALPHA,
                 what: str = "the runs") -> Comparison:
    """Every task, area and overall of B against A, paired on shared items."""
    comparable = check_comparable(a, b, force, what)
    tasks_a, tasks_b = a.report["scores"]["tasks"], b.report["scores"]["tasks"]
    shared = [t for t in tasks_a if t in tasks_b]
    by_a, by_b = a.records_by_task(), b.records_by_task()
    diffs = [task_diff(t, a, b, by_a.get(t, {}), by_b.get(t, {}), seed, alpha) for t in shared]
    areas = []
    for area in sorted({d.area for d in diffs}):
        parts = [(float(tasks_a[d.name].get("weight", 1.0)), d) for d in diffs if d.area == area]
        areas.append(_combine("area", area, parts, alpha))
    overall = _combine("overall", "overall", [(1.0, ad) for ad in areas], alpha)
    return Comparison(a, b, comparable, diffs, areas, overall,
                      only_a=[t for t in tasks_a if t not in tasks_b], only_b=[t for t in tasks_b if t not in tasks_a],
                      seed=seed, alpha=alpha)


def _f(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None or not math.isfinite(x) else format(x, spec)


def _ci(d: Diff) -> str:
    lo, hi = d.ci
    return "—" if not math.isfinite(lo) else f"[{lo:+.3f}, {hi:+.3f}]"


def _mc(d: Diff) -> str:
    if d.mcnemar is None:
        return ""
    m = d.mcnemar
    return f"{m['a_only']}/{m['b_only']} p={m['p']:.3g}" + ("" if m["decides"] else "*")


def render_table(cmp: Comparison) -> str:
    """The human view: who was compared, how, and one row per task, area and overall."""
    ia, ib = run_identity(cmp.a), run_identity(cmp.b)
    lines = []
    if cmp.label:
        lines += [f"!! {cmp.label}", ""]
    for key, ident in (("A", ia), ("B", ib)):
        s = ident["suite"]
        lines.append(f"{key}: {ident['model']}  {ident['dir']}  (suite {s['name']} {s['version']} {str(s['hash'])[:19]}…)")
    lines.append(f"Δ = B − A on the items both runs scored; {1 - cmp.alpha:.0%} paired bootstrap CI ({N_BOOT} resamples, "
                 f"clusters of meta.group resampled whole); McNemar exact test for 0/1 metrics "
                 f"(A-only/B-only = items only A / only B got right)")
    lines.append("")
    head = ("task", "metric", "n", "A", "B", "Δ (B−A)", "95% CI", "McNemar", "result")
    rows = [head]
    for d in cmp.tasks:
        arrow = "" if d.higher_is_better else " (lower is better)"
        rows.append((d.name, d.metric + arrow, str(d.n), _f(d.a), _f(d.b), _f(d.delta, "+.3f"), _ci(d), _mc(d),
                     d.direction if not d.note or d.reps.size else d.note))
    rows.append(("",) * len(head))
    for d in [*cmp.areas, cmp.overall]:
        label = f"area {d.name}" if d.kind == "area" else "overall"
        rows.append((label, "score", str(d.n), _f(d.a), _f(d.b), _f(d.delta, "+.3f"), _ci(d), "", d.direction))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    notes = []
    if any(d.mcnemar and not d.mcnemar["decides"] for d in cmp.tasks):
        notes.append("* items share meta.group: McNemar is shown for reference, the cluster bootstrap decides")
    if any(d.method.startswith("unpaired") for d in cmp.tasks):
        notes.append("tasks whose metric exists only over the whole task are compared unpaired from their reported CIs: "
                     + ", ".join(d.name for d in cmp.tasks if d.method.startswith("unpaired")))
    if cmp.only_a or cmp.only_b:
        notes.append(f"only in A: {', '.join(cmp.only_a) or '—'}; only in B: {', '.join(cmp.only_b) or '—'}")
    notes.append("areas and overall: goodness scale (lower-is-better tasks count as 1 − value), suite weights")
    if len(cmp.tasks) > 1:
        notes.append(f"each task is tested at {cmp.alpha:g}: among {len(cmp.tasks)} unchanged tasks about "
                     f"{len(cmp.tasks) * cmp.alpha:.1f} would be flagged by chance")
    lines += [""] + [f"note: {n}" for n in notes]
    better = [d.name for d in cmp.tasks if d.direction == "B better"]
    worse = [d.name for d in cmp.tasks if d.direction == "B worse"]
    lines.append(f"summary: B better on {len(better)} task(s){': ' + ', '.join(better) if better else ''}; "
                 f"B worse on {len(worse)}{': ' + ', '.join(worse) if worse else ''}; overall {cmp.overall.direction}"
                 + (" [NOT COMPARABLE]" if not cmp.comparable else ""))
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate compare",
        description="Per-task differences between two runs of one suite (B − A), paired on their shared items.")
    p.add_argument("run_a", metavar="RUN_A", help="run folder (or its report.json): the reference")
    p.add_argument("run_b", metavar="RUN_B", help="run folder: the one compared against A")
    p.add_argument("--force", action="store_true",
                   help="compare even when the suite hashes differ (the output is labelled not comparable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    a, b = load_run(args.run_a), load_run(args.run_b)
    cmp = compare_runs(a, b, force=args.force, seed=args.seed)
    if args.json:
        print(json.dumps(cmp.to_json(), ensure_ascii=False, indent=2))
    else:
        print(render_table(cmp), end="")
    return 0
