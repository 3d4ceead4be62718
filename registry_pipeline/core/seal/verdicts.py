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

import os
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.errors import ReasonCode
from registry_pipeline.core.seal._inspector import FolderReport
from registry_pipeline.core.seal._manifest_parse import parse_manifest_sha256
from registry_pipeline.core.seal.hashing import sha256_file
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256, RUN_JSON

PASS = "PASS"
INTACT_OLDER_FORMAT = "INTACT_OLDER_FORMAT"
UNSEALED = "UNSEALED"
FAIL = "FAIL"
SHA256SUM_LIST = "sha256sum list"


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
    """A folder sealed by `sha256sum` alone: only MANIFEST.sha256 among the seal files, parsed
    as the seal contract parses it with no complaint but the missing ROOT line, every listed file
    verifying and every file listed."""
    if (folder / MANIFEST_JSON).exists() or (folder / RUN_JSON).exists():
        return False
    listed = plain_hash_list(folder)
    if not listed:
        return False
    present = {
        (Path(directory) / name).relative_to(folder).as_posix()
        for directory, _subdirs, files in os.walk(folder)
        for name in files
    } - {MANIFEST_SHA256}
    return present == set(listed) and all(
        not (folder / relpath).is_symlink() and sha256_file(folder / relpath)[0] == digest
        for relpath, digest in listed.items()
    )


def plain_hash_list(folder: Path) -> dict[str, str] | None:
    """relpath -> sha256 of a `MANIFEST.sha256` that is a clean per-file hash list (our parser,
    every rule but the ROOT line), or None when it is absent, unreadable or malformed."""
    try:
        data = (folder / MANIFEST_SHA256).read_bytes()
    except OSError:
        return None
    complaints: list[str] = []
    parsed = parse_manifest_sha256(
        data, lambda code, path, message, **_: complaints.append(message)
    )
    if [c for c in complaints if c != "has no ROOT_SHA256 line"]:
        return None
    return parsed.hashes
