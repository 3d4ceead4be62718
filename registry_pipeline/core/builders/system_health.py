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


NOTHING = "nothing needs attention"
FOLDER_KINDS = frozenset({"run_folder_invalid", "run_folder_tampered", "operation_stale"})
"""Drift signal kinds said by their own items (run folders, stale operations), not again."""
_DRIFT_FIX = {
    "schema_version": "update EXPECTED_VERSIONS to the version in use, or rebuild with the "
    "expected one: `registry build`",
    "builder_version": "rebuild with the expected builder: `registry build --force`",
    "threshold_pack_version": "update EXPECTED_VERSIONS or the threshold pack, then "
    "`registry build`",
    "active_snapshot_behind": "promote the newest valid snapshot: `registry pointers promote "
    "REGISTRY RUN_ID --reason TEXT`, or find why it is held: `registry pointers show`",
    "schema_changed": "rebuild against the changed schema: `registry build`",
}
"""What to do about a drift signal, by kind."""


Item = tuple[str, str, str]
"""One thing that needs attention: about what, why (in words) and what to do."""


def attention(
    op_status_detail: Mapping[str, Any],
    signals: Sequence[Mapping[str, Any]],
    run_registry_lines: Sequence[Mapping[str, Any]],
    scorecard: Scorecard,
    system_drift: Mapping[str, Any] | None = None,
) -> list[Item]:
    """What needs a person's attention, the report's headline: failing and stale operations, drift,
    damaged or tampered run folders, operations below the coverage floor; each with the reason in
    words and what to do about it, most urgent first. Nothing else is listed there: the tables
    below hold the rest."""
    operations = detail_operations(op_status_detail)
    items = [*_folders(run_registry_lines), *_system(system_drift or {})]
    items += [_failing(op) for op in operations if op.get("status") == "failing"]
    items += [_stale(op) for op in operations if op.get("status") == "stale"]
    items += [
        (
            str(signal.get("signal_id")),
            human_summary(signal.get("summary")),
            _DRIFT_FIX.get(str(signal.get("kind")), "see the signal's evidence in the detail file"),
        )
        for signal in signals
        if signal.get("value") is True
        and signal.get("severity") != "info"
        and signal.get("kind") not in FOLDER_KINDS
    ]
    if scorecard.below_c3:
        shown = ", ".join(f"{op} ({level})" for op, level in scorecard.below_c3)
        items.append(
            (
                "coverage below C3",
                f"{len(scorecard.below_c3)} canonical operation(s) below the floor: {shown}",
                "raise their enforcement level to C3 or above in the coverage matrix",
            )
        )
    return items


def _folder(op: Mapping[str, Any]) -> str | None:
    key = op.get("last_run_key")
    if not isinstance(key, str) or "::" not in key:
        return None
    root, _, run_id = key.partition("::")
    return f"{root}/{run_id}"


def _failing(op: Mapping[str, Any]) -> Item:
    folder = _folder(op) or str(op.get("last_run_id"))
    verdict = str(op.get("last_seal_status") or "unknown")
    converted = verdict == "CONVERTED"
    fix = (
        f"`registry restore-line-endings {folder} DEST` writes a copy that passes"
        if converted
        else f"`registry validate {folder}` names each problem; fix the evidence and run the "
        "operation again"
    )
    reason = f"failing: its last run {folder} is {_VERDICT_WORDS.get(verdict, verdict)}"
    return (str(op.get("operation_id")), reason, fix)  # its notes: the Operations section


_VERDICT_WORDS = {
    "FAIL": "damaged (it fails its seal)",
    "TAMPERED": "tampered with (it changed after it was indexed as sealed)",
    "CONVERTED": "converted by git's line-ending normalization",
    "INTACT_OLDER_FORMAT": "sealed in an older format only",
}


def _stale(op: Mapping[str, Any]) -> Item:
    limit = op.get("stale_after_hours")
    last = op.get("last_success_utc")
    since = f"its last passing run was at {last}" if last else "no run of it ever passed"
    bound = f", more than {limit} hours ago" if last and limit is not None else ""
    return (
        str(op.get("operation_id")),
        f"stale: {since}{bound}",
        "run the operation again; its next sealed run folder clears it",
    )


def _folders(lines: Sequence[Mapping[str, Any]]) -> list[Item]:
    counts = seal_counts(lines)
    found = [
        (counts["FAIL"], f"{counts['FAIL']} of {len(lines)} fail their seal (damaged)",
         "`registry validate --all` names each folder and problem"),
        (counts["TAMPERED"],
         f"{counts['TAMPERED']} changed after they were indexed as sealed (tampered)",
         "restore them from a backup or git; `registry validate --all` names them"),
    ]  # fmt: skip
    return [("run folders", reason, fix) for count, reason, fix in found if count]


_SYSTEM_ITEMS: dict[str, Item] = {
    "git_unknown": ("git state", "unknown: git is absent or the workspace is outside a "
                    "repository, so nothing proves the canon is as committed",
                    "build inside a git repository with git on PATH"),
    "canon_dirty": ("canon", "the working tree has changes that are not committed (the "
                    "registry layer's own files never count)",
                    "`git status` names them; commit or undo them, then `registry build`"),
    "schema_drift": ("schemas", "a schema in use differs from the one expected",
                     "see the schema signals in the Drift signals table; `registry build`"),
    "threshold_drift": ("threshold pack", "the threshold pack in use is not the expected "
                        "version", "update EXPECTED_VERSIONS or the pack, then `registry build`"),
}  # fmt: skip
"""The system drift flags' items, by flag."""


def _system(flags: Mapping[str, Any]) -> list[Item]:
    """The system drift flags that are up: the canon (git state: dirty, or unknown, which is
    never read as clean), the schemas, the threshold pack."""
    unknown = flags.get("canon_state") == "unknown"
    up = {"git_unknown": unknown, "canon_dirty": not unknown and flags.get("canon_dirty") is True}
    up |= {flag: flags.get(flag) is True for flag in ("schema_drift", "threshold_drift")}
    return [item for flag, item in _SYSTEM_ITEMS.items() if up[flag]]


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, optional bullet notes and an optional table."""

    title: str
    notes: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    alarms: tuple[str, ...] = ()
    """The columns whose `yes` is bad news (drift), shaded so on the HTML page; elsewhere a
    `yes` is just an answer (a builder exists)."""


def _attention_section(items: Sequence[Item]) -> Section:
    """The headline: what needs a person, each with why and what to do; nothing else."""
    if not items:
        return Section("Needs attention", notes=(NOTHING,))
    return Section(
        "Needs attention",
        notes=(f"{len(items)} item(s), most urgent first",),
        headers=("about", "why", "to fix"),
        rows=tuple(items),
    )


def tri_state(value: Any) -> str:
    """`yes`, `no` or `unknown` for true, false and anything else (null)."""
    return "yes" if value is True else "no" if value is False else "unknown"


def _scorecard_section(scorecard: Scorecard) -> Section:
    """The governance scorecard as a table (the summary's figures), with the rule for "sealed",
    where the seed counts otherwise, and why each registry counted is not sealed."""
    ratios = (
        ("enforcement coverage C3+", scorecard.enforcement_c3_plus,
         "canonical operations at coverage level C3, C4 or C5 / canonical operations"),
        ("sealed registries", scorecard.sealed_registries,
         "registries sealed here / registries of the repository, excluded ones included"),
        ("operations with builders", scorecard.operations_with_builders,
         "operations built by a registry with a builder / operations"),
    )  # fmt: skip
    rows = [(name, str(ratio), _percent(ratio.percent), how) for name, ratio, how in ratios]
    executables = scorecard.executables
    if executables is not None:
        bound = executables.operations_bound
        rows += [
            ("executables", str(executables.count), "-",
             "distinct files the operations catalog binds to operations (Bound Executables)"),
            ("operations with executables", str(bound), _percent(bound.percent),
             "canonical operations binding at least one file / canonical operations"),
        ]  # fmt: skip
    return Section(
        "Governance scorecard",
        notes=(RULE, *_seed_differences(scorecard), *_explanations(scorecard)),
        headers=("figure", "value", "percent", "computed as"),
        rows=tuple(rows),
    )


def _seed_differences(scorecard: Scorecard) -> list[str]:
    """Where the seed's own scorecard counts a figure otherwise, in plain words."""
    notes = [
        f"the seed counts {entry['registry_id']} as not sealed because it is presentation-only; "
        "it is sealed here like every other registry"
        for entry in scorecard.registries
        if entry["basis"] == "this_report"
    ]
    if scorecard.executables is not None:
        notes.append(
            "executables: the seed scorecard counts an inventory of executable files by type "
            "(scripts, SQL, workflows); here they are the distinct files the operations catalog "
            "binds to operations"
        )
    return notes


def _explanations(scorecard: Scorecard) -> list[str]:
    """The operations below C3, each registry not sealed and why, executables not counted."""
    notes = []
    if scorecard.below_c3:
        shown = [f"{op} ({level})" for op, level in scorecard.below_c3[:MAX_NAMED]]
        more = len(scorecard.below_c3) - len(shown)
        notes.append(
            "below C3: "
            + ", ".join(shown)
            + (f" and {more} more (the summary lists all)" if more else "")
        )
    notes += [
        f"not sealed: {entry['registry_id']} ({entry['reason']})"
        for entry in scorecard.registries
        if not entry["sealed"]
    ]
    if scorecard.executables is None:
        notes.append(f"executables: not counted: {NO_EXECUTABLES}")
    return notes


MAX_NAMED = 20
"""Operations below C3 the Markdown names; the summary lists them all."""


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _catalog_section(detail: Mapping[str, Any]) -> Section | None:
    """The catalog's non-canonical operations (count and ids) and the lines it could not read."""
    found = detail.get("non_canonical")
    warnings = [w for w in detail.get("catalog_warnings", ()) if isinstance(w, Mapping)]
    if not isinstance(found, Mapping) and not warnings:
        return None
    notes = []
    if isinstance(found, Mapping):
        ids = ", ".join(str(op) for op in found.get("operation_ids", ())) or "none"
        notes.append(f"non-canonical operations: {found.get('count', 0)} ({ids})")
    notes.extend(
        f"could not read {w.get('source')}:{w.get('line')}"
        + (f" ({w.get('operation_id')})" if w.get("operation_id") else "")
        + f": {w.get('message')}"
        for w in warnings
    )
    return Section("Operations catalog", notes=tuple(notes))


def _registry_section(catalog_summary: Sequence[Mapping[str, Any]]) -> Section:
    """Status per registry, in catalog order."""
    rows = tuple(
        (
            cell(entry.get("registry_id")),
            cell(entry.get("kind")),
            tri_state(entry.get("has_builder")),
            cell(entry.get("latest_run_id")),
            cell(entry.get("latest_status")),
        )
        for entry in catalog_summary
    )
    headers = ("registry_id", "kind", "builder", "latest_run_id", "latest_status")
    return Section("Registries", headers=headers, rows=rows)


def _operation_section(
    rows: Sequence[Mapping[str, Any]], statuses: Mapping[str, str], detail: Mapping[str, Any]
) -> Section:
    """Status per operation, sorted by operation id, with every note the status detail has
    (why op_drift is unknown, in words)."""
    table = tuple(
        (
            cell(row.get("operation_id")),
            cell(row.get("operation_name")),
            cell(row.get("coverage_level")),
            statuses.get(str(row.get("operation_id")), "unknown"),
            cell(row.get("last_run_id")),
            cell(row.get("staleness_days")),
            tri_state(row.get("op_drift")),
        )
        for row in sorted(rows, key=lambda r: str(r.get("operation_id")))
    )
    headers = ("operation_id", "name", "coverage", "status", "last_run_id", "staleness_days",
               "op_drift")  # fmt: skip
    notes = tuple(
        f"{op.get('operation_id')}: {note}"
        for op in detail_operations(detail)
        for note in op.get("notes") or ()
        if isinstance(note, str)
    )
    return Section("Operations", notes=notes, headers=headers, rows=table, alarms=("op_drift",))


def _run_folder_section(lines: Sequence[Mapping[str, Any]]) -> Section:
    """Run folders per verdict, in the words of `registry validate --all`'s summary (the same
    function says both), and how many of them were tampered with."""
    counts = seal_counts(lines)
    rows = tuple((status, str(counts[status])) for status in SEAL_STATUSES)
    notes = [
        f"{len(lines)} run folder(s) the input run registry indexes: {describe(counts)}",
        "folders sealed after that run registry (among them the later snapshots of this build) "
        "are counted by the next report; `registry validate --all` counts them now, in the same "
        "words",
    ]
    if counts["unknown"]:
        notes.append(f"{counts['unknown']} without a recorded verdict")
    if counts["TAMPERED"]:
        notes.append(f"of them tampered (changed after being indexed as sealed): "
                     f"{counts['TAMPERED']}")  # fmt: skip
    return Section("Run folders", notes=tuple(notes), headers=("verdict", "count"), rows=rows)


def _system_drift_section(drift_v01: Mapping[str, Any]) -> Section:
    """The v0.1 system drift flags, tri-state shown as yes/no/unknown; an unknown canon state
    (whose `canon_dirty` is true: never clean) as unknown, with what it means."""
    flags = drift_v01.get("system_drift", {})
    keys = ("canon_dirty", "schema_drift", "threshold_drift")
    notes = [f"{key}: {tri_state(flags.get(key))}" for key in keys]
    notes[:1] = [f"canon_dirty: unknown ({note})" for note in canon_notes(drift_v01)] or notes[:1]
    return Section("System drift", notes=tuple(notes))


def _signal_section(signals: Sequence[Mapping[str, Any]]) -> Section:
    """Every drift signal, in the detail file's order."""
    rows = tuple(
        (
            cell(signal.get("signal_id")),
            cell(signal.get("severity")),
            tri_state(signal.get("value")),
            human_summary(signal.get("summary")),
        )
        for signal in signals
    )
    return Section(
        "Drift signals",
        headers=("signal_id", "severity", "drift", "summary"),
        rows=rows,
        alarms=("drift",),
    )


MAX_OVERRIDES = 20
"""Override records the report lists (newest first); the summary counts them all."""


def _overrides_section(records: Sequence[Mapping[str, Any]]) -> Section:
    """Writes made despite blocking findings (`registry add-entry --no-check`), newest first."""
    if not records:
        return Section("Write-path overrides", notes=("none",))
    shown = list(reversed(records))[:MAX_OVERRIDES]
    more = len(records) - len(shown)
    return Section(
        "Write-path overrides",
        notes=(
            f"{len(records)} write(s) made despite blocking findings (add-entry --no-check)"
            + (f"; the {len(shown)} newest are listed" if more else ""),
        ),
        headers=("recorded", "who", "type", "key", "reason", "skipped"),
        rows=tuple(
            (
                cell(record.get("recorded_utc")),
                cell(record.get("who")),
                cell(record.get("type")),
                cell(record.get("key")),
                cell(record.get("reason")),
                cell(", ".join(sorted({str(f.get("code")) for f in record.get("skipped") or ()
                                        if isinstance(f, Mapping)}))),
            )
            for record in shown
        ),
    )  # fmt: skip


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
    needs = attention(
        op_status_detail, signals, run_registry_lines, scorecard, drift_v01.get("system_drift")
    )
    sections = (
        _attention_section(needs),
        _scorecard_section(scorecard),
        _registry_section(catalog_summary),
        _operation_section(op_status_rows, statuses, op_status_detail),
        *filter(None, [_catalog_section(op_status_detail)]),
        Section("Unauthorized operations", notes=tuple(unauthorized) or ("none",)),
        _run_folder_section(run_registry_lines),
        _system_drift_section(drift_v01),
        _signal_section(signals),
        _overrides_section(write_overrides),
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
