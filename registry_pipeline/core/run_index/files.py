"""Whether the files a record names exist on this machine (the FILE_ABSENT warning), as
`Path(value).exists()` says, with fewer system calls for a million records.

A path written as `Path` would write it (no `//`, `/./` or trailing `/`) is looked up with one
`os.stat`; a folder found missing on the way answers for every later path under it (a million
run logs under a missing `/srv/c1/...` cost a few lookups, not a million), up to `KEPT` folders
per check. Anything else, and any error other than "no such file" or "not a folder", is left to
`Path.exists` itself.
"""

from __future__ import annotations

import itertools
import operator
import os
from pathlib import Path

from registry_pipeline.core.run_index.fields import NATIVE_POSIX

KEPT = 64
"""Missing folders remembered, and paths whose missing folders are looked for."""
_ABSENT = (FileNotFoundError, NotADirectoryError)
"""The errors `Path.exists` answers False for without a doubt (ENOENT, ENOTDIR)."""


class FileLookup:
    """`exists(path)` for the paths of one check (an append, a build's rules check)."""

    def __init__(self) -> None:
        self._missing: tuple[str, ...] = ()
        """Folders found missing, each with a final `/`."""
        self._tries = 0

    def exists(self, path: str) -> bool:
        """`Path(path).exists()`, for an absolute path in this machine's form."""
        if not _plain(path):
            return Path(path).exists()
        if self._missing and path.startswith(self._missing):
            return False
        try:
            os.stat(path)
        except _ABSENT:
            self._remember(path)
            return False
        except (OSError, ValueError):
            return Path(path).exists()  # it decides: raise (EACCES) or answer False
        return True

    def exist_each(self, paths: list[str]) -> list[bool]:
        """`exists` of each path, those spelt plainly under a folder found missing answered
        together (in C)."""
        found = [True] * len(paths)
        if self._missing:
            gone = map(str.startswith, paths, itertools.repeat(self._missing))
            found = list(map(operator.not_, map(operator.and_, gone, _plains(paths))))
        for at in itertools.compress(itertools.count(), found):
            found[at] = self.exists(paths[at])
        return found

    def _remember(self, path: str) -> None:
        """Remember the first missing folder above `path`, if any (a few lookups, for the
        first KEPT paths found absent)."""
        if self._tries >= KEPT:
            return
        self._tries += 1
        at = path.find("/", 1)
        while at > 0:
            folder = path[:at]
            try:
                os.stat(folder)
            except _ABSENT:
                self._missing = (*self._missing, folder + "/")
                return
            except (OSError, ValueError):
                return
            at = path.find("/", at + 1)


def _plains(paths: list[str]) -> list[bool]:
    """`_plain` of each path, in C."""
    if not NATIVE_POSIX:
        return [False] * len(paths)
    doubled = map(operator.contains, paths, itertools.repeat("//"))
    dotted = map(operator.contains, paths, itertools.repeat("/./"))
    ending = map(str.endswith, paths, itertools.repeat(("/", "/.")))
    odd = map(operator.or_, map(operator.or_, doubled, dotted), ending)
    return list(
        map(
            operator.and_,
            map(str.startswith, paths, itertools.repeat("/")),
            map(operator.not_, odd),
        )
    )


def _plain(path: str) -> bool:
    """Whether `path` is absolute and spelt as `Path(path)` spells it (so `os.stat(path)` is
    what `Path(path).exists()` asks)."""
    return (
        NATIVE_POSIX
        and path.startswith("/")
        and "//" not in path
        and "/./" not in path
        and not path.endswith(("/", "/."))
    )
