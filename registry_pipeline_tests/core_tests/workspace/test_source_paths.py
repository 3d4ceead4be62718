"""A source's files checked from their paths say exactly what their bytes say, never read whole."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.hashing import BLOCK_SIZE
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import file_digests
from registry_pipeline.core.workspace.sources import (
    count_records,
    source_paths,
    source_problems,
    unchanged_snapshot,
)
from registry_pipeline_tests._helpers import copy_demo, forbid_whole_reads
from registry_pipeline_tests.core_tests.run_index._support import jsonl, record, run_id, utc

REPO = Path(__file__).resolve().parents[3]
RUNS = "RUN_INDEX_v0_1.jsonl"
OPERATIONS = "ALLOWED_OPERATIONS_v0_1.json"
LARGE = 64 << 10
"""Files over this size must never be read whole here."""


def _runs(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        record(run_id=run_id(n % 1400, day=1 + n // 1400), created_utc=utc(day=1 + n // 1400))
        for n in range(start, start + count)
    ]


def _big_runs() -> bytes:
    """More than two read blocks of valid runs."""
    data = jsonl(_runs(2 * BLOCK_SIZE // 600 + 500))
    assert len(data) > 2 * BLOCK_SIZE
    return data


def _jsonl_cases() -> Iterator[tuple[str, bytes]]:
    valid = jsonl(_runs(5))
    bad = record(run_id="not a run id")
    bad.pop("created_by")
    yield "valid", valid
    yield "empty", b""
    yield "one newline", b"\n"
    yield "blank lines and CRLF", valid.replace(b"\n", b"\r\n", 2) + b"\n  \n" + jsonl(_runs(1, 9))
    yield "violations", jsonl([*_runs(2), bad, *_runs(1, 3), bad])
    yield "violations then a line that does not parse", jsonl([bad, *_runs(2)]) + b"{nope\n"
    yield "duplicate key", valid + b'{"run_id": "a", "run_id": "b"}\n' + valid
    yield "non-finite number", valid + b'{"n": NaN}\n'
    yield "torn last line", valid + b'{"record_type": "RUN"'
    yield "torn after blank lines", b"\n\n" + valid + b"\n\n{"
    big = _big_runs()
    yield "violations across read blocks", big + jsonl([bad]) + big + jsonl([bad])
    yield "a line that does not parse past a block", big + b"[1,\n"
    yield "torn past a block", big + big[:700]


@pytest.fixture(scope="module")
def schemas() -> SchemaCatalog:
    return SchemaCatalog.for_workspace(REPO)


JSON_CASES = [
    (REPO / "registries/allowed_operations" / OPERATIONS).read_bytes(),
    b'{"operations": [{"operation_id": 7}]}\n',
    b'{"operations": [1, 2, 3}',
    b"",
]
CASES = [
    *(pytest.param(relpath, data, id=f"{relpath}-{name}")
      for name, data in _jsonl_cases() for relpath in (RUNS, "ungoverned.jsonl")),
    *(pytest.param(OPERATIONS, data, id=f"json-{n}") for n, data in enumerate(JSON_CASES)),
]  # fmt: skip


@pytest.mark.parametrize(("relpath", "data"), CASES)
def test_a_file_by_path_has_the_problems_of_its_bytes(
    tmp_path: Path, schemas: SchemaCatalog, relpath: str, data: bytes
) -> None:
    path = tmp_path / relpath
    path.write_bytes(data)

    assert source_problems({relpath: path}, schemas) == source_problems({relpath: data}, schemas)
    assert count_records({relpath: path}) == count_records({relpath: data})
    assert file_digests({relpath: path}) == file_digests({relpath: data})


def test_source_paths_finds_what_is_read(tmp_path: Path) -> None:
    demo = copy_demo(tmp_path)
    (demo / "registries" / "threshold_packs" / "README.txt").write_text("not a pack\n")
    for spec in load_catalog(Workspace(demo)).registries:
        if not spec.is_source:
            continue
        found = source_paths(demo, spec.sources, spec.kind)
        read = source_paths(demo, spec.sources, spec.kind).read()

        assert {rel: path.read_bytes() for rel, path in found.files.items()} == read.files
        assert list(found.files) == list(read.files)
        assert (found.origins, found.unexpected) == (read.origins, read.unexpected)


@pytest.fixture
def big_source(tmp_path: Path) -> tuple[Workspace, Path]:
    """The demo workspace with a run index of more than two read blocks."""
    demo = copy_demo(tmp_path)
    source = demo / "registries" / "run_index" / RUNS
    source.write_bytes(_big_runs())
    return Workspace(demo), source


@pytest.fixture
def never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a file over LARGE bytes whole fails."""
    forbid_whole_reads(monkeypatch, lambda path: path.stat().st_size > LARGE)


def test_the_source_checks_never_read_a_large_source_whole(
    big_source: tuple[Workspace, Path], never_whole: None
) -> None:
    workspace, source = big_source
    schemas = SchemaCatalog.for_workspace(workspace.root)
    catalog = load_catalog(workspace)
    spec = catalog.get("run_index")
    sealed = seal_files(RunStore(workspace), RunSpec(registry_id="run_index"), {RUNS: source})

    found = source_paths(workspace.root, spec.sources, spec.kind)
    governed = governed_files(workspace, spec, found.files, schemas)

    assert found.files == {RUNS: source}
    assert source_problems(found.files, schemas) == []
    assert count_records(found.files) == source.read_text().count("\n")
    assert governed.files == {RUNS: source}
    assert unchanged_snapshot(sealed.path, governed.files, schemas) == (True, True)


def test_a_changed_source_is_not_the_unchanged_snapshot(big_source: tuple[Workspace, Path]) -> None:
    workspace, source = big_source
    schemas = SchemaCatalog.for_workspace(workspace.root)
    sealed = seal_files(RunStore(workspace), RunSpec(registry_id="run_index"), {RUNS: source})
    data = bytearray(source.read_bytes())
    data[100:101] = b"X" if data[100:101] != b"X" else b"Y"  # same size, other bytes
    source.write_bytes(bytes(data))

    assert unchanged_snapshot(sealed.path, {RUNS: source}, schemas) == (False, False)
    assert unchanged_snapshot(sealed.path, {RUNS: bytes(data)}, schemas) == (False, False)
    assert unchanged_snapshot(sealed.path, {RUNS: source, "more.txt": b""}, schemas) == (
        False,
        False,
    )


def test_the_source_checks_hold_a_few_blocks_of_a_large_source(tmp_path: Path) -> None:
    """The memory they take stays a few read blocks, far below the file's size."""
    source = tmp_path / RUNS
    big = _big_runs()
    with source.open("wb") as handle:
        for _ in range(6):
            handle.write(big)
    schemas = SchemaCatalog.for_workspace(REPO)
    source_problems({RUNS: big[:2000]}, schemas)  # the schema compiled before measuring

    tracemalloc.start()
    try:
        problems = source_problems({RUNS: source}, schemas)
        count = count_records({RUNS: source})
        digests = file_digests({RUNS: source})
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (problems, count) == ([], 6 * big.count(b"\n"))
    assert digests == file_digests({RUNS: source.read_bytes()})
    assert source.stat().st_size > 12 * BLOCK_SIZE
    assert peak < 4 * BLOCK_SIZE, f"{peak} bytes at peak"  # a block, its lines, a record


def test_a_torn_source_log_is_log_torn_as_runs_append_says(tmp_path: Path) -> None:
    """One verdict for one torn log: `runs append` says LOG_TORN, the build SCHEMA_VIOLATION."""
    log = tmp_path / "RUN_INDEX_v0_1.jsonl"
    log.write_bytes(jsonl(record(run_id=run_id(1), created_utc=utc(1, 8))) + b'{"record_type"')
    schemas = SchemaCatalog.for_workspace(None)
    for given in (log, log.read_bytes()):
        (problem,) = source_problems({"registries/run_index/RUN_INDEX_v0_1.jsonl": given}, schemas)
        assert (problem.code, problem.line) == ("LOG_TORN", log.read_bytes().count(b"\n") + 1)
        assert "runs repair" in problem.message
