"""In `--json` output of `add-entry`, `deprecate` and `types`, every problem is one object of the
shape `core.errors.problem_object` gives (`code`, `path`, `line`, `field`, `message` always
there): findings, the details of an error, and the problems of a catalog or rules file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry_pipeline_tests.cli_tests.conftest import Run
from registry_pipeline_tests.core_tests.write_path._support import sample

PROBLEM_KEYS = {"code", "path", "line", "field", "message"}
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
RULES = "registries/COORDINATION_v0_1.yaml"
ROUTE = {"route_id": "orphan_pages", "owner_module": "billing_service",
         "scope": ["content/orphans/"], "topics": ["orphans"], "description": "d",
         "status": "active"}  # fmt: skip


def _json(cli: Run, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _err = cli(*args, "--json")
    document: dict[str, Any] = json.loads(out)
    return code, document


def _is_problem(item: Any) -> None:
    assert isinstance(item, dict), item
    assert set(item) >= PROBLEM_KEYS, item
    assert isinstance(item["code"], str) and isinstance(item["message"], str)


def test_findings_are_problem_objects_naming_file_and_field(cli: Run, example: Path) -> None:
    code, result = _json(cli, "add-entry", "--workspace", str(example), "--type", "route",
                         "--entry-json", json.dumps(ROUTE))  # fmt: skip
    assert code == 1
    [finding] = result["findings"]
    _is_problem(finding)
    assert (finding["code"], finding["path"], finding["field"]) == (
        "route-owner-exists", "modules/routes/orphan_pages.yaml", "/owner_module"
    )  # fmt: skip
    assert (finding["severity"], finding["type"], finding["key"]) == ("error", "route",
                                                                      "orphan_pages")  # fmt: skip
    assert finding["related"] == ["module_instance", "billing_service"]


def test_the_details_of_an_entry_error_are_problem_objects(cli: Run, example: Path) -> None:
    entry = {"type_id": "Bad-Id", "name": "n", "description": "d", "status": "gone"}
    code, document = _json(cli, "add-entry", "--workspace", str(example), "--type",
                           "module_type", "--entry-json", json.dumps(entry))  # fmt: skip
    assert code == 2
    details = document["error"]["details"]
    for detail in details:
        _is_problem(detail)
    assert {(d["code"], d["path"], d["field"]) for d in details} == {
        ("SCHEMA_VIOLATION", "modules/overview/type_registry.yaml", "/status"),
        ("SCHEMA_VIOLATION", "modules/overview/type_registry.yaml", "/type_id"),
    }


def test_the_problems_of_a_rules_file_are_problem_objects(cli: Run, example: Path) -> None:
    (example / RULES).write_text(
        "version: '0.1'\nrules:\n  - {id: r, severity: fatal, kind: exists, why: w,\n"
        "     from: {type: hook, field: /x}, to: {type: no_such_type}}\n"
    )
    code, document = _json(cli, "add-entry", "--workspace", str(example), "--type", "hook",
                           "--entry-json", json.dumps(sample("hook")))  # fmt: skip
    error = document["error"]
    assert (code, error["code"]) == (2, "COORDINATION_INVALID")
    for detail in error["details"]:
        _is_problem(detail)
        assert detail["path"] == str(example / RULES)
    assert "/rules/0/severity" in {d["field"] for d in error["details"]}


def test_the_problems_of_the_types_are_problem_objects(cli: Run, example: Path) -> None:
    catalog = json.loads((example / CATALOG).read_text())
    catalog["registries"][0]["entries"]["layout"] = "map"  # a YAML source cannot be a map
    catalog["registries"][0]["entries"].pop("key")
    (example / CATALOG).write_text(json.dumps(catalog, indent=2))
    code, document = _json(cli, "types", "--workspace", str(example))
    error = document["error"]
    assert (code, error["code"]) == (2, "CATALOG_INVALID")
    [detail] = error["details"]
    _is_problem(detail)
    assert (detail["path"], detail["field"]) == (str(example / CATALOG), "/registries/0/entries")
    assert "map" in detail["message"]


def test_the_rules_table_reports_its_problems_as_objects(cli: Run, example: Path) -> None:
    (example / RULES).write_text("version: '0.1'\nrules: [{id: r}]\n")
    code, out, err = cli("types", "--workspace", str(example), "--rules")
    assert code == 2 and out == "" and "COORDINATION_INVALID" in err
