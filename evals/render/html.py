"""report.html: one self-contained page per run — overview radar, task scores with CI whiskers, the
safety heat map, bias per attribute, efficiency, and every item (prompt, response, score, why).

Everything that came from a model, an item bank or a user is passed through `esc`.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from evals.render.markdown import _ci
from evals.render.page import page, table
from evals.render.svg import AREAS, diverging, esc, heat_colour, radar, whiskers

HEAT_KEYS = ("risk", "topic")          # safety breakdowns drawn as heat maps
BIAS_METRICS = ("s_dis", "s_amb")      # BBQ bias scores, drawn around zero


def _n(v: Any, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else esc(v)


def _goodness(task: dict[str, Any], value: float | None) -> float | None:
    if value is None:
        return None
    return value if task.get("higher_is_better", True) else 1 - value


def overview(report: dict[str, Any]) -> str:
    scores = report["scores"]
    areas = {a: scores["areas"].get(a, {}).get("value") for a in AREAS}
    o = scores["overall"]
    rows = [[esc(a), _n(e.get("value")), _ci(e.get("ci")), esc(", ".join(e.get("tasks", [])))]
            for a, e in scores["areas"].items()]
    rows.append(["<b>overall</b>", f"<b>{_n(o.get('value'))}</b>", _ci(o.get("ci")), f"{o.get('n', '')} items"])
    out = ['<h2 id="overview">Overview</h2><div class="grid-2">', radar(areas, title=f"{report['model']['name']}: areas"),
           "<div>", table(["area", "score", "95% CI", "tasks"], rows, sortable=False, numeric={1}), _verdicts(report),
           "</div></div>"]
    return "".join(out)


def _verdicts(report: dict[str, Any]) -> str:
    parts = []
    if report.get("thresholds"):
        rows = [[esc(t["name"]), _n(t["min"]), _n(t["value"]), f'<span class="{esc(t["verdict"])}">{esc(t["verdict"])}</span>']
                for t in report["thresholds"]]
        parts.append("<h3>Suite thresholds</h3>" + table(["name", "min", "value", "verdict"], rows, sortable=False))
    conf = report.get("conformance")
    if conf:
        cls = "pass" if conf["verdict"] == "pass" else "fail"
        parts.append(f'<p>Conformance to {esc(conf["standard"])}: <span class="{cls}">{esc(conf["verdict"].upper())}</span>'
                     f' <a href="#conformance">details</a></p>')
    return "".join(parts)


def task_scores(report: dict[str, Any]) -> str:
    tasks = report["scores"]["tasks"]
    out = ['<h2 id="tasks">Tasks</h2>']
    for area in [a for a in AREAS if any(t["area"] == a for t in tasks.values())] + \
            sorted({t["area"] for t in tasks.values()} - set(AREAS)):
        names = [n for n, t in tasks.items() if t["area"] == area]
        out.append(f"<h3>{esc(area)}</h3>")
        out.append(whiskers([(f"{n} · {tasks[n]['metric']}", tasks[n]["value"], tasks[n]["ci"]) for n in names],
                            title=f"{area} tasks"))
        rows = []
        for n in names:
            t = tasks[n]
            direction = "" if t.get("higher_is_better", True) else " (lower is better)"
            note = f' <small title="{esc(t["method_note"])}">(not comparable: answers read from generation)</small>' \
                if t.get("method_note") else ""
            rows.append([f'<a href="#items-{esc(n)}">{esc(n)}</a>{note}', esc(t["metric"]) + direction, _n(t["value"]),
                         _ci(t["ci"]), esc(t["n"]), esc(t.get("method", "")), esc(t.get("errors", 0)),
                         esc(_judge_line(t))])
        out.append(table(["task", "metric", "value", "95% CI", "n", "CI method", "errors", "judge (held-out P/R)"], rows,
                         numeric={2, 4, 6}))
    return "".join(out)


def _judge_line(task: dict[str, Any]) -> str:
    j = task.get("judge")
    if not j:
        return ""
    if j.get("calibration") == "not available":
        return f"{j.get('judge')}: calibration not available"
    p, r = j.get("precision"), j.get("recall")
    return f"{j.get('judge')}: P={p:.3f} R={r:.3f} (n={j.get('n')})" if p is not None and r is not None else str(j.get("judge"))


def heat_maps(report: dict[str, Any]) -> str:
    tasks = {n: t for n, t in report["scores"]["tasks"].items() if t["area"] == "safety"}
    out = []
    for key in HEAT_KEYS:
        cols = [n for n, t in tasks.items() if key in (t.get("by") or {})]
        if not cols:
            continue
        keys = sorted({k for n in cols for k in tasks[n]["by"][key]})
        rows = []
        for k in keys:
            cells = [f"<th>{esc(k)}</th>"]
            for n in cols:
                e = tasks[n]["by"][key].get(k)
                if not e or e.get("value") is None:
                    cells.append('<td class="cell" style="background:#f3f4f6">—</td>')
                    continue
                g = _goodness(tasks[n], e["value"])
                cells.append(f'<td class="cell" style="background:{heat_colour(g)}" title="{esc(n)} · {esc(k)}: '
                             f'{e["value"]:.3f} {_ci(e.get("ci"))}, n={esc(e.get("n"))}">{e["value"]:.2f}'
                             f'<br><span class="muted">n={esc(e.get("n"))}</span></td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        head = "".join(f"<th>{esc(n)}<br><span class='muted'>{esc(tasks[n]['metric'])}"
                       f"{'' if tasks[n].get('higher_is_better', True) else ' ↓'}</span></th>" for n in cols)
        out.append(f'<h3>Safety by {esc(key)}</h3><p class="muted">Colour: green is good for that task '
                   f'(a high refusal rate on should-refuse items, a low one on should-answer items), red is bad.</p>'
                   f'<table class="heat"><thead><tr><th>{esc(key)}</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return ('<h2 id="safety">Safety heat map</h2>' + "".join(out)) if out else ""


def bias_charts(report: dict[str, Any]) -> str:
    out = []
    for name, t in report["scores"]["tasks"].items():
        by = (t.get("by") or {}).get("attribute")
        if not by:
            continue
        bias = [(f"{attr} · {m}", e.get("metrics", {}).get(m, {}).get("value"), e.get("metrics", {}).get(m, {}).get("ci"))
                for attr, e in by.items() for m in BIAS_METRICS if m in e.get("metrics", {})]
        if bias:
            out.append(f"<h3>{esc(name)}: bias scores per attribute</h3><p class='muted'>s_DIS and s_AMB as the BBQ paper "
                       "defines them: 0 is unbiased, +1 always answers with the stereotype, −1 always against it.</p>"
                       + diverging(bias, title=f"{name} bias per attribute"))
        else:
            out.append(f"<h3>{esc(name)}: {esc(t['metric'])} per attribute</h3>"
                       + whiskers([(attr, e.get("value"), e.get("ci")) for attr, e in by.items()],
                                  title=f"{name} per attribute"))
    return ('<h2 id="bias">Bias per attribute</h2>' + "".join(out)) if out else ""


def breakdown_tables(report: dict[str, Any]) -> str:
    out = []
    for name, t in report["scores"]["tasks"].items():
        for key, vals in (t.get("by") or {}).items():
            extra = [m for m in next(iter(vals.values()), {}).get("metrics", {}) if m != t["metric"]]
            rows = [[esc(v), _n(e.get("value")), _ci(e.get("ci")), esc(e.get("n"))] +
                    [_n(e.get("metrics", {}).get(m, {}).get("value")) for m in extra] for v, e in vals.items()]
            out.append(f"<details><summary>{esc(name)} by {esc(key)}</summary>"
                       + table([esc(key), esc(t["metric"]), "95% CI", "n"] + [esc(m) for m in extra], rows,
                               numeric={1, 3} | set(range(4, 4 + len(extra)))) + "</details>")
        if t.get("attacks"):
            rows = [[esc(a), _n(e["asr"]), _ci(e["ci"]), esc(e["n"]), f"{e['delta']:+.3f}" if "delta" in e else "—",
                     _ci(e.get("delta_ci"))] for a, e in t["attacks"]["by_attack"].items()]
            out.append(f"<details open><summary>{esc(name)}: attack success</summary>"
                       + table(["attack", "success rate", "95% CI", "n", "vs baseline", "95% CI"], rows, numeric={1, 3, 4})
                       + "</details>")
    return ('<h2 id="breakdowns">Breakdowns</h2>' + "".join(out)) if out else ""


def conformance(report: dict[str, Any]) -> str:
    conf = report.get("conformance")
    if not conf:
        return ""
    rows = [[esc(t["clause"]), esc(f"{t['threshold']} (n ≥ {t['min_sample']})"), _n(t["value"]), _ci(t["ci"]),
             _n(t["one_sided_bound"]), esc(t["n"]), f'<span class="{esc(t["verdict"])}">{esc(t["verdict"])}</span>',
             esc(t["why"])] for t in conf["tests"]]
    banks = [[esc(b["clause"]), esc(b["n"]), esc(b["min_total"]), f'<span class="{esc(b["verdict"])}">{esc(b["verdict"])}</span>',
              esc(b["why"])] for b in conf["banks"]]
    return (f'<h2 id="conformance">Conformance: {esc(conf["standard"])} — {esc(conf["verdict"].upper())}</h2>'
            f'<p>{esc(conf.get("title") or "")}</p><p class="muted">Decision rule: {esc(conf.get("decision_rule") or "point estimate")}</p>'
            + table(["clause", "requirement", "value", "95% CI", "one-sided bound", "n", "verdict", "why"], rows, numeric={2, 4, 5})
            + table(["bank clause", "items (zh)", "minimum", "verdict", "why"], banks, numeric={1, 2}))


def robustness(report: dict[str, Any]) -> str:
    """Adaptation: drop rates of perturbed tasks against their clean baselines, and zh/en parity."""
    out = []
    if report.get("robustness"):
        rows = [[esc(b["task"]), esc(b["baseline"]),
                 esc(f"{b['perturbation']['kind']} {b['perturbation'].get('rate', '')}" if b.get("perturbation") else "—"),
                 esc(b["metric"]), _n((b.get("clean") or {}).get("value")), _n((b.get("perturbed") or {}).get("value")),
                 _n(b.get("drop_rate")), _ci(b.get("ci")), esc(b.get("n", 0))] for b in report["robustness"]]
        out.append("<h3>Drop rate against the clean task</h3>"
                   + table(["task", "baseline", "perturbation", "metric", "clean", "perturbed", "drop rate", "95% CI", "n"],
                           rows, numeric={4, 5, 6, 8}))
    if report.get("parity"):
        rows = [[esc(b["zh_task"]), esc(b["en_task"]), esc(b["metric"]), f"{_n(b['zh']['value'])} (n={esc(b['zh']['n'])})",
                 f"{_n(b['en']['value'])} (n={esc(b['en']['n'])})", f"{b['difference']:+.3f}", _ci(b["ci"]), esc(b["method"])]
                for b in report["parity"]]
        out.append("<h3>zh/en parity (items with a counterpart in the other language)</h3>"
                   + table(["zh task", "en task", "metric", "zh", "en", "zh − en", "95% CI", "method"], rows, numeric={5}))
    return ('<h2 id="robustness">Robustness and parity</h2>' + "".join(out)) if out else ""


def efficiency(report: dict[str, Any]) -> str:
    e, c, env = report.get("efficiency", {}), report.get("counters", {}), report.get("environment", {})
    rows = [[esc(k), esc(v)] for k, v in e.items() if v is not None and k != "usage"]
    rows += [[esc(f"usage: {k}"), esc(v)] for k, v in (e.get("usage") or {}).items()]
    rows += [[esc(k), esc(v)] for k, v in c.items()]
    hw = env.get("hardware", {})
    rows += [["hardware", esc(", ".join(f"{k}={v}" for k, v in hw.items()))],
             ["software", esc(", ".join(f"{k} {env.get(k)}" for k in ("evals", "python", "torch", "transformers") if env.get(k)))]]
    return '<h2 id="efficiency">Efficiency and run</h2>' + table(["figure", "value"], rows, sortable=False)


def _response_text(rec: dict[str, Any]) -> str:
    if "response" in rec:
        r = rec["response"]
        return "\n---\n".join(r) if isinstance(r, list) else str(r)
    choices = rec.get("choices") or []
    parsed = rec.get("parsed")
    if isinstance(parsed, int) and 0 <= parsed < len(choices):
        return f"[{parsed}] {choices[parsed]}"
    return "" if parsed is None else str(parsed)


def _target_text(rec: dict[str, Any]) -> str:
    t, choices = rec.get("target"), rec.get("choices") or []
    if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < len(choices):
        return f"[{t}] {choices[t]}"
    return "" if t is None else (t if isinstance(t, str) else json.dumps(t, ensure_ascii=False))


def items_section(report: dict[str, Any], records: Iterable[dict[str, Any]]) -> str:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task"], []).append(r)
    out = ['<h2 id="items">Items</h2><p class="muted">Every prompt as sent, every response as received, '
           "the score and why. Filter with the box; click a column to sort.</p>"]
    for name, t in report["scores"]["tasks"].items():
        recs = sorted(by_task.get(name, []), key=lambda r: r["item_id"])
        metric = t["metric"]
        good_high = t.get("higher_is_better", True)
        rows, attrs = [], []
        for r in recs:
            v = r.get("scores", {}).get(metric)
            ok = v is not None and ((v >= 0.5) if good_high else (v < 0.5))
            attrs.append(f'data-pass="{1 if ok else 0}"')
            scores = ", ".join(f"{k}={x:.3g}" if isinstance(x, (int, float)) else f"{k}={x}" for k, x in r.get("scores", {}).items())
            rows.append([esc(r["item_id"]), f"<pre>{esc(r.get('prompt', ''))}</pre>", f"<pre>{esc(_response_text(r))}</pre>",
                         f"<pre>{esc(_target_text(r))}</pre>", esc(scores) if not r.get("error") else
                         f'<span class="fail">error</span> {esc(r.get("error"))}', esc(r.get("why", ""))])
        ident = f"items-{name}"
        out.append(f'<details id="{esc(ident)}"><summary>{esc(name)} — {len(recs)} items</summary>'
                   f'<div class="toolbar"><input type="search" placeholder="filter {esc(name)}" data-filter-for="tbl-{esc(ident)}">'
                   f'<label><input type="checkbox" data-fail-only-for="tbl-{esc(ident)}"> failures only</label></div>'
                   + table(["item", "prompt", "response", "target", "scores", "why"], rows, cls="items", row_attrs=attrs,
                           table_id=f"tbl-{ident}") + "</details>")
    return "".join(out)


def render_html(report: dict[str, Any], records: Iterable[dict[str, Any]]) -> str:
    m, s, run = report["model"], report["suite"], report["run"]
    head = (f"<h1>{esc(m['name'])} — {esc(s['name'])} {esc(s['version'])}</h1>"
            f"<p class='muted'>run <code>{esc(run['id'])}</code> · {esc(run.get('started', ''))} · {run.get('seconds', 0):.1f} s"
            f"{' · limit ' + esc(run['limit']) + ' per task' if run.get('limit') else ''} · suite hash <code>{esc(s['hash'])}</code>"
            f"{' · standard ' + esc(s['standard']) if s.get('standard') else ''}<br>model <code>{esc(m['name'])}</code> via "
            f"{esc(m['adapter'])}, fingerprint <code>{esc(m['fingerprint'])}</code>; "
            + esc(", ".join(f"{k}={v}" for k, v in m.get("settings", {}).items() if v is not None)) + "</p>")
    nav = "".join(f'<a href="#{a}">{a}</a>' for a in ("overview", "tasks", "safety", "bias", "breakdowns", "conformance",
                                                        "efficiency", "items"))
    body = "".join([head, overview(report), task_scores(report), heat_maps(report), bias_charts(report),
                    breakdown_tables(report), robustness(report), conformance(report), efficiency(report), items_section(report, records)])
    return page(f"{m['name']} — {s['name']} {s['version']}", body, nav)
