"""Values writers get wrong read back exactly; keys a JSON pointer escapes are found on update
(map member names: test_layouts.py; a list key with a slash: test_ordering.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.write_path._support import (
    DEMO_FILES,
    copy_example,
    parse,
)

TRICKY = [
    "yes", "No", "off", "ON", "y", "N", "~", "null", "NULL", "true", "False", "", " ", "  x",
    "x ", "0", "00", "07", "0o17", "0x1F", "1_000", "1:20", "-0", ".5", "5.", "1e3", "+.inf",
    "-.INF", ".NaN", "2025-01-01", "2025-1-1 10:00", "=", "<<", "-", "- x", "? x", "@x", "`x",
    "!x", "&x", "*x", "|", ">", "%x", "#", "x #y", "a #", "x: y", ":", "a:", "{a}", "[a]",
    "a, b", "'", '"', "\\", "a\nb", "a\n", "\n", "x\r\ny", "\t", "a\tb", "\x01", "x\x7fy",
    "\x1b[31m", "\ufeffx", "\u200b", "\ufffe", "é", "😀", "---", "... x", "x\u00a0",
    "a" * 5000,
]  # fmt: skip
"""Strings a YAML 1.1 reader, a plain scalar or a line splitter could take for something else."""
NON_EMPTY = [value for value in TRICKY if value]
"""The example's schemas want non-empty descriptions."""

LINE_SEPARATORS = ["\x85", "x\x85y", "\u2028", "a\u2028b", "a\u2029b"]
"""NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR: line breaks to YAML 1.1 and str.splitlines."""


def _type(type_id: str, description: str) -> dict[str, str]:
    return {"type_id": type_id, "name": "N", "description": description, "status": "active"}


def test_tricky_strings_read_back_exactly_from_a_yaml_list(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    values = [*NON_EMPTY, *LINE_SEPARATORS]
    for index, value in enumerate(values):
        result = add_entry(Workspace(root), "module_type", _type(f"t{index:03d}", value))
        assert result.written, repr(value)
    items = parse(root / "modules/overview/type_registry.yaml")["module_types"]
    got = {item["type_id"]: item["description"] for item in items}
    for index, value in enumerate(values):
        assert got[f"t{index:03d}"] == value
    # each again is unchanged: what was written is what was meant
    for index, value in enumerate(NON_EMPTY[:20]):
        again = add_entry(Workspace(root), "module_type", _type(f"t{index:03d}", value))
        assert again.action == "unchanged", repr(value)


def test_tricky_strings_read_back_exactly_from_a_yaml_update(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/overview/instance_registry.yaml"
    entry = parse(path)["module_instances"][4]
    for value in NON_EMPTY[::3]:
        entry["description"] = value
        add_entry(Workspace(root), "module_instance", entry)
        assert parse(path)["module_instances"][4] == entry


def test_tricky_strings_read_back_exactly_from_a_yaml_file_per_entry(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    for index, value in enumerate([*NON_EMPTY[1::3], *LINE_SEPARATORS]):
        entry = {
            "route_id": f"r{index:03d}",
            "owner_module": "article_service",
            "scope": [f"content/r{index:03d}/"],
            "topics": [],
            "description": value,
            "status": "active",
        }
        add_entry(Workspace(root), "route", entry)
        assert parse(root / f"modules/routes/r{index:03d}.yaml") == entry


def test_tricky_strings_read_back_exactly_from_a_json_list(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    path = root / DEMO_FILES["migration_ledger"]
    for index, value in enumerate([*TRICKY[2::3], *LINE_SEPARATORS, "\u2028\u2029"]):
        entry = {"file": f"sql/{index:03d}.sql", "description": value, "applied_at": None,
                 "applied_by": None, "status": "UNVERIFIED"}  # fmt: skip
        add_entry(Workspace(root), "migration_ledger", entry)
        assert parse(path)["migrations"][-1] == entry


# --- map keys a JSON pointer escapes --------------------------------------------------------


def test_an_empty_map_key_is_refused(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    with pytest.raises(UsageError) as refused:
        add_entry(Workspace(root), "expected_versions", {"": "0.1.0"})
    assert refused.value.code == "ENTRY_INVALID"
