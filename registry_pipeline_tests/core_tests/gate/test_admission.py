"""One publish gate: a current passing receipt of exactly that root, none failed, at every door."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.gate.receipts import RECEIPTS_RELPATH
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import reseal, seal_checked, unseal
from registry_pipeline_tests.core_tests.gate._support import (
    PERSON,
    ROLEPACK,
    active,
    build,
    check,
    edit_json,
    failures,
    move,
    point_by_hand,
    seal,
)

REMOVED = {"append_only": ["CONTRACT_REMOVED", "ID_REMOVED"]}
"""What a check of the rolepack without its first role finds (`_shrink`)."""


def _shrink(root: Path) -> None:
    """The rolepack without its first role."""
    edit_json(root / ROLEPACK, lambda document: document.update(roles=document["roles"][1:]))


def _refused(root: Path, action: str, registry_id: str, run_id: str = "") -> str:
    """The code of the gate's refusal of `action` by a person."""
    with pytest.raises(RegistryError) as refused:
        if action == "accept":
            PointerStore(Workspace(root)).accept(registry_id, reason="x", actor=PERSON,
                                                 admit=admission)  # fmt: skip
        else:
            move(root, action, registry_id, run_id)
    return refused.value.code


def test_a_snapshot_that_failed_a_check_is_refused_by_promote_and_accept(published: Path) -> None:
    before = active(published, "rolepack")
    _shrink(published)
    ((failed, outcome),) = build(published, "rolepack").values()
    assert outcome == "failed" and failures(published, failed, "rolepack") == REMOVED
    assert _refused(published, "promote", "rolepack", failed) == "CHECK_FAILED"
    point_by_hand(published, "rolepack", failed)
    assert _refused(published, "accept", "rolepack") == "CHECK_FAILED"
    assert PointerStore(Workspace(published)).recorded("rolepack").run_id == before


@pytest.mark.parametrize("since", ["its baseline moved", "the catalog asks other checks"])
def test_a_receipt_is_checked_again_once_what_it_was_checked_against_changed(
    published: Path, since: str
) -> None:
    """A shrunk rolepack that passed before a grown one was active, or with no catalog."""
    original = (published / ROLEPACK).read_bytes()
    catalog = published / "registries/REGISTRY_CATALOG_v0_2.json"
    if since == "its baseline moved":
        first = json.loads(original)["roles"][0]
        role = json.loads(json.dumps(first).replace(first["role_id"], "zzz_new_1"))
        edit_json(published / ROLEPACK, lambda document: document["roles"].append(role))
        grown = seal(published, "rolepack")
        (published / ROLEPACK).write_bytes(original)
        shrunk = seal(published, "rolepack")  # as the active one: nothing removed yet
        assert check(published, "rolepack", shrunk).passed
        move(published, "promote", "rolepack", grown.name)
    else:
        _shrink(published)
        shrunk = seal(published, "rolepack")
        kept = catalog.read_bytes()
        catalog.unlink()
        assert check(published, "rolepack", shrunk).passed
        catalog.write_bytes(kept)
    assert _refused(published, "promote", "rolepack", shrunk.name) == "CHECK_FAILED"
    assert failures(published, shrunk.name, "rolepack") == REMOVED


def test_accept_checks_a_hand_edit_against_the_journals_snapshot_not_itself(
    published: Path,
) -> None:
    _shrink(published)
    shrunk = seal(published, "rolepack")  # never checked
    point_by_hand(published, "rolepack", shrunk.name)
    assert _refused(published, "accept", "rolepack") == "CHECK_FAILED"
    assert failures(published, shrunk.name, "rolepack") == REMOVED


def test_a_log_is_checked_against_the_snapshot_before_it_even_before_its_first_promotion(
    demo: Path,
) -> None:
    """The override log emptied by hand fails append_only, promoted or not; deleted, it stays."""
    log = demo / "registries/WRITE_OVERRIDES_v0_1.jsonl"
    assert "write_overrides" not in load_catalog(Workspace(demo)).ids  # no override, no log
    log.write_bytes(b'{"who": "ops@example", "reason": "pack lands next"}\n')
    recorded = log.read_bytes()
    spec = load_catalog(Workspace(demo)).get("write_overrides")
    assert (spec.kind, spec.sources, spec.artifacts) == (
        "log",
        (str(log.relative_to(demo)),),
        ("WRITE_OVERRIDES_v0_1.jsonl",),
    )
    assert spec.active_pointer and not spec.delta_log.covered and not spec.in_scorecard

    def append_only(contents: bytes) -> bool:
        log.write_bytes(contents)
        folder = seal(demo, "write_overrides")
        (verdict,) = [c for c in check(demo, "write_overrides", folder).checks
                      if c["name"] == "append_only"]  # fmt: skip
        return bool(verdict["passed"])

    assert append_only(recorded) and not append_only(b"")  # nothing active yet
    assert active(demo, "write_overrides") is None
    log.write_bytes(recorded)
    assert build(demo, "write_overrides")["write_overrides"][1] == "promoted"
    assert not append_only(b"")  # the active one is its baseline now
    log.unlink()
    assert "write_overrides" in load_catalog(Workspace(demo)).ids  # it has snapshots
    with pytest.raises(RegistryError) as missing:
        seal(demo, "write_overrides")
    assert missing.value.code == "SOURCE_NOT_FOUND"
    assert append_only(recorded)


PLANTED = {
    "future": "FUTURE_DATED",
    "no real time": "TARGET_INVALID",
    "receipt of another shape": "RECEIPT_INVALID",
    "failed once": "CHECK_FAILED",
}
"""What promote says of each snapshot `test_promote_refuses_what_no_build_would_admit` plants."""


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_promote_refuses_what_no_build_would_admit(workspace: Workspace, planted: str) -> None:
    """What anyone who can write RUNS/ plants: a date that is 2099 or no time, a forged receipt."""
    run_id, root = seal_checked(workspace.root, "alpha", 1, "none")
    if planted == "failed once":
        run_id = seal_checked(workspace.root, "alpha", 2, "failed")[0]
    elif planted == "future":
        store = RunStore(workspace, clock=lambda: datetime(2099, 1, 1, tzinfo=UTC))
        run_id = seal_files(store, RunSpec(registry_id="alpha"), {"ALPHA.json": b"{}\n"}).run_id
    elif planted == "no real time":
        folder = workspace.runs_dir / seal_checked(workspace.root, "alpha", 2, "passed")[0]
        unseal(folder)
        edit_json(folder / "run.json", lambda d: d.update(created_utc="2099-02-30T00:00:00Z"))
        reseal(folder)
        problems = inspect_run_folder(folder).problems
        assert [p.code for p in problems] == ["RUN_JSON_INVALID"]
        run_id = folder.name
    elif planted == "receipt of another shape":
        folder = workspace.root / RECEIPTS_RELPATH
        folder.mkdir(parents=True)
        receipt = {
            "receipt_version": "0.1", "registry_id": "alpha", "run_id": run_id,
            "root_sha256": root, "passed": False, "build": {"kind": "x", "id": "y"},
            "checks": [{"name": "seal_valid", "passed": False, "reason_codes": [],
                        "description": 5, "inputs": []}],
            "created_utc": "2026-11-23T00:00:00Z", "tool_version": "0",
        }  # fmt: skip
        (folder / f"{root}.jsonl").write_bytes(rfc8785.dumps(receipt) + b"\n")
    with pytest.raises(RegistryError) as refused:
        PointerStore(workspace).promote("alpha", run_id, relpath="ALPHA.json", reason="x",
                                        actor=PERSON, admit=admission)  # fmt: skip
    assert refused.value.code == PLANTED[planted]
    assert PointerStore(workspace).read().active("alpha") is None
