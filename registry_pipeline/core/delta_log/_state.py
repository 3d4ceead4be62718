"""The log's state companion and the previous log a build appends to (read without its records).

`REGISTRY_DELTA_LOG_STATE_v0_2.json` is sealed beside the JSONL in every log snapshot. It holds
what the next build needs (per registry: its record count and last to_ref) and the SHA-256 of the
JSONL it describes, so a build costs the new snapshots only: old records are copied, never parsed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.delta_log._errors import DeltaCode, DeltaFinding, DeltaLogError
from registry_pipeline.core.delta_log._model import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    STATE_ARTIFACT,
    SealedLogRef,
)
from registry_pipeline.core.delta_log._parse import parse_record, record_from_json
from registry_pipeline.core.json_strict import JSONDecodeProblem, dumps_pretty, loads_strict
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.manifest import RUN_JSON
from registry_pipeline.core.workspace.layout import RUNS_RELPATH
from registry_pipeline.core.workspace.snapshots import Snapshot

STATE_VERSION = "0.2"


@dataclass(frozen=True, slots=True)
class RegistryState:
    """Where one registry stands in the log."""

    records: int
    """How many records of this registry the log holds."""
    last_to_ref: SealedLogRef
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
                    "last_to_ref": entry.last_to_ref.as_json(),
                    "last_created_utc": entry.last_created_utc,
                }
                for registry_id, entry in sorted(self.registries.items())
            },
        }
        return dumps_pretty(document, sort_keys=False)


EMPTY_STATE = LogState(0, hashlib.sha256(b"").hexdigest(), {})


def parse_state(data: bytes, path: str | None = None) -> LogState:
    """The state in a companion file; LOG_STATE_INVALID naming the field when it is malformed."""

    def bad(field: str, message: str) -> DeltaLogError:
        code = DeltaCode.LOG_STATE_INVALID
        return DeltaLogError(message, code=code, path=path, field=field)

    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        raise bad("/", f"not strict JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != {
        "state_version",
        "records",
        "log_sha256",
        "registries",
    }:
        raise bad("/", "must be an object of state_version, records, log_sha256, registries")
    if document["state_version"] != STATE_VERSION:
        raise bad("/state_version", f"must be {STATE_VERSION!r}")
    records = document["records"]
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise bad("/records", "must be a non-negative integer")
    if not isinstance(document["log_sha256"], str) or len(document["log_sha256"]) != 64:
        raise bad("/log_sha256", "must be 64 hex digits")
    if not isinstance(document["registries"], dict):
        raise bad("/registries", "must be an object")
    registries: dict[str, RegistryState] = {}
    for registry_id, entry in document["registries"].items():
        registries[registry_id] = _registry_state(registry_id, entry, bad)
    return LogState(records, document["log_sha256"], registries)


def _registry_state(
    registry_id: str, entry: Any, bad: Callable[[str, str], DeltaLogError]
) -> RegistryState:
    field = f"/registries/{registry_id}"
    if not isinstance(entry, dict) or set(entry) != {"records", "last_to_ref", "last_created_utc"}:
        raise bad(field, "must be an object of records, last_to_ref, last_created_utc")
    count = entry["records"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad(f"{field}/records", "must be a positive integer")
    # the last record's own rules check the ref and the timestamp: reuse them on a stand-in
    probe = {
        "delta_version": "0.1",
        "registry_id": registry_id,
        "from_ref": None,
        "to_ref": entry["last_to_ref"],
        "delta_basis": "unknown",
        "added_paths": [],
        "removed_paths": [],
        "modified_paths": [],
        "counts": {"added": 0, "removed": 0, "modified": 0},
        "created_utc": entry["last_created_utc"],
        "derivation_run_id": "-",
    }
    try:
        record = record_from_json(probe)
    except DeltaLogError as exc:
        pointer = (exc.field or "").replace("/to_ref", "/last_to_ref")
        pointer = pointer.replace("/created_utc", "/last_created_utc")
        raise bad(f"{field}{pointer}", exc.message) from None
    return RegistryState(count, record.to_ref, record.created_utc)


def state_from_log(jsonl: bytes, path: str | None = None) -> LogState:
    """Recompute the state by parsing every record: a one-off to adopt a log that has none."""
    registries: dict[str, RegistryState] = {}
    lines = jsonl.split(b"\n")
    if lines[-1] != b"":
        raise DeltaLogError("the last line has no newline", path=path, field="/", line=len(lines))
    for number, line in enumerate(lines[:-1], start=1):
        record = parse_record(line, line_number=number, path=path)
        before = registries.get(record.registry_id)
        count = before.records + 1 if before else 1
        registries[record.registry_id] = RegistryState(count, record.to_ref, record.created_utc)
    return LogState(len(lines) - 1, hashlib.sha256(jsonl).hexdigest(), registries)


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
    """Read a log snapshot's JSONL and state and check they agree (LOG_STATE_MISMATCH if not).

    A chain origin without a state file (the seed system's logs) gets one recomputed from its
    records (`origin_state`): the only path that parses old records.
    """
    where = str(snapshot.path)
    if snapshot.root_sha256 is None:
        raise DeltaLogError("has no ROOT_SHA256", code=DeltaCode.SEAL_INVALID, path=where)
    try:
        jsonl = (snapshot.path / LOG_ARTIFACT).read_bytes()
    except OSError as exc:
        raise DeltaLogError(
            f"cannot read {LOG_ARTIFACT}: {exc.strerror or exc}",
            code=DeltaCode.SEAL_INVALID,
            path=where,
        ) from None
    try:
        state_bytes: bytes | None = (snapshot.path / STATE_ARTIFACT).read_bytes()
    except FileNotFoundError:
        state_bytes = None
    except OSError as exc:
        message = f"cannot read {STATE_ARTIFACT}: {exc.strerror or exc}"
        raise DeltaLogError(message, code=DeltaCode.LOG_STATE_INVALID, path=where) from None
    if state_bytes is None:
        state = origin_state(snapshot.path, jsonl)
    else:
        state = parse_state(state_bytes, f"{where}/{STATE_ARTIFACT}")
    check_state(state, jsonl, where)
    return PreviousLog(snapshot.path, snapshot.run_id, snapshot.root_sha256, jsonl, state)


def previous_input(folder: Path) -> tuple[str, str] | DeltaFinding | None:
    """(run_id, manifest_sha256) of the previous log named in run.json `inputs`; None for the first.

    An envelope whose `inputs` is not a list (the seed system's) names no previous log.
    """

    def bad(message: str) -> DeltaFinding:
        return DeltaFinding(
            code=DeltaCode.CHAIN_INPUT_INVALID, path=RUN_JSON, message=message, run_id=folder.name
        )

    try:
        envelope = loads_strict((folder / RUN_JSON).read_bytes())
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
    """The state of a log snapshot sealed without a companion, recomputed from its records.

    Only a chain origin may lack one: a log that names no previous log, as the seed system's
    builder writes them (it rewrites the whole log in each folder, with no state). A log that
    names a previous log (or whose run.json cannot be read) raises LOG_STATE_MISSING.
    """
    where = str(folder)
    if previous_input(folder) is not None:
        message = f"no {STATE_ARTIFACT}: a log that extends another must be sealed with its state"
        raise DeltaLogError(message, code=DeltaCode.LOG_STATE_MISSING, path=where)
    if jsonl is None:
        try:
            jsonl = (folder / LOG_ARTIFACT).read_bytes()
        except OSError as exc:
            message = f"cannot read {LOG_ARTIFACT}: {exc.strerror or exc}"
            raise DeltaLogError(message, code=DeltaCode.SEAL_INVALID, path=where) from None
    if not jsonl:
        return EMPTY_STATE
    return state_from_log(jsonl, f"{where}/{LOG_ARTIFACT}")


def check_state(state: LogState, jsonl: bytes, where: str) -> None:
    """Raise LOG_STATE_MISMATCH unless the state describes exactly these JSONL bytes."""
    problems = []
    digest = hashlib.sha256(jsonl).hexdigest()
    if digest != state.log_sha256:
        problems.append(f"log_sha256 is {state.log_sha256} but the JSONL hashes to {digest}")
    if jsonl and not jsonl.endswith(b"\n"):
        problems.append("the JSONL's last line has no newline")
    lines = jsonl.count(b"\n")
    if lines != state.records:
        problems.append(f"records is {state.records} but the JSONL has {lines} lines")
    if sum(entry.records for entry in state.registries.values()) != state.records:
        problems.append("the per-registry record counts do not add up to records")
    if problems:
        raise DeltaLogError("; ".join(problems), code=DeltaCode.LOG_STATE_MISMATCH, path=where)
