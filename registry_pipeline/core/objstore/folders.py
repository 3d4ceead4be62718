"""Run folders in a bucket: published whole or not at all, read back as they were sealed.

A sealed folder's files go first to the staging area, `staging/sha256/<hex>` (content-addressed:
an upload killed halfway leaves only unreferenced objects, and a file unchanged between builds is
uploaded once); then one small object, `<run root>/<run id>.json`, is created with If-None-Match
and makes the folder visible with every file it lists (path, size, SHA-256). No listing, read or
pointer ever sees a folder before that write, and two machines cannot both publish one run id.
Read back, each file is compared with the SHA-256 it was published with; what does not match is
kept as found, so the folder's own seal check reports it (HASH_MISMATCH), as on a disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore.store import Conflict, ObjectStore

FORMAT = "registry-remote-folder-1"
STAGING = "staging/sha256/"
SUFFIX = ".json"


class FolderExists(RegistryError):
    """Another writer published a folder under that run id first."""

    code = "FOLDER_EXISTS"


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
    """Upload every file of the sealed `folder` (`on_file` told after each), then make it
    visible as `run_id` (the folder's name by default) by one conditional write; FOLDER_EXISTS
    when that run id is published already (by anyone)."""
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
        raise FolderExists(
            f"{run_id} is published in {store.url} already",
            path=f"{store.url}/{folder_key(run_root, run_id)}",
        ) from None
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
    """The files `run_id` was published with; FOLDER_NOT_FOUND or REMOTE_FOLDER_INVALID."""
    key = folder_key(run_root, run_id)
    blob = store.get(key)
    where = f"{store.url}/{key}"
    if blob is None:
        raise RegistryError(f"{run_id} is not published", code="FOLDER_NOT_FOUND", path=where)
    try:
        body = json.loads(blob.data)
        if body.get("format") != FORMAT or body.get("run_id") != run_id:
            raise ValueError("another format or run id")
        return [RemoteFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in body["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryError(
            f"{run_id}'s folder object is not one this release wrote ({exc})",
            code="REMOTE_FOLDER_INVALID",
            path=where,
        ) from None


def fetch(store: ObjectStore, run_root: str, run_id: str, into: Path) -> Path:
    """`into/<run_id>/` as published (kept when it is there already: folders never change);
    written beside it and renamed into place, so a reader never sees half a folder."""
    target = into / run_id
    if target.is_dir():
        return target
    files = listing(store, run_root, run_id)
    into.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=into))
    try:
        for remote in files:
            if remote.relpath.startswith("/") or ".." in remote.relpath.split("/"):
                raise RegistryError(
                    f"{run_id} lists an unsafe path {remote.relpath!r}",
                    code="UNSAFE_PATH",
                    path=f"{store.url}/{folder_key(run_root, run_id)}",
                )
            path = partial / remote.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            # as found, streamed: the seal check compares it (a missing blob: MISSING_FILE)
            store.download(staged_key(remote.sha256), path)
        os.replace(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not target.is_dir():  # another reader renamed it first: theirs is the same folder
            raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target
