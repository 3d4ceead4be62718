"""The write path's two JSONL logs, overrides and notes, appended before the file is replaced."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import DISK_FAULTS, RegistryError, io_error
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import NotRegularFile, write_atomic
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.workspace.catalog import WRITE_OVERRIDES_RELPATH

OVERRIDES_RELPATH = WRITE_OVERRIDES_RELPATH
NOTES_RELPATH = "registries/WRITE_NOTES_v0_1.jsonl"
TORN_TAIL = jsonl.TornTail.REFUSE
"""Both logs: each line is someone's decision, so a torn one is theirs to complete or remove."""


ACTOR_ENV = "REGISTRY_ACTOR"
MAX_ACTOR = 200
"""Characters of a `REGISTRY_ACTOR`: it is written into every log line and journal record."""


def actor() -> str:
    """Who writes, in every log and the journal: `REGISTRY_ACTOR`, else user@host (or BAD_ACTOR)."""
    explicit = os.environ.get(ACTOR_ENV, "").strip()
    if explicit:
        if len(explicit) > MAX_ACTOR or not explicit.isprintable():
            shown = f"{explicit[:40]!r}{'...' if len(explicit) > 40 else ''}"
            raise RegistryError.of("BAD_ACTOR", field=ACTOR_ENV, most=MAX_ACTOR, given=shown)
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def check_appendable(path: Path, *, sealed: bool = False) -> None:
    """LOG_TORN when the last line is incomplete; `sealed` (a build seals it): LOG_INVALID too."""
    try:
        clean = jsonl.ends_cleanly(path)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    if not clean:
        raise jsonl.torn(path, policy=TORN_TAIL)
    if sealed:  # read whole: a record after a line the build refuses would never be sealed
        read_records(path)


def _unwritable(path: Path, exc: OSError | str) -> RegistryError:
    why = exc if isinstance(exc, str) else exc.strerror or str(exc)
    return RegistryError.of("LOG_UNWRITABLE", path=path, reason=why)


def append_record(path: Path, record: dict[str, Any]) -> int:
    """Append one record, fsynced; the log's size before it. LOG_TORN, LOG_UNWRITABLE."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return jsonl.append(path, [line], torn_tail=TORN_TAIL)
    except NotRegularFile:
        raise _unwritable(path, "not a regular file") from None
    except OSError as exc:
        if exc.errno in DISK_FAULTS:  # the disk's fault, not the log's
            raise io_error(exc, path) from None
        raise _unwritable(path, exc) from None


def write_audited(
    path: Path, data: bytes, records: Sequence[tuple[Path, dict[str, Any]]], *, revocable: Path
) -> None:
    """Append each (log, record) fsynced, then replace `path`; `revocable`: the overrides log."""
    for log in dict.fromkeys(log for log, _record in records):
        check_appendable(log, sealed=log == revocable)
    appended: list[tuple[Path, int]] = []
    try:
        for log, record in records:
            appended.append((log, append_record(log, record)))
    except RegistryError as exc:
        kept = _take_back(appended, revocable)
        message = exc.message.removesuffix("; nothing was written")
        raise RegistryError(f"{message}; nothing was written{kept}", code=exc.code,
                            path=exc.path) from None  # fmt: skip
    crash_point("audit_recorded")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        if _holds(path, data):
            why = exc.strerror or exc
            raise RegistryError.of("WRITE_UNCONFIRMED", path=path, reason=why) from None
        kept = _take_back(appended, revocable)
        cause = OSError(exc.errno, exc.strerror or str(exc))  # the file, not its temporary name
        raise io_error(cause, path, done=f"nothing was written{kept}") from None
    crash_point("entry_written")


def _take_back(appended: list[tuple[Path, int]], revocable: Path) -> str:
    """Take the records appended to `revocable` back (newest first); what stays, said."""
    taken = [jsonl.take_back(log, size) for log, size in reversed(appended) if log == revocable]
    if all(taken):
        return ""
    return f" (but its record in {revocable} could not be taken back: it records no change)"


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a log (none when there is none); LOG_TORN, LOG_INVALID, LOG_UNREADABLE."""
    lines = (line for _n, line in jsonl.Lines(path, TORN_TAIL))
    try:
        return [record for _n, record in jsonl_records(lines) if isinstance(record, dict)]
    except FileNotFoundError:
        return []
    except OSError as exc:  # a FIFO, a device: refused, never waited on
        raise RegistryError.of("LOG_UNREADABLE", path=path, reason=exc.strerror) from None
    except JSONDecodeProblem as exc:
        at = f"line {exc.line}: "  # `line N: JSON_INVALID: ...`
        message = exc.message.replace(at, f"{at}{exc.code}: ", 1)
        raise RegistryError.of("LOG_INVALID", path=path, line=exc.line, reason=message) from None
