"""The delta log's checks: one build's append-only, and the chain of log snapshots."""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from registry_pipeline.core.delta_log.build import previous_folder
from registry_pipeline.core.delta_log.records import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    PREVIOUS_LOG,
    STATE_ARTIFACT,
    TORN_TAIL,
    LogState,
    PreviousLog,
    describe_record,
    parse_record,
    previous_input,
    read_state,
    state_mismatch,
)
from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.fs import open_file
from registry_pipeline.core.jsonl import CHUNK, bytes_break, first_break, torn
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import is_valid_run_folder
from registry_pipeline.core.workspace.catalog import catalog_or_none
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import (
    Snapshot,
    list_snapshots,
    read_snapshot,
    split_snapshots,
)


def future_findings(workspace: Workspace) -> list[Problem]:
    """FUTURE_DATED for each covered registry's (or the log's) run folder dated in the future."""
    dated = functools.partial(Problem.of, "FUTURE_DATED")
    return [
        dated(
            path=f"{RUNS_RELPATH}/{snapshot.run_id}",
            reason=f"{registry_id}: {why}",
            run_id=snapshot.run_id,
        )
        for registry_id in _watched(workspace)
        for snapshot, why in split_snapshots(workspace, registry_id)[1]
    ]


def _watched(workspace: Workspace) -> list[str]:
    """The registries the log covers (per the catalog), and the log itself."""
    catalog = catalog_or_none(workspace)
    if catalog is None:
        return [LOG_REGISTRY_ID]
    covered = [s.registry_id for s in catalog.registries if s.delta_log.covered]
    return [*[r for r in covered if r != LOG_REGISTRY_ID], LOG_REGISTRY_ID]


def link_problem(
    workspace: Workspace, newer: Path, run_id: str, root: str, schemas: SchemaCatalog
) -> tuple[Problem | None, Path | None]:
    """The first problem of the link newer -> run_id, and the older folder when it exists."""
    finding = partial(Problem.of, run_id=newer.name, previous_run_id=run_id)

    older = previous_folder(workspace.runs_dir, run_id)
    if older is None:
        return finding("MISSING_SNAPSHOT", expected=run_id), None
    found = read_snapshot(older, LOG_REGISTRY_ID).root_sha256
    if found != root:
        return finding("ROOT_MISMATCH", against=PREVIOUS_LOG, expected=root, found=found), older
    if not is_valid_run_folder(older, schemas=schemas):
        return finding("SEAL_INVALID", reason="the previous log snapshot does not validate"), older
    try:
        with open_file(older / LOG_ARTIFACT) as old, open_file(newer / LOG_ARTIFACT) as new:
            broken = first_break(old, new)
    except OSError as exc:
        return finding("PREFIX_VIOLATION", reason=f"cannot read a log: {exc}"), older
    if broken is not None:
        path, said = f"{newer.name}/{LOG_ARTIFACT}", broken.describe(describe_record)
        return finding("PREFIX_VIOLATION", path=path, line=broken.line, reason=said), older
    return None, older


def state_problem(folder: Path) -> tuple[Problem | None, LogState | None]:
    """The folder's state companion, checked against its JSONL read in chunks."""
    where = f"{folder.name}/{STATE_ARTIFACT}"

    def finding(code: str, reason: str, **more: Any) -> tuple[Problem, None]:
        return Problem.of(code, path=where, reason=reason, run_id=folder.name, **more), None

    try:
        state = read_state(folder)
    except OSError as exc:  # the companion's
        return finding("LOG_STATE_INVALID", f"cannot read: {exc.strerror or exc}")
    except RegistryError as exc:  # a malformed companion (its field told), an origin's records
        if exc.code == "LOG_STATE_INVALID":
            return finding(exc.code, f"{exc.field}: {exc.message}")
        at = f"{folder.name}/{LOG_ARTIFACT}" if exc.line else where
        return Problem(code=exc.code, path=at, message=exc.message, line=exc.line,
                       field=exc.field, run_id=folder.name), None  # fmt: skip
    try:
        digest, lines, torn = _hash_and_count(folder / LOG_ARTIFACT)
    except OSError as exc:
        return finding("LOG_STATE_MISMATCH", f"cannot read the log: {exc}")
    mismatch = state_mismatch(state, digest, lines, torn=torn)
    if mismatch is not None:
        return finding("LOG_STATE_MISMATCH", mismatch)
    return None, state


def _hash_and_count(path: Path) -> tuple[str, int, bool]:
    """The file's SHA-256, its line count and whether its last line lacks a newline."""
    digest = hashlib.sha256()
    lines, last = 0, b"\n"
    with open_file(path) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), lines, last != b"\n"


def check_append_only(
    new_jsonl: bytes,
    previous: PreviousLog | None,
    *,
    derivation_run_id: str | None = None,
    path: str = LOG_ARTIFACT,
) -> list[Problem]:
    """Every way `new_jsonl` fails to extend `previous` by valid, chained records ([] = holds)."""
    base = previous.jsonl if previous else b""
    broken = bytes_break(base, new_jsonl)
    if broken is not None:
        said, record = broken.describe(describe_record), broken.record[:240]
        before = previous.run_id if previous else None
        return [
            Problem.of(
                "PREFIX_VIOLATION",
                path=path,
                line=broken.line,
                reason=said,
                previous_run_id=before,
                expected=record.decode("utf-8", "replace"),
            )
        ]
    tail = io.BytesIO(new_jsonl[len(base) :])
    state = previous.state if previous else None
    first = base.count(b"\n") + 1
    return check_records(
        tail, first_line=first, state=state, derivation_run_id=derivation_run_id, path=path
    )


def check_records(
    lines: Iterable[bytes],
    *,
    first_line: int,
    state: LogState | None,
    derivation_run_id: str | None = None,
    path: str = LOG_ARTIFACT,
) -> list[Problem]:
    """Check appended lines (each with its newline) against the log `state` they extend."""
    findings: list[Problem] = []
    registries = state.registries if state is not None else {}
    last = {rid: (entry.last_to_ref, entry.last_created_utc) for rid, entry in registries.items()}
    seen: set[tuple[str, str]] = {(ref.run_root, ref.run_id) for ref, _ in last.values()}
    for number, raw in enumerate(lines, start=first_line):
        at = partial(Problem.of, path=path, line=number)
        if not raw.endswith(b"\n"):
            reason = torn(path, number, TORN_TAIL).message
            findings.append(at("RECORD_INVALID", field="/", reason=reason))
        try:
            record = parse_record(raw, line_number=number, path=path)
        except RegistryError as exc:  # RECORD_INVALID, its only refusal
            findings.append(at("RECORD_INVALID", field=exc.field, reason=exc.message))
            continue
        registry_id, to_run_id = record.registry_id, record.to_ref.run_id
        before = last.get(registry_id)
        expected = before[0] if before else None
        if record.from_ref != expected:
            first = "" if before else " (null: its first record)"
            findings.append(at("FROM_MISMATCH", field="/from_ref", registry_id=registry_id,
                               first=first, expected=_shown(expected),
                               found=_shown(record.from_ref)))  # fmt: skip
        key = (record.to_ref.run_root, to_run_id)
        if key in seen:
            findings.append(at("DUPLICATE_SNAPSHOT", field="/to_ref", to_run_id=to_run_id,
                               found=to_run_id))  # fmt: skip
        elif before and (record.created_utc, to_run_id) < (before[1], before[0].run_id):
            findings.append(at("OUT_OF_ORDER", field="/to_ref", registry_id=registry_id,
                               to_run_id=to_run_id, previous=before[0].run_id))  # fmt: skip
        if derivation_run_id is not None and record.derivation_run_id != derivation_run_id:
            named = record.derivation_run_id
            findings.append(at("DERIVATION_MISMATCH", field="/derivation_run_id",
                               expected=derivation_run_id, found=named))  # fmt: skip
        seen.add(key)
        last[registry_id] = (record.to_ref, record.created_utc)
    return findings


def _shown(ref: SealedRef | None) -> str:
    """A ref as a FROM_MISMATCH names it (the record names the registry): `run_id sha256:...`."""
    return f"{ref.run_id} sha256:{ref.manifest_sha256}" if ref else "null"


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
    problems: tuple[Problem, ...]
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
    """Walk the chain back from `newest_log_folder` to the first log; every link's first problem."""
    catalog = schemas or SchemaCatalog.for_workspace(workspace.root)
    problems: list[Problem] = []
    if not is_valid_run_folder(newest_log_folder, schemas=catalog):
        problems.append(Problem.of("SEAL_INVALID", reason="the log snapshot does not validate",
                                   run_id=newest_log_folder.name))  # fmt: skip
    snapshots = 1
    current = newest_log_folder
    for finding, older in _links(workspace, current, catalog, strict_derivation):  # loop-free
        if finding is not None:
            problems.append(finding)
        if older is not None:
            snapshots += 1
            current = older
    try:  # newlines, read in chunks (0 when the log cannot be read)
        records = _hash_and_count(newest_log_folder / LOG_ARTIFACT)[1]
    except OSError:
        records = 0
    return ChainReport(newest_log_folder.name, current.name, snapshots, records, tuple(problems))


def _links(
    workspace: Workspace, newest: Path, schemas: SchemaCatalog, strict: bool = False
) -> Iterator[tuple[Problem | None, Path | None]]:
    """Per link, newest first: its first problem (or None) and the older folder to walk to."""
    newer = newest
    seen = {newest.name}
    # a folder is the newer side of one link and the older of the next: its state is read once
    state = functools.cache(state_problem)
    while True:
        link = previous_input(newer)
        if isinstance(link, Problem):
            yield link, None
            return
        if link is None:  # the first log: its records extend nothing
            yield state(newer)[0] or _tail_problem(newer, None, 0, strict=strict), None
            return
        run_id, root = link
        if run_id in seen:
            yield Problem.of("CHAIN_INPUT_INVALID", reason=f"the chain loops back to {run_id}",
                             run_id=newer.name, previous_run_id=run_id), None  # fmt: skip
            return
        seen.add(run_id)
        finding, older = link_problem(workspace, newer, run_id, root, schemas)
        if finding is None and older is not None:  # both states, then the appended records
            finding = state(newer)[0] or state(older)[0]
            if finding is None:
                size = (older / LOG_ARTIFACT).stat().st_size
                finding = _tail_problem(newer, state(older)[1], size, older.name, strict)
        yield finding, older
        if older is None:
            return
        newer = older


def _tail_problem(
    folder: Path,
    state: LogState | None,
    offset: int,
    previous_run_id: str | None = None,
    strict: bool = False,
) -> Problem | None:
    """The first problem of the records after `offset`, which extend `state`."""
    with open_file(folder / LOG_ARTIFACT) as stream:
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


def newest_valid_log(
    workspace: Workspace, schemas: SchemaCatalog, *, strict_derivation: bool = False
) -> Snapshot | None:
    """The newest log snapshot usable as a baseline: valid, state agrees, extends its last."""
    for snapshot in reversed(list_snapshots(workspace, LOG_REGISTRY_ID)):
        if is_valid_run_folder(snapshot.path, schemas=schemas) and (
            next(_links(workspace, snapshot.path, schemas, strict_derivation))[0] is None
        ):
            return snapshot
    return None
