"""Parse and schema problems of a source registry's files, found before anything is sealed
(re-exported by `core.workspace.sources`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.problems import json_invalid, schema_violation
from registry_pipeline.core.seal.schemas import SchemaCatalog, iter_jsonl


def source_problems(
    files: Mapping[str, bytes], catalog: SchemaCatalog, *, parse_ungoverned: bool = True
) -> list[Problem]:
    """Every parse and schema problem of `files` (relpath -> bytes), each naming the file, the
    line and the field (JSON pointer): the one check `registry seal` and a source asset make
    before anything is written. With `parse_ungoverned`, .json and .jsonl files no schema
    governs must still parse strictly."""
    problems: list[Problem] = []
    for relpath, data in sorted(files.items()):
        schema = catalog.for_artifact(relpath)
        fmt = schema.format if schema else _format_of(relpath) if parse_ungoverned else None
        if fmt is None:
            continue
        if fmt == "jsonl" and data and not data.endswith(b"\n"):
            line = data.count(b"\n") + 1
            problems.append(
                schema_violation(
                    relpath,
                    f"line {line} is incomplete (no final newline: an interrupted append?); "
                    "complete or remove it (`registry runs repair` for a run index)",
                    line,
                )
            )
            continue
        try:
            if fmt == "jsonl":
                for number, document in iter_jsonl(data):
                    if schema is not None:
                        problems.extend(
                            schema_violation(relpath, f"line {number} {v}", number, v.pointer)
                            for v in catalog.validate(schema.schema_id, document)
                        )
            else:
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


def _format_of(relpath: str) -> str | None:
    return {".json": "json", ".jsonl": "jsonl"}.get(Path(relpath).suffix)


def _pointer_lines(data: bytes, pointers: Sequence[str]) -> dict[str, int | None]:
    """The 1-based line where each JSON pointer's value starts in `data` (None when unknown)."""
    found = pointer_lines(data.decode("utf-8"), pointers) if pointers else {}
    return {pointer: found.get(pointer) for pointer in pointers}


def _said(line: int | None) -> str:
    return "" if line is None else f"line {line} "
