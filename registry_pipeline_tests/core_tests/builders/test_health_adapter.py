"""The health report counts the snapshots its sealed inputs show, not what is sealed after them."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from registry_pipeline.core.builders.model import BuildInputs, BuildResult
from registry_pipeline.core.builders.registry import BUILDERS
from registry_pipeline.core.builders.system_health import MARKDOWN_ARTIFACT, SUMMARY_ARTIFACT
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, read_snapshot
from registry_pipeline_tests._helpers import copy_demo

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
