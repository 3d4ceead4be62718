"""A move is judged against the active snapshots it reads and those that read it, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import refused_by_gate
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests.core_tests.gate._support import (
    OPERATIONS,
    PACKS,
    PERSON,
    active,
    build,
    check,
    edit_json,
    failures,
    move,
    seal,
)


def test_a_snapshot_whose_move_breaks_an_active_referrer_is_refused(published: Path) -> None:
    """A pack the active allowed_operations names, removed: no person or build makes it active."""
    before = active(published, "threshold_packs_file")
    (published / PACKS / "freshness_default_pack_v1.json").unlink()
    folder = seal(published, "threshold_packs_file")
    root = str(read_snapshot(folder, "threshold_packs_file").root_sha256)
    assert check(published, "threshold_packs_file", folder).passed
    refusal = refused_by_gate(Workspace(published), "threshold_packs_file", folder, root)
    assert refusal is not None and refusal.code == "REFERRER_BROKEN"  # `pointers check`'s verdict
    with pytest.raises(RegistryError) as refused:
        move(published, "promote", "threshold_packs_file", folder.name)
    assert refused.value.code == "REFERRER_BROKEN"
    assert build(published, "threshold_packs_file")["threshold_packs_file"][1] == "REFERRER_BROKEN"
    assert active(published, "threshold_packs_file") == before


def test_a_held_referrer_sealed_in_the_same_build_is_judged_as_it_stays_active(
    published: Path,
) -> None:
    """allowed_operations held: the packs are judged against it, not the one built beside them."""
    PointerStore(Workspace(published)).hold("allowed_operations", reason="audit", actor=PERSON)
    before = active(published, "threshold_packs_file")
    (published / PACKS / "freshness_default_pack_v1.json").unlink()

    def rename(document: dict[str, list[dict[str, str]]]) -> None:
        for operation in document["operations"]:
            if operation.get("threshold_pack") == "freshness_default_pack_v1":
                operation["threshold_pack"] = "drift_strict_pack_v1"

    edit_json(published / OPERATIONS, rename)
    outcomes = build(published, "threshold_packs_file", "allowed_operations")
    assert {rid: outcome for rid, (_run, outcome) in outcomes.items()} == {
        "threshold_packs_file": "REFERRER_BROKEN", "allowed_operations": "HELD"
    }  # fmt: skip
    assert active(published, "threshold_packs_file") == before


def test_a_build_never_promotes_a_referrer_of_a_snapshot_it_could_not_promote(
    example: Path,
) -> None:
    """A module instance renamed with its maturity record: neither moves (interfaces name it)."""
    every = [spec.registry_id for spec in load_catalog(Workspace(example)).registries
             if spec.is_source]  # fmt: skip
    assert {outcome for _run, outcome in build(example, *every).values()} == {"promoted"}
    for name in ("instance_registry.yaml", "instance_maturity.yaml"):
        path = example / "modules/overview" / name
        path.write_text(path.read_text().replace("module_id: search_indexer", "module_id: new_svc"))
    before = active(example, "module_maturity")
    outcomes = build(example, "module_instance", "module_maturity")
    assert {rid: outcome for rid, (_run, outcome) in outcomes.items()} == {
        "module_instance": "REFERRER_BROKEN", "module_maturity": "CHECK_FAILED"
    }  # fmt: skip
    assert active(example, "module_maturity") == before


def test_a_snapshot_is_checked_against_the_active_snapshots_it_reads(published: Path) -> None:
    """A pack checked but held is not there for allowed_operations; built together, both move."""
    store = PointerStore(Workspace(published))
    store.hold("threshold_packs_file", reason="audit", actor=PERSON)
    packs = published / PACKS
    (packs / "extra_pack_v1.json").write_bytes((packs / "drift_strict_pack_v1.json").read_bytes())
    assert build(published, "threshold_packs_file")["threshold_packs_file"][1] == "HELD"
    store.release("threshold_packs_file", reason="audit done", actor=PERSON)
    edit_json(
        published / OPERATIONS,
        lambda document: document["operations"][0].update(threshold_pack="extra_pack_v1"),
    )
    run_id, outcome = build(published, "allowed_operations")["allowed_operations"]
    assert outcome == "failed" and list(failures(published, run_id, "allowed_operations")) == [
        "coordination"
    ]  # fmt: skip
    outcomes = build(published, "threshold_packs_file", "allowed_operations")
    assert {outcome for _run, outcome in outcomes.values()} == {"promoted"}
