"""`registry deprecate`: seed 002's lifecycle through add-entry's path; removal stays refused."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.core_tests.gate._support import DEMO_SOURCES, build
from registry_pipeline_tests.core_tests.write_path._support import (
    NOTES,
    OVERRIDES,
    changed_files,
    jsonl,
    parse,
    snapshot,
)

INSTANCES = "modules/overview/instance_registry.yaml"
RULES = "registries/COORDINATION_v0_1.yaml"
ROLEPACK = "registries/rolepack/atelier_rolepack_v1.json"
PROBLEM_KEYS = {"code", "path", "line", "field", "message"}


def _deprecate(cli: Run, root: Path, *args: str) -> tuple[int, str, str]:
    return cli("deprecate", "--workspace", str(root), *args)


def _instance(root: Path, key: str) -> dict[str, Any]:
    instances = parse(root / INSTANCES)["module_instances"]
    found: dict[str, Any] = next(item for item in instances if item["module_id"] == key)
    return found


def test_deprecate_marks_the_entry_and_keeps_every_other_byte(
    cli: Run, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_ACTOR", "ops@example")
    before = snapshot(example)

    code, out, err = _deprecate(cli, example, "module_instance", "search_indexer",
                                "--reason", "replaced by the new search service")  # fmt: skip

    assert code == 0, err
    assert out == f"deprecated module_instance 'search_indexer' in {INSTANCES} (/status)\n"
    assert _instance(example, "search_indexer")["status"] == "deprecated"
    assert changed_files(before, snapshot(example)) == {INSTANCES, NOTES}
    old = before[INSTANCES].decode().splitlines()
    new = (example / INSTANCES).read_text().splitlines()
    assert [(a, b) for a, b in zip(old, new, strict=True) if a != b] == [
        ("    status: active", "    status: deprecated")
    ]
    # the coordination rules see it: every reference to it now warns (deprecated-reference)
    assert "warning: deprecated-reference" in err
    [record] = [r for r in jsonl(example / NOTES) if r["code"] == "DEPRECATED"]
    assert (record["who"], record["type"], record["key"], record["field"]) == (
        "ops@example", "module_instance", "search_indexer", "/status"
    )  # fmt: skip
    assert record["reason"] == "replaced by the new search service"
    assert record["path"] == INSTANCES


def test_deprecate_dry_run_prints_the_diff_and_writes_nothing(cli: Run, example: Path) -> None:
    before = snapshot(example)
    code, out, _err = _deprecate(cli, example, "module_instance", "user_store",
                                 "--reason", "split", "--dry-run")  # fmt: skip
    assert code == 0
    assert "-    status: active\n+    status: deprecated\n" in out
    assert "would have deprecated module_instance 'user_store'" in out
    assert snapshot(example) == before


def test_deprecate_json_is_one_object_with_problem_shaped_findings(cli: Run, example: Path) -> None:
    code, out, err = _deprecate(cli, example, "module_instance", "search_indexer",
                                "--reason", "moved", "--json")  # fmt: skip
    assert code == 0 and err == ""
    result = json.loads(out)
    assert (result["action"], result["written"], result["blocked"], result["field"]) == (
        "deprecated", True, False, "/status"
    )  # fmt: skip
    assert result["reason"] == "moved"
    assert result["findings"], "references to the deprecated instance are reported"
    for finding in result["findings"]:
        assert set(finding) >= PROBLEM_KEYS
    warned = {(f["code"], f["severity"]) for f in result["findings"]}
    assert ("deprecated-reference", "warning") in warned


@pytest.mark.parametrize(
    ("workspace", "args", "exit_code", "reason", "field"),
    [
        ("example", ["module_instance", "search_indexr", "--reason", "x"], 2, "UNKNOWN_KEY", None),
        ("example", ["module_instanc", "x", "--reason", "x"], 2, "UNKNOWN_TYPE", "TYPE"),
        ("example", ["module_instance", "user_store", "--reason", "  "], 2, "REASON_REQUIRED",
         None),
        ("example", ["module_instance", "user_store"], 2, "BAD_USAGE", None),
        ("demo", ["expected_versions", "run_registry", "--reason", "x"], 2, "NOT_DEPRECATABLE",
         None),
        ("example", ["module_instance", "legacy_cms", "--reason", "x"], 1, "ALREADY_DEPRECATED",
         "/status"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_and_writes_nothing(
    cli: Run,
    request: pytest.FixtureRequest,
    workspace: str,
    args: list[str],
    exit_code: int,
    reason: str,
    field: str | None,
) -> None:
    """An unknown key or type, no reason, a type without a lifecycle field (exit 2); an entry
    deprecated already (exit 1)."""
    root = request.getfixturevalue(workspace)
    before = snapshot(root)
    code, out, err = _deprecate(cli, root, *args, "--json")
    error = json.loads(out)["error"]
    assert (code, err, error["code"], error["field"]) == (exit_code, "", reason, field)
    assert snapshot(root) == before


def test_deprecate_is_checked_like_add_entry_and_blocked_by_an_error_rule(
    cli: Run, example: Path
) -> None:
    rules = (example / RULES).read_text()
    (example / RULES).write_text(
        rules.replace(
            "severity: warning\n    kind: not_deprecated",
            "severity: error\n    kind: not_deprecated",
        )
    )
    before = snapshot(example)
    code, out, err = _deprecate(cli, example, "module_instance", "search_indexer", "--reason", "x")
    assert code == 1 and out == ""
    assert f"error: BLOCKED {INSTANCES}" in err and "deprecated-reference" in err
    assert snapshot(example) == before

    code, out, err = _deprecate(cli, example, "module_instance", "search_indexer",
                                "--reason", "index retired", "--no-check")  # fmt: skip
    assert code == 0 and "WARNING: OVERRIDE" in err
    [override] = jsonl(example / OVERRIDES)
    assert (override["action"], override["reason"]) == ("deprecated", "index retired")
    assert _instance(example, "search_indexer")["status"] == "deprecated"


def test_deprecate_waits_for_the_write_lock(example: Path) -> None:
    from registry_pipeline.core.write_path import deprecate

    lock = example / ".codex/REGISTRY_WRITE.lock"
    before = snapshot(example)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(RegistryError) as caught:
            deprecate(Workspace(example), "module_instance", "user_store", reason="x",
                      timeout=0.2)  # fmt: skip
    finally:
        os.close(fd)
    assert caught.value.code != "INTERNAL"
    assert snapshot(example) == before


def test_a_role_is_deprecated_and_the_pack_stays_append_only(
    cli: Run, demo: Path, tmp_path: Path
) -> None:
    """Seed 002: `lifecycle` active|deprecated; a deprecated role stays, append-only holds."""
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes((demo / ROLEPACK).read_bytes())

    code, out, err = _deprecate(cli, demo, "rolepack", "visuals_2", "--reason", "merged")
    assert code == 0, err
    assert out.endswith("(/lifecycle)\n")
    roles = parse(demo / ROLEPACK)["roles"]
    assert [r["role_id"] for r in roles] == [
        r["role_id"] for r in json.loads(baseline.read_bytes())["roles"]
    ]
    assert next(r for r in roles if r["role_id"] == "visuals_2")["lifecycle"] == "deprecated"
    code, _out, err = cli("check-append-only", str(demo / ROLEPACK), "--baseline", str(baseline),
                          "--rules", "rolepack")  # fmt: skip
    # its removal stays ID_REMOVED: core_tests/append_only/test_check.py
    # ::test_every_violation_names_the_entry_it_lies_in_beside_its_pointer
    assert code == 0, err


def test_an_operation_is_deprecated_as_its_append_only_rules_ask(
    cli: Run, demo: Path, tmp_path: Path
) -> None:
    """Its schema had no lifecycle field: NOT_DEPRECATABLE, or SCHEMA_VIOLATION in a build."""
    operations = demo / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(operations.read_bytes())
    code, out, err = _deprecate(cli, demo, "allowed_operations", "OP-QA07", "--reason", "merged")
    assert code == 0, err
    operation = next(o for o in parse(operations)["operations"] if o["operation_id"] == "OP-QA07")
    assert operation["lifecycle"] == "deprecated"
    code, out, err = cli("check-append-only", str(operations), "--baseline", str(baseline),
                         "--rules", "allowed_operations")  # fmt: skip
    assert code == 0, out + err
    assert {outcome for _run, outcome in build(demo, *DEMO_SOURCES).values()} == {"promoted"}
