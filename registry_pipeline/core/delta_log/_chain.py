"""The chain of log snapshots: each names its predecessor and root in run.json `inputs`.

Walking back from the newest snapshot, every link is checked: the predecessor exists directly
under `.codex/RUNS`, has the recorded root, validates, its JSONL is an exact prefix of the next
one's (compared in chunks) and the next one's appended records are valid and chained. Every
record is therefore checked once, in the link that appended it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_pipeline.core.delta_log._append import check_records
from registry_pipeline.core.delta_log._chain_io import (
    count_lines,
    has_valid_seal,
    link_problem,
    state_problem,
)
from registry_pipeline.core.delta_log._errors import DeltaChainError, DeltaCode, DeltaFinding
from registry_pipeline.core.delta_log._model import LOG_ARTIFACT, LOG_REGISTRY_ID
from registry_pipeline.core.delta_log._state import LogState, previous_input
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots


@dataclass(frozen=True)
class ChainReport:
    """The verdict on a log snapshot and every predecessor it chains back to."""

    newest_run_id: str
    """The snapshot the walk started from."""
    first_run_id: str
    """The oldest snapshot reached (the first log, unless the walk stopped at a break)."""
    snapshots: int
    """Log snapshots walked, the newest included."""
    records: int
    """Records in the newest log."""
    problems: tuple[DeltaFinding, ...]
    """At most one per link (the first found), plus the newest snapshot's own problems."""

    @property
    def ok(self) -> bool:
        """True when the whole chain holds."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The report as `registry delta verify --json` would print it."""
        return {
            "newest_run_id": self.newest_run_id,
            "first_run_id": self.first_run_id,
            "status": "PASS" if self.ok else "FAIL",
            "snapshots": self.snapshots,
            "records": self.records,
            "problems": [finding.as_json() for finding in self.problems],
        }


def inspect_chain(
    workspace: Workspace,
    newest_log_folder: Path,
    *,
    schemas: SchemaCatalog | None = None,
    strict_derivation: bool = False,
) -> ChainReport:
    """Walk the chain back from `newest_log_folder` to the first log; every link's first problem.

    `strict_derivation`: the records each log appended must name that log's own folder as their
    derivation_run_id (true of every log `registry build` seals; a log sealed under another id
    than its records name lost a race and is reported DERIVATION_MISMATCH)."""
    catalog = schemas or SchemaCatalog.for_workspace(workspace.root)
    problems: list[DeltaFinding] = []
    if not has_valid_seal(newest_log_folder, catalog):
        problems.append(_seal_invalid(newest_log_folder.name, None))
    snapshots = 1
    current = newest_log_folder
    seen = {current.name}
    for finding, older in _links(workspace, current, catalog, strict_derivation):
        if finding is not None:
            problems.append(finding)
        if older is None or older.name in seen:
            break
        seen.add(older.name)
        snapshots += 1
        current = older
    return ChainReport(
        newest_log_folder.name,
        current.name,
        snapshots,
        count_lines(newest_log_folder / LOG_ARTIFACT),
        tuple(problems),
    )


def verify_chain(
    workspace: Workspace, newest_log_folder: Path, *, schemas: SchemaCatalog | None = None
) -> ChainReport:
    """`inspect_chain`, raising DeltaChainError listing every problem when the chain is broken."""
    report = inspect_chain(workspace, newest_log_folder, schemas=schemas)
    if not report.ok:
        raise DeltaChainError(str(newest_log_folder), report.problems)
    return report


StateCache = dict[str, tuple[DeltaFinding | None, LogState | None]]
"""state_problem per folder name: a folder is the newer side of one link, the older of the next."""


def _links(
    workspace: Workspace, newest: Path, schemas: SchemaCatalog, strict: bool = False
) -> Iterator[tuple[DeltaFinding | None, Path | None]]:
    """Per link, newest first: its first problem (or None) and the older folder to walk to."""
    newer = newest
    seen = {newest.name}
    states: StateCache = {}
    while True:
        link = previous_input(newer)
        if isinstance(link, DeltaFinding):
            yield link, None
            return
        if link is None:  # the first log: its records extend nothing
            yield _first_log_problem(newer, states, strict), None
            return
        run_id, root = link
        if run_id in seen:
            message = f"the chain loops back to {run_id}"
            yield _finding(DeltaCode.CHAIN_INPUT_INVALID, message, newer.name, run_id), None
            return
        seen.add(run_id)
        finding, older = link_problem(workspace, newer, run_id, root, schemas)
        if finding is None and older is not None:
            finding = _records_problem(newer, older, states, strict)
        yield finding, older
        if older is None:
            return
        newer = older


def _state(folder: Path, states: StateCache) -> tuple[DeltaFinding | None, LogState | None]:
    if folder.name not in states:
        states[folder.name] = state_problem(folder)
    return states[folder.name]


def _first_log_problem(
    folder: Path, states: StateCache, strict: bool = False
) -> DeltaFinding | None:
    problem, _ = _state(folder, states)
    return problem or _tail_problem(folder, None, 0, strict=strict)


def _records_problem(
    newer: Path, older: Path, states: StateCache, strict: bool = False
) -> DeltaFinding | None:
    """Both logs' states, then the newer log's appended records against the older state."""
    problem, _ = _state(newer, states)
    older_problem, older_state = _state(older, states)
    if problem or older_problem:
        return problem or older_problem
    size = (older / LOG_ARTIFACT).stat().st_size
    return _tail_problem(newer, older_state, size, previous_run_id=older.name, strict=strict)


def _tail_problem(
    folder: Path,
    state: LogState | None,
    offset: int,
    previous_run_id: str | None = None,
    strict: bool = False,
) -> DeltaFinding | None:
    """The first problem of the records after `offset`, which extend `state`."""
    with (folder / LOG_ARTIFACT).open("rb") as stream:
        stream.seek(offset)
        first = (state.records if state else 0) + 1
        findings = check_records(
            stream,
            first_line=first,
            state=state,
            derivation_run_id=folder.name if strict else None,
            path=f"{folder.name}/{LOG_ARTIFACT}",
        )
    if not findings:
        return None
    return replace(findings[0], run_id=folder.name, previous_run_id=previous_run_id)


def _seal_invalid(run_id: str, previous_run_id: str | None) -> DeltaFinding:
    message = "the log snapshot does not validate"
    return _finding(DeltaCode.SEAL_INVALID, message, run_id, previous_run_id)


def _finding(code: DeltaCode, message: str, run_id: str, previous: str | None) -> DeltaFinding:
    return DeltaFinding(code=code, message=message, run_id=run_id, previous_run_id=previous)


def newest_valid_log(
    workspace: Workspace, schemas: SchemaCatalog, *, strict_derivation: bool = False
) -> Snapshot | None:
    """The newest log snapshot usable as a baseline: it validates, its state agrees with its JSONL,
    and it extends its own predecessor append-only (a build that dropped or altered a record, or
    appended a broken one, is never used)."""
    for snapshot in reversed(list_snapshots(workspace, LOG_REGISTRY_ID)):
        if _usable(workspace, snapshot.path, schemas, strict_derivation):
            return snapshot
    return None


def _usable(
    workspace: Workspace, folder: Path, schemas: SchemaCatalog, strict: bool = False
) -> bool:
    if not has_valid_seal(folder, schemas):
        return False
    link = previous_input(folder)
    if isinstance(link, DeltaFinding):
        return False
    states: StateCache = {}
    if link is None:
        return _first_log_problem(folder, states, strict) is None
    finding, older = link_problem(workspace, folder, link[0], link[1], schemas)
    return (
        finding is None
        and older is not None
        and not _records_problem(folder, older, states, strict)
    )
