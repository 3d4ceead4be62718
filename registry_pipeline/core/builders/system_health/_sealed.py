"""What "sealed" means in the scorecard, chosen so that the same sealed inputs give the same figure.

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

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    registry indexes, the input snapshots (`inputs`: run id -> its run.json) and theirs."""
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
