"""The run registry's line schemas: valid lines pass, every mutated line gets jsonschema's verdict
(the reference) where both engines' rules are the same, and a workspace's own version of a
schema is the one applied."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal.schemas import SchemaCatalog, builtin_schema_dir
from registry_pipeline_tests.core_tests.seal.reference_engine import comparable, reference_validator

CATALOG = SchemaCatalog.for_workspace(None)


def _jsonschema_valid(schema_id: str, line: Any) -> bool:
    """The reference: jsonschema itself."""
    return not list(reference_validator(CATALOG, schema_id).iter_errors(line))


def _compiled(schema_id: str, line: Any) -> bool:
    return CATALOG.is_all_valid(schema_id, [line])


def _judged_alike(schema_id: str, line: Any) -> None:
    """`validate` and `is_all_valid` agree, and give jsonschema's verdict where comparable."""
    verdict = CATALOG.validate(schema_id, line) == []
    assert _compiled(schema_id, line) is verdict, line
    if comparable(line):
        assert verdict is _jsonschema_valid(schema_id, line), line


LINE_ID = "urn:registry-pipeline:schema:run_registry_v0_1"
STATUS_ID = "urn:registry-pipeline:schema:run_registry_seal_status_v0_2"

LINE: dict[str, Any] = {
    "registry_version": "0.1",
    "run_id": "2026-01-01__000000__x_build",
    "run_root": ".codex/RUNS",
    "run_key": ".codex/RUNS::2026-01-01__000000__x_build",
    "run_path": ".codex/RUNS/2026-01-01__000000__x_build/",
    "created_utc": "2026-01-01T00:00:00Z",
    "run_type": "x_build",
    "option": None,
    "operation_id": None,
    "git_commit": None,
    "working_tree_state": None,
    "has_run_json": True,
    "has_manifest_sha256": True,
    "has_manifest_json": True,
    "manifest_root_sha256": "a" * 64,
    "files": [{"relpath": "run.json", "bytes": 10}],
    "warnings": ["seal:PASS"],
}
STATUS: dict[str, Any] = {
    "run_key": ".codex/RUNS::r",
    "manifest_root_sha256": "b" * 64,
    "status": "PASS",
    "problems": [],
    "problem_count": 0,
    "verification": "reused",
    "tampered": False,
}
FAILING: dict[str, Any] = {
    **STATUS,
    "status": "FAIL",
    "verification": "hashed",
    "problem_count": 1,
    "problems": [{"code": "HASH_MISMATCH", "path": "run.json"}],
}


def test_valid_lines_pass() -> None:
    for schema_id, line in ((LINE_ID, LINE), (STATUS_ID, STATUS), (STATUS_ID, FAILING)):
        assert _compiled(schema_id, line)
        assert _jsonschema_valid(schema_id, line)


VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 60)
    | st.sampled_from(
        [
            "",
            "0.1",
            "0.2",
            "PASS",
            "FAIL",
            "UNSEALED",
            "hashed",
            "reused",
            "none",
            "clean",
            "dirty",
            "a" * 64,
            "A" * 64,
            "x::y",
            "xy",
            "HASH_MISMATCH",
            "bad code",
            "run.json",
        ]
    )
    | st.lists(
        st.sampled_from(
            [{"relpath": "a", "bytes": 1}, {"relpath": 1}, "s", {"code": "X", "path": None}]
        ),
        max_size=3,
    )
)


def _mutated(base: dict[str, Any], key: str, value: Any, delete: bool) -> dict[str, Any]:
    line = copy.deepcopy(base)
    if delete:
        line.pop(key, None)
    else:
        line[key] = value
    return line


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from([*LINE, "extra"]), value=VALUES, delete=st.booleans())
def test_every_mutated_line_gets_jsonschemas_verdict(key: str, value: Any, delete: bool) -> None:
    _judged_alike(LINE_ID, _mutated(LINE, key, value, delete))


@settings(max_examples=400, deadline=None)
@given(
    base=st.sampled_from([STATUS, FAILING]),
    key=st.sampled_from([*STATUS, "extra"]),
    value=VALUES,
    delete=st.booleans(),
)
def test_every_mutated_status_line_gets_jsonschemas_verdict(
    base: dict[str, Any], key: str, value: Any, delete: bool
) -> None:
    _judged_alike(STATUS_ID, _mutated(base, key, value, delete))


def test_a_workspace_version_of_a_schema_is_the_one_applied(tmp_path: Path) -> None:
    assert _compiled(LINE_ID, LINE)
    override = tmp_path / "schemas"
    override.mkdir()
    document = json.loads((builtin_schema_dir() / "run_registry_v0_1.schema.json").read_text())
    document["properties"]["run_id"] = {"type": "string", "maxLength": 3}
    (override / "run_registry_v0_1.schema.json").write_text(json.dumps(document))
    workspace = SchemaCatalog.load([builtin_schema_dir(), override])
    assert not workspace.is_all_valid(LINE_ID, [LINE])
    assert [v.field for v in workspace.validate(LINE_ID, LINE)] == ["/run_id"]
