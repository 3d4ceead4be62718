"""A RUN record's uniqueness checks (seed 004: `uniqueness_hook`, `uniqueness_scene`,
`uniqueness_scripture`: "PASS|FAIL|NOT_RUN"): every field named `uniqueness_*`, so a check the
schema adds later counts too. One function says which FAILed, for the sidecar (`runs failed`),
the override rule and the marks `runs failed` prints."""

from __future__ import annotations

from typing import Any

CHECK_PREFIX = "uniqueness_"
"""The prefix of a uniqueness check's field."""
FAIL = "FAIL"
"""The value of a failed check."""
OVERRIDE = "override_id"
"""The field of a RUN record naming its override, and the key of the overrides log."""


def is_check(field: str) -> bool:
    """Whether `field` is a uniqueness check."""
    return field.startswith(CHECK_PREFIX)


def failed_checks(record: dict[str, Any]) -> list[str]:
    """The uniqueness checks of `record` whose value is FAIL, in the record's order."""
    if FAIL not in record.values():  # most records: one pass in C
        return []
    return [
        field
        for field, value in record.items()
        if value == FAIL and field.startswith(CHECK_PREFIX)  # is_check
    ]


def named_override(record: dict[str, Any]) -> str | None:
    """The override `record` names (None: none, or not a string)."""
    value = record.get(OVERRIDE)
    return value if isinstance(value, str) else None
