"""One blocking check's verdict on one snapshot, free of Dagster (the asset layer converts it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.errors import problem_object
from registry_pipeline.core.seal.envelope import SealedRef


@dataclass(frozen=True)
class CheckVerdict:
    """What one check decided: passed, why, reason codes, details and the snapshots it read."""

    name: str
    passed: bool
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[SealedRef, ...] = ()

    @property
    def reason_codes(self) -> list[str]:
        """The metadata's reason codes, sorted."""
        return sorted(str(code) for code in self.metadata.get("reason_codes") or [])

    def as_json(self) -> dict[str, object]:
        """The receipt's form: name, verdict, reason codes, the first lines of why, inputs."""
        return {
            "name": self.name,
            "passed": self.passed,
            "reason_codes": self.reason_codes,
            "description": (self.description or "")[:2000] or None,
            "inputs": [ref.as_input_json() for ref in self.inputs],
        }


_LISTS = ("problems", "violations", "findings")
"""The metadata keys under which the checks list what they found."""


def problem_objects(
    check: str, passed: bool, description: str | None, metadata: Mapping[str, Any]
) -> list[dict[str, object]]:
    """A failed check's problems as `problem_object`s naming the check, else one per reason code."""
    if passed:
        return []
    found: list[dict[str, object]] = []
    for key in _LISTS:
        listed = metadata.get(key)
        for item in listed if isinstance(listed, list) else []:
            if not isinstance(item, Mapping) or item.get("severity", "error") != "error":
                continue
            rest = {k: v for k, v in item.items() if k not in ("code", "message", "line")}
            where, field = rest.pop("file", None), rest.pop("field", None)
            if where is not None:  # an append-only row: `path` is the JSON pointer in `file`
                field = rest.pop("path", None) or field
            else:
                where = rest.pop("path", None)
            found.append(
                problem_object(
                    str(item.get("code")),
                    str(item.get("message")),
                    path=None if where is None else str(where),
                    line=item.get("line") if isinstance(item.get("line"), int) else None,
                    field=None if field is None else str(field),
                    **{"check": check, **rest},
                )
            )
    codes = metadata.get("reason_codes") or ["CHECK_FAILED"]
    return found or [
        problem_object(
            str(code), description or f"{check} failed", path=metadata.get("path"), check=check
        )
        for code in codes
    ]
