"""`evaluate publish RUN_DIR... --out reports/site`: a SQLite index of runs and a static leaderboard.

The index (`index.sqlite` in the site folder) accumulates: publishing new runs adds them to the
runs already there, so a site can grow release by release. The site is rebuilt from the index in a
sibling folder and swapped in, so a reader never sees a half-built site.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Sequence

from evals.errors import UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, model TEXT NOT NULL, label TEXT NOT NULL, adapter TEXT, fingerprint TEXT,
  settings TEXT, suite TEXT NOT NULL, suite_version TEXT, suite_hash TEXT NOT NULL, started TEXT,
  seconds REAL, item_limit INTEGER, overall REAL, overall_lo REAL, overall_hi REAL, items INTEGER,
  errors INTEGER, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
  run_id TEXT NOT NULL, level TEXT NOT NULL, name TEXT NOT NULL, area TEXT, metric TEXT,
  value REAL, lo REAL, hi REAL, n INTEGER, PRIMARY KEY (run_id, level, name));
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate publish",
                                description="Add runs to a leaderboard index and rebuild the static site from it.")
    p.add_argument("runs", nargs="*", help="run folders to add (none: rebuild the site from the index)")
    p.add_argument("--out", default="reports/site", help="site folder (default reports/site); its index.sqlite is kept")
    p.add_argument("--title", default="evals leaderboard", help="site title")
    return p


def run_slug(report: dict[str, Any]) -> str:
    raw = f"{report['run']['id']}_{report['run'].get('key', '')}".strip("_")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)[:120]


def model_label(report: dict[str, Any]) -> str:
    """The model name plus what sets this run apart from another run of the same model."""
    m, settings = report["model"], report["model"].get("settings", {})
    bits = [f"{settings['dtype']}" if settings.get("dtype") not in (None, "float32") else "",
            f"limit {report['run']['limit']}" if report["run"].get("limit") else ""]
    extra = ", ".join(b for b in bits if b)
    return f"{m['name']} ({extra})" if extra else m["name"]


def index_run(db: sqlite3.Connection, report: dict[str, Any]) -> str:
    rid = run_slug(report)
    o, s, m = report["scores"]["overall"], report["suite"], report["model"]
    db.execute("DELETE FROM scores WHERE run_id = ?", (rid,))
    db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
        rid, m["name"], model_label(report), m.get("adapter"), m.get("fingerprint"),
        json.dumps(m.get("settings", {}), sort_keys=True), s["name"], str(s.get("version")), s["hash"],
        report["run"].get("started"), report["run"].get("seconds"), report["run"].get("limit"),
        o.get("value"), (o.get("ci") or [None, None])[0], (o.get("ci") or [None, None])[1],
        report["counters"].get("items"), report["counters"].get("errors"), json.dumps(report, ensure_ascii=False)))
    rows = [(rid, "area", a, a, "area score", e.get("value"), *(e.get("ci") or [None, None]), None)
            for a, e in report["scores"]["areas"].items()]
    rows += [(rid, "task", n, t["area"], t["metric"], t.get("value"), *(t.get("ci") or [None, None]), t.get("n"))
             for n, t in report["scores"]["tasks"].items()]
    db.executemany("INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return rid


def open_index(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path)
        db.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path}: not a usable leaderboard index ({exc}); move it away to start a new one") from None
    return db


def publish(run_dirs: Sequence[str | Path], out: str | Path, title: str = "evals leaderboard") -> dict[str, Any]:
    from evals.render.html import render_html
    from evals.render.site import build_site
    from evals.runs import load_run
    from evals.store import atomic_write_text

    runs = [load_run(p) for p in run_dirs]  # every path checked before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if (out / "index.sqlite").is_file():
            shutil.copy2(out / "index.sqlite", build / "index.sqlite")
        if (out / "runs").is_dir():
            shutil.copytree(out / "runs", build / "runs")
        db = open_index(build / "index.sqlite")
        with db:
            for run in runs:
                rid = index_run(db, run.report)
                atomic_write_text(build / "runs" / rid / "report.html", render_html(run.report, run.records))
        summary = build_site(db, build, title)
        db.close()
        os.chmod(build, 0o755)
        _swap(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return summary


def _swap(build: Path, out: Path) -> None:
    """Put the new site in place of the old one: two renames, the old copy removed afterwards."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(build, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.runs and not (Path(args.out) / "index.sqlite").is_file():
        raise UsageError(f"nothing to publish: give run folders, or --out a site that has an index.sqlite")
    summary = publish(args.runs, args.out, args.title)
    print(f"{summary['runs']} runs in {summary['groups']} suite group(s), {summary['models']} models → "
          f"{Path(args.out) / 'index.html'}")
    return 0
