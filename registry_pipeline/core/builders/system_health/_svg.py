"""Two chart shapes drawn as inline SVG: stacked columns and horizontal share bars.

Deterministic (the page they go into is sealed and hashed): geometry printed with at most one
decimal, no scripts, fonts or external references, every text escaped. Each chart is an
`<svg role="img">` with an `aria-label`, a `<title>` and a `<desc>`; values are written next to
the marks and every mark carries a `<title>` (a tooltip).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
"""Width of every chart (the page scales it down on narrow screens)."""
PASS_COLOUR = "#2e7d32"
FAIL_COLOUR = "#c62828"
_LEFT, _TOP, _PLOT_H = 48, 36, 180
"""Column charts: y-axis labels, legend, plot height."""
_LABEL_W, _BAR_W, _ROW_H = 200, 280, 24
"""Bar charts: label column, bar length at 100 %, row height."""


@dataclass(frozen=True)
class Column:
    """One column of a stacked column chart."""

    label: str
    """Written under the column."""
    values: tuple[int, ...]
    """One value per series, drawn bottom up."""


@dataclass(frozen=True)
class Bar:
    """One row of a share bar chart: `count` of `total` drawn as a share."""

    label: str
    count: int
    total: int
    """0: no bar, only `text`."""
    text: str
    """Written right of the bar (the values)."""


def num(value: float) -> str:
    """A coordinate: at most one decimal, never `-0`."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def percent(count: int, total: int) -> int:
    """count/total as a whole percentage, halves rounded up (integer arithmetic only)."""
    return (200 * count + total) // (2 * total)


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg id="{_attr(chart_id)}" class="chart" role="img" '
        f'aria-label="{_attr(title)}: {_attr(desc)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" font-size="12" font-family="system-ui,sans-serif">',
        f'<title id="{_attr(chart_id)}-title">{_text(title)}</title>',
        f'<desc id="{_attr(chart_id)}-desc">{_text(desc)}</desc>',
    ]


def _legend(x: int, entries: Sequence[tuple[str, str]]) -> list[str]:
    """(text, colour) swatches in a row at the top."""
    out = ['<g class="legend">']
    for text, colour in entries:
        out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="17">{_text(text)}</text>')
        x += 24 + 7 * len(text)
    return [*out, "</g>"]


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (at least 1)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def column_chart(
    chart_id: str,
    title: str,
    desc: str,
    columns: Sequence[Column],
    series: Sequence[tuple[str, str]],
    legend: Sequence[str],
    empty: str,
) -> str:
    """Stacked columns: `series` (name, colour) drawn bottom up, `legend` the text beside each
    series' swatch. More than 8 columns: labels turned 40 degrees, room left for the first."""
    rotate = len(columns) > 8
    longest = max((len(column.label) for column in columns), default=0)
    left = max(_LEFT, 5 * longest) if rotate else _LEFT
    base = _TOP + _PLOT_H
    out = _open(chart_id, title, desc, base + (16 + 4 * longest if rotate else 30))
    out += _legend(
        _LEFT, [(text, colour) for text, (_, colour) in zip(legend, series, strict=True)]
    )
    if not columns:
        centre = f'x="{WIDTH // 2}" y="{_TOP + _PLOT_H // 2}" text-anchor="middle"'
        return "\n".join([*out, f"<text {centre}>{_text(empty)}</text>", "</svg>"])
    y_max = _nice_ceiling(max(sum(column.values) for column in columns))
    out += _y_axis(left, y_max)
    step = (WIDTH - left - 16) / len(columns)
    width = min(48.0, step * 0.7)
    for index, column in enumerate(columns):
        x = left + step * index + (step - width) / 2
        out.append(f'<g class="column" data-label="{_attr(column.label)}">')
        out += _stack(column, series, x, width, _PLOT_H / y_max)
        centre, under = num(x + width / 2), base + (14 if rotate else 16)
        turn = f' transform="rotate(-40 {centre} {under})"' if rotate else ""
        anchor = "end" if rotate else "middle"
        label = _text(column.label)
        out.append(f'<text x="{centre}" y="{under}" text-anchor="{anchor}"{turn}>{label}</text>')
        out.append("</g>")
    return "\n".join([*out, "</svg>"])


def _y_axis(left: int, y_max: int) -> list[str]:
    """Grid lines and figures at 0, the half (when whole) and `y_max`."""
    out = []
    for tick in sorted({0, y_max // 2 if y_max % 2 == 0 else 0, y_max}):
        y = num(_TOP + _PLOT_H - _PLOT_H * tick / y_max)
        out.append(f'<line x1="{left}" y1="{y}" x2="{WIDTH - 16}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y}" dy="4" text-anchor="end">{tick}</text>')
    return out


def _stack(
    column: Column,
    series: Sequence[tuple[str, str]],
    x: float,
    width: float,
    per_unit: float,
) -> list[str]:
    """One column's segments (bottom up), the value inside each tall one, the total on top."""
    out: list[str] = []
    y = float(_TOP + _PLOT_H)
    for (name, colour), value in zip(series, column.values, strict=True):
        if value <= 0:
            continue
        height = value * per_unit
        y -= height
        tip = _text(f"{column.label}: {name} {value}")
        out.append(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(width)}" '
            f'height="{num(height)}" fill="{colour}"><title>{tip}</title></rect>'
        )
        if height >= 14 and width >= 18:
            out.append(
                f'<text x="{num(x + width / 2)}" y="{num(y + height / 2 + 4)}" '
                f'text-anchor="middle" fill="#fff">{value}</text>'
            )
    out.append(
        f'<text class="total" x="{num(x + width / 2)}" y="{num(y - 4)}" '
        f'text-anchor="middle">{sum(column.values)}</text>'
    )
    return out


def bar_chart(
    chart_id: str, title: str, desc: str, bars: Sequence[Bar], legend: tuple[str, str]
) -> str:
    """Horizontal bars, `count` of `total` in PASS_COLOUR and the rest in FAIL_COLOUR
    (`legend`: the texts of the two colours)."""
    rows = max(len(bars), 1)
    out = _open(chart_id, title, desc, 30 + _ROW_H * rows + 24)
    out += _legend(_LABEL_W, ((legend[0], PASS_COLOUR), (legend[1], FAIL_COLOUR)))
    if not bars:
        out.append(f'<text x="{WIDTH // 2}" y="46" text-anchor="middle">nothing to show</text>')
    for index, bar in enumerate(bars):
        out += _bar(bar, 30 + _ROW_H * index)
    axis = 30 + _ROW_H * rows + 14
    for share in (0, 50, 100):
        x = _LABEL_W + _BAR_W * share // 100
        out.append(f'<text x="{x}" y="{axis}" text-anchor="middle" fill="#555">{share}%</text>')
    return "\n".join([*out, "</svg>"])


def _bar(bar: Bar, y: int) -> list[str]:
    shown = bar.label if len(bar.label) <= 30 else bar.label[:29] + "…"
    box = f'y="{y + 4}" height="14"'
    out = [
        f'<g class="bar" data-label="{_attr(bar.label)}"><title>{_text(bar.label)}</title>',
        f'<text class="label" x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">'
        f"{_text(shown)}</text>",
        f'<rect x="{_LABEL_W}" {box} width="{_BAR_W}" fill="#eee"/>',
    ]
    if bar.total:
        ok = _BAR_W * bar.count / bar.total
        tip = _text(f"{bar.label}: {bar.count} of {bar.total}")
        out.append(
            f'<rect x="{_LABEL_W}" {box} width="{num(ok)}" fill="{PASS_COLOUR}">'
            f"<title>{tip}</title></rect>"
        )
        if bar.count < bar.total:
            rest = _text(f"{bar.label}: {bar.total - bar.count} of {bar.total} not")
            out.append(
                f'<rect x="{num(_LABEL_W + ok)}" {box} width="{num(_BAR_W - ok)}" '
                f'fill="{FAIL_COLOUR}"><title>{rest}</title></rect>'
            )
    text = f'x="{_LABEL_W + _BAR_W + 8}" y="{y + 15}"'
    return [*out, f'<text class="value" {text}>{_text(bar.text)}</text>', "</g>"]
