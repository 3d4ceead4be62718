"""The health report's charts, drawn as inline SVG: run folders per day by seal status, the seal
pass rate per registry, drift signals over time; two shapes, stacked columns and share bars.

Deterministic (the page they go into is sealed and hashed): geometry printed with at most one
decimal, no scripts, fonts or external references, every text escaped. Each chart is an
`<svg role="img">` with an `aria-label`, a `<title>` and a `<desc>`; values are written next to
the marks and every mark carries a `<title>` (a tooltip).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.drift_signals import value_counts
from registry_pipeline.core.builders.run_registry import SEAL_STATUSES, seal_status
from registry_pipeline.core.seal.run_id import RUN_ID, registry_of

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


MAX_COLUMNS = 31
"""Days (or drift snapshots) a column chart draws: the most recent ones."""
SEAL_COLOURS = {
    "PASS": PASS_COLOUR,
    "FAIL": FAIL_COLOUR,
    "INTACT_OLDER_FORMAT": "#1565c0",
    "CONVERTED": "#f9a825",
    "UNSEALED": "#ef6c00",
    "unknown": "#9e9e9e",
}
DRIFT_SERIES = (("drifting", FAIL_COLOUR), ("not drifting", PASS_COLOUR), ("unknown", "#9e9e9e"))
"""(name, colour) of the drift chart's series: signals true, false, null (`drift_counts`)."""
UNDATED = "(undated)"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Chart:
    """One chart of the HTML report."""

    chart_id: str
    """The `id` of its `<svg>` (unique in the page)."""
    title: str
    """What it shows: its heading and its SVG `<title>`."""
    svg: str
    """The `<svg>` element, inlined in the page (no XML declaration, no namespace)."""
    caption: str
    """One sentence under it: totals, and what was left out."""


def report_charts(
    catalog_summary: Sequence[Mapping[str, Any]],
    run_registry_lines: Sequence[Mapping[str, Any]],
    drift_details: Sequence[Mapping[str, Any]],
) -> tuple[Chart, ...]:
    """The three charts (`drift_details`: drift detail documents, oldest first, current last)."""
    return (
        runs_per_day_chart(run_registry_lines),
        pass_rate_chart(catalog_summary, run_registry_lines),
        drift_chart(drift_details),
    )


def _seal(line: Mapping[str, Any]) -> str:
    warnings = line.get("warnings")
    return seal_status(warnings if isinstance(warnings, list) else ())[0] or "unknown"


def _day(line: Mapping[str, Any]) -> str:
    """The UTC day a run folder was created (its created_utc, else its run id's date)."""
    created = line.get("created_utc")
    if isinstance(created, str) and _DAY.match(created):
        return created[:10]
    match = RUN_ID.fullmatch(str(line.get("run_id")))
    return match["date"] if match else UNDATED


def runs_per_day(lines: Sequence[Mapping[str, Any]]) -> list[tuple[str, Counter[str]]]:
    """(day, run folders per seal status) for each day with run folders, oldest first, the
    undated last."""
    days: dict[str, Counter[str]] = {}
    for line in lines:
        days.setdefault(_day(line), Counter())[_seal(line)] += 1
    return sorted(days.items(), key=lambda item: (item[0] == UNDATED, item[0]))


def pass_rates(
    catalog_summary: Sequence[Mapping[str, Any]], lines: Sequence[Mapping[str, Any]]
) -> list[tuple[str, int, int, str]]:
    """(registry id, run folders whose seal verifies, run folders indexed, latest status) per
    catalog registry in catalog order, then per registry seen only in run folders (sorted)."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in lines:
        registry_id = registry_of(str(line.get("run_id")))
        if registry_id is not None:
            total[registry_id] += 1
            passed[registry_id] += _seal(line) == "PASS"
    latest = {
        str(e.get("registry_id")): str(e.get("latest_status") or "none") for e in catalog_summary
    }
    ids = [*latest, *sorted(set(total) - set(latest))]
    return [(rid, passed[rid], total[rid], latest.get(rid, "-")) for rid in ids]


def drift_counts(detail: Mapping[str, Any]) -> tuple[int, int, int]:
    """(drifting, not drifting, unknown) signals of one drift detail document."""
    signals = [s for s in detail.get("signals", ()) if isinstance(s, Mapping)]
    counts = value_counts(signal.get("value") for signal in signals)
    return counts["true"], counts["false"], counts["unknown"]


def _moment(detail: Mapping[str, Any]) -> str:
    """`YYYY-MM-DD HH:MM` of a drift document's generated_utc."""
    generated = detail.get("generated_utc")
    if isinstance(generated, str) and _DAY.match(generated):
        return generated[:16].replace("T", " ")
    return UNDATED


def runs_per_day_chart(lines: Sequence[Mapping[str, Any]]) -> Chart:
    """Run folders per day, stacked by seal status (the most recent MAX_COLUMNS days)."""
    days = runs_per_day(lines)
    shown, hidden = days[-MAX_COLUMNS:], days[:-MAX_COLUMNS]
    columns = [Column(day, tuple(counts[s] for s in SEAL_STATUSES)) for day, counts in shown]
    series = [(status, SEAL_COLOURS[status]) for status in SEAL_STATUSES]
    totals = [sum(column.values[i] for column in columns) for i in range(len(series))]
    legend = [f"{status} {total}" for status, total in zip(SEAL_STATUSES, totals, strict=True)]
    caption = f"{len(lines)} run folder(s) on {len(days)} day(s)"
    if hidden:
        older = sum(sum(counts.values()) for _, counts in hidden)
        caption += f"; the {len(hidden)} earliest day(s) ({older} folder(s)) are not drawn"
    title = "Run folders per day by seal status"
    svg = column_chart("chart-runs", title, caption, columns, series, legend, "no run folders")
    return Chart("chart-runs", title, svg, caption + ".")


def pass_rate_chart(
    catalog_summary: Sequence[Mapping[str, Any]], lines: Sequence[Mapping[str, Any]]
) -> Chart:
    """Per registry, the share of its indexed run folders whose seal verifies."""
    bars = []
    for registry_id, passed, total, latest in pass_rates(catalog_summary, lines):
        figure = f"{passed}/{total} · {percent(passed, total)}%" if total else "no run folder"
        bars.append(Bar(registry_id, passed, total, f"{figure} · latest {latest}"))
    counted = [f"{b.label} {b.count} of {b.total}" for b in bars if b.total]
    desc = f"{len(bars)} registries; " + ("; ".join(counted) or "no run folder indexed yet")
    title = "Seal check pass rate per registry"
    caption = (
        "Run folders of each registry whose seal verifies, of those the run registry indexes; "
        "latest: whether the newest snapshot of the registry validates now."
    )
    svg = bar_chart("chart-pass-rate", title, desc, bars, ("seal verifies", "does not"))
    return Chart("chart-pass-rate", title, svg, caption)


def drift_chart(details: Sequence[Mapping[str, Any]]) -> Chart:
    """Drift signals per drift snapshot, stacked by value (the most recent MAX_COLUMNS)."""
    shown = list(details)[-MAX_COLUMNS:]
    columns = [Column(_moment(detail), drift_counts(detail)) for detail in shown]
    series = list(DRIFT_SERIES)
    latest = columns[-1].values if columns else (0, 0, 0)
    caption = f"{len(details)} drift snapshot(s)"
    if len(details) > len(shown):
        caption += f"; the {len(details) - len(shown)} earliest are not drawn"
    if columns:
        pairs = zip(series, latest, strict=True)
        caption += "; latest: " + ", ".join(f"{name} {count}" for (name, _), count in pairs)
    title = "Drift signals over time"
    legend = [f"{name}: {count} latest" for (name, _), count in zip(series, latest, strict=True)]
    svg = column_chart("chart-drift", title, caption, columns, series, legend, "no drift snapshot")
    return Chart("chart-drift", title, svg, caption + ".")
