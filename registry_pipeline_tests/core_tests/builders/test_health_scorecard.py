"""The governance scorecard: the seed's figures, explained, the same in summary, Markdown, HTML;
the report counts the snapshots its sealed inputs show, not what is sealed after them."""

from __future__ import annotations

import html
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from registry_pipeline.core.builders.model import BuildInputs, BuildResult
from registry_pipeline.core.builders.registry import BUILDERS
from registry_pipeline.core.builders.system_health import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    SUMMARY_ARTIFACT,
    build_system_health,
    visible_runs,
)
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, read_snapshot
from registry_pipeline_tests._helpers import copy_demo

REPO = Path(__file__).resolve().parents[3]
SUMMARY_ID = "urn:registry-pipeline:schema:system_health_summary_v0_1"
AS_OF = "2026-03-02T00:00:00Z"
LEVELS = ["C5"] * 4 + ["C4"] * 10 + ["C3"] * 17 + ["C2"] * 5
"""Levels of the 36 canonical operations: 31 at C3 or above, as in the seed's v0.2 scorecard."""
OPS = [f"OP-A{number:02d}" for number in range(1, len(LEVELS) + 1)]
EXCLUDED = (
    ("threshold_registry_db", "external database: nothing in the repository to seal"),
    ("validation_range_results", "collection: no file matches x/*.json; nothing to snapshot"),
)


def _entry(
    registry_id: str, status: str, run_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"registry_id": registry_id, "kind": "built", "has_builder": True,
            "latest_run_id": run_id, "latest_status": status, **extra}  # fmt: skip


def _catalog() -> list[dict[str, Any]]:
    """Twelve catalog registries: sealed, failing, without a snapshot, and adoption's one."""
    sealed = ("run_registry", "op_status_table", "drift_signals", "migration_ledger",
              "expected_versions", "threshold_packs_file", "fingerprint_index",
              "derived_validation_reports")  # fmt: skip
    return [
        *(
            _entry(rid, "PASS", f"2026-03-01__1200{n:02d}__{rid}_build")
            for n, rid in enumerate(sealed)
        ),
        _entry(
            "evidence_pack_registry", "FAIL", "2026-03-01__120100__evidence_pack_registry_build"
        ),
        _entry("registry_delta_log", "none"),
        _entry("system_health_report", "none", this_report=True),
        _entry("allowed_operations", "PASS", "2026-03-01__120200__x_build", in_scorecard=False),
    ]


def _rows(levels: list[str] = LEVELS) -> list[dict[str, Any]]:
    return [
        {"operation_id": op, "operation_name": op, "coverage_level": level,
         "run_evidence_state": "UNOBSERVED", "op_drift": None}
        for op, level in zip(OPS, levels, strict=False)
    ]  # fmt: skip


def _detail(executables: dict[str, list[str]] | None = None) -> dict[str, Any]:
    operations: list[dict[str, Any]] = [
        {"operation_id": op, "status": "never_run", "canonical": True} for op in OPS
    ]
    operations.append({"operation_id": "OP-NC01", "status": "never_run", "canonical": False})
    for operation in operations:
        if executables is not None:
            operation["executables"] = executables.get(operation["operation_id"], [])
    return {"operations": operations, "unauthorized": []}


def _report(**overrides: Any) -> tuple[dict[str, Any], str, str]:
    """(scorecard of the sealed summary, Markdown, HTML) of the fixture with `overrides`."""
    inputs: dict[str, Any] = {
        "catalog_summary": _catalog(),
        "op_status_rows": _rows(),
        "op_status_detail": _detail(),
        "drift_v01": {},
        "drift_detail": {},
        "run_registry_lines": [],
        "as_of": AS_OF,
        "excluded": EXCLUDED,
    }
    inputs.update(overrides)
    files = build_system_health(**inputs).files
    summary = json.loads(files[SUMMARY_ARTIFACT])
    assert SchemaCatalog.for_workspace(REPO).validate(SUMMARY_ID, summary) == []
    return summary["scorecard"], files[MARKDOWN_ARTIFACT].decode(), files[HTML_ARTIFACT].decode()


def test_enforcement_c3_plus_counts_canonical_operations_and_names_those_below() -> None:
    scorecard, markdown, page = _report()
    figure = scorecard["enforcement_c3_plus"]
    assert (figure["count"], figure["total"], figure["percent"]) == (31, 36, 86.1)
    assert figure["below_c3"] == [{"operation_id": op, "coverage_level": "C2"} for op in OPS[31:]]
    assert "| enforcement coverage C3+ | 31/36 | 86.1% |" in markdown
    assert "<td>enforcement coverage C3+</td><td>31/36</td><td>86.1%</td>" in page
    assert "- below C3: OP-A32 (C2), OP-A33 (C2), OP-A34 (C2), OP-A35 (C2), OP-A36 (C2)" in markdown


def test_sealed_registries_count_as_the_seed_does_and_say_why_not() -> None:
    """Thirteen (the seed's 9 of 13): twelve less adoption's, plus the two excluded."""
    scorecard, markdown, page = _report()
    figure = scorecard["sealed_registries"]
    assert (figure["count"], figure["total"], figure["percent"]) == (9, 13, 69.2)
    entries = {entry["registry_id"]: entry for entry in figure["registries"]}
    assert "allowed_operations" not in entries
    assert len(entries) == len(figure["registries"]) == 13
    assert entries["run_registry"] == {
        "registry_id": "run_registry", "sealed": True, "basis": "snapshot",
        "run_id": "2026-03-01__120000__run_registry_build", "reason": None,
    }  # fmt: skip
    assert entries["system_health_report"] == {
        "registry_id": "system_health_report", "sealed": True, "basis": "this_report",
        "run_id": None, "reason": None,
    }  # fmt: skip
    failing = entries["evidence_pack_registry"]
    assert (failing["sealed"], failing["basis"]) == (False, "snapshot")
    assert failing["run_id"] == "2026-03-01__120100__evidence_pack_registry_build"
    assert failing["reason"] == f"its snapshot {failing['run_id']} fails its seal or schema"
    assert entries["registry_delta_log"] == {
        "registry_id": "registry_delta_log", "sealed": False, "basis": "none", "run_id": None,
        "reason": "no snapshot as of the inputs of this report",
    }  # fmt: skip
    assert entries["threshold_registry_db"] == {
        "registry_id": "threshold_registry_db", "sealed": False, "basis": "excluded",
        "run_id": None, "reason": "excluded: external database: nothing in the repository to seal",
    }  # fmt: skip
    assert "| sealed registries | 9/13 | 69.2% |" in markdown
    assert "<td>sealed registries</td><td>9/13</td><td>69.2%</td>" in page
    assert (
        "- not sealed: registry_delta_log (no snapshot as of the inputs of this report)" in markdown
    )
    assert "- not sealed: threshold_registry_db (excluded: external database" in markdown
    assert "<li>not sealed: validation_range_results (excluded: collection: no file" in page


def test_the_markdown_names_twenty_operations_below_c3_and_the_summary_all() -> None:
    scorecard, markdown, _ = _report(op_status_rows=_rows(["C1"] * 25 + ["C3"] * 11))
    assert len(scorecard["enforcement_c3_plus"]["below_c3"]) == 25
    [note] = [line for line in markdown.splitlines() if line.startswith("- below C3: ")]
    assert note.count("(C1)") == 20
    assert note.endswith("OP-A20 (C1) and 5 more (the summary lists all)")


def test_the_rule_and_the_seeds_way_of_counting_are_said_in_words() -> None:
    _, markdown, page = _report()
    [rule] = [line for line in markdown.splitlines() if line.startswith("- sealed means:")]
    assert "this report counts itself sealed" in rule
    assert "registry_delta_log" in rule and "earlier snapshot" in rule
    assert (
        "- the seed counts system_health_report as not sealed because it is presentation-only; "
        "it is sealed here like every other registry" in markdown
    )
    assert f"<li>{html.escape(rule[2:])}</li>" in page
    without_self = [e for e in _catalog() if e["registry_id"] != "system_health_report"]
    _, markdown, _ = _report(catalog_summary=without_self)
    assert "presentation-only" not in markdown  # said only where our count differs


def test_executables_are_distinct_bound_paths_and_canonical_operations_binding_one() -> None:
    bound = {OPS[0]: ["tools/a.py", "sql/b.sql"], OPS[1]: ["tools/a.py"], "OP-NC01": ["old.ps1"]}
    detail = _detail(bound) | {
        "non_canonical": {"count": 1, "operation_ids": ["OP-NC01"]},
        "catalog_warnings": [{"source": "ops.md", "line": 7, "operation_id": OPS[2],
                              "message": "option 'x' is not an uppercase family"}],
    }  # fmt: skip
    scorecard, markdown, page = _report(op_status_detail=detail)
    figure = scorecard["executables"]
    assert figure["count"] == 3  # across every operation, non-canonical included
    assert figure["operations_bound"] == {"count": 2, "total": 36, "percent": 5.6}
    assert figure["unbound_operations"] == OPS[2:]
    assert scorecard["executables_reason"] is None
    assert "| executables | 3 | - |" in markdown
    assert "| operations with executables | 2/36 | 5.6% |" in markdown
    assert "<td>operations with executables</td><td>2/36</td><td>5.6%</td>" in page
    assert "inventory" in markdown  # how the seed's own figure differs, in words
    assert "- non-canonical operations: 1 (OP-NC01)" in markdown
    assert f"- could not read ops.md:7 ({OPS[2]}): option 'x'" in markdown


def test_executables_are_null_with_a_reason_when_the_catalog_names_none() -> None:
    for detail in (_detail(), _detail({})):  # no `executables` key; every list empty
        scorecard, markdown, _ = _report(op_status_detail=detail)
        assert scorecard["executables"] is None
        assert scorecard["executables_reason"] == "the operations catalog names no executables"
        assert "- executables: not counted: the operations catalog names no executables" in markdown
        assert "| executables |" not in markdown


def test_a_figure_with_nothing_to_count_has_no_percent() -> None:
    scorecard, markdown, _ = _report(
        op_status_rows=[], catalog_summary=[], excluded=(), op_status_detail={"operations": []}
    )
    assert scorecard["enforcement_c3_plus"] == {"count": 0, "total": 0, "percent": None,
                                                "below_c3": []}  # fmt: skip
    sealed = scorecard["sealed_registries"]
    assert (sealed["count"], sealed["total"], sealed["percent"]) == (0, 0, None)
    assert "| enforcement coverage C3+ | 0/0 | - |" in markdown
    assert "| sealed registries | 0/0 | - |" in markdown


def test_check_coverage_stays_the_same_ratio_for_earlier_consumers() -> None:
    scorecard, _, _ = _report()
    ratio = {k: scorecard["enforcement_c3_plus"][k] for k in ("count", "total", "percent")}
    assert scorecard["check_coverage"] == ratio


def test_the_seeds_health_schema_governs_the_markdown_and_accepts_our_summary(
    reference: Path,
) -> None:
    """The seed's health report binds no JSON: our `scorecard` breaks no consumer."""
    stub = json.loads(
        (reference / "schemas" / "REGISTRY_system_health_report_v0_1.schema.json").read_text()
    )
    assert stub["artifact_format"] == "markdown"
    assert not {"$id", "x-registry-artifacts", "properties", "required"} & set(stub)
    summary = build_system_health(
        catalog_summary=_catalog(), op_status_rows=_rows(), op_status_detail=_detail(),
        drift_v01={}, drift_detail={}, run_registry_lines=[], as_of=AS_OF, excluded=EXCLUDED,
    ).files[SUMMARY_ARTIFACT]  # fmt: skip
    assert list(Draft202012Validator(stub).iter_errors(json.loads(summary))) == []
    ours = SchemaCatalog.for_workspace(REPO).for_artifact(SUMMARY_ARTIFACT)
    assert ours is not None and ours.schema_id == SUMMARY_ID


# --- which snapshots the report may count --------------------------------------------------


def _line(run_id: str, root: str = ".codex/RUNS") -> dict[str, Any]:
    return {"run_id": run_id, "run_root": root, "run_key": f"{root}::{run_id}"}


def test_visible_runs_are_the_inputs_what_they_read_and_what_the_run_registry_indexes() -> None:
    inputs = {
        "rr": {"run_id": "rr", "inputs": []},
        "ost": {"inputs": [{"registry_id": "allowed_operations", "run_id": "ops",
                            "run_root": ".codex/RUNS"}]},
        "drift": {"inputs": [{"registry_id": "x", "run_id": "elsewhere", "run_root": "other"},
                             "not a ref"]},
    }  # fmt: skip
    lines = [_line("old_source"), _line("evidence", root="reports/runs"), {"run_id": 7}]
    assert visible_runs(lines, inputs) == {"rr", "ost", "drift", "ops", "old_source"}
    legacy = [{"run_id": "seed_line", "run_key": ".codex/RUNS::seed_line"}]  # no run_root
    assert visible_runs(legacy, {}) == {"seed_line"}


START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Demo:
    """A demo copy whose registries are sealed one by one, one second apart."""

    def __init__(self, root: Path) -> None:
        self.workspace = Workspace(root)
        ticks = itertools.count()
        self.store = RunStore(self.workspace, clock=lambda: START + timedelta(seconds=next(ticks)))
        self.catalog = load_catalog(self.workspace)

    def seal(self, registry_id: str, files: dict[str, bytes], *read: Snapshot) -> Snapshot:
        spec = RunSpec(registry_id=registry_id, inputs=tuple(s.ref() for s in read))
        return read_snapshot(seal_files(self.store, spec, files).path, registry_id)

    def source(self, registry_id: str) -> Snapshot:
        """The registry's hand-edited files, sealed as they are."""
        files = {
            path.name: path.read_bytes()
            for source in self.catalog.get(registry_id).sources
            for path in sorted(self.workspace.root.glob(source))
        }
        return self.seal(registry_id, files)

    def run(self, registry_id: str, **inputs: Snapshot) -> BuildResult:
        spec = self.catalog.get(registry_id)
        return BUILDERS[registry_id](BuildInputs(self.workspace, spec, inputs))

    def build(self, registry_id: str, **inputs: Snapshot) -> Snapshot:
        """Run the registry's builder on `inputs` and seal what it returns, recording them."""
        result = self.run(registry_id, **inputs)
        return self.seal(registry_id, dict(result.files), *inputs.values())

    def built_inputs(
        self, sources: dict[str, Snapshot]
    ) -> tuple[dict[str, Snapshot], dict[str, Snapshot]]:
        """run_registry, the sources it does not index, op_status_table and drift: every input."""
        rr = self.build("run_registry")
        sources = {**sources, **{rid: self.source(rid) for rid in LATE_SOURCES}}
        ost = self.build("op_status_table", run_registry=rr,
                         allowed_operations=sources["allowed_operations"],
                         threshold_packs_file=sources["threshold_packs_file"])  # fmt: skip
        drift = self.build("drift_signals", op_status_table=ost, run_registry=rr,
                           expected_versions=sources["expected_versions"],
                           threshold_packs_file=sources["threshold_packs_file"])  # fmt: skip
        return {"run_registry": rr, "op_status_table": ost, "drift_signals": drift}, sources


LATE_SOURCES = ("threshold_packs_file", "allowed_operations")
"""Sealed after run_registry: counted because op_status_table read them, not indexed."""


def _scorecard(result: BuildResult) -> dict[str, Any]:
    return dict(json.loads(result.files[SUMMARY_ARTIFACT])["scorecard"])


def _entries(result: BuildResult) -> dict[str, dict[str, Any]]:
    return {e["registry_id"]: e for e in _scorecard(result)["sealed_registries"]["registries"]}


def test_what_is_sealed_after_the_inputs_never_changes_the_report(tmp_path: Path) -> None:
    demo = Demo(copy_demo(tmp_path))
    early = {
        rid: demo.source(rid)
        for rid in ("expected_versions", "migration_ledger", "rolepack", "run_index",
                    "run_overrides")
    }  # fmt: skip
    inputs, sources = demo.built_inputs(early)
    first = demo.run("system_health_report", **inputs)
    # the rest of the same run: the delta log, a source changed meanwhile, the report itself
    log = demo.seal("registry_delta_log", {"REGISTRY_DELTA_LOG_v0_1.jsonl": b""})
    changed = demo.source("migration_ledger")
    demo.seal("system_health_report", dict(first.files), *inputs.values())
    again = demo.run("system_health_report", **inputs)
    assert dict(again.files) == dict(first.files)

    entries = _entries(first)
    assert entries["migration_ledger"]["run_id"] == early["migration_ledger"].run_id
    for late in LATE_SOURCES:  # not in the index: read by op_status_table
        assert entries[late]["run_id"] == sources[late].run_id
    assert entries["registry_delta_log"]["basis"] == "none"
    assert entries["system_health_report"]["basis"] == "this_report"
    sealed = [rid for rid, entry in entries.items() if entry["sealed"]]
    assert sorted(sealed) == sorted(set(entries) - {"registry_delta_log"})
    markdown = first.files[MARKDOWN_ARTIFACT].decode()
    assert f"| sealed registries | {len(sealed)}/{len(entries)} |" in markdown
    assert first.summary["scorecard"] == _scorecard(first)  # Dagster shows the sealed figures

    # the next build's inputs show what was sealed after the first ones
    following = demo.run("system_health_report", **demo.built_inputs(early)[0])
    entries = _entries(following)
    assert entries["registry_delta_log"]["run_id"] == log.run_id
    assert entries["registry_delta_log"]["sealed"] is True
    assert entries["migration_ledger"]["run_id"] == changed.run_id
    assert entries["system_health_report"]["basis"] == "this_report"
    figure = _scorecard(following)["sealed_registries"]
    assert figure["count"] == figure["total"] == len(entries)
