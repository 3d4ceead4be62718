"""`seal_files` from paths: copied in blocks, as from bytes; a changed file refused."""

from __future__ import annotations

import os
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, sha256_bytes
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

FIXED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SPEC = RunSpec(registry_id="demo", extra={"schema_sha256": "ab" * 32})
BIG = "rows.jsonl"


def _payload() -> dict[str, bytes]:
    line = b'{"run_id": "RUN-20260901-0800-AAAA", "note": "%d"}\n'
    return {
        BIG: b"".join(line % n for n in range(8 * BLOCK_SIZE // len(line) + 7)),
        "empty.txt": b"",
        "sub/notes.txt": b"no final newline",
    }


def _seal(root: Path, files: dict[str, bytes | Path]) -> SealedRun:
    root.mkdir()
    init_workspace(root)
    return seal_files(RunStore(Workspace(root), clock=lambda: FIXED), SPEC, files)


def _tree(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """relpath -> (bytes, or None for a folder; permission bits) of everything in `folder`."""
    return {
        item.relative_to(folder).as_posix(): (
            None if item.is_dir() else item.read_bytes(),
            item.lstat().st_mode & 0o7777,
        )
        for item in sorted(folder.rglob("*"))
    }


def _written(folder: Path, files: dict[str, bytes]) -> dict[str, bytes | Path]:
    """`files` written under `folder`, each given by its path."""
    given: dict[str, bytes | Path] = {}
    for relpath, data in files.items():
        path = folder / relpath.replace("/", "_")
        path.write_bytes(data)
        given[relpath] = path
    return given


def test_files_by_path_seal_the_folder_their_bytes_seal(tmp_path: Path) -> None:
    files = _payload()
    copies = _written(tmp_path, files)
    mixed = {**copies, "sub/notes.txt": files["sub/notes.txt"]}

    from_bytes = _seal(tmp_path / "bytes", dict(files))
    from_paths = _seal(tmp_path / "paths", copies)
    from_both = _seal(tmp_path / "both", mixed)

    assert from_paths.run_id == from_bytes.run_id == from_both.run_id
    assert from_paths.root_sha256 == from_bytes.root_sha256 == from_both.root_sha256
    assert from_paths.entries == from_bytes.entries == from_both.entries
    assert _tree(from_paths.path) == _tree(from_bytes.path) == _tree(from_both.path)
    assert (from_paths.path / "manifest.json").read_bytes() == (
        from_bytes.path / "manifest.json"
    ).read_bytes()
    assert inspect_run_folder(from_paths.path).ok


def test_a_file_by_path_is_never_read_whole(
    tmp_path: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _payload()
    copies = _written(tmp_path, files)
    original = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.stat().st_size > BLOCK_SIZE:
            raise AssertionError(f"{path} read whole")
        return original(path)

    store = RunStore(workspace, clock=lambda: FIXED)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    tracemalloc.start()
    try:
        sealed = seal_files(store, SPEC, copies)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert os.path.getsize(sealed.path / BIG) == len(files[BIG]) > 8 * BLOCK_SIZE
    assert peak < (len(copies) + 1) * BLOCK_SIZE, f"{peak} bytes at peak"  # a block per copy


def test_a_file_changed_since_it_was_checked_is_not_sealed(
    tmp_path: Path, workspace: Workspace
) -> None:
    files = _payload()
    copies = _written(tmp_path, files)
    checked = {relpath: sha256_bytes(data) for relpath, data in files.items()}
    big = copies[BIG]
    assert isinstance(big, Path)
    with big.open("ab") as handle:  # an append between the checks and the seal
        handle.write(b'{"run_id": "RUN-20260901-0801-BBBB"}\n')

    with pytest.raises(RegistryError) as raised:
        seal_files(RunStore(workspace, clock=lambda: FIXED), SPEC, copies, checked)

    assert (raised.value.code, raised.value.path) == ("SOURCE_CHANGED", BIG)
    assert [p.name for p in workspace.runs_dir.iterdir() if not p.name.startswith(".")] == []
    assert list(workspace.staging_dir.iterdir()) == []
    sealed = seal_files(RunStore(workspace, clock=lambda: FIXED), SPEC, copies)  # unchecked
    assert sealed.path.is_dir()


def test_a_fifo_swapped_in_for_a_file_is_refused_without_hanging(
    tmp_path: Path, workspace: Workspace
) -> None:
    """A FIFO where a checked file was: refused at once as no regular file, nothing published."""
    import threading

    files = _payload()
    copies = _written(tmp_path, files)
    big = copies[BIG]
    assert isinstance(big, Path)
    big.unlink()
    os.mkfifo(big)
    outcome: list[BaseException] = []

    def seal() -> None:
        try:
            seal_files(RunStore(workspace, clock=lambda: FIXED), SPEC, copies)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    sealer = threading.Thread(target=seal, daemon=True)
    sealer.start()
    sealer.join(timeout=60)
    if sealer.is_alive():  # free the blocked open, then fail
        with open(big, "wb"):
            pass
        pytest.fail("sealing hung on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], RegistryError)
    assert outcome[0].code == "NOT_A_REGULAR_FILE"
    assert [p.name for p in workspace.runs_dir.iterdir() if not p.name.startswith(".")] == []
