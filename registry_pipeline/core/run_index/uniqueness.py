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


def is_check(field: str) -> bool:
    """Whether `field` is a uniqueness check."""
    return field.startswith(CHECK_PREFIX)


def failed_checks(record: dict[str, Any]) -> list[str]:
    """The uniqueness checks of `record` whose value is FAIL, in the record's order."""
    return [field for field, value in record.items() if value == FAIL and is_check(field)]
