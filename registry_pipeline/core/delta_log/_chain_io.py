"""File-level checks of one chain link: run.json's chain input, root, seal, prefix and state."""

from __future__ import annotations

import hashlib
from pathlib import Path

from registry_pipeline.core.delta_log._diff import is_folder_name
from registry_pipeline.core.delta_log._errors import DeltaCode, DeltaFinding, DeltaLogError
from registry_pipeline.core.delta_log._model import LOG_ARTIFACT, LOG_REGISTRY_ID, STATE_ARTIFACT
from registry_pipeline.core.delta_log._parse import describe_record
from registry_pipeline.core.delta_log._state import (
    LogState,
    origin_state,
    parse_state,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.jsonl import CHUNK, first_break
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot


def has_valid_seal(folder: Path, schemas: SchemaCatalog) -> bool:
    """Whether the run folder validates (seal and schemas); unreadable folders do not."""
    try:
        return inspect_run_folder(folder, schemas=schemas).ok
    except UsageError:
        return False


def link_problem(
    workspace: Workspace, newer: Path, run_id: str, root: str, schemas: SchemaCatalog
) -> tuple[DeltaFinding | None, Path | None]:
    """The first problem of the link newer -> run_id, and the older folder when it exists."""

    def finding(
        code: DeltaCode,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> DeltaFinding:
        return DeltaFinding(
            code=code,
            message=message,
            run_id=newer.name,
            previous_run_id=run_id,
            path=path,
            line=line,
            expected=expected,
            found=found,
        )

    older = workspace.runs_dir / run_id if is_folder_name(run_id) else None
    if older is None or not older.is_dir():
        message = "the previous log snapshot is not in RUNS"
        return finding(DeltaCode.MISSING_SNAPSHOT, message, expected=run_id), None
    found = read_snapshot(older, LOG_REGISTRY_ID).root_sha256
    if found != root:
        message = "the previous log snapshot's ROOT_SHA256 is not the one recorded"
        return finding(DeltaCode.ROOT_MISMATCH, message, expected=root, found=found), older
    if not has_valid_seal(older, schemas):
        message = "the previous log snapshot does not validate"
        return finding(DeltaCode.SEAL_INVALID, message), older
    try:
        with (older / LOG_ARTIFACT).open("rb") as old, (newer / LOG_ARTIFACT).open("rb") as new:
            broken = first_break(old, new)
    except OSError as exc:
        return finding(DeltaCode.PREFIX_VIOLATION, f"cannot read a log: {exc}"), older
    if broken is not None:
        path = f"{newer.name}/{LOG_ARTIFACT}"
        message = broken.describe(describe_record)
        return finding(DeltaCode.PREFIX_VIOLATION, message, path=path, line=broken.line), older
    return None, older


def state_problem(folder: Path) -> tuple[DeltaFinding | None, LogState | None]:
    """The folder's state companion, checked against its JSONL read in chunks."""
    where = f"{folder.name}/{STATE_ARTIFACT}"

    def finding(code: DeltaCode, message: str) -> tuple[DeltaFinding, None]:
        return DeltaFinding(code=code, path=where, message=message, run_id=folder.name), None

    try:
        state = parse_state((folder / STATE_ARTIFACT).read_bytes(), where)
    except FileNotFoundError:
        try:
            return None, origin_state(folder)  # the seed system's logs carry none
        except DeltaLogError as exc:
            at = f"{folder.name}/{LOG_ARTIFACT}" if exc.line else where
            problem = DeltaFinding(code=exc.reason, path=at, message=exc.message, line=exc.line,
                                   field=exc.field, run_id=folder.name)  # fmt: skip
            return problem, None
    except OSError as exc:
        return finding(DeltaCode.LOG_STATE_INVALID, f"cannot read: {exc.strerror or exc}")
    except DeltaLogError as exc:
        return finding(DeltaCode.LOG_STATE_INVALID, f"{exc.field}: {exc.message}")
    try:
        digest, lines = _hash_and_count(folder / LOG_ARTIFACT)
    except OSError as exc:
        return finding(DeltaCode.LOG_STATE_MISMATCH, f"cannot read the log: {exc}")
    if digest != state.log_sha256 or lines != state.records:
        message = f"the state says {state.records} records, sha256 {state.log_sha256}; the log "
        return finding(DeltaCode.LOG_STATE_MISMATCH, message + f"has {lines}, sha256 {digest}")
    return None, state


def count_lines(path: Path) -> int:
    """Newlines in a file, read in chunks (0 when it cannot be read)."""
    try:
        return _hash_and_count(path)[1]
    except OSError:
        return 0


def _hash_and_count(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    lines = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines
