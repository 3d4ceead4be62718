"""The health report's charts as inline SVG (`templates/charts.svg.j2`): run folders per day by
seal status, the seal pass rate per registry, drift signals over time. Deterministic (the page is
sealed): geometry with at most one decimal, no scripts, fonts or external references.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.drift_signals import value_counts
from registry_pipeline.core.builders.model import templates
from registry_pipeline.core.builders.run_registry import SEAL_STATUSES, seal_status
from registry_pipeline.core.seal.run_id import RUN_ID, registry_of

PASS_COLOUR = "#2e7d32"
FAIL_COLOUR = "#c62828"


def percent(count: int, total: int) -> int:
    """count/total as a whole percentage, halves rounded up (integer arithmetic only)."""
    return (200 * count + total) // (2 * total)


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
    columns: Sequence[Mapping[str, Any]],
    series: Sequence[tuple[str, str]],
    legend: Sequence[str],
    empty: str,
) -> str:
    """Stacked columns (`{label, values}`, one value per series), `series` (name, colour) drawn
    bottom up, `legend` the text beside each series' swatch."""
    y_max = _nice_ceiling(max((sum(column["values"]) for column in columns), default=1))
    entries = [(text, colour) for text, (_, colour) in zip(legend, series, strict=True)]
    svg = _macros().column_chart(chart_id, title, desc, columns, series, entries, empty, y_max)
    return str(svg).removesuffix("\n")


def _macros() -> Any:
    """The chart macros of `templates/charts.svg.j2`."""
    return templates().get_template("charts.svg.j2").module


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
    title: str
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
    columns = [
        {"label": day, "values": [counts[s] for s in SEAL_STATUSES]} for day, counts in shown
    ]
    series = [(status, SEAL_COLOURS[status]) for status in SEAL_STATUSES]
    legend = [f"{status} {sum(counts[status] for _, counts in shown)}" for status in SEAL_STATUSES]
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
        text = f"{figure} · latest {latest}"
        bars.append({"label": registry_id, "count": passed, "total": total, "text": text})
    counted = [f"{b['label']} {b['count']} of {b['total']}" for b in bars if b["total"]]
    desc = f"{len(bars)} registries; " + ("; ".join(counted) or "no run folder indexed yet")
    title = "Seal check pass rate per registry"
    caption = (
        "Run folders of each registry whose seal verifies, of those the run registry indexes; "
        "latest: whether the newest snapshot of the registry validates now."
    )
    entries = (("seal verifies", PASS_COLOUR), ("does not", FAIL_COLOUR))
    svg = str(_macros().bar_chart("chart-pass-rate", title, desc, bars, entries)).removesuffix("\n")
    return Chart("chart-pass-rate", title, svg, caption)


def drift_chart(details: Sequence[Mapping[str, Any]]) -> Chart:
    """Drift signals per drift snapshot, stacked by value (the most recent MAX_COLUMNS)."""
    shown = list(details)[-MAX_COLUMNS:]
    columns = [{"label": _moment(detail), "values": drift_counts(detail)} for detail in shown]
    series = list(DRIFT_SERIES)
    latest = columns[-1]["values"] if columns else (0, 0, 0)
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
