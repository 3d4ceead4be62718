"""The system_health_report builder: a read-only view as Markdown, HTML and JSON, all escaped."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.drift_signals import (
    DETAIL_ARTIFACT,
    V01_ARTIFACT,
    canon_notes,
    value_counts,
)
from registry_pipeline.core.builders.model import (
    BuildInputs,
    BuildResult,
    artifact_source,
    read_json,
    templates,
)
from registry_pipeline.core.builders.op_status_table import DETAIL_ARTIFACT as STATUS_DETAIL
from registry_pipeline.core.builders.op_status_table import (
    STATUSES,
    TABLE_ARTIFACT,
    detail_operations,
)
from registry_pipeline.core.builders.run_registry import (
    REGISTRY_ARTIFACT,
    SEAL_STATUSES,
    run_lines,
    seal_counts,
    seal_status,
)
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import dumps_pretty
from registry_pipeline.core.seal.run_id import RUN_ID, registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.seal.verdicts import describe
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import folder_verdict, list_snapshots, read_snapshot

MARKDOWN_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.md"
HTML_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.html"
SUMMARY_ARTIFACT = "SYSTEM_HEALTH_SUMMARY_v0_1.json"
NONE = "(none)"
"""How a missing value (JSON null) reads in a sentence."""

_REPR = re.compile(r"""\b(expected|observed) (None|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
"""`expected <repr>` / `observed <repr>` as drift_signals wrote its summaries (str or None)."""
_NO_LIMIT = re.compile(r"\bstale after None hours\b")
"""What drift snapshots sealed before said of an operation with no staleness limit."""


def human(value: Any) -> str:
    """A value in a sentence: `(none)`, `yes`/`no`, numbers, bare strings, else JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    unquoted = isinstance(value, str) and value.isprintable() and value == value.strip()
    if unquoted and value not in ("", NONE) and not value.startswith('"'):
        return str(value)  # it reads unambiguously without quotes
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def cell(value: Any) -> str:
    """A table cell: `-` for null, else as `human`."""
    return "-" if value is None else human(value)


def human_summary(summary: Any) -> str:
    """A drift signal's summary with older snapshots' Python reprs rewritten as words."""
    if not isinstance(summary, str):
        return cell(summary)
    summary = summary.replace("status None,", "status unknown,")
    summary = _NO_LIMIT.sub("no staleness limit", summary)
    return _REPR.sub(lambda match: f"{match[1]} {_literal(match[2])}", summary)


def _literal(token: str) -> str:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return token
    return human(value)


RULE = (
    "sealed means: the newest snapshot the inputs of this report show (the inputs, what they "
    "were built from, the run folders the input run registry indexes) passes seal and schema; a "
    "registry sealed after them in the same run (registry_delta_log) counts by its earlier "
    "snapshot; this report counts itself sealed"
)
"""The rule in one line, as the Markdown says it."""
NO_SNAPSHOT = "no snapshot as of the inputs of this report"
_NOT_PASSING = {
    "FAIL": "fails its seal or schema",
    "INTACT_OLDER_FORMAT": "is intact in an older format, not sealed under this contract",
    "CONVERTED": "is with line endings converted, not sealed under this contract",
    "UNSEALED": "is unsealed, not sealed under this contract",
}
"""Why a snapshot is not sealed, by its verdict (`registry validate`'s)."""


def visible_runs(
    run_registry_lines: Sequence[Mapping[str, Any]], inputs: Mapping[str, Mapping[str, Any]]
) -> frozenset[str]:
    """Run ids the report may count: only those its inputs name, so later seals never change it."""
    seen = set(inputs)
    for line in run_registry_lines:
        run_id = line.get("run_id")
        root = line.get("run_root")
        if root is None:  # a line without run_root (older formats): its run_key says where
            own = line.get("run_key") == f"{RUNS_RELPATH}::{run_id}"
        else:
            own = _root(root) == RUNS_RELPATH
        if isinstance(run_id, str) and own:
            seen.add(run_id)
    for envelope in inputs.values():
        refs = envelope.get("inputs")
        for ref in refs if isinstance(refs, list) else ():
            if (
                isinstance(ref, Mapping)
                and isinstance(ref.get("run_id"), str)
                and _root(ref.get("run_root", RUNS_RELPATH)) == RUNS_RELPATH
            ):
                seen.add(ref["run_id"])
    return frozenset(seen)


def _root(label: Any) -> str | None:
    return label.removeprefix("./").rstrip("/") if isinstance(label, str) else None


def registry_entries(
    catalog_summary: Sequence[Mapping[str, Any]], excluded: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Per registry counted: `{registry_id, sealed, basis, run_id, reason}`, in catalog order."""
    counted: list[tuple[Any, ...]] = []
    for entry in catalog_summary:
        if entry.get("in_scorecard") is False:
            continue
        status, run_id = entry.get("latest_status"), entry.get("latest_run_id")
        shown = run_id if isinstance(run_id, str) and run_id else "(run id unknown)"
        if entry.get("this_report") is True:
            found: tuple[Any, ...] = (True, "this_report", None, None)
        elif status == "PASS":
            found = (True, "snapshot", run_id, None)
        elif status in _NOT_PASSING:
            found = (False, "snapshot", run_id, f"its snapshot {shown} {_NOT_PASSING[status]}")
        else:
            found = (False, "none", None, NO_SNAPSHOT)
        counted.append((entry.get("registry_id"), *found))
    counted.extend((rid, False, "excluded", None, f"excluded: {why}") for rid, why in excluded)
    keys = ("registry_id", "sealed", "basis", "run_id", "reason")
    return [dict(zip(keys, row, strict=True)) for row in counted]


CHECKED_LEVELS = frozenset({"C3", "C4", "C5"})
NO_EXECUTABLES = "the operations catalog names no executables"


def ratio(count: int, total: int) -> dict[str, Any]:
    """A scorecard figure: `count` of `total`, `percent` to one decimal (None when total is 0)."""
    percent = round(100 * count / total, 1) if total else None
    return {"count": count, "total": total, "percent": percent}


def compute_scorecard(
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any] | None = None,
    excluded: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The governance scorecard, each ratio `{count, total, percent}`, as the seed's has it."""
    built_ops = {
        entry.get("operation_id")
        for entry in catalog_summary
        if entry.get("has_builder") is True and entry.get("operation_id")
    }
    registries = registry_entries(catalog_summary, excluded)
    below = sorted(
        (str(row.get("operation_id")), str(row.get("coverage_level")))
        for row in op_status_rows
        if row.get("coverage_level") not in CHECKED_LEVELS
    )
    checked = ratio(len(op_status_rows) - len(below), len(op_status_rows))
    executables = _executables(op_status_rows, op_status_detail or {})
    return {
        "enforcement_c3_plus": {
            **checked,
            "below_c3": [{"operation_id": op, "coverage_level": level} for op, level in below],
        },
        "sealed_registries": {
            **ratio(sum(1 for r in registries if r["sealed"]), len(registries)),
            "registries": registries,
        },
        "executables": executables,
        "executables_reason": None if executables else NO_EXECUTABLES,
        "operations_with_builders": ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        "check_coverage": checked,
    }


def _executables(
    rows: Sequence[Mapping[str, Any]], detail: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Bound executables `{count, operations_bound, unbound_operations}`; None if none."""
    bound = {
        str(entry.get("operation_id")): {p for p in entry["executables"] if isinstance(p, str)}
        for entry in detail_operations(detail)
        if isinstance(entry.get("executables"), list)
    }
    paths = set().union(*bound.values()) if bound else set()
    if not paths:
        return None
    canonical = sorted({str(row.get("operation_id")) for row in rows})
    unbound = [op for op in canonical if not bound.get(op)]
    return {
        "count": len(paths),
        "operations_bound": ratio(len(canonical) - len(unbound), len(canonical)),
        "unbound_operations": unbound,
    }


OP_STATUSES = (*STATUSES, "unknown")
MAX_LIST = 20
"""Rows per category list in the summary, as in the seed system's summaries."""


def build_system_health(
    *,
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any],
    drift_v01: Mapping[str, Any],
    drift_detail: Mapping[str, Any],
    run_registry_lines: Sequence[Mapping[str, Any]],
    as_of: str,
    input_sources: Mapping[str, str] | None = None,
    write_overrides: Sequence[Mapping[str, Any]] = (),
    drift_history: Sequence[Mapping[str, Any]] = (),
    excluded: Sequence[tuple[str, str]] = (),
) -> BuildResult:
    """The Markdown report, the HTML page and the JSON summary; `drift_history` oldest first."""
    scorecard = compute_scorecard(catalog_summary, op_status_rows, op_status_detail, excluded)
    operations = detail_operations(op_status_detail)
    statuses = {  # operation id -> status, `unknown` when the detail records none
        str(entry.get("operation_id")): status if isinstance(status, str) and status else "unknown"
        for entry in operations
        for status in [entry.get("status")]
    }
    unauthorized = sorted(  # operations seen in runs but absent from the operations catalog
        {
            str(item.get("operation_id")) if isinstance(item, Mapping) else str(item)
            for item in op_status_detail.get("unauthorized", ())
        }
    )
    signals = [s for s in drift_detail.get("signals", ()) if isinstance(s, Mapping)]
    # the sections as `templates/system_health_sections.j2` words them: each a `title`, bullet
    # `notes`, a table (`headers`, `rows`) and `alarms`, the columns whose `yes` is bad news
    # (drift), shaded on the HTML page
    context = {
        "catalog_summary": catalog_summary,
        "op_status_detail": op_status_detail,
        "drift_v01": drift_v01,
        "lines": run_registry_lines,
        "overrides": write_overrides,
        "scorecard": scorecard,
        "signals": signals,
        "operations": operations,
        "op_rows": sorted(op_status_rows, key=lambda row: str(row.get("operation_id"))),
        "statuses": statuses,
        "unauthorized": unauthorized,
        "canon_notes": canon_notes(drift_v01),
        "seal_counts": seal_counts,
        "seal_statuses": SEAL_STATUSES,
        "describe": describe,
        "cell": cell,
        "tri": lambda value: "yes" if value is True else "no" if value is False else "unknown",
        "summary": human_summary,
        "percent": lambda value: "-" if value is None else f"{value:.1f}%",
        "rule": RULE,
        "no_executables": NO_EXECUTABLES,
    }
    module = templates().get_template("system_health_sections.j2").make_module(context)
    found: list[dict[str, Any]] = module.sections  # type: ignore[attr-defined]
    sections = [{"notes": (), "headers": (), "rows": (), "alarms": (), **s} for s in found]
    charts = report_charts(catalog_summary, run_registry_lines, [*drift_history, drift_detail])
    # the JSON summary: the seed's operation counts and per-category lists of rows, ours, the
    # scorecard
    rows = op_status_rows
    by_status = Counter(statuses.get(str(row.get("operation_id")), "unknown") for row in rows)
    categories = {
        "observed": [r for r in rows if r.get("run_evidence_state") == "OBSERVED"],
        "stale": [r for r in rows if statuses.get(str(r.get("operation_id"))) == "stale"],
        "legacy_only": [r for r in rows if r.get("run_evidence_state") == "LEGACY_ONLY"],
        "unobserved": [r for r in rows if r.get("run_evidence_state") == "UNOBSERVED"],
        "coverage_below_c3": [r for r in rows if r.get("coverage_level") not in CHECKED_LEVELS],
        "drifting": [r for r in rows if r.get("op_drift") is True],
    }
    seals = seal_counts(run_registry_lines)
    hours = [  # the strictest staleness limit of any operation, in whole days: the seed's figure
        float(value)
        for entry in operations
        if isinstance(value := entry.get("stale_after_hours"), int | float)
        and not isinstance(value, bool)
    ]
    counted = ("observed", "stale", "drifting", "legacy_only", "unobserved", "coverage_below_c3")
    lists: dict[str, Any] = {"max_list": MAX_LIST}
    lists.update({name: [dict(row) for row in m[:MAX_LIST]] for name, m in categories.items()})
    summary = {
        "summary_version": "0.1",
        "generated_utc": as_of,
        "counts": {
            "total_ops": len(rows),
            **{name: len(categories[name]) for name in counted},
            "operations_by_status": {status: by_status[status] for status in OP_STATUSES},
            "unauthorized_ops": len(unauthorized),
            "registries": len(catalog_summary),
            "run_folders": len(run_registry_lines),
            "run_folders_by_seal": {s: seals[s] for s in (*SEAL_STATUSES, "TAMPERED")},
            "drift_signals": value_counts(signal.get("value") for signal in signals),
        },
        "scorecard": scorecard,
        "unauthorized_operations": list(unauthorized),
        "system_drift": dict(drift_v01.get("system_drift", {})),
        **lists,
        "drifting_ops": lists["drifting"],
        "truncated": {name: len(m) > MAX_LIST for name, m in categories.items()},
        "stale_threshold_days": int(min(hours) // 24) if hours else None,
        "input_sources": dict(sorted((input_sources or {}).items())),
        "write_overrides": len(write_overrides),
    }
    template = templates().get_template
    markdown = template("system_health.md.j2").render(sections=sections, as_of=as_of)
    page = template("system_health.html.j2").render(sections=sections, as_of=as_of, charts=charts)
    markdown = markdown.removesuffix("\n")
    files = {
        MARKDOWN_ARTIFACT: markdown.encode("utf-8"),
        HTML_ARTIFACT: page.encode("utf-8"),
        SUMMARY_ARTIFACT: dumps_pretty(summary, sort_keys=False),
    }
    return BuildResult(files, len(files), {"markdown": markdown, "scorecard": scorecard})


def build(inputs: BuildInputs, builder_ids: Set[str]) -> BuildResult:
    """The builder (`builder_ids`: the registries with a builder in code)."""
    status, drift = inputs.inputs["op_status_table"], inputs.inputs["drift_signals"]
    registry = inputs.inputs["run_registry"]
    lines = run_lines(registry)
    return build_system_health(
        catalog_summary=_catalog_summary(inputs, builder_ids, lines),
        op_status_rows=read_json(status, TABLE_ARTIFACT),
        op_status_detail=read_json(status, STATUS_DETAIL),
        drift_v01=read_json(drift, V01_ARTIFACT),
        drift_detail=read_json(drift, DETAIL_ARTIFACT),
        run_registry_lines=lines,
        drift_history=_drift_history(inputs.workspace, lines),
        as_of=max(snapshot.second for snapshot in inputs.inputs.values()),
        input_sources={
            "status_table": artifact_source(status, TABLE_ARTIFACT),
            "registry": artifact_source(registry, REGISTRY_ARTIFACT),
            "drift_signals": artifact_source(drift, V01_ARTIFACT),
        },
        write_overrides=_write_overrides(inputs.workspace),
        excluded=load_catalog(inputs.workspace).excluded,
    )


DRIFT_HISTORY = 30
"""Earlier drift snapshots the health report's drift chart draws."""


def _drift_history(workspace: Workspace, lines: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The detail documents of the last DRIFT_HISTORY sealed drift snapshots, oldest first."""
    runs = [
        line
        for line in lines
        if isinstance(line, dict)
        and registry_of(str(line.get("run_id"))) == "drift_signals"
        and "seal:PASS" in line.get("warnings", ())
    ]
    history = []
    for line in runs[-DRIFT_HISTORY:]:
        try:
            snapshot = read_snapshot(workspace.root / str(line["run_path"]), "drift_signals")
            history.append(read_json(snapshot, DETAIL_ARTIFACT))
        except (RegistryError, OSError, ValueError, KeyError):
            continue
    return history


def _write_overrides(workspace: Workspace) -> list[dict[str, Any]]:
    """The write path's override records; an unreadable log is one record saying so."""
    from registry_pipeline.core.write_path.logs import OVERRIDES_RELPATH, read_records

    try:
        return read_records(workspace.root / OVERRIDES_RELPATH)
    except RegistryError as exc:
        return [{"type": "(log)", "key": OVERRIDES_RELPATH, "reason": f"{exc.code}: {exc}"}]


def _catalog_summary(
    build: BuildInputs, builder_ids: Set[str], lines: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per catalog registry: the snapshot counted, the newest visible, and whether it passes."""
    summary = []
    schemas = SchemaCatalog.for_workspace(build.workspace.root)
    shown = visible_runs(
        lines, {snapshot.run_id: snapshot.envelope() for snapshot in build.inputs.values()}
    )
    for spec in load_catalog(build.workspace).registries:
        snapshots = list_snapshots(build.workspace, spec.registry_id)
        latest = next((s for s in reversed(snapshots) if s.run_id in shown), None)
        verdict = "none"
        if latest is not None:
            report = inspect_run_folder(latest.path, schemas=schemas)
            verdict = folder_verdict(report)[0].status  # as `registry validate` says it
        summary.append(
            {
                "registry_id": spec.registry_id,
                "kind": spec.kind,
                "has_builder": spec.is_source or spec.registry_id in builder_ids,
                "latest_run_id": latest.run_id if latest else None,
                "latest_status": verdict,
                "operation_id": spec.operation_id,
                "in_scorecard": spec.in_scorecard,
                "this_report": spec.registry_id == build.spec.registry_id,
            }
        )
    return summary


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
    caption: str,
    columns: Sequence[Mapping[str, Any]],
    series: Sequence[tuple[str, str]],
    legend: Sequence[str],
    empty: str,
) -> Chart:
    """Stacked columns with `series` (name, colour) drawn bottom up, a legend and a caption."""
    y_max = _nice_ceiling(max((sum(column["values"]) for column in columns), default=1))
    entries = [(text, colour) for text, (_, colour) in zip(legend, series, strict=True)]
    svg = _macros().column_chart(chart_id, title, caption, columns, series, entries, empty, y_max)
    return Chart(chart_id, title, str(svg).removesuffix("\n"), caption + ".")


def _macros() -> Any:
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
    """(day, run folders per seal status) per day, oldest first, the undated last."""
    days: dict[str, Counter[str]] = {}
    for line in lines:
        days.setdefault(_day(line), Counter())[_seal(line)] += 1
    return sorted(days.items(), key=lambda item: (item[0] == UNDATED, item[0]))


def pass_rates(
    catalog_summary: Sequence[Mapping[str, Any]], lines: Sequence[Mapping[str, Any]]
) -> list[tuple[str, int, int, str]]:
    """(registry id, verified folders, indexed folders, latest status) per registry."""
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
    return column_chart("chart-runs", title, caption, columns, series, legend, "no run folders")


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
    return column_chart("chart-drift", title, caption, columns, series, legend, "no drift snapshot")
