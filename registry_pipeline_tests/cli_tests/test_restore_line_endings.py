"""`registry restore-line-endings`: a verified copy of a folder whose line endings git converted;
the original is never touched, and nothing is written unless every file comes back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace

Run = Callable[..., tuple[int, str, str]]


def _converted(workspace: Workspace) -> Path:
    """A sealed folder with a CRLF file, then converted to LF as git's eol=lf does."""
    sealed = seal_files(
        RunStore(workspace),
        RunSpec(registry_id="evidence"),
        {"RUN.md": b"line one\r\nline two\r\n", "data.bin": b"\x00\x01\r\n"},
    )
    target = sealed.path / "RUN.md"
    os.chmod(sealed.path, 0o755)
    os.chmod(target, 0o644)
    target.write_bytes(b"line one\nline two\n")
    return sealed.path


def test_a_converted_folder_is_restored_into_a_verified_copy(
    cli: Run, workspace: Workspace, tmp_path: Path
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


def test_an_unrecoverable_file_writes_nothing(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    folder = _converted(workspace)
    (folder / "RUN.md").write_bytes(b"line one\nline 2\n")  # edited, not only converted
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
