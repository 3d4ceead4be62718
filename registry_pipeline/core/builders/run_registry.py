"""The run registry builder: one record per folder under each run root, with its seal verdict.

Pure and deterministic: it reads the run roots and returns artifact bytes (no clock, no writes).
Output 1 is `RUN_REGISTRY_v0_1.jsonl`, the seed system's v0.1 line (our verdict goes into its
`warnings`); output 2 is the companion `RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl`. Run folders are
immutable, so a folder that passed in the previous snapshot with the same ROOT_SHA256 is not hashed
again; a full audit hashes everything and turns a once-passing folder that now fails into a finding.

The reuse path is cheap: given the previous `RUN_REGISTRY_v0_1.jsonl` too, a folder that passed
before costs three `lstat`s (its seal files are still regular files) and one small read (its
MANIFEST.sha256 ROOT line equals the previous root); its previous v0.1 line is then reused as it
was, without listing the folder or reading run.json. For an immutable folder that line is exactly
what indexing it again would write. Without the previous v0.1 file, or when its line for the
folder is not a plain passing line, the folder is listed and its line rebuilt (same verdict).

Decisions: a configured root that does not exist yields no records and a warning in the stats;
`files` lists every regular file recursively (the seed lists only top-level files); the seed's
`missing <file>` warnings are kept for its consumers.
"""

from __future__ import annotations

import json
import mmap
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import ReasonCode, RegistryError, UsageError
from registry_pipeline.core.manifest import HEX64, MANIFEST_JSON, MANIFEST_SHA256, ROOT_LABEL
from registry_pipeline.core.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.paths import printable, relpath_problem, sort_key
from registry_pipeline.core.schemas import SchemaCatalog, iter_jsonl
from registry_pipeline.core.validate import inspect_run_folder

__all__ = [
    "REGISTRY_ARTIFACT",
    "SEAL_STATUS_ARTIFACT",
    "FolderRecord",
    "PreviousLines",
    "PreviousSnapshot",
    "PreviousStatus",
    "RunRegistryResult",
    "RunRegistryStats",
    "RunRoot",
    "build_run_registry",
    "index_folder",
    "load_previous",
    "render_jsonl",
]

REGISTRY_ARTIFACT = "RUN_REGISTRY_v0_1.jsonl"
SEAL_STATUS_ARTIFACT = "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"
MAX_PROBLEMS = 50
"""Problems listed per folder (in the companion and in `warnings`); the count says how many."""
INTEGRITY_CODES = frozenset(ReasonCode) - {ReasonCode.SCHEMA_VIOLATION, ReasonCode.RUN_JSON_INVALID}
"""Codes that mean the bytes changed; a schema change or an unreadable folder is not tampering."""
PASS, FAIL, UNSEALED = "PASS", "FAIL", "UNSEALED"
HASHED, REUSED, NONE = "hashed", "reused", "none"
_ENVELOPE_FIELDS = ("created_utc", "run_type", "option", "operation_id", "git_commit")
_TREE_STATES = frozenset({"clean", "dirty"})


@dataclass(frozen=True)
class RunRoot:
    """A folder whose direct subfolders are run folders."""

    label: str
    """Workspace-relative POSIX path, e.g. `.codex/RUNS`: the `run_root` of its records."""
    path: Path
    """Where it is on disk."""


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


@dataclass(frozen=True)
class FolderRecord:
    """One folder's v0.1 line and its companion seal-status line (dicts in their field order)."""

    line: dict[str, Any]
    """The v0.1 registry line."""
    status: dict[str, Any]
    """The companion seal-status line."""


@dataclass(frozen=True)
class RunRegistryStats:
    """Counts for one build, plus warnings about the roots themselves (not an artifact)."""

    folders: int = 0
    hashed: int = 0
    reused: int = 0
    failed: int = 0
    tampered: int = 0
    unsealed: int = 0
    warnings: tuple[str, ...] = ()
    """e.g. `root:MISSING:reports/runs`."""

    def as_json(self) -> dict[str, object]:
        """The stats as a JSON-ready object (materialization metadata, `--json` output)."""
        return {
            "folders": self.folders,
            "hashed": self.hashed,
            "reused": self.reused,
            "failed": self.failed,
            "tampered": self.tampered,
            "unsealed": self.unsealed,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RunRegistryResult:
    """The two artifacts, byte for byte, and the build's stats."""

    registry_jsonl: bytes
    """`RUN_REGISTRY_v0_1.jsonl`."""
    seal_status_jsonl: bytes
    """`RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl`."""
    stats: RunRegistryStats

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Artifact name to bytes, ready for `seal_files`."""
        return {
            REGISTRY_ARTIFACT: self.registry_jsonl,
            SEAL_STATUS_ARTIFACT: self.seal_status_jsonl,
        }


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, status: dict[str, Any]) -> None:
        verdict, verification = status["status"], status["verification"]
        for name, hit in (
            ("folders", True),
            ("hashed", verification == HASHED),
            ("reused", verification == REUSED),
            ("failed", verdict == FAIL),
            ("tampered", status["tampered"]),
            ("unsealed", verdict == UNSEALED),
        ):
            self.counts[name] = self.counts.get(name, 0) + int(hit)

    def stats(self) -> RunRegistryStats:
        return RunRegistryStats(**self.counts, warnings=tuple(self.warnings))


def build_run_registry(
    run_roots: Sequence[RunRoot],
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> RunRegistryResult:
    """Index every folder of every root (roots in order, folders by name) into both artifacts."""
    _check_labels(run_roots)
    tally = _Tally()
    registry, status = bytearray(), bytearray()
    fast = previous is not None and previous.lines is not None and not full_audit
    for root in run_roots:
        for name in _folder_names(root, tally.warnings):
            reused = _reuse_line(root, name, previous) if fast and previous else None
            if reused is not None:
                line, verdict = reused
                registry += line
            else:
                record = index_folder(
                    root, name, previous=previous, full_audit=full_audit, schemas=schemas
                )
                registry += _dumps_line(record.line)
                verdict = record.status
            status += _dumps_line(verdict)
            tally.add(verdict)
    return RunRegistryResult(bytes(registry), bytes(status), tally.stats())


def _reuse_line(
    root: RunRoot, name: str, previous: PreviousSnapshot
) -> tuple[bytes, dict[str, Any]] | None:
    """The previous v0.1 line and a `reused` verdict, for a folder that passed with this root.

    None (index the folder) unless: it passed before, its seal files are still regular files,
    its ROOT line still says the previous root, and the previous line is a plain passing line
    for this very run_key and root. Never lists the folder nor reads run.json.
    """
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    prior = previous.get(run_key)
    if prior is None or prior.status != PASS or prior.manifest_root_sha256 is None:
        return None
    folder = os.path.join(root.path, name)  # str paths: pathlib costs more than the lstat
    for seal_file in (RUN_JSON_NAME, MANIFEST_JSON, MANIFEST_SHA256):
        try:
            if not stat.S_ISREG(os.lstat(os.path.join(folder, seal_file)).st_mode):
                return None
        except OSError:
            return None
    manifest_root = _manifest_root(folder)
    if manifest_root != prior.manifest_root_sha256:
        return None
    raw = previous.registry_line(prior)
    if raw is None or not _plain_passing_line(raw, root.label, run_id, run_key, manifest_root):
        return None
    return raw, {"run_key": run_key, **_status(manifest_root, [], REUSED, None)}


def _plain_passing_line(raw: bytes, label: str, run_id: str, run_key: str, root: str) -> bool:
    """Whether `raw` is the compact v0.1 line this builder writes for a passing folder.

    Compared as bytes (no parsing: it runs once per reused folder): the identity fields up to
    `run_path`, the three seal flags, the root and the passing `warnings`, each exactly where
    this builder writes them. The whole new file is still schema-checked by the blocking check.
    """
    head = (
        _dumps_line(
            {
                "registry_version": "0.1",
                "run_id": run_id,
                "run_root": label,
                "run_key": run_key,
                "run_path": f"{label}/{run_id}/",
            }
        )[:-2]
        + b","
    )
    seal = (
        b',"has_run_json":true,"has_manifest_sha256":true,"has_manifest_json":true,'
        b'"manifest_root_sha256":"' + root.encode("ascii") + b'","files":'
    )
    return raw.startswith(head) and seal in raw and raw.endswith(_PASSING_TAIL)


_PASSING_TAIL = b',"warnings":["seal:' + PASS.encode("ascii") + b'"]}\n'


def render_jsonl(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON lines in each mapping's own key order, UTF-8, each ending with a newline."""
    return b"".join(_dumps_line(line) for line in lines)


def _dumps_line(line: Mapping[str, Any]) -> bytes:
    text = json.dumps(line, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


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
    if (
        not isinstance(run_key, str)
        or status not in (PASS, FAIL, UNSEALED)
        or not (root is None or isinstance(root, str))
        or not isinstance(tampered, bool)
    ):
        _bad_previous(f"line {number}: needs run_key, status, manifest_root_sha256, tampered")
    return run_key, PreviousStatus(str(status), root, tampered, index)


def _bad_previous(message: str) -> NoReturn:
    raise UsageError(
        f"previous seal-status snapshot is malformed: {message}",
        code="PREVIOUS_SNAPSHOT_INVALID",
        path=SEAL_STATUS_ARTIFACT,
    )


def _check_labels(run_roots: Sequence[RunRoot]) -> None:
    seen: set[str] = set()
    for root in run_roots:
        reason = relpath_problem(root.label)
        if reason or root.label in seen:
            raise UsageError(
                f"run root label {reason or 'is configured twice'}",
                code="BAD_RUN_ROOT",
                path=root.label,
            )
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


@dataclass
class _Scan:
    """The regular files of one folder, and what could not be read."""

    files: list[tuple[str, int]] = field(default_factory=list)
    top_level: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    unreadable: bool = False

    def has(self, name: str) -> bool:
        """Whether `name` is a regular file at the top of the folder."""
        return name in self.top_level


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


def index_folder(
    root: RunRoot,
    name: str,
    *,
    previous: PreviousSnapshot | None,
    full_audit: bool,
    schemas: SchemaCatalog,
) -> FolderRecord:
    """The record of folder `name` under `root`; problems are findings, never exceptions."""
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    folder = root.path / name
    scan = _scan(folder)
    envelope, warnings = _envelope(folder, scan)
    manifest_root = _manifest_root(folder) if scan.has(MANIFEST_SHA256) else None
    prior = previous.get(run_key) if previous is not None else None
    status = _verdict(folder, scan, manifest_root, prior, full_audit, schemas)
    status = {"run_key": run_key, **status}
    warnings.extend(scan.warnings)
    warnings.extend(_seal_warnings(status))
    line = {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": root.label,
        "run_key": run_key,
        "run_path": f"{root.label}/{run_id}/",
        **envelope,
        "has_run_json": scan.has(RUN_JSON_NAME),
        "has_manifest_sha256": scan.has(MANIFEST_SHA256),
        "has_manifest_json": scan.has(MANIFEST_JSON),
        "manifest_root_sha256": manifest_root,
        "files": [{"relpath": printable(rp), "bytes": size} for rp, size in scan.files],
        "warnings": warnings,
    }
    return FolderRecord(line, status)


def _envelope(folder: Path, scan: _Scan) -> tuple[dict[str, Any], list[str]]:
    """The v0.1 fields from run.json (null unless it parses strictly), and the seed warnings."""
    fields: dict[str, Any] = dict.fromkeys((*_ENVELOPE_FIELDS, "working_tree_state"))
    warnings = [
        f"missing {name}"
        for name in (RUN_JSON_NAME, MANIFEST_SHA256, MANIFEST_JSON)
        if not scan.has(name) and not scan.unreadable
    ]
    if not scan.has(RUN_JSON_NAME):
        return fields, warnings
    try:
        data = loads_strict((folder / RUN_JSON_NAME).read_bytes())
    except (OSError, JSONDecodeProblem):
        data = None
    if not isinstance(data, dict):
        return fields, [*warnings, "run.json:UNPARSEABLE"]
    if not isinstance(data.get("created_utc"), str):
        data = {**data, "created_utc": data.get("created_at")}
    for name in _ENVELOPE_FIELDS:
        value = data.get(name)
        fields[name] = value if isinstance(value, str) and value else None
    state = data.get("working_tree_state")
    fields["working_tree_state"] = state if state in _TREE_STATES else None
    return fields, warnings


def _manifest_root(folder: Path | str) -> str | None:
    """The ROOT_SHA256 value of MANIFEST.sha256 when it is well formed, else None."""
    try:
        with open(os.path.join(folder, MANIFEST_SHA256), "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for row in text.split("\n"):
        if row.startswith(ROOT_LABEL):
            value = row.rstrip("\r")[len(ROOT_LABEL) :]
            ok = value.startswith("  ") and HEX64.fullmatch(value[2:])
            return value[2:] if ok else None
    return None


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
    if not sealed_before and not scan.has(MANIFEST_SHA256) and not scan.has(MANIFEST_JSON):
        return _status(None, [], NONE, None, unsealed=True)
    if not full_audit and _reusable(scan, root, prior):
        return _status(root, [], REUSED, None)
    try:
        report = inspect_run_folder(folder, schemas=schemas)
        problems = [(p.code.value, p.path) for p in report.problems]
    except RegistryError as exc:
        problems = [(exc.code, None)]
    return _status(root, problems, HASHED, prior)


def _reusable(scan: _Scan, root: str | None, prior: PreviousStatus | None) -> bool:
    """Passed before with this very root, and the seal files are all still there."""
    return (
        prior is not None
        and prior.status == PASS
        and root is not None
        and prior.manifest_root_sha256 == root
        and all(scan.has(name) for name in (RUN_JSON_NAME, MANIFEST_JSON, MANIFEST_SHA256))
    )


def _status(
    root: str | None,
    problems: list[tuple[str, str | None]],
    verification: str,
    prior: PreviousStatus | None,
    unsealed: bool = False,
) -> dict[str, Any]:
    distinct = sorted(set(problems), key=lambda p: (sort_key(p[1] or ""), p[0]))
    verdict = UNSEALED if unsealed else FAIL if distinct else PASS
    integrity = any(code in INTEGRITY_CODES for code, _path in distinct)
    tampered = (
        verdict == FAIL
        and prior is not None
        and ((prior.status == PASS and integrity) or prior.tampered)
    )
    return {
        "manifest_root_sha256": root,
        "status": verdict,
        "problems": [{"code": code, "path": path} for code, path in distinct[:MAX_PROBLEMS]],
        "problem_count": len(distinct),
        "verification": verification,
        "tampered": tampered,
    }


def _seal_warnings(status: Mapping[str, Any]) -> list[str]:
    """The verdict as stable warning strings: `seal:<STATUS>`, then details when it fails."""
    warnings = [f"seal:{status['status']}"]
    for problem in status["problems"]:
        path = problem["path"]
        warnings.append(f"seal:FAIL:{problem['code']}" + (f":{path}" if path is not None else ""))
    hidden = status["problem_count"] - len(status["problems"])
    if hidden > 0:
        warnings.append(f"seal:FAIL:TRUNCATED:{hidden}")
    if status["tampered"]:
        warnings.append("seal:TAMPERED")
    return warnings
