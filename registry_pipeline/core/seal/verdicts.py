"""What a failed folder report means for a user: damaged, or intact under an older scheme.

A FolderReport says whether a folder satisfies *this* seal contract. Folders of the seed system
predate it: many evidence folders carry no seal files at all, some carry only a plain
`sha256sum` list. Telling those apart from damaged folders is the difference between "nothing
to worry about" and "evidence was altered", so `registry validate` reports one verdict each:

- `PASS`: satisfies the seal contract.
- `INTACT_OLDER_FORMAT`: no `manifest.json` or `run.json`, but a `MANIFEST.sha256` that is a plain
  per-file hash list (`<sha256>  <relpath>`, no ROOT line) whose every line verifies and which
  lists every file of the folder. Format: `sha256sum list`.
- `UNSEALED`: none of the seal files: nothing claims anything about its content.
- `FAIL`: damaged (a hash, size, listing or schema problem), with the reason codes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.errors import ReasonCode
from registry_pipeline.core.seal._inspector import FolderReport

PASS = "PASS"
INTACT_OLDER_FORMAT = "INTACT_OLDER_FORMAT"
UNSEALED = "UNSEALED"
FAIL = "FAIL"
SHA256SUM_LIST = "sha256sum list"
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


@dataclass(frozen=True)
class Verdict:
    """One folder's verdict; `older_format` names the scheme when the verdict is intact."""

    status: str
    older_format: str | None = None

    @property
    def failed(self) -> bool:
        """Whether `registry validate` counts it as a failure (UNSEALED and older formats only
        with --strict)."""
        return self.status == FAIL


def verdict_of(report: FolderReport) -> Verdict:
    """The verdict on the folder of `report` (read again only for an older-format check)."""
    if report.ok:
        return Verdict(PASS)
    codes = {problem.code for problem in report.problems}
    if ReasonCode.NOT_A_RUN_FOLDER in codes:
        return Verdict(UNSEALED)
    folder = Path(report.run_folder)
    if _intact_sha256sum_list(folder):
        return Verdict(INTACT_OLDER_FORMAT, SHA256SUM_LIST)
    return Verdict(FAIL)


def _intact_sha256sum_list(folder: Path) -> bool:
    """A folder sealed by `sha256sum` alone: only MANIFEST.sha256 among the seal files, every
    line a hash and a relpath, no ROOT line, every listed file verifying, every file listed."""
    if (folder / "manifest.json").exists() or (folder / "run.json").exists():
        return False
    try:
        text = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    listed: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None or match[2] in listed or ".." in match[2].split("/"):
            return False
        listed[match[2]] = match[1]
    if not listed:
        return False
    present = set()
    for directory, _subdirs, files in os.walk(folder):
        for name in files:
            relpath = (Path(directory) / name).relative_to(folder).as_posix()
            if relpath != "MANIFEST.sha256":
                present.add(relpath)
    if present != set(listed):
        return False
    for relpath, expected in listed.items():
        path = folder / relpath
        if path.is_symlink() or not path.is_file():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            return False
    return True
