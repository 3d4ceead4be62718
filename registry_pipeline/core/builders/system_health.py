"""The system_health_report builder: one read-only view of registries, operations and drift.

Pure and deterministic. It renders the same report model three ways: Markdown
(`SYSTEM_HEALTH_REPORT_v0_1.md`), a self-contained HTML page (inline CSS and SVG charts, no
scripts, no external resources, every text escaped), and `SYSTEM_HEALTH_SUMMARY_v0_1.json`
(counts and scorecard).

Inputs are plain parsed JSON:
- `catalog_summary`: one object per catalog registry: `registry_id`, `kind`, `has_builder` (bool),
  `latest_run_id` (str or null: the snapshot counted, the newest the inputs show, see
  `visible_runs`), `latest_status` (`PASS` | `FAIL` | `none`: whether it validates), optional
  `operation_id` (the operation that builds it), `in_scorecard` (false: not one of the
  repository's registries, left out of the scorecard) and `this_report` (true: the registry
  this build writes, counted as sealed).
- `op_status_rows`: OPERATION_STATUS_TABLE_v0_1 rows; `op_status_detail`: `{"operations": [...]
  or {op_id: {...}}, "unauthorized": [op_id or {"operation_id": ...}]}` with each operation's
  `status` (`ok` | `failing` | `stale` | `never_run`).
- `drift_v01`, `drift_detail`: the two drift_signals documents; `run_registry_lines`: RUN_REGISTRY
  lines with `seal:` warnings; optional `drift_history`: earlier drift detail documents.

Charts (HTML only): run folders per day by seal status (`created_utc` of each run registry
line), the seal pass rate per registry (its run folders, by run id, whose seal verifies) with
its latest status, and drift signals by value per drift snapshot (`drift_history`, then
`drift_detail`).

Scorecard, computed from those inputs only (`compute_scorecard` says exactly what each counts,
`RULE` what "sealed" means): enforcement coverage C3+ over the canonical operations, sealed
registries over the repository's registries (excluded ones included, as the seed counts),
operations with builders, and the executables the operations catalog binds; in the summary's
`scorecard`, and the same numbers in the report's first section. The catalog's non-canonical
operations and the lines it could not read are listed in an "Operations catalog" section.

The Markdown and HTML text are Jinja2 templates (`templates/`, package data); the charts are
drawn by `system_health_charts`, the scorecard computed by `system_health_scorecard`; `build`
is the builder over sealed inputs.
"""

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
)
from registry_pipeline.core.builders.system_health_charts import Chart, report_charts
from registry_pipeline.core.builders.system_health_scorecard import (
    CHECKED_LEVELS,
    NO_EXECUTABLES,
    RULE,
    Scorecard,
    compute_scorecard,
    visible_runs,
)
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import dumps_pretty, loads_strict
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.seal.verdicts import describe
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
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
    """A value in a sentence: `(none)`, `yes`/`no`, plain numbers, strings bare unless that would
    be ambiguous (then JSON-quoted), lists and objects as JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value if _bare(value) else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def cell(value: Any) -> str:
    """A table cell: `-` for null, else as `human`."""
    return "-" if value is None else human(value)


def human_summary(summary: Any) -> str:
    """A drift signal's summary with the Python reprs of its compared values rewritten.

    Drift snapshots already sealed say `expected None, observed '0.1.0'`; the report shows
    `expected (none), observed 0.1.0`. Text without such reprs is returned as it is.
    """
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


def _bare(text: str) -> bool:
    """Whether `text` reads unambiguously without quotes."""
    return (
        text != ""
        and text == text.strip()
        and text.isprintable()
        and text != NONE
        and not text.startswith('"')
    )


def _stale_threshold_days(detail: Mapping[str, Any]) -> int | None:
    """The strictest staleness limit of any operation, in whole days (the seed's single figure)."""
    hours = [
        float(value)
        for entry in detail_operations(detail)
        if isinstance(value := entry.get("stale_after_hours"), int | float)
        and not isinstance(value, bool)
    ]
    return int(min(hours) // 24) if hours else None


def operation_statuses(detail: Mapping[str, Any]) -> dict[str, str]:
    """Operation id to status from the status detail (a list or a mapping of operations)."""
    return {
        str(entry.get("operation_id")): _status(entry.get("status"))
        for entry in detail_operations(detail)
    }


def _status(value: Any) -> str:
    """An operation's status; `unknown` when the detail records none (never the text `None`)."""
    return value if isinstance(value, str) and value else "unknown"


def unauthorized_operations(detail: Mapping[str, Any]) -> list[str]:
    """Sorted ids of operations seen in runs but absent from the operations catalog."""
    ids = {
        str(item.get("operation_id")) if isinstance(item, Mapping) else str(item)
        for item in detail.get("unauthorized", ())
    }
    return sorted(ids)


FOLDER_KINDS = frozenset({"run_folder_invalid", "run_folder_tampered", "operation_stale"})
"""Drift signal kinds said by their own items (run folders, stale operations), not again."""
MAX_NAMED = 20
"""Operations below C3 the Markdown names; the summary lists them all."""
MAX_OVERRIDES = 20
"""Override records the report lists (newest first); the summary counts them all."""


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, optional bullet notes and an optional table."""

    title: str
    notes: Sequence[str] = ()
    headers: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    alarms: Sequence[str] = ()
    """The columns whose `yes` is bad news (drift), shaded so on the HTML page; elsewhere a
    `yes` is just an answer (a builder exists)."""


def tri_state(value: Any) -> str:
    """`yes`, `no` or `unknown` for true, false and anything else (null)."""
    return "yes" if value is True else "no" if value is False else "unknown"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def report_sections(
    scorecard: Scorecard, signals: Sequence[Mapping[str, Any]], **inputs: Any
) -> list[Section]:
    """The report's sections, worded by `templates/system_health_sections.j2` from the parsed
    inputs (`build_system_health`'s, by the names the template reads), the scorecard and the
    drift signals."""
    detail = inputs["op_status_detail"]
    context = {
        **inputs,
        "scorecard": scorecard,
        "signals": signals,
        "operations": detail_operations(detail),
        "op_rows": sorted(inputs["op_status_rows"], key=lambda r: str(r.get("operation_id"))),
        "statuses": operation_statuses(detail),
        "unauthorized": unauthorized_operations(detail),
        "canon_notes": canon_notes(inputs["drift_v01"]),
        "seal_counts": seal_counts,
        "seal_statuses": SEAL_STATUSES,
        "describe": describe,
        "cell": cell,
        "tri": tri_state,
        "summary": human_summary,
        "percent": _percent,
        "rule": RULE,
        "no_executables": NO_EXECUTABLES,
        "folder_kinds": FOLDER_KINDS,
        "max_named": MAX_NAMED,
        "max_overrides": MAX_OVERRIDES,
    }
    module = templates().get_template("system_health_sections.j2").make_module(context)
    sections: list[dict[str, Any]] = module.sections  # type: ignore[attr-defined]
    return [Section(**section) for section in sections]


OP_STATUSES = (*STATUSES, "unknown")
MAX_LIST = 20
"""Rows per category list in the summary, as in the seed system's summaries."""


def _summary(
    scorecard: Scorecard,
    catalog_summary: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str],
    unauthorized: Sequence[str],
    lines: Sequence[Mapping[str, Any]],
    signals: Sequence[Mapping[str, Any]],
    drift_v01: Mapping[str, Any],
    as_of: str,
) -> dict[str, Any]:
    """The JSON summary: seed-compatible operation counts and per-category lists of operation
    rows (at most MAX_LIST each), our counts, and the scorecard."""
    by_status = Counter(statuses.get(str(row.get("operation_id")), "unknown") for row in rows)
    evidence = {name: [r for r in rows if r.get("run_evidence_state") == name.upper()]
                for name in ("observed", "legacy_only", "unobserved")}  # fmt: skip
    categories = {
        "observed": evidence["observed"],
        "stale": [r for r in rows if statuses.get(str(r.get("operation_id"))) == "stale"],
        "legacy_only": evidence["legacy_only"],
        "unobserved": evidence["unobserved"],
        "coverage_below_c3": [r for r in rows if r.get("coverage_level") not in CHECKED_LEVELS],
        "drifting": [r for r in rows if r.get("op_drift") is True],
    }
    seals = seal_counts(lines)
    counted = ("observed", "stale", "drifting", "legacy_only", "unobserved", "coverage_below_c3")
    lists: dict[str, Any] = {"max_list": MAX_LIST}
    lists.update({name: [dict(row) for row in m[:MAX_LIST]] for name, m in categories.items()})
    return {
        "summary_version": "0.1",
        "generated_utc": as_of,
        "counts": {
            "total_ops": len(rows),
            **{name: len(categories[name]) for name in counted},
            "operations_by_status": {status: by_status[status] for status in OP_STATUSES},
            "unauthorized_ops": len(unauthorized),
            "registries": len(catalog_summary),
            "run_folders": len(lines),
            "run_folders_by_seal": {s: seals[s] for s in (*SEAL_STATUSES, "TAMPERED")},
            "drift_signals": value_counts(signal.get("value") for signal in signals),
        },
        "scorecard": scorecard.as_json(),
        "unauthorized_operations": list(unauthorized),
        "system_drift": dict(drift_v01.get("system_drift", {})),
        **lists,
        "drifting_ops": lists["drifting"],
        "truncated": {name: len(m) > MAX_LIST for name, m in categories.items()},
    }


def render_markdown(sections: Sequence[Section], as_of: str) -> str:
    """The report as Markdown."""
    text = templates().get_template("system_health.md.j2").render(sections=sections, as_of=as_of)
    return text.removesuffix("\n")


def render_html(sections: Sequence[Section], as_of: str, charts: Sequence[Chart] = ()) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG only, all text escaped);
    `charts` come after the first section (the headline: what needs attention), under "At a
    glance"."""
    glance = min(1, len(sections) - 1) if charts else -1
    template = templates().get_template("system_health.html.j2")
    return template.render(sections=sections, as_of=as_of, charts=charts, glance=glance)


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
) -> dict[str, bytes]:
    """Artifact name to bytes for the Markdown report, the HTML page and the JSON summary.

    `input_sources` (the seed summary's field: input name -> workspace-relative artifact path of
    the sealed snapshot read) is recorded as given; `write_overrides` are the records of the
    write path's overrides log (`add-entry --no-check`), shown newest first; `drift_history`
    are earlier drift detail documents, oldest first, drawn before `drift_detail` in the drift
    chart of the HTML page; `excluded` are the catalog's excluded registries (id, reason), which
    the scorecard counts as not sealed.
    """
    scorecard = compute_scorecard(catalog_summary, op_status_rows, op_status_detail, excluded)
    statuses = operation_statuses(op_status_detail)
    unauthorized = unauthorized_operations(op_status_detail)
    signals = [s for s in drift_detail.get("signals", ()) if isinstance(s, Mapping)]
    sections = report_sections(
        scorecard,
        signals,
        catalog_summary=catalog_summary,
        op_status_rows=op_status_rows,
        op_status_detail=op_status_detail,
        drift_v01=drift_v01,
        lines=run_registry_lines,
        overrides=write_overrides,
    )
    charts = report_charts(catalog_summary, run_registry_lines, [*drift_history, drift_detail])
    summary = _summary(
        scorecard, catalog_summary, op_status_rows, statuses, unauthorized, run_registry_lines,
        signals, drift_v01, as_of,
    )  # fmt: skip
    summary["stale_threshold_days"] = _stale_threshold_days(op_status_detail)
    summary["input_sources"] = dict(sorted((input_sources or {}).items()))
    summary["write_overrides"] = len(write_overrides)
    return {
        MARKDOWN_ARTIFACT: render_markdown(sections, as_of).encode("utf-8"),
        HTML_ARTIFACT: render_html(sections, as_of, charts).encode("utf-8"),
        SUMMARY_ARTIFACT: dumps_pretty(summary, sort_keys=False),
    }


def build(inputs: BuildInputs, builder_ids: Set[str]) -> BuildResult:
    """The builder: the rendered report from the sealed run registry, status table and drift
    documents (`builder_ids`: the registries that have a builder in code)."""
    status, drift = inputs.inputs["op_status_table"], inputs.inputs["drift_signals"]
    registry = inputs.inputs["run_registry"]
    lines = run_lines(registry)
    files = build_system_health(
        catalog_summary=_catalog_summary(inputs, builder_ids, lines),
        op_status_rows=read_json(status, TABLE_ARTIFACT),
        op_status_detail=read_json(status, STATUS_DETAIL),
        drift_v01=read_json(drift, V01_ARTIFACT),
        drift_detail=read_json(drift, DETAIL_ARTIFACT),
        run_registry_lines=lines,
        drift_history=_drift_history(inputs.workspace, lines),
        as_of=max(snapshot.created_utc for snapshot in inputs.inputs.values()),
        input_sources={
            "status_table": artifact_source(status, TABLE_ARTIFACT),
            "registry": artifact_source(registry, REGISTRY_ARTIFACT),
            "drift_signals": artifact_source(drift, V01_ARTIFACT),
        },
        write_overrides=_write_overrides(inputs.workspace),
        excluded=load_catalog(inputs.workspace).excluded,
    )
    markdown = files[MARKDOWN_ARTIFACT].decode("utf-8")
    sealed = loads_strict(files[SUMMARY_ARTIFACT])  # the figures, as sealed
    return BuildResult(files, len(files), {"markdown": markdown, "scorecard": sealed["scorecard"]})


DRIFT_HISTORY = 30
"""Earlier drift snapshots the health report's drift chart draws."""


def _drift_history(workspace: Workspace, lines: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Detail documents of the earlier drift_signals snapshots the input run registry indexes
    as sealed (PASS), oldest first, at most DRIFT_HISTORY; one that cannot be read is left out
    (the same inputs give the same history)."""
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
    """The write path's override records (an unreadable log is shown as one record saying so:
    the report still renders)."""
    from registry_pipeline.core.write_path.logs import OVERRIDES_RELPATH, read_records

    try:
        return read_records(workspace.root / OVERRIDES_RELPATH)
    except RegistryError as exc:
        return [{"type": "(log)", "key": OVERRIDES_RELPATH, "reason": f"{exc.code}: {exc}"}]


def _catalog_summary(
    build: BuildInputs, builder_ids: Set[str], lines: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per catalog registry: the snapshot the report counts, the newest its sealed inputs show
    (`visible_runs`), and whether it passes its seal and schema."""
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
