"""A restored copy of a run folder whose text files had their line endings converted.

The original bytes cannot come back from a repository that stores them normalized, but a seal
says exactly which bytes were sealed: a file that matches its recorded SHA-256 once its line
endings are converted back (LF to CRLF, or CRLF to LF) is restored to those bytes. The copy is
written into a new folder, never over the original, and only when every listed file is intact
or restored and the copy verifies (seal contract, or the plain `sha256sum` list it carries).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.manifest import MANIFEST_SHA256


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
    """Write `dest_parent/<source name>`: `source` with converted line endings undone.

    RESTORE_UNRECOVERABLE (nothing written) when a listed file matches its hash neither as it
    is nor converted back; RESTORE_UNVERIFIED when the copy does not verify; DEST_EXISTS when the
    target exists.
    """
    listed = _listed(source)
    target = dest_parent / source.name
    if target.exists():
        raise UsageError("the restored copy would replace it", code="DEST_EXISTS", path=str(target))
    result = Restored(target)
    contents: dict[str, bytes] = {}
    unrecoverable = []
    for relpath, expected in sorted(listed.items()):
        data = (source / relpath).read_bytes()
        fixed, how = _undo(data, expected)
        if fixed is None:
            unrecoverable.append(relpath)
            continue
        contents[relpath] = fixed
        if how:
            result.restored[relpath] = how
        else:
            result.kept.append(relpath)
    if unrecoverable:
        raise RegistryError(
            f"{len(unrecoverable)} file(s) match their seal neither as they are nor with their "
            f"line endings converted back: {', '.join(unrecoverable[:5])}; nothing was written",
            code="RESTORE_UNRECOVERABLE",
            path=str(source),
        )
    holder = dest_parent / f".restoring-{source.name}"  # same name inside: run.json agrees
    shutil.rmtree(holder, ignore_errors=True)
    staging = holder / source.name
    try:
        for directory, _dirs, files in os.walk(source):
            for name in files:
                relpath = (Path(directory) / name).relative_to(source).as_posix()
                if (source / relpath).is_symlink():
                    raise UsageError(
                        "is a symlink: restore only sealed files",
                        code="NOT_A_REGULAR_FILE",
                        path=str(source / relpath),
                    )
                path = staging / relpath
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(contents.get(relpath, (source / relpath).read_bytes()))
        _verify(staging)
        os.replace(staging, target)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return result


def _listed(folder: Path) -> dict[str, str]:
    """relpath -> sha256 of every file MANIFEST.sha256 lists (its ROOT line left out); a
    listed file that is a symlink or not a regular file is refused (nothing outside the folder
    is ever copied in)."""
    from registry_pipeline.core.seal._manifest_parse import parse_manifest_sha256

    try:
        data = (folder / MANIFEST_SHA256).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"no readable MANIFEST.sha256 to restore against: {exc.strerror or exc}",
            code="NOT_A_RUN_FOLDER",
            path=str(folder),
        ) from None
    listed = parse_manifest_sha256(data, lambda *_args, **_kwargs: None).hashes
    for relpath in listed:
        path = folder / relpath
        if path.is_symlink() or not path.is_file():
            raise UsageError(
                "is listed but is a symlink, a folder or missing: restore only sealed files",
                code="NOT_A_REGULAR_FILE",
                path=str(path),
            )
    if not listed:
        raise UsageError("MANIFEST.sha256 lists no file", code="NOT_A_RUN_FOLDER", path=str(folder))
    return listed


def _undo(data: bytes, expected: str) -> tuple[bytes | None, str | None]:
    """The sealed bytes and what was undone, or (None, None) when nothing matches."""
    if sha256_bytes(data) == expected:
        return data, None
    as_lf = data.replace(b"\r\n", b"\n")
    for candidate, how in ((as_lf.replace(b"\n", b"\r\n"), "LF back to CRLF"),
                           (as_lf, "CRLF back to LF")):  # fmt: skip
        if candidate != data and sha256_bytes(candidate) == expected:
            return candidate, how
    return None, None


def _verify(folder: Path) -> None:
    """The copy satisfies the seal contract, or (no manifest.json) its plain hash list."""
    from registry_pipeline.core.seal.validate import inspect_run_folder
    from registry_pipeline.core.seal.verdicts import INTACT_OLDER_FORMAT, PASS, verdict_of

    report = inspect_run_folder(folder)
    if verdict_of(report).status not in (PASS, INTACT_OLDER_FORMAT):
        codes = sorted({problem.code.value for problem in report.problems})
        raise RegistryError(
            f"the restored copy of {folder.name} does not verify ({', '.join(codes)}); nothing "
            "was written",
            code="RESTORE_UNVERIFIED",
            path=str(folder),
        )
