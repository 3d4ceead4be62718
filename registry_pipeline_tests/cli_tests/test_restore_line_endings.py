"""`registry restore-line-endings` writes a verified copy or nothing; the original is untouched."""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, link_state


def _sealed(workspace: Workspace, files: dict[str, bytes]) -> Path:
    """A folder sealing `files`, the seal's read-only modes undone so that a test can damage it."""
    folder = seal_files(RunStore(workspace), RunSpec(registry_id="evidence"), files).path
    for directory, _dirs, names in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in names:
            os.chmod(Path(directory) / name, 0o644)
    return folder


def _converted(workspace: Workspace) -> Path:
    """A sealed folder with a CRLF file, then converted to LF as git's eol=lf does."""
    folder = _sealed(
        workspace, {"RUN.md": b"line one\r\nline two\r\n", "data.bin": b"\x00\x01\r\n"}
    )
    (folder / "RUN.md").write_bytes(b"line one\nline two\n")
    return folder


def test_a_converted_folder_is_restored_into_a_verified_copy(
    cli: Run, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _converted(workspace)
    code, out, _ = cli("validate", str(folder))
    assert code == 1 and "line endings were converted" in out
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["restored"] == {"RUN.md": "LF back to CRLF"}
    copy = tmp_path / "fixed" / folder.name
    assert (copy / "RUN.md").read_bytes() == b"line one\r\nline two\r\n"
    assert cli("validate", str(copy))[0] == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # original untouched
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 2 and "DEST_EXISTS" in err
    monkeypatch.chdir(folder)  # `.` is restored under the folder's own name
    assert cli("restore-line-endings", ".", str(tmp_path / "again"))[0] == 0
    assert cli("validate", str(tmp_path / "again" / folder.name))[0] == 0


@pytest.mark.parametrize(
    "edited", [b"line one\nline 2\n", b"line one\nline two\r\n"], ids=["a-word", "one-cr-of-two"]
)
def test_an_edited_file_is_an_edit_for_validate_and_restore_alike_and_nothing_is_written(
    cli: Run, workspace: Workspace, tmp_path: Path, edited: bytes
) -> None:
    folder = _converted(workspace)
    (folder / "RUN.md").write_bytes(edited)  # edited, not only converted
    code, out, _ = cli("validate", str(folder))
    assert code == 1 and out.startswith("FAIL") and "line endings were converted" not in out
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 1 and "RESTORE_UNRECOVERABLE" in err and "RUN.md" in err
    assert list((tmp_path / "fixed").iterdir()) == []


def test_the_seed_folder_broken_by_conversion_is_restored(
    cli: Run, reference: Path, tmp_path: Path
) -> None:
    folder = reference / "evidence_runs_crlf_converted" / "p1_20260204_001"
    code, out, err = cli("restore-line-endings", str(folder), str(tmp_path), "--json")
    assert code == 0, err
    assert len(json.loads(out)["restored"]) == 5
    assert cli("validate", str(tmp_path / folder.name))[0] == 0


def test_a_listed_file_that_is_a_symlink_is_refused(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _converted(workspace)
    outside = tmp_path / "outside.md"
    outside.write_bytes(b"line one\r\nline two\r\n")
    (folder / "RUN.md").unlink()
    (folder / "RUN.md").symlink_to(outside)
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 2 and "NOT_A_REGULAR_FILE" in err and "RUN.md" in err
    assert list((tmp_path / "fixed").iterdir()) == []


def test_an_unlisted_fifo_is_refused_without_being_opened(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _converted(workspace)
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer() -> None:  # returns only once somebody opened the FIFO for reading
        fd = os.open(fifo, os.O_WRONLY)
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
        was_opened = opened.is_set()
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer thread finish
        thread.join()
        os.close(reader)
    assert not was_opened
    assert code == 2 and "NOT_A_REGULAR_FILE" in err and str(fifo.resolve()) in err
    assert list((tmp_path / "fixed").iterdir()) == []


def test_a_folder_converted_whole_manifest_included_is_restored(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _sealed(workspace, {"RUN.md": b"line one\nline two\n", "data.bin": b"\x00\x01\n"})
    for path in folder.iterdir():  # core.autocrlf: every text file LF to CRLF
        data = path.read_bytes()
        if b"\0" not in data:
            path.write_bytes(data.replace(b"\n", b"\r\n"))
    assert b"\r\n" in (folder / "MANIFEST.sha256").read_bytes()
    code, out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"), "--json")
    assert code == 0, err
    restored = json.loads(out)["restored"]
    assert restored["MANIFEST.sha256"] == "CRLF back to LF"
    assert restored["RUN.md"] == "CRLF back to LF"
    copy = tmp_path / "fixed" / folder.name
    assert b"\r" not in (copy / "MANIFEST.sha256").read_bytes()
    assert cli("validate", str(copy))[0] == 0


def test_an_unverified_copy_names_the_source_and_what_failed(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _converted(workspace)
    (folder / "stray.txt").write_bytes(b"not sealed\n")
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 1 and "RESTORE_UNVERIFIED" in err
    assert f"RESTORE_UNVERIFIED {folder.resolve()}:" in err
    assert "UNLISTED_FILE" in err and "stray.txt" in err and ".restoring" not in err
    assert list((tmp_path / "fixed").iterdir()) == []


@pytest.mark.parametrize("inside", ["out", "a/b", "."])
def test_a_dest_inside_the_folder_is_refused_before_anything_is_written(
    cli: Run, workspace: Workspace, inside: str
) -> None:
    folder = _converted(workspace)
    before = link_state(folder)
    code, _out, err = cli("restore-line-endings", str(folder), str(folder / inside))
    assert code == 2 and "DEST_INSIDE_FOLDER" in err
    assert link_state(folder) == before  # not even a folder made


def test_a_folder_without_manifest_creates_no_dest(cli: Run, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"a\n")
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 2 and "NOT_A_RUN_FOLDER" in err
    assert not (tmp_path / "fixed").exists()


def test_a_target_that_appears_meanwhile_is_not_replaced(
    cli: Run, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_pipeline.core.seal import restore

    folder = _converted(workspace)
    target = tmp_path / "fixed" / folder.name
    verify = restore._verify

    def verify_then_race(*args: Path) -> None:
        verify(*args)
        target.mkdir()  # another process takes the name after the exists() check

    monkeypatch.setattr(restore, "_verify", verify_then_race)
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 2 and "DEST_EXISTS" in err
    assert list(target.iterdir()) == []
    assert [p.name for p in (tmp_path / "fixed").iterdir()] == [folder.name]  # staging removed


def test_unchanged_files_are_streamed_not_held_in_memory(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    big = bytes(range(256)) * (96 << 12)  # 24 MiB, binary: kept as it is
    folder = _sealed(workspace, {"RUN.md": b"line one\r\nline two\r\n", "big.bin": big})
    del big
    (folder / "RUN.md").write_bytes(b"line one\nline two\n")
    tracemalloc.start()
    try:
        code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0, err
    assert peak < 8 << 20, f"peak {peak} bytes: a 24 MiB file was held in memory"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda line: line[:64].upper() + line[64:], "uppercase hex"),
        (lambda line: line.replace("  ", " ", 1), "is not '<sha256>  <relpath>'"),
    ],
)
def test_a_malformed_manifest_line_is_reported_with_its_reason(
    cli: Run,
    workspace: Workspace,
    tmp_path: Path,
    edit: Callable[[str], str],
    reason: str,
) -> None:
    folder = _converted(workspace)
    manifest = folder / "MANIFEST.sha256"
    lines = manifest.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.endswith("  RUN.md"))
    lines[index] = edit(lines[index])
    manifest.write_text("".join(f"{line}\n" for line in lines))
    code, _out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"))
    assert code == 2 and "MALFORMED_MANIFEST" in err and reason in err
    assert f"line {index + 1}" in err
    assert not (tmp_path / "fixed").exists()


def test_a_dest_that_is_a_file_is_bad_usage(cli: Run, workspace: Workspace, tmp_path: Path) -> None:
    folder = _converted(workspace)
    file = tmp_path / "file"
    file.write_bytes(b"keep\n")
    for dest in (file, file / "sub"):
        code, _out, err = cli("restore-line-endings", str(folder), str(dest))
        assert code == 2 and "DEST_NOT_A_FOLDER" in err and str(file) in err
    assert file.read_bytes() == b"keep\n"


def test_a_file_with_a_nul_byte_git_converted_is_diagnosed_and_restored(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _sealed(workspace, {"data.txt": b"a\0b\nc\n"})
    (folder / "data.txt").write_bytes(b"a\0b\r\nc\r\n")  # `* text eol=crlf` converts it too
    code, out, _ = cli("validate", str(folder))
    assert code == 1 and "line endings were converted" in out
    code, out, err = cli("restore-line-endings", str(folder), str(tmp_path / "fixed"), "--json")
    assert code == 0, err
    assert json.loads(out)["restored"] == {"data.txt": "CRLF back to LF"}
    copy = tmp_path / "fixed" / folder.name
    assert (copy / "data.txt").read_bytes() == b"a\0b\nc\n"
    assert cli("validate", str(copy))[0] == 0
