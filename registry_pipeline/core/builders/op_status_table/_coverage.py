"""An enforcement coverage matrix read as each operation's coverage level (the seed's form).

The seed system keeps the level of each operation (C0 documented only .. C5 fully governed) in
`OVC_ENFORCEMENT_COVERAGE_MATRIX_v*.md`, not in its operations catalog. A level is read from a
table row whose first cell starts with an operation id (`OP-A01`, or `OP-QA07 Run Registry
Build` as v0.2 writes it) and whose table has a Coverage Level column (`C3` or `**C3**`). Rows
that name a range (`OP-NC01 through OP-NC29`), summary rows and tables without that column define
nothing. A newer matrix supersedes an older one for the ids it lists and inherits the others
("all v0.1 rows are inherited verbatim"). A level that is not C0..C5, or an id listed twice in
one matrix, is a `CatalogWarning`, never a failed build.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from registry_pipeline.core.builders.op_status_table._blocks import blocks, plain
from registry_pipeline.core.builders.op_status_table._model import CatalogWarning

_FIRST_CELL = re.compile(r"(OP-[A-Z]+[0-9]+)(?:\s+(.*))?")
_RANGE = re.compile(r"(?:through|to|-|–|—)\s+OP-", re.IGNORECASE)
_LEVEL = re.compile(r"(C[0-5])(?![0-9])")
_LEVEL_COLUMNS = ("coverage level", "coverage", "enforcement level", "level", "c level")


@dataclass(frozen=True)
class Coverage:
    """One operation's level and where it was read."""

    level: str
    """C0..C5."""
    source: str
    """`<matrix>:<line>`."""


def coverage_levels(
    matrices: Sequence[tuple[str, str]],
) -> tuple[dict[str, Coverage], list[CatalogWarning]]:
    """Matrices `(text, source)`, oldest first: the level of every operation they list (the
    newest matrix's), and the warnings for rows that could not be read."""
    levels: dict[str, Coverage] = {}
    warnings: list[CatalogWarning] = []
    for text, source in matrices:
        found = _read(text.removeprefix("\ufeff"), source, warnings)
        levels.update(found)
    return levels, warnings


def _read(text: str, source: str, warnings: list[CatalogWarning]) -> dict[str, Coverage]:
    found: dict[str, Coverage] = {}
    for block in blocks(text):
        if block.kind != "row" or not block.cells:
            continue
        first = _FIRST_CELL.fullmatch(plain(block.cells[0]))
        if first is None or (first[2] and _RANGE.match(first[2])):
            continue
        column = next((block.header.index(k) for k in _LEVEL_COLUMNS if k in block.header), None)
        if column is None or column >= len(block.cells):
            continue
        operation_id, value = first[1], plain(block.cells[column])
        level = _LEVEL.match(value)
        if level is None:
            warnings.append(
                CatalogWarning(
                    source,
                    block.line,
                    operation_id,
                    f"coverage level {value!r} is not C0..C5: the row is ignored",
                )
            )
        elif operation_id in found:
            warnings.append(
                CatalogWarning(
                    source,
                    block.line,
                    operation_id,
                    f"listed again (first at {found[operation_id].source}): this row is ignored",
                )
            )
        else:
            found[operation_id] = Coverage(level[1], f"{source}:{block.line}")
    return found
