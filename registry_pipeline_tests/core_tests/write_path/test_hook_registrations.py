"""Seed 003, 5.1.3: a hook registration's event types and stages are in the declared lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.write_path.content import entry_of
from registry_pipeline.core.write_path.rules import (
    DEFAULT_DECLARED,
    parse_coordination,
)
from registry_pipeline_tests.core_tests.write_path._support import (
    parse,
    sample,
    snapshot,
)

RULES = "registries/COORDINATION_v0_1.yaml"
SEED_EVENT_TYPES = ["PromptSubmit", "PreAbilityCreate", "PreAbilityCall", "PostAbilityCall",
                    "SessionStop"]  # fmt: skip
"""Seed 003, 3.1: "each file declares an `event_type` such as PromptSubmit, PreAbilityCreate,
PreAbilityCall, PostAbilityCall, or SessionStop"."""


def _hook(**fields: Any) -> dict[str, Any]:
    return sample("hook") | fields


def _declare(root: Path, name: str, values: list[str]) -> None:
    """Declare the list `name` in the workspace's coordination file (JSON, which is YAML too)."""
    document = parse(root / RULES)
    document.setdefault("declared", {})[name] = values
    (root / RULES).write_text(json.dumps(document, indent=2))


def _errors(result: Any) -> list[tuple[str, str | None, str]]:
    return [(f.code, entry_of(f)[1], f.field) for f in result.findings if f.severity == "error"]


def test_a_hook_naming_an_undeclared_routing_stage_is_blocked(example: Path) -> None:
    before = snapshot(example)
    result = add_entry(Workspace(example), "hook", _hook(routing_stages=["pre_route", "mid"]))
    assert result.blocked and not result.written
    assert _errors(result) == [
        ("hook-routing-stage", "session_registry_check", "/routing_stages/1")
    ]
    [finding] = [f for f in result.findings if f.code == "hook-routing-stage"]
    assert "'mid'" in finding.message and "pre_route, post_route" in finding.message
    assert snapshot(example) == before


def test_a_hook_naming_declared_routing_stages_is_written(example: Path) -> None:
    result = add_entry(Workspace(example), "hook", _hook(routing_stages=["post_route"]))
    assert result.written and _errors(result) == []


def test_an_undeclared_event_type_is_blocked_by_the_declared_list(example: Path) -> None:
    """The workspace's own list decides: declare four event types, and the fifth is refused."""
    _declare(example, "hook_event_types", SEED_EVENT_TYPES[:4])
    result = add_entry(Workspace(example), "hook", _hook(event_type="SessionStop"))
    assert _errors(result) == [("hook-event-type", "session_registry_check", "/event_type")]


def test_the_workspace_declares_its_own_routing_stages(example: Path) -> None:
    _declare(example, "routing_stages", ["mid"])
    assert not add_entry(Workspace(example), "hook", _hook(routing_stages=["mid"])).blocked
    result = add_entry(Workspace(example), "hook", _hook(routing_stages=["pre_route"]))
    assert _errors(result) == [
        ("hook-routing-stage", "session_registry_check", "/routing_stages/0")
    ]


def test_the_defaults_are_the_seeds_event_types_and_two_routing_stages() -> None:
    assert list(DEFAULT_DECLARED["hook_event_types"]) == SEED_EVENT_TYPES
    assert list(DEFAULT_DECLARED["routing_stages"]) == ["pre_route", "post_route"]


def _document(rule: dict[str, Any], **top: Any) -> dict[str, Any]:
    base = {"id": "r", "severity": "error", "kind": "one_of", "why": "w",
            "of": {"type": "hook", "field": "/routing_stages/*"}}  # fmt: skip
    return {"version": "0.1", **top, "rules": [base | rule]}


def test_values_from_uses_the_default_without_a_declaration() -> None:
    coordination = parse_coordination(
        _document({"values_from": "routing_stages"}), "rules.yaml", ["hook"]
    )
    assert coordination.rules[0].values == ("pre_route", "post_route")


@pytest.mark.parametrize(
    ("rule", "top", "field"),
    [
        ({"values_from": "no_such_list"}, {}, "/rules/0/values_from"),
        ({"values_from": "routing_stages", "values": ["a"]}, {}, "/rules/0"),
        ({}, {}, "/rules/0"),
        ({"values_from": "stages"}, {"declared": {"stages": []}}, "/declared/stages"),
        ({"values_from": "stages"}, {"declared": {"stages": [1, 2]}}, "/declared/stages/0"),
        (  # a misspelt list no rule names would leave the default in force
            {"values_from": "routing_stages"},
            {"declared": {"routing_stage": ["a"]}},
            "/declared/routing_stage",
        ),
    ],
    ids=["unknown-list", "both", "neither", "empty-list", "numbers", "named-by-no-rule"],
)
def test_a_bad_declaration_is_coordination_invalid_naming_the_field(
    rule: dict[str, Any], top: dict[str, Any], field: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_coordination(_document(rule, **top), "rules.yaml", ["hook"])
    assert caught.value.code == "COORDINATION_INVALID"
    fields = [problem.field for problem in caught.value.problems]
    assert field in fields, fields
