"""Validation of run folders against the seal contract: every problem found in one pass."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import Hint, Problem, RegistryError, UsageError
from registry_pipeline.core.fs import TooLarge, file_kind, file_stamp, open_file, read_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.folder_report import (
    REQUIRED,
    FolderReport,
    json_invalid,
    missing_required,
    refuse_non_run_folder,
    schema_violation,
)
from registry_pipeline.core.seal.hashing import SMALL_FILE, jsonl_records, sha256_bytes, sha256_file
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    ManifestEntry,
    parse_manifest_json,
    parse_manifest_sha256,
    root_sha256,
)
from registry_pipeline.core.seal.paths import (
    fold_key,
    printable,
    relpath_problem,
    safe_fold_key,
    sort_key,
)
from registry_pipeline.core.seal.run_id import (
    created_moment,
    named_second,
    registry_of,
    utc_second,
)
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, SchemaCatalog, violation_text
from registry_pipeline.core.seal.verdicts import MAX_DIAGNOSE, diagnose
from registry_pipeline.core.verified import Verified

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__all__ = [
    "FolderReport",
    "cache_active",
    "inspect_many",
    "inspect_run_folder",
    "inspection_cache",
    "is_valid_run_folder",
    "passed_unchanged",
    "run_folder_name_problems",
    "verify_run_folder",
]


def verify_run_folder(
    path: str | os.PathLike[str], *, fast: bool = False, schemas: SchemaCatalog | None = None
) -> FolderReport:
    """Validate a run folder; SEAL_INVALID listing every problem (`problems`) if it fails."""
    report = inspect_run_folder(path, fast=fast, schemas=schemas)
    if not report.ok:
        said = f"{len(report.problems)} problem(s)"
        raise RegistryError.of("SEAL_INVALID", path=report.run_folder, problems=report.problems,
                               reason=said)  # fmt: skip
    return report


def is_valid_run_folder(
    path: str | os.PathLike[str], *, schemas: SchemaCatalog | None = None
) -> bool:
    """True when the folder validates; unreadable folders are not valid."""
    try:
        return inspect_run_folder(path, schemas=schemas).ok
    except UsageError:
        return False


_CACHE: dict[tuple[str, str, bool, int], FolderReport] | None = None
_VERDICTS: tuple[Verified, bool] | None = None
"""The open block's PASS verdicts and whether they may be trusted (False in a full audit)."""
VERDICTS_RELPATH = ".codex/cache/verdicts.json"
"""PASS verdicts carried between builds (a cache: deleting it only costs time)."""
VERDICT_STORE_VERSION = "seal-5"
"""Bumped whenever validation gets stricter, so a laxer validator's PASS verdicts are dropped."""
PASSED = "seal"
"""The check a stored verdict records: the seal contract held, schemas included."""


@contextmanager
def inspection_cache(root: Path | None = None, *, trust_stored: bool = True) -> Iterator[None]:
    """Within the block, a folder whose files are unchanged is inspected once."""
    global _CACHE, _VERDICTS
    store = Verified(root, VERDICTS_RELPATH, version=VERDICT_STORE_VERSION) if root else None
    outer, _CACHE = _CACHE, {}
    outer_verdicts = _VERDICTS
    _VERDICTS = None if store is None else (store, trust_stored)
    try:
        yield
        if _VERDICTS is not None:
            with suppress(OSError):  # a cache that cannot be written is only slower
                _VERDICTS[0].save()
    finally:
        _CACHE, _VERDICTS = outer, outer_verdicts


def inspect_run_folder(
    path: str | os.PathLike[str], *, fast: bool = False, schemas: SchemaCatalog | None = None
) -> FolderReport:
    """The report on a run folder, its name judged among its siblings; UsageError if unreadable."""
    folder = normal_path(path)
    refused = refuse_non_run_folder(folder, fast)
    if refused is not None:  # not a run folder: nothing is read, not even its parent
        return refused.with_problems(name_problems(folder, siblings=False))
    return _report(folder, fast, schemas).with_problems(name_problems(folder))


def _report(folder: str, fast: bool, schemas: SchemaCatalog | None) -> FolderReport:
    """`inspect_run_folder` of a run folder's files, from the caches when they hold it."""
    if _CACHE is None:
        return _inspect(folder, fast, schemas)
    catalog = schemas or SchemaCatalog.for_workspace(None)
    fingerprint = _fingerprint(folder)
    key = (folder, fingerprint, fast, id(catalog))
    if key in _CACHE:
        return _CACHE[key]
    durable = bool(fingerprint) and not fast
    report = _stored(folder, fingerprint, catalog) if durable else None
    if report is None:
        report = _inspect(folder, fast, catalog)
        if durable and _VERDICTS is not None and report.ok:
            stored = {key: getattr(report, key) for key in _STORED}
            payload = {"fingerprint": fingerprint, "schemas": catalog.fingerprint, **stored}
            _VERDICTS[0].put(folder, [PASSED], payload)
    _CACHE[key] = report
    return report


def normal_path(path: str | os.PathLike[str]) -> str:
    """`path` as `str(Path(path))` spells it, without building a Path (`--all` lists 10,000)."""
    text = os.fspath(path)
    if (
        text
        and "//" not in text
        and "/./" not in text
        and not text.startswith("./")
        and not text.endswith(("/", "/."))
    ):
        return text
    return str(Path(text))


def cache_active() -> bool:
    """Whether an `inspection_cache` block is open in this process."""
    return _CACHE is not None


def passed_unchanged(path: str | os.PathLike[str], schemas: SchemaCatalog) -> bool:
    """True when this folder, as it is now, has a PASS verdict in the cache; never inspects."""
    if _CACHE is None:
        return False
    folder = normal_path(path)
    if not any(os.path.lexists(os.path.join(folder, name)) for name in REQUIRED):
        return False  # not a run folder: never fingerprint (walk) it
    if name_problems(folder):
        return False  # its name fails beside a sibling's, whatever its files
    fingerprint = _fingerprint(folder)
    if not fingerprint:
        return False
    cached = _CACHE.get((folder, fingerprint, False, id(schemas)))
    if cached is not None:
        return cached.ok
    return _stored(folder, fingerprint, schemas) is not None


def _stored(folder: str, fingerprint: str, schemas: SchemaCatalog) -> FolderReport | None:
    """The stored PASS report of `folder` as it is now, under these schemas, or None."""
    if _VERDICTS is None or not _VERDICTS[1]:
        return None
    entry = _VERDICTS[0].get(folder)
    if entry is None or PASSED not in entry.checks:
        return None
    payload = entry.payload
    if payload.get("fingerprint") != fingerprint or payload.get("schemas") != schemas.fingerprint:
        return None
    run_id, root, files, created = (payload.get(k) for k in _STORED)
    if not isinstance(files, int) or not all(v is None or isinstance(v, str)
                                              for v in (run_id, root, created)):  # fmt: skip
        return None
    return FolderReport(folder, run_id, root, (), files, False, created)


_STORED = ("run_id", "root_sha256", "files", "created_utc")
"""What a stored PASS verdict keeps of its report (with the fingerprints it holds for)."""


_SIBLINGS: dict[str, tuple[tuple[int, ...], dict[str, tuple[Problem, ...]]]] = {}
"""Per parent folder: its stat stamp and its entries' name problems, relisted once it changes."""
RACY_NS = 20_000_000
"""A listing changed less than this long ago is not kept (git's racy rule): its stamp may lag."""


def name_problems(folder: str, *, siblings: bool = True) -> tuple[Problem, ...]:
    """UNSAFE_PATH problems of the folder's name among its siblings, or alone without `siblings`."""
    parent, name = os.path.split(folder)
    if not siblings:
        return run_folder_name_problems([name]).get(name, ()) if name else ()
    parent = parent or "."
    try:
        info = os.stat(parent)
        stamp = file_stamp(info)
        known = _SIBLINGS.get(parent)
        if known is None or known[0] != stamp:
            with os.scandir(parent) as entries:
                visible = (e for e in entries if not e.name.startswith("."))
                names = [e.name for e in visible if e.is_dir(follow_symlinks=False)]
            known = stamp, run_folder_name_problems(names)
            if time.time_ns() - info.st_ctime_ns > RACY_NS:  # else listed again (git's rule)
                _SIBLINGS[parent] = known
    except OSError:
        return ()
    return known[1].get(name, ())


def run_folder_name_problems(names: Iterable[str]) -> dict[str, tuple[Problem, ...]]:
    """UNSAFE_PATH problems of run folder names in one RUNS dir: unsafe, or folding to one."""
    listed = list(dict.fromkeys(names))
    groups: dict[str, list[str]] = {}
    for name in listed:
        groups.setdefault(fold_key(name), []).append(name)
    found: dict[str, tuple[Problem, ...]] = {}
    for name in listed:
        reason = relpath_problem(name)
        group = groups[fold_key(name)]
        if not reason and len(group) == 1:
            continue  # the common case: nothing to say
        shown = f"folder name {printable(name)!r}"
        said = [f"{shown} {reason}"] if reason else []
        twins = sorted((n for n in group if n != name), key=sort_key)
        if twins:
            others = ", ".join(repr(printable(twin)) for twin in twins)
            said.append(f"{shown} is the same as {others} after NFC normalization and case "
                        "folding (one folder on macOS and Windows)")  # fmt: skip
        found[name] = tuple(Problem.of("UNSAFE_PATH", reason=reason) for reason in said)
    return found


def _inspect(folder: str, fast: bool, schemas: SchemaCatalog | None) -> FolderReport:
    """The Inspector's report on a folder `refuse_non_run_folder` let through."""
    catalog = schemas or SchemaCatalog.for_workspace(None)
    try:
        return Inspector(folder, fast, catalog).run()
    except OSError as exc:
        why = exc.strerror or exc
        raise RegistryError.of("UNREADABLE", path=folder, what="run folder", reason=why) from None


def inspect_many(
    folders: Iterable[str | os.PathLike[str]],
    *,
    fast: bool = False,
    workspace_root: Path | None = None,
    jobs: int = 1,
    chunk_size: int = 64,
) -> Iterator[FolderReport | UsageError]:
    """Reports for many folders, in input order, streamed; with `jobs > 1` in worker processes
    (`workers`), which never outlive this one."""
    if jobs <= 1:
        schemas = SchemaCatalog.for_workspace(workspace_root)
        for folder in folders:
            yield _inspect_or_error(str(folder), fast, schemas)
        return
    from concurrent.futures import Future, ProcessPoolExecutor

    window = jobs * 4
    pending: deque[Future[list[FolderReport | UsageError]]] = deque()
    with _safe_path(), ProcessPoolExecutor(jobs, workers(), initializer=die_with_parent) as pool:
        paths = (os.fspath(folder) for folder in folders)  # a worker task per list of them
        for chunk in iter(lambda: list(itertools.islice(paths, chunk_size)), []):
            pending.append(pool.submit(_inspect_chunk, chunk, fast, workspace_root))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def workers() -> BaseContext:
    """How worker processes start: from a fork server (a process of no threads, this module
    loaded once), never a fork of this one, which may have threads (a bucket client's)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _safe_path() -> Iterator[None]:
    """Python started meanwhile (the fork server, spawned workers) never puts the working
    directory first on its path: `-c` would, and its modules would run (PYTHONSAFEPATH)."""
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = before


def die_with_parent() -> None:
    """In a worker: exit at once when the process that started it is gone (killed too)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = functools.partial(_exit_after, parent.sentinel)
        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _exit_after(sentinel: int) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])  # ready once the parent's end of it is closed: the parent is gone
    os._exit(1)


def _inspect_chunk(
    folders: list[str], fast: bool, workspace_root: Path | None
) -> list[FolderReport | UsageError]:
    schemas = SchemaCatalog.for_workspace(workspace_root)
    return [_inspect_or_error(folder, fast, schemas) for folder in folders]


def _inspect_or_error(folder: str, fast: bool, schemas: SchemaCatalog) -> FolderReport | UsageError:
    try:
        return inspect_run_folder(folder, fast=fast, schemas=schemas)
    except UsageError as exc:
        return exc


def _fingerprint(folder: str) -> str:
    """Names, sizes, mtimes, ctimes and inodes of everything under `folder` ("" if unreadable)."""
    entries: list[str] = []
    stack = [str(folder)]
    try:
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as listing:
                for entry in listing:
                    info = entry.stat(follow_symlinks=False)
                    entries.append(
                        f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}"
                        f"\0{info.st_ctime_ns}\0{info.st_ino}"
                    )
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    except OSError:
        return ""
    return sha256_bytes("\n".join(sorted(entries)).encode("utf-8", "surrogateescape"))


HASH_THREADS = min(4, os.cpu_count() or 1)


class Inspector:
    """One pass over one folder; `report` collects problems instead of raising."""

    def __init__(self, folder: str, fast: bool, schemas: SchemaCatalog) -> None:
        self.folder = folder
        self.root = folder if folder.endswith(os.sep) else folder + os.sep
        """The folder as a string ending in a separator: a relpath appended is its path."""
        self.fast = fast
        self.schemas = schemas
        self.name = os.path.basename(folder)
        """The run id the folder's name says, which run.json must repeat."""
        self.created_utc: str | None = None
        self.problems: list[Problem] = []
        self.files: dict[str, int] = {}
        self.special: set[str] = set()
        self.empty_folders: list[str] = []
        self.contents: dict[str, bytes] = {}
        self.large_hashes: dict[str, str] = {}

    def report(self, problem: Problem) -> None:
        """Record a problem (`Problem.of`), its path shown printable."""
        if problem.path is not None and (shown := printable(problem.path)) != problem.path:
            problem = dataclasses.replace(problem, path=shown)
        self.problems.append(problem)

    def run(self) -> FolderReport:
        """The report; call it only on a folder `refuse_non_run_folder` let through."""
        self._scan()
        for name in REQUIRED:
            if name not in self.files and name not in self.special:
                self.problems.append(missing_required(name))
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
        listed = None if hash_lines is None else frozenset(hash_lines.hashes)
        return FolderReport(
            self.folder, run_id, root, tuple(self.problems), len(self.files), self.fast,
            self.created_utc, listed,
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
                            unsafe = Problem.of("UNSAFE_PATH", path=relpath,
                                                reason=f"path on disk {reason}")  # fmt: skip
                            self.report(unsafe)
                        key = fold_key(relpath)
                    if key in folded:
                        said = f"same path as {folded[key]!r} after case folding"
                        self.report(Problem.of("UNSAFE_PATH", path=relpath, reason=said))
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
                        mode = entry.stat(follow_symlinks=False).st_mode
                        kind = f"a {file_kind(mode, entry.path)}"
                        self.report(Problem.of("NOT_A_REGULAR_FILE", path=relpath, kind=kind))
            if empty and prefix:
                self.empty_folders.append(prefix[:-1])

    def _size(self, relpath: str) -> int:
        """The file's size: from the scan when `fast`, else learned by reading it."""
        size = self.files[relpath]
        if size < 0:
            size = self.files[relpath] = self._load(relpath)
        return size

    def _load(self, relpath: str) -> int:
        """Read a file of up to SMALL_FILE bytes into `contents`; return its size."""
        try:
            data = self.contents[relpath] = read_regular(self.root + relpath, SMALL_FILE)
        except TooLarge as exc:
            return exc.size
        return len(data)

    def _read(self, relpath: str) -> bytes:
        """The file's bytes; a small file is read once and kept."""
        data = self._small(relpath)
        return read_regular(self.root + relpath) if data is None else data

    def _small(self, relpath: str) -> bytes | None:
        """A small file's bytes, read once and kept; None for a large file (never read here)."""
        if self._size(relpath) <= SMALL_FILE and relpath not in self.contents:
            self._load(relpath)  # when `fast`, the size came from the scan: not read yet
        return self.contents.get(relpath)

    def _lines(self, relpath: str) -> Iterator[bytes]:
        """The file's lines; a large file's read a line at a time."""
        data = self._small(relpath)
        if data is not None:
            yield from data.split(b"\n")
            return
        with open_file(self.root + relpath) as handle:  # never through a link, as `_read`
            yield from (line for _number, line in jsonl.Lines(handle))

    def _hash(self, relpath: str) -> str:
        if relpath in self.large_hashes:
            return self.large_hashes[relpath]
        if self._size(relpath) <= SMALL_FILE:
            return sha256_bytes(self._read(relpath))
        return sha256_file(Path(self.folder) / relpath)[0]

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
            digests = pool.map(lambda rp: sha256_file(Path(self.folder) / rp)[0], large)
            self.large_hashes.update(zip(large, digests, strict=True))

    def _check_root(self, lines: list[str], claimed: str | None) -> None:
        computed = root_sha256(lines)
        if claimed is not None and claimed != computed:
            self.report(Problem.of("ROOT_MISMATCH", path=MANIFEST_SHA256, against="the per-file "
                                   "lines", expected=claimed, found=computed))  # fmt: skip

    def _cross_check(self, entries: list[ManifestEntry], hashes: dict[str, str]) -> None:
        listed = {entry.relpath: entry for entry in entries}
        disagree = functools.partial(Problem.of, "MANIFEST_DISAGREES")
        if MANIFEST_JSON not in hashes:
            said = "MANIFEST.sha256 has no line for manifest.json"
            self.report(disagree(path=MANIFEST_JSON, reason=said))
        elif MANIFEST_JSON in self.files and not self.fast:
            found = self._hash(MANIFEST_JSON)
            if found != hashes[MANIFEST_JSON]:
                sealed = ManifestEntry(MANIFEST_JSON, -1, hashes[MANIFEST_JSON])
                self._mismatch("HASH_MISMATCH", sealed, found)
        for relpath, entry in listed.items():
            if relpath not in hashes:
                said = "listed in manifest.json but not in MANIFEST.sha256"
                self.report(disagree(path=relpath, reason=said))
            elif hashes[relpath] != entry.sha256:
                said = "manifest.json and MANIFEST.sha256 record different hashes"
                self.report(disagree(path=relpath, reason=said, expected=entry.sha256,
                                     found=hashes[relpath]))  # fmt: skip
        for relpath in hashes:
            if relpath != MANIFEST_JSON and relpath not in listed:
                said = "listed in MANIFEST.sha256 but not in manifest.json"
                self.report(disagree(path=relpath, reason=said))

    def _check_files(self, listing: list[ManifestEntry]) -> None:
        if not self.fast:
            self._prehash_large(listing)
        for entry in listing:
            relpath = entry.relpath
            if relpath in self.special:
                continue
            if relpath not in self.files:
                self.report(Problem.of("MISSING_FILE", path=relpath, where="the manifest"))
                continue
            size = self._size(relpath)
            if entry.bytes >= 0 and size != entry.bytes:
                self._mismatch("SIZE_MISMATCH", entry, size)
            if not self.fast and (found := self._hash(relpath)) != entry.sha256:
                self._mismatch("HASH_MISMATCH", entry, found)

    def _mismatch(self, code: str, sealed: ManifestEntry, found: str | int) -> None:
        """A size or hash other than sealed, diagnosed when converted line endings explain it."""
        relpath, diagnosis = sealed.relpath, None
        expected = sealed.bytes if code == "SIZE_MISMATCH" else sealed.sha256
        if self._size(relpath) <= MAX_DIAGNOSE:
            diagnosis = diagnose(self._read(relpath), sealed.sha256, sealed.bytes)
        hint = Hint.LINE_ENDINGS_CONVERTED if diagnosis else None
        self.report(Problem.of(code, path=relpath, diagnosis=f": {diagnosis}" if diagnosis else "",
                               expected=expected, found=found, hint=hint))  # fmt: skip

    def _check_unlisted(self, entries: list[ManifestEntry]) -> None:
        unlisted = self.files.keys() - {entry.relpath for entry in entries}
        for relpath in sorted(unlisted - {MANIFEST_JSON, MANIFEST_SHA256}):
            said = "is not listed in manifest.json"
            self.report(Problem.of("UNLISTED_FILE", path=relpath, reason=said))

    def _check_empty_folders(self, listing: list[ManifestEntry] | None) -> None:
        """Empty folders are unlisted (no seal covers one), except one that held a listed file."""
        if not self.empty_folders:
            return
        held = {str(p) for entry in listing or () for p in PurePosixPath(entry.relpath).parents}
        said = "is an empty folder, which no seal lists (manifests list files only)"
        for relpath in sorted(self.empty_folders, key=sort_key):
            if relpath not in held:
                self.report(Problem.of("UNLISTED_FILE", path=relpath, reason=said))

    def _check_run_json(self) -> str | None:
        if RUN_JSON not in self.files:
            return None
        invalid = functools.partial(Problem.of, "RUN_JSON_INVALID", path=RUN_JSON)
        mismatch = functools.partial(Problem.of, "RUN_ID_MISMATCH", path=RUN_JSON)
        try:
            envelope = loads_strict(self._read(RUN_JSON))
        except JSONDecodeProblem as exc:
            self.report(invalid(reason=f"not valid JSON: {exc}"))
            return None
        violations = self.schemas.validate(ENVELOPE_ID, envelope)
        for violation in violations:
            self.report(invalid(reason=violation_text(violation)))
        created = envelope.get("created_utc") if isinstance(envelope, dict) else None
        self.created_utc = created if isinstance(created, str) else None
        said = any(v.field == "/created_utc" for v in violations)
        moment = None if said else created_moment(self.created_utc)  # a time the schema took
        if self.created_utc is not None and not said and moment is None:
            why = f"/created_utc: {self.created_utc!r} is not a real UTC time"
            self.report(invalid(reason=why))
        run_id = envelope.get("run_id") if isinstance(envelope, dict) else None
        if isinstance(run_id, str) and run_id != self.name:
            why = "run_id in run.json differs from the folder name"
            self.report(mismatch(reason=why, expected=self.name, found=run_id))
        named = registry_of(self.name)  # None: another naming scheme (a seed's)
        stamped = named_second(self.name)
        if stamped and moment is not None and utc_second(moment) != stamped:
            why = (
                "created_utc in run.json is another second than the one the folder name says "
                "(a run id is the second its run was sealed; snapshots are ordered by it)"
            )
            self.report(mismatch(reason=why, expected=stamped, found=self.created_utc))
        registry_id = envelope.get("registry_id") if isinstance(envelope, dict) else None
        if named is not None and isinstance(registry_id, str) and registry_id != named:
            why = "registry_id in run.json differs from the registry the folder name says"
            self.report(mismatch(reason=why, expected=named, found=registry_id))
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
                            message = f"line {number} {violation_text(violation)}"
                            found = schema_violation(relpath, message, number, violation.field)
                            self.problems.append(found)
                else:
                    document = loads_strict(self._read(relpath))
                    self.problems.extend(
                        schema_violation(relpath, violation_text(v), None, v.field)
                        for v in self.schemas.validate(schema.schema_id, document)
                    )
            except JSONDecodeProblem as exc:
                self.problems.append(json_invalid(relpath, schema.format, exc))
