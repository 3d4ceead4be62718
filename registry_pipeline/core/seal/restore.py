"""A restored copy of a run folder whose line endings were converted: a new folder, verified."""

from __future__ import annotations

import errno
import functools
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.fs import (
    NotRegularFile,
    file_kind,
    fsync_dir,
    open_regular,
    rename_noreplace,
)
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, sha256_file
from registry_pipeline.core.seal.manifest import (
    MANIFEST_SHA256,
    no_root_line,
    parse_manifest_sha256,
)
from registry_pipeline.core.seal.verdicts import (
    INTACT_OLDER_FORMAT,
    PASS,
    undo_conversion,
    verdict_of,
)


@dataclass
class Restored:
    """What the copy holds: files kept as they were, files restored, and where it is."""

    folder: Path
    kept: list[str] = field(default_factory=list)
    restored: dict[str, str] = field(default_factory=dict)
    """relpath -> what was undone (`LF back to CRLF`, `CRLF back to LF`)."""

    def as_json(self) -> dict[str, object]:
        return {"folder": str(self.folder), "kept": self.kept, "restored": self.restored}


def restore_line_endings(source: Path, dest_parent: Path) -> Restored:
    """Write `source`, line endings undone, as `dest_parent/<name>`; on error only `dest_parent`."""
    source = source.resolve()
    not_a_run_folder = functools.partial(RegistryError.of, "NOT_A_RUN_FOLDER", path=source)
    if not source.is_dir():
        raise not_a_run_folder(reason="not a directory")
    name = source.name
    if not name:
        raise not_a_run_folder(reason="it has no name to give the copy")
    dest_parent = _checked_dest(source, dest_parent)
    manifest, listed = _listed(source)
    dest_parent.mkdir(parents=True, exist_ok=True)  # the one write an error may leave
    files = _regular_files(source)
    for relpath in listed:
        if relpath not in files:
            kind = "missing or a folder, though listed"
            raise RegistryError.of("NOT_A_REGULAR_FILE", path=source / relpath, kind=kind)
    target = dest_parent / name
    if os.path.lexists(target):
        raise RegistryError.of("DEST_EXISTS", path=target)
    result = Restored(target)
    contents: dict[str, bytes] = {}
    if manifest is not None:
        contents[MANIFEST_SHA256] = manifest
        result.restored[MANIFEST_SHA256] = "CRLF back to LF"
    unrecoverable = []
    for relpath, expected in sorted(listed.items()):
        if sha256_file(_open_regular(source / relpath))[0] == expected:
            result.kept.append(relpath)  # copied later by streaming, never held in memory
            continue
        undone = undo_conversion(_read_regular(source / relpath), expected)
        if undone is None:
            unrecoverable.append(relpath)
        else:
            contents[relpath], ending, now = undone
            result.restored[relpath] = f"{now} back to {ending}"
    if unrecoverable:
        raise RegistryError.of("RESTORE_UNRECOVERABLE", path=source, count=len(unrecoverable),
                               files=", ".join(unrecoverable[:5]))  # fmt: skip
    holder = Path(tempfile.mkdtemp(prefix=".restoring-", dir=dest_parent))  # a name: 255 bytes
    staging = holder / name  # same name inside: run.json agrees
    try:
        _write_copy(source, staging, sorted(files), contents)
        _verify(staging, source)
        try:
            rename_noreplace(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            raise RegistryError.of("DEST_EXISTS", path=target) from None  # appeared meanwhile
        fsync_dir(dest_parent)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return result


def _checked_dest(source: Path, dest_parent: Path) -> Path:
    """`dest_parent` resolved, refused when it is `source` or inside it, or not a folder."""
    dest = dest_parent.resolve()
    if dest == source or source in dest.parents:
        raise RegistryError.of("DEST_INSIDE_FOLDER", path=dest_parent, source=source)
    existing = dest
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise RegistryError.of("DEST_NOT_A_FOLDER", path=existing)
    return dest


def _listed(folder: Path) -> tuple[bytes | None, dict[str, str]]:
    """The LF-restored MANIFEST.sha256 (None: already LF) and relpath -> sha256 of what it lists."""

    path = folder / MANIFEST_SHA256
    not_a_run_folder = functools.partial(RegistryError.of, "NOT_A_RUN_FOLDER", path=path)
    try:
        data = _read_regular(path)
    except FileNotFoundError:
        raise not_a_run_folder(path=folder, reason="it has no MANIFEST.sha256") from None
    except OSError as exc:
        why = exc.strerror or exc
        raise not_a_run_folder(reason=f"its MANIFEST.sha256 cannot be read ({why})") from None
    restored = data.replace(b"\r\n", b"\n") if b"\r\n" in data else None
    found: list[Problem] = []
    hashes = parse_manifest_sha256(data if restored is None else restored, found.append).hashes
    complaints = [p for p in found if not no_root_line(p)]  # a sha256sum list is restorable
    if complaints:  # its first problem heads the error, which lists them all
        first = complaints[0]
        raise UsageError(first.message, code=first.code, path=str(path), problems=complaints)
    if not hashes:
        raise not_a_run_folder(reason="its MANIFEST.sha256 lists no file")
    return restored, hashes


def _regular_files(folder: Path) -> set[str]:
    """Relpaths of every file under `folder`; a symlink or special file refused before any open."""
    found: set[str] = set()
    pending = [folder]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    pending.append(Path(entry.path))
                elif stat.S_ISREG(mode):
                    found.add(Path(entry.path).relative_to(folder).as_posix())
                else:
                    kind = f"a {file_kind(mode)}"
                    raise RegistryError.of("NOT_A_REGULAR_FILE", path=entry.path, kind=kind)
    return found


def _open_regular(path: Path) -> int:
    """A read descriptor on `path`, refused unless it is a regular file (never a symlink)."""
    try:
        return open_regular(path)
    except NotRegularFile as exc:
        kind = file_kind(exc.mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        kind = "symlink"
    raise RegistryError.of("NOT_A_REGULAR_FILE", path=path, kind=f"a {kind}")


def _read_regular(path: Path) -> bytes:
    with open(_open_regular(path), "rb") as handle:
        return handle.read()


def _write_copy(
    source: Path, staging: Path, relpaths: list[str], contents: dict[str, bytes]
) -> None:
    """Every file of `source` into `staging`, durable: restored bytes, the others streamed."""
    for relpath in relpaths:
        path = staging / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:
            if relpath in contents:
                out.write(contents[relpath])
            else:
                with open(_open_regular(source / relpath), "rb") as handle:
                    shutil.copyfileobj(handle, out, BLOCK_SIZE)
            out.flush()
            os.fsync(out.fileno())
    for folder, _subdirs, _files in os.walk(staging):
        fsync_dir(folder)


def _verify(folder: Path, source: Path) -> None:
    """The copy satisfies the seal contract, or (no manifest.json) its plain hash list."""
    from registry_pipeline.core.seal.validate import inspect_run_folder

    report = inspect_run_folder(folder)
    if verdict_of(report).status not in (PASS, INTACT_OLDER_FORMAT):
        raise RegistryError.of("RESTORE_UNVERIFIED", path=source, problems=report.problems)
