"""The Inspector's entry points, one pass, hints and large files (codes: the cases' table)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import Hint, Problem, RegistryError, UsageError
from registry_pipeline.core.seal.manifest import ManifestEntry
from registry_pipeline.core.seal.run_id import named_second
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.validate import (
    FolderReport,
    inspect_run_folder,
    is_valid_run_folder,
    verify_run_folder,
)
from registry_pipeline_tests._helpers import payload_files, reseal, unseal
from registry_pipeline_tests.core_tests.seal.tampering import (
    hash_lines,
    pairs,
    sha,
    write_hash_lines,
    write_manifest_json,
)

MakeRun = Callable[..., SealedRun]
SEAL_FILES = ("manifest.json", "MANIFEST.sha256")

# The default payload of the `make_run` fixture (conftest.py): one CRLF file, one LF file.
REPORT = "REPORT.json"
ROWS = "data/rows.csv"
NOTES = "notes.txt"


def the(report: FolderReport, code: str, path: str | None) -> Problem:
    """The one problem with this code and path (fails if there is none, or several)."""
    matches = [p for p in report.problems if p.code == code and p.path == path]
    assert len(matches) == 1, f"want one {code.value} at {path!r}, got {report.problems!r}"
    return matches[0]


def entry_of(sealed: SealedRun, relpath: str) -> ManifestEntry:
    (entry,) = [e for e in sealed.entries if e.relpath == relpath]
    return entry


def test_is_valid_is_a_bool_verify_returns_the_report(run: SealedRun, tmp_path: Path) -> None:
    """Not a folder: `inspect_run_folder` raises UsageError, `is_valid_run_folder` says False."""
    reseal(run.path)  # unsealing changed no bytes: the folder is still valid
    assert is_valid_run_folder(run.path) is True
    assert verify_run_folder(run.path).root_sha256 == run.root_sha256
    (run.path / NOTES).write_bytes(b"changed\n")
    assert is_valid_run_folder(run.path) is False
    a_file = tmp_path / "a_file"
    a_file.write_bytes(b"x")
    for nothing in (tmp_path / "no-such-folder", a_file):
        assert is_valid_run_folder(nothing) is False
        with pytest.raises(UsageError):
            inspect_run_folder(nothing)


def test_malformed_manifest_json_does_not_hide_a_tampered_file(run: SealedRun) -> None:
    """MANIFEST.sha256 still says what each file should be: both problems come out."""
    write_manifest_json(run.path, b"[{")
    (run.path / NOTES).write_bytes(b"LINE one\nline two\n")
    report = inspect_run_folder(run.path)
    the(report, "MALFORMED_MANIFEST", "manifest.json")
    problem = the(report, "HASH_MISMATCH", NOTES)
    assert problem.expected == entry_of(run, NOTES).sha256


@pytest.mark.parametrize("name", ["run_id", "registry_id", "created_utc"])
def test_an_envelope_naming_another_run_or_registry_than_the_folder(
    run: SealedRun, name: str
) -> None:
    """run_id, registry_id and created_utc must be what the folder's name says."""
    path = run.path / "run.json"
    envelope = json.loads(path.read_bytes())
    assert envelope["registry_id"] == "demo" and run.run_id.endswith("__demo_build")
    second = named_second(run.run_id)
    assert envelope["created_utc"] == second
    expected, found = {
        "run_id": (run.run_id, "2000-01-01__000000__demo"),
        "registry_id": ("demo", "other"),
        "created_utc": (second, f"{int(second[:4]) - 1}{second[4:]}"),  # a year earlier
    }[name]
    envelope[name] = found
    path.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    reseal(run.path)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("RUN_ID_MISMATCH", "run.json")}
    problem = the(report, "RUN_ID_MISMATCH", "run.json")
    assert (problem.expected, problem.found) == (expected, found)
    assert name in problem.message


def test_a_seed_dated_name_is_its_run_json_second_too(make_run: MakeRun, tmp_path: Path) -> None:
    """The seed's `..__seal_<registry>` folders are dated by their name as ours are."""
    sealed = make_run()
    for second, problems in (
        ("000003", set()),
        ("000004", {("RUN_ID_MISMATCH", "run.json")}),
    ):
        name = f"2026-01-01__{second}__seal_demo"
        folder = tmp_path / name
        shutil.copytree(sealed.path, folder)
        os.chmod(folder, 0o755)
        os.chmod(folder / "run.json", 0o644)
        envelope = json.loads((folder / "run.json").read_bytes())
        envelope.update(run_id=name, created_utc="2026-01-01T00:00:03Z")
        (folder / "run.json").write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
        reseal(folder)
        assert pairs(inspect_run_folder(folder)) == problems, name


EXPECTED_VERSIONS = "EXPECTED_VERSIONS_v0_1.json"


def test_json_invalid_at_the_parsers_position_when_the_artifact_is_not_json(
    make_run: MakeRun,
) -> None:
    sealed = make_run({f"sub/{EXPECTED_VERSIONS}": b"{}\nversion = 0.1\n"}, registry_id="ev")
    report = inspect_run_folder(sealed.path)
    assert pairs(report) == {("JSON_INVALID", f"sub/{EXPECTED_VERSIONS}")}
    assert [(p.line, p.column) for p in report.problems] == [(2, 1)]


# --------------------------------------------------------------------------------------------
# line endings converted after sealing: the hint LINE_ENDINGS_CONVERTED
# --------------------------------------------------------------------------------------------


def _assert_converted(report: FolderReport, relpath: str, sealed: bytes, now: bytes) -> None:
    size = the(report, "SIZE_MISMATCH", relpath)
    assert (size.expected, size.found, size.hint) == (
        len(sealed),
        len(now),
        Hint.LINE_ENDINGS_CONVERTED,
    )
    digest = the(report, "HASH_MISMATCH", relpath)
    assert (digest.expected, digest.found, digest.hint) == (
        sha(sealed),
        sha(now),
        Hint.LINE_ENDINGS_CONVERTED,
    )
    assert digest.as_json()["hint"] == "LINE_ENDINGS_CONVERTED"


def test_both_directions_in_one_pass(run: SealedRun) -> None:
    """Sealed CRLF now LF, sealed LF now CRLF: each a size and a hash mismatch with the hint."""
    rows, notes = (run.path / ROWS).read_bytes(), (run.path / NOTES).read_bytes()
    assert b"\r\n" in rows and b"\r" not in notes
    (run.path / ROWS).write_bytes(rows.replace(b"\r\n", b"\n"))
    (run.path / NOTES).write_bytes(notes.replace(b"\n", b"\r\n"))
    report = inspect_run_folder(run.path)
    assert pairs(report) == {
        (c, p) for c in ("SIZE_MISMATCH", "HASH_MISMATCH") for p in (ROWS, NOTES)
    }
    _assert_converted(report, ROWS, rows, rows.replace(b"\r\n", b"\n"))
    _assert_converted(report, NOTES, notes, notes.replace(b"\n", b"\r\n"))


def test_converted_and_also_edited_gets_no_hint(run: SealedRun) -> None:
    sealed = (run.path / NOTES).read_bytes()
    now = sealed.replace(b"\n", b"\r\n").replace(b"two", b"TWO")
    (run.path / NOTES).write_bytes(now)
    report = inspect_run_folder(run.path)
    assert the(report, "SIZE_MISMATCH", NOTES).hint is None
    assert the(report, "HASH_MISMATCH", NOTES).hint is None


def test_whole_folder_checked_out_with_crlf(run: SealedRun) -> None:
    """What git's core.autocrlf does to a folder without `-text`: every LF file becomes CRLF."""
    changed: dict[str, tuple[bytes, bytes]] = {}
    for relpath in [*payload_files(run.path), *SEAL_FILES]:
        path = run.path / relpath
        before = path.read_bytes()
        after = before.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if after != before:
            path.write_bytes(after)
            changed[relpath] = (before, after)
    assert set(changed) == {REPORT, NOTES, "run.json", "manifest.json", "MANIFEST.sha256"}
    report = inspect_run_folder(run.path)
    sha_file = the(report, "MALFORMED_MANIFEST", "MANIFEST.sha256")
    assert sha_file.hint == Hint.LINE_ENDINGS_CONVERTED
    for relpath in (REPORT, NOTES, "run.json"):
        _assert_converted(report, relpath, *changed[relpath])
    manifest = the(report, "HASH_MISMATCH", "manifest.json")
    assert manifest.hint == Hint.LINE_ENDINGS_CONVERTED
    assert {p.path for p in report.problems} == set(changed)
    assert all(p.hint == Hint.LINE_ENDINGS_CONVERTED for p in report.problems)


def test_binary_edit_of_same_length_has_no_hint(make_run: MakeRun) -> None:
    sealed = make_run({"blob.bin": bytes(range(256)), "text.txt": b"a\nb\n"})
    unseal(sealed.path)
    (sealed.path / "text.txt").write_bytes(b"a\rb\r")  # old-Mac endings: not a CRLF conversion
    report = inspect_run_folder(sealed.path)
    assert the(report, "HASH_MISMATCH", "text.txt").hint is None


# --------------------------------------------------------------------------------------------
# every problem in one pass
# --------------------------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_pass(run: SealedRun, tmp_path: Path) -> None:
    data = bytearray((run.path / REPORT).read_bytes())
    data[0] ^= 0x20
    (run.path / REPORT).write_bytes(bytes(data))
    (run.path / NOTES).unlink()
    (run.path / "data" / "new.csv").write_bytes(b"id\n")
    os.symlink(tmp_path, run.path / "escape")
    rows = (run.path / ROWS).read_bytes()
    (run.path / ROWS).write_bytes(rows.replace(b"\r\n", b"\n"))
    write_hash_lines(run.path, hash_lines(run.path), root=sha(b"forged root"))
    report = inspect_run_folder(run.path)
    assert {
        ("HASH_MISMATCH", REPORT),
        ("MISSING_FILE", NOTES),
        ("UNLISTED_FILE", "data/new.csv"),
        ("NOT_A_REGULAR_FILE", "escape"),
        ("SIZE_MISMATCH", ROWS),
        ("HASH_MISMATCH", ROWS),
        ("ROOT_MISMATCH", "MANIFEST.sha256"),
    } <= pairs(report)
    with pytest.raises(RegistryError) as caught:
        verify_run_folder(run.path)
    assert caught.value.code == "SEAL_INVALID"
    assert caught.value.problems == report.problems
    head, *lines = caught.value.diagnostics().splitlines()
    assert head == f"error: SEAL_INVALID {report.run_folder}: {len(report.problems)} problem(s)"
    assert lines == [f"  {problem}" for problem in report.problems]


# --------------------------------------------------------------------------------------------
# files larger than what is read whole (hashed in blocks): same verdicts
# --------------------------------------------------------------------------------------------

BIG_TEXT = b"".join(b"row %07d of a large sealed text file\n" % i for i in range(40_000))
BIG_BINARY = hashlib.sha256(b"seed").digest() * (2_500_000 // 32)


def test_large_files_tampered_in_one_byte_and_converted(make_run: MakeRun) -> None:
    assert len(BIG_TEXT) > 1 << 20 and len(BIG_BINARY) > 2 << 20
    sealed = make_run({"big.txt": BIG_TEXT, "sub/big.bin": BIG_BINARY})
    assert inspect_run_folder(sealed.path).ok
    unseal(sealed.path)
    flipped = bytearray(BIG_BINARY)
    flipped[len(flipped) - 1] ^= 0xFF
    (sealed.path / "sub" / "big.bin").write_bytes(bytes(flipped))
    converted = BIG_TEXT.replace(b"\n", b"\r\n")
    (sealed.path / "big.txt").write_bytes(converted)
    report = inspect_run_folder(sealed.path)
    assert pairs(report) == {
        ("HASH_MISMATCH", "sub/big.bin"),
        ("SIZE_MISMATCH", "big.txt"),
        ("HASH_MISMATCH", "big.txt"),
    }
    binary = the(report, "HASH_MISMATCH", "sub/big.bin")
    assert (binary.expected, binary.found, binary.hint) == (
        sha(BIG_BINARY),
        sha(bytes(flipped)),
        None,
    )
    _assert_converted(report, "big.txt", BIG_TEXT, converted)
    fast = inspect_run_folder(sealed.path, fast=True)
    assert pairs(fast) == {("SIZE_MISMATCH", "big.txt")}
