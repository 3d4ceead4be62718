"""drift_signals and system_health_report builders: tri-state signals, schemas, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.builders.drift_signals import (
    DETAIL_ARTIFACT,
    V01_ARTIFACT,
    build_drift_signals,
    canon_tree_hash,
)
from registry_pipeline.core.builders.model import BuildResult
from registry_pipeline.core.builders.system_health import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    SUMMARY_ARTIFACT,
    build_system_health,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.snapshots import Snapshot

REPO = Path(__file__).resolve().parents[3]
DRIFT_ID = "urn:registry-pipeline:schema:drift_signals_v0_1"
DETAIL_ID = "urn:registry-pipeline:schema:drift_signals_detail_v0_2"
SUMMARY_ID = "urn:registry-pipeline:schema:system_health_summary_v0_1"
AS_OF = "2026-03-02T00:00:00Z"
RR_RUN = "2026-03-01__120000__run_registry_build"
RR_OLD = "2026-02-01__120000__run_registry_build"
ROOT_A = "a" * 64
ROOT_B = "b" * 64
SCHEMA_HASH = "1" * 64
ACTIVE = Snapshot("run_registry", RR_RUN, Path(RR_RUN), "2026-03-01T12:00:00Z", ROOT_A)
OLDER = Snapshot("run_registry", RR_OLD, Path(RR_OLD), "2026-02-01T12:00:00Z", ROOT_B)


def _line(run_id: str, root: str | None, *warnings: str) -> dict[str, Any]:
    """A run registry line with only the fields the drift builder reads."""
    return {
        "run_id": run_id,
        "run_key": f".codex/RUNS::{run_id}",
        "manifest_root_sha256": root,
        "warnings": list(warnings),
    }


def _operation(status: str, **extra: Any) -> dict[str, Any]:
    """One op_status_detail entry for OP-QA07."""
    entry: dict[str, Any] = {
        "operation_id": "OP-QA07",
        "status": status,
        "stale_after_hours": 12,
        "last_run_id": RR_RUN,
        "last_run_key": f".codex/RUNS::{RR_RUN}",
        "last_success_utc": "2026-03-01T12:00:00Z",
    }
    entry.update(extra)
    return entry


INVALID_LINES = [
    _line(RR_RUN, ROOT_A, "seal:PASS"),
    _line(RR_OLD, ROOT_B, "seal:FAIL", "seal:FAIL:HASH_MISMATCH:data.csv"),
]


def _inputs(**overrides: Any) -> dict[str, Any]:
    """Inputs under which every signal is false; `overrides` replace whole arguments."""
    inputs: dict[str, Any] = {
        "run_registry_lines": [_line(RR_RUN, ROOT_A, "seal:PASS")],
        "op_status_detail": {"operations": [_operation("ok")], "unauthorized": []},
        "expected_versions": {
            "version": "0.1",
            "expected": {
                "schema_version": "0.1",
                "threshold_pack_version": "v1",
                "builder_versions": {"run_registry": "1.0"},
            },
        },
        "observed_schema_versions": {"run_registry": "0.1", "run_envelope": "0.1"},
        "observed_builder_versions": {"run_registry": "1.0"},
        "observed_threshold_pack_version": "v1",
        "active_snapshots": {"run_registry": ACTIVE},
        "newest_valid_snapshots": {"run_registry": ACTIVE},
        "schema_hashes_now": {"run_registry": SCHEMA_HASH},
        "schema_hashes_at_active": {"run_registry": SCHEMA_HASH},
        "git_commit": "c" * 40,
        "working_tree_state": "clean",
        "as_of": AS_OF,
    }
    inputs.update(overrides)
    return inputs


def drift_v01(result: BuildResult) -> dict[str, Any]:
    """The v0.1 drift object a build wrote."""
    return dict(json.loads(result.files[V01_ARTIFACT]))


def drift_detail(result: BuildResult) -> dict[str, Any]:
    """The v0.2 detail document a build wrote."""
    return dict(json.loads(result.files[DETAIL_ARTIFACT]))


def _signal(result: BuildResult, signal_id: str) -> dict[str, Any]:
    """The detail entry of `signal_id` (fails the test when absent)."""
    found = [s for s in drift_detail(result)["signals"] if s["signal_id"] == signal_id]
    assert len(found) == 1, f"{signal_id} not produced"
    return found[0]


def _expected(**changes: Any) -> dict[str, Any]:
    """The baseline expected_versions document with `expected` fields changed."""
    document = _inputs()["expected_versions"]
    return {**document, "expected": {**document["expected"], **changes}}


def test_baseline_has_every_signal_false() -> None:
    result = build_drift_signals(**_inputs())
    values = {s["signal_id"]: s["value"] for s in drift_detail(result)["signals"]}
    assert values == {
        "schema_version:run_envelope": False,
        "schema_version:run_registry": False,
        "builder_version:run_registry": False,
        "threshold_pack_version": False,
        "operation_stale:OP-QA07": False,
        "run_folders:invalid": False,
        "run_folders:tampered": False,
        "run_folders:unsealed": False,
        "active_snapshot_behind:run_registry": False,
        "schema_changed:run_registry": False,
    }
    assert all(s["severity"] == "info" for s in drift_detail(result)["signals"])
    assert drift_v01(result)["warnings"] == [f"detail:{DETAIL_ARTIFACT}"]
    assert drift_v01(result)["system_drift"] == {
        "canon_dirty": False,
        "canon_state": "clean",
        "schema_drift": False,
        "threshold_drift": False,
        "threshold_drift_computed": True,
    }


CASES = [
    # (case, overrides, signal_id, expected value)
    ("schema version differs", {"observed_schema_versions": {"run_registry": "0.2"}},
     "schema_version:run_registry", True),
    ("schema version observed unknown", {"observed_schema_versions": {"run_registry": None}},
     "schema_version:run_registry", None),
    ("schema version expectation null", {"expected_versions": _expected(schema_version=None)},
     "schema_version:run_registry", None),
    ("builder version differs", {"observed_builder_versions": {"run_registry": "1.1"}},
     "builder_version:run_registry", True),
    ("builder version not expected", {"expected_versions": _expected(builder_versions={})},
     "builder_version:run_registry", None),
    ("builder expected, never observed", {"observed_builder_versions": {}},
     "builder_version:run_registry", None),
    ("threshold pack differs", {"observed_threshold_pack_version": "v2"},
     "threshold_pack_version", True),
    ("threshold pack expectation null",
     {"expected_versions": _expected(threshold_pack_version=None)},
     "threshold_pack_version", None),
    ("operation stale", {"op_status_detail": {"operations": [_operation("stale")]}},
     "operation_stale:OP-QA07", True),
    ("operation never run", {"op_status_detail": {"operations": [_operation("never_run")]}},
     "operation_stale:OP-QA07", None),
    ("operation without threshold",
     {"op_status_detail": {"operations": [_operation("ok", stale_after_hours=None)]}},
     "operation_stale:OP-QA07", None),
    ("failing, last success too old",
     {"op_status_detail": {"operations": [
         _operation("failing", last_success_utc="2026-03-01T11:59:59Z")]}},
     "operation_stale:OP-QA07", True),
    ("failing, last success recent",
     {"op_status_detail": {"operations": [
         _operation("failing", last_success_utc="2026-03-01T12:00:00Z")]}},
     "operation_stale:OP-QA07", False),
    ("failing, never succeeded",
     {"op_status_detail": {"operations": [_operation("failing", last_success_utc=None)]}},
     "operation_stale:OP-QA07", True),
    ("operations keyed by id",
     {"op_status_detail": {"operations": {"OP-QA07": {"status": "stale",
                                                      "stale_after_hours": 12}}}},
     "operation_stale:OP-QA07", True),
    ("invalid folder", {"run_registry_lines": INVALID_LINES},
     "run_folders:invalid", True),
    ("folder without seal status", {"run_registry_lines": [_line(RR_RUN, ROOT_A)]},
     "run_folders:invalid", None),
    ("tampered folder", {"run_registry_lines": [
        _line(RR_OLD, ROOT_B, "seal:FAIL", "seal:FAIL:HASH_MISMATCH:a", "seal:TAMPERED")]},
     "run_folders:tampered", True),
    ("tamper status unknown", {"run_registry_lines": [_line(RR_RUN, ROOT_A, "other")]},
     "run_folders:tampered", None),
    ("unsealed folder", {"run_registry_lines": [_line("p1_20260120_001", None, "seal:UNSEALED")]},
     "run_folders:unsealed", True),
    ("active behind newest", {"active_snapshots": {"run_registry": OLDER}},
     "active_snapshot_behind:run_registry", True),
    ("active ahead of newest", {"newest_valid_snapshots": {"run_registry": OLDER}},
     "active_snapshot_behind:run_registry", False),
    ("no pointer history", {"active_snapshots": None},
     "active_snapshot_behind:run_registry", None),
    ("registry without pointer", {"active_snapshots": {"run_registry": None}},
     "active_snapshot_behind:run_registry", None),
    ("schema changed", {"schema_hashes_now": {"run_registry": "2" * 64}},
     "schema_changed:run_registry", True),
    ("schema removed", {"schema_hashes_now": {}},
     "schema_changed:run_registry", True),
    ("schema hash at active unknown", {"schema_hashes_at_active": {"run_registry": None}},
     "schema_changed:run_registry", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "signal_id", "value"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_signal_tri_state(overrides: dict[str, Any], signal_id: str, value: Any) -> None:
    result = build_drift_signals(**_inputs(**overrides))
    signal = _signal(result, signal_id)
    assert signal["value"] is value
    word = {True: "true", None: "unknown"}.get(value)
    listed = [w for w in drift_v01(result)["warnings"] if w.startswith(f"{signal_id}:")]
    assert listed == ([f"{signal_id}:{word}"] if word else [])


ACTIVE_EVIDENCE = [{"run_id": RR_RUN, "registry_id": "run_registry", "manifest_sha256": ROOT_A}]
EVIDENCE = [
    # (overrides, signal, its severity, its evidence)
    ({"run_registry_lines": [*reversed(INVALID_LINES)]}, "run_folders:invalid", "critical",
     [{"run_id": RR_OLD, "registry_id": "run_registry", "manifest_sha256": ROOT_B,
       "reason": "HASH_MISMATCH:data.csv"}]),
    ({"run_registry_lines": [_line(RR_RUN, ROOT_A)]}, "run_folders:tampered", "warning", []),
    ({"op_status_detail": {"operations": [_operation("stale")]}}, "operation_stale:OP-QA07",
     "warning", ACTIVE_EVIDENCE),
    ({"active_snapshots": None}, "active_snapshot_behind:run_registry", "info", ACTIVE_EVIDENCE),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "signal_id", "severity", "evidence"), EVIDENCE)
def test_a_signal_cites_its_evidence_at_its_severity(
    overrides: dict[str, Any], signal_id: str, severity: str, evidence: list[dict[str, str]]
) -> None:
    """An unknown critical signal is a warning; missing pointer history is said, not guessed."""
    signal = _signal(build_drift_signals(**_inputs(**overrides)), signal_id)
    assert (signal["severity"], signal["evidence"]) == (severity, evidence)


def test_v01_rollups_follow_the_signals() -> None:
    unknown = build_drift_signals(
        **_inputs(
            expected_versions={
                "version": "0.1",
                "expected": {"schema_version": None, "threshold_pack_version": None},
            },
            working_tree_state="dirty",
        )
    )
    unknown = drift_v01(unknown)
    assert unknown["expected"]["schema_version"]["computed"] is False
    assert unknown["expected"]["schema_version"]["drift"] is None
    assert unknown["expected"]["threshold_pack"]["drift"] is None
    assert unknown["system_drift"] == {
        "canon_dirty": True,
        "canon_state": "dirty",
        "schema_drift": None,
        "threshold_drift": None,
        "threshold_drift_computed": False,
    }
    assert unknown["warnings"][:2] == [
        "expected_schema_version_null",
        "expected_threshold_pack_version_null",
    ]
    drifted = drift_v01(
        build_drift_signals(**_inputs(observed_schema_versions={"a": "0.1", "b": "0.2", "c": None}))
    )
    assert drifted["expected"]["schema_version"]["drift"] is True
    assert drifted["expected"]["schema_version"]["observed"] == {"a": "0.1", "b": "0.2", "c": None}


def test_canon_tree_hash_definition() -> None:
    hashes = {"b": "2" * 64, "a": "1" * 64}
    expected = hashlib.sha256(f"{'1' * 64}  a\n{'2' * 64}  b\n".encode()).hexdigest()
    assert canon_tree_hash(hashes) == expected
    assert canon_tree_hash(dict(reversed(hashes.items()))) == expected
    assert canon_tree_hash({}) == hashlib.sha256(b"").hexdigest()
    result = build_drift_signals(**_inputs(schema_hashes_now=hashes))
    assert drift_v01(result)["canon_tree_hash"] == expected


def test_generated_utc_is_as_of_and_bad_as_of_is_refused() -> None:
    result = build_drift_signals(**_inputs())
    assert drift_v01(result)["generated_utc"] == AS_OF
    assert drift_detail(result)["generated_utc"] == AS_OF
    with pytest.raises(UsageError) as caught:
        build_drift_signals(**_inputs(as_of="yesterday"))
    assert caught.value.code == "BAD_AS_OF"
    with pytest.raises(UsageError) as caught:
        build_drift_signals(**_inputs(working_tree_state="mixed"))
    assert caught.value.code == "BAD_WORKING_TREE_STATE"


def _varied_inputs() -> list[dict[str, Any]]:
    """The baseline and a few inputs with true and unknown signals."""
    return [
        _inputs(),
        _inputs(active_snapshots=None, git_commit=None, working_tree_state=None),
        _inputs(run_registry_lines=INVALID_LINES),
        _inputs(expected_versions=_expected(schema_version=None, threshold_pack_version=None)),
    ]


def test_outputs_valid_against_our_schemas() -> None:
    catalog = SchemaCatalog.for_workspace(REPO)
    assert catalog.for_artifact(V01_ARTIFACT).schema_id == DRIFT_ID  # type: ignore[union-attr]
    assert catalog.for_artifact(DETAIL_ARTIFACT).schema_id == DETAIL_ID  # type: ignore[union-attr]
    for inputs in _varied_inputs():
        files = build_drift_signals(**inputs).files
        assert catalog.validate(DRIFT_ID, json.loads(files[V01_ARTIFACT])) == []
        assert catalog.validate(DETAIL_ID, json.loads(files[DETAIL_ARTIFACT])) == []
    broken = dict(drift_v01(build_drift_signals(**_inputs())), extra=1)
    assert catalog.validate(DRIFT_ID, broken) != []


@pytest.mark.reference
def test_v01_valid_against_the_seed_schema(reference: Path) -> None:
    from jsonschema import Draft202012Validator

    seed = json.loads((reference / "schemas/REGISTRY_drift_signals_v0_1.schema.json").read_text())
    validator = Draft202012Validator(seed)
    for inputs in _varied_inputs():
        document = json.loads(build_drift_signals(**inputs).files[V01_ARTIFACT])
        assert [e.message for e in validator.iter_errors(document)] == []
    ours = SchemaCatalog.for_workspace(REPO)
    example = reference / "sealed_by_reference/2026-11-21__121403__drift_signals_build"
    assert ours.validate(DRIFT_ID, json.loads((example / V01_ARTIFACT).read_text())) == []


def test_drift_outputs_are_byte_identical_and_order_independent() -> None:
    inputs = _inputs(run_registry_lines=INVALID_LINES)
    first = build_drift_signals(**inputs).files
    assert build_drift_signals(**inputs).files == first
    shuffled = dict(inputs)
    shuffled["run_registry_lines"] = list(reversed(inputs["run_registry_lines"]))
    shuffled["observed_schema_versions"] = dict(
        reversed(list(inputs["observed_schema_versions"].items()))
    )
    assert build_drift_signals(**shuffled).files == first


# --- system_health_report -------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>|pipe'


def _catalog_summary() -> list[dict[str, Any]]:
    """Four registries: two validating, one failing, one never built; one with a hostile name."""
    return [
        {"registry_id": "run_registry", "kind": "built", "has_builder": True,
         "latest_run_id": RR_RUN, "latest_status": "PASS", "operation_id": "OP-QA07"},
        {"registry_id": "op_status_table", "kind": "built", "has_builder": False,
         "latest_run_id": None, "latest_status": "none", "operation_id": "OP-QA08"},
        {"registry_id": HOSTILE, "kind": "source", "has_builder": False,
         "latest_run_id": "x", "latest_status": "FAIL"},
        {"registry_id": "expected_versions", "kind": "source", "has_builder": False,
         "latest_run_id": "y", "latest_status": "PASS"},
    ]  # fmt: skip


def _row(op_id: str, level: str, state: str, drift: bool | None) -> dict[str, Any]:
    """An OPERATION_STATUS_TABLE_v0_1 row with the fields the report reads."""
    return {
        "operation_id": op_id,
        "operation_name": f"name of {op_id}",
        "coverage_level": level,
        "last_run_id": None,
        "run_evidence_state": state,
        "staleness_days": None,
        "op_drift": drift,
    }


def _health(**overrides: Any) -> dict[str, bytes]:
    """The health report of crafted inputs, drift taken from a real drift build."""
    drift = build_drift_signals(**_inputs(run_registry_lines=INVALID_LINES))
    inputs: dict[str, Any] = {
        "catalog_summary": _catalog_summary(),
        "op_status_rows": [
            _row("OP-QA07", "C4", "OBSERVED", False),
            _row("OP-QA08", "C3", "UNOBSERVED", None),
            _row("OP-B07", "C2", "LEGACY_ONLY", True),
        ],
        "op_status_detail": {
            "operations": [
                {"operation_id": "OP-QA07", "status": "ok"},
                {"operation_id": "OP-QA08", "status": "never_run"},
                {"operation_id": "OP-B07", "status": "stale"},
            ],
            "unauthorized": [{"operation_id": "OP-ZZ99", "run_count": 1}],
        },
        "drift_v01": json.loads(drift.files[V01_ARTIFACT]),
        "drift_detail": json.loads(drift.files[DETAIL_ARTIFACT]),
        "run_registry_lines": [*INVALID_LINES, _line("z", None)],
        "as_of": AS_OF,
    }
    inputs.update(overrides)
    return build_system_health(**inputs).files


def test_scorecard_and_counts_are_computed_from_data() -> None:
    summary = json.loads(_health()[SUMMARY_ARTIFACT])
    scorecard = summary["scorecard"]
    registries = scorecard["sealed_registries"].pop("registries")
    assert scorecard == {
        "enforcement_c3_plus": {
            "count": 2, "total": 3, "percent": 66.7,
            "below_c3": [{"operation_id": "OP-B07", "coverage_level": "C2"}],
        },
        "sealed_registries": {"count": 2, "total": 4, "percent": 50.0},
        "executables": None,  # no operation carries any
        "executables_reason": "the operations catalog names no executables",
        "operations_with_builders": {"count": 1, "total": 3, "percent": 33.3},
        "check_coverage": {"count": 2, "total": 3, "percent": 66.7},
    }  # fmt: skip
    assert [(r["registry_id"], r["sealed"], r["reason"]) for r in registries] == [
        ("run_registry", True, None),
        ("op_status_table", False, "no snapshot as of the inputs of this report"),
        (HOSTILE, False, "its snapshot x fails its seal or schema"),
        ("expected_versions", True, None),
    ]
    counts = summary["counts"]
    assert (counts["total_ops"], counts["observed"], counts["unobserved"]) == (3, 1, 1)
    assert (counts["legacy_only"], counts["stale"], counts["drifting"]) == (1, 1, 1)
    assert counts["coverage_below_c3"] == 1
    assert counts["operations_by_status"] == {
        "ok": 1, "failing": 0, "stale": 1, "never_run": 1, "unknown": 0,
    }  # fmt: skip
    assert counts["run_folders_by_seal"] == {
        "PASS": 1, "FAIL": 1, "INTACT_OLDER_FORMAT": 0, "CONVERTED": 0, "UNSEALED": 0,
        "unknown": 1, "TAMPERED": 0,
    }  # fmt: skip
    assert counts["drift_signals"] == {"true": 1, "false": 9, "unknown": 0}
    assert summary["unauthorized_operations"] == ["OP-ZZ99"]
    assert summary["generated_utc"] == AS_OF
    catalog = SchemaCatalog.for_workspace(REPO)
    assert catalog.for_artifact(SUMMARY_ARTIFACT).schema_id == SUMMARY_ID  # type: ignore[union-attr]
    assert catalog.validate(SUMMARY_ID, summary) == []


def test_scorecard_changes_with_the_data() -> None:
    summary = _catalog_summary()
    summary[1]["has_builder"] = True
    summary[1]["latest_status"] = "PASS"
    figures = json.loads(_health(catalog_summary=summary)[SUMMARY_ARTIFACT])["scorecard"]
    assert (figures["sealed_registries"]["count"], figures["sealed_registries"]["total"]) == (3, 4)
    assert figures["operations_with_builders"] == {"count": 2, "total": 3, "percent": 66.7}


def test_markdown_has_scorecard_statuses_and_tri_state_words() -> None:
    markdown = _health()[MARKDOWN_ARTIFACT].decode()
    assert "## Governance scorecard" in markdown
    assert "| enforcement coverage C3+ | 2/3 | 66.7% |" in markdown
    assert "| sealed registries | 2/4 | 50.0% |" in markdown
    assert "| operations with builders | 1/3 | 33.3% |" in markdown
    assert "| OP-B07 | name of OP-B07 | C2 | stale | - | - | yes |" in markdown
    assert "| OP-QA08 | name of OP-QA08 | C3 | never_run | - | - | unknown |" in markdown
    assert "| run_folders:invalid | critical | yes |" in markdown
    assert "| run_folders:tampered | info | no |" in markdown
    assert "- threshold_drift: no" in markdown
    assert "- OP-ZZ99" in markdown
    assert "<script" not in markdown
    assert '&lt;script&gt;alert("x")&lt;/script&gt;\\|pipe' in markdown


def test_unknown_drift_is_shown_as_unknown() -> None:
    drift = build_drift_signals(**_inputs(active_snapshots=None))
    markdown = _health(drift_v01=drift_v01(drift), drift_detail=drift_detail(drift))[
        MARKDOWN_ARTIFACT
    ].decode()
    assert "| active_snapshot_behind:run_registry | info | unknown |" in markdown


def test_html_is_self_contained_and_escapes_names() -> None:
    page = _health()[HTML_ARTIFACT].decode()
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
        assert forbidden not in lowered, forbidden
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;|pipe" in page
    assert "<style>" in page
    assert "<td>sealed registries</td><td>2/4</td>" in page


def test_health_outputs_are_byte_identical() -> None:
    assert _health() == _health()
    assert set(_health()) == {MARKDOWN_ARTIFACT, HTML_ARTIFACT, SUMMARY_ARTIFACT}


def test_summary_keeps_the_seed_summary_shape(reference: Path) -> None:
    """Consumers of the seed's SYSTEM_HEALTH_SUMMARY_v0_1.json find every key they read."""
    seed_path = (
        reference
        / "sealed_by_reference"
        / "2026-11-21__121403__system_health_render"
        / "SYSTEM_HEALTH_SUMMARY_v0_1.json"
    )
    seed = json.loads(seed_path.read_text())
    ours = json.loads(_health()["SYSTEM_HEALTH_SUMMARY_v0_1.json"])
    assert set(seed) - set(ours) == set()
    assert set(seed["counts"]) <= set(ours["counts"])
    for name in ("observed", "stale", "drifting", "coverage_below_c3"):
        assert isinstance(ours[name], list)
    assert set(ours["truncated"]) == set(seed["truncated"])


# --- values rendered for humans, JSON kept typed ---------------------------------------------


def _unexpected_versions_health() -> dict[str, bytes]:
    """A health report whose drift compared against missing expectations (None) and a string."""
    drift = build_drift_signals(
        **_inputs(
            expected_versions=_expected(schema_version=None, builder_versions={}),
            observed_builder_versions={"run_registry": "0.1.0"},
        )
    )
    return _health(drift_v01=drift_v01(drift), drift_detail=drift_detail(drift))


def test_report_text_shows_values_and_the_json_keeps_them_typed() -> None:
    files = _unexpected_versions_health()
    markdown = files[MARKDOWN_ARTIFACT].decode()
    page = files[HTML_ARTIFACT].decode()
    sentence = "builder version of run_registry: expected (none), observed 0.1.0"
    assert f"| builder_version:run_registry | info | unknown | {sentence} |" in markdown
    assert f"<td>{sentence}</td>" in page
    assert "threshold pack version: expected v1, observed v1" in markdown
    assert "schema version of run_envelope: expected (none), observed 0.1" in markdown
    for text in (markdown, page):
        assert "None" not in text
        assert "'0.1" not in text and "&#x27;" not in text
    summary = json.loads(files[SUMMARY_ARTIFACT])
    assert summary["system_drift"]["schema_drift"] is None
    assert summary["system_drift"]["canon_dirty"] is False
    assert summary["counts"]["drift_signals"]["unknown"] == 3
    assert summary["stale_threshold_days"] is None
    catalog = SchemaCatalog.for_workspace(REPO)
    assert catalog.validate(SUMMARY_ID, summary) == []


@pytest.mark.parametrize(
    ("sealed_summary", "shown"),
    [
        ("x: expected None, observed '0.1.0'", "x: expected (none), observed 0.1.0"),
        ("x: expected 'v1', observed None", "x: expected v1, observed (none)"),
        ("x: expected \"it's\", observed 'a b'", "x: expected it's, observed a b"),
        ("x: expected '', observed ' padded'", 'x: expected "", observed " padded"'),
        ("x: expected '(none)', observed None", 'x: expected "(none)", observed (none)'),
        ("OP-QA07: status ok, stale after 12 hours", "OP-QA07: status ok, stale after 12 hours"),
    ],
)
def test_signal_summaries_of_sealed_snapshots_are_rendered_for_humans(
    sealed_summary: str, shown: str
) -> None:
    """Sealed drift snapshots carry Python reprs; strings show bare, JSON-quoted when ambiguous."""
    detail = {"signals": [{"signal_id": "s", "severity": "info", "value": None,
                           "summary": sealed_summary}]}  # fmt: skip
    markdown = _health(drift_detail=detail)[MARKDOWN_ARTIFACT].decode()
    assert f"| s | info | unknown | {shown} |" in markdown


def test_table_cells_render_typed_values_for_humans() -> None:
    row = _row("OP-QA07", "C4", "OBSERVED", False)
    row.update(operation_name=["a", "b"], staleness_days=2.0, last_run_id=7)
    detail = {"operations": [{"operation_id": "OP-QA07"}], "unauthorized": []}
    files = _health(op_status_rows=[row], op_status_detail=detail)
    markdown = files[MARKDOWN_ARTIFACT].decode()
    assert '| OP-QA07 | ["a", "b"] | C4 | unknown | 7 | 2 | no |' in markdown
    summary = json.loads(files[SUMMARY_ARTIFACT])
    assert summary["counts"]["operations_by_status"]["unknown"] == 1
    assert summary["observed"][0]["staleness_days"] == 2.0  # the JSON keeps the input's value
