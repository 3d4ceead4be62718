"""The delta log's records and state companion; an unusable one raises its code (RECORD_INVALID,
LOG_STATE_INVALID, ...) naming the line and field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.fs import read_regular
from registry_pipeline.core.json_strict import (
    JSONDecodeProblem,
    dumps_compact,
    dumps_pretty,
    loads_strict,
)
from registry_pipeline.core.jsonl import Lines, TornTail, ends_cleanly, quote
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.manifest import RUN_JSON
from registry_pipeline.core.workspace.layout import RUNS_RELPATH
from registry_pipeline.core.workspace.snapshots import Snapshot

PREVIOUS_LOG = "the one the newer log's run.json records"
"""What a previous log snapshot's ROOT_SHA256 must match (ROOT_MISMATCH)."""


DELTA_VERSION = "0.1"
LOG_REGISTRY_ID = "registry_delta_log"
LOG_ARTIFACT = "REGISTRY_DELTA_LOG_v0_1.jsonl"
STATE_ARTIFACT = "REGISTRY_DELTA_LOG_STATE_v0_2.json"
MANIFEST_DIFF: Literal["manifest_diff"] = "manifest_diff"
UNKNOWN: Literal["unknown"] = "unknown"
DeltaBasis = Literal["manifest_diff", "unknown"]
"""`manifest_diff`: both manifests validate and were compared; `unknown`: never a guess."""

RECORD_KEYS = (
    "delta_version",
    "registry_id",
    "from_ref",
    "to_ref",
    "delta_basis",
    "added_paths",
    "removed_paths",
    "modified_paths",
    "counts",
    "created_utc",
    "derivation_run_id",
)
"""The record's keys in the seed's order (its sealed example log)."""
REF_KEYS = ("run_id", "run_root", "relpath", "manifest_sha256")
COUNT_KEYS = ("added", "removed", "modified")
TORN_TAIL = TornTail.REFUSE
"""A log snapshot is sealed, never appended in place: a torn one is refused (RECORD_INVALID, the
delta log's code for a line it cannot use) and the next build extends an earlier one."""


@dataclass(frozen=True, slots=True)
class DeltaRecord:
    """What changed in one registry between two sealed snapshots (or at its first one)."""

    registry_id: str
    """The registry tracked."""
    from_ref: SealedRef | None
    """The previous snapshot; None for the bootstrap record of a registry."""
    to_ref: SealedRef
    """The snapshot this record reaches."""
    delta_basis: DeltaBasis
    """`manifest_diff`, or `unknown` (then every path list is empty and every count 0)."""
    added_paths: tuple[str, ...]
    """Listed in to_ref's manifest.json only, sorted."""
    removed_paths: tuple[str, ...]
    """Listed in from_ref's manifest.json only, sorted."""
    modified_paths: tuple[str, ...]
    """Listed in both with a different sha256, sorted."""
    created_utc: str
    """to_ref's run.json created_utc as `YYYY-MM-DDTHH:MM:SSZ` (deterministic, not the clock)."""
    derivation_run_id: str
    """The run id of the delta-log build that appended this record."""
    delta_version: str = DELTA_VERSION
    """Always "0.1"."""

    @property
    def counts(self) -> dict[str, int]:
        """`{added, removed, modified}`: the lengths of the three path lists."""
        return {key: len(getattr(self, f"{key}_paths")) for key in COUNT_KEYS}

    def as_json(self) -> dict[str, Any]:
        """The record object, keys in the seed's order (an update keeps a key's place)."""
        row = {key: getattr(self, key) for key in RECORD_KEYS}
        row.update({f"{key}_paths": list(row[f"{key}_paths"]) for key in COUNT_KEYS})
        row["from_ref"] = self.from_ref.as_json(with_registry=False) if self.from_ref else None
        row["to_ref"] = self.to_ref.as_json(with_registry=False)
        return row

    def line(self) -> bytes:
        """The JSONL line: compact UTF-8 JSON in the seed's key order, ending with a newline."""
        return (dumps_compact(self.as_json()) + "\n").encode("utf-8")

    def __str__(self) -> str:
        start = self.from_ref.run_id if self.from_ref else "(bootstrap)"
        return f"{self.registry_id}: {start} -> {self.to_ref.run_id} ({self.delta_basis})"


HEX64 = re.compile(r"[a-f0-9]{64}", re.ASCII)
"""A ROOT_SHA256 as a ref records it."""
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Raises its `code` naming the line and field (JSON pointer) of the first problem."""

    line: int | None
    path: str | None
    code: str = "RECORD_INVALID"

    def fail(self, field: str, message: str) -> NoReturn:
        raise RegistryError.of(self.code, path=self.path, field=field or "/", line=self.line,
                               reason=message)  # fmt: skip

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

    def ref(self, value: object, field: str, registry_id: object) -> SealedRef:
        """The ref at `field` of a record of `registry_id` (checked on its own)."""
        row = self.keys(value, REF_KEYS, field)
        relpath = row["relpath"]
        if relpath is not None and not isinstance(relpath, str):
            self.fail(f"{field}/relpath", "must be a string or null")
        return SealedRef(  # checked in the seed's key order: the first problem is named
            registry_id=registry_id if isinstance(registry_id, str) else "",
            run_id=self.string(row["run_id"], f"{field}/run_id"),
            run_root=self.string(row["run_root"], f"{field}/run_root"),
            relpath=relpath,
            manifest_sha256=self.string(row["manifest_sha256"], f"{field}/manifest_sha256", HEX64),
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
            if not _count(count, 0):
                self.fail(f"/counts/{key}", "must be a non-negative integer")
            if count != lengths[key]:
                self.fail(f"/counts/{key}", f"is {count} but {key}_paths has {lengths[key]}")


def _count(value: object, least: int) -> bool:
    """Whether `value` is an integer (not a bool) of at least `least`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def parse_record(
    line: bytes | str, *, line_number: int | None = None, path: str | None = None
) -> DeltaRecord:
    """The record on one JSONL line (newline optional), by rules stricter than the seed's schema
    and ours; RECORD_INVALID names the field."""
    read = _Reader(line_number, path)
    try:
        document = loads_strict(line)
    except JSONDecodeProblem as exc:
        read.fail("/", f"not strict JSON: {exc}")
    row = read.keys(document, RECORD_KEYS, "")
    if row["delta_version"] != DELTA_VERSION:
        read.fail("/delta_version", f"must be {DELTA_VERSION!r}, found {row['delta_version']!r}")
    basis = row["delta_basis"]
    if basis not in (MANIFEST_DIFF, UNKNOWN):
        read.fail("/delta_basis", f"must be manifest_diff or unknown, found {basis!r}")
    from_ref = (
        None
        if row["from_ref"] is None
        else read.ref(row["from_ref"], "/from_ref", row["registry_id"])
    )
    added = read.paths(row["added_paths"], "/added_paths")
    removed = read.paths(row["removed_paths"], "/removed_paths")
    modified = read.paths(row["modified_paths"], "/modified_paths")
    read.counts(row["counts"], {key: len(row[f"{key}_paths"]) for key in COUNT_KEYS})
    if basis == UNKNOWN and (added or removed or modified):
        read.fail("/delta_basis", "an unknown delta must list no paths (never a guess)")
    if from_ref is None and (removed or modified):
        read.fail("/from_ref", "a bootstrap record (from_ref null) can only add paths")
    return DeltaRecord(
        registry_id=_nonempty(read, row["registry_id"], "/registry_id"),
        from_ref=from_ref,
        to_ref=read.ref(row["to_ref"], "/to_ref", row["registry_id"]),
        delta_basis=MANIFEST_DIFF if basis == MANIFEST_DIFF else UNKNOWN,
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


def describe_record(raw: bytes) -> str:
    """`registry_id -> to_ref run_id` of a record line (a short quote when it does not parse)."""
    try:
        document = loads_strict(raw)
        to_run = document["to_ref"]["run_id"]
        return f"{document['registry_id']} -> {to_run}"
    except (JSONDecodeProblem, KeyError, TypeError):
        return quote(raw)


STATE_VERSION = "0.2"
STATE_KEYS = ("state_version", "records", "log_sha256", "registries")


@dataclass(frozen=True, slots=True)
class RegistryState:
    """Where one registry stands in the log."""

    records: int
    """How many records of this registry the log holds."""
    last_to_ref: SealedRef
    """The to_ref of its last record: the from_ref of its next one."""
    last_created_utc: str
    """The created_utc of its last record; with the run id, the order key of snapshots."""


@dataclass(frozen=True)
class LogState:
    """The state companion of one log snapshot."""

    records: int
    """Lines in the JSONL."""
    log_sha256: str
    """SHA-256 of the JSONL bytes."""
    registries: Mapping[str, RegistryState]
    """Per registry id."""

    def render(self) -> bytes:
        """The companion file: pretty JSON, registries in id order (deterministic bytes)."""
        document = {
            "state_version": STATE_VERSION,
            "records": self.records,
            "log_sha256": self.log_sha256,
            "registries": {
                registry_id: {
                    "records": entry.records,
                    "last_to_ref": entry.last_to_ref.as_json(with_registry=False),
                    "last_created_utc": entry.last_created_utc,
                }
                for registry_id, entry in sorted(self.registries.items())
            },
        }
        return dumps_pretty(document, sort_keys=False)


EMPTY_STATE = LogState(0, sha256_bytes(b""), {})


def parse_state(data: bytes, path: str | None = None) -> LogState:
    """The state in a companion file; LOG_STATE_INVALID naming the field when it is malformed."""
    read = _Reader(None, path, "LOG_STATE_INVALID")
    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        read.fail("/", f"not strict JSON: {exc}")
    if not isinstance(document, dict) or set(document) != set(STATE_KEYS):
        read.fail("/", "must be an object of state_version, records, log_sha256, registries")
    if document["state_version"] != STATE_VERSION:
        read.fail("/state_version", f"must be {STATE_VERSION!r}")
    records = document["records"]
    if not _count(records, 0):
        read.fail("/records", "must be a non-negative integer")
    if not isinstance(document["log_sha256"], str) or len(document["log_sha256"]) != 64:
        read.fail("/log_sha256", "must be 64 hex digits")
    if not isinstance(document["registries"], dict):
        read.fail("/registries", "must be an object")
    registries: dict[str, RegistryState] = {}
    for registry_id, entry in document["registries"].items():
        registries[registry_id] = _registry_state(registry_id, entry, read)
    return LogState(records, document["log_sha256"], registries)


def _registry_state(registry_id: str, entry: Any, read: _Reader) -> RegistryState:
    """One registry's entry, its ref and timestamp checked by the rules of a record's."""
    field = f"/registries/{registry_id}"
    if not isinstance(entry, dict) or set(entry) != {"records", "last_to_ref", "last_created_utc"}:
        read.fail(field, "must be an object of records, last_to_ref, last_created_utc")
    count = entry["records"]
    if not _count(count, 1):
        read.fail(f"{field}/records", "must be a positive integer")
    _nonempty(read, registry_id, f"{field}/registry_id")
    ref = read.ref(entry["last_to_ref"], f"{field}/last_to_ref", registry_id)
    created = read.string(entry["last_created_utc"], f"{field}/last_created_utc", _CREATED)
    return RegistryState(count, ref, created)


def state_from_log(jsonl: bytes, path: str | None = None) -> LogState:
    """Recompute the state by parsing every record: a one-off to adopt a log that has none."""
    registries: dict[str, RegistryState] = {}
    lines, number = Lines(jsonl, TORN_TAIL, path=path), 0
    try:
        for number, line in lines:
            record = parse_record(line, line_number=number, path=path)
            before = registries.get(record.registry_id)
            count = before.records + 1 if before else 1
            registries[record.registry_id] = RegistryState(count, record.to_ref, record.created_utc)
    except RegistryError as exc:
        if lines.torn_at is None:
            raise
        raise RegistryError.of("RECORD_INVALID", path=path, field="/", line=lines.torn_at,
                               reason=exc.message) from None  # fmt: skip
    return LogState(number, sha256_bytes(jsonl), registries)


@dataclass(frozen=True)
class PreviousLog:
    """The sealed log snapshot a build appends to."""

    path: Path
    """Its run folder."""
    run_id: str
    """Its run id (the folder's name)."""
    root_sha256: str
    """Its ROOT_SHA256: the next build's run.json records it as an input."""
    jsonl: bytes
    """The JSONL bytes, copied unchanged into the next snapshot."""
    state: LogState
    """Its state companion, checked against the JSONL."""

    def ref(self) -> SealedRef:
        """The `run.json` input naming this snapshot: the link of the chain."""
        return SealedRef(LOG_REGISTRY_ID, self.run_id, self.root_sha256, RUNS_RELPATH, LOG_ARTIFACT)


def load_previous_log(snapshot: Snapshot) -> PreviousLog:
    """Read a log snapshot's JSONL and state; LOG_STATE_MISMATCH unless they agree."""
    where = str(snapshot.path)
    if snapshot.root_sha256 is None:
        raise RegistryError.of("SEAL_INVALID", path=where, reason="it has no ROOT_SHA256")
    jsonl = _read_log(snapshot.path)
    try:
        state = read_state(snapshot.path, jsonl)
    except OSError as exc:
        message = f"cannot read {STATE_ARTIFACT}: {exc.strerror or exc}"
        raise RegistryError.of("LOG_STATE_INVALID", path=where, reason=message) from None
    digest, torn = sha256_bytes(jsonl), not ends_cleanly(jsonl)
    mismatch = state_mismatch(state, digest, jsonl.count(b"\n"), torn=torn)
    if mismatch is not None:
        raise RegistryError.of("LOG_STATE_MISMATCH", path=where, reason=mismatch)
    return PreviousLog(snapshot.path, snapshot.run_id, snapshot.root_sha256, jsonl, state)


def read_state(folder: Path, jsonl: bytes | None = None) -> LogState:
    """A log snapshot's state companion, recomputed for an origin without one; OSError raises."""
    try:
        data = read_regular(folder / STATE_ARTIFACT)
    except FileNotFoundError:
        return origin_state(folder, jsonl)
    return parse_state(data, f"{folder}/{STATE_ARTIFACT}")


def state_mismatch(state: LogState, digest: str, lines: int, *, torn: bool) -> str | None:
    """Every way `state` fails to describe the JSONL, joined; None when it does."""
    problems = []
    if digest != state.log_sha256:
        problems.append(f"log_sha256 is {state.log_sha256} but the JSONL hashes to {digest}")
    if torn:
        problems.append("the JSONL's last line has no newline")
    if lines != state.records:
        problems.append(f"records is {state.records} but the JSONL has {lines} lines")
    if sum(entry.records for entry in state.registries.values()) != state.records:
        problems.append("the per-registry record counts do not add up to records")
    return "; ".join(problems) or None


def previous_input(folder: Path) -> tuple[str, str] | Problem | None:
    """(run_id, manifest_sha256) of the previous log in run.json `inputs`; None for the first."""

    def bad(reason: str) -> Problem:
        return Problem.of("CHAIN_INPUT_INVALID", path=RUN_JSON, reason=reason, run_id=folder.name)

    try:
        envelope = loads_strict(read_regular(folder / RUN_JSON))
    except (OSError, JSONDecodeProblem) as exc:
        return bad(f"cannot read run.json: {exc}")
    inputs = envelope.get("inputs") if isinstance(envelope, dict) else None
    if not isinstance(inputs, list):
        return None
    links = [i for i in inputs if isinstance(i, dict) and i.get("registry_id") == LOG_REGISTRY_ID]
    if not links:
        return None
    if len(links) > 1:
        return bad(f"{len(links)} inputs name a {LOG_REGISTRY_ID} snapshot; a log has one parent")
    run_id, root = links[0].get("run_id"), links[0].get("manifest_sha256")
    if not isinstance(run_id, str) or not isinstance(root, str):
        return bad(f"the {LOG_REGISTRY_ID} input lacks a run_id or manifest_sha256")
    return run_id, root


def origin_state(folder: Path, jsonl: bytes | None = None) -> LogState:
    """A chain origin's state from its records; LOG_STATE_MISSING if it names a previous log."""
    where = str(folder)
    if previous_input(folder) is not None:
        raise RegistryError.of("LOG_STATE_MISSING", path=where, artifact=STATE_ARTIFACT)
    data = _read_log(folder) if jsonl is None else jsonl
    return state_from_log(data, f"{where}/{LOG_ARTIFACT}")  # empty: EMPTY_STATE


def _read_log(folder: Path) -> bytes:
    """The JSONL bytes of a log snapshot; SEAL_INVALID when they cannot be read."""
    try:
        return read_regular(folder / LOG_ARTIFACT)
    except OSError as exc:
        message = f"cannot read {LOG_ARTIFACT}: {exc.strerror or exc}"
        raise RegistryError.of("SEAL_INVALID", path=folder, reason=message) from None
