"""One pass over one run folder: every problem reported, nothing raised but unreadable input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from registry_pipeline.core.errors import Hint, Problem, ReasonCode
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal import linefix
from registry_pipeline.core.seal.folder_report import REQUIRED, FolderReport
from registry_pipeline.core.seal.hashing import (
    SMALL_FILE,
    file_lines,
    jsonl_records,
    read_small,
    sha256_bytes,
    sha256_file,
)
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    ManifestEntry,
    root_sha256,
)
from registry_pipeline.core.seal.manifest_parse import parse_manifest_json, parse_manifest_sha256
from registry_pipeline.core.seal.paths import (
    fold_key,
    printable,
    relpath_problem,
    safe_fold_key,
    sort_key,
)
from registry_pipeline.core.seal.problems import json_invalid, schema_violation
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, SchemaCatalog

HASH_THREADS = min(4, os.cpu_count() or 1)


def _parents(relpath: str) -> Iterator[str]:
    """The folders above `relpath`: `a/b/c` gives `a/b` and `a`."""
    while "/" in relpath:
        relpath = relpath.rsplit("/", 1)[0]
        yield relpath


class Inspector:
    """One pass over one folder; `report` collects problems instead of raising."""

    def __init__(
        self, folder: Path, fast: bool, schemas: SchemaCatalog, expect_run_id: str | None
    ) -> None:
        self.folder = folder
        top = os.fspath(folder)
        self.root = top if top.endswith(os.sep) else top + os.sep
        """The folder as a string ending in a separator: a relpath appended is its path."""
        self.fast = fast
        self.schemas = schemas
        self.expect_run_id = expect_run_id if expect_run_id is not None else folder.name
        self.created_utc: str | None = None
        self.problems: list[Problem] = []
        self.files: dict[str, int] = {}
        self.special: set[str] = set()
        self.empty_folders: list[str] = []
        self.contents: dict[str, bytes] = {}
        self.large_hashes: dict[str, str] = {}

    def report(
        self,
        code: ReasonCode,
        path: str | None,
        message: str,
        expected: str | int | None = None,
        found: str | int | None = None,
        hint: Hint | None = None,
    ) -> None:
        self.problems.append(
            Problem(
                code=code,
                path=None if path is None else printable(path),
                message=message,
                expected=expected,
                found=found,
                hint=hint,
            )
        )

    def run(self) -> FolderReport:
        """The report; call it only on a folder `refuse_non_run_folder` let through."""
        self._scan()
        for name in REQUIRED:
            if name not in self.files and name not in self.special:
                self.report(
                    ReasonCode.MISSING_REQUIRED_FILE, name, f"required file {name} is missing"
                )
        entries = None
        if MANIFEST_JSON in self.files:
            entries = parse_manifest_json(self._read(MANIFEST_JSON), self.report)
        hash_lines = None
        if MANIFEST_SHA256 in self.files:
            hash_lines = parse_manifest_sha256(self._read(MANIFEST_SHA256), self.report)
        root = None
        if hash_lines is not None:
            root = hash_lines.root
            self._check_root(hash_lines.lines, hash_lines.root)
            if entries is not None:
                self._cross_check(entries, hash_lines.hashes)
        listing = entries
        if listing is None and hash_lines is not None:
            # Without a usable manifest.json, MANIFEST.sha256 still says what the files should be.
            listing = [
                ManifestEntry(rp, -1, h)
                for rp, h in hash_lines.hashes.items()
                if rp != MANIFEST_JSON
            ]
        if listing is not None:
            self._check_files(listing)
            if entries is not None:
                self._check_unlisted(entries)
        self._check_empty_folders(listing)
        run_id = self._check_run_json()
        if not self.fast and listing is not None:
            self._check_schemas(listing)
        return FolderReport(
            str(self.folder), run_id, root, tuple(self.problems), len(self.files), self.fast,
            self.created_utc,
        )  # fmt: skip

    def _scan(self) -> None:
        folded: dict[str, str] = {}
        stack: list[tuple[str, str]] = [("", self.root)]
        while stack:
            prefix, directory = stack.pop()
            with os.scandir(directory) as entries:
                empty = True
                for entry in entries:
                    empty = False
                    relpath = prefix + entry.name
                    key = safe_fold_key(relpath)  # the common case: a safe path, in one call
                    if key is None:
                        reason = relpath_problem(relpath)
                        if reason:
                            self.report(ReasonCode.UNSAFE_PATH, relpath, f"path on disk {reason}")
                        key = fold_key(relpath)
                    if key in folded:
                        self.report(
                            ReasonCode.UNSAFE_PATH,
                            relpath,
                            f"same path as {folded[key]!r} after case folding",
                        )
                    folded[key] = relpath
                    if entry.is_file(follow_symlinks=False):
                        # a full check learns the size when it reads the file: no stat call
                        self.files[relpath] = (
                            entry.stat(follow_symlinks=False).st_size if self.fast else -1
                        )
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((relpath + "/", entry.path))
                    else:
                        self.special.add(relpath)
                        what = (
                            f"is a symbolic link (to {os.readlink(entry.path)!r})"
                            if entry.is_symlink()
                            else "is not a regular file (FIFO, socket or device)"
                        )
                        self.report(ReasonCode.NOT_A_REGULAR_FILE, relpath, what)
            if empty and prefix:
                self.empty_folders.append(prefix[:-1])

    def _size(self, relpath: str) -> int:
        """The file's size: from the scan when `fast`, else learned by reading it."""
        size = self.files[relpath]
        if size < 0:
            size = self.files[relpath] = self._load(relpath)
        return size

    def _load(self, relpath: str) -> int:
        """Read a file of up to SMALL_FILE bytes into `contents`; return its size (a larger file
        is not kept: it is hashed and parsed as a stream)."""
        data, size = read_small(self.root + relpath)
        if data is not None:
            self.contents[relpath] = data
        return size

    def _read(self, relpath: str) -> bytes:
        """The file's bytes; a small file is read once and kept."""
        data = self._small(relpath)
        if data is None:
            with open(self.root + relpath, "rb") as handle:
                data = handle.read()
        return data

    def _small(self, relpath: str) -> bytes | None:
        """A small file's bytes, read once and kept; None for a large file (never read here)."""
        if self._size(relpath) <= SMALL_FILE and relpath not in self.contents:
            self._load(relpath)  # when `fast`, the size came from the scan: not read yet
        return self.contents.get(relpath)

    def _lines(self, relpath: str) -> Iterator[bytes]:
        """The file's lines (`bytes.split(b"\\n")`): a large file's read a block at a time."""
        data = self._small(relpath)
        return iter(data.split(b"\n")) if data is not None else file_lines(self.root + relpath)

    def _hash(self, relpath: str) -> str:
        if relpath in self.large_hashes:
            return self.large_hashes[relpath]
        if self._size(relpath) <= SMALL_FILE:
            return sha256_bytes(self._read(relpath))
        return sha256_file(self.folder / relpath)[0]

    def _prehash_large(self, listing: list[ManifestEntry]) -> None:
        """Hash large files on several threads (hashlib and file reads release the GIL)."""
        large = [
            e.relpath
            for e in listing
            if e.relpath in self.files and self._size(e.relpath) > SMALL_FILE
        ]
        if len(large) < 2:
            return
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            digests = pool.map(lambda rp: sha256_file(self.folder / rp)[0], large)
            self.large_hashes.update(zip(large, digests, strict=True))

    def _check_root(self, lines: list[str], claimed: str | None) -> None:
        computed = root_sha256(lines)
        if claimed is not None and claimed != computed:
            self.report(
                ReasonCode.ROOT_MISMATCH,
                MANIFEST_SHA256,
                "ROOT_SHA256 does not match the per-file lines",
                expected=claimed,
                found=computed,
            )

    def _cross_check(self, entries: list[ManifestEntry], hashes: dict[str, str]) -> None:
        listed = {entry.relpath: entry for entry in entries}
        if MANIFEST_JSON not in hashes:
            self.report(
                ReasonCode.MANIFEST_DISAGREES,
                MANIFEST_JSON,
                "MANIFEST.sha256 has no line for manifest.json",
            )
        elif MANIFEST_JSON in self.files and not self.fast:
            found = self._hash(MANIFEST_JSON)
            if found != hashes[MANIFEST_JSON]:
                self._mismatch(
                    ReasonCode.HASH_MISMATCH,
                    MANIFEST_JSON,
                    hashes[MANIFEST_JSON],
                    found,
                    "does not match its hash in MANIFEST.sha256",
                )
        for relpath, entry in listed.items():
            if relpath not in hashes:
                self.report(
                    ReasonCode.MANIFEST_DISAGREES,
                    relpath,
                    "listed in manifest.json but not in MANIFEST.sha256",
                )
            elif hashes[relpath] != entry.sha256:
                self.report(
                    ReasonCode.MANIFEST_DISAGREES,
                    relpath,
                    "manifest.json and MANIFEST.sha256 record different hashes",
                    expected=entry.sha256,
                    found=hashes[relpath],
                )
        for relpath in hashes:
            if relpath != MANIFEST_JSON and relpath not in listed:
                self.report(
                    ReasonCode.MANIFEST_DISAGREES,
                    relpath,
                    "listed in MANIFEST.sha256 but not in manifest.json",
                )

    def _check_files(self, listing: list[ManifestEntry]) -> None:
        if not self.fast:
            self._prehash_large(listing)
        for entry in listing:
            relpath = entry.relpath
            if relpath in self.special:
                continue
            if relpath not in self.files:
                self.report(ReasonCode.MISSING_FILE, relpath, "listed in the manifest but missing")
                continue
            size = self._size(relpath)
            if entry.bytes >= 0 and size != entry.bytes:
                message = "has a different size than sealed"
                self._mismatch(ReasonCode.SIZE_MISMATCH, relpath, entry.bytes, size, message, entry)
            if not self.fast:
                found = self._hash(relpath)
                if found != entry.sha256:
                    self._mismatch(
                        ReasonCode.HASH_MISMATCH,
                        relpath,
                        entry.sha256,
                        found,
                        "has different content than sealed",
                        entry,
                    )

    def _mismatch(
        self,
        code: ReasonCode,
        relpath: str,
        expected: str | int,
        found: str | int,
        message: str,
        entry: ManifestEntry | None = None,
    ) -> None:
        sealed_sha = entry.sha256 if entry else str(expected)
        sealed_size = entry.bytes if entry else -1
        diagnosis = None
        if self._size(relpath) <= linefix.MAX_DIAGNOSE:
            diagnosis = linefix.diagnose(self._read(relpath), sealed_sha, sealed_size)
        if diagnosis:
            self.report(
                code,
                relpath,
                f"{message}: {diagnosis}",
                expected=expected,
                found=found,
                hint=Hint.LINE_ENDINGS_CONVERTED,
            )
        else:
            self.report(code, relpath, message, expected=expected, found=found)

    def _check_unlisted(self, entries: list[ManifestEntry]) -> None:
        unlisted = self.files.keys() - {entry.relpath for entry in entries}
        for relpath in sorted(unlisted - {MANIFEST_JSON, MANIFEST_SHA256}):
            self.report(ReasonCode.UNLISTED_FILE, relpath, "is not listed in manifest.json")

    def _check_empty_folders(self, listing: list[ManifestEntry] | None) -> None:
        """Empty folders are unlisted: the manifests list files, so no seal covers one. A folder
        that held a listed file is left out (MISSING_FILE already says what went)."""
        if not self.empty_folders:
            return
        held = {parent for entry in listing or () for parent in _parents(entry.relpath)}
        for relpath in sorted(self.empty_folders, key=sort_key):
            if relpath not in held:
                self.report(
                    ReasonCode.UNLISTED_FILE,
                    relpath,
                    "is an empty folder, which no seal lists (manifests list files only)",
                )

    def _check_run_json(self) -> str | None:
        if RUN_JSON not in self.files:
            return None
        try:
            envelope = loads_strict(self._read(RUN_JSON))
        except JSONDecodeProblem as exc:
            self.report(ReasonCode.RUN_JSON_INVALID, RUN_JSON, f"not valid JSON: {exc}")
            return None
        for violation in self.schemas.validate(ENVELOPE_ID, envelope):
            self.report(ReasonCode.RUN_JSON_INVALID, RUN_JSON, str(violation))
        created = envelope.get("created_utc") if isinstance(envelope, dict) else None
        self.created_utc = created if isinstance(created, str) else None
        run_id = envelope.get("run_id") if isinstance(envelope, dict) else None
        if isinstance(run_id, str) and run_id != self.expect_run_id:
            self.report(
                ReasonCode.RUN_ID_MISMATCH,
                RUN_JSON,
                "run_id in run.json differs from the folder name",
                expected=self.expect_run_id,
                found=run_id,
            )
        return run_id if isinstance(run_id, str) else None

    def _check_schemas(self, listing: list[ManifestEntry]) -> None:
        for entry in listing:
            relpath = entry.relpath
            schema = self.schemas.for_artifact(relpath) if relpath != RUN_JSON else None
            if schema is None or relpath not in self.files:
                continue
            try:
                if schema.format == "jsonl":  # a line at a time: never the whole file at once
                    for number, record in jsonl_records(self._lines(relpath)):
                        for violation in self.schemas.validate(schema.schema_id, record, limit=5):
                            message = f"line {number} {violation}"
                            found = schema_violation(relpath, message, number, violation.pointer)
                            self.problems.append(found)
                else:
                    document = loads_strict(self._read(relpath))
                    for violation in self.schemas.validate(schema.schema_id, document):
                        self.problems.append(
                            schema_violation(relpath, str(violation), None, violation.pointer)
                        )
            except JSONDecodeProblem as exc:
                self.problems.append(json_invalid(relpath, schema.format, exc))
