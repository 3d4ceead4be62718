"""Run folders in a bucket: published whole or not at all, read back as sealed (docs/SCALE.md)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.objstore.store import Conflict, ObjectStore, not_ours

FORMAT = "registry-remote-folder-1"
STAGING = "staging/sha256/"
SUFFIX = ".json"
FIELDS = frozenset({"format", "run_id", "files", "published_by"})
FILE_FIELDS = frozenset({"path", "size", "sha256"})
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_OBJECT = 64 * 1024 * 1024
"""The largest folder object read (~400,000 files listed)."""
MAX_PATH = 4096
MAX_NAME = 255
"""The longest path and segment (UTF-8 bytes) a folder may list: Linux's limits."""
MAX_SIZE = 2**63 - 1


@dataclass(frozen=True)
class RemoteFile:
    """One file of a published folder."""

    relpath: str
    size: int
    sha256: str


def staged_key(sha256: str) -> str:
    return f"{STAGING}{sha256}"


def folder_key(run_root: str, run_id: str) -> str:
    return f"{run_root.strip('/')}/{run_id}{SUFFIX}"


def publish(
    store: ObjectStore,
    run_root: str,
    folder: Path,
    run_id: str | None = None,
    on_file: Callable[[], None] | None = None,
) -> list[RemoteFile]:
    """Upload the sealed `folder`, then publish it as `run_id` by one conditional write."""
    run_id = run_id or folder.name
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as handle:  # a block at a time: a file may be gigabytes
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        store.put(staged_key(digest), path)
        files.append(RemoteFile(path.relative_to(folder).as_posix(), path.stat().st_size, digest))
        if on_file is not None:
            on_file()
    body = {
        "format": FORMAT,
        "run_id": run_id,
        "files": [{"path": f.relpath, "size": f.size, "sha256": f.sha256} for f in files],
        # unique to this publish: a create retried after a lost answer is told from a rival's
        "published_by": {"host": socket.gethostname(), "pid": os.getpid(), "nonce": uuid4().hex},
    }
    try:
        store.create(folder_key(run_root, run_id), json.dumps(body, indent=1).encode())
    except Conflict:
        where = f"{store.url}/{folder_key(run_root, run_id)}"
        raise RegistryError.of("FOLDER_EXISTS", path=where, run_id=run_id) from None
    return files


def published(store: ObjectStore, run_root: str) -> list[str]:
    """The run ids published under `run_root`, sorted."""
    prefix = run_root.strip("/") + "/"
    return sorted(
        key[len(prefix) : -len(SUFFIX)]
        for key in store.keys(prefix)
        if key.endswith(SUFFIX) and "/" not in key[len(prefix) :]
    )


def listing(store: ObjectStore, run_root: str, run_id: str) -> list[RemoteFile]:
    """The files `run_id` was published with; FOLDER_NOT_FOUND, or REMOTE_STATE_INVALID."""
    key = folder_key(run_root, run_id)
    where = f"{store.url}/{key}"
    field: str | None = None
    problem = _run_id_problem(run_id)
    if problem is None:
        blob = store.get(key, limit=MAX_OBJECT)
        if blob is None:
            raise RegistryError.of("FOLDER_NOT_FOUND", path=where, run_id=run_id)
        try:
            return _files(loads_strict(blob.data), run_id)
        except JSONDecodeProblem as exc:
            problem = str(exc)
        except RegistryError as exc:  # the shape `_files` checks, and where (a JSON pointer)
            field, problem = exc.field, exc.message
    raise not_ours(
        where, "a folder object", f"{field + ': ' if field else ''}{problem}", field=field
    )


def _files(body: object, run_id: str) -> list[RemoteFile]:
    """The files a folder object lists, once its whole shape is what `publish` writes."""
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise RegistryError(f"not {FORMAT!r}", field="/format")
    if unknown := sorted(set(body) - FIELDS):
        raise RegistryError("a field this release never writes", field=f"/{unknown[0]}")
    if body.get("run_id") != run_id:
        raise RegistryError(f"another run id than {run_id!r}", field="/run_id")
    if not isinstance(body.get("files"), list):
        raise RegistryError("not a list", field="/files")
    files = [_file(item, f"/files/{at}") for at, item in enumerate(body["files"])]
    folders = {folder for remote in files for folder in _folders(remote.relpath)}
    seen: set[str] = set()
    for at, remote in enumerate(files):
        if remote.relpath in seen or remote.relpath in folders:
            raise RegistryError("listed twice, or also as a folder", field=f"/files/{at}/path")
        seen.add(remote.relpath)
    return files


def _folders(path: str) -> Iterator[str]:
    """The folders `path` lies in: 'a/b/c' gives 'a' and 'a/b'."""
    segments = path.split("/")
    return ("/".join(segments[:end]) for end in range(1, len(segments)))


def _file(item: object, field: str) -> RemoteFile:
    if not isinstance(item, dict) or set(item) != FILE_FIELDS:
        raise RegistryError("a file is an object of path, size and sha256", field=field)
    path, size, sha256 = item["path"], item["size"], item["sha256"]
    if problem := _path_problem(path):
        raise RegistryError(problem, field=f"{field}/path")
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise RegistryError("not a whole number of bytes from 0 to 2**63-1", field=f"{field}/size")
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise RegistryError("not 64 lowercase hex digits", field=f"{field}/sha256")
    return RemoteFile(path, size, sha256)


def _path_problem(path: object) -> str | None:
    """Why `path` is no safe relative path inside a folder, if it is not."""
    if not isinstance(path, str) or not path:
        return "not a relative path"
    if not path.isprintable() or "\\" in path:
        return "a control character or a backslash in the path"
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "an absolute path, or an empty, '.' or '..' segment"
    encoded = [len(segment.encode()) for segment in segments]
    if sum(encoded) + len(encoded) > MAX_PATH or max(encoded) > MAX_NAME:
        return f"a path over {MAX_PATH} bytes or a name over {MAX_NAME}"
    return None


def _run_id_problem(run_id: str) -> str | None:
    """Why `run_id` is no run folder's name (one name, not hidden: fetches in progress are)."""
    if problem := _path_problem(run_id):
        return f"the run id: {problem}"
    return "the run id is not one name" if "/" in run_id or run_id[0] == "." else None


def fetch(store: ObjectStore, run_root: str, run_id: str, into: Path) -> Path:
    """`into/<run_id>/` as published (kept if there: folders never change), renamed into place."""
    target = into / run_id
    if _run_id_problem(run_id) is None and target.is_dir():
        return target
    files = listing(store, run_root, run_id)
    into.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".fetch.", dir=into))  # not the run id: 255 bytes
    try:
        for remote in files:  # each path checked safe by `listing`
            path = partial / remote.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            # as found, streamed: the seal check compares it (a missing blob: MISSING_FILE)
            store.download(staged_key(remote.sha256), path)
        os.replace(partial, target)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        # an OSError once another reader renamed it first: theirs is the same folder
        if not isinstance(exc, OSError) or not target.is_dir():
            raise
    return target
