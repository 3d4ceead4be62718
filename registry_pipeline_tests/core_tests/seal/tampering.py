"""Re-sealing a run folder's manifests by hand, for the tests that tamper with one."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path

from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.manifest import root_sha256


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_lines(folder: Path) -> list[str]:
    """The per-file lines of MANIFEST.sha256 (the ROOT line left out)."""
    text = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if not line.startswith("ROOT_SHA256")]


def write_hash_lines(folder: Path, lines: list[str], root: str | None = None) -> None:
    """Write MANIFEST.sha256 with `lines` and a ROOT line (recomputed unless given)."""
    value = root if root is not None else root_sha256(lines)
    text = "".join(f"{line}\n" for line in lines) + f"ROOT_SHA256  {value}\n"
    (folder / "MANIFEST.sha256").write_bytes(text.encode("utf-8", "surrogateescape"))


def write_manifest_json(folder: Path, data: bytes) -> None:
    """Replace manifest.json and keep MANIFEST.sha256 consistent with it (its line and ROOT)."""
    (folder / "manifest.json").write_bytes(data)
    lines = [line for line in hash_lines(folder) if not line.endswith("  manifest.json")]
    write_hash_lines(folder, [*lines, f"{sha(data)}  manifest.json"])


def write_rows(folder: Path, rows: list[object]) -> None:
    """manifest.json from `rows` (as the store indents it), MANIFEST.sha256 kept consistent."""
    write_manifest_json(folder, (json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode())


def pairs(report: FolderReport) -> set[tuple[StrEnum, str | None]]:
    """(code, path) of every problem of `report`."""
    return {(problem.code, problem.path) for problem in report.problems}
