"""With --json, every error is one JSON object on stdout (a script reads one format)."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline_tests._helpers import Run


def _error(out: str) -> dict[str, object]:
    document = json.loads(out)
    assert set(document) == {"error"}
    error = document["error"]
    assert isinstance(error, dict)
    return error


def test_a_usage_error_is_json(cli: Run, tmp_path: Path) -> None:
    code, out, err = cli("validate", "--json", "--workspace", str(tmp_path), "--jobs", "0", "--all")
    assert code == 2 and err == ""
    assert _error(out)["code"] == "BAD_USAGE"


def test_an_argparse_error_is_json(cli: Run) -> None:
    code, out, err = cli("build", "--json", "--wait", "soon")
    assert code == 2 and err == ""
    error = _error(out)
    assert error["code"] == "BAD_USAGE" and "soon" in str(error["message"])


def test_a_catalog_error_lists_its_details(cli: Run, demo: Path) -> None:
    catalog = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog.write_text('{"catalog_version": "0.2", "registries": [{}]}\n')
    code, out, err = cli("build", "--json", "--workspace", str(demo))
    assert code == 2 and err == ""
    error = _error(out)
    assert error["code"] == "CATALOG_INVALID" and error["path"] == str(catalog)
    assert isinstance(error["details"], list) and error["details"]


def test_bad_files_to_seal_list_problems_as_objects(cli: Run, demo: Path) -> None:
    bad = demo / "EXPECTED_VERSIONS_v0_1.json"
    bad.write_text('{"version": 3}\n')
    code, out, _ = cli("seal", str(bad), "--registry-id", "x", "--json", "--workspace", str(demo))
    assert code == 2
    error = _error(out)
    assert error["code"] == "BAD_SOURCE"
    details = error["details"]
    assert isinstance(details, list) and details[0]["code"] == "SCHEMA_VIOLATION"


def test_without_json_errors_stay_text_on_stderr(cli: Run, tmp_path: Path) -> None:
    code, out, err = cli("build", "--workspace", str(tmp_path))
    assert code == 2 and out == "" and err.startswith("error: NOT_A_WORKSPACE")


def test_catalog_errors_are_in_document_order_and_say_when_capped(cli: Run, demo: Path) -> None:
    path = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = json.loads(path.read_text())
    entry = catalog["registries"][0]
    catalog["registries"] = [dict(entry, kind="nope") for _ in range(60)]
    path.write_text(json.dumps(catalog))
    code, out, _ = cli("build", "--json", "--workspace", str(demo))
    assert code == 2
    error = _error(out)
    details = error["details"]
    assert isinstance(details, list) and len(details) == 51
    assert details[-1]["message"].startswith("(stopped after 50 problems")
    assert all(set(d) >= {"code", "path", "line", "field", "message"} for d in details)
    indexes = [int(d["field"].split("/")[2]) for d in details[:-1]]
    assert indexes == sorted(indexes) and indexes[:3] == [0, 1, 2]
    assert "more than 50 problem(s)" in str(error["message"])
