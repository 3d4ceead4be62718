"""The field `registry deprecate` writes is the one `not_deprecated` reads, unless declared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import (
    Entry,
    TypeContent,
    deprecate,
    entry_types,
    evaluate,
)
from registry_pipeline.core.write_path.content import entry_of
from registry_pipeline.core.write_path.rules import parse_coordination
from registry_pipeline_tests.core_tests.write_path._support import copy_example, parse

INSTANCES = "modules/overview/instance_registry.yaml"
RULES = "registries/COORDINATION_v0_1.yaml"


def _contents(root: Path, marks: dict[str, Any]) -> dict[str, TypeContent]:
    types = entry_types(load_catalog(Workspace(root)))
    instance = TypeContent(types["module_instance"])
    instance.entries["m"] = Entry("m", {"module_id": "m", **marks}, INSTANCES, 0)
    route = TypeContent(types["route"])
    route.entries["r"] = Entry("r", {"route_id": "r", "owner_module": "m"}, "modules/routes/r.yaml")
    return {"module_instance": instance, "route": route}


def _rules(*extra: dict[str, Any], **top: Any) -> dict[str, Any]:
    exists = {"id": "owner", "severity": "error", "kind": "exists", "why": "w",
              "from": {"type": "route", "field": "/owner_module"},
              "to": {"type": "module_instance"}}  # fmt: skip
    return {"version": "0.1", **top, "rules": [exists, *extra]}


NOT_DEPRECATED = {"id": "no-deprecated", "severity": "warning", "kind": "not_deprecated",
                  "why": "w"}  # fmt: skip


@pytest.mark.parametrize(
    ("marks", "found"),
    [
        ({"status": "deprecated"}, True),
        ({"lifecycle": "deprecated"}, True),
        ({"status": "active"}, False),
        ({"lifecycle": "active", "status": "planned"}, False),
        ({}, False),
    ],
)
def test_not_deprecated_without_a_field_reads_the_lifecycle_marker(
    tmp_path: Path, marks: dict[str, Any], found: bool
) -> None:
    root = copy_example(tmp_path)
    coordination = parse_coordination(_rules(NOT_DEPRECATED), "r", ["route", "module_instance"])
    findings = evaluate(coordination, _contents(root, marks))
    assert [(f.code, entry_of(f)[1], f.related) for f in findings] == (
        [("no-deprecated", "r", ("module_instance", "m"))] if found else []
    )


def test_a_declared_lifecycle_field_is_the_one_read(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    declared = {"module_instance": {"field": "/state", "deprecated": "retired"}}
    coordination = parse_coordination(
        _rules(NOT_DEPRECATED, lifecycle=declared), "r", ["route", "module_instance"]
    )
    assert evaluate(coordination, _contents(root, {"status": "deprecated"})) == []
    [finding] = evaluate(coordination, _contents(root, {"state": "retired"}))
    assert finding.code == "no-deprecated" and "retired" in finding.message


def test_deprecate_writes_the_declared_field(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    document = parse(root / RULES)
    document["lifecycle"] = {"module_instance": {"field": "/owner", "deprecated": "nobody"}}
    (root / RULES).write_text(json.dumps(document, indent=2))
    result = deprecate(Workspace(root), "module_instance", "user_store", reason="r")
    assert (result.written, result.field) == (True, "/owner")
    [store] = [
        i for i in parse(root / INSTANCES)["module_instances"] if i["module_id"] == "user_store"
    ]
    assert (store["owner"], store["status"]) == ("nobody", "active")
