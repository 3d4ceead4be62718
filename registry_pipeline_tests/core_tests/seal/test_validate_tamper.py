"""Every reason code of the seal contract, each from a real folder sealed by our own store.

A folder is sealed with `make_run`, made writable again, then tampered with the way real accidents
and forgeries do it. Assertions are on the structured fields of each Problem (code, path,
expected, found, hint), never on message text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import (
    Hint,
    Problem,
    RegistryError,
    UsageError,
)
from registry_pipeline.core.seal.manifest import (
    ManifestEntry,
    root_sha256,
)
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
    write_rows,
)

MakeRun = Callable[..., SealedRun]
SEAL_FILES = ("manifest.json", "MANIFEST.sha256")

# The default payload of the `make_run` fixture (conftest.py): one CRLF file, one LF file.
REPORT = "REPORT.json"
ROWS = "data/rows.csv"
NOTES = "notes.txt"


# --------------------------------------------------------------------------------------------
# helpers: make a sealed folder writable, tamper with it, re-seal its manifests by hand
# --------------------------------------------------------------------------------------------


def read_rows(folder: Path) -> list[dict[str, object]]:
    rows = json.loads((folder / "manifest.json").read_bytes())
    assert isinstance(rows, list)
    return rows


def claimed_root(folder: Path) -> str:
    text = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if line.startswith("ROOT_SHA256")]
    return line.split("  ", 1)[1]


def the(report: FolderReport, code: str, path: str | None) -> Problem:
    """The one problem with this code and path (fails if there is none, or several)."""
    matches = [p for p in report.problems if p.code == code and p.path == path]
    assert len(matches) == 1, f"want one {code.value} at {path!r}, got {report.problems!r}"
    return matches[0]


def entry_of(sealed: SealedRun, relpath: str) -> ManifestEntry:
    (entry,) = [e for e in sealed.entries if e.relpath == relpath]
    return entry


def inspect_with_deadline(folder: Path, seconds: float = 60.0) -> FolderReport:
    """Inspect in a thread; fail (and unblock the reader) if validation blocks on a FIFO."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["report"] = inspect_run_folder(folder)
        except BaseException as exc:  # re-raised below in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for fifo in folder.rglob("*"):
            if stat.S_ISFIFO(os.lstat(fifo).st_mode):
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("validation blocked: it opened a FIFO instead of reporting it")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    report = outcome["report"]
    assert isinstance(report, FolderReport)
    return report


@pytest.fixture
def run(make_run: MakeRun) -> SealedRun:
    """The default fixture run (REPORT.json, data/rows.csv with CRLF, notes.txt), writable."""
    sealed = make_run()
    unseal(sealed.path)
    return sealed


# --------------------------------------------------------------------------------------------
# a valid folder, and the three entry points
# --------------------------------------------------------------------------------------------


def test_valid_folder_passes_with_zero_problems(make_run: MakeRun) -> None:
    sealed = make_run()
    for fast in (False, True):
        report = inspect_run_folder(sealed.path, fast=fast)
        assert report.problems == ()
        assert report.ok
        assert report.status == "PASS"
        assert report.run_id == sealed.run_id
        assert report.root_sha256 == sealed.root_sha256 == claimed_root(sealed.path)
        assert report.files == 6  # three artifacts, run.json and the two manifests


def test_sealed_folder_is_read_only(make_run: MakeRun) -> None:
    sealed = make_run()
    for directory, _subdirs, files in os.walk(sealed.path):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o555, directory
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o444, name


def test_is_valid_run_folder_is_a_bool(run: SealedRun, tmp_path: Path) -> None:
    reseal(run.path)  # unsealing changed no bytes: the folder is still valid
    assert is_valid_run_folder(run.path) is True
    (run.path / NOTES).write_bytes(b"changed\n")
    assert is_valid_run_folder(run.path) is False
    assert is_valid_run_folder(tmp_path / "no-such-folder") is False
    a_file = tmp_path / "a_file"
    a_file.write_bytes(b"x")
    assert is_valid_run_folder(a_file) is False


def test_verify_run_folder_returns_the_report_when_valid(make_run: MakeRun) -> None:
    sealed = make_run()
    report = verify_run_folder(sealed.path)
    assert report.ok
    assert report.root_sha256 == sealed.root_sha256


def test_verify_run_folder_raises_with_every_problem(run: SealedRun) -> None:
    (run.path / NOTES).unlink()
    (run.path / "stray.txt").write_bytes(b"stray\n")
    report = inspect_run_folder(run.path)
    with pytest.raises(RegistryError) as caught:
        verify_run_folder(run.path)
    assert caught.value.code == "SEAL_INVALID"
    assert caught.value.problems == report.problems
    assert {(p.code, p.path) for p in caught.value.problems} == {
        ("MISSING_FILE", NOTES),
        ("UNLISTED_FILE", "stray.txt"),
    }
    head, *lines = caught.value.diagnostics().splitlines()
    assert head == f"error: SEAL_INVALID {report.run_folder}: 2 problem(s)"
    assert lines == [f"  {problem}" for problem in report.problems]


def test_inspecting_something_that_is_not_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_bytes(b"x")
    with pytest.raises(UsageError):
        inspect_run_folder(a_file)
    with pytest.raises(UsageError):
        inspect_run_folder(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# content tampering: HASH_MISMATCH, SIZE_MISMATCH, MISSING_FILE, UNLISTED_FILE
# --------------------------------------------------------------------------------------------


def test_flipped_byte_gives_hash_mismatch(run: SealedRun) -> None:
    data = bytearray((run.path / REPORT).read_bytes())
    data[3] ^= 0x01
    (run.path / REPORT).write_bytes(bytes(data))
    report = inspect_run_folder(run.path)
    problem = the(report, "HASH_MISMATCH", REPORT)
    assert problem.expected == entry_of(run, REPORT).sha256
    assert problem.found == sha(bytes(data))
    assert problem.hint is None
    assert len(report.problems) == 1


def test_same_size_edit_passes_fast_but_fails_full(run: SealedRun) -> None:
    original = (run.path / NOTES).read_bytes()
    edited = original.replace(b"one", b"ONE")
    assert len(edited) == len(original) and edited != original
    (run.path / NOTES).write_bytes(edited)
    fast = inspect_run_folder(run.path, fast=True)
    assert fast.ok and fast.fast
    full = inspect_run_folder(run.path)
    assert pairs(full) == {("HASH_MISMATCH", NOTES)}
    problem = the(full, "HASH_MISMATCH", NOTES)
    assert (problem.expected, problem.found) == (sha(original), sha(edited))
    assert is_valid_run_folder(run.path, fast=True) is True
    assert is_valid_run_folder(run.path) is False


def test_fast_mode_still_checks_sizes_presence_and_listing(run: SealedRun) -> None:
    (run.path / NOTES).write_bytes(b"short")
    (run.path / REPORT).unlink()
    (run.path / "extra.txt").write_bytes(b"extra")
    report = inspect_run_folder(run.path, fast=True)
    assert pairs(report) == {
        ("SIZE_MISMATCH", NOTES),
        ("MISSING_FILE", REPORT),
        ("UNLISTED_FILE", "extra.txt"),
    }


def test_truncated_file_gives_size_and_hash_mismatch(run: SealedRun) -> None:
    original = (run.path / NOTES).read_bytes()
    (run.path / NOTES).write_bytes(original[:5])
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("SIZE_MISMATCH", NOTES), ("HASH_MISMATCH", NOTES)}
    size = the(report, "SIZE_MISMATCH", NOTES)
    assert (size.expected, size.found, size.hint) == (len(original), 5, None)
    digest = the(report, "HASH_MISMATCH", NOTES)
    assert (digest.expected, digest.found, digest.hint) == (sha(original), sha(original[:5]), None)


def test_emptied_file(run: SealedRun) -> None:
    original = (run.path / REPORT).read_bytes()
    (run.path / REPORT).write_bytes(b"")
    report = inspect_run_folder(run.path)
    size = the(report, "SIZE_MISMATCH", REPORT)
    assert (size.expected, size.found) == (len(original), 0)
    assert the(report, "HASH_MISMATCH", REPORT).found == sha(b"")


@pytest.mark.parametrize("relpath", [NOTES, ROWS, REPORT])
def test_deleted_file_gives_missing_file(run: SealedRun, relpath: str) -> None:
    (run.path / relpath).unlink()
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("MISSING_FILE", relpath)}


def test_deleted_subfolder_gives_missing_file(run: SealedRun) -> None:
    shutil.rmtree(run.path / "data")
    assert pairs(inspect_run_folder(run.path)) == {("MISSING_FILE", ROWS)}


def test_added_file_at_top_level_gives_unlisted_file(run: SealedRun) -> None:
    (run.path / "extra.txt").write_bytes(b"not sealed\n")
    assert pairs(inspect_run_folder(run.path)) == {("UNLISTED_FILE", "extra.txt")}


def test_added_files_in_subfolders_give_unlisted_file(run: SealedRun) -> None:
    (run.path / "data" / "extra.csv").write_bytes(b"id\n")
    (run.path / "new" / "deep").mkdir(parents=True)
    (run.path / "new" / "deep" / "x.txt").write_bytes(b"")
    assert pairs(inspect_run_folder(run.path)) == {
        ("UNLISTED_FILE", "data/extra.csv"),
        ("UNLISTED_FILE", "new/deep/x.txt"),
    }


def test_renamed_file_gives_missing_and_unlisted(run: SealedRun) -> None:
    (run.path / NOTES).rename(run.path / "notes.renamed.txt")
    (run.path / ROWS).rename(run.path / "rows.csv")  # moved out of its subfolder
    assert pairs(inspect_run_folder(run.path)) == {
        ("MISSING_FILE", NOTES),
        ("UNLISTED_FILE", "notes.renamed.txt"),
        ("MISSING_FILE", ROWS),
        ("UNLISTED_FILE", "rows.csv"),
    }


def test_swapped_contents_of_two_files(run: SealedRun) -> None:
    notes, report_data = (run.path / NOTES).read_bytes(), (run.path / REPORT).read_bytes()
    (run.path / NOTES).write_bytes(report_data)
    (run.path / REPORT).write_bytes(notes)
    report = inspect_run_folder(run.path)
    assert the(report, "HASH_MISMATCH", NOTES).found == sha(report_data)
    assert the(report, "HASH_MISMATCH", REPORT).found == sha(notes)


# --------------------------------------------------------------------------------------------
# the manifests themselves: MANIFEST_DISAGREES, ROOT_MISMATCH, DUPLICATE_ENTRY, MALFORMED_MANIFEST
# --------------------------------------------------------------------------------------------


def test_edited_hash_in_manifest_json_only(run: SealedRun) -> None:
    forged = sha(b"forged")
    rows = read_rows(run.path)
    for row in rows:
        if row["relpath"] == NOTES:
            row["sha256"] = forged
    data = (json.dumps(rows, indent=2) + "\n").encode()
    (run.path / "manifest.json").write_bytes(data)  # MANIFEST.sha256 left as sealed
    report = inspect_run_folder(run.path)
    sealed_manifest_hash = next(
        line.split("  ")[0] for line in hash_lines(run.path) if line.endswith("  manifest.json")
    )
    assert pairs(report) == {
        ("HASH_MISMATCH", "manifest.json"),
        ("MANIFEST_DISAGREES", NOTES),
        ("HASH_MISMATCH", NOTES),
    }
    manifest = the(report, "HASH_MISMATCH", "manifest.json")
    assert (manifest.expected, manifest.found) == (sealed_manifest_hash, sha(data))
    disagree = the(report, "MANIFEST_DISAGREES", NOTES)
    assert (disagree.expected, disagree.found) == (forged, entry_of(run, NOTES).sha256)


def test_forged_hash_in_both_manifests_still_fails_on_content(run: SealedRun) -> None:
    forged = sha(b"forged")
    rows = read_rows(run.path)
    for row in rows:
        if row["relpath"] == NOTES:
            row["sha256"] = forged
    original_line = entry_of(run, NOTES).line()
    (run.path / "manifest.json").write_bytes((json.dumps(rows, indent=2) + "\n").encode())
    data = (run.path / "manifest.json").read_bytes()
    lines = [
        line
        for line in hash_lines(run.path)
        if line != original_line and not line.endswith("  manifest.json")
    ]
    write_hash_lines(run.path, [*lines, f"{forged}  {NOTES}", f"{sha(data)}  manifest.json"])
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("HASH_MISMATCH", NOTES)}
    problem = the(report, "HASH_MISMATCH", NOTES)
    assert (problem.expected, problem.found) == (forged, entry_of(run, NOTES).sha256)


def test_edited_hash_in_manifest_sha256_only(run: SealedRun) -> None:
    forged = sha(b"forged")
    lines = [
        f"{forged}  {NOTES}" if line.endswith(f"  {NOTES}") else line
        for line in hash_lines(run.path)
    ]
    write_hash_lines(run.path, lines, root=run.root_sha256)  # ROOT left as sealed
    report = inspect_run_folder(run.path)
    assert pairs(report) == {
        ("MANIFEST_DISAGREES", NOTES),
        ("ROOT_MISMATCH", "MANIFEST.sha256"),
    }
    disagree = the(report, "MANIFEST_DISAGREES", NOTES)
    assert (disagree.expected, disagree.found) == (entry_of(run, NOTES).sha256, forged)
    root = the(report, "ROOT_MISMATCH", "MANIFEST.sha256")
    assert (root.expected, root.found) == (run.root_sha256, root_sha256(lines))


def test_edited_root_gives_root_mismatch(run: SealedRun) -> None:
    forged = sha(b"another root")
    write_hash_lines(run.path, hash_lines(run.path), root=forged)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("ROOT_MISMATCH", "MANIFEST.sha256")}
    problem = the(report, "ROOT_MISMATCH", "MANIFEST.sha256")
    assert (problem.expected, problem.found) == (forged, run.root_sha256)


def test_manifest_sha256_without_a_line_for_a_file(run: SealedRun) -> None:
    write_hash_lines(run.path, [ln for ln in hash_lines(run.path) if not ln.endswith(NOTES)])
    assert pairs(inspect_run_folder(run.path)) == {("MANIFEST_DISAGREES", NOTES)}


def test_manifest_sha256_without_a_line_for_manifest_json(run: SealedRun) -> None:
    lines = [line for line in hash_lines(run.path) if not line.endswith("  manifest.json")]
    write_hash_lines(run.path, lines)
    assert pairs(inspect_run_folder(run.path)) == {("MANIFEST_DISAGREES", "manifest.json")}


def test_manifest_sha256_with_a_line_for_a_file_manifest_json_omits(run: SealedRun) -> None:
    (run.path / "ghost.txt").write_bytes(b"ghost\n")
    write_hash_lines(run.path, [*hash_lines(run.path), f"{sha(b'ghost')}  ghost.txt"])
    report = inspect_run_folder(run.path)
    assert ("MANIFEST_DISAGREES", "ghost.txt") in pairs(report)
    assert ("UNLISTED_FILE", "ghost.txt") in pairs(report)


def test_duplicate_entry_in_manifest_json(run: SealedRun) -> None:
    rows = read_rows(run.path)
    index = next(i for i, row in enumerate(rows) if row["relpath"] == NOTES)
    rows.insert(index + 1, dict(rows[index]))  # adjacent, so the order stays sorted
    write_rows(run.path, rows)
    assert pairs(inspect_run_folder(run.path)) == {("DUPLICATE_ENTRY", NOTES)}


def test_conflicting_duplicate_entry_in_manifest_json(run: SealedRun) -> None:
    rows = read_rows(run.path)
    index = next(i for i, row in enumerate(rows) if row["relpath"] == NOTES)
    rows.insert(index + 1, {"relpath": NOTES, "bytes": 3, "sha256": sha(b"abc")})
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    assert ("DUPLICATE_ENTRY", NOTES) in pairs(report)
    assert not report.ok


def test_duplicate_entry_in_manifest_sha256(run: SealedRun) -> None:
    lines = hash_lines(run.path)
    (notes_line,) = [line for line in lines if line.endswith(f"  {NOTES}")]
    write_hash_lines(run.path, [*lines, notes_line], root=run.root_sha256)
    report = inspect_run_folder(run.path)
    the(report, "DUPLICATE_ENTRY", NOTES)
    assert {p.code for p in report.problems} <= {
        "DUPLICATE_ENTRY",
        "ROOT_MISMATCH",
    }


def test_conflicting_duplicate_entry_in_manifest_sha256(run: SealedRun) -> None:
    lines = [*hash_lines(run.path), f"{sha(b'other')}  {NOTES}"]
    write_hash_lines(run.path, lines)
    report = inspect_run_folder(run.path)
    assert ("DUPLICATE_ENTRY", NOTES) in pairs(report)


def test_two_root_lines(run: SealedRun) -> None:
    lines = hash_lines(run.path)
    text = "".join(f"{line}\n" for line in lines)
    text += f"ROOT_SHA256  {run.root_sha256}\nROOT_SHA256  {run.root_sha256}\n"
    (run.path / "MANIFEST.sha256").write_text(text, encoding="utf-8")
    report = inspect_run_folder(run.path)
    assert not report.ok
    assert {p.path for p in report.problems} == {"MANIFEST.sha256"}
    assert {p.code for p in report.problems} <= {
        "DUPLICATE_ENTRY",
        "MALFORMED_MANIFEST",
    }


def test_uppercase_hex_in_manifest_json(run: SealedRun) -> None:
    rows = read_rows(run.path)
    upper = entry_of(run, NOTES).sha256.upper()
    for row in rows:
        if row["relpath"] == NOTES:
            row["sha256"] = upper
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    problem = the(report, "MALFORMED_MANIFEST", NOTES)
    assert upper in str(problem.found)


def test_uppercase_hex_in_manifest_sha256(run: SealedRun) -> None:
    lines = [
        line.upper().replace(NOTES.upper(), NOTES) if line.endswith(f"  {NOTES}") else line
        for line in hash_lines(run.path)
    ]
    write_hash_lines(run.path, lines)
    report = inspect_run_folder(run.path)
    problem = the(report, "MALFORMED_MANIFEST", NOTES)
    assert problem.found == entry_of(run, NOTES).sha256.upper()


def test_uppercase_hex_in_root_line(run: SealedRun) -> None:
    write_hash_lines(run.path, hash_lines(run.path), root=run.root_sha256.upper())
    report = inspect_run_folder(run.path)
    assert ("MALFORMED_MANIFEST", "MANIFEST.sha256") in pairs(report)


def test_wrong_bytes_count_gives_size_mismatch(run: SealedRun) -> None:
    rows = read_rows(run.path)
    actual = len((run.path / NOTES).read_bytes())
    for row in rows:
        if row["relpath"] == NOTES:
            row["bytes"] = actual + 1
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("SIZE_MISMATCH", NOTES)}
    problem = the(report, "SIZE_MISMATCH", NOTES)
    assert (problem.expected, problem.found, problem.hint) == (actual + 1, actual, None)


@pytest.mark.parametrize("value", ["18", -1, True, 18.5, None, 2**70 * -1])
def test_bytes_that_is_not_a_non_negative_integer(run: SealedRun, value: object) -> None:
    rows = read_rows(run.path)
    for row in rows:
        if row["relpath"] == NOTES:
            row["bytes"] = value
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    assert not report.ok
    assert ("MALFORMED_MANIFEST", NOTES) in pairs(report)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[{", id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{}", id="object"),
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b'[{"relpath": "notes.txt", "bytes": 1}]', id="missing-key"),
        pytest.param(
            b'[{"relpath": "a", "bytes": 1, "sha256": "' + b"0" * 64 + b'", "x": 1}]',
            id="extra-key",
        ),
        pytest.param(
            b'[{"relpath": "a", "relpath": "b", "bytes": 1, "sha256": "' + b"0" * 64 + b'"}]',
            id="duplicate-key",
        ),
        pytest.param(b"\xef\xbb\xbf[]", id="bom"),
        pytest.param(b"[\xff]", id="not-utf8"),
        pytest.param(b"[NaN]", id="nan"),
    ],
)
def test_malformed_manifest_json(run: SealedRun, data: bytes) -> None:
    write_manifest_json(run.path, data)
    report = inspect_run_folder(run.path)
    assert "MALFORMED_MANIFEST" in {p.code for p in report.problems}
    assert {p.code for p in report.problems} <= {
        "MALFORMED_MANIFEST",
        "UNLISTED_FILE",
        "MANIFEST_DISAGREES",
    }


def test_malformed_manifest_json_does_not_hide_a_tampered_file(run: SealedRun) -> None:
    """MANIFEST.sha256 still says what each file should be: both problems come out."""
    write_manifest_json(run.path, b"[{")
    (run.path / NOTES).write_bytes(b"LINE one\nline two\n")
    report = inspect_run_folder(run.path)
    the(report, "MALFORMED_MANIFEST", "manifest.json")
    problem = the(report, "HASH_MISMATCH", NOTES)
    assert problem.expected == entry_of(run, NOTES).sha256


def test_unsorted_manifest_json(run: SealedRun) -> None:
    rows = read_rows(run.path)
    rows.reverse()
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("MALFORMED_MANIFEST", "manifest.json")}


@pytest.mark.parametrize("name", ["manifest.json", "MANIFEST.sha256"])
def test_manifest_json_listing_a_seal_file(run: SealedRun, name: str) -> None:
    rows = read_rows(run.path)
    data = (run.path / name).read_bytes()
    rows.append({"relpath": name, "bytes": len(data), "sha256": sha(data)})
    rows.sort(key=lambda row: str(row["relpath"]).encode())
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    assert not report.ok
    assert "MALFORMED_MANIFEST" in {p.code for p in report.problems}


MALFORMED = "MALFORMED_MANIFEST"


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        pytest.param("not a hash line\n", {MALFORMED}, id="garbage-line"),
        pytest.param(None, {MALFORMED}, id="no-root-line"),
        pytest.param("{h} {p}\n", {MALFORMED}, id="one-space"),
        pytest.param("{h}  \n", {MALFORMED, "UNSAFE_PATH"}, id="empty-relpath"),
        pytest.param("{h} *{p}\n", {MALFORMED}, id="binary-marker"),
        pytest.param("ROOT_SHA256: {r}\n", {MALFORMED}, id="root-with-colon"),
        pytest.param("\n", {MALFORMED}, id="blank-line"),
    ],
)
def test_malformed_manifest_sha256(
    run: SealedRun, text: str | None, codes: set[str]
) -> None:
    body = "".join(f"{line}\n" for line in hash_lines(run.path))
    if text is None:
        (run.path / "MANIFEST.sha256").write_text(body, encoding="utf-8")
    else:
        extra = text.format(h=sha(b"x"), p="x.txt", r=run.root_sha256)
        tail = "" if extra.startswith("ROOT") else f"ROOT_SHA256  {run.root_sha256}\n"
        (run.path / "MANIFEST.sha256").write_text(body + extra + tail, encoding="utf-8")
    report = inspect_run_folder(run.path)
    assert not report.ok
    assert {p.code for p in report.problems} & codes


def test_manifest_sha256_line_order_is_not_significant(run: SealedRun) -> None:
    lines = hash_lines(run.path)
    manifest_line = next(line for line in lines if line.endswith("  manifest.json"))
    orders = [
        list(reversed(lines)),
        [*(line for line in lines if line != manifest_line), manifest_line],  # seed style
        [manifest_line, *(line for line in lines if line != manifest_line)],
        random.Random(7).sample(lines, len(lines)),
    ]
    assert all(order != lines for order in orders[:3])
    for order in orders:
        write_hash_lines(run.path, order, root=run.root_sha256)
        report = inspect_run_folder(run.path)
        assert report.problems == (), order
        assert report.root_sha256 == run.root_sha256


@pytest.mark.parametrize("name", ["run.json", "manifest.json", "MANIFEST.sha256"])
def test_missing_required_file(run: SealedRun, name: str) -> None:
    (run.path / name).unlink()
    report = inspect_run_folder(run.path)
    the(report, "MISSING_REQUIRED_FILE", name)


def test_empty_folder_misses_every_required_file(tmp_path: Path) -> None:
    """No seal file at all: refused as NOT_A_RUN_FOLDER, the three absences still listed."""
    folder = tmp_path / "2026-01-01__000000__demo"
    folder.mkdir()
    report = inspect_run_folder(folder)
    assert pairs(report) == {
        ("NOT_A_RUN_FOLDER", None),
        ("MISSING_REQUIRED_FILE", "run.json"),
        ("MISSING_REQUIRED_FILE", "manifest.json"),
        ("MISSING_REQUIRED_FILE", "MANIFEST.sha256"),
    }


# --------------------------------------------------------------------------------------------
# run.json: RUN_JSON_INVALID, RUN_ID_MISMATCH
# --------------------------------------------------------------------------------------------


IMPOSSIBLE = {
    "nines": "9999-99-99T99:99:99Z",
    "february-30": "2099-02-30T00:00:00Z",
    "hour-24": "2026-01-01T24:00:00Z",
    "second-60": "2026-06-30T23:59:60Z",
}
"""created_utc values the envelope's pattern lets through that are no time: ordered as text, a
folder dated so passed every real snapshot and froze its pointer (FUTURE_DATED could not date
it)."""


def _edit_run_json(text: str, case: str) -> str:
    envelope = json.loads(text)
    if case == "missing-run_id":
        del envelope["run_id"]
        return json.dumps(envelope, indent=2)
    if case == "missing-created_utc":
        del envelope["created_utc"]
        return json.dumps(envelope, indent=2)
    if case == "created_utc-not-utc":
        envelope["created_utc"] = "2026-01-01 12:00:00+02:00"
        return json.dumps(envelope, indent=2)
    if case.startswith("created_utc-impossible-"):  # the pattern's shape, not a real time
        envelope["created_utc"] = IMPOSSIBLE[case.removeprefix("created_utc-impossible-")]
        return json.dumps(envelope, indent=2)
    if case == "run_id-not-a-string":
        envelope["run_id"] = 12
        return json.dumps(envelope, indent=2)
    if case == "not-json":
        return text[: len(text) // 2]
    if case == "duplicate-keys":
        return text.replace("{", '{\n  "run_id": "other",', 1)
    if case == "nan":
        return text.replace("{", '{\n  "score": NaN,', 1)
    if case == "infinity":
        return text.replace("{", '{\n  "score": -Infinity,', 1)
    if case == "array":
        return json.dumps([envelope])
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing-run_id",
        "missing-created_utc",
        "created_utc-not-utc",
        *(f"created_utc-impossible-{name}" for name in IMPOSSIBLE),
        "run_id-not-a-string",
        "not-json",
        "duplicate-keys",
        "nan",
        "infinity",
        "array",
    ],
)
def test_invalid_run_json(run: SealedRun, case: str) -> None:
    path = run.path / "run.json"
    path.write_text(_edit_run_json(path.read_text(encoding="utf-8"), case), encoding="utf-8")
    reseal(run.path)
    report = inspect_run_folder(run.path)
    assert report.problems, case
    assert pairs(report) == {("RUN_JSON_INVALID", "run.json")}


@pytest.mark.parametrize("name", ["run_id", "registry_id", "created_utc"])
def test_an_envelope_naming_another_run_or_registry_than_the_folder(
    run: SealedRun, name: str
) -> None:
    """run_id must be the folder name, registry_id the registry that name says (a copy of
    another registry's snapshot under a demo name was promoted as demo, judged by the name),
    created_utc the second the name says (a folder named a day early but dated now was the
    gate's newest and never the delta log's: it lists folders by name)."""
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
    """The seed's seal-promotion folders (`..__seal_<registry>`) are dated by name as ours are:
    the delta log and the build's freshness list folders by that name."""
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


def test_renamed_run_folder_gives_run_id_mismatch(make_run: MakeRun, tmp_path: Path) -> None:
    sealed = make_run()
    moved = tmp_path / f"{sealed.run_id[:20]}demo"  # its second kept: only the name differs
    shutil.copytree(sealed.path, moved)
    report = inspect_run_folder(moved)
    assert pairs(report) == {("RUN_ID_MISMATCH", "run.json")}
    problem = the(report, "RUN_ID_MISMATCH", "run.json")
    assert (problem.expected, problem.found) == (moved.name, sealed.run_id)
    assert inspect_run_folder(moved, expect_run_id=sealed.run_id).ok


# --------------------------------------------------------------------------------------------
# SCHEMA_VIOLATION
# --------------------------------------------------------------------------------------------

EXPECTED_VERSIONS = "EXPECTED_VERSIONS_v0_1.json"
GOOD_EXPECTED = b'{\n  "version": "0.1",\n  "expected": {"schema_version": "0.1", ' + (
    b'"threshold_pack_version": null}\n}\n'
)
BAD_EXPECTED = b'{"version": 1, "expected": {"schema_version": "0.1"}, "extra": true}\n'


def test_schema_violation_in_a_folder_sealed_through_add_bytes(make_run: MakeRun) -> None:
    sealed = make_run({EXPECTED_VERSIONS: BAD_EXPECTED}, registry_id="expected_versions")
    report = inspect_run_folder(sealed.path)
    assert report.problems
    assert pairs(report) == {("SCHEMA_VIOLATION", EXPECTED_VERSIONS)}


def test_schema_violation_after_tampering_and_resealing(make_run: MakeRun) -> None:
    sealed = make_run({EXPECTED_VERSIONS: GOOD_EXPECTED}, registry_id="expected_versions")
    assert inspect_run_folder(sealed.path).ok
    unseal(sealed.path)
    (sealed.path / EXPECTED_VERSIONS).write_bytes(b'{"version": "0.1", "expected": []}\n')
    reseal(sealed.path)
    report = inspect_run_folder(sealed.path)
    assert pairs(report) == {("SCHEMA_VIOLATION", EXPECTED_VERSIONS)}


def test_json_invalid_at_the_parsers_position_when_the_artifact_is_not_json(
    make_run: MakeRun,
) -> None:
    sealed = make_run({f"sub/{EXPECTED_VERSIONS}": b"{}\nversion = 0.1\n"}, registry_id="ev")
    report = inspect_run_folder(sealed.path)
    assert pairs(report) == {("JSON_INVALID", f"sub/{EXPECTED_VERSIONS}")}
    assert [(p.line, p.column) for p in report.problems] == [(2, 1)]


# --------------------------------------------------------------------------------------------
# NOT_A_REGULAR_FILE: symlinks and FIFOs
# --------------------------------------------------------------------------------------------


def test_symlink_inside_the_folder(run: SealedRun) -> None:
    os.symlink(NOTES, run.path / "alias.txt")
    report = inspect_run_folder(run.path)
    assert not report.ok
    the(report, "NOT_A_REGULAR_FILE", "alias.txt")


def test_listed_file_replaced_by_a_symlink_to_identical_bytes_outside(
    run: SealedRun, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes((run.path / NOTES).read_bytes())
    (run.path / NOTES).unlink()
    os.symlink(outside, run.path / NOTES)
    report = inspect_run_folder(run.path)
    assert not report.ok
    the(report, "NOT_A_REGULAR_FILE", NOTES)


def test_subfolder_replaced_by_a_symlink_to_a_copy_outside(run: SealedRun, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(run.path / "data", outside)
    shutil.rmtree(run.path / "data")
    os.symlink(outside, run.path / "data", target_is_directory=True)
    report = inspect_run_folder(run.path)
    assert not report.ok
    the(report, "NOT_A_REGULAR_FILE", "data")


def test_dangling_symlink(run: SealedRun) -> None:
    os.symlink("/nonexistent/target", run.path / "dangling")
    report = inspect_run_folder(run.path)
    the(report, "NOT_A_REGULAR_FILE", "dangling")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_inside_the_folder(run: SealedRun) -> None:
    os.mkfifo(run.path / "data" / "pipe")
    report = inspect_with_deadline(run.path)
    the(report, "NOT_A_REGULAR_FILE", "data/pipe")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_listed_file_replaced_by_a_fifo(run: SealedRun) -> None:
    (run.path / NOTES).unlink()
    os.mkfifo(run.path / NOTES)
    for fast in (False, True):
        report = inspect_with_deadline(run.path) if not fast else inspect_run_folder(run.path)
        assert not report.ok
        the(report, "NOT_A_REGULAR_FILE", NOTES)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_required_file_replaced_by_a_fifo(run: SealedRun) -> None:
    (run.path / "run.json").unlink()
    os.mkfifo(run.path / "run.json")
    report = inspect_with_deadline(run.path)
    assert not report.ok
    the(report, "NOT_A_REGULAR_FILE", "run.json")


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


def test_sealed_crlf_now_lf(run: SealedRun) -> None:
    sealed = (run.path / ROWS).read_bytes()
    assert b"\r\n" in sealed
    now = sealed.replace(b"\r\n", b"\n")
    (run.path / ROWS).write_bytes(now)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("SIZE_MISMATCH", ROWS), ("HASH_MISMATCH", ROWS)}
    _assert_converted(report, ROWS, sealed, now)


def test_sealed_lf_now_crlf(run: SealedRun) -> None:
    sealed = (run.path / NOTES).read_bytes()
    assert b"\r" not in sealed
    now = sealed.replace(b"\n", b"\r\n")
    (run.path / NOTES).write_bytes(now)
    report = inspect_run_folder(run.path)
    assert pairs(report) == {("SIZE_MISMATCH", NOTES), ("HASH_MISMATCH", NOTES)}
    _assert_converted(report, NOTES, sealed, now)


def test_both_directions_in_one_pass(run: SealedRun) -> None:
    rows, notes = (run.path / ROWS).read_bytes(), (run.path / NOTES).read_bytes()
    (run.path / ROWS).write_bytes(rows.replace(b"\r\n", b"\n"))
    (run.path / NOTES).write_bytes(notes.replace(b"\n", b"\r\n"))
    report = inspect_run_folder(run.path)
    assert len(report.problems) == 4
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


def test_two_tamperings_give_both_codes(run: SealedRun) -> None:
    (run.path / "extra.txt").write_bytes(b"x")
    (run.path / NOTES).write_bytes(b"x")
    report = inspect_run_folder(run.path)
    assert {p.code for p in report.problems} == {
        "UNLISTED_FILE",
        "SIZE_MISMATCH",
        "HASH_MISMATCH",
    }


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
