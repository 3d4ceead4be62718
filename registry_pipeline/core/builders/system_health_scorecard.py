"""The system health report's scorecard: the governance figures, computed from the report's
inputs only (`compute_scorecard` says what each counts, `RULE` what "sealed" means), and which
registry snapshots the inputs show (`visible_runs`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.op_status_table import detail_operations
from registry_pipeline.core.workspace.layout import RUNS_RELPATH

RULE = (
    "sealed means: the newest snapshot the inputs of this report show (the inputs, what they "
    "were built from, the run folders the input run registry indexes) passes seal and schema; a "
    "registry sealed after them in the same run (registry_delta_log) counts by its earlier "
    "snapshot; this report counts itself sealed"
)
"""The rule in one line, as the Markdown says it."""
NO_SNAPSHOT = "no snapshot as of the inputs of this report"
_NOT_PASSING = {
    "INTACT_OLDER_FORMAT": "intact in an older format",
    "CONVERTED": "with line endings converted",
    "UNSEALED": "unsealed",
}
"""The verdicts (`registry validate`'s) of a snapshot that is not damaged and still not sealed."""


def visible_runs(
    run_registry_lines: Sequence[Mapping[str, Any]], inputs: Mapping[str, Mapping[str, Any]]
) -> frozenset[str]:
    """Run ids (of the workspace's own run root) the report may count: those the input run
    registry indexes, the input snapshots (`inputs`: run id -> its run.json) and theirs.

    A registry counts as sealed when the snapshot the report counts for it passes its seal and its
    schema (inspected when the report is built). The snapshot counted is the newest of those the
    report's sealed inputs show (`visible_runs`): the input snapshots themselves, the snapshots they
    were built from (their run.json `inputs`), and the run folders the input run registry indexes.

    So nothing sealed after the inputs changes the report, whatever the order of the run's steps:
    `registry_delta_log` (built from the same inputs in the same run, not read by the report) and a
    source sealed in the same run that no input reads count by their earlier snapshot, or as not
    sealed when they have none, until the next report; a report rebuilt from the same inputs is
    byte-identical. The report itself (`this_report`) counts as sealed: the build that writes it
    seals it, and a report whose seal or schema fails is a failed build, never read as a report
    (the seed counts its health report as never sealed: presentation-only).

    The catalog's excluded registries count as not sealed, with the catalog's reason; registries
    with `in_scorecard: false` (what adoption added to feed a builder) are not counted at all.
    """
    seen = set(inputs)
    for line in run_registry_lines:
        run_id = line.get("run_id")
        if isinstance(run_id, str) and _in_own_root(line, run_id):
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


def _in_own_root(line: Mapping[str, Any], run_id: str) -> bool:
    root = line.get("run_root")
    if root is None:  # a line without run_root (older formats): its run_key says where
        return line.get("run_key") == f"{RUNS_RELPATH}::{run_id}"
    return _root(root) == RUNS_RELPATH


def _root(label: Any) -> str | None:
    return label.removeprefix("./").rstrip("/") if isinstance(label, str) else None


def registry_entries(
    catalog_summary: Sequence[Mapping[str, Any]], excluded: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Per registry counted, in catalog order then the excluded ones: `{registry_id, sealed,
    basis, run_id, reason}`; `basis` is `snapshot` (run_id: the snapshot counted), `none`,
    `this_report` or `excluded`; `reason` says in words why it is not sealed (null when it is)."""
    counted = [_entry(entry) for entry in catalog_summary if entry.get("in_scorecard") is not False]
    counted.extend(
        _counted(registry_id, False, "excluded", None, f"excluded: {why}")
        for registry_id, why in excluded
    )
    return counted


def _entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    registry_id = entry.get("registry_id")
    if entry.get("this_report") is True:
        return _counted(registry_id, True, "this_report", None, None)
    status, run_id = entry.get("latest_status"), entry.get("latest_run_id")
    shown = run_id if isinstance(run_id, str) and run_id else "(run id unknown)"
    if status == "PASS":
        return _counted(registry_id, True, "snapshot", run_id, None)
    if status == "FAIL":
        reason = f"its snapshot {shown} fails its seal or schema"
        return _counted(registry_id, False, "snapshot", run_id, reason)
    if status in _NOT_PASSING:
        reason = f"its snapshot {shown} is {_NOT_PASSING[status]}, not sealed under this contract"
        return _counted(registry_id, False, "snapshot", run_id, reason)
    return _counted(registry_id, False, "none", None, NO_SNAPSHOT)


def _counted(
    registry_id: Any, sealed: bool, basis: str, run_id: Any, reason: str | None
) -> dict[str, Any]:
    return {"registry_id": registry_id, "sealed": sealed, "basis": basis, "run_id": run_id,
            "reason": reason}  # fmt: skip


CHECKED_LEVELS = frozenset({"C3", "C4", "C5"})
NO_EXECUTABLES = "the operations catalog names no executables"


@dataclass(frozen=True)
class Ratio:
    """A scorecard figure: `count` of `total`."""

    count: int
    """Items that meet the bar."""
    total: int
    """Items considered."""

    @property
    def percent(self) -> float | None:
        """`count / total` in percent, one decimal; None when there is nothing to count."""
        return round(100 * self.count / self.total, 1) if self.total else None

    def __str__(self) -> str:
        return f"{self.count}/{self.total}"

    def as_json(self) -> dict[str, Any]:
        """`{"count": x, "total": y, "percent": p}`."""
        return {"count": self.count, "total": self.total, "percent": self.percent}


@dataclass(frozen=True)
class Executables:
    """The operations catalog's Bound Executables, counted."""

    count: int
    """Distinct paths bound to any operation."""
    operations_bound: Ratio
    """Canonical operations binding at least one, of all canonical operations."""
    unbound_operations: tuple[str, ...]
    """The canonical operations binding none."""

    def as_json(self) -> dict[str, Any]:
        """The summary's `scorecard.executables` object."""
        return {
            "count": self.count,
            "operations_bound": self.operations_bound.as_json(),
            "unbound_operations": list(self.unbound_operations),
        }


@dataclass(frozen=True)
class Scorecard:
    """The governance figures, computed from data."""

    sealed_registries: Ratio
    """Registries sealed here, of the repository's registries (excluded ones included)."""
    operations_with_builders: Ratio
    """Operations built by a catalog registry that has a builder, of all operations."""
    enforcement_c3_plus: Ratio
    """Canonical operations at coverage level C3 or above, of all canonical operations."""
    below_c3: tuple[tuple[str, str], ...]
    """(operation id, coverage level) of the canonical operations below C3, by id."""
    registries: tuple[dict[str, Any], ...]
    """Per registry counted: `{registry_id, sealed, basis, run_id, reason}` (`_sealed`)."""
    executables: Executables | None
    """The catalog's Bound Executables; None when it names none."""

    def as_json(self) -> dict[str, Any]:
        """The summary's `scorecard` object."""
        return {
            "enforcement_c3_plus": {
                **self.enforcement_c3_plus.as_json(),
                "below_c3": [
                    {"operation_id": op, "coverage_level": level} for op, level in self.below_c3
                ],
            },
            "sealed_registries": {
                **self.sealed_registries.as_json(),
                "registries": [dict(entry) for entry in self.registries],
            },
            "executables": self.executables.as_json() if self.executables else None,
            "executables_reason": None if self.executables else NO_EXECUTABLES,
            "operations_with_builders": self.operations_with_builders.as_json(),
            "check_coverage": self.enforcement_c3_plus.as_json(),
        }


def compute_scorecard(
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any] | None = None,
    excluded: Sequence[tuple[str, str]] = (),
) -> Scorecard:
    """The governance scorecard: its figures computed from the catalog summary and the status
    inputs.

    - `enforcement_c3_plus`: canonical operations (the v0.1 status rows) at coverage level C3, C4 or
      C5, of all of them: the seed's "Enforcement Coverage (C3+)"; `below_c3` names the others with
      their level. `check_coverage` is the same ratio under its earlier name.
    - `sealed_registries`: registries sealed here, of the repository's registries: the catalog's,
      less those adoption added to feed a builder (`in_scorecard: false`), plus those the catalog
      excludes (an external database has no snapshot): the seed's "Registries with Seals", 9 of 13
      in its own scorecard. What "sealed" means, for the report itself and for registries sealed
      later in the same run (the delta log) too, is `RULE` (see `visible_runs`); `registries`
      lists each one counted, with why it is not sealed.
    - `operations_with_builders`: operations built by a catalog registry that has a builder.
    - `executables`: the files the operations catalog binds to operations (its Bound Executables):
      `count` distinct paths over every operation, and `operations_bound`, canonical operations
      binding at least one of all canonical operations (the others in `unbound_operations`). Null
      when no operation names any (a JSON catalog), `executables_reason` then saying so.

    Each ratio is `{count, total, percent}` (percent to one decimal, null when total is 0).

    `excluded`: the catalog's (id, reason).
    """
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
    return Scorecard(
        sealed_registries=Ratio(sum(1 for r in registries if r["sealed"]), len(registries)),
        operations_with_builders=Ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        enforcement_c3_plus=Ratio(len(op_status_rows) - len(below), len(op_status_rows)),
        below_c3=tuple(below),
        registries=tuple(registries),
        executables=_executables(op_status_rows, op_status_detail or {}),
    )


def _executables(
    rows: Sequence[Mapping[str, Any]], detail: Mapping[str, Any]
) -> Executables | None:
    """Distinct bound paths over every operation of the detail, and the canonical operations
    (the rows) binding one; None when no operation names any."""
    entries = detail_operations(detail)
    bound = {
        str(entry.get("operation_id")): {p for p in entry["executables"] if isinstance(p, str)}
        for entry in entries
        if isinstance(entry.get("executables"), list)
    }
    paths = set().union(*bound.values()) if bound else set()
    if not paths:
        return None
    canonical = sorted({str(row.get("operation_id")) for row in rows})
    unbound = tuple(op for op in canonical if not bound.get(op))
    return Executables(len(paths), Ratio(len(canonical) - len(unbound), len(canonical)), unbound)
