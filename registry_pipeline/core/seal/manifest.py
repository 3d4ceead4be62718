"""The two manifests of a run folder, `manifest.json` and `MANIFEST.sha256`, and the root hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from registry_pipeline.core.json_strict import dumps_pretty
from registry_pipeline.core.seal.paths import sort_key

HEX64 = re.compile(r"[0-9a-f]{64}")
HEX64_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")
ROOT_LABEL = "ROOT_SHA256"
MANIFEST_JSON = "manifest.json"
MANIFEST_SHA256 = "MANIFEST.sha256"
RUN_JSON = "run.json"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One sealed file: its relpath, size in bytes and lowercase hex SHA-256."""

    relpath: str
    bytes: int
    sha256: str

    def line(self) -> str:
        """Its `MANIFEST.sha256` line, the format `sha256sum -c` reads."""
        return f"{self.sha256}  {self.relpath}"

    def __str__(self) -> str:
        return f"{self.relpath} sha256:{self.sha256} ({self.bytes} bytes)"


def sorted_entries(entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """Entries in relpath byte order."""
    return sorted(entries, key=lambda entry: sort_key(entry.relpath))


def render_manifest_json(entries: Sequence[ManifestEntry]) -> bytes:
    """`manifest.json`: the entries in relpath order, keys in the order relpath, bytes, sha256."""
    rows = [
        {"relpath": e.relpath, "bytes": e.bytes, "sha256": e.sha256}
        for e in sorted_entries(entries)
    ]
    return dumps_pretty(rows, sort_keys=False)


def root_sha256(lines: Iterable[str]) -> str:
    """SHA-256 of the per-file lines sorted as byte strings, each followed by a newline."""
    encoded = sorted(line.encode("utf-8", "surrogateescape") for line in lines)
    digest = hashlib.sha256()
    for line in encoded:
        digest.update(line + b"\n")
    return digest.hexdigest()


def render_manifest_sha256(entries: Sequence[ManifestEntry]) -> tuple[bytes, str]:
    """`MANIFEST.sha256` bytes (lines in relpath order, then the ROOT line) and the root hash."""
    lines = [entry.line() for entry in sorted_entries(entries)]
    root = root_sha256(lines)
    text = "".join(f"{line}\n" for line in lines) + f"{ROOT_LABEL}  {root}\n"
    return text.encode("utf-8"), root
