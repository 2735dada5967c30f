"""Suites and the catalog of everything under suites/: discovery, lookup, validation."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from evals.errors import InputError, UsageError
from evals.paths import suites_dir
from evals.registry import did_you_mean
from evals.tasks import TaskSpec, parse_task
from evals.yamlfile import YamlDoc

SUITE_KEYS = {"suite", "version", "description", "area", "tasks", "include", "thresholds", "standard", "equivalence",
              "equivalence_tasks"}
# `equivalence:` (read by `evaluate adapt`): name → (lowest, highest, integer?) of each allowed key.
EQUIVALENCE_KEYS = {"margin": (0.0, 1.0, False), "alpha": (0.0, 0.5, False), "min_items": (1, None, True),
                    "refusal_margin": (0.0, 1.0, False), "top1_min": (0.0, 1.0, False)}


@dataclass
class SuiteEntry:
    task: str
    weight: float = 1.0


@dataclass
class SuiteSpec:
    name: str
    version: str
    path: Path
    description: str = ""
    area: str | None = None
    entries: list[SuiteEntry] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    standard: str | None = None
    equivalence: dict[str, Any] = field(default_factory=dict)
    equivalence_tasks: list[str] = field(default_factory=list)  # SUITE/TASK entries `evaluate adapt` also runs


def _parse_equivalence(doc: YamlDoc) -> dict[str, Any]:
    raw = doc.optional("equivalence", dict, {})
    for key, value in raw.items():
        if key not in EQUIVALENCE_KEYS:
            raise doc.error("equivalence", f"unknown key {key!r}{did_you_mean(str(key), sorted(EQUIVALENCE_KEYS))}; "
                                           f"allowed: {', '.join(sorted(EQUIVALENCE_KEYS))}")
        lo, hi, integer = EQUIVALENCE_KEYS[key]
        ok = not isinstance(value, bool) and (isinstance(value, int) if integer else isinstance(value, (int, float)))
        if not ok or value < lo or (hi is not None and value > hi) or (not integer and value == lo):
            span = f">= {lo}" if hi is None else f"in ({lo}, {hi}]"
            raise doc.error("equivalence", f"{key} must be {'an integer' if integer else 'a number'} {span}, got {value!r}")
    return dict(raw)


def parse_suite(doc: YamlDoc) -> SuiteSpec:
    doc.check_keys(SUITE_KEYS)
    name = doc.require("suite", str)
    entries: list[SuiteEntry] = []
    for i, entry in enumerate(doc.optional("tasks", list, [])):
        if isinstance(entry, str):
            entries.append(SuiteEntry(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("task"), str):
            weight = entry.get("weight", 1.0)
            if not isinstance(weight, (int, float)) or weight < 0:
                raise doc.error("tasks", f"entry {i + 1}: weight must be a non-negative number")
            entries.append(SuiteEntry(entry["task"], float(weight)))
        else:
            raise doc.error("tasks", f"entry {i + 1}: must be a task name or {{task: NAME, weight: W}}")
    include = [str(s) for s in doc.optional("include", list, [])]
    cross = doc.optional("equivalence_tasks", list, [])
    if not all(isinstance(t, str) and t.count("/") == 1 for t in cross):
        raise doc.error("equivalence_tasks", "each entry is SUITE/TASK, e.g. performance/knowledge_mc_en")
    if not entries and not include:
        raise doc.error("tasks", "a suite needs 'tasks' or 'include'")
    return SuiteSpec(
        name=name, version=str(doc.require("version", (str, int, float))), path=doc.path,
        description=doc.optional("description", str, ""), area=doc.optional("area", str, None),
        entries=entries, include=include, thresholds=doc.optional("thresholds", dict, {}),
        standard=doc.optional("standard", str, None), equivalence=_parse_equivalence(doc),
        equivalence_tasks=[str(t) for t in cross],
    )


@dataclass
class Catalog:
    suites: dict[str, SuiteSpec]
    tasks: dict[str, TaskSpec]
    standards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def standard(self, name: str, where: str) -> dict[str, Any]:
        if name not in self.standards:
            raise InputError(where, f"unknown standard {name!r}{did_you_mean(name, sorted(self.standards))}")
        return self.standards[name]

    def suite(self, name: str) -> SuiteSpec:
        if name not in self.suites:
            raise UsageError(f"unknown suite {name!r}{did_you_mean(name, sorted(self.suites))} "
                             f"(see: evaluate list suites)")
        return self.suites[name]

    def task(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            raise UsageError(f"unknown task {name!r}{did_you_mean(name, sorted(self.tasks))} "
                             f"(see: evaluate list tasks)")
        return self.tasks[name]

    def suite_tasks(self, suite: SuiteSpec, _seen: tuple[str, ...] = ()) -> list[tuple[TaskSpec, float]]:
        """The tasks of a suite with their weights, includes expanded (each task once)."""
        if suite.name in _seen:
            raise InputError(str(suite.path), f"suite includes itself through {' > '.join(_seen)}")
        out: list[tuple[TaskSpec, float]] = []
        for inc in suite.include:
            if inc not in self.suites:
                raise InputError(f"{suite.path}: field 'include'",
                                 f"unknown suite {inc!r}{did_you_mean(inc, sorted(self.suites))}")
            out.extend(self.suite_tasks(self.suites[inc], _seen + (suite.name,)))
        for entry in suite.entries:
            if entry.task not in self.tasks:
                raise InputError(f"{suite.path}: field 'tasks'",
                                 f"unknown task {entry.task!r}{did_you_mean(entry.task, sorted(self.tasks))}")
            out.append((self.tasks[entry.task], entry.weight))
        seen: set[str] = set()
        return [(t, w) for t, w in out if not (t.name in seen or seen.add(t.name))]


def load_catalog(root: Path | None = None) -> Catalog:
    """Read every YAML under suites/: files with `suite:` are suites, files with `task:` are tasks."""
    root = root or suites_dir()
    return _load_catalog(str(root))


@lru_cache(maxsize=4)
def _load_catalog(root: str) -> Catalog:
    suites: dict[str, SuiteSpec] = {}
    tasks: dict[str, TaskSpec] = {}
    standards: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(root).rglob("*.y*ml")):
        doc = YamlDoc(path)
        if "suite" in doc.data:
            spec = parse_suite(doc)
            if spec.name in suites:
                raise InputError(str(path), f"suite {spec.name!r} is also defined in {suites[spec.name].path}")
            suites[spec.name] = spec
        elif "task" in doc.data:
            task = parse_task(doc)
            if task.name in tasks:
                raise InputError(str(path), f"task {task.name!r} is also defined in {tasks[task.name].path}")
            tasks[task.name] = task
        elif "standard" in doc.data:
            for key in ("banks", "tests", "risks"):
                doc.require(key, (dict, list))
            standards[str(doc.data["standard"])] = dict(doc.data) | {"path": str(path)}
        else:
            raise InputError(str(path), "neither a suite (needs 'suite:'), a task ('task:') nor a standard ('standard:')")
    for task in tasks.values():
        if task.baseline is not None and task.baseline not in tasks:
            raise InputError(f"{task.path}: field 'baseline'",
                             f"unknown task {task.baseline!r}{did_you_mean(task.baseline, sorted(tasks))}")
    for spec in suites.values():
        if spec.standard and spec.standard not in standards:
            raise InputError(f"{spec.path}: field 'standard'",
                             f"unknown standard {spec.standard!r}{did_you_mean(spec.standard, sorted(standards))}")
    return Catalog(suites, tasks, standards)
