"""What needs a person's attention, the report's headline: failing and stale operations, drift,
damaged or tampered run folders, operations below the coverage floor; each with the reason in
words and what to do about it. Nothing else is listed there: the tables below hold the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.builders.system_health._human import human_summary
from registry_pipeline.core.builders.system_health._inputs import _seal_counts
from registry_pipeline.core.builders.system_health._scorecard import Scorecard

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


@dataclass(frozen=True)
class Item:
    """One thing that needs attention: about what, why (in words) and what to do."""

    subject: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}; to fix: {self.fix}"


def attention(
    op_status_detail: Mapping[str, Any],
    signals: Sequence[Mapping[str, Any]],
    run_registry_lines: Sequence[Mapping[str, Any]],
    scorecard: Scorecard,
    system_drift: Mapping[str, Any] | None = None,
) -> list[Item]:
    """Everything that needs a person, most urgent first."""
    operations = _operations(op_status_detail)
    items = [*_folders(run_registry_lines), *_system(system_drift or {})]
    items += [_failing(op) for op in operations if op.get("status") == "failing"]
    items += [_stale(op) for op in operations if op.get("status") == "stale"]
    items += [
        Item(
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
            Item(
                "coverage below C3",
                f"{len(scorecard.below_c3)} canonical operation(s) below the floor: {shown}",
                "raise their enforcement level to C3 or above in the coverage matrix",
            )
        )
    return items


def _operations(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = detail.get("operations", ())
    entries = (
        [{"operation_id": key, **value} for key, value in raw.items()]
        if isinstance(raw, Mapping)
        else [entry for entry in raw if isinstance(entry, Mapping)]
    )
    return sorted(entries, key=lambda entry: str(entry.get("operation_id")))


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
    return Item(str(op.get("operation_id")), reason, fix)  # its notes: the Operations section


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
    return Item(
        str(op.get("operation_id")),
        f"stale: {since}{bound}",
        "run the operation again; its next sealed run folder clears it",
    )


def _folders(lines: Sequence[Mapping[str, Any]]) -> list[Item]:
    counts = _seal_counts(lines)
    items = []
    if counts["FAIL"]:
        items.append(
            Item(
                "run folders",
                f"{counts['FAIL']} of {len(lines)} fail their seal (damaged)",
                "`registry validate --all` names each folder and problem",
            )
        )
    if counts["TAMPERED"]:
        items.append(
            Item(
                "run folders",
                f"{counts['TAMPERED']} changed after they were indexed as sealed (tampered)",
                "restore them from a backup or git; `registry validate --all` names them",
            )
        )
    return items


def _system(flags: Mapping[str, Any]) -> list[Item]:
    """The system drift flags that are up: the canon (git state: dirty, or unknown, which is
    never read as clean), the schemas, the threshold pack."""
    items = []
    state = flags.get("canon_state")
    if state == "unknown":
        items.append(
            Item(
                "git state",
                "unknown: git is absent or the workspace is outside a repository, so nothing "
                "proves the canon is as committed",
                "build inside a git repository with git on PATH",
            )
        )
    elif flags.get("canon_dirty") is True:
        items.append(
            Item(
                "canon",
                "the working tree has changes that are not committed (the registry layer's own "
                "files never count)",
                "`git status` names them; commit or undo them, then `registry build`",
            )
        )
    if flags.get("schema_drift") is True:
        items.append(
            Item("schemas", "a schema in use differs from the one expected",
                 "see the schema signals in the Drift signals table; `registry build`")
        )  # fmt: skip
    if flags.get("threshold_drift") is True:
        items.append(
            Item("threshold pack", "the threshold pack in use is not the expected version",
                 "update EXPECTED_VERSIONS or the pack, then `registry build`")
        )  # fmt: skip
    return items
