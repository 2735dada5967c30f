"""A finished run read back from its folder: report.json (canonical) and records.jsonl (every item).

`report`, `compare`, `gate` and `publish` all start here, so a wrong path or a half-written run
gets the same one-line error everywhere.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from evals.errors import UsageError

REPORT_SCHEMA_PREFIX = "evals.report/"


@dataclass
class RunDir:
    path: Path
    report: dict[str, Any]
    _records: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.report["model"]["name"]

    @property
    def suite_hash(self) -> str:
        return self.report["suite"]["hash"]

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record of the run (last line wins for a repeated (task, item)); errored items included."""
        if self._records is None:
            self._records = list(_read_records(self.path / "records.jsonl"))
        return self._records

    def records_by_task(self) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for r in self.records:
            out.setdefault(r["task"], {})[r["item_id"]] = r
        return out


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                seen[(rec["task"], rec["item_id"])] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                if not line.endswith("\n"):
                    break  # a torn last line from a killed run
                raise UsageError(f"{path}:{n}: not a record line; the file is damaged (re-run the evaluation to rebuild it)")
    yield from seen.values()


def load_run(path: str | Path) -> RunDir:
    """A run folder, or its report.json directly."""
    p = Path(path)
    if p.is_file() and p.name == "report.json":
        p = p.parent
    if not p.exists():
        raise UsageError(f"{p}: no such run folder (pass the folder `evaluate` printed, holding report.json)")
    report_path = p / "report.json"
    if not report_path.is_file():
        hint = " (the run has not finished: run the same command again to complete it)" \
            if (p / "records.jsonl").is_file() else ""
        raise UsageError(f"{p}: no report.json here{hint}")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{report_path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not str(report.get("schema", "")).startswith(REPORT_SCHEMA_PREFIX):
        raise UsageError(f"{report_path}: not an evals report (schema {report.get('schema')!r}, "
                         f"expected {REPORT_SCHEMA_PREFIX}N)")
    return RunDir(p, report)
