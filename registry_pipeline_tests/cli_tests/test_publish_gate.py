"""One publish gate: a snapshot becomes active only with a passing receipt for exactly its root,
whichever path moves the pointer (build, `pointers promote`, `accept`, `rollback`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots
from registry_pipeline_tests._helpers import (
    Entries,
    Run,
    copy_built,
    environment_kept,
    journal_records,
    registry,
)

ROLEPACK = Path("registries/rolepack/atelier_rolepack_v1.json")


def _build(cli: Run, root: Path) -> tuple[int, dict[str, dict[str, object]]]:
    code, out, _ = cli("build", "--workspace", str(root), "--json")
    return code, {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}


def _active(root: Path, registry_id: str) -> str | None:
    ref = PointerStore(Workspace(root)).read().active(registry_id)
    return ref.run_id if ref else None


def _remove_a_role(root: Path) -> None:
    document = json.loads((root / ROLEPACK).read_text())
    document["roles"] = document["roles"][1:]
    (root / ROLEPACK).write_text(json.dumps(document, indent=2) + "\n")


Failed = tuple[Path, str | None, int, dict[str, dict[str, object]]]


@pytest.fixture(scope="module")
def failed_once(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Failed:
    """A copy of the session's build after a role was removed from the rolepack and the demo
    built again (its rolepack snapshot sealed, failing append_only): the workspace, the rolepack
    snapshot active before that build, and the build's exit code and entries. Built once for
    the tests whose first failed build is only the way to that state; each takes a copy
    (`failed`)."""
    with environment_kept("DAGSTER_HOME", "REGISTRY_WORKSPACE"):  # the build's DAGSTER_HOME undone
        root = copy_built(built_demo_once[0], tmp_path_factory.mktemp("failed_rolepack"))
        published = _active(root, "rolepack")
        _remove_a_role(root)
        code, entries = _build(registry, root)
    return root, published, code, entries


@pytest.fixture
def failed(failed_once: Failed, tmp_path: Path) -> Failed:
    """A private copy of `failed_once`."""
    root, published, code, entries = failed_once
    return copy_built(root, tmp_path), published, code, entries


def _point_at(root: Path, registry_id: str, run_id: str) -> None:
    """Edit the pointer file by hand: `registry_id` names the snapshot `run_id`."""
    (snapshot,) = [s for s in list_snapshots(Workspace(root), registry_id) if s.run_id == run_id]
    path = root / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
    document = json.loads(path.read_text())
    for pointer in document["pointers"]:
        if pointer["registry_id"] == registry_id:
            pointer["active_ref"]["run_id"] = run_id
            pointer["active_ref"]["manifest_sha256"] = snapshot.root_sha256
    path.write_text(json.dumps(document, indent=2) + "\n")


def test_a_build_writes_a_receipt_for_every_checked_snapshot_and_the_journal_names_it(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    entries = built_entries
    store = ReceiptStore(Workspace(built))
    run_id = str(entries["rolepack"]["run_id"])
    (snapshot,) = [s for s in list_snapshots(Workspace(built), "rolepack") if s.run_id == run_id]
    receipt = store.find(snapshot.root_sha256)
    assert receipt is not None and receipt.passed and receipt.run_id == run_id
    names = [check["name"] for check in receipt.checks]
    assert names == ["seal_valid", "schema_valid", "append_only", "coordination"]
    assert receipt.build["kind"] == "dagster_run"
    promoted = [r for r in read_records(PointerStore(Workspace(built)).journal_path)
                if r.registry_id == "rolepack" and r.action == "promote"]  # fmt: skip
    assert promoted[-1].checks["receipt"]["sha256"] == receipt.sha256
    assert (built / promoted[-1].checks["receipt"]["path"]).read_bytes() == receipt.data()


def test_the_coordination_check_names_the_snapshots_it_read_never_the_working_tree(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    entries = built_entries
    packs = str(entries["threshold_packs_file"]["run_id"])
    workspace = Workspace(built)
    (snapshot,) = [s for s in list_snapshots(workspace, "allowed_operations")]
    receipt = ReceiptStore(workspace).find(snapshot.root_sha256)
    assert receipt is not None
    (coordination,) = [c for c in receipt.checks if c["name"] == "coordination"]
    assert {"registry_id": "threshold_packs_file", "run_id": packs} == {
        k: coordination["inputs"][0][k] for k in ("registry_id", "run_id")
    }
    assert len(coordination["inputs"][0]["root"]) == 64


def test_a_snapshot_that_failed_append_only_cannot_be_promoted_by_hand(
    cli: Run, failed: Failed
) -> None:
    built, published, code, entries = failed  # a role removed, then built
    assert code == 1 and entries["rolepack"]["promoted"] is False
    rejected = str(entries["rolepack"]["run_id"])
    code, out, err = cli(
        "pointers", "promote", "rolepack", rejected, "--reason", "force", "--workspace", str(built)
    )
    assert code == 1, out
    assert "CHECK_FAILED" in err and "append_only" in err and "ID_REMOVED" in err
    assert _active(built, "rolepack") == published
    code, out, err = cli(
        "pointers", "promote", "rolepack", rejected, "--json", "--workspace", str(built)
    )
    assert code == 1 and json.loads(err or out)["error"]["code"] == "CHECK_FAILED"


def test_a_rebuild_of_a_failed_snapshot_seals_anew_instead_of_reusing_it(
    cli: Run, failed: Failed
) -> None:
    built, _published, code, first = failed  # a role removed, then built
    assert code == 1
    code, second = _build(cli, built)
    assert code == 1
    assert second["rolepack"]["run_id"] != first["rolepack"]["run_id"]


def test_a_hand_edit_to_a_failed_snapshot_cannot_be_accepted(cli: Run, failed: Failed) -> None:
    built, _published, _code, entries = failed  # a role removed, then built
    snapshot = str(entries["rolepack"]["run_id"])
    _point_at(built, "rolepack", snapshot)
    code, _out, err = cli(
        "pointers", "accept", "rolepack", "--reason", "x", "--workspace", str(built)
    )
    assert code == 1 and "CHECK_FAILED" in err and "append_only" in err


def test_rollback_moves_only_to_a_snapshot_with_a_receipt(
    cli: Run, ws: Path, tmp_path: Path
) -> None:
    root = ws
    never_checked, old, new = (_seal(cli, root, tmp_path, n) for n in range(3))

    def pointers(*args: str) -> tuple[int, str, str]:
        return cli("pointers", *args, "--workspace", str(root))

    assert pointers("promote", "alpha", old)[0] == 0  # checked by the gate: a receipt
    assert pointers("promote", "alpha", new)[0] == 0
    code, _out, err = pointers("rollback", "alpha", "--to", never_checked, "--reason", "x")
    assert code == 1 and "NO_RECEIPT" in err and never_checked in err
    assert _active(root, "alpha") == new
    code, _out, err = pointers("rollback", "alpha", "--to", old, "--reason", "x")
    assert code == 0, err
    assert _active(root, "alpha") == old


def _seal(cli: Run, root: Path, tmp_path: Path, n: int) -> str:
    source = tmp_path / "ALPHA.json"
    source.write_text(json.dumps({"n": n}) + "\n")
    code, out, err = cli(
        "seal", str(source), "--registry-id", "alpha", "--workspace", str(root), "--json"
    )
    assert code == 0, err
    return str(json.loads(out)["run_id"])


def test_a_journal_symlinked_out_of_the_workspace_is_never_written(
    cli: Run, ws: Path, tmp_path: Path
) -> None:
    root = ws
    run_id = _seal(cli, root, tmp_path, 1)
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(b"")
    (root / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").symlink_to(outside)
    code, _out, err = cli("pointers", "promote", "alpha", run_id, "--workspace", str(root))
    assert code == 2 and "UNSAFE_PATH" in err and "ACTIVE_REGISTRY_POINTERS_JOURNAL" in err
    assert outside.read_bytes() == b""
    assert not (root / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json").exists()


def test_before_its_first_promotion_a_log_is_checked_against_the_snapshot_before_it(
    cli: Run, demo: Path
) -> None:
    """With no active pointer yet, the baseline of a sealed log is the snapshot before it, never
    itself: an emptied override log fails even before the log was ever promoted. Two runs of
    the build job as the UI runs them, with no daemon to promote them (nothing is active)."""
    import dagster as dg  # noqa: TID251  # the build job, as the UI runs it

    from registry_pipeline.definitions import BUILD_JOB, build_definitions
    from registry_pipeline.lib.build import QUIET_LOGS
    from registry_pipeline.lib.instance import open_instance

    def ui_build() -> dict[str, bool]:
        job = build_definitions(demo).resolve_job_def(BUILD_JOB)
        with open_instance(demo) as instance:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET_LOGS
            )
        return {
            event.event_specific_data.check_name: bool(event.event_specific_data.passed)
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
            and event.event_specific_data.asset_key == dg.AssetKey("write_overrides")
        }

    operation = {
        "operation_id": "OP-Z01", "name": "Weekly digest", "option": "Z", "builder": None,
        "enforcement_level": "C2", "threshold_pack": "weekly_pack_v1",
    }  # fmt: skip
    code, _out, err = cli(
        "add-entry", "--workspace", str(demo), "--type", "allowed_operations",
        "--entry-json", json.dumps(operation), "--no-check", "--reason", "pack lands next",
    )  # fmt: skip
    assert code == 0, err  # the override log appears, with one record
    assert ui_build()["append_only"] is True  # sealed, checked, not promoted
    assert _active(demo, "write_overrides") is None
    (demo / "registries/WRITE_OVERRIDES_v0_1.jsonl").write_bytes(b"")
    assert ui_build()["append_only"] is False
    assert _active(demo, "write_overrides") is None


def test_a_folder_dated_in_the_future_is_never_promoted(cli: Run, ws: Path, tmp_path: Path) -> None:
    """It would make every real snapshot sealed after it NOT_NEWER."""
    from datetime import UTC, datetime

    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files

    root = ws
    moment = datetime(2099, 1, 1, tzinfo=UTC)
    store = RunStore(Workspace(root), clock=lambda: moment)
    future = seal_files(store, RunSpec(registry_id="alpha"), {"ALPHA.json": b'{"n": 1}\n'})
    code, _out, err = cli("pointers", "promote", "alpha", future.run_id, "--workspace", str(root))
    assert code == 1 and "FUTURE_DATED" in err and "2099" in err
    assert _active(root, "alpha") is None
    # `pointers check` gives promote's verdict: no passing receipt for what promote refuses
    code, out, err = cli("pointers", "check", "alpha", future.run_id, "--workspace", str(root))
    assert code == 1 and "FUTURE_DATED" in err and "2099" in err, (out, err)
    assert not (root / ".codex/RECEIPTS").exists() or not any((root / ".codex/RECEIPTS").iterdir())


def _planted(root: Path, run_id: str, **envelope: object) -> Path:
    """A copy of the rolepack snapshot `run_id` under the next name, run.json updated with
    `envelope`, sealed again: what anyone who can write RUNS/ can plant."""
    import shutil

    from registry_pipeline_tests._helpers import reseal

    planted = root / ".codex/RUNS" / run_id.replace("__rolepack_build", "__rolepack_build__001")
    shutil.copytree(root / ".codex/RUNS" / run_id, planted)
    for path in [planted, *planted.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    document = json.loads((planted / "run.json").read_text())
    document.update(run_id=planted.name, **envelope)
    (planted / "run.json").write_text(json.dumps(document, indent=2) + "\n")
    reseal(planted)
    return planted


@pytest.mark.parametrize("created", ["2099-02-30T00:00:00Z", "9999-99-99T99:99:99Z"])
def test_a_folder_dated_no_real_time_is_refused_by_every_door(
    cli: Run, built: Path, created: str
) -> None:
    """A planted copy of the active rolepack whose created_utc fits the envelope's pattern but
    names no time: FUTURE_DATED could not date it, and ordered as text it passed every real
    snapshot, so a build reused and promoted it and every later build was NOT_NEWER."""
    active = _active(built, "rolepack")
    assert active is not None
    planted = _planted(built, active, created_utc=created)
    code, out, _err = cli("validate", str(planted), "--json", "--workspace", str(built))
    assert code == 1 and "RUN_JSON_INVALID" in out and "not a real UTC time" in out, out
    code, out, err = _pointers(cli, built, "check", "rolepack", planted.name)
    assert code == 1 and "RUN_JSON_INVALID" in out + err, (out, err)
    code, _out, err = _pointers(cli, built, "promote", "rolepack", planted.name, "--reason", "x")
    assert code == 1 and "RUN_JSON_INVALID" in err, err
    document = json.loads((built / ROLEPACK).read_text())
    document["roles"][0]["display_name"] = "Renamed"
    (built / ROLEPACK).write_text(json.dumps(document, indent=2) + "\n")
    code, entries = _build(cli, built)
    assert code == 0 and entries["rolepack"]["promoted"] is True, entries["rolepack"]
    assert _active(built, "rolepack") not in (active, planted.name)


# -- doors a review found beside the gate ---------------------------------------------------------


def _seal_rolepack(cli: Run, root: Path, document: dict[str, object], tmp_path: Path) -> str:
    """`registry seal` of a rolepack file: a snapshot no build checked."""
    folder = tmp_path / f"rp{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    source = folder / ROLEPACK.name
    source.write_text(json.dumps(document, indent=2) + "\n")
    code, out, err = cli(
        "seal", str(source), "--registry-id", "rolepack", "--workspace", str(root), "--json"
    )
    assert code == 0, err
    return str(json.loads(out)["run_id"])


def _pointers(cli: Run, root: Path, *args: str) -> tuple[int, str, str]:
    return cli("pointers", *args, "--workspace", str(root))


def test_an_unchanged_rebuild_after_a_failed_coordination_fails_again(
    cli: Run, built: Path
) -> None:
    (built / "registries/threshold_packs/drift_strict_pack_v1.json").unlink()
    code, entries = _build(cli, built)
    assert code == 1 and entries["allowed_operations"]["checks"]["coordination"] is False
    code, entries = _build(cli, built)  # nothing changed: the same verdict
    assert code == 1 and entries["allowed_operations"]["checks"]["coordination"] is False


def test_a_snapshot_whose_move_breaks_an_active_referrer_is_refused(cli: Run, built: Path) -> None:
    """A threshold pack removed that the active allowed_operations still names: the build fails
    (allowed_operations' coordination) but the threshold snapshot passed its own checks, and a
    person promoted it by hand, breaking the active allowed_operations (docs/
    registry_coordination.md checks a rule in both directions); a build of the pack alone
    promoted it too."""
    (built / "registries/threshold_packs/freshness_default_pack_v1.json").unlink()
    code, entries = _build(cli, built)
    assert code == 1 and entries["allowed_operations"]["checks"]["coordination"] is False
    before = _active(built, "threshold_packs_file")
    newest = list_snapshots(Workspace(built), "threshold_packs_file")[-1].run_id
    assert newest != before
    code, out, err = _pointers(cli, built, "check", "threshold_packs_file", newest, "--json")
    assert code == 1 and json.loads(out)["admissible"] is False, (out, err)
    assert "REFERRER_BROKEN" in err and "allowed_operations" in err, err
    code, _out, err = _pointers(
        cli, built, "promote", "threshold_packs_file", newest, "--reason", "looks fine"
    )
    assert code == 1 and "REFERRER_BROKEN" in err and "freshness_default_pack_v1" in err, err
    assert _active(built, "threshold_packs_file") == before
    code, out, err = cli(
        "build", "--select", "threshold_packs_file", "--workspace", str(built), "--json"
    )
    assert code == 1, (out, err)
    assert _active(built, "threshold_packs_file") == before


def test_a_held_referrer_sealed_in_the_same_build_is_judged_as_it_stays_active(
    cli: Run, built: Path
) -> None:
    """allowed_operations held; a build removes a threshold pack it names: the build checked the
    new allowed_operations against the new packs, but the held one stays active, and the
    packs' promotion broke it."""
    code, _out, err = _pointers(cli, built, "hold", "allowed_operations", "--reason", "audit")
    assert code == 0, err
    before = _active(built, "threshold_packs_file")
    (built / "registries/threshold_packs/freshness_default_pack_v1.json").unlink()
    operations = built / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = json.loads(operations.read_text())
    for operation in document["operations"]:
        if operation.get("threshold_pack") == "freshness_default_pack_v1":
            operation["threshold_pack"] = "drift_strict_pack_v1"
    operations.write_text(json.dumps(document, indent=2) + "\n")
    code, entries = _build(cli, built)
    assert code == 1
    assert entries["threshold_packs_file"]["promoted"] is False
    assert "REFERRER_BROKEN" in entries["threshold_packs_file"]["promotion"]
    assert _active(built, "threshold_packs_file") == before


def test_a_build_never_promotes_a_referrer_of_a_snapshot_it_could_not_promote(
    cli: Run, example: Path
) -> None:
    """A module instance renamed with its maturity record: the instances' promotion is refused
    (the active interfaces still name the old one), but the maturity snapshot, checked against
    the new instances sealed beside it, was promoted, naming an instance no active snapshot has."""
    assert _build(cli, example)[0] == 0
    overview = example / "modules/overview"
    for name in ("instance_registry.yaml", "instance_maturity.yaml"):
        path = overview / name
        path.write_text(path.read_text().replace("module_id: search_indexer", "module_id: new_svc"))
    before = _active(example, "module_maturity")
    code, out, err = cli("build", "--select", "module_instance", "--select", "module_maturity",
                         "--workspace", str(example), "--json")  # fmt: skip
    assert code == 1, out + err
    entries = {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}
    assert entries["module_instance"]["promoted"] is False
    assert "REFERRER_BROKEN" in entries["module_instance"]["promotion"]
    assert entries["module_maturity"]["promoted"] is False, entries["module_maturity"]
    assert _active(example, "module_maturity") == before


def test_a_snapshot_is_checked_against_the_active_snapshots_it_reads(cli: Run, built: Path) -> None:
    """A threshold pack added in a build that failed elsewhere, the packs held (the pack's
    snapshot passed its checks, never promoted); then allowed_operations names it and is built
    alone: its check read the newest checked threshold snapshot, passed, and was promoted,
    naming a pack the active threshold snapshot does not have. It reads the active one."""
    code, _out, err = _pointers(cli, built, "hold", "threshold_packs_file", "--reason", "audit")
    assert code == 0, err
    packs = built / "registries/threshold_packs"
    (packs / "extra_pack_v1.json").write_bytes((packs / "drift_strict_pack_v1.json").read_bytes())
    original = (built / ROLEPACK).read_bytes()
    _remove_a_role(built)
    code, entries = _build(cli, built)
    assert code == 1 and entries["threshold_packs_file"]["promoted"] is False
    assert _pointers(cli, built, "release", "threshold_packs_file")[0] == 0
    (built / ROLEPACK).write_bytes(original)
    operations = built / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = json.loads(operations.read_text())
    document["operations"][0]["threshold_pack"] = "extra_pack_v1"
    operations.write_text(json.dumps(document, indent=2) + "\n")
    before = _active(built, "allowed_operations")
    code, out, err = cli(
        "build", "--select", "allowed_operations", "--workspace", str(built), "--json"
    )
    assert code == 1 and "extra_pack_v1" in out, (out, err)
    (entry,) = [
        e for e in json.loads(out)["registries"] if e["registry_id"] == "allowed_operations"
    ]
    assert entry["checks"]["coordination"] is False and entry["promoted"] is False
    assert _active(built, "allowed_operations") == before
    code, entries = _build(cli, built)  # the pack and its name built together: both promoted
    assert code == 0
    pair = ("threshold_packs_file", "allowed_operations")
    assert {rid: entries[rid]["promoted"] for rid in pair} == dict.fromkeys(pair, True)


def test_a_receipt_checked_against_an_older_baseline_is_checked_again(
    cli: Run, built: Path, tmp_path: Path
) -> None:
    original = json.loads((built / ROLEPACK).read_text())
    first = original["roles"][0]
    role = json.loads(json.dumps(first).replace(first["role_id"], "zzz_new_1"))
    grown = {**original, "roles": [*original["roles"], role]}
    with_new_role = _seal_rolepack(cli, built, grown, tmp_path)
    without_it = _seal_rolepack(cli, built, original, tmp_path)
    assert _pointers(cli, built, "check", "rolepack", without_it)[0] == 0  # against the first
    code, _out, err = _pointers(cli, built, "promote", "rolepack", with_new_role)
    assert code == 0, err
    code, _out, err = _pointers(cli, built, "promote", "rolepack", without_it)
    assert code == 1 and "CHECK_FAILED" in err and "ID_REMOVED" in err
    assert _active(built, "rolepack") == with_new_role


def test_accept_checks_a_hand_edit_against_the_journals_snapshot_not_itself(
    cli: Run, built: Path, tmp_path: Path
) -> None:
    document = json.loads((built / ROLEPACK).read_text())
    shrunk = _seal_rolepack(cli, built, {**document, "roles": document["roles"][1:]}, tmp_path)
    _point_at(built, "rolepack", shrunk)
    code, _out, err = _pointers(cli, built, "accept", "rolepack", "--reason", "x")
    assert code == 1 and "CHECK_FAILED" in err and "ID_REMOVED" in err


def test_a_receipt_run_by_other_checks_than_the_catalog_asks_now_is_checked_again(
    cli: Run, built: Path, tmp_path: Path
) -> None:
    document = json.loads((built / ROLEPACK).read_text())
    shrunk = _seal_rolepack(cli, built, {**document, "roles": document["roles"][1:]}, tmp_path)
    catalog = built / "registries/REGISTRY_CATALOG_v0_2.json"
    kept = catalog.read_bytes()
    catalog.unlink()  # no catalog: seal and schemas are all a snapshot is checked for
    assert _pointers(cli, built, "check", "rolepack", shrunk)[0] == 0
    catalog.write_bytes(kept)
    code, _out, err = _pointers(cli, built, "promote", "rolepack", shrunk)
    assert code == 1 and "CHECK_FAILED" in err and "append_only" in err


def test_a_forged_last_journal_record_is_never_applied(cli: Run, failed: Failed) -> None:
    built, published, _code, entries = failed  # a role removed, then built
    rejected = str(entries["rolepack"]["run_id"])
    (snapshot,) = [s for s in list_snapshots(Workspace(built), "rolepack") if s.run_id == rejected]
    journal = built / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    last = json.loads(journal.read_bytes().splitlines()[-1])
    rolepack = next(
        record for line in reversed(journal.read_bytes().splitlines())
        for record in journal_records(json.loads(line)) if record["registry_id"] == "rolepack"
    )  # fmt: skip
    forged = {**rolepack, "seq": last["seq"] + 1, "prev_sha256": "0" * 64, "action": "promote",
              "from_ref": rolepack["to_ref"],
              "to_ref": {**rolepack["to_ref"], "run_id": rejected,
                         "manifest_sha256": snapshot.root_sha256}}  # fmt: skip
    with journal.open("ab") as handle:
        handle.write(json.dumps(forged, separators=(",", ":"), sort_keys=True).encode() + b"\n")
    code, _out, err = _pointers(cli, built, "hold", "run_index", "--reason", "x")
    assert code == 1 and "CHAIN_BROKEN" in err
    assert _active(built, "rolepack") == published


def test_a_hand_written_receipt_of_the_wrong_shape_is_refused_not_internal(
    cli: Run, ws: Path, tmp_path: Path
) -> None:
    import rfc8785

    root = ws
    run_id = _seal(cli, root, tmp_path, 1)
    (snapshot,) = list_snapshots(Workspace(root), "alpha")
    receipt = {
        "receipt_version": "0.1", "registry_id": "alpha", "run_id": run_id,
        "root_sha256": snapshot.root_sha256, "passed": False, "build": {"kind": "x", "id": "y"},
        "checks": [{"name": "seal_valid", "passed": False, "reason_codes": [], "description": 5,
                    "inputs": []}],
        "created_utc": "2026-11-23T00:00:00Z", "tool_version": "0",
    }  # fmt: skip
    folder = root / ".codex/RECEIPTS"
    folder.mkdir(parents=True)
    (folder / f"{snapshot.root_sha256}.jsonl").write_bytes(rfc8785.dumps(receipt) + b"\n")
    code, _out, err = _pointers(cli, root, "promote", "alpha", run_id)
    assert code == 1 and "RECEIPT_INVALID" in err


def test_check_refuses_a_snapshot_without_the_artifact_its_pointer_names(
    cli: Run, built: Path
) -> None:
    """Sealed without its primary artifact: promote refuses it (TARGET_INVALID); `pointers
    check` said PASS, admissible, and wrote a passing receipt that other registries' checks
    then read."""
    active = _active(built, "rolepack")
    assert active is not None
    planted = _planted(built, active)
    (planted / ROLEPACK.name).unlink()
    from registry_pipeline_tests._helpers import reseal

    reseal(planted)
    receipts = sorted((built / ".codex/RECEIPTS").iterdir())
    code, out, err = _pointers(cli, built, "check", "rolepack", planted.name, "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "TARGET_INVALID", (out, err)
    assert ROLEPACK.name in json.loads(out)["error"]["message"]
    assert sorted((built / ".codex/RECEIPTS").iterdir()) == receipts  # none written
    code, _out, err = _pointers(cli, built, "promote", "rolepack", planted.name, "--reason", "x")
    assert code == 1 and "TARGET_INVALID" in err and ROLEPACK.name in err, err


def test_check_after_a_failed_receipt_gives_promotes_verdict(cli: Run, ws: Path) -> None:
    """A snapshot that once failed a blocking check never becomes active; `pointers check`
    passing now must not say otherwise (exit 0) while promote refuses it (CHECK_FAILED)."""
    from registry_pipeline.core.gate.gate import record
    from registry_pipeline.core.gate.verdict import CheckVerdict
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files

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
    code, _out, err = cli("pointers", "promote", "alpha", sealed.run_id, "--workspace", str(ws))
    assert code == 1 and "CHECK_FAILED" in err
    assert _active(ws, "alpha") is None
