"""report.md and the terminal summary table."""
from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def _ci(ci: Any) -> str:
    return "—" if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, t in report["scores"]["tasks"].items():
        rows.append([name, t["area"], t["metric"], _fmt(t["value"]), _ci(t["ci"]), str(t["n"])])
    for area, a in report["scores"]["areas"].items():
        rows.append([f"[{area}]", area, "area score", _fmt(a["value"]), _ci(a["ci"]), ""])
    o = report["scores"]["overall"]
    rows.append(["OVERALL", "", "", _fmt(o["value"]), _ci(o["ci"]), str(o.get("n", ""))])
    return rows


HEADER = ["task", "area", "metric", "value", "95% CI", "n"]


def summary_table(report: dict[str, Any]) -> str:
    """A plain-text table for the terminal (no colour codes: it goes into CI logs too)."""
    rows = [HEADER] + summary_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    line = "  ".join("-" * w for w in widths)
    out = [f"{report['model']['name']} on {report['suite']['name']} {report['suite']['version']} "
           f"({report['suite']['hash'][:19]}…)", line]
    for i, r in enumerate(rows):
        if r[0] == "OVERALL":
            out.append(line)
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append(line)
    c = report["counters"]
    out.append(f"items {c['items']} (resumed {c['items_resumed']}), requests {c['requests']} "
               f"(cache {c['requests_from_cache']}, model {c['requests_to_model']}), errors {c['errors']}; "
               f"{report['run']['seconds']:.1f} s → {report['run']['dir']}")
    return "\n".join(out)


def render_markdown(report: dict[str, Any]) -> str:
    m, s, run = report["model"], report["suite"], report["run"]
    env = report["environment"]
    lines = [
        f"# {m['name']} — {s['name']} {s['version']}",
        "",
        f"- run: `{run['id']}` ({run['seconds']:.1f} s){' — limit ' + str(run['limit']) + ' per task' if run.get('limit') else ''}",
        f"- model: `{m['name']}` via `{m['adapter']}`, fingerprint `{m['fingerprint']}`",
        f"- settings: " + ", ".join(f"{k}={v}" for k, v in m["settings"].items() if v is not None),
        f"- suite hash: `{s['hash']}`" + (f"; standard {s['standard']}" if s.get("standard") else ""),
        f"- environment: evals {env['evals']}, python {env['python']}, torch {env.get('torch')}, "
        f"transformers {env.get('transformers')}, {env['hardware'].get('cpu') or env['hardware'].get('machine')}"
        + (f", {env['hardware']['gpu']}" if env["hardware"].get("gpu") else ""),
        "",
        "## Scores",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(report)]
    notes = [(n, t["method_note"]) for n, t in report["scores"]["tasks"].items() if t.get("method_note")]
    notes += [(n, f"{t['skipped']['items']} items skipped as longer than the model's window (max_length "
                  f"{t['skipped']['max_length']}, {t['skipped']['counted_with']}): "
                  + ", ".join(f"{k}: {v}" for k, v in t["skipped"]["by_length"].items()))
              for n, t in report["scores"]["tasks"].items() if t.get("skipped")]
    if notes:
        lines += [""] + [f"- **{n}** — {note}" for n, note in notes]
    for name, t in report["scores"]["tasks"].items():
        if not t.get("by") and len(t["metrics"]) < 2:
            continue
        lines += ["", f"### {name}", ""]
        lines += [f"- {k}: {_fmt(v['value'])} {_ci(v['ci'])} (n={v['n']}, {v['method']})" for k, v in t["metrics"].items()]
        if t.get("attacks"):
            lines += ["", "| attack | success rate | 95% CI | n | vs baseline | 95% CI |", "|---|---|---|---|---|---|"]
            for a, e in t["attacks"]["by_attack"].items():
                delta = f"{e['delta']:+.3f}" if "delta" in e else "—"
                lines.append(f"| {a} | {_fmt(e['asr'])} | {_ci(e['ci'])} | {e['n']} | {delta} | {_ci(e.get('delta_ci'))} |")
        for key, vals in (t.get("by") or {}).items():
            extra = [m for m in next(iter(vals.values()), {}).get("metrics", {}) if m != t["metric"]]
            lines += ["", f"| {key} | {t['metric']} | 95% CI | n |" + "".join(f" {m} | 95% CI |" for m in extra),
                      "|---|---|---|---|" + "---|---|" * len(extra)]
            for v, e in vals.items():
                agg = e.get("metrics", {})
                lines.append(f"| {v} | {_fmt(e['value'])} | {_ci(e['ci'])} | {e['n']} |" + "".join(
                    f" {_fmt(agg.get(m, {}).get('value'))} | {_ci(agg.get(m, {}).get('ci'))} |" for m in extra))
    lines += render_robustness(report.get("robustness") or []) + render_parity(report.get("parity") or [])
    if report.get("thresholds"):
        lines += ["", "## Thresholds", "", "| name | min | value | verdict |", "|---|---|---|---|"]
        lines += [f"| {t['name']} | {t['min']} | {_fmt(t['value'])} | {t['verdict']} |" for t in report["thresholds"]]
    if report.get("conformance"):
        lines += render_conformance(report["conformance"])
    c, e = report["counters"], report["efficiency"]
    lines += ["", "## Run", "",
              f"- items {c['items']} (resumed from records {c['items_resumed']}), unique requests {c['requests']} "
              f"(from cache {c['requests_from_cache']}, sent to the model {c['requests_to_model']}), errors {c['errors']}",
              "- efficiency: " + ", ".join(f"{k}={v}" for k, v in e.items() if v is not None and k != "usage"),
              *(["- usage over every record: " + ", ".join(f"{k}={v}" for k, v in e["usage"].items())]
                if e.get("usage") else []), ""]
    return "\n".join(lines)


def render_conformance(conf: dict[str, Any]) -> list[str]:
    lines = ["", f"## Conformance: {conf['standard']} — {conf['verdict'].upper()}", "",
             f"{conf.get('title') or ''}", "", f"Decision rule: {conf.get('decision_rule') or 'point estimate'}.", "",
             "| clause | requirement | value | 95% CI | one-sided bound | n | verdict | why |",
             "|---|---|---|---|---|---|---|---|"]
    for t in conf["tests"]:
        lines.append(f"| {t['clause']} | {t['threshold']} (n ≥ {t['min_sample']}) | {_fmt(t['value'])} | {_ci(t['ci'])} | "
                     f"{_fmt(t['one_sided_bound'])} | {t['n']} | **{t['verdict']}** | {t['why']} |")
    lines += ["", "| bank clause | items (zh) | minimum | verdict | why |", "|---|---|---|---|---|"]
    for b in conf["banks"]:
        lines.append(f"| {b['clause']} | {b['n']} | {b['min_total']} | **{b['verdict']}** | {b['why']} |")
    if conf.get("parity"):
        lines += ["", "zh/en parity:", "", "| bank | zh | en | zh − en | 95% CI |", "|---|---|---|---|---|"]
        for p in conf["parity"]:
            other = next(k for k in p if k not in ("bank", "metric", "zh", "difference", "ci", "significant"))
            lines.append(f"| {p['bank']} | {_fmt(p['zh']['value'])} (n={p['zh']['n']}) | {_fmt(p[other]['value'])} "
                         f"(n={p[other]['n']}) | {p['difference']:+.3f} | {_ci(p['ci'])} |")
    return lines


def render_robustness(blocks: list[dict[str, Any]]) -> list[str]:
    """Drop rate of each perturbed task against its clean baseline: (clean − perturbed) / clean."""
    if not blocks:
        return []
    lines = ["", "## Robustness: drop rate against the clean task", "",
             "| task | baseline | perturbation | metric | clean | perturbed | drop rate | 95% CI | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for b in blocks:
        p = b.get("perturbation") or {}
        pert = f"{p['kind']} {p.get('rate', '')}".strip() if p else "—"
        clean = _fmt((b.get("clean") or {}).get("value"))
        lines.append(f"| {b['task']} | {b['baseline']} | {pert} | {b['metric']} | {clean} | "
                     f"{_fmt((b.get('perturbed') or {}).get('value'))} | {_fmt(b.get('drop_rate'))} | {_ci(b.get('ci'))} | "
                     f"{b.get('n', 0)} |")
    lines += [f"- **{b['task']}** — {b['note']}" for b in blocks if b.get("note")]
    return lines


def render_parity(blocks: list[dict[str, Any]]) -> list[str]:
    """zh/en parity on items that carry meta.pair."""
    if not blocks:
        return []
    lines = ["", "## zh/en parity (items with a counterpart in the other language)", "",
             "| zh task | en task | metric | zh | en | zh − en | 95% CI | method |", "|---|---|---|---|---|---|---|---|"]
    for b in blocks:
        lines.append(f"| {b['zh_task']} | {b['en_task']} | {b['metric']} | {_fmt(b['zh']['value'])} (n={b['zh']['n']}) | "
                     f"{_fmt(b['en']['value'])} (n={b['en']['n']}) | {b['difference']:+.3f} | {_ci(b['ci'])} | {b['method']} |")
    return lines
