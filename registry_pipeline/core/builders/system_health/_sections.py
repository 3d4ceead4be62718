"""The report model: its sections (scorecard, registries, operations, run folders, drift)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.drift_signals import canon_notes
from registry_pipeline.core.builders.system_health._attention import NOTHING, Item, _operations
from registry_pipeline.core.builders.system_health._human import cell, human_summary
from registry_pipeline.core.builders.system_health._inputs import SEAL_STATUSES, _seal_counts
from registry_pipeline.core.builders.system_health._scorecard import NO_EXECUTABLES, Scorecard
from registry_pipeline.core.builders.system_health._sealed import RULE
from registry_pipeline.core.seal.verdicts import describe


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
    rows = tuple((item.subject, item.reason, item.fix) for item in items)
    return Section(
        "Needs attention",
        notes=(f"{len(items)} item(s), most urgent first",),
        headers=("about", "why", "to fix"),
        rows=rows,
    )


def tri_state(value: Any) -> str:
    """`yes`, `no` or `unknown` for true, false and anything else (null)."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "unknown"


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
        for op in _operations(detail)
        for note in op.get("notes") or ()
        if isinstance(note, str)
    )
    return Section("Operations", notes=notes, headers=headers, rows=table, alarms=("op_drift",))


def _run_folder_section(lines: Sequence[Mapping[str, Any]]) -> Section:
    """Run folders per verdict, in the words of `registry validate --all`'s summary (the same
    function says both), and how many of them were tampered with."""
    counts = _seal_counts(lines)
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
