"""The run records as the downstream builders read them: each v0.1 line with its seal verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.run_registry._verdict import _seal_warnings


def with_seal_warnings(
    lines: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    """The v0.1 lines, each with its companion verdict appended to `warnings` as `seal:` strings
    (`seal:PASS`, `seal:FAIL`, `seal:FAIL:<CODE>[:<path>]`, `seal:UNSEALED`, `seal:TAMPERED`).

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
