"""The publish gate as builds and `registry pointers` show it (its rules: core_tests/gate/)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from registry_pipeline.core.gate.gate import record
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots
from registry_pipeline_tests._helpers import (
    Entries,
    Run,
    build_entries,
    reseal,
    seal_checked,
    unseal,
)
from registry_pipeline_tests.core_tests.gate._support import active, edit_json

ROLEPACK = Path("registries/rolepack/atelier_rolepack_v1.json")


def test_a_build_writes_a_receipt_for_every_checked_snapshot_and_the_journal_names_it(
    built: Path, built_entries: Entries
) -> None:
    store, workspace = ReceiptStore(Workspace(built)), Workspace(built)
    run_id = str(built_entries["rolepack"]["run_id"])
    (snapshot,) = [s for s in list_snapshots(workspace, "rolepack") if s.run_id == run_id]
    receipt = store.verdicts(snapshot.root_sha256).latest
    assert receipt is not None and receipt.passed and receipt.run_id == run_id
    names = [check["name"] for check in receipt.checks]
    assert names == ["seal_valid", "schema_valid", "append_only", "coordination"]
    assert receipt.build["kind"] == "dagster_run"
    promoted = [r for r in read_records(PointerStore(workspace).journal_path)
                if r.registry_id == "rolepack" and r.action == "promote"]  # fmt: skip
    assert promoted[-1].checks["receipt"]["sha256"] == receipt.sha256
    assert (built / promoted[-1].checks["receipt"]["path"]).read_bytes() == receipt.data()
    # coordination names the snapshots it read, never the working tree
    (operations,) = list_snapshots(workspace, "allowed_operations")
    checked = store.verdicts(operations.root_sha256).latest
    assert checked is not None
    (coordination,) = [c for c in checked.checks if c["name"] == "coordination"]
    (read,) = coordination["inputs"]
    packs = str(built_entries["threshold_packs_file"]["run_id"])
    assert (read["registry_id"], read["run_id"], len(read["root"])) == (
        "threshold_packs_file", packs, 64
    )  # fmt: skip


def test_a_rebuild_after_failed_checks_seals_anew_and_fails_again(cli: Run, built: Path) -> None:
    """A role and a pack removed, built twice unchanged: no failed snapshot is reused or passes."""
    edit_json(built / ROLEPACK, lambda document: document.update(roles=document["roles"][1:]))
    (built / "registries/threshold_packs/drift_strict_pack_v1.json").unlink()
    code, first = build_entries(cli, built)
    assert code == 1 and first["rolepack"]["promoted"] is False
    assert first["allowed_operations"]["checks"]["coordination"] is False
    code, second = build_entries(cli, built)
    assert code == 1 and second["rolepack"]["run_id"] != first["rolepack"]["run_id"]
    assert second["allowed_operations"]["checks"]["coordination"] is False


def test_a_journal_symlinked_out_of_the_workspace_is_never_written(
    cli: Run, ws: Path, tmp_path: Path
) -> None:
    run_id, _root = seal_checked(ws, "alpha", 1, "none")
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(b"")
    (ws / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").symlink_to(outside)
    code, out, _err = cli("pointers", "promote", "alpha", run_id, "--workspace", str(ws), "--json")
    error = json.loads(out)["error"]
    assert (code, error["code"]) == (2, "UNSAFE_PATH") and "_JOURNAL_" in error["path"]
    assert outside.read_bytes() == b""
    assert not (ws / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json").exists()


def test_a_folder_dated_in_the_future_is_refused_by_promote_and_check(cli: Run, ws: Path) -> None:
    """`pointers check` gives promote's verdict: no passing receipt for what promote refuses."""
    store = RunStore(Workspace(ws), clock=lambda: datetime(2099, 1, 1, tzinfo=UTC))
    future = seal_files(store, RunSpec(registry_id="alpha"), {"ALPHA.json": b'{"n": 1}\n'})
    for command in ("promote", "check"):
        code, out, _err = _pointers(cli, ws, command, "alpha", future.run_id, "--json")
        assert (code, json.loads(out)["error"]["code"]) == (1, "FUTURE_DATED")
    assert active(ws, "alpha") is None
    assert not (ws / ".codex/RECEIPTS").exists() or not any((ws / ".codex/RECEIPTS").iterdir())


def _pointers(cli: Run, root: Path, *args: str) -> tuple[int, str, str]:
    return cli("pointers", *args, "--workspace", str(root))


def test_a_held_referrer_sealed_in_the_same_build_is_judged_as_it_stays_active(
    cli: Run, built: Path
) -> None:
    """A build's promotion judged as its set would stand (core: test_referrers.py), end to end."""
    code, _out, err = _pointers(cli, built, "hold", "allowed_operations", "--reason", "audit")
    assert code == 0, err
    before = active(built, "threshold_packs_file")
    (built / "registries/threshold_packs/freshness_default_pack_v1.json").unlink()
    operations = built / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = json.loads(operations.read_text())
    for operation in document["operations"]:
        if operation.get("threshold_pack") == "freshness_default_pack_v1":
            operation["threshold_pack"] = "drift_strict_pack_v1"
    operations.write_text(json.dumps(document, indent=2) + "\n")
    code, entries = build_entries(cli, built)
    assert code == 1
    assert entries["threshold_packs_file"]["promoted"] is False
    assert "REFERRER_BROKEN" in entries["threshold_packs_file"]["promotion"]
    assert active(built, "threshold_packs_file") == before


def test_check_refuses_a_snapshot_without_the_artifact_its_pointer_names(
    cli: Run, built: Path
) -> None:
    """`pointers check` passed a copy without its artifact and wrote a receipt others read."""
    current = str(active(built, "rolepack"))
    planted = built / ".codex/RUNS" / current.replace("__rolepack_build", "__rolepack_build__001")
    shutil.copytree(built / ".codex/RUNS" / current, planted)
    unseal(planted)
    document = json.loads((planted / "run.json").read_text())
    (planted / "run.json").write_text(json.dumps({**document, "run_id": planted.name}))
    (planted / ROLEPACK.name).unlink()
    reseal(planted)
    receipts = sorted((built / ".codex/RECEIPTS").iterdir())
    for command in ("check", "promote"):
        code, out, err = _pointers(cli, built, command, "rolepack", planted.name, "--json")
        error = json.loads(out)["error"]
        assert (code, error["code"], error["path"]) == (1, "TARGET_INVALID", str(planted)), err
    assert sorted((built / ".codex/RECEIPTS").iterdir()) == receipts  # none written


def test_check_after_a_failed_receipt_gives_promotes_verdict(cli: Run, ws: Path) -> None:
    """A snapshot that failed once: `pointers check` passing now says not admissible, as promote."""
    store = RunStore(Workspace(ws))
    sealed = seal_files(store, RunSpec(registry_id="alpha"), {"ALPHA.json": b'{"n": 1}\n'})
    folder = ws / ".codex/RUNS" / sealed.run_id
    failed = CheckVerdict("seal_valid", False, "damaged then", {"reason_codes": ["HASH_MISMATCH"]})
    record(
        Workspace(ws), "alpha", folder, sealed.root_sha256, [failed], {"kind": "test", "id": "t1"}
    )
    code, out, err = cli(
        "pointers", "check", "alpha", sealed.run_id, "--workspace", str(ws), "--json"
    )
    document = json.loads(out)
    assert code == 1 and document["passed"] is True and document["admissible"] is False, out
    assert "CHECK_FAILED" in err and "damaged then" in err, err
    code, out, _err = _pointers(cli, ws, "promote", "alpha", sealed.run_id, "--json")
    assert (code, json.loads(out)["error"]["code"]) == (1, "CHECK_FAILED")
    assert active(ws, "alpha") is None
