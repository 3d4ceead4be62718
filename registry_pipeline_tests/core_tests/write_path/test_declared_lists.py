"""Mistakes in `declared:` lists are refused: a list no rule names, a list of other than strings."""

from __future__ import annotations

from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.write_path.rules import parse_coordination
from registry_pipeline_tests.core_tests.write_path._support import EXAMPLE, EXAMPLE_TYPES, parse

RULES = "registries/COORDINATION_v0_1.yaml"
TYPES = EXAMPLE_TYPES


def _details(document: dict[str, Any]) -> list[str]:
    with pytest.raises(UsageError) as caught:
        parse_coordination(document, "rules.yaml", TYPES)
    assert caught.value.code == "COORDINATION_INVALID"
    return [f"{problem.field}: {problem.message}" for problem in caught.value.problems]


def test_the_examples_declared_lists_are_accepted() -> None:
    assert parse_coordination(parse(EXAMPLE / RULES), "rules.yaml", TYPES).rules


def test_a_misspelt_declared_list_is_refused_naming_it() -> None:
    document = parse(EXAMPLE / RULES)
    document["declared"]["hook_event_type"] = document["declared"].pop("hook_event_types")
    details = _details(document)
    assert any(
        d.startswith("/declared/hook_event_type: ") and "'hook_event_types'" in d for d in details
    ), details


def test_a_declared_list_of_numbers_is_refused() -> None:
    document = parse(EXAMPLE / RULES)
    document["declared"]["hook_event_types"] = [1, 2]
    details = _details(document)
    assert any("hook_event_types" in d for d in details), details
