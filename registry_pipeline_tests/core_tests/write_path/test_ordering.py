"""Where an entry goes, de-duplication by key, updates that keep comments and every other byte."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.yaml_io import loads_yaml_strict
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.write_path._support import (
    DEMO_FILES,
    DEMO_PACKS,
    changed_files,
    comments,
    copy_example,
    entry_lines,
    json_members,
    keys_of,
    opcodes,
    parse,
    sample,
    snapshot,
)

TYPES = "modules/overview/type_registry.yaml"
INSTANCES = "modules/overview/instance_registry.yaml"


def _type(type_id: str, **extra: object) -> dict[str, object]:
    return {"type_id": type_id, "name": type_id.title(), "description": "d", "status": "active"} | (
        extra
    )


# --- key order --------------------------------------------------------------------------------


def test_key_order_puts_each_new_entry_at_its_sorted_place(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    original = ["content_service", "data_store", "delivery_channel"]
    assert keys_of(parse(path), "/module_types", "type_id") == original
    for type_id, index in (("data_lake", 1), ("aaa_first", 0), ("zzz_last", 5), ("e_mid", 5)):
        add_entry(Workspace(root), "module_type", _type(type_id))
        keys = keys_of(parse(path), "/module_types", "type_id")
        assert keys.index(type_id) == index, keys
        assert keys == sorted(keys)
    lines = path.read_text().splitlines()
    # the comment above data_store stays directly above it (data_lake went above the comment)
    at = lines.index("  - type_id: data_store")
    assert lines[at - 1].startswith("  # Storage backends")
    assert lines.index("  - type_id: data_lake") < at - 1
    assert lines[at - 2] == "    status: active"  # data_lake's last line


def test_append_order_puts_a_new_entry_last_whatever_its_key(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    path = root / DEMO_FILES["migration_ledger"]
    before = keys_of(parse(path), "/migrations", "file")
    entry = {
        "file": "sql/000_a.sql",
        "description": "sorts first, goes last",
        "applied_at": None,
        "applied_by": None,
        "status": "UNVERIFIED",
    }
    add_entry(Workspace(root), "migration_ledger", entry)
    assert keys_of(parse(path), "/migrations", "file") == [*before, "sql/000_a.sql"]


def test_key_order_puts_a_new_map_member_at_its_sorted_place(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    path = root / DEMO_FILES["expected_versions"]
    document = json.loads(path.read_text())
    document["expected"]["builder_versions"] = {"a_registry": "0.1.0", "c_registry": "0.1.0"}
    path.write_text(json.dumps(document, indent=2) + "\n")
    add_entry(Workspace(root), "expected_versions", {"b_registry": "0.2.0"})
    members = list(parse(path)["expected"]["builder_versions"])
    assert members == ["a_registry", "b_registry", "c_registry"]


# --- the same entry twice: unchanged, nothing written ---------------------------------------


@pytest.mark.parametrize(
    ("kind", "type_name"),
    [("example", "module_type"), ("example", "route"), ("demo", "expected_versions"),
     ("demo", "threshold_pack"), ("demo", "migration_ledger")],
)  # fmt: skip
def test_the_same_entry_twice_is_unchanged_the_second_time(
    tmp_path: Path, kind: str, type_name: str
) -> None:
    if kind == "example":
        root = copy_example(tmp_path)
        entry = sample(type_name)
    else:
        root = copy_demo(tmp_path)
        entry = {
            "expected_versions": {"drift_signals": "0.2.0"},
            "threshold_pack": {"latency_pack_v1": {"version": "v1", "scope": "s",
                                                   "thresholds": {"p95_ms": 250}}},
            "migration_ledger": {"file": "sql/009.sql", "description": "x", "applied_at": None,
                                 "applied_by": None, "status": "UNVERIFIED"},
        }[type_name]  # fmt: skip
    first = add_entry(Workspace(root), type_name, entry)
    assert first.action == "inserted" and first.written
    path = root / first.file
    stat = path.stat()
    before = snapshot(root)

    second = add_entry(Workspace(root), type_name, copy.deepcopy(entry))

    assert (second.action, second.written, second.diff) == ("unchanged", False, "")
    assert snapshot(root) == before
    again = path.stat()
    assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


# --- an existing key: updated in place --------------------------------------------------------


def test_a_demo_list_entry_is_updated_in_place(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    relpath = DEMO_FILES["migration_ledger"]
    before = snapshot(root)
    old = json_members(before[relpath], "/migrations", "file")
    entry = json.loads(old["sql/004_drift_view.sql"])
    entry.update(applied_at="2026-11-01T00:00:00Z", applied_by="ops-bot", status="VERIFIED")
    result = add_entry(Workspace(root), "migration_ledger", entry)
    assert result.action == "updated"
    after = snapshot(root)
    assert changed_files(before, after) == {relpath}
    new = json_members(after[relpath], "/migrations", "file")
    assert list(new) == list(old)
    assert {k: v for k, v in new.items() if k != entry["file"]} == {
        k: v for k, v in old.items() if k != entry["file"]
    }
    assert json.loads(new[entry["file"]]) == entry


def test_a_demo_map_member_is_updated_in_place(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    relpath = DEMO_FILES["expected_versions"]
    before = (root / relpath).read_bytes()
    result = add_entry(Workspace(root), "expected_versions", {"run_registry": "0.2.0"})
    assert result.action == "updated"
    after = (root / relpath).read_bytes()
    assert after == before.replace(b'"run_registry": "0.1.0"', b'"run_registry": "0.2.0"')


def test_a_demo_threshold_pack_is_updated_and_no_other_file_changes(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    relpath = f"{DEMO_PACKS}/health_scoring_pack_v1.json"
    pack = parse(root / relpath)
    pack["thresholds"]["sealed_ratio_ok"] = 0.95
    before = snapshot(root)
    result = add_entry(Workspace(root), "threshold_pack", {"health_scoring_pack_v1": pack})
    assert (result.action, result.file) == ("updated", relpath)
    assert changed_files(before, snapshot(root)) == {relpath}
    assert parse(root / relpath) == pack


# --- an update keeps the entry's own comments -------------------------------------------------


@pytest.mark.parametrize(
    ("index", "module_id", "kept"),
    [
        (
            4,
            "user_store",
            "    # the only module allowed to write user rows (see db.write.user_row)",
        ),
        (
            1,
            "legacy_cms",
            "  # Replaced by article_service; kept until the last archive export has run.",
        ),
    ],
    ids=["comment_inside", "comment_above"],
)
def test_an_update_keeps_the_entrys_comments_and_every_other_line(
    tmp_path: Path, index: int, module_id: str, kept: str
) -> None:
    root = copy_example(tmp_path)
    path = root / INSTANCES
    before = path.read_bytes()
    entry = loads_yaml_strict(before)["module_instances"][index]
    assert entry["module_id"] == module_id
    entry["description"] = "Accounts, preferences and subscriptions of readers and editors."
    entry["tags"] = ["pii", "accounts"]

    result = add_entry(Workspace(root), "module_instance", entry)

    assert result.action == "updated"
    after = path.read_bytes()
    assert comments(after) == comments(before)
    first, stop = entry_lines(before, "module_id", module_id)
    for _tag, i1, i2, _j1, _j2 in opcodes(before, after):
        assert first <= i1 and i2 <= stop, f"a line outside {module_id} changed"
    first, stop = entry_lines(after, "module_id", module_id)
    assert kept in after.decode().splitlines()[first - 1 : stop]
    assert parse(path)["module_instances"][index] == entry


def test_an_update_of_a_files_entry_keeps_its_header_comment(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / ".system/hooks/prod_call_guard.yaml"
    before = path.read_bytes()
    entry = loads_yaml_strict(before)
    entry["summary"] = "Refuse prod writes without a change ticket."
    add_entry(Workspace(root), "hook", entry)
    after = path.read_bytes()
    assert comments(after) == comments(before)
    ops = opcodes(before, after)
    assert len(ops) == 1 and ops[0][0] == "replace" and ops[0][2] - ops[0][1] == 1
    assert parse(path) == entry


def test_an_update_keeps_the_count_and_a_trailing_comment_of_the_last_entry(tmp_path: Path) -> None:
    """delivery_channel ends with an indented `# tags left out on purpose` comment."""
    root = copy_example(tmp_path)
    path = root / TYPES
    before = path.read_bytes()
    keys = keys_of(parse(path), "/module_types", "type_id")
    entry = loads_yaml_strict(before)["module_types"][2]
    entry["tags"] = ["delivery"]
    result = add_entry(Workspace(root), "module_type", entry)
    assert (result.action, result.written) == ("updated", True)
    after = path.read_bytes()
    assert keys_of(parse(path), "/module_types", "type_id") == keys
    assert parse(path)["module_types"][2] == entry
    assert comments(after) == comments(before)
    assert (
        after.decode()
        .rstrip("\n")
        .endswith("# tags left out on purpose: the type is still being split (search vs. email)")
    )


def test_appending_after_the_last_entry_leaves_its_trailing_comment_with_it(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    add_entry(Workspace(root), "module_type", _type("zz_last"))
    lines = path.read_text().splitlines()
    at = lines.index("  - type_id: zz_last")
    assert lines[at - 1].lstrip().startswith("# tags left out on purpose")
    assert lines[at - 2] == "    status: active"  # delivery_channel's last line, then its comment


def test_a_yaml_file_with_crlf_line_ends_keeps_them(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    before = path.read_bytes()
    add_entry(Workspace(root), "module_type", _type("analytics"))
    after = path.read_bytes()
    assert after.count(b"\n") == after.count(b"\r\n") > before.count(b"\r\n")
    ops = opcodes(before.replace(b"\r\n", b"\n"), after.replace(b"\r\n", b"\n"))
    assert [op[0] for op in ops] == ["insert"]
    assert keys_of(parse(path), "/module_types", "type_id")[0] == "analytics"


def test_a_yaml_file_without_a_final_newline_gets_one_between_entries(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/overview/instance_maturity.yaml"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    text = path.read_text()
    assert text.endswith('assessed_on: "2025-02-20"')
    entry = {"module_id": "zz_module", "level": "beta", "assessed_on": "2025-01-01"}
    add_entry(Workspace(root), "module_maturity", entry, no_check=True, reason="test")
    after = path.read_text()
    assert after.startswith(text + "\n")
    assert parse(path)["maturity"][-1] == entry
    assert parse(path)["maturity"][-2]["assessed_on"] == "2025-02-20"


def test_a_flow_style_empty_list_gets_its_first_entry(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/overview/interfaces.yaml"
    path.write_text("# no interfaces yet\ninterfaces: []\n")
    entry = sample("module_interface")
    result = add_entry(Workspace(root), "module_interface", entry)
    assert result.written
    assert parse(path) == {"interfaces": [entry]}
    assert "# no interfaces yet" in path.read_text()


def test_the_write_is_atomic_no_temporary_file_is_left(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    add_entry(Workspace(root), "module_type", _type("analytics"))
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert os.access(root / TYPES, os.R_OK)
