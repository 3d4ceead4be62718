"""The run records as the downstream builders read them: each v0.1 line with its seal verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.run_registry._verdict import _seal_warnings
from registry_pipeline.core.seal.verdicts import FAIL, VERDICTS


def with_seal_warnings(
    lines: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    """The v0.1 lines, each with its companion verdict appended to `warnings` as `seal:` strings
    (`seal:<VERDICT>`, `seal:<VERDICT>:<CODE>[:<path>]` for each problem, `seal:TAMPERED`,
    `seal:DIAGNOSIS:<diagnosis>`), which `seal_status` and `tampered` read back.

    The artifact keeps the seed's line byte for byte; the verdict lives in the companion file,
    joined here by run_key. `statuses` None (a snapshot without the companion, as the seed's
    own builder writes it) leaves the lines as they are: their seal status is unknown.
    """
    if statuses is None:
        return list(lines)
    verdicts = {status.get("run_key"): status for status in statuses}
    joined: list[Mapping[str, Any]] = []
    for line in lines:
        status = verdicts.get(line.get("run_key"))
        if status is None:
            joined.append(line)
            continue
        warnings = line.get("warnings")
        own = list(warnings) if isinstance(warnings, list) else []
        joined.append({**line, "warnings": [*own, *_seal_warnings(status)]})
    return joined


def seal_status(warnings: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """(verdict | None, FAIL reasons) from a run registry line's warnings: the folder's one
    verdict (`core.seal.verdicts.VERDICTS`, as `registry validate` says it, from the first
    `seal:<VERDICT>` warning; None when there is none) and, for a FAIL, its problems."""
    verdict: str | None = None
    reasons: list[str] = []
    warnings = tuple(warnings)
    for warning in warnings:
        if not warning.startswith("seal:"):
            continue
        status, _, rest = warning[len("seal:") :].partition(":")
        if verdict is None and status in VERDICTS and not rest:
            verdict = status
        elif status == FAIL and rest:
            reasons.append(rest)
    if verdict is None and (reasons or tampered(warnings)):
        verdict = FAIL  # a line that names only its problems, or only that it was tampered with
    return verdict, tuple(reasons) if verdict == FAIL else ()


def tampered(warnings: Iterable[str]) -> bool:
    """Whether a run registry line says its folder changed after it was indexed as sealed (a
    FAIL or UNSEALED folder that had passed): counted within its verdict, and on its own."""
    return "seal:TAMPERED" in warnings
