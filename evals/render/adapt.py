"""adapt.md and adapt.html (the adaptation page) from adapt.json: per candidate the verdict and why,
the drift and answer figures with their intervals, the cost table, and the hardware manifest.

Everything that came from a model, a SPEC or a file passes through `esc` in the HTML.
"""
from __future__ import annotations

from typing import Any

from evals.render.markdown import _ci, _fmt
from evals.render.page import page, table
from evals.render.svg import esc, whiskers

VERDICT_CLASS = {"equivalent": "pass", "not equivalent": "fail", "inconclusive": "warn"}


def _g(v: Any, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _signed_ci(lo: Any, hi: Any) -> str:
    return "—" if lo is None or hi is None else f"[{lo:+.3f}, {hi:+.3f}]"


def figure_rows(figures: dict[str, Any], alpha: float = 0.05) -> list[list[str]]:
    """[figure, value, interval, n, method / verdict] — plain text, escaped by the caller."""
    rows: list[list[str]] = []
    d = figures.get("drift") or {}
    if d:
        t = d["top1_agreement"]
        rows.append(["top-1 next-token agreement", _fmt(t.get("value")), _ci(t.get("ci")), str(t.get("n")),
                     f"{d['method']}; {t.get('method')} over {d['passages']} passages"])
        for key, label in (("mean", "mean KL (nats)"), ("p99", "p99 KL (nats)")):
            k = d["kl"][key]
            lo, hi = k["ci"]
            rows.append([label, _g(k["value"]), "—" if lo is None else f"[{_g(lo)}, {_g(hi)}]", str(d["kl"]["n"]),
                         f"{d['method']}; {d['kl']['method']}"])
    level = f"{1 - 2 * alpha:.0%}"
    for key, label in (("mc_agreement", "multiple-choice prediction agreement"),
                       ("greedy_exact_match", "greedy generation exact match")):
        f = figures.get(key)
        if f:
            rows.append([label, _fmt(f["value"]), _ci(f["ci"]), str(f["n"]), f["method"]])
    f = figures.get("first_divergence_chars")
    if f and f.get("n"):
        rows.append(["first divergence (characters)", _g(f["value"], 4),
                     "—" if f["ci"][0] is None else f"[{f['ci'][0]:.1f}, {f['ci'][1]:.1f}]", str(f["n"]),
                     f"{f['method']}, over responses that differ"])
    for key, label in (("mc_accuracy", "accuracy difference (cand − ref)"), ("refusal", "refusal-rate difference")):
        f = figures.get(key)
        if f:
            rows.append([label, "—" if f["diff"] is None else f"{f['diff']:+.3f}",
                         f"{_signed_ci(f['ci_low'], f['ci_high'])} ({level})", str(f["n"]),
                         f"TOST ±{f['margin']:g}: {f['verdict']}"])
    return rows


def figure_text(figures: dict[str, Any]) -> str:
    """One line for the terminal."""
    parts = []
    d = figures.get("drift") or {}
    if d:
        t = d["top1_agreement"]
        parts.append(f"top-1 {_fmt(t.get('value'))} {_ci(t.get('ci'))}")
        parts.append(f"KL {_g(d['kl']['mean']['value'], 3)} (p99 {_g(d['kl']['p99']['value'], 3)}, {d['method']})")
    if figures.get("mc_agreement"):
        parts.append(f"MC agreement {_fmt(figures['mc_agreement']['value'])}")
    f = figures.get("mc_accuracy")
    if f and f["diff"] is not None:
        parts.append(f"Δacc {f['diff']:+.3f} {_signed_ci(f['ci_low'], f['ci_high'])}")
    if figures.get("greedy_exact_match"):
        parts.append(f"exact match {_fmt(figures['greedy_exact_match']['value'])}")
    return " · ".join(parts)


def task_rows(tasks: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, t in tasks.items():
        agree = t.get("agreement") or t.get("exact_match") or {}
        acc = t.get("accuracy") or {}
        rows.append([name, t["kind"], str(t["n"]), f"{_fmt(agree.get('value'))} {_ci(agree.get('ci'))}" if agree else "—",
                     f"{acc['diff']:+.3f} {_signed_ci(acc['ci_low'], acc['ci_high'])}" if acc.get("diff") is not None else "—",
                     acc.get("verdict", "—"), t.get("note", "") + (f" {t['errored']} errored" if t.get("errored") else "")])
    return rows


def _eff(e: dict[str, Any] | None) -> list[str]:
    if not e:
        return ["—"] * 8
    if "error" in e:
        return [f"failed: {e['error']}"] + ["—"] * 7
    b1, best, mem = e.get("batch_1") or {}, e.get("best_batch") or {}, e.get("memory") or {}
    m = mem.get("build_peak_mb") if mem.get("kind", "").startswith("cuda") else mem.get("build_rss_mb")
    mem_txt = "remote" if mem.get("kind") == "remote" else f"{_g(mem.get('peak_mb'))} (+{_g(m)})"
    ttft = e.get("ttft_s")
    return [_g(e.get("load_seconds")), "—" if ttft is None else f"{ttft * 1000:.1f}", _g(b1.get("prefill_tok_s")),
            _g(b1.get("decode_tok_s")), str(best.get("batch", "—")), _g(best.get("prefill_tok_s")),
            _g(best.get("decode_tok_s")), mem_txt]


EFF_HEAD = ["build", "load s", "TTFT ms", "prefill tok/s (b1)", "decode tok/s (b1)", "best batch",
            "prefill tok/s (best)", "decode tok/s (best)", "memory MB: peak (+build)"]


def _builds(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [result["reference"]] + list(result["candidates"])


def _hardware_rows(hw: dict[str, Any]) -> list[list[str]]:
    rows = [[k, str(v)] for k, v in hw.items() if k != "software" and v not in (None, [], "")]
    rows += [[f"software: {k}", str(v)] for k, v in (hw.get("software") or {}).items() if v]
    return rows


def render_markdown(result: dict[str, Any]) -> str:
    s, ref, cfg = result["suite"], result["reference"], result["equivalence"]
    lines = [f"# Adaptation (适配): {ref['label']} and {len(result['candidates'])} candidate build(s)", "",
             f"- suite: `{s['name']}` {s['version']}, hash `{s['hash']}`; tasks: "
             + ", ".join(f"`{t['task']}`" for t in result["tasks"])
             + (f"; limit {result['limit']} per task" if result.get("limit") else ""),
             f"- equivalence: margin {cfg['margin']:g}, alpha {cfg['alpha']:g}, min_items {cfg['min_items']}, "
             f"refusal_margin {cfg['refusal_margin']:g}, top1_min {cfg['top1_min']:g} (from {cfg.get('source')})",
             f"- drift text: {result['drift_text']['passages']} passages, `{result['drift_text']['hash'][:23]}…`",
             f"- reference: `{ref['label']}` via {ref.get('adapter')}, fingerprint `{ref.get('fingerprint')}`"
             + (f", answers from `{ref['from_run']}`" if ref.get("from_run") else ""), "",
             "## Verdicts", "", "| candidate | verdict | figures |", "|---|---|---|"]
    lines += [f"| `{c['label']}` | **{c['verdict']}** | {figure_text(c.get('figures', {}))} |" for c in result["candidates"]]
    for c in result["candidates"]:
        lines += ["", f"## {c['label']} — {c['verdict']}", "",
                  f"- fingerprint `{c.get('fingerprint')}`; settings: "
                  + ", ".join(f"{k}={v}" for k, v in (c.get("settings") or {}).items() if v is not None and k != "source")]
        lines += [f"- why: {w}" for w in c["why"]] or ["- every check passed"]
        lines += ["", "| figure | value | interval | n | method |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in figure_rows(c.get("figures", {}), cfg["alpha"])]
        if c.get("tasks"):
            lines += ["", "| task | kind | n | agreement | Δ accuracy | TOST | note |", "|---|---|---|---|---|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in task_rows(c["tasks"])]
    if any(b.get("efficiency") for b in _builds(result)):
        lines += ["", "## Cost and efficiency", "", "| " + " | ".join(EFF_HEAD) + " |", "|" + "---|" * len(EFF_HEAD)]
        lines += ["| " + " | ".join([f"`{b['label']}`"] + _eff(b.get("efficiency"))) + " |" for b in _builds(result)]
    lines += ["", "## Hardware", ""] + [f"- {k}: {v}" for k, v in _hardware_rows(result["hardware"])]
    return "\n".join(lines) + "\n"


def render_html(result: dict[str, Any]) -> str:
    s, ref, cfg = result["suite"], result["reference"], result["equivalence"]
    head = (f"<h1>Adaptation 适配: {esc(ref['label'])}</h1><p class='muted'>suite <code>{esc(s['name'])}</code> "
            f"{esc(s['version'])} · hash <code>{esc(s['hash'])}</code> · {esc(result['created'])} · "
            f"{result['seconds']:.1f} s{' · limit ' + esc(result['limit']) + ' per task' if result.get('limit') else ''}<br>"
            f"reference <code>{esc(ref['label'])}</code> via {esc(ref.get('adapter'))}, fingerprint "
            f"<code>{esc(ref.get('fingerprint'))}</code>{' · answers from ' + esc(ref['from_run']) if ref.get('from_run') else ''}"
            f"<br>equivalence: margin {esc(cfg['margin'])}, alpha {esc(cfg['alpha'])}, min_items {esc(cfg['min_items'])}, "
            f"refusal_margin {esc(cfg['refusal_margin'])}, top1_min {esc(cfg['top1_min'])} (from {esc(cfg.get('source'))}) · "
            f"drift text {esc(result['drift_text']['passages'])} passages</p>")
    rows = []
    for c in result["candidates"]:
        cls = VERDICT_CLASS.get(c["verdict"], "warn")
        rows.append([f"<a href='#c-{esc(c['label'])}'><code>{esc(c['label'])}</code></a>",
                     f"<span class='{cls}'>{esc(c['verdict'])}</span>", esc(figure_text(c.get("figures", {})))])
    parts = [head, '<h2 id="verdicts">Verdicts</h2>', table(["candidate", "verdict", "figures"], rows, sortable=False)]
    top1 = [(c["label"], ((c.get("figures") or {}).get("drift") or {}).get("top1_agreement", {}).get("value"),
             ((c.get("figures") or {}).get("drift") or {}).get("top1_agreement", {}).get("ci")) for c in result["candidates"]]
    if any(v is not None for _, v, _ in top1):
        parts.append(whiskers(top1, title="top-1 next-token agreement with 95% CIs"))
    for c in result["candidates"]:
        cls = VERDICT_CLASS.get(c["verdict"], "warn")
        why = "".join(f"<li>{esc(w)}</li>" for w in c["why"]) or "<li>every check passed</li>"
        settings = ", ".join(f"{k}={v}" for k, v in (c.get("settings") or {}).items() if v is not None and k != "source")
        parts.append(f"<h2 id='c-{esc(c['label'])}'>{esc(c['label'])} — <span class='{cls}'>{esc(c['verdict'])}</span></h2>"
                     f"<p class='muted'>fingerprint <code>{esc(c.get('fingerprint'))}</code> · {esc(settings)}</p><ul>{why}</ul>")
        parts.append(table(["figure", "value", "interval", "n", "method"],
                           [[esc(x) for x in r] for r in figure_rows(c.get("figures", {}), cfg["alpha"])],
                           sortable=False, numeric={1, 3}))
        if c.get("tasks"):
            parts.append("<details><summary>per task</summary>" + table(
                ["task", "kind", "n", "agreement", "Δ accuracy", "TOST", "note"],
                [[esc(x) for x in r] for r in task_rows(c["tasks"])], numeric={2}) + "</details>")
    if any(b.get("efficiency") for b in _builds(result)):
        parts.append('<h2 id="cost">Cost and efficiency</h2>' + table(
            EFF_HEAD, [[f"<code>{esc(b['label'])}</code>"] + [esc(x) for x in _eff(b.get("efficiency"))]
                       for b in _builds(result)], numeric=set(range(1, 8))))
    parts.append('<h2 id="hardware">Hardware</h2>' + table(["", ""], [[esc(k), esc(v)] for k, v in
                                                                      _hardware_rows(result["hardware"])], sortable=False))
    nav = "".join(f'<a href="#{a}">{a}</a>' for a in ("verdicts", "cost", "hardware"))
    return page(f"Adaptation: {ref['label']}", "".join(parts), nav)
