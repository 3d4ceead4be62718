"""A quick, exact PASS for a run folder that is intact; anything else goes to the Inspector.

Checking 10,000 small folders is mostly per-file Python overhead, not hashing: the Inspector
builds paths, reports through callbacks and collects every problem. `quick_pass` makes the same
decisions on a folder that has no problem at all, with plain strings, one read per file and no
bookkeeping, and gives up (None) at the first thing that is not certainly fine: the Inspector
then inspects the folder from the start and writes every message. So it answers a PASS report
only when the Inspector would answer the very same report, and never a FAIL: it is exactly as
strict, it only skips work on folders that need no words. A test runs both on the same folders,
intact and tampered, and requires equal reports.

What it checks is the Inspector's contract, in this order: the tree (safe relpaths, no case or
NFC twins, regular files and folders only, no empty folder, files of at most `SMALL_FILE` bytes
when hashing), the three seal files, `manifest.json` (strict JSON, exact entries, sorted, no
twins), `MANIFEST.sha256` (UTF-8, LF, well-formed lines, one ROOT line last), the root, both
manifests agreeing, every file listed with its size and hash (sizes only when `fast`), run.json
(strict JSON, the envelope schema, the run id) and, unless `fast`, the artifact schemas.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import weakref
from collections.abc import Callable
from typing import Any

from registry_pipeline.core._json import MAX_DEPTH, MAX_INT_DIGITS, JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal._envelope_check import surely_valid
from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.hashing import SMALL_FILE
from registry_pipeline.core.seal.manifest import (
    HEX64,
    MANIFEST_JSON,
    MANIFEST_SHA256,
    ROOT_LABEL,
    RUN_JSON,
    root_sha256,
)
from registry_pipeline.core.seal.paths import safe_fold_key, sort_key
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, ArtifactSchema, SchemaCatalog

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
"""A symlink swapped in is not followed and a FIFO swapped in never blocks: either gives up."""
_ENTRY_KEYS = frozenset({"relpath", "bytes", "sha256"})
_SEAL_FILES = (MANIFEST_JSON, MANIFEST_SHA256)
_ROOT_PREFIX = ROOT_LABEL + "  "
_DIGEST = 64
_FIRST_READ = 1 << 13
"""Most files of a small run folder fit in one read of this size (a larger buffer costs more
to allocate than the read itself); the read after it confirms the end of the file."""
_CHUNK = 1 << 16


class _GiveUp(Exception):
    """Not certainly a PASS: the Inspector decides."""


def quick_pass(
    folder: str, name: str, fast: bool, schemas: SchemaCatalog, expect_run_id: str | None
) -> FolderReport | None:
    """The PASS report of `folder` (whose name is `name`) when it certainly passes, else None.

    Call it only after `refuse_non_run_folder` found a directory with a seal file at its top.
    """
    expected = name if expect_run_id is None else expect_run_id
    try:
        return _QuickPass(folder, fast, schemas).run(expected)
    except (_GiveUp, OSError, ValueError, UsageError, RecursionError):
        return None


class _QuickPass:
    def __init__(self, folder: str, fast: bool, schemas: SchemaCatalog) -> None:
        self.folder = folder
        self.fast = fast
        self.schemas = schemas
        self.sizes: dict[str, int] = {}
        self.paths: dict[str, str] = {}

    def run(self, expect_run_id: str) -> FolderReport:
        self._scan()
        paths = self.paths
        if RUN_JSON not in paths or MANIFEST_JSON not in paths or MANIFEST_SHA256 not in paths:
            raise _GiveUp
        manifest_data = self._read(MANIFEST_JSON)
        entries = _entries(_loads(manifest_data))
        hashes, lines, root = _hash_lines(self._read(MANIFEST_SHA256))
        if root_sha256(lines) != root:
            raise _GiveUp
        if len(hashes) != len(entries) + 1 or len(paths) != len(entries) + 2:
            raise _GiveUp  # with the checks below: the same relpaths everywhere, nothing unlisted
        sealed = hashes.get(MANIFEST_JSON)
        if sealed is None or (not self.fast and _sha256(manifest_data) != sealed):
            raise _GiveUp
        contents: dict[str, bytes] = {}
        for relpath, size, digest in entries:
            if hashes.get(relpath) != digest or relpath not in paths:
                raise _GiveUp
            if self.fast:
                if self.sizes[relpath] != size:
                    raise _GiveUp
                continue
            if size > SMALL_FILE:
                raise _GiveUp  # large files are hashed on threads by the Inspector
            data = contents[relpath] = self._read(relpath)
            if len(data) != size or _sha256(data) != digest:
                raise _GiveUp
        run_json = contents.get(RUN_JSON)
        run_id = self._run_id(self._read(RUN_JSON) if run_json is None else run_json)
        if isinstance(run_id, str) and run_id != expect_run_id:
            raise _GiveUp
        if not self.fast:
            governing = _artifact_schemas(self.schemas)
            for relpath, _size, _digest in entries:
                if relpath == RUN_JSON:
                    continue
                if relpath not in governing:
                    governing[relpath] = self.schemas.for_artifact(relpath)
                schema = governing[relpath]
                if schema is not None:
                    self._check_schema(schema, contents[relpath])
        return FolderReport(
            self.folder,
            run_id if isinstance(run_id, str) else None,
            root,
            (),
            len(paths),
            self.fast,
        )

    def _scan(self) -> None:
        """Every regular file's path (and size when `fast`); gives up on anything else."""
        folded: set[str] = set()
        stack = [("", self.folder)]
        while stack:
            prefix, directory = stack.pop()
            empty = True
            with os.scandir(directory) as listing:
                for entry in listing:
                    empty = False
                    relpath = prefix + entry.name
                    key = safe_fold_key(relpath)
                    if key is None or key in folded:
                        raise _GiveUp
                    folded.add(key)
                    if entry.is_file(follow_symlinks=False):
                        self.paths[relpath] = entry.path
                        if self.fast:
                            self.sizes[relpath] = entry.stat(follow_symlinks=False).st_size
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((relpath + "/", entry.path))
                    else:
                        raise _GiveUp  # a symlink, FIFO, socket or device
            if empty and prefix:
                raise _GiveUp

    def _read(self, relpath: str) -> bytes:
        """The file's bytes, read to its end; gives up beyond `SMALL_FILE` bytes (the Inspector
        hashes large files on threads) and, when `fast`, unless the size is what the scan saw."""
        fd = os.open(self.paths[relpath], _READ_FLAGS)
        try:
            data = os.read(fd, _FIRST_READ)
            if len(data) == _FIRST_READ:
                parts = [data]
                total = len(data)
                while data and total <= SMALL_FILE:
                    data = os.read(fd, _CHUNK)
                    parts.append(data)
                    total += len(data)
                data = b"".join(parts)
            elif data and os.read(fd, 1):
                raise _GiveUp  # the file grew while it was read
        finally:
            os.close(fd)
        if len(data) > SMALL_FILE or self.sizes.setdefault(relpath, len(data)) != len(data):
            raise _GiveUp
        return data

    def _run_id(self, data: bytes) -> object:
        envelope = _loads(data)
        if not surely_valid(envelope) and self.schemas.validate(ENVELOPE_ID, envelope):
            raise _GiveUp
        return envelope.get("run_id") if isinstance(envelope, dict) else None

    def _check_schema(self, schema: ArtifactSchema, data: bytes) -> None:
        if schema.format == "jsonl":
            for line in data.split(b"\n"):
                if line.strip() and self.schemas.validate(schema.schema_id, _loads(line), limit=5):
                    raise _GiveUp
        elif self.schemas.validate(schema.schema_id, _loads(data)):
            raise _GiveUp


def _entries(rows: Any) -> list[tuple[str, int, str]]:
    """manifest.json's entries, when every one is exact, safe and in order (no twin)."""
    if type(rows) is not list:
        raise _GiveUp
    entries: list[tuple[str, int, str]] = []
    folded: set[str] = set()
    previous = b""
    for row in rows:
        if type(row) is not dict or row.keys() != _ENTRY_KEYS:
            raise _GiveUp
        relpath, size, digest = row["relpath"], row["bytes"], row["sha256"]
        if type(relpath) is not str or type(size) is not int or size < 0:
            raise _GiveUp
        if type(digest) is not str or HEX64.fullmatch(digest) is None:
            raise _GiveUp
        key = sort_key(relpath)
        folded_key = safe_fold_key(relpath)
        if folded_key is None or relpath in _SEAL_FILES or key < previous or folded_key in folded:
            raise _GiveUp
        previous = key
        folded.add(folded_key)
        entries.append((relpath, size, digest))
    return entries


def _hash_lines(data: bytes) -> tuple[dict[str, str], list[str], str]:
    """MANIFEST.sha256's per-file hashes, its lines and its root, when all are well-formed."""
    text = data.decode("utf-8")
    if "\r" in text:
        raise _GiveUp
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    if not rows:
        raise _GiveUp
    last = rows.pop()
    root = last[len(_ROOT_PREFIX) :]
    if not last.startswith(_ROOT_PREFIX) or HEX64.fullmatch(root) is None:
        raise _GiveUp
    hashes: dict[str, str] = {}
    folded: set[str] = set()
    for row in rows:
        digest = row[:_DIGEST]
        relpath = row[_DIGEST + 2 :]
        if row[_DIGEST : _DIGEST + 2] != "  " or HEX64.fullmatch(digest) is None:
            raise _GiveUp  # also a second ROOT line: a digest never starts with R
        key = safe_fold_key(relpath)
        if key is None or relpath == MANIFEST_SHA256 or key in folded:
            raise _GiveUp
        folded.add(key)
        hashes[relpath] = digest
    return hashes, rows, root


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _no_twins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _GiveUp  # a duplicate key
    return result


def _refuse(_name: str) -> Any:
    raise _GiveUp  # NaN or Infinity


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _GiveUp
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _GiveUp
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_twins,
    parse_constant=_refuse,
    parse_int=_bounded_int,
    parse_float=_finite_float,
)

_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*").match
"""JSON's whitespace, as `json.decoder.WHITESPACE` matches it around the value."""


def _loads(data: bytes) -> Any:
    """What `loads_strict` returns for `data`; gives up where it would refuse.

    The same hooks and limits, without its per-call costs: one decoder for all calls, and the
    rare text that needs the full treatment (an escape that may hide a lone surrogate, a BOM,
    deep nesting) goes to `loads_strict` itself.
    """
    text = data.decode("utf-8")
    if "\\u" in text or text.startswith("\ufeff") or text.count("[") + text.count("{") > MAX_DEPTH:
        try:
            return loads_strict(data)
        except JSONDecodeProblem:
            raise _GiveUp from None
    try:  # JSONDecoder.decode without its wrappers: the value, then only whitespace
        value, end = _SCAN(text, _space_end(text, 0))
    except StopIteration:
        raise _GiveUp from None
    if _space_end(text, end) != len(text):
        raise _GiveUp
    return value


def _space_end(text: str, at: int) -> int:
    """Where the JSON whitespace starting at `at` ends."""
    match = _SPACE(text, at)
    return match.end() if match else at


_MAX_REMEMBERED = 4096
"""Relpaths remembered per catalog (a long-lived process sees ever new names: memory stays flat)."""
_ARTIFACT_SCHEMAS: weakref.WeakKeyDictionary[SchemaCatalog, dict[str, ArtifactSchema | None]] = (
    weakref.WeakKeyDictionary()
)


def _artifact_schemas(schemas: SchemaCatalog) -> dict[str, ArtifactSchema | None]:
    """`schemas.for_artifact` by relpath, remembered per catalog: matching every pattern of every
    schema costs more than the rest of checking a small folder, and a catalog never changes."""
    known = _ARTIFACT_SCHEMAS.get(schemas)
    if known is None or len(known) > _MAX_REMEMBERED:
        known = _ARTIFACT_SCHEMAS[schemas] = {}
    return known
