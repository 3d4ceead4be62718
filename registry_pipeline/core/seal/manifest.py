"""`manifest.json`, `MANIFEST.sha256` and the root hash: written exactly, parsed strictly."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from registry_pipeline.core.errors import Hint, Problem, render
from registry_pipeline.core.json_strict import JSONDecodeProblem, dumps_pretty, loads_strict
from registry_pipeline.core.seal.paths import fold_key, relpath_problem, safe_fold_key, sort_key

HEX64 = re.compile(r"[0-9a-f]{64}")
HEX64_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")
ROOT_LABEL = "ROOT_SHA256"
MANIFEST_JSON = "manifest.json"
MANIFEST_SHA256 = "MANIFEST.sha256"
RUN_JSON = "run.json"
NO_ROOT_LINE = "has no ROOT_SHA256 line"
"""The complaint about a MANIFEST.sha256 without a ROOT line (a plain sha256sum list draws it)."""


def no_root_line(problem: Problem) -> bool:
    """Whether a problem is the one a plain sha256sum list draws: no ROOT_SHA256 line."""
    said = render("MALFORMED_MANIFEST", reason=NO_ROOT_LINE)
    return (problem.code, problem.path, problem.message) == (MALFORMED, MANIFEST_SHA256, said)


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


Report = Callable[[Problem], None]
"""Takes each problem a parser finds (`Problem.of`), in the order found."""
MALFORMED, UNSAFE, DUPLICATE = "MALFORMED_MANIFEST", "UNSAFE_PATH", "DUPLICATE_ENTRY"

_LINE = re.compile(r"([^ ]*)  (.*)")
_ENTRY_KEYS = frozenset({"relpath", "bytes", "sha256"})
_DIGEST = 64


@dataclass(frozen=True)
class HashLines:
    """What MANIFEST.sha256 says: relpath to hash, its per-file lines as written, and the root."""

    hashes: dict[str, str]
    lines: list[str]
    root: str | None


def parse_manifest_json(data: bytes, report: Report) -> list[ManifestEntry] | None:
    """Well-formed entries of `manifest.json`, or None when it cannot be read as a list at all."""
    malformed = functools.partial(Problem.of, MALFORMED, path=MANIFEST_JSON)
    try:
        rows = loads_strict(data)
    except JSONDecodeProblem as exc:
        report(malformed(reason=f"not valid JSON: {exc}"))
        return None
    if not isinstance(rows, list):
        report(malformed(reason=f"must be a JSON array, found {type(rows).__name__}"))
        return None
    entries: list[ManifestEntry] = []
    seen: dict[str, str] = {}
    previous: str | None = None
    for index, row in enumerate(rows):
        entry = _entry(index, row, report)
        if entry is None:
            continue
        if previous is not None and sort_key(entry.relpath) < sort_key(previous):
            said = f"entries are not sorted by relpath: {entry.relpath!r} comes after {previous!r}"
            report(malformed(reason=said))
        previous = entry.relpath
        if _twin(entry.relpath, seen, "manifest.json", report):
            continue
        entries.append(entry)
    return entries


def _entry(index: int, row: object, report: Report) -> ManifestEntry | None:
    where = f"manifest.json entry {index}"
    malformed = functools.partial(Problem.of, MALFORMED, path=MANIFEST_JSON)
    if not isinstance(row, dict):
        report(malformed(reason=f"{where} is not an object"))
        return None
    keys = row.keys()
    if keys != _ENTRY_KEYS:
        missing, extra = sorted(_ENTRY_KEYS - keys), sorted(keys - _ENTRY_KEYS)
        said = f"{where} must have exactly relpath, bytes, sha256" + (
            f"; missing {missing}" * bool(missing) + f"; unexpected {extra}" * bool(extra)
        )
        report(malformed(reason=said))
        return None
    relpath, size, digest = row["relpath"], row["bytes"], row["sha256"]
    if not isinstance(relpath, str):
        report(malformed(reason=f"{where}: relpath is not a string"))
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        said = f"{where}: bytes must be a non-negative integer"
        report(malformed(path=relpath, reason=said, found=str(size)))
        return None
    if not isinstance(digest, str) or not HEX64.fullmatch(digest):
        upper = isinstance(digest, str) and HEX64_ANY_CASE.fullmatch(digest)
        said = "uses uppercase hex" if upper else "is not 64 lowercase hex"
        report(malformed(path=relpath, reason=f"{where}: sha256 {said}", found=str(digest)))
        return None
    reason = relpath_problem(relpath)
    if reason:
        report(Problem.of(UNSAFE, path=relpath, reason=f"relpath in manifest.json {reason}"))
        return None
    if relpath in (MANIFEST_JSON, MANIFEST_SHA256):
        report(malformed(path=relpath, reason="manifest.json must not list the seal files"))
        return None
    return ManifestEntry(relpath, size, digest)


def parse_manifest_sha256(data: bytes, report: Report) -> HashLines:
    """Per-file hashes and the claimed root of `MANIFEST.sha256`."""
    malformed = functools.partial(Problem.of, MALFORMED, path=MANIFEST_SHA256)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report(malformed(reason=f"not UTF-8 (byte {exc.start})"))
        return HashLines({}, [], None)
    if "\r" in text:
        said = "has CRLF line endings; it must use LF"
        report(malformed(reason=said, hint=Hint.LINE_ENDINGS_CONVERTED))
        text = text.replace("\r\n", "\n")
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    hashes: dict[str, str] = {}
    folded: dict[str, str] = {}
    lines: list[str] = []
    root: str | None = None
    for number, row in enumerate(rows, start=1):
        relpath = row[_DIGEST + 2 :]
        key = safe_fold_key(relpath) if row[_DIGEST : _DIGEST + 2] == "  " else None
        if (
            key is not None
            and key not in folded
            and relpath != MANIFEST_SHA256
            and HEX64.fullmatch(row[:_DIGEST])
        ):  # the common case, decided at once: a well-formed line for a new safe path
            folded[key] = relpath
            hashes[relpath] = row[:_DIGEST]
            lines.append(row)
            continue
        if row.startswith(ROOT_LABEL):
            root = _root_line(number, row, len(rows), root, report)
            continue
        match = _LINE.fullmatch(row)
        if match is None:
            said = f"line {number} is not '<sha256>  <relpath>'"
            report(malformed(reason=said, found=row[:120]))
            continue
        digest, relpath = match.groups()
        if not HEX64.fullmatch(digest):
            upper = HEX64_ANY_CASE.fullmatch(digest)
            said = f"MANIFEST.sha256 line {number}: hash " + (
                "uses uppercase hex" if upper else "is not 64 lowercase hex"
            )
            report(malformed(path=relpath, reason=said, found=digest))
        reason = relpath_problem(relpath)
        if reason:
            report(Problem.of(UNSAFE, path=relpath, reason=f"relpath in MANIFEST.sha256 {reason}"))
            continue
        if relpath == MANIFEST_SHA256:
            report(malformed(path=relpath, reason="MANIFEST.sha256 must not list itself"))
            continue
        if _twin(relpath, folded, "MANIFEST.sha256", report):
            continue
        hashes[relpath] = digest
        lines.append(row)
    if root is None:
        report(malformed(reason=NO_ROOT_LINE))
    return HashLines(hashes, lines, root)


def _root_line(number: int, row: str, total: int, seen: str | None, report: Report) -> str | None:
    if seen is not None:
        where = "MANIFEST.sha256 (its ROOT_SHA256 line)"
        report(Problem.of(DUPLICATE, path=MANIFEST_SHA256, where=where))
        return seen
    value, well_formed = _root_value(row)
    malformed = functools.partial(Problem.of, MALFORMED, path=MANIFEST_SHA256)
    if not well_formed:
        tail = row[len(ROOT_LABEL) :]
        upper = tail.startswith("  ") and HEX64_ANY_CASE.fullmatch(tail[2:])
        said = "uses uppercase hex" if upper else "is not 'ROOT_SHA256  <64 lowercase hex>'"
        report(malformed(reason=f"ROOT_SHA256 line {said}", found=row[:120]))
    elif number != total:
        report(malformed(reason="ROOT_SHA256 is not the last line"))
    return value


def _root_value(row: str) -> tuple[str | None, bool]:
    """A ROOT line's value (None when empty) and whether it is well formed: its one reading."""
    value = row[len(ROOT_LABEL) :]
    if value.startswith("  ") and HEX64.fullmatch(value[2:]):
        return value[2:], True
    return value.strip() or None, False


def claimed_root(data: bytes, *, well_formed: bool = False) -> str | None:
    """The root a MANIFEST.sha256's first ROOT line claims, nothing else checked; None if none."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for row in text.replace("\r\n", "\n").split("\n"):
        if row.startswith(ROOT_LABEL):
            value, ok = _root_value(row)
            return value if ok or not well_formed else None
    return None


def _twin(relpath: str, seen: dict[str, str], where: str, report: Report) -> bool:
    """Report a relpath listed twice (DUPLICATE_ENTRY) or a case/NFC twin (UNSAFE_PATH)."""
    key = fold_key(relpath)
    if key not in seen:
        seen[key] = relpath
        return False
    if seen[key] == relpath:
        report(Problem.of(DUPLICATE, path=relpath, where=where))
    else:
        said = f"same path as {seen[key]!r} after case folding, in {where}"
        report(Problem.of(UNSAFE, path=relpath, reason=said))
    return True
