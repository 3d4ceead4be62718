"""One new entry per registry type is written and nothing else moves (example's and demo's)."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.yaml_io import loads_yaml_strict
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.write_path._support import (
    DEMO_FILES,
    DEMO_PACKS,
    EXAMPLE_FILES,
    EXAMPLE_FOLDERS,
    EXAMPLE_TYPES,
    NOTES,
    changed_files,
    comments,
    copy_example,
    inserted_block,
    json_members,
    json_outside,
    keys_of,
    parse,
    sample,
    snapshot,
)


def test_the_example_has_one_sample_per_type() -> None:
    from registry_pipeline_tests.core_tests.write_path._support import EXAMPLE

    assert sorted(p.stem for p in (EXAMPLE / "entries").glob("*.yaml")) == list(EXAMPLE_TYPES)
    assert set(EXAMPLE_FILES) | set(EXAMPLE_FOLDERS) == set(EXAMPLE_TYPES)


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_an_example_list_sample_is_inserted_and_every_other_line_stays(
    tmp_path: Path, name: str
) -> None:
    root = copy_example(tmp_path)
    relpath, container, key = EXAMPLE_FILES[name]
    entry = sample(name)
    before = snapshot(root)

    result = add_entry(Workspace(root), name, entry)

    assert (result.action, result.written, result.blocked) == ("inserted", True, False)
    assert result.file == relpath and result.key == entry[key]
    after = snapshot(root)
    expected_changes = {relpath, NOTES} if name == "module_maturity" else {relpath}
    assert changed_files(before, after) == expected_changes
    block = inserted_block(before[relpath], after[relpath])
    assert loads_yaml_strict(textwrap.dedent("".join(block))) == [entry]
    assert comments(after[relpath]) == comments(before[relpath])
    document = parse(root / relpath)
    items = document[container.strip("/")]
    assert items.count(entry) == 1
    old = loads_yaml_strict(before[relpath])[container.strip("/")]
    assert [item for item in items if item != entry] == old


@pytest.mark.parametrize("name", sorted(EXAMPLE_FOLDERS))
def test_an_example_files_sample_gets_its_own_file_and_no_other_file_changes(
    tmp_path: Path, name: str
) -> None:
    root = copy_example(tmp_path)
    folder, key = EXAMPLE_FOLDERS[name]
    entry = sample(name)
    before = snapshot(root)

    result = add_entry(Workspace(root), name, entry)

    relpath = f"{folder}/{entry[key]}.yaml"
    assert (result.action, result.written, result.file) == ("inserted", True, relpath)
    after = snapshot(root)
    assert changed_files(before, after) == {relpath}
    assert relpath not in before
    assert loads_yaml_strict(after[relpath]) == entry


def test_the_maturity_sample_passes_with_a_warning_and_a_record(tmp_path: Path) -> None:
    """As the example's README says: deprecated-reference (warning), inactive maturity (record)."""
    root = copy_example(tmp_path)
    result = add_entry(Workspace(root), "module_maturity", sample("module_maturity"))
    assert result.written and not result.blocked
    assert sorted((f.code, f.severity) for f in result.findings) == [
        ("deprecated-reference", "warning"),
        ("maturity-of-inactive-instance", "record"),
    ]
    assert result.notes == 1


def test_every_example_sample_in_turn_leaves_a_workspace_whose_files_parse(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    for name in EXAMPLE_TYPES:
        result = add_entry(Workspace(root), name, sample(name))
        assert result.written, name
    for relpath, container, key in EXAMPLE_FILES.values():
        keys = keys_of(parse(root / relpath), container, key)
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for folder, key in EXAMPLE_FOLDERS.values():
        for path in (root / folder).glob("*.yaml"):
            assert parse(path)[key] == path.stem


# --- the demo workspace: JSON list, map and files layouts, append order ----------------------


def _demo_entries(root: Path) -> dict[str, tuple[Any, str]]:
    """One new entry per demo type, and its key."""
    roles = json.loads((root / DEMO_FILES["rolepack"]).read_text())["roles"]
    role = copy.deepcopy(roles[-1])
    role.update(role_id="archivist_1", department_id="archive", display_name="Archivist 1")
    role["extract_contracts"][0]["contract_id"] = "ROLE:archivist_1:X:1"
    role["produce_contracts"][0]["contract_id"] = "ROLE:archivist_1:C:1"
    return {
        "expected_versions": ({"drift_signals": "0.2.0"}, "drift_signals"),
        "migration_ledger": (
            {
                "file": "sql/005_archive.sql",
                "description": "Archive runs older than a year",
                "applied_at": "2026-10-20T10:00:00Z",
                "applied_by": "ops-bot",
                "status": "VERIFIED",
            },
            "sql/005_archive.sql",
        ),
        "threshold_pack": (
            {
                "latency_pack_v1": {
                    "version": "v1",
                    "scope": "latency",
                    "thresholds": {"p95_ms": 250},
                    "weights": {},
                }
            },
            "latency_pack_v1",
        ),
        "allowed_operations": (
            {
                "operation_id": "OP-C01",
                "name": "Latency Review",
                "option": "C",
                "builder": None,
                "enforcement_level": "C2",
                "threshold_pack": "health_scoring_pack_v1",
            },
            "OP-C01",
        ),
        "rolepack": (role, "archivist_1"),
    }


CONTAINERS = {
    "expected_versions": ("/expected/builder_versions", None),
    "migration_ledger": ("/migrations", "file"),
    "allowed_operations": ("/operations", "operation_id"),
    "rolepack": ("/roles", "role_id"),
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_a_demo_entry_is_inserted_and_every_other_entry_keeps_its_text(
    tmp_path: Path, name: str
) -> None:
    root = copy_demo(tmp_path)
    entry, key = _demo_entries(root)[name]
    relpath = DEMO_FILES[name]
    container, key_field = CONTAINERS[name]
    before = snapshot(root)

    result = add_entry(Workspace(root), name, entry)

    assert (result.action, result.written, result.key, result.file) == (
        "inserted",
        True,
        key,
        relpath,
    )
    after = snapshot(root)
    assert changed_files(before, after) == {relpath}
    old, new = (
        json_members(before[relpath], container, key_field),
        json_members(after[relpath], container, key_field),
    )
    assert set(new) == set(old) | {key}
    for other, text in old.items():
        assert new[other] == text, other
    assert json.loads(new[key]) == (entry if key_field else entry[key])
    assert json_outside(before[relpath], container) == json_outside(after[relpath], container)
    parse(root / relpath)  # still strict JSON


def test_a_demo_threshold_pack_gets_its_own_file(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    entry, key = _demo_entries(root)["threshold_pack"]
    before = snapshot(root)

    result = add_entry(Workspace(root), "threshold_pack", entry)

    relpath = f"{DEMO_PACKS}/{key}.json"
    assert (result.action, result.written, result.file) == ("inserted", True, relpath)
    after = snapshot(root)
    assert changed_files(before, after) == {relpath}
    assert parse(root / relpath) == entry[key]


def test_demo_list_order_key_and_append(tmp_path: Path) -> None:
    """allowed_operations keeps key order; the rolepack appends the new entry last (the ledger:
    test_ordering.py)."""
    root = copy_demo(tmp_path)
    entries = _demo_entries(root)
    for name in ("allowed_operations", "rolepack"):
        add_entry(Workspace(root), name, entries[name][0])
    operations = keys_of(
        parse(root / DEMO_FILES["allowed_operations"]), "/operations", "operation_id"
    )
    assert operations[:3] == ["OP-B07", "OP-C01", "OP-D04"]
    assert operations == sorted(operations)
    roles = keys_of(parse(root / DEMO_FILES["rolepack"]), "/roles", "role_id")
    assert roles[-1] == "archivist_1" and len(roles) == 39
