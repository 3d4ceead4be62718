"""The run registry builder: one record per run folder with its seal verdict, v0.1 and v0.2."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from registry_pipeline.core import jsonl
from registry_pipeline.core.builders.model import BuildInputs, BuildResult
from registry_pipeline.core.errors import Hint, RegistryError
from registry_pipeline.core.fs import file_stamp
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.hashing import jsonl_records
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256
from registry_pipeline.core.seal.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.seal.paths import printable, relpath_problem, sort_key
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder, passed_unchanged
from registry_pipeline.core.seal.verdicts import (
    CONVERTED,
    FAIL,
    PASS,
    UNSEALED,
    VERDICTS,
    line_endings_explain,
    tally,
)
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.snapshots import (
    FUTURE_DATED,
    Snapshot,
    folder_verdict,
    manifest_root,
)

REGISTRY_ARTIFACT = "RUN_REGISTRY_v0_1.jsonl"
SEAL_STATUS_ARTIFACT = "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"
HASHED, REUSED, NONE = "hashed", "reused", "none"


@dataclass(frozen=True)
class RunRoot:
    """A folder whose direct subfolders are run folders."""

    label: str
    """Workspace-relative POSIX path, e.g. `.codex/RUNS`: the `run_root` of its records."""
    path: Path


def dumps_line(line: Mapping[str, Any]) -> bytes:
    """One compact ASCII JSON line in the mapping's key order, as the seed's builder writes it."""
    text = json.dumps(line, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class PreviousStatus:
    """What the previous snapshot said about one folder."""

    status: str
    """PASS, FAIL or UNSEALED."""
    manifest_root_sha256: str | None
    tampered: bool
    index: int = -1
    """Its position (0-based) among the previous snapshot's lines; -1 when unknown."""
    nested_files: tuple[Any, ...] | None = None
    """None when the companion predates the field (the folder is then listed again)."""


@dataclass(frozen=True)
class PreviousSnapshot:
    """The previous companion file, keyed by run_key, and optionally its v0.1 lines."""

    records: Mapping[str, PreviousStatus]
    """Verdict per run_key."""
    lines: Sequence[bytes] | None = None
    """The previous v0.1 lines, paired with `records` by position; None when they do not pair up."""


def load_previous(status_jsonl: bytes, registry_jsonl: bytes | None = None) -> PreviousSnapshot:
    """Parse a previous companion file (malformed: usage error) and the v0.1 file if it pairs."""
    records: dict[str, PreviousStatus] = {}
    try:
        for number, row in jsonl_records(line for _n, line in jsonl.Lines(status_jsonl)):
            run_key, entry = _previous_entry(number, row, len(records))
            if run_key in records:
                _bad_previous(f"line {number}: run_key {run_key!r} appears twice")
            records[run_key] = entry
    except JSONDecodeProblem as exc:
        _bad_previous(str(exc))
    if registry_jsonl is None:
        return PreviousSnapshot(records)
    complete = jsonl.Lines(registry_jsonl, jsonl.TornTail.REPAIR)  # a torn last line: skipped
    lines = [line + b"\n" for _n, line in complete]
    return PreviousSnapshot(records, lines if len(lines) == len(records) else None)


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


def _bad_previous(reason: str) -> NoReturn:
    raise RegistryError.of("PREVIOUS_SNAPSHOT_INVALID", path=SEAL_STATUS_ARTIFACT, reason=reason)


_ENVELOPE_FIELDS = ("created_utc", "run_type", "option", "operation_id", "git_commit")
_TREE_STATES = frozenset({"clean", "dirty"})


@dataclass
class _Scan:
    """The regular files of one folder, and what could not be read."""

    files: list[tuple[str, int]] = field(default_factory=list)
    """Every regular file (relpath, size), in relpath byte order."""
    top_level: set[str] = field(default_factory=set)
    """The regular files at the top of the folder: the seed's `files`."""
    warnings: list[str] = field(default_factory=list)
    unreadable: bool = False


def _scan(folder: Path) -> _Scan:
    """Walk `folder` without following symlinks; an unreadable subfolder becomes a warning."""
    scan = _Scan()
    stack = [("", str(folder))]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    relpath = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((relpath + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        scan.files.append((relpath, entry.stat(follow_symlinks=False).st_size))
                        if not prefix:
                            scan.top_level.add(relpath)
        except OSError:
            if not prefix:
                scan.unreadable = True
                return scan
            scan.warnings.append(f"scan:UNREADABLE:{printable(prefix.rstrip('/'))}")
    scan.files.sort(key=lambda item: sort_key(item[0]))
    return scan


def _envelope(folder: Path, scan: _Scan) -> tuple[dict[str, Any], list[str]]:
    """The v0.1 fields from run.json (null unless it parses strictly) and the seed's warnings."""
    fields: dict[str, Any] = dict.fromkeys((*_ENVELOPE_FIELDS, "working_tree_state"))
    missing = [
        f"missing {name}"
        for name in (MANIFEST_SHA256, MANIFEST_JSON)
        if name not in scan.top_level and not scan.unreadable
    ]
    if RUN_JSON_NAME not in scan.top_level:
        return fields, ([] if scan.unreadable else [f"missing {RUN_JSON_NAME}"]) + missing
    try:
        raw = (folder / RUN_JSON_NAME).read_bytes()
        data = loads_strict(raw)
    except OSError as exc:
        return fields, [f"Failed to parse {RUN_JSON_NAME}: {exc.strerror or exc}", *missing]
    except JSONDecodeProblem as exc:
        return fields, [f"Failed to parse {RUN_JSON_NAME}: {_parse_reason(raw, exc)}", *missing]
    if not isinstance(data, dict):
        return fields, [f"{RUN_JSON_NAME} top-level is not an object", *missing]
    if not isinstance(data.get("created_utc"), str):
        data = {**data, "created_utc": data.get("created_at")}
    for name in _ENVELOPE_FIELDS:
        value = data.get(name)
        fields[name] = value if isinstance(value, str) and value else None
    state = data.get("working_tree_state")
    fields["working_tree_state"] = state if state in _TREE_STATES else None
    return fields, missing


def _parse_reason(raw: bytes, problem: JSONDecodeProblem) -> str:
    """Why run.json does not parse, in the seed's words when Python's decoder refuses it too."""
    try:
        json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return str(exc)
    return str(problem)


MAX_PROBLEMS = 50
"""Problems listed per folder (in the companion and in `warnings`); the count says how many."""
LINE_ENDINGS_CONVERTED = Hint.LINE_ENDINGS_CONVERTED.value
"""The diagnosis of a folder whose every bad file matches its seal once line endings convert."""
INTEGRITY_CODES = frozenset({
    "MISSING_REQUIRED_FILE", "MALFORMED_MANIFEST", "MANIFEST_DISAGREES", "DUPLICATE_ENTRY",
    "HASH_MISMATCH", "SIZE_MISMATCH", "MISSING_FILE", "UNLISTED_FILE", "ROOT_MISMATCH",
    "UNSAFE_PATH", "NOT_A_REGULAR_FILE", "RUN_ID_MISMATCH", "NOT_A_RUN_FOLDER",
})  # fmt: skip
"""The seal contract's codes that mean the bytes changed (docs/SEAL_CONTRACT.md section 7): a
schema change (SCHEMA_VIOLATION, JSON_INVALID, RUN_JSON_INVALID) or an unreadable folder is not
tampering."""


SEAL_FILES = frozenset({RUN_JSON_NAME, MANIFEST_JSON, MANIFEST_SHA256})
"""One of them makes a folder a (damaged) run folder, checked in full (SEAL_CONTRACT)."""


def _verdict(
    folder: Path,
    scan: _Scan,
    root: str | None,
    prior: PreviousStatus | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> dict[str, Any]:
    """The companion fields (without run_key): reuse, unsealed, or a full verification."""
    if scan.unreadable:
        return _status(root, [("UNREADABLE", None)], NONE, prior)
    sealed_before = prior is not None and prior.status != UNSEALED
    if not sealed_before and not scan.top_level & SEAL_FILES:  # any one: a run folder
        return _status(None, [], NONE, None, unsealed=True)
    if not full_audit and _reusable_root(str(folder), prior, schemas) is not None:
        return _status(root, [], REUSED, None)
    try:
        report = inspect_run_folder(folder, schemas=schemas)
    except RegistryError as exc:
        return _status(root, [(exc.code, None)], HASHED, prior)
    verdict, dated = folder_verdict(report)
    problems = [(str(p.code), p.path) for p in (*report.problems, *verdict.problems)]
    if dated:
        problems.append((FUTURE_DATED, None))
    status = _status(root, problems, HASHED, prior, verdict=verdict.status)
    if line_endings_explain(report.problems):
        status["diagnosis"] = LINE_ENDINGS_CONVERTED
    return status


def _reusable_root(folder: str, prior: PreviousStatus | None, schemas: SchemaCatalog) -> str | None:
    """The folder's root when its previous PASS may be kept unverified, else None."""
    if prior is None or prior.status != PASS or prior.manifest_root_sha256 is None:
        return None
    for seal_file in SEAL_FILES:
        try:
            if not stat.S_ISREG(os.lstat(os.path.join(folder, seal_file)).st_mode):
                return None
        except OSError:
            return None
    root = manifest_root(folder, well_formed=True)
    if root != prior.manifest_root_sha256 or not passed_unchanged(folder, schemas):
        return None
    return root


def _status(
    root: str | None,
    problems: list[tuple[str, str | None]],
    verification: str,
    prior: PreviousStatus | None,
    unsealed: bool = False,
    verdict: str | None = None,
) -> dict[str, Any]:
    """The companion line; `verdict`: the folder's one verdict, else its status."""
    distinct = sorted(set(problems), key=lambda p: (sort_key(p[1] or ""), p[0]))
    status = UNSEALED if unsealed else FAIL if distinct else PASS
    integrity = any(code in INTEGRITY_CODES for code, _path in distinct)
    tampered = (
        status == FAIL
        and prior is not None
        and ((prior.status == PASS and integrity) or prior.tampered)
    )
    return {
        "manifest_root_sha256": root,
        "status": status,
        "verdict": verdict or status,
        "problems": [{"code": code, "path": path} for code, path in distinct[:MAX_PROBLEMS]],
        "problem_count": len(distinct),
        "verification": verification,
        "tampered": tampered,
    }


def _seal_warnings(status: Mapping[str, Any]) -> list[str]:
    """The verdict as warnings: `seal:<VERDICT>`, then `seal:<VERDICT>:<code>[:<path>]`."""
    verdict = status.get("verdict")
    if not isinstance(verdict, str):
        converted = status.get("diagnosis") == LINE_ENDINGS_CONVERTED
        verdict = CONVERTED if converted else str(status["status"])
    warnings = [f"seal:{verdict}"]
    for problem in status["problems"]:
        where = "" if problem["path"] is None else f":{problem['path']}"
        warnings.append(f"seal:{verdict}:{problem['code']}{where}")
    hidden = status["problem_count"] - len(status["problems"])
    if hidden > 0:
        warnings.append(f"seal:{verdict}:TRUNCATED:{hidden}")
    if status["tampered"]:
        warnings.append("seal:TAMPERED")
    if "diagnosis" in status:
        warnings.append(f"seal:DIAGNOSIS:{status['diagnosis']}")
    return warnings


def _reuse_line(
    root: RunRoot, name: str, previous: PreviousSnapshot, schemas: SchemaCatalog
) -> tuple[bytes, str | None, dict[str, Any]] | None:
    """The previous v0.1 line, its created_utc and a `reused` verdict if it keeps its PASS."""
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    prior = previous.records.get(run_key)
    if prior is None or prior.nested_files is None or prior.manifest_root_sha256 is None:
        return None
    lines = previous.lines
    raw = lines[prior.index] if lines is not None and 0 <= prior.index < len(lines) else None
    head = dumps_line(_identity(root.label, run_id))[:-2] + b',"created_utc":'
    if raw is None or not _plain_passing_line(raw, head, prior.manifest_root_sha256):
        return None
    readable, created = _created_utc(raw, len(head))
    folder = os.path.join(root.path, name)  # str paths: pathlib costs more than the lstat
    if not readable or _reusable_root(folder, prior, schemas) is None:
        return None
    verdict = _status(prior.manifest_root_sha256, [], REUSED, None)
    return raw, created, {"run_key": run_key, **verdict, "nested_files": prior.nested_files}


def _identity(label: str, run_id: str) -> dict[str, str]:
    """The fields that open a folder's v0.1 line, up to `created_utc`."""
    return {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": label,
        "run_key": f"{label}::{run_id}",
        "run_path": f"{label}/{run_id}/",
    }


def _plain_passing_line(raw: bytes, head: bytes, root: str) -> bool:
    """Whether `raw` is byte for byte the v0.1 line this builder writes for a passing folder."""
    seal = (
        b',"has_run_json":true,"has_manifest_sha256":true,"has_manifest_json":true,'
        b'"manifest_root_sha256":"' + root.encode("ascii") + b'","files":'
    )
    return raw.startswith(head) and seal in raw and raw.endswith(_PASSING_TAIL) and raw.isascii()


def _created_utc(raw: bytes, start: int) -> tuple[bool, str | None]:
    """(readable, value): the created_utc value that starts at `raw[start:]`, null or a string."""
    try:
        value, _end = _DECODER.raw_decode(raw.decode("ascii"), start)
    except ValueError:
        return False, None
    return (True, value) if value is None or isinstance(value, str) else (False, None)


_DECODER = json.JSONDecoder()
_PASSING_TAIL = b',"warnings":[]}\n'


def build_run_registry(
    run_roots: Sequence[RunRoot],
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> BuildResult:
    """Both artifacts, every folder of every root in the seed's order, with a summary."""
    _check_labels(run_roots)
    stats = dict.fromkeys(("folders", "hashed", "reused", "failed", "tampered", "unsealed"), 0)
    warnings: list[str] = []
    rows: list[tuple[tuple[str, bool, str, str], bytes, bytes]] = []
    fast = previous is not None and previous.lines is not None and not full_audit
    for root in run_roots:
        for name in _folder_names(root, warnings):
            reused = _reuse_line(root, name, previous, schemas) if fast and previous else None
            if reused is not None:
                line, created_utc, verdict = reused
            else:
                fields, verdict = index_folder(
                    root, name, previous=previous, full_audit=full_audit, schemas=schemas
                )
                line, created_utc = dumps_line(fields), fields["created_utc"]
            # the seed builder's order: by run root, then dated records by `created_utc` (as
            # text) before undated ones, then by run id
            order = (root.label, created_utc is None, created_utc or "", printable(name))
            rows.append((order, line, dumps_line(verdict)))
            stats["folders"] += 1
            stats["hashed"] += verdict["verification"] == HASHED
            stats["reused"] += verdict["verification"] == REUSED
            stats["failed"] += verdict["status"] == FAIL
            stats["tampered"] += verdict["tampered"]
            stats["unsealed"] += verdict["status"] == UNSEALED
    rows.sort(key=lambda row: row[0])
    files = {
        REGISTRY_ARTIFACT: b"".join(line for _, line, _ in rows),
        SEAL_STATUS_ARTIFACT: b"".join(verdict for _, _, verdict in rows),
    }
    return BuildResult(files, stats["folders"], {**stats, "warnings": warnings})


def _check_labels(run_roots: Sequence[RunRoot]) -> None:
    seen: set[str] = set()
    for root in run_roots:
        reason = relpath_problem(root.label)
        if reason or root.label in seen:
            reason = reason or "is configured twice"
            raise RegistryError.of("BAD_RUN_ROOT", path=root.label, reason=reason)
        seen.add(root.label)


def _folder_names(root: RunRoot, warnings: list[str]) -> Iterator[str]:
    """Names of the run folders of `root` in byte order; problems with the root become warnings."""
    if not root.path.exists():
        warnings.append(f"root:MISSING:{root.label}")
        return
    names: list[str] = []
    try:
        with os.scandir(root.path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
                elif entry.is_symlink():
                    warnings.append(f"root:SYMLINK_SKIPPED:{root.label}/{printable(entry.name)}")
    except NotADirectoryError:
        warnings.append(f"root:NOT_A_DIRECTORY:{root.label}")
    except OSError:
        warnings.append(f"root:UNREADABLE:{root.label}")
    yield from sorted(names, key=sort_key)


def index_folder(
    root: RunRoot,
    name: str,
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Folder `name`'s v0.1 line and companion line; problems are findings, never exceptions."""
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    folder = root.path / name
    scan = _scan(folder)
    envelope, warnings = _envelope(folder, scan)
    claimed = manifest_root(folder, well_formed=True) if MANIFEST_SHA256 in scan.top_level else None
    prior = previous.records.get(run_key) if previous is not None else None
    status = _verdict(folder, scan, claimed, prior, full_audit, schemas)
    warnings.extend(scan.warnings)
    line = {
        **_identity(root.label, run_id),
        **envelope,
        "has_run_json": RUN_JSON_NAME in scan.top_level,
        "has_manifest_sha256": MANIFEST_SHA256 in scan.top_level,
        "has_manifest_json": MANIFEST_JSON in scan.top_level,
        "manifest_root_sha256": claimed,
        "files": _files(scan, top=True),
        "warnings": warnings,
    }
    return line, {"run_key": run_key, **status, "nested_files": _files(scan, top=False)}


def _files(scan: _Scan, *, top: bool) -> list[dict[str, Any]]:
    """The folder's files at its top (the seed's `files`) or, not `top`, in its subfolders."""
    found = [item for item in scan.files if (item[0] in scan.top_level) == top]
    return [{"relpath": printable(relpath), "bytes": size} for relpath, size in found]


def with_seal_warnings(
    lines: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    """The v0.1 lines with their companion verdicts appended to `warnings` as `seal:` strings."""
    if statuses is None:
        return list(lines)
    verdicts = {status.get("run_key"): status for status in statuses}
    joined: list[Mapping[str, Any]] = []
    for line in lines:
        status = verdicts.get(line.get("run_key"))
        if status is None:
            joined.append(line)
            continue
        warnings = line.get("warnings")
        own = list(warnings) if isinstance(warnings, list) else []
        joined.append({**line, "warnings": [*own, *_seal_warnings(status)]})
    return joined


def seal_status(warnings: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """(verdict, FAIL reasons) from a run registry line's warnings; verdict None when none."""
    verdict: str | None = None
    reasons: list[str] = []
    warnings = tuple(warnings)
    for warning in warnings:
        if not warning.startswith("seal:"):
            continue
        status, _, rest = warning[len("seal:") :].partition(":")
        if verdict is None and status in VERDICTS and not rest:
            verdict = status
        elif status == FAIL and rest:
            reasons.append(rest)
    if verdict is None and (reasons or tampered(warnings)):
        verdict = FAIL  # a line that names only its problems, or only that it was tampered with
    return verdict, tuple(reasons) if verdict == FAIL else ()


def tampered(warnings: Iterable[str]) -> bool:
    """Whether a run registry line says its folder changed after it was indexed as sealed."""
    return "seal:TAMPERED" in warnings


SEAL_STATUSES = (*VERDICTS, "unknown")
"""Run folders by verdict, each counted once; `unknown`: a line that records none."""


def seal_counts(lines: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Run folders per verdict as `registry validate` counts them, plus `unknown` and `TAMPERED`."""
    verdicts = [seal_status(line.get("warnings", ()))[0] for line in lines]
    counts = tally(verdict for verdict in verdicts if verdict is not None)
    return {
        **counts,
        "unknown": verdicts.count(None),
        "TAMPERED": sum(1 for line in lines if tampered(line.get("warnings", ()))),
    }


def build(inputs: BuildInputs) -> BuildResult:
    """The builder: every run folder of the catalog's run roots, reusing the previous verdicts."""
    previous = None
    status = inputs.previous.path / SEAL_STATUS_ARTIFACT if inputs.previous else None
    if status is not None and status.is_file():
        registry = status.with_name(REGISTRY_ARTIFACT)
        lines = registry.read_bytes() if registry.is_file() else None
        previous = load_previous(status.read_bytes(), lines)
    return build_run_registry(
        [
            RunRoot(root, inputs.workspace.root / root)
            for root in load_catalog(inputs.workspace).run_roots
        ],
        previous=previous,
        full_audit=inputs.full_audit,
        schemas=SchemaCatalog.for_workspace(inputs.workspace.root),
    )


@lru_cache(maxsize=4)
def _parsed(path: Path, _stamp: tuple[int, int, int, int] | None) -> list[Any]:
    """A parsed JSONL artifact cached by path and `file_stamp`; shared, so never mutate it."""
    return [record for _, record in jsonl_records(line for _n, line in jsonl.Lines(path))]


def run_lines(snapshot: Snapshot) -> list[Any]:
    """A run registry snapshot's v0.1 lines joined with their companion seal verdicts."""
    status, registry = snapshot.path / SEAL_STATUS_ARTIFACT, snapshot.path / REGISTRY_ARTIFACT
    statuses = _parsed(status, file_stamp(status)) if status.is_file() else None
    return with_seal_warnings(_parsed(registry, file_stamp(registry)), statuses)
