"""A write's findings, each once, alike whether the entry changes or is given again unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry, deprecate
from registry_pipeline.core.write_path.content import finding_json
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.write_path._support import copy_example, parse, sample

RULES = "registries/COORDINATION_v0_1.yaml"


def _colliding_aliases(tmp_path: Path) -> tuple[Path, str, Any]:
    """A role whose two aliases are other roles' ids: two append-only findings at one place."""
    root = copy_demo(tmp_path)
    role = json.loads((root / "registries/rolepack/atelier_rolepack_v1.json").read_text())
    entry = role["roles"][0] | {"aliases": ["executive_2", "context_culture_1"]}
    return root, "rolepack", entry


def _owner_deprecated_twice_resolved(tmp_path: Path) -> tuple[Path, str, Any]:
    """A route whose owner is deprecated, found by two `exists` rules: one finding, found twice."""
    root = copy_example(tmp_path)
    document = parse(root / RULES)
    [owner] = [rule for rule in document["rules"] if rule["id"] == "route-owner-exists"]
    document["rules"].append(owner | {"id": "route-owner-listed"})
    (root / RULES).write_text(json.dumps(document, indent=2))
    deprecate(Workspace(root), "module_instance", "article_service", reason="r")
    return root, "route", sample("route")


@pytest.mark.parametrize(
    ("setup", "codes"),
    [
        (_colliding_aliases, ["ALIAS_COLLISION", "ALIAS_COLLISION"]),
        (_owner_deprecated_twice_resolved, ["deprecated-reference"]),
    ],
)
def test_findings_are_once_each_and_the_same_changed_or_unchanged(
    tmp_path: Path, setup: Callable[[Path], tuple[Path, str, Any]], codes: list[str]
) -> None:
    root, type_name, entry = setup(tmp_path)
    changed = add_entry(Workspace(root), type_name, entry, no_check=True, reason="r")
    unchanged = add_entry(Workspace(root), type_name, entry, no_check=True, reason="r")

    assert changed.action in ("inserted", "updated") and changed.written
    assert unchanged.action == "unchanged"
    found = [finding_json(f) for f in changed.findings]
    assert [f["code"] for f in found] == codes
    assert all(found.count(f) == 1 for f in found)  # no finding twice
    assert [finding_json(f) for f in unchanged.findings] == found
