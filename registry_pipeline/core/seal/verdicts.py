"""One verdict per folder (docs/ADOPTING.md); intact only if its scheme explains every problem."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from registry_pipeline.core.errors import Hint, Problem
from registry_pipeline.core.seal.folder_report import REQUIRED, FolderReport
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    no_root_line,
)

PASS = "PASS"
INTACT_OLDER_FORMAT = "INTACT_OLDER_FORMAT"
CONVERTED = "CONVERTED"
UNSEALED = "UNSEALED"
FAIL = "FAIL"
VERDICTS = (PASS, FAIL, INTACT_OLDER_FORMAT, CONVERTED, UNSEALED)
"""Every verdict, in the order a count lists them."""
SHA256SUM_LIST = "sha256sum list"


@dataclass(frozen=True)
class Verdict:
    """One folder's verdict; `problems`: those found beyond the report's, so each FAIL names why."""

    status: str
    older_format: str | None = None
    hashed: bool = True
    problems: tuple[Problem, ...] = ()


def verdict_of(report: FolderReport) -> Verdict:
    """The verdict on the folder of `report`; nothing in the folder is read again."""
    hashed = not report.fast
    if report.ok:
        return Verdict(PASS, hashed=hashed)
    if line_endings_explain(report.problems):
        return Verdict(CONVERTED, hashed=hashed)
    codes = {problem.code for problem in report.problems}
    if "NOT_A_RUN_FOLDER" in codes:
        unsealed = all(_unsealed_explains(problem) for problem in report.problems)
        return Verdict(UNSEALED if unsealed else FAIL, hashed=hashed)
    if not _older_format_explains(report.problems):
        return Verdict(FAIL, hashed=hashed)
    unlisted = _listing_problem(report)
    if unlisted is not None:
        return Verdict(FAIL, hashed=hashed, problems=(unlisted,))
    return Verdict(INTACT_OLDER_FORMAT, SHA256SUM_LIST, hashed=hashed)


def tally(verdicts: Iterable[str]) -> dict[str, int]:
    """The one count of verdicts (`registry validate` and the health report), zeros included."""
    return {**dict.fromkeys(VERDICTS, 0), **Counter(verdicts)}


def describe(counts: Mapping[str, int]) -> str:
    """A count in words: `12 PASS, 0 FAIL, 224 unsealed` (PASS and FAIL always, others if any)."""
    said = [f"{counts.get(PASS, 0)} PASS", f"{counts.get(FAIL, 0)} FAIL"]
    said += (
        f"{counts[verdict]} {words}" for verdict, words in _WORDS.items() if counts.get(verdict)
    )
    return ", ".join(said)


_WORDS = {
    INTACT_OLDER_FORMAT: "intact in an older format",
    CONVERTED: "with line endings converted",
    UNSEALED: "unsealed",
}


def line_endings_explain(problems: tuple[Problem, ...] | list[Problem]) -> bool:
    """Whether git's line-ending conversion explains every problem, and there is one."""
    return bool(problems) and all(p.hint == Hint.LINE_ENDINGS_CONVERTED for p in problems)


def _unsealed_explains(problem: Problem) -> bool:
    """What the inspector reports for a folder with none of the seal files, and nothing else."""
    return problem.code == "NOT_A_RUN_FOLDER" or (
        problem.code == "MISSING_REQUIRED_FILE" and problem.path in REQUIRED
    )


def _older_format_explains(problems: tuple[Problem, ...]) -> bool:
    """True when the problems are exactly those of a plain hash list that verified."""
    missing = set()
    for problem in problems:
        if problem.code == "MISSING_REQUIRED_FILE" and problem.path in _OLDER_MISSING:
            missing.add(problem.path)
        elif not no_root_line(problem):
            return False
    return missing == _OLDER_MISSING


_OLDER_MISSING = {RUN_JSON, MANIFEST_JSON}


def _listing_problem(report: FolderReport) -> Problem | None:
    """Why MANIFEST.sha256 does not list every file of the folder (and at least one), or None."""
    listed = report.sha256_listed or frozenset()
    if MANIFEST_JSON in listed:
        return Problem.of("MISSING_FILE", path=MANIFEST_JSON, where=MANIFEST_SHA256)
    if not listed:
        said = "lists no file: it vouches for nothing in the folder"
        return Problem.of("MALFORMED_MANIFEST", path=MANIFEST_SHA256, reason=said)
    unlisted = report.files - 1 - len(listed)
    if unlisted:
        said = (f"{unlisted} file(s) of the folder are not listed in MANIFEST.sha256 (it lists "
                f"{len(listed)}, the folder holds {report.files - 1} besides it)")  # fmt: skip
        return Problem.of("UNLISTED_FILE", reason=said)
    return None


MAX_DIAGNOSE = 16 << 20
"""Larger files are not re-hashed for the diagnosis."""

ADVICE = (
    "line endings were converted after sealing: git's core.autocrlf or a text/eol attribute "
    "does this on checkout or commit; restore the "
    "original bytes and mark sealed folders '-text' in .gitattributes (`registry init` writes it)"
)


def diagnose(data: bytes, sealed_sha256: str, sealed_bytes: int) -> str | None:
    """Explain a mismatch when the file matches its seal once line endings are converted back."""
    undone = undo_conversion(data, sealed_sha256, sealed_bytes)
    if undone is None:
        return None
    return f"line endings were converted after sealing (sealed with {undone[1]}, now {undone[2]})"


def undo_conversion(
    data: bytes, sealed_sha256: str, sealed_bytes: int = -1
) -> tuple[bytes, str, str] | None:
    """The sealed bytes, their line ending and the one now, if converting back matches the seal."""
    if b"\n" not in data:
        return None
    crlf = data.count(b"\r\n")
    as_lf = data.replace(b"\r\n", b"\n")
    if crlf == 0:
        candidate, sealed, now = as_lf.replace(b"\n", b"\r\n"), "CRLF", "LF"
    elif crlf == data.count(b"\n"):
        candidate, sealed, now = as_lf, "LF", "CRLF"
    else:
        return None
    if sealed_bytes >= 0 and len(candidate) != sealed_bytes:
        return None
    return (candidate, sealed, now) if sha256_bytes(candidate) == sealed_sha256 else None
