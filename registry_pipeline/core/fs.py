"""Durable file steps (fsync, a no-replace rename), every write inside the workspace; the one
safe reader, the one stat fingerprint, the one quarantine."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, overload

from registry_pipeline.core.errors import RegistryError

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCL = 0x4  # macOS renamex_np
_CHUNK = 1 << 16
HOW_TO_FIX = "registry-pipeline writes only real folders and files inside the workspace"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a folder's entries (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` (os.write may take part of it: a full disk, a size limit)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(
    path: Path,
    data: bytes,
    *,
    durable: bool = True,
    replace: bool = True,
    written: Callable[[], None] | None = None,
) -> None:
    """Atomically replace (or create) `path`, a link there replaced, not written through."""
    # the folders on the way are the caller's to check (`require_safe`)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if written is not None:
            written()
        (os.replace if replace else rename_noreplace)(temp, path)
    except OSError as exc:  # the file it is about is `path`, never our temporary name
        temp.unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library loadable
        return None


_LIBC = _libc()
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = (
    getattr(_LIBC, "sync_file_range", None) if sys.platform.startswith("linux") else None
)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def start_writeback(fd: int, offset: int, count: int) -> None:
    """Start writing a range to disk now, without waiting (Linux only); fsync makes it durable."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, count, _SYNC_FILE_RANGE_WRITE)


def rename_noreplace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Atomically rename `source` to `target`; FileExistsError if `target` exists."""
    src, dst = os.fsencode(source), os.fsencode(target)
    if _LIBC is not None and sys.platform.startswith("linux") and hasattr(_LIBC, "renameat2"):
        if _LIBC.renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: filesystem without the flag
            raise OSError(code, os.strerror(code), os.fsdecode(dst))
    elif _LIBC is not None and sys.platform == "darwin" and hasattr(_LIBC, "renamex_np"):
        if _LIBC.renamex_np(src, dst, _RENAME_EXCL) == 0:
            return
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), os.fsdecode(dst))
    _rename_via_exclusive_mkdir(src, dst)


def _rename_via_exclusive_mkdir(src: bytes, dst: bytes) -> None:
    os.mkdir(dst)  # raises FileExistsError when anything is there; nobody else may take it now
    try:
        os.rename(src, dst)
    except OSError:
        os.rmdir(dst)
        raise


def make_writable_and_remove(path: Path) -> None:
    """Remove a tree that sealing made read-only (used only on staging leftovers)."""

    def on_error(_func: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            shutil.rmtree(failed, onerror=on_error)
        else:
            os.unlink(failed)

    if path.is_dir() and not path.is_symlink():
        os.chmod(path, stat.S_IRWXU)
        shutil.rmtree(path, onerror=on_error)
    elif path.exists() or path.is_symlink():
        path.unlink()


REGULAR_ONLY = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW
"""Open flags for a file that must be regular: no symlink followed, no FIFO blocks; fstat checks."""


_KINDS = {stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO (named pipe)", stat.S_IFSOCK: "socket",
          stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
          stat.S_IFDIR: "folder"}  # fmt: skip


def file_kind(mode: int, path: str | os.PathLike[str] | None = None) -> str:
    """What stands at a path of this `st_mode`, in words ("FIFO (named pipe)", "folder"...);
    given its `path`, a symlink says where it points."""
    if stat.S_ISLNK(mode) and path is not None:
        with contextlib.suppress(OSError):
            return f"symlink (to {os.readlink(path)})"
    return "regular file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "special file")


class NotRegularFile(OSError):
    """Something other than a regular file where one is read or appended; `mode` says what."""

    def __init__(self, message: str = "", mode: int = 0, path: str | None = None) -> None:
        if stat.S_ISDIR(mode):
            super().__init__(errno.EISDIR, os.strerror(errno.EISDIR), path)
        else:
            text = message or f"is a {file_kind(mode)}, not a regular file"
            super().__init__(errno.EINVAL, text, path)
        self.mode = mode

    code = "NOT_A_REGULAR_FILE"

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}" if self.filename else str(self.strerror)


class TooLarge(OSError):
    """A file holds more than the limit it is read with; `size`: what it held when refused."""

    code = "INPUT_TOO_LARGE"

    def __init__(self, path: str | os.PathLike[str], limit: int, size: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        self.limit, self.size = limit, size


def _open(path: str | os.PathLike[str], follow_symlinks: bool, limit: int) -> tuple[int, int]:
    """(fd, size) of the regular file at `path`, opened without blocking, then fstat'ed."""
    fd = os.open(path, REGULAR_ONLY & ~os.O_NOFOLLOW if follow_symlinks else REGULAR_ONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(mode=info.st_mode, path=os.fspath(path))
        if info.st_size > limit:
            raise TooLarge(path, limit, info.st_size)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def open_regular(
    path: str | os.PathLike[str], *, follow_symlinks: bool = False, limit: int = sys.maxsize
) -> int:
    """A non-blocking read fd on a regular file (else NotRegularFile; a symlink is ELOOP) of at
    most `limit` bytes (else TooLarge)."""
    return _open(path, follow_symlinks, limit)[0]


def open_file(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> BinaryIO:
    """`open(path, "rb")` for a file that must be regular: a FIFO is an error, never a hang."""
    return open(open_regular(path, follow_symlinks=follow_symlinks), "rb")


def read_regular(
    path: str | os.PathLike[str], limit: int = sys.maxsize, *, follow_symlinks: bool = False
) -> bytes:
    """The one reader of a whole file: the bytes of the regular file at `path` (NotRegularFile
    for anything else, never waited on), TooLarge past `limit` bytes (never read further)."""
    fd, size = _open(path, follow_symlinks, limit)
    try:
        data = os.read(fd, size + 1)  # the size, and a byte more if it grew
        if len(data) == size:  # as fstat said: the end (a regular file's read stops only there)
            return data
        parts, total = [data], len(data)
        while total <= limit and (  # past 2 GiB a read stops short: the rest, then any growth
            chunk := os.read(fd, min(max(size + 1 - total, _CHUNK), limit + 1 - total))
        ):
            parts.append(chunk)
            total += len(chunk)
        if total > limit:  # grown since the fstat
            raise TooLarge(path, limit, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return b"".join(parts)


Stamp = tuple[int, int, int, int, int]
"""(device, inode, size, mtime, ctime): a file written again, or another file, differs in one."""


@overload
def file_stamp(path: os.stat_result, *, follow_symlinks: bool = True) -> Stamp: ...
@overload
def file_stamp(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> Stamp | None: ...
def file_stamp(
    path: str | os.PathLike[str] | os.stat_result, *, follow_symlinks: bool = True
) -> Stamp | None:
    """The one stat fingerprint every cache keys on, of `path` (or of its stat result); None
    when it cannot be stat'ed."""
    if not isinstance(path, os.stat_result):
        try:
            path = os.stat(path, follow_symlinks=follow_symlinks)
        except OSError:
            return None
    return (path.st_dev, path.st_ino, path.st_size, path.st_mtime_ns, path.st_ctime_ns)


# -- the one quarantine: what is set aside, kept as it was ------------------------------------

QUARANTINE_RELPATH = ".codex/quarantine"
"""Where whatever is set aside is kept, in every workspace: a cache's garbage, a torn tail."""
QUARANTINE_STAMP = "%Y%m%dT%H%M%S%fZ"


def quarantine(workspace: Path, what: Path | bytes, name: str) -> Path:
    """Keep `what` (a file moved as it is, unopened, or bytes) in the workspace's quarantine as
    `<stem>-<UTC time><suffix>` of `name`, never over another, durably; its new path.
    UNSAFE_PATH when the folder leads out of the workspace; an OSError is the caller's."""
    folder = require_safe(workspace, workspace / QUARANTINE_RELPATH)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix
    stem = f"{name[: len(name) - len(suffix)]}-{datetime.now(UTC).strftime(QUARANTINE_STAMP)}"
    attempt = 0
    while True:
        kept = folder / f"{stem}{f'-{attempt}' if attempt else ''}{suffix}"
        try:
            if isinstance(what, bytes):
                write_atomic(kept, what, replace=False)
            else:
                rename_noreplace(what, kept)
                fsync_dir(folder)
                fsync_dir(what.parent)
            return kept
        except FileExistsError:  # the same microsecond: another's
            attempt += 1


# -- the one rule of every write: a real place inside the workspace ---------------------------


def escape_problem(root: Path, relpath: str) -> tuple[str, Path] | None:
    """Why and where `relpath` leaves the workspace (a symlinked folder, outside); None if not."""
    current = root
    for part in Path(relpath).parts:
        current = current / part
        if current.is_symlink():
            return f"goes through a symlink ({current.name} -> {os.readlink(current)})", current
    resolved = (root / relpath).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"resolves outside the workspace ({resolved})", root / relpath
    return None


def require_safe(root: Path, target: Path) -> Path:
    """`target`, once writing it stays inside the workspace; else UNSAFE_PATH."""
    root = root.absolute()
    relpath = _relpath(root, target)
    if relpath == ".":
        return target
    problem = escape_problem(root, relpath)
    if problem is None:
        return target
    reason, where = problem
    if not where.is_symlink():  # a root whose own spelling means another place once resolved
        raise _outside(root, target, reason)
    link = f"{where.relative_to(root).as_posix()} is a symlink (to {os.readlink(where)})"
    raise _refused(where, relpath, link)


def require_safe_all(root: Path, targets: Iterable[Path]) -> None:
    """`require_safe` for each target, all before the first write."""
    for target in targets:
        require_safe(root, target)


def _relpath(root: Path, target: Path) -> str:
    """`target` relative to `root` (`.` for the root); UNSAFE_PATH if elsewhere or via `..`."""
    absolute = target.absolute()
    if not absolute.is_relative_to(root) and ".." not in absolute.parts:
        root = Path(os.path.normpath(root))
    if not absolute.is_relative_to(root):
        raise _outside(root, target, "it is outside the workspace")
    tail = absolute.relative_to(root)
    if ".." in tail.parts:
        raise _outside(root, target, "it climbs out with `..`")
    return tail.as_posix()


def _outside(root: Path, target: Path, reason: str) -> RegistryError:
    return _refused(target, target, f"{reason} ({root})")


def _refused(path: Path, target: Path | str, why: str) -> RegistryError:
    """UNSAFE_PATH: writing `target` would leave the workspace, `why`."""
    return RegistryError.of("UNSAFE_PATH", path=path,
                            reason=f"refusing to write {target}: {why}; {HOW_TO_FIX}")  # fmt: skip
