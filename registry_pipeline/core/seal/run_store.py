"""The run store: build a run folder in staging, seal it, and publish it atomically into RUNS/."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from registry_pipeline.core import fs
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.faults import crash_point
from registry_pipeline.core.fs import NotRegularFile, file_kind, open_regular
from registry_pipeline.core.json_strict import dumps_pretty
from registry_pipeline.core.jsonl import write_all
from registry_pipeline.core.lock import FileLock, lock_state
from registry_pipeline.core.seal.envelope import RunSpec, build_envelope
from registry_pipeline.core.seal.gitstate import GitState, read_git_state
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, sha256_bytes
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    ManifestEntry,
    render_manifest_json,
    render_manifest_sha256,
    sorted_entries,
)
from registry_pipeline.core.seal.paths import fold_key, is_reserved, relpath_problem
from registry_pipeline.core.seal.run_id import (
    check_registry_id,
    next_run_id,
    now_utc,
    utc_timestamp,
)

COPY_WORKERS = min(4, 2 * (os.cpu_count() or 1))
"""Files copied at once: hashing uses the cores, and the disk serves a few writes at a time."""
STAGING_GRACE_SECONDS = 5.0
"""A staging folder younger than this is never removed (its owner may not hold its lock yet)."""


class RunsHome(Protocol):
    """Where a store publishes: a `core.workspace.layout.Workspace`, named by shape only."""

    @property
    def root(self) -> Path: ...

    @property
    def runs_dir(self) -> Path: ...

    @property
    def staging_dir(self) -> Path: ...

    def require(self) -> RunsHome: ...

    def require_writable(self, *targets: Path) -> RunsHome:
        """UNSAFE_PATH unless each target is a real place inside the workspace."""
        ...

    def publish_shared(self, folder: Path, run_id: str) -> bool:
        """Publish `folder` as `run_id` to other machines (a bucket); False if the id was taken."""
        ...


@dataclass(frozen=True)
class SealedRun:
    """A published run folder and its seal."""

    run_id: str
    path: Path
    root_sha256: str
    created_utc: str
    entries: tuple[ManifestEntry, ...]

    @property
    def file_count(self) -> int:
        """Files in the folder: the manifest entries plus manifest.json and MANIFEST.sha256."""
        return len(self.entries) + 2

    def as_json(self) -> dict[str, object]:
        """The object `registry seal --json` prints."""
        return {
            "run_id": self.run_id,
            "path": str(self.path),
            "root_sha256": self.root_sha256,
            "created_utc": self.created_utc,
            "files": self.file_count,
        }

    def __str__(self) -> str:
        return f"{self.run_id} sha256:{self.root_sha256}"


class RunStore:
    """Creates run folders in one workspace; never modifies or deletes a published one."""

    def __init__(self, workspace: RunsHome, clock: Callable[[], datetime] = now_utc) -> None:
        self.workspace = workspace.require()
        self.clock = clock

    def clean_staging(self) -> list[str]:
        """Remove staging folders whose build died; live builds hold a lock and are left alone."""
        removed: list[str] = []
        staging = self.workspace.staging_dir
        self.workspace.require_writable(staging)  # never removes another folder's files
        if not staging.is_dir():
            return removed
        for entry in os.scandir(staging):
            path = Path(entry.path)
            with suppress(FileNotFoundError):  # gone meanwhile: nothing to remove
                if time.time() - entry.stat(follow_symlinks=False).st_mtime < STAGING_GRACE_SECONDS:
                    continue
                if entry.is_dir(follow_symlinks=False) and lock_state(path) == "held":
                    continue
                fs.make_writable_and_remove(path)
                removed.append(entry.name)
        return removed

    @contextmanager
    def stage(self, spec: RunSpec) -> Iterator[Staging]:
        """A new staging folder, locked while the block lasts, removed at its end if unpublished."""
        check_registry_id(spec.registry_id)
        folder = self.workspace.staging_dir
        self.workspace.require_writable(folder, self.workspace.runs_dir)
        self.clean_staging()
        folder.mkdir(exist_ok=True)
        path = folder / f"{spec.registry_id}.{os.getpid()}.{secrets.token_hex(4)}"
        path.mkdir()
        lock = FileLock(path, keep=True)
        lock.try_take(None)
        staging = Staging(self, spec, path)
        try:
            yield staging
        finally:
            try:
                if not staging.published and path.exists():
                    fs.make_writable_and_remove(path)
            finally:
                lock.release()


class Staging:
    """One run folder under construction: add files, then `publish()`."""

    def __init__(self, store: RunStore, spec: RunSpec, path: Path) -> None:
        self.store = store
        self.spec = spec
        self.path = path
        self.entries: dict[str, ManifestEntry] = {}
        self._claimed: dict[str, str] = {}
        self._folders: set[str] = set()
        self.published = False
        crash_point("staging_created")

    def _target(self, relpath: str) -> Path:
        reason = relpath_problem(relpath)
        if reason:
            raise RegistryError.of("UNSAFE_PATH", path=relpath, reason=f"relpath {reason}")
        if is_reserved(relpath):
            raise RegistryError.of("RESERVED_NAME", path=relpath)
        self._claim(relpath)
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _claim(self, relpath: str) -> None:
        """Reserve `relpath`, refusing twins after case folding and file/folder clashes."""
        key = fold_key(relpath)
        unsafe = functools.partial(RegistryError.of, "UNSAFE_PATH", path=relpath)
        if key in self._claimed and self._claimed[key] == relpath:
            raise RegistryError.of("DUPLICATE_ENTRY", path=relpath, where="one run folder")
        if key in self._claimed:
            raise unsafe(reason=f"same path as {self._claimed[key]!r} after case folding")
        if key in self._folders:
            raise unsafe(reason="is already a folder in this run")
        parts = relpath.split("/")
        parents = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        for parent in parents:
            if fold_key(parent) in self._claimed:
                raise unsafe(reason=f"would be inside {parent!r}, which is a file")
        self._claimed[key] = relpath
        self._folders.update(fold_key(parent) for parent in parents)

    def add_bytes(self, relpath: str, data: bytes) -> ManifestEntry:
        """Write `data` as `relpath` (fsynced, read-only) and record its hash."""
        entry = write_file(self._target(relpath), relpath, data)
        self.entries[relpath] = entry
        return entry

    def add_copies(self, pairs: Iterable[tuple[str, Path]]) -> None:
        """Copy files in, hashing each byte as it is written; COPY_WORKERS files at a time."""
        targets = [(relpath, source, self._target(relpath)) for relpath, source in pairs]
        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            for entry in pool.map(lambda t: copy_hashing(t[1], t[2], t[0]), targets):
                self.entries[entry.relpath] = entry

    def publish(self) -> SealedRun:
        """Seal and atomically publish; retries with the next run id if another build took it."""
        if not self.entries:
            raise RegistryError.of("NOTHING_TO_SEAL", path=self.path, reason="no file was added")
        crash_point("payload_written")
        seal_subdirs(self.path)
        git = read_git_state(self.store.workspace.root)
        runs = self.store.workspace.runs_dir
        elsewhere: set[str] = set()  # ids another machine published first (a shared store)
        while True:
            moment = self.store.clock()
            taken = [*_names_with_prefix(runs, moment), *elsewhere]
            run_id = next_run_id(self.spec.registry_id, moment, taken)
            if run_id is None:
                time.sleep(max(0.0, 1.0 - moment.microsecond / 1e6))
                continue
            created = utc_timestamp(moment)
            root, entries = self._write_seal(run_id, created, git)
            if not self.store.workspace.publish_shared(self.path, run_id):
                elsewhere.add(run_id)
                continue
            target = runs / run_id
            self.store.workspace.require_writable(target)  # RUNS/ may have changed meanwhile
            try:
                fs.rename_noreplace(self.path, target)
            except OSError as exc:  # FileExistsError included
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            self.published = True
            crash_point("published")
            os.chmod(target, DIR_MODE)
            fs.fsync_dir(target)
            fs.fsync_dir(runs)
            crash_point("runs_synced")
            return SealedRun(run_id, target, root, created, entries)

    def _write_seal(
        self, run_id: str, created: str, git: GitState
    ) -> tuple[str, tuple[ManifestEntry, ...]]:
        for name in (RUN_JSON, MANIFEST_JSON, MANIFEST_SHA256):
            (self.path / name).unlink(missing_ok=True)
        payload = list(self.entries.values())
        envelope = build_envelope(self.spec, run_id, created, git, [e.relpath for e in payload])
        run_entry = write_file(self.path / RUN_JSON, RUN_JSON, dumps_pretty(envelope))
        crash_point("run_json_written")
        listed = sorted_entries([*payload, run_entry])
        manifest_entry = write_file(
            self.path / MANIFEST_JSON, MANIFEST_JSON, render_manifest_json(listed)
        )
        crash_point("manifest_json_written")
        text, root = render_manifest_sha256([*listed, manifest_entry])
        write_file(self.path / MANIFEST_SHA256, MANIFEST_SHA256, text)
        crash_point("manifest_sha256_written")
        fs.fsync_dir(self.path)
        crash_point("staging_synced")
        return root, tuple(listed)


def seal_files(
    store: RunStore,
    spec: RunSpec,
    files: Mapping[str, bytes | Path],
    expected: Mapping[str, str] | None = None,
) -> SealedRun:
    """Seal artifacts as one new run folder; a relpath not matching `expected` is SOURCE_CHANGED."""
    with store.stage(spec) as staging:
        copies = [(relpath, data) for relpath, data in files.items() if isinstance(data, Path)]
        if copies:
            staging.add_copies(copies)
        for relpath, data in files.items():
            if not isinstance(data, Path):
                staging.add_bytes(relpath, data)
        for relpath, digest in (expected or {}).items():
            entry = staging.entries.get(relpath)
            if entry is not None and entry.sha256 != digest:
                raise RegistryError.of(
                    "SOURCE_CHANGED", path=relpath, expected=digest, found=entry.sha256
                )
        return staging.publish()


def _names_with_prefix(runs: Path, moment: datetime) -> list[str]:
    """Taken run ids of `moment`'s second, as fold_keys (a name folding to ours takes it too)."""
    prefix = moment.strftime("%Y-%m-%d__%H%M%S__")
    # no character folds to a digit, `-` or `_`: the prefix filter is exact
    return [fold_key(name) for name in os.listdir(runs) if name.startswith(prefix)]


FILE_MODE = 0o444
DIR_MODE = 0o555


def write_file(target: Path, relpath: str, data: bytes) -> ManifestEntry:
    """`data` as the new file `target` (never an existing one), fsynced, read-only."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return ManifestEntry(relpath, len(data), sha256_bytes(data))


def copy_hashing(source: Path, target: Path, relpath: str) -> ManifestEntry:
    """Copy `source` to `target` reading each byte once: hash and write the same buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    total = 0
    try:
        src = open_regular(source)  # a FIFO swapped in neither hangs the open nor is read
    except NotRegularFile as exc:
        kind = f"a {file_kind(exc.mode)}"
        raise RegistryError.of("NOT_A_REGULAR_FILE", path=source, kind=kind) from None
    except OSError as exc:
        why = exc.strerror
        raise RegistryError.of("SOURCE_UNREADABLE", path=source, reason=why) from None
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            while count := os.readv(src, [buffer]):
                chunk = view[:count]
                digest.update(chunk)
                write_all(dst, chunk)
                fs.start_writeback(dst, total, count)
                total += count
                crash_point("copy_block")
            os.fsync(dst)
            os.fchmod(dst, FILE_MODE)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return ManifestEntry(relpath, total, digest.hexdigest())


def seal_subdirs(root: Path) -> None:
    """fsync and make read-only every subfolder, deepest first (the root stays writable)."""
    folders = [Path(d) for d, _subdirs, _files in os.walk(root) if Path(d) != root]
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fs.fsync_dir(folder)
        os.chmod(folder, DIR_MODE)
