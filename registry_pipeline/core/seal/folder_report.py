"""The report on one run folder, the refusal of a non-run folder, and a file's parse problems."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from registry_pipeline.core.errors import Problem, ReasonCode, UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256, RUN_JSON
from registry_pipeline.core.seal.paths import printable

REQUIRED = (RUN_JSON, MANIFEST_JSON, MANIFEST_SHA256)
NOT_REGULAR = "is not a regular file (FIFO, socket or device)"


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
            raise UsageError(
                "not a run folder (not a directory)", code="NOT_A_RUN_FOLDER", path=str(folder)
            )
        top = os.fspath(folder)
        if any(_lexists(os.path.join(top, name)) for name in REQUIRED):
            return None
    except FileNotFoundError:
        raise UsageError(
            "not a run folder (no such directory)", code="NOT_A_RUN_FOLDER", path=str(folder)
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot read run folder: {exc.strerror or exc}", code="UNREADABLE", path=str(folder)
        ) from None
    problems = (
        Problem(
            code=ReasonCode.NOT_A_RUN_FOLDER,
            message=f"none of {', '.join(REQUIRED)} is at its top: not a run folder, "
            "nothing in it was read",
        ),
        *map(missing_required, REQUIRED),
    )
    return FolderReport(str(folder), None, None, problems, 0, fast)


def missing_required(name: str) -> Problem:
    """The problem of a seal file (one of REQUIRED) that is not in the folder."""
    message = f"required file {name} is missing"
    return Problem(code=ReasonCode.MISSING_REQUIRED_FILE, path=name, message=message)


def _lexists(path: str) -> bool:
    """Whether anything (a symlink too) is at `path`; errors other than absence propagate."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def json_invalid(relpath: str, fmt: str, exc: JSONDecodeProblem) -> Problem:
    """A file that does not parse: JSON_INVALID at the parser's line and column."""
    detail = exc.message if exc.code == "JSON_INVALID" else str(exc)
    return Problem(
        code=ReasonCode.JSON_INVALID,
        path=printable(relpath),
        message=f"not valid {fmt}: {detail}",
        line=exc.line,
        column=exc.column,
    )


def schema_violation(
    relpath: str, message: str, line: int | None, field: str | None = None
) -> Problem:
    """A schema violation in `relpath`, at `line` (when known) and the JSON pointer `field`."""
    return Problem(
        code=ReasonCode.SCHEMA_VIOLATION,
        path=printable(relpath),
        message=message,
        line=line,
        field=field,
    )
