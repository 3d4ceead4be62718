"""The write path and the build decide alike; a `--no-check` override is in the health report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run, build_entries
from registry_pipeline_tests.cli_tests.test_init_write_path import SEED_ENTRIES

ROUTE = """\
route_id: orphan_pages
owner_module: billing_service
scope:
  - content/orphans/
topics:
  - orphans
description: Pages of a module that does not exist.
status: active
"""


def test_a_hand_edit_is_refused_by_the_build_as_add_entry_refuses_it(
    cli: Run, example: Path
) -> None:
    entry = example / "orphan.yaml"
    entry.write_text(ROUTE, encoding="utf-8")
    code, out, _ = cli(
        "add-entry", "--workspace", str(example), "--type", "route",
        "--entry-file", str(entry), "--json",
    )  # fmt: skip
    assert code == 1
    refused = [f for f in json.loads(out)["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in refused] == ["route-owner-exists"]

    code, first = build_entries(cli, example)  # a clean workspace builds and promotes
    assert code == 0 and first["route"]["checks"]["coordination"] is True

    shutil.copy(entry, example / "modules/routes/orphan_pages.yaml")  # the same entry, by hand
    code, second = build_entries(cli, example)
    assert code == 1
    route = second["route"]
    assert route["checks"]["coordination"] is False
    assert route["promoted"] is False
    problems = route["problems"]
    assert isinstance(problems, list)
    found = [p for p in problems if p["code"] == "route-owner-exists"]
    assert [p.pop("check") for p in found] == ["coordination"]
    assert found == refused  # the same problem, said alike


def test_an_override_is_recorded_and_the_health_report_lists_it(
    cli: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_ACTOR", "ops@example")
    operation = {
        "operation_id": "OP-Z01", "name": "Weekly digest", "option": "Z", "builder": None,
        "enforcement_level": "C2", "threshold_pack": "weekly_pack_v1",
    }  # fmt: skip
    code, _, err = cli(
        "add-entry", "--workspace", str(demo), "--type", "allowed_operations",
        "--entry-json", json.dumps(operation), "--no-check", "--reason", "pack lands next",
    )  # fmt: skip
    assert code == 0 and "OVERRIDE" in err  # the record's fields: test_add_entry

    code, entries = build_entries(cli, demo)  # inconsistent until the pack exists: nothing promoted
    assert code == 1 and entries["allowed_operations"]["checks"]["coordination"] is False

    empty: dict[str, object] = {"weights": {}, "y_map": {}, "columns": {}, "source_views": []}
    pack = {"weekly_pack_v1": {"version": "v1", "scope": "weekly", "thresholds": {}, **empty}}
    code, _, _ = cli(
        "add-entry", "--workspace", str(demo), "--type", "threshold_pack",
        "--entry-json", json.dumps(pack),
    )  # fmt: skip
    assert code == 0
    code, entries = build_entries(cli, demo)
    assert code == 0
    report_run = entries["system_health_report"]["run_id"]
    folder = demo / ".codex/RUNS" / str(report_run)
    markdown = (folder / "SYSTEM_HEALTH_REPORT_v0_1.md").read_text(encoding="utf-8")
    section = markdown.split("Write-path overrides", 1)[1]
    assert "ops@example" in section and "OP-Z01" in section and "pack lands next" in section
    summary = json.loads((folder / "SYSTEM_HEALTH_SUMMARY_v0_1.json").read_text())
    assert summary["write_overrides"] == 1


def test_a_fresh_workspace_builds_and_checks_hook_routing_stages(cli: Run, tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    assert cli("init", str(root), "--with-write-path")[0] == 0
    for type_name, entry in SEED_ENTRIES:
        code, _out, err = cli("add-entry", "--workspace", str(root), "--type", type_name,
                              "--entry-json", json.dumps(entry))  # fmt: skip
        assert code == 0, err
    code, entries = build_entries(cli, root)
    assert code == 0, entries
    assert all(e["checks"].get("coordination", True) for e in entries.values())

    usage = dict(SEED_ENTRIES)["hook"]
    bad = {**usage, "id": "early", "routing_stages": ["sideways"]}  # by hand, past add-entry
    (root / ".system/hooks/early.yaml").write_text(json.dumps(bad), encoding="utf-8")
    code, entries = build_entries(cli, root)
    assert code == 1
    hook = entries["hook"]
    assert hook["checks"]["coordination"] is False and hook["promoted"] is False
    assert [(p["code"], p["field"]) for p in hook["problems"] if p["code"].startswith("hook")] == [
        ("hook-routing-stage", "/routing_stages/0")
    ]
