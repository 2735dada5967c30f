"""Inline SVG charts for the HTML report and the leaderboard: no scripts, no fonts, no CDN.

Every label passes through `esc`; charts are plain markup so a report opens offline and its
pictures survive being saved, mailed or archived.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

AREAS = ("performance", "safety", "ethics", "adaptation")
AREA_LABELS = {"performance": "performance 性能", "safety": "safety 安全", "ethics": "ethics 伦理",
               "adaptation": "adaptation 适配"}


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(v: float | None, digits: int = 3) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def radar(values: dict[str, float | None], size: int = 300, title: str = "area scores") -> str:
    """The four areas on one polygon; an area not run is drawn as a gap and labelled 'not run'."""
    pad = 90  # room for the left and right labels
    c = size / 2
    r = size / 2 - 50
    n = len(AREAS)
    pts, axes, labels = [], [], []
    for i, area in enumerate(AREAS):
        ang = -math.pi / 2 + 2 * math.pi * i / n
        x, y = c + r * math.cos(ang), c + r * math.sin(ang)
        axes.append(f'<line x1="{c:.1f}" y1="{c:.1f}" x2="{x:.1f}" y2="{y:.1f}" class="axis"/>')
        v = values.get(area)
        lx, ly = c + (r + 12) * math.cos(ang), c + (r + 18) * math.sin(ang) + (4 if math.sin(ang) > 0.5 else 0)
        anchor = "middle" if abs(math.cos(ang)) < 0.3 else ("start" if math.cos(ang) > 0 else "end")
        labels.append(f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" class="lbl">{esc(AREA_LABELS[area])}'
                      f'<tspan x="{lx:.1f}" dy="14">{esc(_num(v) if v is not None else "not run")}</tspan></text>')
        vv = 0.0 if v is None else max(0.0, min(1.0, float(v)))
        pts.append(f"{c + r * vv * math.cos(ang):.1f},{c + r * vv * math.sin(ang):.1f}")
    rings = "".join(f'<circle cx="{c}" cy="{c}" r="{r * k / 4:.1f}" class="ring"/>' for k in range(1, 5))
    return (f'<svg class="radar" viewBox="{-pad} 0 {size + 2 * pad} {size}" width="{size + 2 * pad}" height="{size}" role="img" '
            f'aria-label="{esc(title)}"><title>{esc(title)}</title>{rings}{"".join(axes)}'
            f'<polygon points="{" ".join(pts)}" class="area"/>{"".join(labels)}</svg>')


def _frame(cls: str, width: int, height: int, title: str, ticks: Sequence[tuple[float, str, str]]) -> list[str]:
    """The <svg> opening and vertical grid lines: ticks are (x, label, css class)."""
    out = [f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{esc(title)}"><title>{esc(title)}</title>']
    for x, label, line_cls in ticks:
        out.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 20}" class="{line_cls}"/>'
                   f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="tick">{label}</text>')
    return out


def whiskers(rows: Sequence[tuple[str, float | None, Sequence[float | None] | None]], width: int = 610,
             title: str = "scores with 95% CIs") -> str:
    """Horizontal bars on [0, 1] with CI whiskers: one row per (label, value, [lo, hi])."""
    left, right, h = 240, 60, 22
    plot = width - left - right
    height = h * len(rows) + 28
    out = _frame("whiskers", width, height, title, [(left + plot * k / 4, f"{k / 4:.2f}", "grid") for k in range(5)])
    for i, (label, value, ci) in enumerate(rows):
        y = 6 + i * h
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="lbl">{esc(label)}</text>')
        if value is None:
            out.append(f'<text x="{left + 4}" y="{y + 14}" class="tick">no score</text>')
            continue
        vx = left + plot * max(0.0, min(1.0, value))
        out.append(f'<rect x="{left}" y="{y + 4}" width="{vx - left:.1f}" height="{h - 10}" class="bar"/>')
        if ci and ci[0] is not None and ci[1] is not None:
            lo = left + plot * max(0.0, min(1.0, ci[0]))
            hi = left + plot * max(0.0, min(1.0, ci[1]))
            ym = y + h / 2 - 1
            out.append(f'<line x1="{lo:.1f}" y1="{ym:.1f}" x2="{hi:.1f}" y2="{ym:.1f}" class="ci"/>'
                       f'<line x1="{lo:.1f}" y1="{ym - 5:.1f}" x2="{lo:.1f}" y2="{ym + 5:.1f}" class="ci"/>'
                       f'<line x1="{hi:.1f}" y1="{ym - 5:.1f}" x2="{hi:.1f}" y2="{ym + 5:.1f}" class="ci"/>')
        out.append(f'<text x="{width - right + 6}" y="{y + 14}" class="val">{_num(value)}</text>')
    out.append("</svg>")
    return "".join(out)


def diverging(rows: Sequence[tuple[str, float | None, Sequence[float | None] | None]], width: int = 610,
              title: str = "bias score (−1 … +1)") -> str:
    """Bars around zero on [−1, 1] with CI whiskers: bias scores, where 0 is unbiased."""
    left, right, h = 240, 60, 22
    plot = width - left - right
    zero = left + plot / 2
    height = h * len(rows) + 28

    def x(v: float) -> float:
        return zero + plot / 2 * max(-1.0, min(1.0, v))

    out = _frame("diverging", width, height, title,
                 [(x(t), f"{t:+.1f}", "zero" if t == 0 else "grid") for t in (-1, -0.5, 0, 0.5, 1)])
    for i, (label, value, ci) in enumerate(rows):
        y = 6 + i * h
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="lbl">{esc(label)}</text>')
        if value is None:
            continue
        a, b = sorted((zero, x(value)))
        out.append(f'<rect x="{a:.1f}" y="{y + 4}" width="{max(b - a, 1):.1f}" height="{h - 10}" '
                   f'class="{"bar-pos" if value > 0 else "bar-neg"}"/>')
        if ci and ci[0] is not None and ci[1] is not None:
            ym = y + h / 2 - 1
            out.append(f'<line x1="{x(ci[0]):.1f}" y1="{ym:.1f}" x2="{x(ci[1]):.1f}" y2="{ym:.1f}" class="ci"/>')
        out.append(f'<text x="{width - right + 6}" y="{y + 14}" class="val">{value:+.3f}</text>')
    out.append("</svg>")
    return "".join(out)


def heat_colour(goodness: float | None) -> str:
    """Red (bad) → amber → green (good) for a value on [0, 1]; grey when missing."""
    if goodness is None:
        return "#e5e7eb"
    g = max(0.0, min(1.0, goodness))
    hue = 120 * g
    return f"hsl({hue:.0f}, 70%, {88 - 18 * (1 - abs(g - 0.5) * 2):.0f}%)"
