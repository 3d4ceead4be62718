"""Parsing one delta log line into a DeltaRecord: the seed's shape plus the record's own rules."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from registry_pipeline.core.delta_log._errors import DeltaLogError
from registry_pipeline.core.delta_log._model import (
    COUNT_KEYS,
    DELTA_VERSION,
    MANIFEST_DIFF,
    RECORD_KEYS,
    REF_KEYS,
    UNKNOWN,
    DeltaBasis,
    DeltaRecord,
    SealedLogRef,
)
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

_HEX64 = re.compile(r"[a-f0-9]{64}", re.ASCII)
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


class _Reader:
    """Raises DeltaLogError naming the line and the field (a JSON pointer) at the first problem."""

    def __init__(self, line: int | None, path: str | None) -> None:
        self.line = line
        self.path = path

    def fail(self, field: str, message: str) -> NoReturn:
        raise DeltaLogError(message, path=self.path, field=field or "/", line=self.line)

    def keys(self, value: object, keys: tuple[str, ...], field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"must be an object, found {type(value).__name__}")
        missing = [key for key in keys if key not in value]
        if missing:
            self.fail(f"{field}/{missing[0]}", "required field is missing")
        extra = sorted(set(value) - set(keys))
        if extra:
            self.fail(f"{field}/{extra[0]}", "unexpected field (the schema forbids extra fields)")
        return value

    def string(self, value: object, field: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str):
            self.fail(field, f"must be a string, found {type(value).__name__}")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(field, f"{value[:80]!r} does not match {pattern.pattern}")
        return value

    def ref(self, value: object, field: str) -> SealedLogRef:
        row = self.keys(value, REF_KEYS, field)
        relpath = row["relpath"]
        if relpath is not None and not isinstance(relpath, str):
            self.fail(f"{field}/relpath", "must be a string or null")
        return SealedLogRef(
            self.string(row["run_id"], f"{field}/run_id"),
            self.string(row["run_root"], f"{field}/run_root"),
            relpath,
            self.string(row["manifest_sha256"], f"{field}/manifest_sha256", _HEX64),
        )

    def paths(self, value: object, field: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(field, f"must be an array, found {type(value).__name__}")
        items = tuple(self.string(item, f"{field}/{i}") for i, item in enumerate(value))
        if list(items) != sorted(set(items)):
            self.fail(field, "must be sorted and without duplicates")
        return items

    def counts(self, value: object, lengths: dict[str, int]) -> None:
        row = self.keys(value, COUNT_KEYS, "/counts")
        for key in COUNT_KEYS:
            count = row[key]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.fail(f"/counts/{key}", "must be a non-negative integer")
            if count != lengths[key]:
                self.fail(f"/counts/{key}", f"is {count} but {key}_paths has {lengths[key]}")


def parse_record(
    line: bytes | str, *, line_number: int | None = None, path: str | None = None
) -> DeltaRecord:
    """The record on one JSONL line (trailing newline optional); DeltaLogError names the field."""
    reader = _Reader(line_number, path)
    try:
        document = loads_strict(line)
    except JSONDecodeProblem as exc:
        reader.fail("/", f"not strict JSON: {exc}")
    return record_from_json(document, reader)


def record_from_json(document: object, reader: _Reader | None = None) -> DeltaRecord:
    """A DeltaRecord from an already parsed line object."""
    read = reader or _Reader(None, None)
    row = read.keys(document, RECORD_KEYS, "")
    if row["delta_version"] != DELTA_VERSION:
        read.fail("/delta_version", f"must be {DELTA_VERSION!r}, found {row['delta_version']!r}")
    basis = row["delta_basis"]
    if basis not in (MANIFEST_DIFF, UNKNOWN):
        read.fail("/delta_basis", f"must be manifest_diff or unknown, found {basis!r}")
    from_ref = None if row["from_ref"] is None else read.ref(row["from_ref"], "/from_ref")
    added = read.paths(row["added_paths"], "/added_paths")
    removed = read.paths(row["removed_paths"], "/removed_paths")
    modified = read.paths(row["modified_paths"], "/modified_paths")
    read.counts(
        row["counts"], {"added": len(added), "removed": len(removed), "modified": len(modified)}
    )
    if basis == UNKNOWN and (added or removed or modified):
        read.fail("/delta_basis", "an unknown delta must list no paths (never a guess)")
    if from_ref is None and (removed or modified):
        read.fail("/from_ref", "a bootstrap record (from_ref null) can only add paths")
    return DeltaRecord(
        registry_id=_nonempty(read, row["registry_id"], "/registry_id"),
        from_ref=from_ref,
        to_ref=read.ref(row["to_ref"], "/to_ref"),
        delta_basis=_basis(basis),
        added_paths=added,
        removed_paths=removed,
        modified_paths=modified,
        created_utc=read.string(row["created_utc"], "/created_utc", _CREATED),
        derivation_run_id=_nonempty(read, row["derivation_run_id"], "/derivation_run_id"),
    )


def _nonempty(reader: _Reader, value: object, field: str) -> str:
    text = reader.string(value, field)
    if not text:
        reader.fail(field, "must not be empty")
    return text


def _basis(value: str) -> DeltaBasis:
    return MANIFEST_DIFF if value == MANIFEST_DIFF else UNKNOWN


def is_valid_record(instance: object) -> bool:
    """Whether a parsed line is a valid record: a quick check that implies schema validity.

    The record's rules are stricter than the schema (sorted paths, counts that match, ASCII
    digits), so True here means the seed's and our schema accept it.
    """
    try:
        record_from_json(instance)
    except DeltaLogError:
        return False
    return True


def describe_record(raw: bytes) -> str:
    """`registry_id -> to_ref run_id` of a record line, or a short quote when it does not parse
    (what a prefix break names)."""
    from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
    from registry_pipeline.core.jsonl import quote

    try:
        document = loads_strict(raw)
        to_run = document["to_ref"]["run_id"]
        return f"{document['registry_id']} -> {to_run}"
    except (JSONDecodeProblem, KeyError, TypeError):
        return quote(raw)
