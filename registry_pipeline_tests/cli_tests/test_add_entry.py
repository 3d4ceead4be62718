"""`registry add-entry` and `registry types` as the command line says them (rules: core_tests)."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core import yaml_io
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, only_error
from registry_pipeline_tests.core_tests.write_path._support import (
    DEMO_FILES,
    EXAMPLE,
    EXAMPLE_FILES,
    EXAMPLE_FOLDERS,
    EXAMPLE_TYPES,
    NOTES,
    OVERRIDES,
    changed_files,
    jsonl,
    keys_of,
    parse,
    sample,
    snapshot,
)

RULES = "registries/COORDINATION_v0_1.yaml"
INSTANCES = "modules/overview/instance_registry.yaml"
TYPES = "modules/overview/type_registry.yaml"
BIN = Path(sys.executable).with_name("registry")


def _entry_file(tmp_path: Path, entry: Any, name: str = "entry.json") -> str:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(entry, ensure_ascii=False))
    return str(path)


def _add(
    cli: Run, root: Path, type_name: str, entry_file: str, *extra: str
) -> tuple[int, str, str]:
    return cli("add-entry", "--workspace", str(root), "--type", type_name,
               "--entry-file", entry_file, *extra)  # fmt: skip


# --- 4. coordination rules (every kind at every severity: core_tests/write_path/test_entry_rules)


def _module(type_id: str) -> dict[str, Any]:
    return {"module_id": "comment_service", "type_id": type_id, "name": "Comments",
            "description": "d", "owner": "community", "status": "active"}  # fmt: skip


def _route(**fields: Any) -> dict[str, Any]:
    return sample("route") | fields


@pytest.mark.parametrize("severity", ["error", "warning", "record"])
def test_a_finding_is_said_as_its_rules_severity_asks(
    cli: Run, example: Path, tmp_path: Path, severity: str
) -> None:
    """The example's own rule (a module instance of a type that exists) at each severity."""
    rules, rule = example / RULES, "instance-type-exists\n    severity: "
    rules.write_text(rules.read_text().replace(f"{rule}error", f"{rule}{severity}"))
    entry_file = _entry_file(tmp_path, _module("no_such_type"))
    code, out, err = _add(cli, example, "module_instance", entry_file, "--dry-run", "--json")
    result = json.loads(out)
    assert (code, err, result["blocked"], result["file"]) == (
        int(severity == "error"), "", severity == "error", INSTANCES
    )  # fmt: skip
    assert [(f["code"], f["severity"], f["field"]) for f in result["findings"]] == [
        ("instance-type-exists", severity, "/type_id")
    ]  # fmt: skip
    code, out, err = _add(cli, example, "module_instance", entry_file)
    lines = err.splitlines()
    if severity == "error":
        assert (code, out) == (1, "") and lines[0].startswith(f"error: BLOCKED {INSTANCES}")
        assert any("instance-type-exists" in line for line in lines[1:])
        return
    assert (code, out) == (0, f"inserted module_instance 'comment_service' in {INSTANCES}\n")
    warned = [line for line in lines if line.startswith("warning: instance-type-exists ")]
    noted = [line for line in lines if line == f"note: 1 finding(s) recorded in {NOTES}"]
    assert (len(warned), len(noted)) == ((1, 0) if severity == "warning" else (0, 1))


# --- 5. --no-check ------------------------------------------------------------------------------


def test_no_check_without_a_reason_is_bad_input(cli: Run, example: Path, tmp_path: Path) -> None:
    entry_file = _entry_file(tmp_path, _module("no_such_type"))
    before = snapshot(example)
    for extra in (("--no-check",), ("--no-check", "--reason", "   ")):
        code, out, err = _add(cli, example, "module_instance", entry_file, *extra)
        assert code == 2 and out == "" and "error: REASON_REQUIRED" in err
    code, out, err = _add(cli, example, "module_instance", entry_file, "--no-check", "--json")
    assert code == 2 and err == "" and only_error(out)["code"] == "REASON_REQUIRED"
    assert snapshot(example) == before


def test_no_check_with_a_reason_writes_despite_errors_and_records_the_override(
    cli: Run, example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_ACTOR", "alice@example")
    entry = _module("no_such_type")
    before = snapshot(example)

    code, out, err = _add(cli, example, "module_instance", _entry_file(tmp_path, entry),
                          "--no-check", "--reason", "  type lands next release  ")  # fmt: skip

    assert code == 0
    assert "inserted module_instance 'comment_service'" in out
    assert "WARNING: OVERRIDE module_instance 'comment_service' written despite 1 error(s)" in err
    assert "instance-type-exists" in err
    after = snapshot(example)
    assert changed_files(before, after) == {INSTANCES, OVERRIDES}
    assert entry in parse(example / INSTANCES)["module_instances"]
    [record] = jsonl(example / OVERRIDES)
    assert record["who"] == "alice@example"
    assert (record["type"], record["key"], record["file"], record["action"]) == (
        "module_instance", "comment_service", INSTANCES, "inserted"
    )  # fmt: skip
    assert record["reason"] == "type lands next release"
    assert [(f["code"], f["severity"], f["field"]) for f in record["skipped"]] == [
        ("instance-type-exists", "error", "/type_id")
    ]
    assert record["sha256_before"] == hashlib.sha256(before[INSTANCES]).hexdigest()
    assert record["sha256_after"] == hashlib.sha256(after[INSTANCES]).hexdigest()
    code, _out, _err = _add(cli, example, "module_instance",
                            _entry_file(tmp_path, _module("nope_two")),
                            "--no-check", "--reason", "again")  # fmt: skip
    assert code == 0  # a second override appends a second record
    assert [(r["reason"], r["action"]) for r in jsonl(example / OVERRIDES)] == [
        ("type lands next release", "inserted"), ("again", "updated")]  # fmt: skip


def test_no_check_on_a_clean_entry_records_no_override(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    code, out, err = _add(cli, example, "module_type", _entry_file(tmp_path, sample("module_type")),
                          "--no-check", "--reason", "habit", "--json")  # fmt: skip
    assert code == 0 and err == ""
    result = json.loads(out)
    assert (result["written"], result["overridden"], result["findings"]) == (True, False, [])
    assert not (example / OVERRIDES).exists()


# --- 6. --dry-run ---------------------------------------------------------------------------


def test_dry_run_prints_the_diff_the_write_then_makes(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    entry_file = _entry_file(tmp_path, sample("module_type"))
    before = snapshot(example)

    code, out, err = _add(cli, example, "module_type", entry_file, "--dry-run")

    assert code == 0 and err == ""
    assert snapshot(example) == before
    assert out.startswith(f"--- a/{TYPES}\n+++ b/{TYPES}\n@@ ")
    assert "would have inserted module_type 'analytics_pipeline'" in out
    assert "+  - type_id: analytics_pipeline\n" in out
    code, _out, _err = _add(cli, example, "module_type", entry_file)
    assert code == 0
    old = before[TYPES].decode().splitlines(keepends=True)
    new = (example / TYPES).read_text().splitlines(keepends=True)
    expected = "".join(difflib.unified_diff(old, new, f"a/{TYPES}", f"b/{TYPES}"))
    summary = f"would have inserted module_type 'analytics_pipeline' in {TYPES}"
    assert expected and out == expected + summary + " (dry run: nothing written)\n"


def test_dry_run_of_a_new_file_diffs_against_dev_null(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    code, out, _err = _add(cli, example, "route", _entry_file(tmp_path, sample("route")),
                           "--dry-run", "--json")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"type", "key", "file", "action", "written", "blocked", "dry_run",
                           "overridden", "findings", "diff"}  # fmt: skip
    assert result["diff"].startswith("--- /dev/null\n+++ b/modules/routes/help_pages.yaml\n")
    assert (result["dry_run"], result["written"], result["action"]) == (True, False, "inserted")
    assert not (example / "modules/routes/help_pages.yaml").exists()


def test_dry_run_of_a_blocked_entry_exits_1_and_writes_nothing(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    before = snapshot(example)
    code, out, err = _add(cli, example, "module_instance",
                          _entry_file(tmp_path, _module("no_such_type")), "--dry-run")  # fmt: skip
    assert code == 1
    assert out.startswith(f"--- a/{INSTANCES}\n+++ b/{INSTANCES}\n")
    assert "error: BLOCKED" in err
    assert snapshot(example) == before


def test_dry_run_of_an_unchanged_entry_prints_no_diff(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    existing = parse(example / TYPES)["module_types"][0]
    code, out, err = _add(cli, example, "module_type", _entry_file(tmp_path, existing),
                          "--dry-run")  # fmt: skip
    assert code == 0 and err == ""
    assert out == f"unchanged module_type 'content_service': {TYPES} already holds this entry\n"


@pytest.mark.parametrize("damage", ["schema", "append-only"])
def test_an_unchanged_entry_that_breaks_a_rule_on_disk_is_exit_1(
    cli: Run, demo: Path, tmp_path: Path, damage: str
) -> None:
    """WRITE_PATH.md: an unchanged entry is still checked (a role broken by hand, given again)."""
    path = demo / "registries/rolepack/atelier_rolepack_v1.json"
    if damage == "append-only":
        _publish_rolepack(demo)
    document = json.loads(path.read_text())
    role = document["roles"][0]
    if damage == "schema":
        del role["display_name"]
    else:
        role["produce_contracts"][0]["schema_json"]["properties"]["extra"] = {"type": "string"}
    path.write_text(json.dumps(document, indent=2) + "\n")
    before = path.read_bytes()
    code, out, err = _add(cli, demo, "rolepack", _entry_file(tmp_path, role), "--json")
    assert code == 1, (out, err)
    codes = {finding["code"] for finding in json.loads(out)["findings"]}
    assert codes & {"SCHEMA_VIOLATION", "CONTRACT_SURFACE_DRIFT"}, out
    assert path.read_bytes() == before


# --- 7. bad input: exit 2, a clear code, nothing written -------------------------------------


def _refused(cli: Run, root: Path, type_name: str, *given: str) -> dict[str, Any]:
    """Run add-entry twice (human, --json): both exit 2, nothing written; the --json error."""
    before = snapshot(root)
    code, out, err = cli("add-entry", "--workspace", str(root), "--type", type_name, *given)
    assert code == 2 and out == "" and err.startswith("error: "), (code, out, err)
    code, out, err = cli("add-entry", "--workspace", str(root), "--type", type_name, *given,
                         "--json")  # fmt: skip
    assert code == 2 and err == "", (code, out, err)
    assert snapshot(root) == before
    return only_error(out)


UNPARSABLE, TAG = "ENTRY_UNPARSABLE", '!!python/object/apply:os.system ["touch X"]\n'
DUPLICATE = '{"type_id": "a", "type_id": "b"}'


@pytest.mark.parametrize(
    ("name", "text", "code", "said"),
    [
        ("entry.yaml", "type_id: a\nname: A\ntype_id: b\n", UNPARSABLE, "YAML_DUPLICATE_KEY"),
        ("entry.yaml", "type_id: [\n", UNPARSABLE, "YAML_SYNTAX"),
        ("evil.yaml", TAG, UNPARSABLE, "YAML_TAG"),
        ("evil.yaml", f"type_id: {TAG}", UNPARSABLE, "YAML_TAG"),
        ("entry.json", DUPLICATE, UNPARSABLE, "duplicate key 'type_id'"),
        ("entry.json", '{"type_id": "a", "n": NaN}', UNPARSABLE, "JSON_NON_FINITE"),
        (None, DUPLICATE, UNPARSABLE, "duplicate key 'type_id'"),
        (None, "\ufeff{}", UNPARSABLE, "byte-order mark"),
        (None, "[1, 2]", "ENTRY_INVALID", ""),
        (None, "null", "ENTRY_INVALID", ""),
        ("empty.yaml", "# nothing here\n", "ENTRY_INVALID", ""),
        ("missing.yaml", None, "UNREADABLE", ""),
        (".", None, "UNREADABLE", ""),  # a folder
    ],
)
def test_a_bad_entry_is_refused(
    cli: Run,
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str | None,
    text: str | None,
    code: str,
    said: str,
) -> None:
    """Each door (every rule: core_tests/test_yaml_strict.py and test_json.py); a tag never runs."""
    monkeypatch.chdir(tmp_path)
    given = ["--entry-json", str(text)]
    if name is not None:
        if text is not None:
            (tmp_path / name).write_text(text)
        given = ["--entry-file", str(tmp_path / name)]
    error = _refused(cli, example, "module_type", *given)
    assert error["code"] == code and said in error["message"]
    assert error["path"] == (None if code == "ENTRY_INVALID" else given[0 if name is None else 1])
    assert not (tmp_path / "X").exists()


def test_a_huge_yaml_entry_is_refused_before_parsing(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"type_id: x\n")
        handle.truncate(yaml_io.MAX_BYTES + 1)  # NUL bytes: parsing them would fail anyway
    error = _refused(cli, example, "module_type", "--entry-file", str(path))
    assert error["code"] == "ENTRY_TOO_LARGE"  # the CLI's limit (16 MiB) comes before YAML's
    path.unlink()


def test_a_schema_violating_entry_lists_every_violation_with_its_field(
    cli: Run, example: Path
) -> None:
    entry = {"type_id": "Bad-Id", "name": "", "status": "gone", "tags": ["a", "a"], "extra": 1}
    error = _refused(cli, example, "module_type", "--entry-json", json.dumps(entry))
    assert error["code"] == "SCHEMA_VIOLATION"
    assert sorted((d["code"], d["path"], d["field"]) for d in error["details"]) == [
        ("SCHEMA_VIOLATION", TYPES, field)
        for field in ("", "", "/name", "/status", "/tags", "/type_id")
    ]  # fmt: skip
    code, _out, err = cli("add-entry", "--workspace", str(example), "--type", "module_type",
                          "--entry-json", json.dumps(entry))  # fmt: skip
    head, *lines = err.splitlines()
    assert code == 2 and head.startswith("error: SCHEMA_VIOLATION")
    for field in ("/name", "/status", "/tags", "/type_id"):  # a line each, named for humans
        assert any(line.startswith(f"  error: SCHEMA_VIOLATION module_type[Bad-Id]{field}:")
                   for line in lines), field  # fmt: skip


def test_a_demo_entry_violating_its_files_schema_is_refused(cli: Run, demo: Path) -> None:
    """The demo's types have no entry schema: the file's own schema decides, at the entry."""
    entry = {"file": "sql/009.sql", "description": "d", "applied_at": None, "applied_by": None,
             "status": "MAYBE", "extra": True}  # fmt: skip
    error = _refused(cli, demo, "migration_ledger", "--entry-json", json.dumps(entry))
    assert error["code"] == "SCHEMA_VIOLATION"
    assert sorted(d["field"] for d in error["details"]) == ["", "/status"]
    error = _refused(cli, demo, "expected_versions", "--entry-json", '{"drift_signals": 2}')
    assert error["code"] == "SCHEMA_VIOLATION"
    error = _refused(cli, demo, "threshold_pack", "--entry-json", '{"bad_pack_v1": {}}')
    assert error["code"] == "SCHEMA_VIOLATION"


def test_a_threshold_pack_of_any_name_is_validated(cli: Run, demo: Path) -> None:
    """A name no schema governs would be sealed unchecked: refused, naming the pattern."""
    entry = {"loose": {"max_age_hours": "twelve"}}
    error = _refused(cli, demo, "threshold_pack", "--entry-json", json.dumps(entry))
    assert error["code"] == "UNGOVERNED_NAME"
    assert "_pack_v" in json.dumps(error["details"])
    [detail] = error["details"]
    assert (detail["code"], detail["key"]) == ("UNGOVERNED_NAME", "loose")
    entry = {"loose_pack_v1": {"max_age_hours": "twelve"}}
    error = _refused(cli, demo, "threshold_pack", "--entry-json", json.dumps(entry))
    assert error["code"] == "SCHEMA_VIOLATION"


def test_an_unknown_type_says_did_you_mean(cli: Run, example: Path) -> None:
    error = _refused(cli, example, "modul_type", "--entry-json", "{}")
    assert (error["code"], error["path"], error["field"]) == ("UNKNOWN_TYPE", None, "--type")
    assert "'module_type'" in error["message"]  # the suggestion, then every known type
    assert all(name in error["message"] for name in EXAMPLE_TYPES)


def test_a_field_whose_json_type_changes_is_refused(cli: Run, demo: Path) -> None:
    pack = parse(demo / "registries/threshold_packs/health_scoring_pack_v1.json")
    pack["weights"]["seal"] = "half"
    error = _refused(cli, demo, "threshold_pack", "--entry-json",
                     json.dumps({"health_scoring_pack_v1": pack}))  # fmt: skip
    assert error["code"] == "FIELD_TYPE_CHANGED"
    [detail] = error["details"]
    assert detail["field"] == "/weights/seal" and detail["key"] == "health_scoring_pack_v1"
    assert detail["code"] == "FIELD_TYPE_CHANGED"  # the error's code (was ENTRY_INVALID)
    assert detail["path"] == "registries/threshold_packs/health_scoring_pack_v1.json"
    assert detail["message"] == "was a number (0.5), would become a string ('half')"
    error = _refused(cli, demo, "expected_versions", "--entry-json", '{"run_registry": null}')
    assert error["code"] == "SCHEMA_VIOLATION"


def test_a_files_key_that_cannot_name_a_file_is_bad_input(
    cli: Run, example: Path, demo: Path
) -> None:
    """Every such key: core_tests/write_path/test_units.py; here, the command's answer."""
    for route_id in ("../x", "a" * 300):
        entry = _route(route_id=route_id, scope=["content/long/"])
        error = _refused(cli, example, "route", "--entry-json", json.dumps(entry))
        assert (error["code"], error["details"][0]["field"]) == ("ENTRY_INVALID", "/route_id")
    pack = {"../x": {"version": "v1", "scope": "s", "thresholds": {}}}
    error = _refused(cli, demo, "threshold_pack", "--entry-json", json.dumps(pack))
    assert error["code"] == "ENTRY_INVALID"
    assert not (example / "x.yaml").exists() and not (example / "modules/x.yaml").exists()


# --- 8. concurrent writers ------------------------------------------------------------------


@pytest.mark.skipif(not BIN.exists(), reason="the registry script is not installed beside python")
def test_concurrent_registry_commands_lose_no_entry(example: Path) -> None:
    """Four `registry add-entry --entry-file -` processes held at their stdin until all started."""
    ids = [f"cli_writer_{index}" for index in range(4)]
    processes = [
        subprocess.Popen(
            [str(BIN), "add-entry", "--workspace", str(example), "--type", "module_type",
             "--entry-file", "-", "--json"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in ids
    ]  # fmt: skip
    for process, type_id in zip(processes, ids, strict=True):
        assert process.stdin is not None
        process.stdin.write(
            f"type_id: {type_id}\nname: N\ndescription: d\nstatus: active\n".encode()
        )
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    results = []
    for process in processes:
        assert process.stdout is not None and process.stderr is not None
        out, err = process.stdout.read(), process.stderr.read()  # a few hundred bytes each
        assert process.wait(timeout=120) == 0, err
        process.stdout.close()
        process.stderr.close()
        results.append(json.loads(out))
    assert sorted(r["key"] for r in results) == ids
    assert all(r["action"] == "inserted" and r["written"] for r in results)
    keys = keys_of(parse(example / TYPES), "/module_types", "type_id")
    assert sorted(keys) == sorted(["content_service", "data_store", "delivery_channel", *ids])
    assert keys == sorted(keys)
    header = (EXAMPLE / TYPES).read_text().splitlines()[:3]
    assert (example / TYPES).read_text().splitlines()[:3] == header  # the comments stay


# --- 9. registry types ------------------------------------------------------------------------


def test_types_lists_every_type_with_schema_and_content(cli: Run, example: Path) -> None:
    """`--json` a row per type; the human table says the same row on a line."""
    code, out, err = cli("types", "--workspace", str(example), "--json")
    assert code == 0 and err == ""
    rows = json.loads(out)
    expected = {
        **{name: ("list", relpath, container, key)
           for name, (relpath, container, key) in EXAMPLE_FILES.items()},
        **{name: ("files", f"{folder}/*.yaml", None, key)
           for name, (folder, key) in EXAMPLE_FOLDERS.items()},
    }  # fmt: skip
    assert {r["type"]: (r["layout"], r["content"], r["container"], r["key"]) for r in rows} == (
        expected
    )
    for row in rows:
        assert row["schema"] == f".system/registry/schemas/{row['type']}.schema.yaml"
        assert (example / row["schema"]).is_file() and row["purpose"]
    code, out, err = cli("types", "--workspace", str(example))
    header, *lines = out.splitlines()
    assert (code, err, header.split()) == (0, "", ["TYPE", "LAYOUT", "KEY", "CONTENT", "SCHEMA"])
    assert sorted(line.split() for line in lines) == sorted(
        [r["type"], r["layout"], r["key"], r["content"], r["schema"]] for r in rows
    )


def test_types_json_of_the_demo(cli: Run, demo: Path) -> None:
    """Layouts, orders and keys: core test_the_demo_and_example_types; here, the fields."""
    code, out, _err = cli("types", "--workspace", str(demo), "--json")
    listed = {row["type"]: row for row in json.loads(out)}
    assert code == 0
    assert sorted(listed) == sorted([*DEMO_FILES, "threshold_pack", "run", "run_override"])
    assert listed["run"]["layout"] == "log" and listed["run"]["container"] is None  # never written
    assert listed["threshold_pack"]["content"] == "registries/threshold_packs/*.json"
    assert listed["threshold_pack"]["registry_id"] == "threshold_packs_file"
    assert all(row["schema"] is None and row["schema_id"] for row in listed.values())
    assert [listed[n]["order"] for n in ("migration_ledger", "rolepack")] == ["append", "append"]


def test_types_markdown_is_the_generated_agents_document(cli: Run, example: Path) -> None:
    """Its content: test_generated_docs.py (AGENTS.md is `types --markdown`, a row per type)."""
    agents = (example / ".system/registry/AGENTS.md").read_text(encoding="utf-8")
    assert cli("types", "--workspace", str(example), "--markdown") == (0, agents, "")
    assert agents.startswith("# Registry types\n")
    for relpath, container, _key in EXAMPLE_FILES.values():
        assert f"`{relpath}` at `{container}`" in agents
    for folder, _key in EXAMPLE_FOLDERS.values():
        assert f"`{folder}/*.yaml` (one entry per file)" in agents


def test_a_catalog_without_entries_blocks_has_no_types(cli: Run, example: Path) -> None:
    path = example / "registries/REGISTRY_CATALOG_v0_2.json"
    document = json.loads(path.read_text())
    for registry in document["registries"]:
        registry.pop("entries", None)
    path.write_text(json.dumps(document, indent=2))
    code, out, _err = cli("types", "--workspace", str(example), "--json")
    assert code == 0 and json.loads(out) == []
    error = _refused(cli, example, "hook", "--entry-json", "{}")
    assert (error["code"], error["field"]) == ("UNKNOWN_TYPE", "--type")


# --- 10. the append-only rolepack -------------------------------------------------------------


def _publish_rolepack(root: Path) -> None:
    """Seal the rolepack as it is: the published snapshot the append-only rules check against."""
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files

    data = (root / DEMO_FILES["rolepack"]).read_bytes()
    seal_files(RunStore(Workspace(root)), RunSpec(registry_id="rolepack"),
               {"atelier_rolepack_v1.json": data})  # fmt: skip


def _roles(root: Path) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = parse(root / DEMO_FILES["rolepack"])["roles"]
    return roles


def test_a_rolepack_update_that_keeps_its_contracts_is_written(
    cli: Run, demo: Path, tmp_path: Path
) -> None:
    _publish_rolepack(demo)
    published = [role["role_id"] for role in _roles(demo)]
    role = _roles(demo)[0]
    role["display_name"] = "Executive One"
    role["aliases"] = ["exec_1"]
    code, out, err = _add(cli, demo, "rolepack", _entry_file(tmp_path, role), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["action"], result["written"], result["findings"]) == ("updated", True, [])
    assert _roles(demo)[0] == role
    assert [r["role_id"] for r in _roles(demo)] == published


@pytest.mark.parametrize("change", ["surface", "contract-removed"])
def test_a_rolepack_update_that_breaks_a_published_contract_is_blocked(
    cli: Run, demo: Path, tmp_path: Path, change: str
) -> None:
    _publish_rolepack(demo)
    role = _roles(demo)[1]
    if change == "surface":
        role["extract_contracts"][0]["schema_json"]["required"] = ["something_else"]
        expected = "CONTRACT_SURFACE_DRIFT"
    else:
        role["produce_contracts"] = []
        expected = "CONTRACT_REMOVED"
    before = snapshot(demo)
    code, out, _err = _add(cli, demo, "rolepack", _entry_file(tmp_path, role), "--json")
    assert code == 1 and expected in {f["code"] for f in json.loads(out)["findings"]}
    assert snapshot(demo) == before


def test_a_new_role_is_appended_and_add_entry_never_removes_a_role(
    cli: Run, demo: Path, tmp_path: Path
) -> None:
    _publish_rolepack(demo)
    published = [role["role_id"] for role in _roles(demo)]
    role = copy.deepcopy(_roles(demo)[0])
    role.update(role_id="aaa_archivist", display_name="Archivist")
    role["extract_contracts"][0]["contract_id"] = "ROLE:aaa_archivist:X:1"
    role["produce_contracts"][0]["contract_id"] = "ROLE:aaa_archivist:C:1"
    code, _out, err = _add(cli, demo, "rolepack", _entry_file(tmp_path, role))
    assert code == 0, err
    assert [r["role_id"] for r in _roles(demo)] == [*published, "aaa_archivist"]
    # an entry given as just its key is an update to a role, never its removal: refused
    code, out, err = _add(cli, demo, "rolepack", _entry_file(tmp_path, {"role_id": "executive_1"}),
                          "--json")  # fmt: skip
    assert code == 2 and only_error(out)["code"] == "SCHEMA_VIOLATION"
    assert [r["role_id"] for r in _roles(demo)] == [*published, "aaa_archivist"]
    # a new role may not take a published role's contract ids
    before = snapshot(demo)
    clash = copy.deepcopy(role) | {"role_id": "zzz_clash"}
    clash["extract_contracts"][0]["contract_id"] = "ROLE:executive_1:X:1"
    code, _out, err = _add(cli, demo, "rolepack", _entry_file(tmp_path, clash))
    assert code == 1 and "INVALID_CONTRACT_ID" in err  # an alias: core test_write_findings
    assert snapshot(demo) == before
