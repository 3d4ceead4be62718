"""The report on one run folder, the refusal of a non-run folder, and a file's parse problems."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256, RUN_JSON
from registry_pipeline.core.seal.paths import printable

REQUIRED = (RUN_JSON, MANIFEST_JSON, MANIFEST_SHA256)


@dataclass(frozen=True)
class FolderReport:
    """The verdict on one run folder: PASS when `problems` is empty."""

    run_folder: str
    run_id: str | None
    root_sha256: str | None
    problems: tuple[Problem, ...]
    files: int
    fast: bool
    created_utc: str | None = None
    """run.json's `created_utc` as inspected (None: absent), so date checks reuse the one read."""
    sha256_listed: frozenset[str] | None = None
    """Relpaths MANIFEST.sha256 lists as parsed (None: not parsed), so verdicts need not reread."""

    @property
    def ok(self) -> bool:
        """True when the folder satisfies the seal contract."""
        return not self.problems

    @property
    def status(self) -> str:
        """`PASS` or `FAIL`."""
        return "PASS" if self.ok else "FAIL"

    def with_problems(self, extra: Iterable[Problem]) -> FolderReport:
        """This report with `extra` problems appended (e.g. from `run_folder_name_problems`)."""
        added = tuple(extra)
        return replace(self, problems=self.problems + added) if added else self

    def as_json(self) -> dict[str, object]:
        """The object `registry validate --json` prints for this folder."""
        return {
            "run_folder": self.run_folder,
            "run_id": self.run_id,
            "status": self.status,
            "root_sha256": self.root_sha256,
            "files": self.files,
            "mode": "fast" if self.fast else "full",
            "errors": [problem.as_json() for problem in self.problems],
        }


def refuse_non_run_folder(folder: str | Path, fast: bool) -> FolderReport | None:
    """A FAIL report if `folder` has no seal file at its top, else None; UsageError: unreadable."""
    try:
        info = os.lstat(folder)  # lstat alone: `registry validate /` must not walk the disk
        if not stat.S_ISDIR(info.st_mode):
            raise RegistryError.of("NOT_A_RUN_FOLDER", path=folder, reason="not a directory")
        top = os.fspath(folder)
        if any(_lexists(os.path.join(top, name)) for name in REQUIRED):
            return None
    except FileNotFoundError:
        missing = RegistryError.of("NOT_A_RUN_FOLDER", path=folder, reason="no such directory")
        raise missing from None
    except OSError as exc:
        why = exc.strerror or exc
        raise RegistryError.of("UNREADABLE", path=folder, what="run folder", reason=why) from None
    said = f"none of {', '.join(REQUIRED)} is at its top (nothing in it was read)"
    problems = (Problem.of("NOT_A_RUN_FOLDER", reason=said), *map(missing_required, REQUIRED))
    return FolderReport(str(folder), None, None, problems, 0, fast)


def missing_required(name: str) -> Problem:
    """The problem of a seal file (one of REQUIRED) that is not in the folder."""
    return Problem.of("MISSING_REQUIRED_FILE", path=name)


def _lexists(path: str) -> bool:
    """Whether anything (a symlink too) is at `path`; errors other than absence propagate."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def json_invalid(relpath: str, fmt: str, exc: JSONDecodeProblem) -> Problem:
    """A file that does not parse: JSON_INVALID at the parser's line and column."""
    reason = exc.message if exc.code == "JSON_INVALID" else str(exc)
    where = printable(relpath)
    return Problem.of("JSON_INVALID", path=where, format=fmt, reason=reason, line=exc.line,
                      column=exc.column)  # fmt: skip


def schema_violation(
    relpath: str, message: str, line: int | None, field: str | None = None
) -> Problem:
    """A schema violation in `relpath`, at `line` (when known) and the JSON pointer `field`."""
    return Problem.of("SCHEMA_VIOLATION", path=printable(relpath), reason=message, line=line,
                      field=field)  # fmt: skip
