"""The previous snapshot a build may reuse: its verdicts by run_key and its v0.1 lines."""

from __future__ import annotations

import mmap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from registry_pipeline.core.builders.run_registry._model import (
    FAIL,
    PASS,
    SEAL_STATUS_ARTIFACT,
    UNSEALED,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.schemas import iter_jsonl


@dataclass(frozen=True, slots=True)
class PreviousStatus:
    """What the previous snapshot said about one folder."""

    status: str
    """PASS, FAIL or UNSEALED."""
    manifest_root_sha256: str | None
    """The root the verdict applies to."""
    tampered: bool
    """Whether it was already found tampered."""
    index: int = -1
    """Its position (0-based) among the previous snapshot's lines; -1 when unknown."""
    nested_files: tuple[Any, ...] | None = None
    """Its files below the top level as the companion listed them; None when that companion
    predates the field (the folder is then listed again)."""


Buffer = bytes | mmap.mmap
"""The previous v0.1 file: bytes, or a read-only map of the file (not copied into memory)."""


class PreviousLines:
    """The lines of the previous `RUN_REGISTRY_v0_1.jsonl`, by position, without parsing them.

    Holds the buffer and one offset per line (8 bytes each); a line is sliced out on demand.
    """

    def __init__(self, data: Buffer) -> None:
        """Index the newline-terminated lines of `data`."""
        self._data = data
        starts = [0]
        position = data.find(b"\n")
        while position >= 0:
            starts.append(position + 1)
            position = data.find(b"\n", position + 1)
        self._starts = starts

    def __len__(self) -> int:
        return len(self._starts) - 1

    def line(self, index: int) -> bytes | None:
        """Line `index` (0-based) with its newline, or None when there is no such line."""
        if not 0 <= index < len(self):
            return None
        return bytes(self._data[self._starts[index] : self._starts[index + 1]])


@dataclass(frozen=True)
class PreviousSnapshot:
    """The previous companion file, keyed by run_key, and optionally its v0.1 lines."""

    records: Mapping[str, PreviousStatus]
    """Verdict per run_key."""
    lines: PreviousLines | None = None
    """The previous v0.1 lines, paired with `records` by position; None when not given or when
    they do not pair up (then every folder is listed again)."""

    def get(self, run_key: str) -> PreviousStatus | None:
        """The previous verdict on `run_key`, if it was indexed."""
        return self.records.get(run_key)

    def registry_line(self, prior: PreviousStatus) -> bytes | None:
        """The previous v0.1 line of the folder `prior` describes, when it is known."""
        return self.lines.line(prior.index) if self.lines is not None else None


def load_previous(status_jsonl: bytes, registry_jsonl: Buffer | None = None) -> PreviousSnapshot:
    """Parse a previous companion file; a malformed one is a usage error naming the line.

    `registry_jsonl`, the previous v0.1 file, enables the cheap reuse path; it is ignored
    (every folder is listed again) when its line count differs from the companion's.
    """
    records: dict[str, PreviousStatus] = {}
    try:
        for number, row in iter_jsonl(status_jsonl):
            run_key, entry = _previous_entry(number, row, len(records))
            if run_key in records:
                _bad_previous(f"line {number}: run_key {run_key!r} appears twice")
            records[run_key] = entry
    except JSONDecodeProblem as exc:
        _bad_previous(str(exc))
    lines = PreviousLines(registry_jsonl) if registry_jsonl is not None else None
    if lines is not None and len(lines) != len(records):
        lines = None
    return PreviousSnapshot(records, lines)


def _previous_entry(number: int, row: object, index: int) -> tuple[str, PreviousStatus]:
    if not isinstance(row, dict):
        _bad_previous(f"line {number}: not an object")
    run_key, status, root = row.get("run_key"), row.get("status"), row.get("manifest_root_sha256")
    tampered = row.get("tampered", False)
    nested = row.get("nested_files")
    if (
        not isinstance(run_key, str)
        or status not in (PASS, FAIL, UNSEALED)
        or not (root is None or isinstance(root, str))
        or not isinstance(tampered, bool)
        or not (nested is None or isinstance(nested, list))
    ):
        _bad_previous(f"line {number}: needs run_key, status, manifest_root_sha256, tampered")
    files = tuple(nested) if nested is not None else None
    return run_key, PreviousStatus(str(status), root, tampered, index, files)


def _bad_previous(message: str) -> NoReturn:
    raise UsageError(
        f"previous seal-status snapshot is malformed: {message}",
        code="PREVIOUS_SNAPSHOT_INVALID",
        path=SEAL_STATUS_ARTIFACT,
    )
