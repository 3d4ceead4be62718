"""A large JSONL artifact is inspected a line at a time, with the verdicts of a whole-file read."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core import jsonl
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal import hashing
from registry_pipeline.core.seal import validate as inspection
from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, jsonl_records
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline_tests._helpers import reseal, unseal

MakeRun = Callable[..., SealedRun]
DIAGNOSTICS = "APPEND_ONLY_DIAGNOSTICS_v0_1.jsonl"
"""A JSONL artifact a built-in schema governs."""


def _line(number: int, message_bytes: int = 400) -> bytes:
    diagnostic = {
        "file": "a.csv",
        "code": "ID_REMOVED",
        "id": f"id-{number}",
        "path": "a.csv",
        "message": "m" * message_bytes,
    }
    return json.dumps(diagnostic, separators=(",", ":")).encode() + b"\n"


def _artifact(size: int, message_bytes: int = 400) -> bytes:
    """Valid diagnostics lines, at least `size` bytes."""
    lines: list[bytes] = []
    total = 0
    while total < size:
        lines.append(_line(len(lines), message_bytes))
        total += len(lines[-1])
    return b"".join(lines)


def _inspect(folder: Path) -> FolderReport:
    return inspect_run_folder(folder, schemas=SchemaCatalog.for_workspace(None))


def _whole(folder: Path, monkeypatch: pytest.MonkeyPatch) -> FolderReport:
    """The report when every file counts as small: read whole, kept in memory, split."""
    with monkeypatch.context() as patched:
        patched.setattr(hashing, "SMALL_FILE", 1 << 40)
        patched.setattr(inspection, "SMALL_FILE", 1 << 40)
        return _inspect(folder)


def _tampered(make_run: MakeRun, edit: Callable[[bytes], bytes], *, again: bool) -> Path:
    """A sealed folder whose large artifact `edit` changed (`again`: resealed after)."""
    folder = make_run({DIAGNOSTICS: _artifact(3 * BLOCK_SIZE)}).path
    unseal(folder)
    path = folder / DIAGNOSTICS
    path.write_bytes(edit(path.read_bytes()))
    if again:
        reseal(folder)
    return folder


def _near_end(data: bytes, replacement: bytes) -> bytes:
    """`data` with its third line from the end replaced."""
    lines = data.split(b"\n")
    lines[-4] = replacement
    return b"\n".join(lines)


CASES: dict[str, tuple[Callable[[bytes], bytes], bool, str]] = {
    "a line that does not parse near the end": (
        lambda data: _near_end(data, b'{"file": "a.csv", "code":'),
        True,
        "JSON_INVALID",
    ),
    "a schema violation near the end": (
        lambda data: _near_end(data, b'{"file": 1, "code": "NOPE"}'),
        True,
        "SCHEMA_VIOLATION",
    ),
    "a torn last line": (lambda data: data + b'{"file": "a.c', True, "JSON_INVALID"),
    "blank lines and CRLF": (
        lambda data: data.replace(b"}\n", b"}\r\n", 3) + b"\n  \n\r\n",
        True,
        "",
    ),
    "a hash mismatch": (
        lambda data: data[:-20] + data[-20:].replace(b"m", b"n", 1),
        False,
        "HASH_MISMATCH",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_large_artifact_is_judged_as_the_whole_file_was(
    case: str, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit, again, code = CASES[case]
    folder = _tampered(make_run, edit, again=again)
    assert (folder / DIAGNOSTICS).stat().st_size > 2 * BLOCK_SIZE

    lines = (folder / DIAGNOSTICS).read_bytes().count(b"\n")

    streamed = _inspect(folder)

    assert streamed == _whole(folder, monkeypatch)
    assert sorted({str(p.code) for p in streamed.problems}) == ([code] if code else [])
    for problem in streamed.problems:
        assert problem.path == DIAGNOSTICS
        if problem.code != "HASH_MISMATCH":
            assert problem.line is not None and problem.line >= lines - 3  # where it is


def test_the_inspection_of_a_large_artifact_holds_a_fraction_of_it(make_run: MakeRun) -> None:
    data = _artifact(24 << 20, message_bytes=4000)
    folder = make_run({DIAGNOSTICS: data}).path
    del data
    catalog = SchemaCatalog.for_workspace(None)
    assert inspect_run_folder(folder, schemas=catalog).ok  # the schema compiled, untraced
    tracemalloc.start()
    try:
        report = inspect_run_folder(folder, schemas=catalog)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems
    assert peak < (24 << 20) // 4, f"peak {peak:,} bytes for a {24 << 20:,}-byte artifact"


SAMPLES = (
    b"",
    b"\n",
    b"a",
    b"a\n",
    b"\n\n\nb",
    b"one\r\ntwo\r\n",
    b"x" * 50 + b"\n" + b"y" * 3 + b"\n\n" + b"z" * 40,
    b"\n".join(b"%d" % n * (n % 17) for n in range(300)),
)


def test_a_large_file_is_streamed_as_the_lines_split_gives(tmp_path: Path) -> None:
    """The inspector's streamed lines are `bytes.split(b"\n")`'s, less a final empty piece."""
    path = tmp_path / "lines"
    for data in SAMPLES:
        path.write_bytes(data)
        with path.open("rb") as handle:
            streamed = [line for _number, line in jsonl.Lines(handle)]
        whole = data.split(b"\n")
        assert streamed == (whole[:-1] if whole[-1] == b"" else whole), data


def test_jsonl_records_judge_a_whole_file_as_its_streamed_lines(tmp_path: Path) -> None:
    """`jsonl_records` over split and over streamed lines: same records, same error."""
    path = tmp_path / "records.jsonl"

    def streamed(data: bytes) -> list[tuple[int, object]]:
        path.write_bytes(data)
        with path.open("rb") as handle:
            return list(jsonl_records(line for _number, line in jsonl.Lines(handle)))

    good = b'{"a": 1}\n\n  \r\n[2, 3]\r\n"s"\n'
    assert list(jsonl_records(good.split(b"\n"))) == streamed(good)
    for bad in (b'{"a": 1}\n{"a": 1, "a": 2}\n', b'1\n\n{"b": NaN}', b"\xff\n", b"[1,\n"):
        with pytest.raises(JSONDecodeProblem) as whole:
            list(jsonl_records(bad.split(b"\n")))
        with pytest.raises(JSONDecodeProblem) as lines:
            streamed(bad)
        found, expected = lines.value, whole.value
        assert (found.message, found.code, found.line, found.column) == (
            expected.message,
            expected.code,
            expected.line,
            expected.column,
        )
