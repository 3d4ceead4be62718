"""Golden vectors: manifest bytes frozen under `assets/seal_vector_small/` by independent code."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.manifest import (
    ManifestEntry,
    render_manifest_json,
    render_manifest_sha256,
    root_sha256,
)
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.validate import inspect_run_folder

VECTOR = "seal_vector_small"


# --------------------------------------------------------------------------------------------
# independent reference implementation (used to produce the frozen files, and to re-check them)
# --------------------------------------------------------------------------------------------


def independent_manifest_json(files: dict[str, bytes]) -> bytes:
    """manifest.json laid out by hand: rows by UTF-8 byte order, 2-space indent, final newline."""
    rows = []
    for relpath in sorted(files, key=lambda r: r.encode("utf-8")):
        data = files[relpath]
        rows.append(
            "  {\n"
            f'    "relpath": {json.dumps(relpath, ensure_ascii=False)},\n'
            f'    "bytes": {len(data)},\n'
            f'    "sha256": "{hashlib.sha256(data).hexdigest()}"\n'
            "  }"
        )
    return ("[\n" + ",\n".join(rows) + "\n]\n").encode("utf-8")


def independent_root(lines: list[str]) -> str:
    return hashlib.sha256(
        b"".join(line + b"\n" for line in sorted(line.encode("utf-8") for line in lines))
    ).hexdigest()


def independent_manifest_sha256(files: dict[str, bytes]) -> tuple[bytes, str]:
    """MANIFEST.sha256 of `files` + their manifest.json: lines by relpath, then the ROOT line."""
    every = {**files, "manifest.json": independent_manifest_json(files)}
    lines = [
        f"{hashlib.sha256(every[relpath]).hexdigest()}  {relpath}"
        for relpath in sorted(every, key=lambda r: r.encode("utf-8"))
    ]
    root = independent_root(lines)
    return ("".join(f"{line}\n" for line in lines) + f"ROOT_SHA256  {root}\n").encode(), root


# --------------------------------------------------------------------------------------------
# the frozen vector
# --------------------------------------------------------------------------------------------


def load_inputs(folder: Path) -> dict[str, bytes]:
    rows = json.loads((folder / "inputs.json").read_bytes())
    return {row["relpath"]: row["text"].encode("utf-8") for row in rows}


def entries_of(files: dict[str, bytes]) -> list[ManifestEntry]:
    return [
        ManifestEntry(relpath, len(data), hashlib.sha256(data).hexdigest())
        for relpath, data in files.items()
    ]


@pytest.fixture
def vector(assets: Path) -> Path:
    folder = assets / VECTOR
    assert folder.is_dir(), f"golden vector missing: {folder}"
    return folder


def test_vector_inputs_are_what_the_vector_is_meant_to_cover(vector: Path) -> None:
    files = load_inputs(vector)
    assert 3 <= len(files) <= 10
    assert any("/" in relpath for relpath in files)  # a subfolder
    non_ascii = [relpath for relpath in files if not relpath.isascii()]
    assert non_ascii and all(unicodedata.is_normalized("NFC", r) for r in non_ascii)
    assert any(
        unicodedata.normalize("NFD", r) != r for r in non_ascii
    )  # has an NFD twin, so NFC matters
    assert any(b"\r\n" in data for data in files.values())  # CRLF content is hashed as is
    assert any(data == b"" for data in files.values())
    # names whose byte order differs from a case-insensitive or a path-component order
    assert {"Zeta.md", "alpha.txt", "sub-x.txt", "sub.txt", "sub/data.csv"} <= set(files)


def test_frozen_files_match_the_independent_computation(vector: Path) -> None:
    files = load_inputs(vector)
    sha_text, root = independent_manifest_sha256(files)
    assert (vector / "expected_manifest.json").read_bytes() == independent_manifest_json(files)
    assert (vector / "expected_MANIFEST.sha256").read_bytes() == sha_text
    assert (vector / "expected_ROOT_SHA256").read_bytes() == f"{root}\n".encode()


def test_render_manifest_json_matches_the_vector(vector: Path) -> None:
    entries = entries_of(load_inputs(vector))
    expected = (vector / "expected_manifest.json").read_bytes()
    for seed in range(5):  # the renderer sorts: the input order must not matter
        shuffled = random.Random(seed).sample(entries, len(entries))
        assert render_manifest_json(shuffled) == expected


def test_render_manifest_sha256_matches_the_vector(vector: Path) -> None:
    files = load_inputs(vector)
    manifest = (vector / "expected_manifest.json").read_bytes()
    entries = entries_of({**files, "manifest.json": manifest})
    expected = (vector / "expected_MANIFEST.sha256").read_bytes()
    root = (vector / "expected_ROOT_SHA256").read_text(encoding="ascii").strip()
    for seed in range(5):
        text, computed = render_manifest_sha256(random.Random(seed).sample(entries, len(entries)))
        assert text == expected
        assert computed == root
    assert expected.decode().splitlines()[-1] == f"ROOT_SHA256  {root}"


def test_vector_as_a_run_folder_validates(vector: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seal_vector_small"  # run.json of the vector names this run_id
    for relpath, data in load_inputs(vector).items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
    (folder / "manifest.json").write_bytes((vector / "expected_manifest.json").read_bytes())
    (folder / "MANIFEST.sha256").write_bytes((vector / "expected_MANIFEST.sha256").read_bytes())
    report = inspect_run_folder(folder)
    assert report.problems == ()
    assert report.root_sha256 == (vector / "expected_ROOT_SHA256").read_text().strip()


def test_store_records_the_vector_hashes(vector: Path, make_run: Callable[..., SealedRun]) -> None:
    """Sealing the same payload through the store lists the same rows (run.json differs)."""
    files = load_inputs(vector)
    payload = {relpath: data for relpath, data in files.items() if relpath != "run.json"}
    sealed = make_run(payload, registry_id="vector")
    ours = json.loads((sealed.path / "manifest.json").read_bytes())
    frozen = json.loads((vector / "expected_manifest.json").read_bytes())
    assert [row for row in ours if row["relpath"] != "run.json"] == [
        row for row in frozen if row["relpath"] != "run.json"
    ]


# --------------------------------------------------------------------------------------------
# root_sha256: order-insensitive, and sorted by bytes (not by locale, not by relpath)
# --------------------------------------------------------------------------------------------


def test_root_vector_is_order_insensitive(vector: Path) -> None:
    doc = json.loads((vector / "root_order.json").read_bytes())
    lines: list[str] = doc["lines"]
    assert independent_root(lines) == doc["root"]
    assert len(lines) <= 8
    orders = list(itertools.permutations(lines)) if len(lines) <= 7 else []
    orders += [random.Random(seed).sample(lines, len(lines)) for seed in range(50)]
    for order in orders:
        assert root_sha256(list(order)) == doc["root"]
    assert root_sha256(iter(lines)) == doc["root"]  # any iterable, consumed once


def test_root_vector_discriminates_wrong_orders_and_framings(vector: Path) -> None:
    """The vector would catch a root taken in file order, locale order or without newlines."""
    doc = json.loads((vector / "root_order.json").read_bytes())
    lines: list[str] = doc["lines"]
    assert lines != sorted(lines, key=lambda line: line.encode())

    def digest(ordered: list[str], end: bytes = b"\n") -> str:
        return hashlib.sha256(b"".join(x.encode() + end for x in ordered)).hexdigest()

    assert digest(lines) != doc["root"]  # file order
    assert digest(sorted(lines, key=str.casefold)) != doc["root"]  # case-insensitive order
    assert digest(sorted(lines, key=lambda x: x.split("  ", 1)[1])) != doc["root"]  # by relpath
    assert digest(sorted(lines, key=str.encode), b"") != doc["root"]  # no newlines
    joined = "\n".join(sorted(lines, key=str.encode)).encode()
    assert hashlib.sha256(joined).hexdigest() != doc["root"]  # no final newline


def test_root_of_no_lines_is_the_empty_hash() -> None:
    assert root_sha256([]) == hashlib.sha256(b"").hexdigest()
