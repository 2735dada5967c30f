"""`evaluate gate RUN`: a release decision a CI job can act on. Exit 0 pass, 3 a gate failed.

Gates, each one test case (and one JUnit <testcase> with `--junit FILE`):
- thresholds: `--min KEY=VALUE` (overall, an area, a higher-is-better task) and `--max KEY=VALUE`
  (a lower-is-better task, such as over-refusal), plus the suite's own `thresholds`; the point
  estimate is compared unless `--use-lower-bound` (then the CI bound on the unsafe side);
- no errored items (items whose requests failed are not in the scores), unless `--allow-errors`;
- with `--baseline RUN`: every task, area and overall must not be significantly worse than the
  baseline by more than `--max-drop`, paired on shared items (see evals.paired.noninferiority
  for the exact rule); too few shared items or an undecidable interval is "inconclusive", which
  fails only with `--strict`.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from evals.errors import UsageError
from evals.paired import ALPHA, noninferiority
from evals.runs import RunDir, load_run

SCHEMA = "evals.gate/1"
EXIT_PASS, EXIT_FAIL = 0, 3
DEFAULT_MAX_DROP = 0.02
DEFAULT_MIN_SAMPLES = 30


@dataclass
class GateCase:
    kind: str  # threshold | errors | baseline | task
    name: str
    status: str  # pass | fail | inconclusive
    message: str
    classname: str
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "status": self.status, "message": self.message,
                "classname": self.classname, "details": self.details, **self.data}


@dataclass
class GateResult:
    run: RunDir
    baseline: RunDir | None
    comparable: bool
    label: str | None
    use_lower_bound: bool
    rule: dict[str, Any]
    cases: list[GateCase]

    @property
    def failed(self) -> list[GateCase]:
        return [c for c in self.cases if c.status == "fail"]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL

    @property
    def bound(self) -> str:
        return "conservative CI bound" if self.use_lower_bound else "point estimate"

    def to_json(self) -> dict[str, Any]:
        from evals.compare import run_identity

        return {"schema": SCHEMA, "passed": self.passed, "exit_code": self.exit_code,
                "run": run_identity(self.run), "baseline": run_identity(self.baseline) if self.baseline else None,
                "comparable": self.comparable, "label": self.label, "bound": self.bound, "rule": self.rule,
                "cases": [c.to_json() for c in self.cases],
                "failed": [c.name for c in self.failed],
                "inconclusive": [c.name for c in self.cases if c.status == "inconclusive"]}


def parse_limits(pairs: Sequence[str] | None, flag: str) -> list[tuple[str, float]]:
    """`KEY=VALUE` strings into (key, number); a one-line error for anything else."""
    out = []
    for text in pairs or []:
        key, sep, raw = text.partition("=")
        key = key.strip()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not sep or not key or not math.isfinite(value):
            raise UsageError(f"{flag} {text!r}: expected KEY=NUMBER, e.g. {flag} safety=0.9")
        out.append((key, value))
    return out


def _lookup(run: RunDir, key: str) -> tuple[str, dict[str, Any]]:
    """(kind, entry) for overall, an area or a task; the valid keys in the error otherwise."""
    scores = run.report["scores"]
    if key == "overall":
        return "overall", scores["overall"]
    if key in scores["areas"]:
        return "area", scores["areas"][key]
    if key in scores["tasks"]:
        return "task", scores["tasks"][key]
    return "", {}


def _valid_keys(run: RunDir) -> str:
    scores = run.report["scores"]
    return (f"overall; areas: {', '.join(scores['areas']) or '—'}; tasks: {', '.join(scores['tasks']) or '—'}")


def threshold_case(run: RunDir, key: str, limit: float, op: str, use_lower_bound: bool, source: str) -> GateCase:
    """One `--min`/`--max` (or suite) threshold. The conservative bound is the CI's lower end for a
    minimum and its upper end for a maximum."""
    kind, entry = _lookup(run, key)
    if not kind:
        raise UsageError(f"{source} {key}: no such score in {run.path} (valid keys: {_valid_keys(run)})")
    hib = bool(entry.get("higher_is_better", True))
    if source.startswith("--"):
        if op == "min" and not hib:
            raise UsageError(f"--min {key}: {entry.get('metric')} is lower-is-better for this task; "
                             f"use --max {key}={limit:g} to cap it")
        if op == "max" and hib:
            raise UsageError(f"--max {key}: {'the score' if kind != 'task' else entry.get('metric')} is "
                             f"higher-is-better; use --min {key}={limit:g}")
    value, ci = entry.get("value"), entry.get("ci") or [None, None]
    what = f"{key} {entry.get('metric', 'score')}" if kind == "task" else key
    sign = "≥" if op == "min" else "≤"
    name = f"{'min' if op == 'min' else 'max'} {key} {sign} {limit:g}" + (" (suite threshold)" if source == "suite" else "")
    classname = "evals.gate.thresholds"
    ci_text = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci[0] is not None and ci[1] is not None else "[no CI]"
    data = {"key": key, "op": op, "limit": limit, "value": value, "ci": ci, "bound": "ci" if use_lower_bound else "point"}
    compared = value
    if use_lower_bound:
        compared = ci[0] if op == "min" else ci[1]
    if compared is None or (isinstance(compared, float) and not math.isfinite(compared)):
        return GateCase("threshold", name, "fail", f"{what}: no value to compare (metric undefined or no items scored)",
                        classname, f"value {value}, 95% CI {ci}", data)
    ok = compared >= limit if op == "min" else compared <= limit
    basis = ("lower" if op == "min" else "upper") + " 95% CI bound" if use_lower_bound else "point estimate"
    msg = f"{what} {basis} {compared:.4f} {'meets' if ok else 'misses'} {sign} {limit:g}"
    n = f", n {entry['n']}" if entry.get("n") is not None else ""
    return GateCase("threshold", name, "pass" if ok else "fail", msg, classname,
                    f"value {value:.4f}, 95% CI {ci_text}{n}; compared: {basis}", data)


def errors_case(run: RunDir, allow: bool) -> GateCase:
    per_task = {t: int(e["errors"]) for t, e in run.report["scores"]["tasks"].items() if e.get("errors")}
    errors = max(sum(per_task.values()), int(run.report.get("counters", {}).get("errors") or 0))
    detail = ", ".join(f"{t}: {n}" for t, n in per_task.items()) or "none"
    if not errors:
        return GateCase("errors", "no errored items", "pass", "every item was answered and scored",
                        "evals.gate.errors", "", {"errors": 0})
    if allow:
        return GateCase("errors", "no errored items", "pass",
                        f"{errors} errored item(s) allowed by --allow-errors; the scores cover the rest",
                        "evals.gate.errors", f"errored items per task: {detail}", {"errors": errors})
    return GateCase("errors", "no errored items", "fail",
                    f"{errors} item(s) errored and are missing from the scores (re-run the same command to retry "
                    f"them, or pass --allow-errors)", "evals.gate.errors", f"errored items per task: {detail}",
                    {"errors": errors})


def _ni_case(kind: str, name: str, classname: str, diff: Any, margin: float, min_units: int, strict: bool,
             alpha: float) -> GateCase:
    test = noninferiority(diff.good_delta, diff.good_reps, margin, diff.units, min_units, alpha)
    status = {"non-inferior": "pass", "regressed": "fail"}.get(test["verdict"], "fail" if strict else "inconclusive")
    base, cand = diff.a, diff.b
    values = (f"baseline {base:.4f}, candidate {cand:.4f}, " if base is not None and cand is not None
              and math.isfinite(base) and math.isfinite(cand) else "")
    delta = f"Δ {diff.good_delta:+.4f}" if math.isfinite(diff.good_delta) else "Δ —"
    msg = f"{test['verdict']}: {delta} on {diff.n} shared item(s); {test['why']}"
    if status == "fail" and test["verdict"] == "inconclusive":
        msg += " (--strict)"
    details = (f"{values}{delta} (candidate − baseline, positive is better; {diff.metric}), one-sided "
               f"{1 - alpha:.0%} bounds [{test['lower']:+.4f}, {test['upper']:+.4f}], margin {margin:g}, "
               f"{diff.units} independent units, method {diff.method}")
    if diff.note:
        details += f"; {diff.note}"
    return GateCase(kind, name, status, msg, classname, details,
                    {"baseline_test": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                       for k, v in test.items()}, "n": diff.n})


def task_info_case(name: str, entry: dict[str, Any]) -> GateCase:
    value, ci = entry.get("value"), entry.get("ci") or [None, None]
    shown = "no value" if value is None else f"{value:.4f}"
    if ci[0] is not None and ci[1] is not None:
        shown += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    return GateCase("task", name, "pass", f"{entry.get('metric')} {shown}, n {entry.get('n')} (no baseline given)",
                    f"evals.gate.tasks.{entry.get('area')}", f"errors {entry.get('errors', 0)}")


def run_gate(run: RunDir, *, mins: Sequence[tuple[str, float]] = (), maxs: Sequence[tuple[str, float]] = (),
             baseline: RunDir | None = None, max_drop: float = DEFAULT_MAX_DROP, min_samples: int = DEFAULT_MIN_SAMPLES,
             strict: bool = False, use_lower_bound: bool = False, allow_errors: bool = False, force: bool = False,
             suite_thresholds: bool = True, seed: int = 0, alpha: float = ALPHA) -> GateResult:
    """Every gate on one run; raises UsageError for a bad key or an incomparable baseline."""
    cases: list[GateCase] = []
    given = {k for k, _ in [*mins, *maxs]}
    for key, limit in mins:
        cases.append(threshold_case(run, key, limit, "min", use_lower_bound, "--min"))
    for key, limit in maxs:
        cases.append(threshold_case(run, key, limit, "max", use_lower_bound, "--max"))
    if suite_thresholds:
        for t in run.report.get("thresholds") or []:
            if t["name"] not in given and _lookup(run, t["name"])[0]:
                cases.append(threshold_case(run, t["name"], float(t["min"]), "min", use_lower_bound, "suite"))
    cases.append(errors_case(run, allow_errors))
    rule: dict[str, Any] = {"alpha": alpha, "bound": "lower" if use_lower_bound else "point"}
    comparable, label = True, None
    tasks = run.report["scores"]["tasks"]
    if baseline is None:
        cases += [task_info_case(name, entry) for name, entry in tasks.items()]
        return GateResult(run, None, True, None, use_lower_bound, rule, cases)
    from evals.compare import compare_runs

    cmp = compare_runs(baseline, run, force=force, seed=seed, alpha=alpha, what="the run and its baseline")
    comparable, label = cmp.comparable, cmp.label
    rule |= {"max_drop": max_drop, "min_samples": min_samples, "strict": strict,
             "decision": "per task, area and overall: Δ = candidate − baseline on shared items (positive is better); "
                         f"fail when the one-sided {1 - alpha:.0%} upper bound of Δ < −max_drop; pass when the lower "
                         "bound > −max_drop; otherwise, or with fewer than min_samples independent shared items, "
                         "inconclusive (fails only with --strict)"}
    for d in [cmp.overall, *cmp.areas]:
        name = "non-inferior to baseline: overall" if d.kind == "overall" else f"non-inferior to baseline: area {d.name}"
        cases.append(_ni_case("baseline", name, "evals.gate.baseline", d, max_drop, min_samples, strict, alpha))
    by_name = {d.name: d for d in cmp.tasks}
    for name, entry in tasks.items():
        if name in by_name:
            case = _ni_case("task", name, f"evals.gate.tasks.{entry.get('area')}", by_name[name], max_drop,
                            min_samples, strict, alpha)
        else:
            case = GateCase("task", name, "pass", "new task: not in the baseline, nothing to compare",
                            f"evals.gate.tasks.{entry.get('area')}")
        cases.append(case)
    for name in cmp.only_a:
        cases.append(GateCase("task", name, "fail" if strict else "inconclusive",
                              "in the baseline but not run by the candidate" + (" (--strict)" if strict else ""),
                              f"evals.gate.tasks.{baseline.report['scores']['tasks'][name].get('area')}"))
    return GateResult(run, baseline, comparable, label, use_lower_bound, rule, cases)


_MARK = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}


def render_table(res: GateResult) -> str:
    from evals.compare import run_identity

    lines = []
    if res.label:
        lines += [f"!! {res.label}", ""]
    ident = run_identity(res.run)
    s = ident["suite"]
    lines.append(f"gate: {ident['model']}  {ident['dir']}  (suite {s['name']} {s['version']} {str(s['hash'])[:19]}…)")
    if res.baseline is not None:
        b = run_identity(res.baseline)
        lines.append(f"baseline: {b['model']}  {b['dir']}")
    lines.append(f"thresholds compare the {res.bound}" +
                 ("" if res.use_lower_bound else " (--use-lower-bound compares the CI's conservative end)"))
    if res.baseline is not None:
        r = res.rule
        lines.append(f"baseline rule: Δ = candidate − baseline on shared items; FAIL when the one-sided "
                     f"{1 - r['alpha']:.0%} upper bound of Δ < −{r['max_drop']:g}; pass when the lower bound > "
                     f"−{r['max_drop']:g}; else inconclusive ({'fails: --strict' if r['strict'] else 'does not fail'}); "
                     f"under {r['min_samples']} independent shared items: inconclusive")
    lines.append("")
    for title, kinds in (("gates", ("threshold", "errors", "baseline")), ("tasks", ("task",))):
        rows = [(_MARK[c.status], c.name, c.message) for c in res.cases if c.kind in kinds]
        if not rows:
            continue
        lines.append(f"{title}:")
        w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
        lines += [f"  {a.ljust(w0)}  {b.ljust(w1)}  {c}" for a, b, c in rows]
        lines.append("")
    failed = res.failed
    inconclusive = [c for c in res.cases if c.status == "inconclusive"]
    tail = f"; {len(inconclusive)} inconclusive" if inconclusive else ""
    if failed:
        lines.append(f"gate FAILED: {len(failed)} of {len(res.cases)} failed ({', '.join(c.name for c in failed)})"
                     f"{tail} → exit {EXIT_FAIL}" + (" [NOT COMPARABLE]" if not res.comparable else ""))
    else:
        lines.append(f"gate passed: {len(res.cases)} case(s){tail} → exit {EXIT_PASS}"
                     + (" [NOT COMPARABLE]" if not res.comparable else ""))
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate gate",
        description="Pass or fail a run for release: thresholds, errored items, and no significant drop against a "
                    "baseline run. Exit 0 pass, 3 a gate failed, 2 usage error, 1 runtime failure.")
    p.add_argument("run", metavar="RUN", help="the candidate's run folder (or its report.json)")
    p.add_argument("--min", action="append", metavar="KEY=VALUE",
                   help="minimum for overall, an area or a higher-is-better task (repeatable)")
    p.add_argument("--max", action="append", metavar="KEY=VALUE",
                   help="maximum for a lower-is-better task, e.g. over-refusal (repeatable)")
    p.add_argument("--use-lower-bound", action="store_true",
                   help="compare the 95%% CI's conservative end (lower for --min, upper for --max), not the point estimate")
    p.add_argument("--no-suite-thresholds", action="store_true", help="ignore the thresholds the suite declares")
    p.add_argument("--allow-errors", action="store_true", help="do not fail because some items errored")
    p.add_argument("--baseline", metavar="BASE_RUN", help="the last release's run folder: fail on a significant drop")
    p.add_argument("--max-drop", type=float, metavar="D",
                   help=f"allowed drop against the baseline, on the metric's scale (default {DEFAULT_MAX_DROP})")
    p.add_argument("--min-samples", type=int, metavar="N",
                   help=f"fewer independent shared items make a comparison inconclusive (default {DEFAULT_MIN_SAMPLES})")
    p.add_argument("--strict", action="store_true",
                   help="inconclusive baseline comparisons fail (non-inferiority must be shown)")
    p.add_argument("--force", action="store_true", help="compare with a baseline of another suite hash (labelled)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML: one test case per gate and per task")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if args.baseline is None:
        for flag, value in (("--max-drop", args.max_drop), ("--min-samples", args.min_samples)):
            if value is not None:
                raise UsageError(f"{flag} applies to a baseline comparison: add --baseline BASE_RUN")
    max_drop = DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
    if not math.isfinite(max_drop) or max_drop < 0:
        raise UsageError(f"--max-drop {args.max_drop}: must be a number ≥ 0 on the metric's scale, e.g. 0.02")
    min_samples = DEFAULT_MIN_SAMPLES if args.min_samples is None else args.min_samples
    if min_samples < 1:
        raise UsageError(f"--min-samples {min_samples}: must be at least 1")
    junit = Path(args.junit) if args.junit else None
    if junit is not None and not junit.parent.exists():
        raise UsageError(f"--junit {junit}: folder {junit.parent} does not exist")
    mins, maxs = parse_limits(args.min, "--min"), parse_limits(args.max, "--max")
    run = load_run(args.run)
    baseline = load_run(args.baseline) if args.baseline else None
    res = run_gate(run, mins=mins, maxs=maxs, baseline=baseline, max_drop=max_drop, min_samples=min_samples,
                   strict=args.strict, use_lower_bound=args.use_lower_bound, allow_errors=args.allow_errors,
                   force=args.force, suite_thresholds=not args.no_suite_thresholds, seed=args.seed)
    data = res.to_json()
    if junit is not None:
        from evals.render.junit import gate_junit
        from evals.store import atomic_write_text

        atomic_write_text(junit, gate_junit(data))
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(render_table(res), end="")
        if junit is not None:
            print(f"junit: {junit}")
    return res.exit_code
