"""`evaluate report RUN_DIR --format md|html|json|junit`: render a finished run again, any time.

report.json is the source; the HTML also reads records.jsonl for the item drill-down.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

FORMATS = {"md": "report.md", "html": "report.html", "json": "report.json", "junit": "junit.xml"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate report", description="Render a run's report as Markdown, HTML, JSON or JUnit XML.")
    p.add_argument("run", help="run folder (holding report.json and records.jsonl)")
    p.add_argument("--format", choices=sorted(FORMATS), default="html", help="output format (default html)")
    p.add_argument("--output", help="file to write (default: report.<ext> inside the run folder); '-' for stdout")
    return p


def render(run_dir: str | Path, fmt: str) -> str:
    from evals.runs import load_run

    run = load_run(run_dir)
    if fmt == "json":
        return json.dumps(run.report, ensure_ascii=False, indent=2) + "\n"
    if fmt == "md":
        from evals.render.markdown import render_markdown

        return render_markdown(run.report)
    if fmt == "junit":
        from evals.render.junit import report_junit

        return report_junit(run.report)
    from evals.render.html import render_html

    return render_html(run.report, run.records)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    text = render(args.run, args.format)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    from evals.store import atomic_write_text

    out = Path(args.output) if args.output else Path(args.run) / FORMATS[args.format]
    if args.format == "json" and out.resolve() == (Path(args.run) / "report.json").resolve():
        print(out)  # report.json is the canonical file itself: nothing to write
        return 0
    if not out.parent.exists():
        from evals.errors import UsageError

        raise UsageError(f"--output {out}: folder {out.parent} does not exist")
    atomic_write_text(out, text)
    print(out)
    return 0
