"""A parse error's line and column are fields of its `--json` problem; the message has no code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run, only_error
from registry_pipeline_tests.core_tests.write_path._support import sample

TYPES = "modules/overview/type_registry.yaml"


def test_check_append_only_gives_the_parsers_line_and_column(cli: Run, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"roles": [\n  {"role_id": 1,,}\n')
    code, out, _ = cli("check-append-only", str(broken), "--rules", "rolepack", "--json")
    error = only_error(out)
    assert code == 2 and error["code"] == "JSON_INVALID"
    assert (error["path"], error["line"], error["column"]) == (str(broken), 2, 17)
    assert "JSON_INVALID" not in error["message"]


@pytest.mark.parametrize(
    ("name", "text", "position"),
    [
        ("entry.json", '{"type_id": "x",\n "name": }\n', (2, 10)),
        ("entry.yaml", "type_id: x\n- name\n", (2, 1)),
    ],
)
def test_add_entry_gives_the_entry_files_line_and_column(
    cli: Run, example: Path, tmp_path: Path, name: str, text: str, position: tuple[int, int]
) -> None:
    broken = tmp_path / name
    broken.write_text(text)
    code, out, _ = cli("add-entry", "--workspace", str(example), "--type", "module_type",
                       "--entry-file", str(broken), "--json")  # fmt: skip
    error = only_error(out)
    assert code == 2 and error["code"] == "ENTRY_UNPARSABLE"
    assert (error["path"], error["line"], error["column"]) == (str(broken), *position)


def test_a_yaml_registry_that_does_not_parse_gives_its_line_and_column(
    cli: Run, example: Path, tmp_path: Path
) -> None:
    path = example / TYPES
    text = path.read_text()
    path.write_text(text + "  - type_id: [unclosed\n")
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(sample("module_type")))
    code, out, _ = cli("add-entry", "--workspace", str(example), "--type", "module_type",
                       "--entry-file", str(entry), "--json")  # fmt: skip
    assert code == 1
    [detail] = only_error(out)["details"]
    assert detail["code"] == "YAML_SYNTAX" and detail["path"] == TYPES
    assert isinstance(detail["line"], int) and isinstance(detail["column"], int)
    assert detail["line"] == text.count("\n") + 2  # the end of the file: the list never closes
    assert f"line {detail['line']} column {detail['column']}" in detail["message"]
