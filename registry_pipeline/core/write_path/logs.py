"""The write path's two append-only logs: overrides (`--no-check` writes despite errors) and
notes (findings of `record` severity). One JSON object per line, appended under the write lock
with fsync; a torn last line is refused, never built upon."""

from __future__ import annotations

import getpass
import json
import os
import socket
from pathlib import Path
from typing import Any

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.run_id import now_utc

OVERRIDES_RELPATH = "registries/WRITE_OVERRIDES_v0_1.jsonl"
NOTES_RELPATH = "registries/WRITE_NOTES_v0_1.jsonl"


def actor() -> str:
    """Who writes: `REGISTRY_ACTOR` when set, else user@host."""
    explicit = os.environ.get("REGISTRY_ACTOR", "").strip()
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def check_appendable(path: Path) -> None:
    """LOG_TORN when the log's last line is incomplete (checked before a write it would record)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            if size:
                log.seek(size - 1)
                if log.read(1) != b"\n":
                    raise _torn(path)
    except FileNotFoundError:
        return


def _torn(path: Path) -> RegistryError:
    return RegistryError(
        "the log's last line is incomplete (an interrupted append?): look at it, then "
        "complete or remove that line by hand; nothing was written",
        code="LOG_TORN",
        path=str(path),
    )


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a line, fsynced; LOG_TORN when the log's last line is incomplete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            raise _torn(path)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a log (none when it does not exist); LOG_TORN / LOG_INVALID naming the
    line when one does not parse."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RegistryError(
            f"cannot read: {exc.strerror}", code="LOG_UNREADABLE", path=str(path)
        ) from None
    records = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = loads_strict(line)
        except JSONDecodeProblem as exc:
            torn = number == len(lines)
            raise RegistryError(
                f"line {number}: {exc}",
                code="LOG_TORN" if torn else "LOG_INVALID",
                path=str(path),
            ) from None
        if isinstance(record, dict):
            records.append(record)
    return records


def stamp() -> str:
    """Now, UTC, in seconds (`2026-11-22T10:00:00Z`)."""
    return now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
