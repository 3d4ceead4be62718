"""Generated documents (AGENTS.md's type table, the coordination tables) stay in step with data."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import entry_types, load_coordination
from registry_pipeline.core.write_path.table import coordination_markdown, types_markdown

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "module-registries"
GENERATED = re.compile(r"<!-- BEGIN generated: (\S+) -->\n(.*?)<!-- END generated -->", re.S)


def _types_doc(root: Path) -> str:
    catalog = load_catalog(Workspace(root))
    return types_markdown(catalog, entry_types(catalog))


def _rules_doc(root: Path) -> str:
    catalog = load_catalog(Workspace(root))
    return coordination_markdown(
        load_coordination(root, catalog.coordination, entry_types(catalog))
    )


@pytest.mark.parametrize(
    ("root", "document"),
    [(EXAMPLE, EXAMPLE / ".system/registry/AGENTS.md"), (REPO, REPO / "docs/REGISTRY_TYPES.md")],
    ids=["example-AGENTS.md", "demo-REGISTRY_TYPES.md"],
)
def test_the_types_table_is_current(root: Path, document: Path) -> None:
    assert document.read_text(encoding="utf-8") == _types_doc(root), (
        f"{document} is stale: run `registry types --markdown --workspace {root}` > {document}"
    )


def test_the_types_table_names_every_type_with_its_schema_and_content() -> None:
    text = (EXAMPLE / ".system/registry/AGENTS.md").read_text(encoding="utf-8")
    for name in ("module_type", "module_instance", "module_maturity", "module_interface",
                 "route", "ability_low", "ability_high", "hook"):  # fmt: skip
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f".system/registry/schemas/{name}.schema.yaml" in row
    assert "`.system/hooks/*.yaml` (one entry per file)" in text


def test_the_coordination_doc_agrees_with_each_rules_file() -> None:
    text = (REPO / "docs/registry_coordination.md").read_text(encoding="utf-8")
    sections = dict(GENERATED.findall(text))
    assert set(sections) == {"examples/module-registries", "."}
    for where, table in sections.items():
        assert table == _rules_doc(REPO / where), (
            f"docs/registry_coordination.md disagrees with {where}'s rules: regenerate with "
            f"`registry types --rules --workspace {where}`"
        )


def test_a_changed_rule_makes_the_doc_disagree(tmp_path: Path) -> None:
    """The comparison above can fail: a severity changed in the rules file changes the table."""
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(EXAMPLE, copy)
    rules = copy / "registries/COORDINATION_v0_1.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("severity: warning", "severity: error", 1), encoding="utf-8")
    assert _rules_doc(copy) != _rules_doc(EXAMPLE)


def test_a_rule_names_types_that_differ_only_in_case_apart() -> None:
    """Type names are case-sensitive: `Route` and `route` are two types, both listed."""
    rule = SimpleNamespace(
        id="r1", severity="error", types=["Route", "route", "Route"], kind="exists",
        field="target", source_type="Route", target_type="route", target_where=None,
        patterns=None, why="a link",
    )  # fmt: skip
    table = coordination_markdown(cast(Any, SimpleNamespace(rules=[rule])))
    assert "| `r1` | error | `Route`, `route` | each `target` of `Route`" in table, table
