"""Parse and schema problems of a source registry's files, found before anything is sealed
(re-exported by `core.workspace.sources`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from registry_pipeline.core.errors import Problem
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.folder_report import json_invalid, schema_violation
from registry_pipeline.core.seal.hashing import BLOCK_SIZE, file_lines, jsonl_records
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.schemas import ArtifactSchema, SchemaCatalog


def source_problems(
    files: Mapping[str, bytes | Path], catalog: SchemaCatalog, *, parse_ungoverned: bool = True
) -> list[Problem]:
    """Every parse and schema problem of `files` (relpath -> bytes, or the file's path), each
    naming the file, the line and the field (JSON pointer): the one check `registry seal` and a
    source asset make before anything is written. A JSONL file is checked a line at a time (one
    given by its path is never held whole). With `parse_ungoverned`, .json and .jsonl files no
    schema governs must still parse strictly."""
    problems: list[Problem] = []
    for relpath, content in sorted(files.items()):
        schema = catalog.for_artifact(relpath)
        fmt = schema.format if schema else _format_of(relpath) if parse_ungoverned else None
        if fmt is None:
            continue
        if fmt == "jsonl":
            problems.extend(_jsonl_problems(relpath, content, schema, catalog))
            continue
        data = content.read_bytes() if isinstance(content, Path) else content
        try:
            document = loads_strict(data)
            if schema is not None:
                violations = catalog.validate(schema.schema_id, document)
                lines = _pointer_lines(data, [v.pointer for v in violations])
                problems.extend(
                    schema_violation(
                        relpath, f"{_said(lines[v.pointer])}{v}", lines[v.pointer], v.pointer
                    )
                    for v in violations
                )
        except JSONDecodeProblem as exc:
            problems.append(json_invalid(relpath, fmt, exc))
    return problems


def _jsonl_problems(
    relpath: str, content: bytes | Path, schema: ArtifactSchema | None, catalog: SchemaCatalog
) -> list[Problem]:
    """The problems of one JSONL file: an incomplete last line alone, else each line's schema
    violations up to the first line that does not parse, then that line's."""
    torn = _torn_line(content)
    if torn is not None:
        return [
            schema_violation(
                relpath,
                f"line {torn} is incomplete (no final newline: an interrupted append?); "
                "complete or remove it (`registry runs repair` for a run index)",
                torn,
            )
        ]
    problems: list[Problem] = []
    lines = file_lines(content) if isinstance(content, Path) else _split(content)
    try:
        for number, document in jsonl_records(lines):
            if schema is not None:
                problems.extend(
                    schema_violation(relpath, f"line {number} {v}", number, v.pointer)
                    for v in catalog.validate(schema.schema_id, document)
                )
    except JSONDecodeProblem as exc:
        problems.append(json_invalid(relpath, "jsonl", exc))
    return problems


def _torn_line(content: bytes | Path) -> int | None:
    """The number of the last line when the file is not empty and does not end with a newline
    (its lines counted a block at a time), else None."""
    if not isinstance(content, Path):
        torn = bool(content) and not content.endswith(b"\n")
        return content.count(b"\n") + 1 if torn else None
    with content.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if not size:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        handle.seek(0)
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(BLOCK_SIZE), b"")) + 1


def _split(data: bytes) -> Iterator[bytes]:
    """`data.split(b"\\n")`, one line at a time (no list of them all)."""
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        yield data[start:end]
        start = end + 1
    yield data[start:]


def _format_of(relpath: str) -> str | None:
    return {".json": "json", ".jsonl": "jsonl"}.get(Path(relpath).suffix)


def _pointer_lines(data: bytes, pointers: Sequence[str]) -> dict[str, int | None]:
    """The 1-based line where each JSON pointer's value starts in `data` (None when unknown)."""
    found = pointer_lines(data.decode("utf-8"), pointers) if pointers else {}
    return {pointer: found.get(pointer) for pointer in pointers}


def _said(line: int | None) -> str:
    return "" if line is None else f"line {line} "
