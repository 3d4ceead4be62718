"""The Inspector on sealed folders, intact and tampered: each case's codes; random edits."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.hashing import SMALL_FILE
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import reseal, unseal
from registry_pipeline_tests.core_tests.seal.tampering import (
    hash_lines,
    sha,
    write_hash_lines,
    write_manifest_json,
    write_rows,
)

MakeRun = Callable[..., SealedRun]
Tamper = Callable[[Path], Path | None]

EXPECTED_VERSIONS = "EXPECTED_VERSIONS_v0_1.json"
DIAGNOSTICS = "APPEND_ONLY_DIAGNOSTICS_v0_1.jsonl"
DIAGNOSTIC = {"file": "a.csv", "code": "ID_REMOVED", "id": None, "path": "a.csv", "message": "m"}
CAFE = unicodedata.normalize("NFC", "caf\u00e9.txt")
PAYLOAD = {
    "REPORT.json": b'{"ok": true}\n',
    "data/rows.csv": b"id,value\r\n1,a\r\n2,b\r\n",
    "data/deep/notes.txt": b"line one\nline two\n",
    "empty.txt": b"",
    CAFE: "caf\u00e9\n".encode(),
    EXPECTED_VERSIONS: b'{"version": "0.1", "expected": {"schema_version": "0.1", '
    b'"threshold_pack_version": null}}\n',
    DIAGNOSTICS: (json.dumps(DIAGNOSTIC) + "\n\n" + json.dumps(DIAGNOSTIC) + "\n").encode(),
}
"""Nested folders, an empty file, a non-ASCII name, a JSON and a JSONL artifact schemas govern."""


# --------------------------------------------------------------------------------------------
# tampering with a sealed folder
# --------------------------------------------------------------------------------------------


def manifest_rows(folder: Path) -> list[dict[str, object]]:
    rows = json.loads((folder / "manifest.json").read_bytes())
    assert isinstance(rows, list)
    return rows


def edit_text(relpath: str, old: str, new: str, count: int = 1) -> Tamper:
    def tamper(folder: Path) -> None:
        path = folder / relpath
        text = path.read_text(encoding="utf-8")
        assert old in text, (relpath, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")

    return tamper


def edit_bytes(relpath: str, edit: Callable[[bytes], bytes]) -> Tamper:
    def tamper(folder: Path) -> None:
        path = folder / relpath
        path.write_bytes(edit(path.read_bytes()))

    return tamper


def edit_rows(edit: Callable[[list[dict[str, object]]], list[object]]) -> Tamper:
    def tamper(folder: Path) -> None:
        write_rows(folder, edit(manifest_rows(folder)))

    return tamper


def edit_hash_rows(edit: Callable[[list[str]], list[str]], fix_root: bool = True) -> Tamper:
    def tamper(folder: Path) -> None:
        rows = edit(hash_lines(folder))
        write_hash_lines(folder, rows, None if fix_root else "0" * 64)

    return tamper


def then_reseal(tamper: Tamper) -> Tamper:
    """`tamper`, then both manifests rewritten from the files (as a forger would)."""

    def both(folder: Path) -> Path | None:
        moved = tamper(folder)
        reseal(moved or folder)
        return moved

    return both


def flip_first(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def remove(relpath: str) -> Tamper:
    def tamper(folder: Path) -> None:
        target = folder / relpath
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()

    return tamper


def add(relpath: str, data: bytes = b"extra\n") -> Tamper:
    def tamper(folder: Path) -> None:
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)

    return tamper


def add_empty_folder(folder: Path) -> None:
    (folder / "data" / "nothing").mkdir()


def symlink_added(folder: Path) -> None:
    os.symlink("REPORT.json", folder / "alias.json")


def listed_file_replaced_by_symlink(folder: Path) -> None:
    outside = folder.parent / "outside_report.json"
    outside.write_bytes((folder / "REPORT.json").read_bytes())
    (folder / "REPORT.json").unlink()
    os.symlink(outside, folder / "REPORT.json")


def subfolder_replaced_by_symlink(folder: Path) -> None:
    copy = folder.parent / "outside_data"
    shutil.copytree(folder / "data", copy)
    shutil.rmtree(folder / "data")
    os.symlink(copy, folder / "data")


def fifo_added(folder: Path) -> None:
    os.mkfifo(folder / "pipe")


def file_renamed(folder: Path) -> None:
    (folder / "REPORT.json").rename(folder / "REPORT2.json")


def renamed(folder: Path) -> Path:
    target = folder.with_name(folder.name + "_copy")
    folder.rename(target)
    return target


def run_json_edit(edit: Callable[[dict[str, object]], object]) -> Tamper:
    """run.json rewritten by `edit` (then resealed: only run.json itself is wrong)."""

    def tamper(folder: Path) -> None:
        envelope = json.loads((folder / "run.json").read_bytes())
        value = edit(envelope)
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        (folder / "run.json").write_text(text, encoding="utf-8")

    return then_reseal(tamper)


def with_key(key: str, value: object) -> Callable[[dict[str, object]], object]:
    return lambda envelope: {**envelope, key: value}


def with_escapes(folder: Path) -> None:
    """manifest.json with every `R` written as a JSON escape: the same values, valid."""
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    write_manifest_json(folder, text.replace("R", "\\u0052").encode())


def compact_manifest(folder: Path) -> None:
    write_manifest_json(folder, json.dumps(manifest_rows(folder)).encode())


def file_added(size: int) -> Tamper:
    """A file of `size` bytes added, both manifests rewritten."""

    def tamper(folder: Path) -> None:
        (folder / "big.bin").write_bytes(b"x" * size)
        reseal(folder)

    return tamper


def file_added_then_flipped(size: int) -> Tamper:
    """`file_added(size)`, then its last byte changed (same size)."""

    def tamper(folder: Path) -> None:
        file_added(size)(folder)
        edit_bytes("big.bin", lambda data: data[:-1] + b"y")(folder)

    return tamper


def case_twin(folder: Path) -> None:
    (folder / "report.json").write_bytes((folder / "REPORT.json").read_bytes())
    reseal(folder)


def nfd_name(folder: Path) -> None:
    (folder / unicodedata.normalize("NFD", "d\u00e9j\u00e0.txt")).write_bytes(b"x\n")
    reseal(folder)


def forged_hash_in_both(folder: Path) -> None:
    """The hash of data/rows.csv replaced in both manifests, consistently (root recomputed)."""
    forged_hash_in_json(folder)
    lines = [
        f"{FORGED}  data/rows.csv" if row.endswith("  data/rows.csv") else row
        for row in hash_lines(folder)
        if not row.endswith("  manifest.json")
    ]
    data = (folder / "manifest.json").read_bytes()
    write_hash_lines(folder, [*lines, f"{sha(data)}  manifest.json"])


def forged_hash_in_json(folder: Path) -> None:
    """The hash of data/rows.csv replaced in manifest.json only (MANIFEST.sha256 as sealed)."""
    rows = manifest_rows(folder)
    rows[[row["relpath"] for row in rows].index("data/rows.csv")]["sha256"] = FORGED
    (folder / "manifest.json").write_bytes((json.dumps(rows, indent=2) + "\n").encode())


def jsonl_line(line: bytes) -> Tamper:
    return then_reseal(edit_bytes(DIAGNOSTICS, lambda data: data + line))


def inspect(folder: Path, fast: bool) -> FolderReport:
    """The report `inspect_run_folder` gives, the same on a second look."""
    catalog = SchemaCatalog.for_workspace(None)
    report = inspect_run_folder(folder, fast=fast, schemas=catalog)
    assert inspect_run_folder(folder, fast=fast, schemas=catalog) == report
    return report


def codes(report: FolderReport) -> str:
    """The report's reason codes, sorted, a repeated one as `CODE*n`."""
    counted = Counter(str(problem.code) for problem in report.problems)
    return " ".join(f"{c}*{n}" if n > 1 else c for c, n in sorted(counted.items()))


@dataclass(frozen=True)
class Case:
    tamper: Tamper
    full: str
    """The reason codes of a full check ("" for PASS)."""
    fast: str | None = None
    """The reason codes of a fast check (sizes and listing only); None: the same as `full`."""
    fields: dict[str, tuple[object, object, object]] = field(default_factory=dict)
    """"CODE path" -> (expected, found, hint) of that one problem of the full check."""


SEALED_ROOT = "the sealed root"
IMPOSSIBLE = (
    "9999-99-99T99:99:99Z",
    "2099-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-06-30T23:59:60Z",
)
"""created_utc values the envelope's pattern lets through that are no real time."""
REPORT, ROWS = PAYLOAD["REPORT.json"], PAYLOAD["data/rows.csv"]
FIRST = PAYLOAD[DIAGNOSTICS]
"""The first file of both manifests."""
FORGED = sha(b"something else")


def entry_with(key: str, value: object) -> Tamper:
    """The first entry of manifest.json with `key` set to `value` (MANIFEST.sha256 kept in step)."""
    return edit_rows(lambda rows: [{**rows[0], key: value}, *rows[1:]])


def hash_line_added(line: str) -> Tamper:
    return edit_hash_rows(lambda rows: [*rows, line.format(h=sha(b"x"))])


def replaced_by_fifo(relpath: str) -> Tamper:
    def tamper(folder: Path) -> None:
        (folder / relpath).unlink()
        os.mkfifo(folder / relpath)

    return tamper


CASES: dict[str, Case] = {
    "intact": Case(lambda folder: None, ""),
    # content
    "payload byte flipped (same size)": Case(
        edit_bytes("REPORT.json", flip_first),
        "HASH_MISMATCH",
        "",
        {"HASH_MISMATCH REPORT.json": (sha(REPORT), sha(flip_first(REPORT)), None)},
    ),
    "nested payload byte flipped": Case(
        edit_bytes("data/deep/notes.txt", flip_first), "HASH_MISMATCH", ""
    ),
    "payload truncated": Case(
        edit_bytes("data/rows.csv", lambda d: d[:-1]),
        "HASH_MISMATCH SIZE_MISMATCH",
        "SIZE_MISMATCH",
        {
            "SIZE_MISMATCH data/rows.csv": (len(ROWS), len(ROWS) - 1, None),
            "HASH_MISMATCH data/rows.csv": (sha(ROWS), sha(ROWS[:-1]), None),
        },
    ),
    "payload appended": Case(
        edit_bytes("data/rows.csv", lambda d: d + b"3,c\r\n"),
        "HASH_MISMATCH SIZE_MISMATCH",
        "SIZE_MISMATCH",
    ),
    "empty file no longer empty": Case(
        edit_bytes("empty.txt", lambda d: b"x"),
        "HASH_MISMATCH SIZE_MISMATCH",
        "SIZE_MISMATCH",
        {"SIZE_MISMATCH empty.txt": (0, 1, None)},
    ),
    "line endings converted": Case(
        edit_bytes("data/rows.csv", lambda d: d.replace(b"\r\n", b"\n")),
        "HASH_MISMATCH SIZE_MISMATCH",
        "SIZE_MISMATCH",
    ),
    "content edited and both manifests resealed": Case(
        then_reseal(edit_bytes("REPORT.json", lambda d: b'{"ok": false}\n')), "", ""
    ),
    "hash forged in both manifests": Case(
        forged_hash_in_both,
        "HASH_MISMATCH",
        "",
        {"HASH_MISMATCH data/rows.csv": (FORGED, sha(ROWS), None)},
    ),
    "hash forged in manifest.json only": Case(
        forged_hash_in_json,
        "HASH_MISMATCH*2 MANIFEST_DISAGREES",
        "MANIFEST_DISAGREES",
        {"MANIFEST_DISAGREES data/rows.csv": (FORGED, sha(ROWS), None)},
    ),
    # missing and extra
    "payload missing": Case(remove("REPORT.json"), "MISSING_FILE"),
    "nested folder missing": Case(remove("data/deep"), "MISSING_FILE"),
    "run.json missing": Case(
        remove("run.json"),
        "MISSING_FILE MISSING_REQUIRED_FILE",
    ),
    "manifest.json missing": Case(
        remove("manifest.json"), "MISSING_REQUIRED_FILE", "MISSING_REQUIRED_FILE"
    ),
    "MANIFEST.sha256 missing": Case(
        remove("MANIFEST.sha256"), "MISSING_REQUIRED_FILE", "MISSING_REQUIRED_FILE"
    ),
    "extra file at the top": Case(add("extra.txt"), "UNLISTED_FILE"),
    "extra file in a subfolder": Case(add("data/deep/extra.txt"), "UNLISTED_FILE"),
    "extra hidden file": Case(add(".DS_Store"), "UNLISTED_FILE"),
    "empty folder added": Case(add_empty_folder, "UNLISTED_FILE"),
    "file renamed": Case(file_renamed, "MISSING_FILE UNLISTED_FILE"),
    # MANIFEST.sha256
    "root edited": Case(
        edit_hash_rows(lambda rows: rows, fix_root=False),
        "ROOT_MISMATCH",
        fields={"ROOT_MISMATCH MANIFEST.sha256": ("0" * 64, SEALED_ROOT, None)},
    ),
    "hash line for a file removed": Case(
        edit_hash_rows(lambda rows: [r for r in rows if not r.endswith("  REPORT.json")]),
        "MANIFEST_DISAGREES",
    ),
    "hash line for manifest.json removed": Case(
        edit_hash_rows(lambda rows: [r for r in rows if not r.endswith("  manifest.json")]),
        "MANIFEST_DISAGREES",
    ),
    "hash line for an unknown file": Case(
        edit_hash_rows(lambda rows: [*rows, f"{sha(b'')}  ghost.txt"]),
        "MANIFEST_DISAGREES",
    ),
    "hash line for a file, twice and differing": Case(
        edit_hash_rows(lambda rows: [*rows, f"{sha(b'other')}  REPORT.json"]),
        "DUPLICATE_ENTRY ROOT_MISMATCH",
    ),
    "hash line twice": Case(
        edit_hash_rows(lambda rows: [*rows, rows[0]]),
        "DUPLICATE_ENTRY ROOT_MISMATCH",
    ),
    "hash line with another hash": Case(
        edit_hash_rows(lambda rows: [sha(b"other") + rows[0][64:], *rows[1:]]),
        "MANIFEST_DISAGREES",
        fields={f"MANIFEST_DISAGREES {DIAGNOSTICS}": (sha(FIRST), sha(b"other"), None)},
    ),
    "hash line in uppercase hex": Case(
        edit_hash_rows(lambda rows: [rows[0][:64].upper() + rows[0][64:], *rows[1:]]),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES",
        fields={f"MALFORMED_MANIFEST {DIAGNOSTICS}": (None, sha(FIRST).upper(), None)},
    ),
    "hash line with one space": Case(
        edit_hash_rows(lambda rows: [rows[0][:64] + rows[0][65:], *rows[1:]]),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES ROOT_MISMATCH",
    ),
    "hash line for MANIFEST.sha256": Case(
        edit_hash_rows(lambda rows: [*rows, f"{sha(b'')}  MANIFEST.sha256"]),
        "MALFORMED_MANIFEST ROOT_MISMATCH",
    ),
    "hash line with a case twin": Case(
        edit_hash_rows(lambda rows: [*rows, rows[0].replace("  ", "  X", 1).upper()]),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES",
    ),
    "hash line not a hash line": Case(
        hash_line_added("not a hash line"), "MALFORMED_MANIFEST ROOT_MISMATCH"
    ),
    "hash line without a path": Case(hash_line_added("{h}  "), "ROOT_MISMATCH UNSAFE_PATH"),
    "hash line with a binary marker": Case(
        hash_line_added("{h} *x.txt"), "MALFORMED_MANIFEST ROOT_MISMATCH"
    ),
    "hash lines in another order": Case(edit_hash_rows(lambda rows: rows[::-1]), ""),
    "blank line before ROOT": Case(
        edit_hash_rows(lambda rows: [*rows, ""]),
        "MALFORMED_MANIFEST ROOT_MISMATCH",
    ),
    "CRLF in MANIFEST.sha256": Case(
        edit_bytes("MANIFEST.sha256", lambda d: d.replace(b"\n", b"\r\n")),
        "MALFORMED_MANIFEST",
    ),
    "no final newline in MANIFEST.sha256": Case(
        edit_bytes("MANIFEST.sha256", lambda d: d.rstrip(b"\n")), "", ""
    ),
    "ROOT line first": Case(
        edit_bytes(
            "MANIFEST.sha256",
            lambda d: b"\n".join([d.splitlines()[-1], *d.splitlines()[:-1]]) + b"\n",
        ),
        "MALFORMED_MANIFEST",
    ),
    "ROOT line twice": Case(
        edit_bytes("MANIFEST.sha256", lambda d: d + d.splitlines()[-1] + b"\n"),
        "DUPLICATE_ENTRY MALFORMED_MANIFEST",
    ),
    "ROOT line with a colon": Case(
        edit_bytes("MANIFEST.sha256", lambda d: d.replace(b"ROOT_SHA256  ", b"ROOT_SHA256: ")),
        "MALFORMED_MANIFEST ROOT_MISMATCH",
    ),
    "no ROOT line": Case(
        edit_bytes("MANIFEST.sha256", lambda d: b"".join(d.splitlines(keepends=True)[:-1])),
        "MALFORMED_MANIFEST",
    ),
    "ROOT line in uppercase hex": Case(
        edit_bytes("MANIFEST.sha256", lambda d: d[:-65] + d[-65:].upper()),
        "MALFORMED_MANIFEST ROOT_MISMATCH",
    ),
    "MANIFEST.sha256 not UTF-8": Case(
        edit_bytes("MANIFEST.sha256", lambda d: b"\xff" + d),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES*9",
    ),
    "MANIFEST.sha256 empty": Case(
        edit_bytes("MANIFEST.sha256", lambda d: b""),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES*9",
    ),
    # manifest.json
    "manifest.json not JSON": Case(
        lambda f: write_manifest_json(f, (f / "manifest.json").read_bytes()[:-5]),
        "MALFORMED_MANIFEST",
    ),
    "manifest.json empty": Case(
        lambda f: write_manifest_json(f, b""), "MALFORMED_MANIFEST", "MALFORMED_MANIFEST"
    ),
    "manifest.json not UTF-8": Case(
        lambda f: write_manifest_json(f, b"[\xff]"), "MALFORMED_MANIFEST", "MALFORMED_MANIFEST"
    ),
    "manifest.json an object": Case(
        lambda f: write_manifest_json(f, b'{"a": 1}\n'), "MALFORMED_MANIFEST", "MALFORMED_MANIFEST"
    ),
    "manifest.json with a BOM": Case(
        lambda f: write_manifest_json(f, b"\xef\xbb\xbf" + (f / "manifest.json").read_bytes()),
        "MALFORMED_MANIFEST",
    ),
    "manifest.json with a duplicate key": Case(
        lambda f: write_manifest_json(
            f, (f / "manifest.json").read_bytes().replace(b"{", b'{"bytes": 1, ', 1)
        ),
        "MALFORMED_MANIFEST",
    ),
    "manifest.json with NaN": Case(
        lambda f: write_manifest_json(
            f, (f / "manifest.json").read_bytes().replace(b'"bytes": ', b'"bytes": NaN, "x": ', 1)
        ),
        "MALFORMED_MANIFEST",
    ),
    "manifest.json with a huge integer": Case(
        lambda f: write_manifest_json(
            f,
            (f / "manifest.json")
            .read_bytes()
            .replace(b'"bytes": ', b'"bytes": 1' + b"0" * 1000 + b', "x": ', 1),
        ),
        "MALFORMED_MANIFEST",
    ),
    "manifest.json with escapes": Case(with_escapes, ""),
    "manifest.json compact": Case(compact_manifest, ""),
    **{
        f"entry {key} {value!r}": Case(
            entry_with(key, value),
            "MALFORMED_MANIFEST MANIFEST_DISAGREES UNLISTED_FILE",
        )
        for key, value in [
            ("x", 1),
            ("bytes", -1),
            ("bytes", -(2**70)),
            ("bytes", True),
            ("bytes", float(len(FIRST))),
            ("bytes", str(len(FIRST))),
            ("bytes", None),
        ]
    },
    "entry without sha256": Case(
        edit_rows(
            lambda rows: [{"relpath": rows[0]["relpath"], "bytes": rows[0]["bytes"]}, *rows[1:]]
        ),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES UNLISTED_FILE",
    ),
    "entry sha256 uppercase": Case(
        entry_with("sha256", sha(FIRST).upper()),
        "MALFORMED_MANIFEST MANIFEST_DISAGREES UNLISTED_FILE",
        fields={f"MALFORMED_MANIFEST {DIAGNOSTICS}": (None, sha(FIRST).upper(), None)},
    ),
    "entry relpath escapes": Case(
        entry_with("relpath", "../x"),
        "MANIFEST_DISAGREES UNLISTED_FILE UNSAFE_PATH",
    ),
    "entries unsorted": Case(
        edit_rows(lambda rows: rows[::-1]), "MALFORMED_MANIFEST*7", "MALFORMED_MANIFEST*7"
    ),
    "entry twice": Case(
        edit_rows(lambda rows: [rows[0], *rows]), "DUPLICATE_ENTRY", "DUPLICATE_ENTRY"
    ),
    "entry twice, differing": Case(
        edit_rows(lambda rows: [rows[0], {**rows[0], "sha256": sha(b"abc")}, *rows[1:]]),
        "DUPLICATE_ENTRY",
    ),
    **{
        f"entry for {name}": Case(
            edit_rows(lambda rows, n=name: [*rows, {"relpath": n, "bytes": 1, "sha256": sha(b"")}]),
            "MALFORMED_MANIFEST",
        )
        for name in ("manifest.json", "MANIFEST.sha256")
    },
    "entry not an object": Case(
        edit_rows(lambda rows: [*rows, "x"]), "MALFORMED_MANIFEST", "MALFORMED_MANIFEST"
    ),
    "entry size wrong": Case(
        entry_with("bytes", len(FIRST) + 1),
        "SIZE_MISMATCH",
        fields={f"SIZE_MISMATCH {DIAGNOSTICS}": (len(FIRST) + 1, len(FIRST), None)},
    ),
    # run.json
    "run_id differs from the folder name": Case(
        run_json_edit(with_key("run_id", "other")), "RUN_ID_MISMATCH", "RUN_ID_MISMATCH"
    ),
    "folder renamed": Case(renamed, "RUN_ID_MISMATCH"),
    "run.json not JSON": Case(
        run_json_edit(lambda e: json.dumps(e)[:-3]), "RUN_JSON_INVALID", "RUN_JSON_INVALID"
    ),
    "run.json an array": Case(run_json_edit(lambda e: [e]), "RUN_JSON_INVALID"),
    "run.json with a duplicate key": Case(
        run_json_edit(lambda e: json.dumps(e).replace("{", '{"run_id": "x", ', 1)),
        "RUN_JSON_INVALID",
    ),
    "run.json created_utc not UTC": Case(
        run_json_edit(with_key("created_utc", "2026-01-01 12:00:00+02:00")),
        "RUN_JSON_INVALID",
    ),
    "run.json without created_utc": Case(
        run_json_edit(lambda e: {k: v for k, v in e.items() if k != "created_utc"}),
        "RUN_JSON_INVALID",
    ),
    "run.json run_id a number": Case(
        run_json_edit(with_key("run_id", 12)), "RUN_JSON_INVALID", "RUN_JSON_INVALID"
    ),
    **{
        f"run.json created_utc {value}": Case(
            run_json_edit(with_key("created_utc", value)), "RUN_JSON_INVALID", "RUN_JSON_INVALID"
        )
        for value in IMPOSSIBLE
    },
    "run.json without run_id": Case(
        run_json_edit(lambda e: {k: v for k, v in e.items() if k != "run_id"}),
        "RUN_JSON_INVALID",
    ),
    "run.json with NaN": Case(
        run_json_edit(lambda e: json.dumps(e).replace("{", '{"score": NaN, ', 1)),
        "RUN_JSON_INVALID",
    ),
    "run.json with Infinity": Case(
        run_json_edit(lambda e: json.dumps(e).replace("{", '{"score": Infinity, ', 1)),
        "RUN_JSON_INVALID",
    ),
    "run.json with escapes": Case(
        run_json_edit(lambda e: json.dumps(e, ensure_ascii=True).replace("_", "\\u005f")), "", ""
    ),
    "run.json with a lone surrogate": Case(
        run_json_edit(lambda e: json.dumps({**e, "note": "x"}).replace('"x"', '"\\ud800"')),
        "RUN_JSON_INVALID",
    ),
    # paths and file kinds
    "symlink added": Case(symlink_added, "NOT_A_REGULAR_FILE"),
    "listed file replaced by a symlink": Case(
        listed_file_replaced_by_symlink, "NOT_A_REGULAR_FILE", "NOT_A_REGULAR_FILE"
    ),
    "subfolder replaced by a symlink": Case(
        subfolder_replaced_by_symlink,
        "MISSING_FILE*2 NOT_A_REGULAR_FILE",
    ),
    "dangling symlink added": Case(
        lambda f: os.symlink("/nonexistent/target", f / "dangling"),
        "NOT_A_REGULAR_FILE",
    ),
    "FIFO added": Case(fifo_added, "NOT_A_REGULAR_FILE"),
    "listed file replaced by a FIFO": Case(
        replaced_by_fifo("data/rows.csv"), "NOT_A_REGULAR_FILE", "NOT_A_REGULAR_FILE"
    ),
    "run.json replaced by a FIFO": Case(
        replaced_by_fifo("run.json"), "NOT_A_REGULAR_FILE", "NOT_A_REGULAR_FILE"
    ),
    "case twins sealed": Case(
        case_twin,
        "ROOT_MISMATCH UNLISTED_FILE UNSAFE_PATH*3",
    ),
    "non-NFC name sealed": Case(
        nfd_name,
        "ROOT_MISMATCH UNLISTED_FILE UNSAFE_PATH*3",
    ),
    # artifact schemas
    "schema violation in a JSON artifact": Case(
        then_reseal(
            edit_bytes(EXPECTED_VERSIONS, lambda d: b'{"version": "0.1", "expected": []}\n')
        ),
        "SCHEMA_VIOLATION",
        "",
    ),
    "schema violation in a JSONL line": Case(
        jsonl_line(b'{"file": 1}\n'), "SCHEMA_VIOLATION*5", ""
    ),
    "invalid JSON in a JSONL line": Case(jsonl_line(b"{not json\n"), "JSON_INVALID", ""),
    "blank JSONL lines": Case(jsonl_line(b"\n  \n"), ""),
    # large files: the quick path leaves hashing them to the Inspector
    "large file": Case(file_added(SMALL_FILE + 1), ""),
    "large file tampered": Case(file_added_then_flipped(SMALL_FILE + 1), "HASH_MISMATCH", ""),
    # files read in more than one go, and files of exactly one or two first reads
    "file of 100 KB": Case(file_added(100_000), ""),
    "file of 100 KB tampered": Case(file_added_then_flipped(100_000), "HASH_MISMATCH", ""),
    "file of 8 KB": Case(file_added(8192), ""),
    "file of 16 KB tampered": Case(file_added_then_flipped(16384), "HASH_MISMATCH", ""),
    "file of SMALL_FILE bytes": Case(file_added(SMALL_FILE), ""),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_gets_its_reason_codes(make_run: MakeRun, name: str) -> None:
    case = CASES[name]
    sealed = make_run(PAYLOAD)
    unseal(sealed.path)
    folder = case.tamper(sealed.path) or sealed.path
    full = inspect(folder, fast=False)
    assert codes(full) == case.full
    assert codes(inspect(folder, fast=True)) == (case.full if case.fast is None else case.fast)
    for key, want in case.fields.items():
        (problem,) = [p for p in full.problems if f"{p.code} {p.path}" == key]
        got = (problem.expected, problem.found, problem.hint)
        assert got == tuple(sealed.root_sha256 if v == SEALED_ROOT else v for v in want), key


def test_the_pass_report_says_everything(make_run: MakeRun) -> None:
    """Run id, root, file count and mode: every field of the PASS report, not only `ok`."""
    sealed = make_run(PAYLOAD)
    for fast in (False, True):
        report = inspect(sealed.path, fast)
        assert report.ok and report.status == "PASS" and report.problems == ()
        assert report.run_id == sealed.run_id
        assert report.root_sha256 == sealed.root_sha256
        assert report.files == len(PAYLOAD) + 3  # the payload, run.json, two manifests
        assert report.fast is fast


def test_a_workspace_schema_is_the_one_applied(make_run: MakeRun, tmp_path: Path) -> None:
    """A workspace's stricter schema is the one applied (the lookup is per catalog)."""
    sealed = make_run(PAYLOAD)
    root = tmp_path / "strict_ws"
    (root / "schemas").mkdir(parents=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:test:report",
        "x-registry-artifacts": ["REPORT.json"],
        "type": "object",
        "required": ["signed"],
    }
    (root / "schemas" / "report.schema.json").write_text(json.dumps(schema))
    builtin = SchemaCatalog.for_workspace(None)
    assert inspect_run_folder(sealed.path, schemas=builtin).ok
    report = inspect_run_folder(sealed.path, schemas=SchemaCatalog.for_workspace(root))
    assert [(str(p.code), p.path) for p in report.problems] == [("SCHEMA_VIOLATION", "REPORT.json")]


# --------------------------------------------------------------------------------------------
# random edits of a sealed folder
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One sealed folder (the PAYLOAD), copied afresh for every example."""
    root = tmp_path_factory.mktemp("quick_template")
    init_workspace(root)
    sealed = seal_files(RunStore(Workspace(root)), RunSpec(registry_id="demo"), PAYLOAD)
    yield sealed.path


EDITS = ("flip", "delete", "insert", "truncate", "append", "remove", "copy", "empty")


@settings(
    max_examples=settings().max_examples * 6 // 5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=100),
            st.sampled_from(EDITS),
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_random_edits_fail_unless_they_change_nothing(
    template: Path, edits: list[tuple[int, str, int, int]]
) -> None:
    """Any edit fails a full check unless it changes no byte; a fast check misses only content."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / template.name
        shutil.copytree(template, folder)
        unseal(folder)
        for which, edit, position, byte in edits:
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            if files:
                _edit(folder, files[which % len(files)], edit, position, byte)
        full, fast = inspect(folder, fast=False), inspect(folder, fast=True)
        assert full.ok is (_contents(folder) in _sealed_forms(template)), full.problems
        if fast.ok:
            assert {str(p.code) for p in full.problems} <= CONTENT_ONLY, full.problems


CONTENT_ONLY = {"HASH_MISMATCH", "SCHEMA_VIOLATION", "JSON_INVALID"}


def _contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _sealed_forms(template: Path) -> list[dict[str, bytes]]:
    """The template's files, as sealed and with MANIFEST.sha256 without its final newline."""
    sealed = _contents(template)
    stripped = {**sealed, "MANIFEST.sha256": sealed["MANIFEST.sha256"].rstrip(b"\n")}
    return [sealed, stripped]


def _edit(folder: Path, path: Path, edit: str, position: int, byte: int) -> None:
    data = path.read_bytes()
    at = position % (len(data) + 1)
    if edit == "flip" and data:
        at = position % len(data)
        path.write_bytes(data[:at] + bytes([data[at] ^ (byte or 1)]) + data[at + 1 :])
    elif edit == "delete" and data:
        at = position % len(data)
        path.write_bytes(data[:at] + data[at + 1 :])
    elif edit == "insert":
        path.write_bytes(data[:at] + bytes([byte]) + data[at:])
    elif edit == "truncate":
        path.write_bytes(data[:at])
    elif edit == "append":
        path.write_bytes(data + bytes([byte]))
    elif edit == "remove":
        path.unlink()
    elif edit == "copy":
        (folder / f"copy_{byte}.bin").write_bytes(data)
    elif edit == "empty":
        path.write_bytes(b"")
