"""A restored copy of a run folder whose line endings were converted: a new folder, verified."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline.core.errors import RegistryError, UsageError
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
    NO_ROOT_LINE,
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
    if not source.is_dir():
        raise UsageError("not a folder", code="NOT_A_RUN_FOLDER", path=str(source))
    name = source.name
    if not name:
        raise UsageError("has no name to give the copy", code="NOT_A_RUN_FOLDER", path=str(source))
    dest_parent = _checked_dest(source, dest_parent)
    manifest, listed = _listed(source)
    dest_parent.mkdir(parents=True, exist_ok=True)  # the one write an error may leave
    files = _regular_files(source)
    for relpath in listed:
        if relpath not in files:
            raise UsageError(
                "is listed but is missing or a folder: restore only sealed files",
                code="NOT_A_REGULAR_FILE",
                path=str(source / relpath),
            )
    target = dest_parent / name
    if os.path.lexists(target):
        raise UsageError("the restored copy would replace it", code="DEST_EXISTS", path=str(target))
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
        raise RegistryError(
            f"{len(unrecoverable)} file(s) match their seal neither as they are nor with their "
            f"line endings converted back: {', '.join(unrecoverable[:5])}; nothing was written",
            code="RESTORE_UNRECOVERABLE",
            path=str(source),
        )
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
            raise UsageError(
                "appeared while the copy was written; it was not replaced and nothing was written",
                code="DEST_EXISTS",
                path=str(target),
            ) from None
        fsync_dir(dest_parent)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return result


def _checked_dest(source: Path, dest_parent: Path) -> Path:
    """`dest_parent` resolved, refused when it is `source` or inside it, or not a folder."""
    dest = dest_parent.resolve()
    if dest == source or source in dest.parents:
        raise UsageError(
            f"is inside the folder to restore ({source}): the copy would alter the evidence; "
            "choose a DEST outside it",
            code="DEST_INSIDE_FOLDER",
            path=str(dest_parent),
        )
    existing = dest
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            "is not a folder: DEST must be a folder, or a path where one can be created",
            code="DEST_NOT_A_FOLDER",
            path=str(existing),
        )
    return dest


def _listed(folder: Path) -> tuple[bytes | None, dict[str, str]]:
    """The LF-restored MANIFEST.sha256 (None: already LF) and relpath -> sha256 of what it lists."""

    path = folder / MANIFEST_SHA256
    try:
        data = _read_regular(path)
    except FileNotFoundError:
        raise UsageError(
            "has no MANIFEST.sha256 to restore against", code="NOT_A_RUN_FOLDER", path=str(folder)
        ) from None
    except OSError as exc:
        raise UsageError(
            f"no readable MANIFEST.sha256 to restore against: {exc.strerror or exc}",
            code="NOT_A_RUN_FOLDER",
            path=str(path),
        ) from None
    restored = data.replace(b"\r\n", b"\n") if b"\r\n" in data else None
    complaints: list[tuple[str, str, str]] = []

    def report(code: str, relpath: str, message: str, **_details: object) -> None:
        if message != NO_ROOT_LINE:  # the one complaint a plain sha256sum list draws
            complaints.append((str(code), relpath, message))

    hashes = parse_manifest_sha256(data if restored is None else restored, report).hashes
    if complaints:
        reasons = "; ".join(f"{where}: {message}" for _code, where, message in complaints[:5])
        more = f" (and {len(complaints) - 5} more)" if len(complaints) > 5 else ""
        raise UsageError(
            f"cannot be restored against: {reasons}{more}",
            code=complaints[0][0],
            path=str(path),
        )
    if not hashes:
        raise UsageError("MANIFEST.sha256 lists no file", code="NOT_A_RUN_FOLDER", path=str(path))
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
                    raise UsageError(
                        f"is a {file_kind(mode)}: restore only sealed regular files",
                        code="NOT_A_REGULAR_FILE",
                        path=entry.path,
                    )
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
    raise UsageError(
        f"is a {kind}: restore only sealed regular files", code="NOT_A_REGULAR_FILE", path=str(path)
    )


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
        problems = [str(problem) for problem in report.problems]
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        said = "; ".join(problems[:5]) + more
        raise RegistryError(
            f"the restored copy does not verify: {said}; nothing was written",
            code="RESTORE_UNVERIFIED",
            path=str(source),
        )
