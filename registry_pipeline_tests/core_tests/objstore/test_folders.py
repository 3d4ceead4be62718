"""Run folders published to a bucket (obstore's in-memory store: the same conditional writes as
S3; `s3_tests/` runs the same protocol against a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.folders import (
    fetch,
    folder_key,
    listing,
    publish,
    published,
    staged_key,
)

RUN = "2026-11-24__091500__demo_build"


def sealed(tmp_path: Path, run_id: str = RUN) -> Path:
    folder = tmp_path / "sealed" / run_id
    (folder / "nested").mkdir(parents=True, exist_ok=True)
    (folder / "registry.json").write_bytes(b'{"entries": []}\n')
    (folder / "nested" / "part.jsonl").write_bytes(b'{"a":1}\r\n')
    (folder / "MANIFEST.sha256").write_bytes(b"root\n")
    return folder


def test_a_folder_is_visible_only_once_published(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    files = publish(store, ".codex/RUNS", sealed(tmp_path))
    assert published(store, ".codex/RUNS") == [RUN]
    assert [f.relpath for f in files] == ["MANIFEST.sha256", "nested/part.jsonl", "registry.json"]
    copy = fetch(store, ".codex/RUNS", RUN, tmp_path / "cache")
    for f in files:
        assert (copy / f.relpath).read_bytes() == (sealed_path(tmp_path) / f.relpath).read_bytes()


def sealed_path(tmp_path: Path) -> Path:
    return tmp_path / "sealed" / RUN


def test_files_uploaded_without_the_folder_object_are_invisible(tmp_path: Path) -> None:
    """A writer killed after its uploads, before the one conditional write."""
    store = ObjectStore.in_memory()
    store.put(staged_key("ab" * 32), b"orphan")
    assert published(store, ".codex/RUNS") == []
    with pytest.raises(RegistryError) as caught:
        fetch(store, ".codex/RUNS", RUN, tmp_path / "cache")
    assert caught.value.code == "FOLDER_NOT_FOUND"
    assert not (tmp_path / "cache" / RUN).exists()


def test_one_run_id_is_published_once(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    publish(store, "RUNS", sealed(tmp_path))
    with pytest.raises(RegistryError) as caught:
        publish(store, "RUNS", sealed(tmp_path))
    assert caught.value.code == "FOLDER_EXISTS"
    assert caught.value.path == f"memory:///{folder_key('RUNS', RUN)}"


def test_a_tampered_file_is_fetched_as_found(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    files = {f.relpath: f for f in publish(store, "RUNS", sealed(tmp_path))}
    store.put(staged_key(files["registry.json"].sha256), b"{}\n")  # someone with bucket access
    store.delete(staged_key(files["nested/part.jsonl"].sha256))
    copy = fetch(store, "RUNS", RUN, tmp_path / "cache")
    assert (copy / "registry.json").read_bytes() == b"{}\n"  # the seal check says HASH_MISMATCH
    assert not (copy / "nested" / "part.jsonl").exists()  # ... and MISSING_FILE


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"not json", "REMOTE_FOLDER_INVALID"), (b'{"format": "x"}', "REMOTE_FOLDER_INVALID")],
)
def test_a_folder_object_this_release_did_not_write_is_refused(
    tmp_path: Path, body: bytes, code: str
) -> None:
    store = ObjectStore.in_memory()
    store.put(folder_key("RUNS", RUN), body)
    with pytest.raises(RegistryError) as caught:
        listing(store, "RUNS", RUN)
    assert caught.value.code == code


def test_an_unsafe_listed_path_is_refused_before_any_write(tmp_path: Path) -> None:
    store = ObjectStore.in_memory()
    body = b'{"format": "registry-remote-folder-1", "run_id": "%s", "files": [' % RUN.encode()
    body += b'{"path": "../escape", "size": 1, "sha256": "00"}]}'
    store.put(folder_key("RUNS", RUN), body)
    with pytest.raises(RegistryError) as caught:
        fetch(store, "RUNS", RUN, tmp_path / "cache")
    assert caught.value.code == "UNSAFE_PATH"
    assert not (tmp_path / "escape").exists()
    assert list((tmp_path / "cache").iterdir()) == []
