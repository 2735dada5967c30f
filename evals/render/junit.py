"""JUnit XML (the Jenkins/Ant dialect every CI understands) for gates and for a run's own checks.

`gate_junit` renders an `evaluate gate` result: a "gates" suite (thresholds, errored items, the
baseline comparison of areas and overall) and a "tasks" suite with one test case per task. A failed
gate is a <failure>, an inconclusive baseline comparison is <skipped> so the CI shows it without
failing the build. `report_junit` renders a finished run's report (`evaluate report --format junit`):
its suite thresholds, its conformance clauses and one case per task.
"""
from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

# Characters XML 1.0 cannot carry at all; a model name or response may contain them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: Any) -> str:
    return _INVALID_XML.sub("\ufffd", str(text))


@dataclass
class Case:
    """One test case. status: passed, failed, error (the thing could not be measured) or skipped."""

    name: str
    classname: str
    status: str = "passed"
    message: str = ""
    details: str = ""
    output: str = ""
    time: float = 0.0


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    output: str = ""


def junit_xml(suites: Sequence[Suite], name: str = "evals", timestamp: str | None = None) -> str:
    """<testsuites> with counts that add up (tests, failures, errors, skipped) at every level."""
    stamp = timestamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=_clean(name))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    host = socket.gethostname() or "localhost"
    for i, suite in enumerate(suites):
        counts = {"tests": len(suite.cases), "failures": sum(c.status == "failed" for c in suite.cases),
                  "errors": sum(c.status == "error" for c in suite.cases),
                  "skipped": sum(c.status == "skipped" for c in suite.cases)}
        for k, v in counts.items():
            totals[k] += v
        el = ET.SubElement(root, "testsuite", name=_clean(suite.name), id=str(i), package="evals",
                           timestamp=stamp, hostname=_clean(host), time="0",
                           **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(el, "properties")
        for k, v in suite.properties.items():
            ET.SubElement(props, "property", name=_clean(k), value=_clean(v))
        for case in suite.cases:
            c = ET.SubElement(el, "testcase", name=_clean(case.name), classname=_clean(case.classname),
                              time=f"{case.time:.3f}")
            if case.status in ("failed", "error"):
                tag = "failure" if case.status == "failed" else "error"
                f = ET.SubElement(c, tag, message=_clean(case.message), type=f"evals.{tag}")
                f.text = _clean(case.details or case.message)
            elif case.status == "skipped":
                ET.SubElement(c, "skipped", message=_clean(case.message))
            if case.output:
                ET.SubElement(c, "system-out").text = _clean(case.output)
        ET.SubElement(el, "system-out").text = _clean(suite.output)
        ET.SubElement(el, "system-err").text = ""
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def gate_junit(result: dict[str, Any]) -> str:
    """An `evaluate gate` result (evals.gate.GateResult.to_json()) as JUnit XML."""
    run = result["run"]
    props = {"run": run["dir"], "model": run["model"], "suite": f"{run['suite']['name']} {run['suite']['version']}",
             "suite_hash": str(run["suite"]["hash"]), "bound": result["bound"], "passed": str(result["passed"]).lower()}
    if result.get("baseline"):
        props |= {"baseline": result["baseline"]["dir"], "baseline_model": result["baseline"]["model"],
                  "comparable": str(result["comparable"]).lower()}
    label = result.get("label") or ""
    suites = [Suite("evals gate: gates", properties=props, output=label),
              Suite("evals gate: tasks", properties=props, output=label)]
    for case in result["cases"]:
        target = suites[1] if case["kind"] == "task" else suites[0]
        status = _STATUS[case["status"]]
        details = case.get("details", "")
        target.cases.append(Case(  # a failure carries its details; a passed or skipped case shows them as output
            name=case["name"], classname=case.get("classname", "evals.gate"), status=status,
            message=case["message"], details=details,
            output="" if status in ("failed", "error") else "\n".join(x for x in (case["message"], details) if x)))
    return junit_xml(suites, name=f"evals gate {run['model']}")


_STATUS = {"pass": "passed", "fail": "failed", "inconclusive": "skipped", "error": "error"}


def report_junit(report: dict[str, Any]) -> str:
    """A run's own checks: suite thresholds, conformance clauses, and every task (errored items are
    <error>s: the task was not fully measured)."""
    model = report.get("model", {}).get("name", "?")
    suite = report.get("suite", {})
    props = {"model": model, "suite": f"{suite.get('name')} {suite.get('version')}", "suite_hash": str(suite.get("hash")),
             "run": str(report.get("run", {}).get("id"))}
    checks = Suite("evals report: checks", properties=props)
    for t in report.get("thresholds") or []:
        value = t.get("value")
        shown = "no value" if value is None else f"{value:.4f}"
        status = "passed" if t.get("verdict") == "pass" else "failed"
        checks.cases.append(Case(f"threshold {t['name']} >= {t['min']}", "evals.report.thresholds", status,
                                 message=f"{t['name']} = {shown}, minimum {t['min']}",
                                 details=f"value {shown}, 95% CI {t.get('ci')}"))
    conf = report.get("conformance") or {}
    for row in conf.get("tests", []):
        status = {"pass": "passed", "fail": "failed"}.get(row.get("verdict"), "skipped")
        checks.cases.append(Case(f"{row['clause']} ({row['bank']}, {row['metric']} {row['threshold']})",
                                 f"evals.report.conformance.{conf.get('standard', 'standard')}", status,
                                 message=f"{row.get('verdict')}: {row.get('why', '')}",
                                 details=f"value {row.get('value')}, n {row.get('n')}, 95% CI {row.get('ci')}"))
    tasks = Suite("evals report: tasks", properties=props)
    for name, t in report.get("scores", {}).get("tasks", {}).items():
        value, ci = t.get("value"), t.get("ci") or [None, None]
        shown = "no value" if value is None else f"{t.get('metric')} {value:.4f}"
        if ci[0] is not None:
            shown += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
        shown += f", n {t.get('n')}"
        if t.get("errors"):
            case = Case(name, f"evals.report.tasks.{t.get('area')}", "error",
                        message=f"{t['errors']} item(s) errored; the score covers the rest", details=shown)
        elif value is None:
            case = Case(name, f"evals.report.tasks.{t.get('area')}", "skipped", message=f"no value: {shown}")
        else:
            case = Case(name, f"evals.report.tasks.{t.get('area')}", output=shown)
        tasks.cases.append(case)
    return junit_xml([checks, tasks], name=f"evals report {model}")
