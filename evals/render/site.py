"""The leaderboard site's pages, built from the SQLite index alone.

Runs are ranked together only inside a group of identical suite hashes (same items, prompts,
scorers); each group is its own section, marked with its suite version so the page can filter.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from evals.render.page import page, table
from evals.render.svg import AREAS, esc, radar, whiskers
from evals.store import atomic_write_json, atomic_write_text


def _n(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def _ci(lo: Any, hi: Any) -> str:
    return "" if lo is None or hi is None else f'<span class="muted"> [{lo:.3f}, {hi:.3f}]</span>'


def model_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def _load(db: sqlite3.Connection) -> list[dict[str, Any]]:
    db.row_factory = sqlite3.Row
    runs = [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY started DESC, run_id")]
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for r in db.execute("SELECT * FROM scores"):
        scores.setdefault(r["run_id"], {})[f"{r['level']}:{r['name']}"] = dict(r)
    for run in runs:
        run["scores"] = scores.get(run["run_id"], {})
        run["settings"] = json.loads(run["settings"] or "{}")
    db.row_factory = None
    return runs


def _groups(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(suite, hash, limit) groups, the one with most runs first.

    The suite hash covers every item of the exam; `--limit` samples from it, so runs on different
    samples are not ranked together either.
    """
    groups: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for run in runs:
        g = groups.setdefault((run["suite"], run["suite_hash"], run["item_limit"]),
                              {"suite": run["suite"], "hash": run["suite_hash"], "limit": run["item_limit"],
                               "version": run["suite_version"], "runs": []})
        g["runs"].append(run)
    ordered = sorted(groups.values(), key=lambda g: (-len(g["runs"]), g["suite"], g["hash"]))
    for g in ordered:
        g["runs"].sort(key=lambda r: (r["overall"] is None, -(r["overall"] or 0.0), r["label"]))
    return ordered


def _run_link(run: dict[str, Any], prefix: str = "") -> str:
    return f'<a href="{prefix}runs/{esc(run["run_id"])}/report.html">{esc((run["started"] or "")[:16])}</a>'


def _model_link(run: dict[str, Any], prefix: str = "") -> str:
    return f'<a class="model" href="{prefix}models/{esc(model_slug(run["model"]))}.html">{esc(run["label"])}</a>'


def _group_section(g: dict[str, Any], index: int, ranked: bool) -> str:
    areas = [a for a in AREAS if any(f"area:{a}" in r["scores"] for r in g["runs"])]
    rows = []
    for rank, run in enumerate(g["runs"], 1):
        cells = [str(rank) if ranked else "", _model_link(run), f'{_n(run["overall"])}{_ci(run["overall_lo"], run["overall_hi"])}']
        for a in areas:
            s = run["scores"].get(f"area:{a}")
            cells.append(f'{_n(s["value"])}{_ci(s["lo"], s["hi"])}' if s else "—")
        cells += [esc(run["items"]), esc(run["errors"]), _run_link(run)]
        rows.append(cells)
    headers = ["rank", "model", "overall"] + [esc(a) for a in areas] + ["items", "errors", "run"]
    note = "" if ranked else ('<p class="warn">Not ranked with the runs above: the suite hash or the --limit sample '
                              'differs (other items, prompts or scorers), so its scores are not comparable with theirs.</p>')
    out = [f'<section class="group" data-suite-version="{esc(g["version"])}" id="group-{index}">'
           f'<h2>{esc(g["suite"])} {esc(g["version"])} <span class="muted">suite hash <code>{esc(g["hash"][:23])}…</code> · '
           f'{"limit " + str(g["limit"]) + " per task · " if g["limit"] else ""}{len(g["runs"])} run(s)</span></h2>{note}',
           table(headers, rows, numeric={0, *range(2, 5 + len(areas))},
                 cls="leaderboard", table_id=f"overall-{index}")]
    for a in areas:
        tasks = sorted({k.split(":", 1)[1] for r in g["runs"] for k, s in r["scores"].items()
                        if k.startswith("task:") and s["area"] == a})
        trows = []
        for run in sorted(g["runs"], key=lambda r: -(r["scores"].get(f"area:{a}", {}).get("value") or 0.0)):
            s = run["scores"].get(f"area:{a}")
            trows.append([_model_link(run), _n(s["value"]) if s else "—"] +
                         [_n(run["scores"][f"task:{t}"]["value"]) if f"task:{t}" in run["scores"] else "—" for t in tasks])
        out.append(f"<h3>{esc(a)}</h3>" + table(["model", f"{esc(a)} score"] + [esc(t) for t in tasks], trows,
                                              numeric=set(range(1, 2 + len(tasks))), table_id=f"area-{index}-{esc(a)}"))
    out.append("</section>")
    return "".join(out)


def _index_page(groups: list[dict[str, Any]], title: str) -> str:
    versions = sorted({g["version"] for g in groups})
    select = ('<label>suite version <select data-version-filter><option value="">all</option>'
              + "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in versions) + "</select></label>")
    body = [f"<h1>{esc(title)}</h1><p class='muted'>Scores are means with 95% confidence intervals. Runs are ranked "
            "together only when their suite hashes match. Click a column heading to sort.</p>",
            f'<div class="toolbar">{select} <a href="index.json">index.json</a></div>']
    seen_suites: set[str] = set()
    for i, g in enumerate(groups):
        ranked = g["suite"] not in seen_suites  # the largest group of a suite is the ranked one
        seen_suites.add(g["suite"])
        body.append(_group_section(g, i, ranked))
    return page(title, "".join(body))


def _model_page(name: str, runs: list[dict[str, Any]], title: str) -> str:
    latest = runs[0]
    areas = {a: (latest["scores"].get(f"area:{a}") or {}).get("value") for a in AREAS}
    tasks = [(k.split(":", 1)[1], s) for k, s in latest["scores"].items() if k.startswith("task:")]
    body = [f"<h1>{esc(name)}</h1><p class='muted'>latest run {_run_link(latest, '../')} · suite {esc(latest['suite'])} "
            f"{esc(latest['suite_version'])} · fingerprint <code>{esc(latest['fingerprint'])}</code></p>",
            '<div class="grid-2">', radar(areas, title=f"{name}: areas"),
            whiskers([(f"{t} · {s['metric']}", s["value"], [s["lo"], s["hi"]]) for t, s in tasks], title=f"{name}: tasks"),
            "</div><h2>Tasks (latest run)</h2>",
            table(["task", "area", "metric", "value", "95% CI", "n"],
                  [[esc(t), esc(s["area"]), esc(s["metric"]), _n(s["value"]), _ci(s["lo"], s["hi"]), esc(s["n"])]
                   for t, s in tasks], numeric={3, 5}),
            "<h2>All runs</h2>",
            table(["run", "label", "suite", "version", "overall", "items", "settings"],
                  [[_run_link(r, "../"), esc(r["label"]), esc(r["suite"]), esc(r["suite_version"]),
                    f'{_n(r["overall"])}{_ci(r["overall_lo"], r["overall_hi"])}', esc(r["items"]),
                    esc(", ".join(f"{k}={v}" for k, v in r["settings"].items() if v is not None and k != "source"))]
                   for r in runs], numeric={4, 5})]
    return page(f"{name} — {title}", "".join(body), nav='<a href="../index.html">← leaderboard</a>')


def build_site(db: sqlite3.Connection, root: Path, title: str) -> dict[str, Any]:
    runs = _load(db)
    groups = _groups(runs)
    atomic_write_text(root / "index.html", _index_page(groups, title))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_model.setdefault(run["model"], []).append(run)
    for name, mruns in by_model.items():
        atomic_write_text(root / "models" / f"{model_slug(name)}.html", _model_page(name, mruns, title))
    index = {"title": title, "groups": [
        {"suite": g["suite"], "version": g["version"], "hash": g["hash"], "limit": g["limit"], "runs": [
            {"run_id": r["run_id"], "model": r["model"], "label": r["label"], "started": r["started"],
             "overall": {"value": r["overall"], "ci": [r["overall_lo"], r["overall_hi"]]},
             "areas": {k.split(":", 1)[1]: {"value": s["value"], "ci": [s["lo"], s["hi"]]}
                       for k, s in r["scores"].items() if k.startswith("area:")},
             "tasks": {k.split(":", 1)[1]: {"metric": s["metric"], "value": s["value"], "ci": [s["lo"], s["hi"]], "n": s["n"]}
                       for k, s in r["scores"].items() if k.startswith("task:")},
             "report": f"runs/{r['run_id']}/report.html"} for r in g["runs"]]} for g in groups]}
    atomic_write_json(root / "index.json", index)
    return {"runs": len(runs), "groups": len(groups), "models": len(by_model)}
