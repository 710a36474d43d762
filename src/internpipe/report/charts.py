"""Charts as inline SVG: no library, no network fetch, a few kB per chart. Every point
carries its value in `data-tip`; the page's small script (page.py) shows it on hover. Pure:
numbers in, SVG text out."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

W, H = 640, 240                    # the view box; the SVG scales to the column's width
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 26, 34
COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83")
MAX_MARKS = 300                    # hover targets per series (a long run is thinned)


@dataclass
class Series:
    name: str
    xs: list[float]
    ys: list[float | None]


def number(value: float | None, digits: int = 4) -> str:
    """A figure as people read it: 4 significant digits, no float noise (0.7436, 18.95,
    12,346, 1.02e-5), '-' for none."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    if abs(value) < 1e-3:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.{digits}g}"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / (count - 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return (0.0 if lo >= 0 and lo - pad < 0 else lo - pad), hi + pad


def _columns(series: list[Series], x_label: str, x_names: list[str] | None, sx: Any,
             band: tuple[float, float]) -> list[str]:
    """Invisible hover targets, one column per x: its tip holds every series' value there
    (points of several series often overlap; a column is always reachable)."""
    values: dict[float, list[str]] = {}
    for s in series:
        for x, y in zip(s.xs, s.ys, strict=False):
            if y is not None and math.isfinite(y):
                values.setdefault(x, []).append(f"{s.name} {number(y)}")
    xs = sorted(values)
    every = max(1, math.ceil(len(xs) / MAX_MARKS))
    xs = xs[::every] if xs[::every][-1] == xs[-1] else [*xs[::every], xs[-1]]
    found = []
    for i, x in enumerate(xs):
        left = sx(xs[i - 1]) / 2 + sx(x) / 2 if i else sx(x) - 6
        right = sx(x) / 2 + sx(xs[i + 1]) / 2 if i + 1 < len(xs) else sx(x) + 6
        at = x_names[int(x)] if x_names else number(x, 6)
        tip = html.escape(f"{x_label} {at}: " + "; ".join(values[x]), quote=True)
        found.append(f"<rect x={left:.1f} y={band[0]} width={max(right - left, 1):.1f} "
                     f"height={band[1] - band[0]} class=col data-tip='{tip}' />")
    return found


def line_chart(title: str, series: list[Series], x_label: str, y_label: str,
               x_names: list[str] | None = None, chart_id: str = "") -> str:
    """Lines with hoverable points. `x_names`: category names shown at x = 0, 1, 2, …
    (bench runs) instead of numbers."""
    points = [(x, y) for s in series for x, y in zip(s.xs, s.ys, strict=False)
              if y is not None and math.isfinite(y)]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    if x_names:                        # categories sit inside the axis, labels unclipped
        x0, x1 = x0 - 0.4, x1 + 0.4
    elif x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = _span([p[1] for p in points])

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    parts = [f"<text x={LEFT} y=16 class=ct>{html.escape(title)}</text>"]
    for t in _ticks(y0, y1):
        parts.append(f"<line x1={LEFT} x2={W - RIGHT} y1={sy(t):.1f} y2={sy(t):.1f} "
                     f"class=grid /><text x={LEFT - 6} y={sy(t) + 4:.1f} class=yt>"
                     f"{number(t, 3)}</text>")
    xticks = list(range(len(x_names))) if x_names else _ticks(x0, x1)
    for t in xticks:
        name = x_names[int(t)] if x_names else number(float(t), 4)
        parts.append(f"<text x={sx(t):.1f} y={H - BOTTOM + 16} class=xt>"
                     f"{html.escape(name)}</text>")
    parts.append(f"<text x={(LEFT + W - RIGHT) / 2} y={H - 3} class=xt>"
                 f"{html.escape(x_label)}</text><text x=12 y={(TOP + H - BOTTOM) / 2} "
                 f"class=yl transform='rotate(-90 12 {(TOP + H - BOTTOM) / 2})'>"
                 f"{html.escape(y_label)}</text>")
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(x, y) for x, y in zip(s.xs, s.ys, strict=False)
               if y is not None and math.isfinite(y)]
        if not pts:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f"<polyline points='{path}' fill=none stroke='{colour}' "
                     f"stroke-width=1.8 />")
        every = max(1, math.ceil(len(pts) / MAX_MARKS))
        marks = pts[::every] if pts[::every][-1] == pts[-1] else [*pts[::every], pts[-1]]
        parts += [f"<circle cx={sx(x):.1f} cy={sy(y):.1f} r=3 fill='{colour}' class=pt />"
                  for x, y in marks]
    parts += _columns(series, x_label, x_names, sx, (TOP, H - BOTTOM))
    legend = "".join(f"<span class=key><i style='background:{COLOURS[i % len(COLOURS)]}'>"
                     f"</i>{html.escape(s.name)}</span>" for i, s in enumerate(series))
    ident = f" id='{html.escape(chart_id, quote=True)}'" if chart_id else ""
    return (f"<figure class=chart{ident}><svg viewBox='0 0 {W} {H}' role=img "
            f"aria-label='{html.escape(title, quote=True)}'>{''.join(parts)}</svg>"
            f"<figcaption>{legend}</figcaption></figure>")
