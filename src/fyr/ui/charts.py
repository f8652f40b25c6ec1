"""Server-rendered SVG charts for /ui/stats: stacked bars per day, with a legend.

Pure functions from numbers to markup, so the page needs no script and the CSP can forbid inline
code. Colours are CSS classes (`s0` … `s9`, defined in ui.css for light and dark mode), not inline
styles; every label is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 28, 10
SERIES_MAX = 9  # the rest is summed as "other"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    magnitude = 10 ** (len(str(int(value))) - 1)
    return float((int(value / magnitude) + 1) * magnitude)


def _fold(series: Mapping[str, Sequence[float]], n: int) -> list[tuple[str, list[float]]]:
    items = [(k, [float(x) for x in v]) for k, v in series.items()]
    if len(items) <= SERIES_MAX + 1:
        return items
    head, tail = items[:SERIES_MAX], items[SERIES_MAX:]
    other = [sum(v[i] for _, v in tail) for i in range(n)]
    return [*head, ("other", other)]


def stacked_bars(days: Sequence[date], series: Mapping[str, Sequence[float]], *, title: str,
                 unit: str = "", money: bool = False) -> Markup:
    """One bar per day, stacked by series; a legend under it. Empty data draws an empty axis."""
    n = len(days)
    folded = _fold(series, n)
    totals = [sum(v[i] for _, v in folded) for i in range(n)]
    top = _nice_max(max(totals, default=0.0))
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(n, 1)
    bar = max(slot * 0.7, 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for frac in (0.0, 0.5, 1.0):
        y = PAD_TOP + plot_h * (1 - frac)
        label = f"${top * frac:.2f}" if money else f"{top * frac:g}"
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for i, day in enumerate(days):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        base = float(PAD_TOP + plot_h)
        for s, (name, values) in enumerate(folded):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            base -= h
            shown = f"${v:.4f}" if money else f"{v:g}{unit}"
            parts.append(f'<rect class="s{s % 10}" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                         f"<title>{escape(day.isoformat())} {escape(name)}: {escape(shown)}</title></rect>")
        if n <= 31 and (n <= 14 or i % max(1, n // 10) == 0):
            parts.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                         f"{escape(day.strftime('%m-%d'))}</text>")
    parts.append("</svg>")
    legend = "".join(f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect class="s{s % 10}" '
                     f'width="10" height="10"/></svg>{escape(name)} <span class="muted">{sum(values):g}</span></li>'
                     for s, (name, values) in enumerate(folded) if not money)
    return Markup("".join(parts) + (f'<ul class="legend">{legend}</ul>' if legend else ""))
