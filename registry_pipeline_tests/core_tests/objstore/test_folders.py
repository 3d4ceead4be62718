"""Run folders published to a bucket (obstore's in-memory store: the same conditional writes as
S3; `s3_tests/` runs the same protocol against a real server)."""

from __future__ import annotations

import json
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
    folder = sealed(tmp_path)
    files = publish(store, ".codex/RUNS", folder)
    assert published(store, ".codex/RUNS") == [RUN]
    assert [f.relpath for f in files] == ["MANIFEST.sha256", "nested/part.jsonl", "registry.json"]
    assert listing(store, ".codex/RUNS", RUN) == files  # the folder object as publish wrote it
    copy = fetch(store, ".codex/RUNS", RUN, tmp_path / "cache")
    for f in files:
        assert (copy / f.relpath).read_bytes() == (folder / f.relpath).read_bytes()


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


def _folder_object(files: object, **fields: object) -> bytes:
    body = {"format": "registry-remote-folder-1", "run_id": RUN, "files": files, **fields}
    return json.dumps(body).encode()


def _one_file(**fields: object) -> bytes:
    return _folder_object([{"path": "registry.json", "size": 1, "sha256": HEX, **fields}])


HEX = "ab" * 32
INVALID_FOLDER_OBJECTS = {
    "not json": b"not json",
    "another format": b'{"format": "x"}',
    "not an object": b"[]",
    "duplicate keys": b'{"format": "registry-remote-folder-1", "format": "x"}',
    "another run id": _folder_object([], run_id="2026-11-24__091500__other"),
    "an unknown field": _folder_object([], extra=1),
    "files not a list": _folder_object({"registry.json": 1}),
    "a file not an object": _folder_object(["registry.json"]),
    "a file with an unknown field": _one_file(mode=420),
    "a file with no sha256": _folder_object([{"path": "registry.json", "size": 1}]),
    "a NUL in a path": _one_file(path="registry\u0000.json"),
    "a newline in a path": _one_file(path="registry\n.json"),
    "a parent segment": _one_file(path="../escape"),
    "a parent segment inside": _one_file(path="nested/../../escape"),
    "an absolute path": _one_file(path="/etc/passwd"),
    "a backslash": _one_file(path="..\\escape"),
    "an empty path": _one_file(path=""),
    "a dot segment": _one_file(path="./registry.json"),
    "an empty segment": _one_file(path="nested//part.jsonl"),
    "a trailing slash": _one_file(path="nested/"),
    "a path not text": _one_file(path=["registry.json"]),
    "a path too long": _one_file(path="a" * 5000),
    "a negative size": _one_file(size=-1),
    "a size as text": _one_file(size="1"),
    "a fractional size": _one_file(size=1.5),
    "a size true": _one_file(size=True),
    "a huge size": _one_file(size=2**64),
    "a NaN size": _one_file(size=float("nan")),
    "a short sha256": _one_file(sha256="00"),
    "an uppercase sha256": _one_file(sha256="AB" * 32),
    "a sha256 not hex": _one_file(sha256="zz" * 32),
    "a sha256 not text": _one_file(sha256=1),
    "a path listed twice": _folder_object([{"path": "a", "size": 1, "sha256": HEX}] * 2),
    "a file and a folder of one name": _folder_object(
        [{"path": "a", "size": 1, "sha256": HEX}, {"path": "a/b", "size": 1, "sha256": HEX}]
    ),
}


@pytest.mark.parametrize("body", INVALID_FOLDER_OBJECTS.values(), ids=INVALID_FOLDER_OBJECTS)
def test_a_folder_object_this_release_did_not_write_is_refused_before_any_write(
    tmp_path: Path, body: bytes
) -> None:
    """REMOTE_STATE_INVALID naming the object, for the listing and the fetch alike, with
    nothing written: never INTERNAL (a NUL), never a file outside the folder."""
    store = ObjectStore.in_memory()
    store.put(folder_key("RUNS", RUN), body)
    store.put(staged_key(HEX), b"x")
    cache = tmp_path / "cache"
    for read in (lambda: listing(store, "RUNS", RUN), lambda: fetch(store, "RUNS", RUN, cache)):
        with pytest.raises(RegistryError) as caught:
            read()
        assert caught.value.code == "REMOTE_STATE_INVALID"
        assert caught.value.path == f"memory:///{folder_key('RUNS', RUN)}"
    assert not (tmp_path / "escape").exists()
    assert not cache.exists() or list(cache.iterdir()) == []


@pytest.mark.parametrize("run_id", ["..", ".", ".hidden", "a\\b", "a\x00b"])
def test_a_folder_object_under_an_unsafe_run_id_is_refused(tmp_path: Path, run_id: str) -> None:
    """`RUNS/...json` would be fetched as the folder above the run folders."""
    store = ObjectStore.in_memory()
    safe = run_id.replace("\x00", "")  # no store takes a NUL in a key
    store.put(folder_key("RUNS", safe), _folder_object([], run_id=run_id))
    with pytest.raises(RegistryError) as caught:
        fetch(store, "RUNS", run_id, tmp_path / "cache")
    assert caught.value.code == "REMOTE_STATE_INVALID"
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("length", [245, 250, 255])
def test_a_run_id_as_long_as_a_name_may_be_is_fetched(tmp_path: Path, length: int) -> None:
    run_id = RUN + "x" * (length - len(RUN))  # the fetch's own folder was named after it
    store = ObjectStore.in_memory()
    publish(store, "RUNS", sealed(tmp_path, run_id))
    copy = fetch(store, "RUNS", run_id, tmp_path / "cache")
    assert copy.name == run_id and (copy / "registry.json").read_bytes() == b'{"entries": []}\n'
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [run_id]  # nothing left
