"""A workspace on object storage (REGISTRY_STORE), on a real S3 server: two checkouts of the demo
workspace ("machines") share only the bucket; what one builds, promotes or seals, the other
sees through every command, and what the protocol promises holds at the product level."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.folders import published
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline_tests._helpers import (
    REPO,
    active_runs,
    copy_demo,
    environment_kept,
    journal_records,
    registry,
    registry_json,
)
from registry_pipeline_tests.core_tests.objstore.test_ledger import head
from registry_pipeline_tests.s3_tests._server import SeaweedServer


def test_what_one_machine_builds_the_other_sees_through_every_command(
    machines: tuple[Path, Path], store: ObjectStore
) -> None:
    a, b = machines
    built = registry_json("build", "--workspace", str(a))
    assert built["success"] is True
    sealed = {entry["run_id"] for entry in built["registries"]}  # type: ignore[union-attr]
    assert sealed <= set(published(store, "RUNS"))  # every folder is in the bucket

    assert active_runs(b) == active_runs(a) and any(active_runs(b).values())
    assert (b / ".codex" / JOURNAL_NAME).read_bytes() == (a / ".codex" / JOURNAL_NAME).read_bytes()
    assert sealed <= {p.name for p in (b / ".codex" / "RUNS").iterdir()}
    from registry_pipeline.core.gate.receipts import ReceiptStore
    from registry_pipeline.core.workspace.layout import Workspace

    for entry in built["registries"]:  # type: ignore[union-attr]
        if entry["promoted"]:  # the receipt a's gate wrote, read on b from the bucket
            receipt = ReceiptStore(Workspace(b)).find(entry["root_sha256"])
            assert receipt is not None and receipt.passed and receipt.run_id == entry["run_id"]
    for command in (["pointers", "verify"], ["validate", "--active"], ["delta", "verify"],
                    ["runs", "list"]):  # fmt: skip
        code, out, err = registry(*command, "--workspace", str(b))
        assert code == 0, (command, out, err)

    # B moves a pointer: A sees it, and its journal, at its next command
    drift = str(active_runs(b)["drift_signals"])
    code, out, err = registry("pointers", "hold", "drift_signals", "--reason", "on b",
                              "--workspace", str(b))  # fmt: skip
    assert code == 0, out + err
    code, out, err = registry("pointers", "promote", "drift_signals", drift, "--workspace", str(a))
    assert code == 0, out + err  # a person may promote while held: already active, no change
    code, out, _ = registry("pointers", "history", "drift_signals", "--workspace", str(a))
    assert "on b" in out
    assert (b / ".codex" / JOURNAL_NAME).read_bytes() != b""
    code, _, _ = registry("pointers", "verify", "--workspace", str(b))
    assert code == 0
    assert (a / ".codex" / JOURNAL_NAME).read_bytes() == (b / ".codex" / JOURNAL_NAME).read_bytes()


def test_a_local_edit_of_the_copy_is_replaced_by_the_bucket(
    built_machines: tuple[Path, Path], store: ObjectStore
) -> None:
    a, _ = built_machines
    pointers = a / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    truth = pointers.read_bytes()
    pointers.write_bytes(truth.replace(b"drift_signals", b"drift_signalz"))
    (a / ".codex" / JOURNAL_NAME).write_bytes(b"")
    code, out, err = registry("pointers", "verify", "--workspace", str(a))
    assert code == 0, out + err
    assert pointers.read_bytes() == truth
    assert head(Ledger(store, "pointers"))[1].encode() == truth


PROMOTER = textwrap.dedent(
    """
    import json, sys, threading
    from pathlib import Path
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.gate.gate import admission, sync
    from registry_pipeline.core.pointers.store import PointerStore
    from registry_pipeline.core.workspace.layout import Workspace
    workspace = Workspace(Path(sys.argv[1]))
    run_ids = sys.argv[2:]
    sync(workspace)
    results = {}
    def promote(run_id):
        store = PointerStore(workspace, lock_timeout=600)
        actor = {"kind": "test", "id": run_id}
        try:
            change = store.promote("expected_versions", run_id, relpath=None,
                                   reason="64 writers", actor=actor, admit=admission)
            results[run_id] = ["ok", change.record.seq if change.record else None]
        except RegistryError as exc:  # a refusal, or anything else: its code is reported
            results[run_id] = [exc.code, None]
    threads = [threading.Thread(target=promote, args=(r,)) for r in run_ids]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(json.dumps(results))
    """
)


def test_64_writers_on_two_machines_promote_with_no_update_lost(
    built_machines: tuple[Path, Path], store: ObjectStore, s3_server: SeaweedServer, store_url: str
) -> None:
    a, b = built_machines
    source = a / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    snapshots = []
    for _ in range(64):  # 64 snapshots of the same source, sealed on A, published to the bucket
        sealed = registry_json("seal", str(source), "--registry-id", "expected_versions",
                       "--workspace", str(a))  # fmt: skip
        snapshots.append(str(sealed["run_id"]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    halves = [(a, snapshots[0::2]), (b, snapshots[1::2])]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTER, str(root), *ids],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for root, ids in halves
    ]
    outcomes: dict[str, list[object]] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0
        outcomes.update(json.loads(out))
    assert len(outcomes) == 64
    assert {code for code, _ in outcomes.values()} <= {"ok", "NOT_NEWER"}
    won = {run_id: seq for run_id, (code, seq) in outcomes.items() if code == "ok"}
    assert max(snapshots) in won  # the newest can never be refused

    # every promotion reported done is in the bucket's journal once, in the order it won
    lines = [record for entry in Ledger(store, "pointers").entries(0)
             for line in entry.text.splitlines() if line.strip()
             for record in journal_records(json.loads(line))]  # fmt: skip
    moves = [(r["to_ref"]["run_id"], r["seq"]) for r in lines
             if r["registry_id"] == "expected_versions" and r["action"] == "promote"
             and r["to_ref"]["run_id"] in outcomes]  # fmt: skip
    assert dict(moves) == won and len(moves) == len(won)
    assert [run_id for run_id, _ in moves] == sorted(won)  # each newer than the one before
    for root in (a, b):
        code, out, err = registry("pointers", "verify", "--workspace", str(root))
        assert code == 0, out + err
        assert active_runs(root)["expected_versions"] == max(snapshots)


def test_a_writer_killed_mid_upload_leaves_no_visible_folder(
    machines: tuple[Path, Path], store: ObjectStore
) -> None:
    a, b = machines
    before = set(published(store, "RUNS"))
    source = a / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    env = {**os.environ, "REGISTRY_PIPELINE_CRASH_AT": "file_uploaded"}
    killed = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", "seal", str(source), "--registry-id",
         "expected_versions", "--workspace", str(a)],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert any(key.startswith("staging/") for key in store.keys("staging/"))  # it did upload
    assert set(published(store, "RUNS")) == before
    assert [p.name for p in (a / ".codex" / "RUNS").iterdir() if not p.name.startswith(".")] == []
    code, out, err = registry("validate", "--all", "--workspace", str(b))
    assert code == 0 and "checked 0 run folder(s)" in out, out + err


def test_the_server_restarted_mid_build_loses_nothing_committed(
    machines: tuple[Path, Path], store: ObjectStore, s3_server: SeaweedServer
) -> None:
    """The build runs in this process (the server's restart is what is tested, not the build's
    process); a thread kills and restarts the server once the build's first folder is out."""
    a, b = machines
    done = threading.Event()
    restarted: list[bool] = []
    failed: list[BaseException] = []

    def restart_once_a_folder_is_out() -> None:
        try:
            while not published(store, "RUNS"):  # polls an observable condition: a folder is out
                if done.wait(0.02):
                    return
            restarted.append(not done.is_set())  # True: the build had not returned
            s3_server.kill()
            s3_server.launch()
        except BaseException as exc:
            failed.append(exc)

    watcher = threading.Thread(target=restart_once_a_folder_is_out)
    watcher.start()
    try:
        with environment_kept("DAGSTER_HOME"):  # the build's own, for the processes it starts
            code, out, err = registry("build", "--workspace", str(a), "--json")
    finally:
        done.set()
        watcher.join(timeout=600)
    assert not watcher.is_alive() and not failed, failed
    assert restarted == [True], out + err  # restarted mid-build
    assert code == 0, out + err
    report = json.loads(out)
    assert report["success"] is True
    assert {e["run_id"] for e in report["registries"]} <= set(published(store, "RUNS"))
    for command in (["pointers", "verify"], ["validate", "--active"]):
        code, out, err = registry(*command, "--workspace", str(b))
        assert code == 0, (command, out, err)
    assert active_runs(b) == active_runs(a)


def test_a_workspace_moves_to_an_empty_bucket_with_its_history(
    built: Path, tmp_path: Path, s3_server: SeaweedServer, store_url: str,
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    before = active_runs(built)  # built on the local filesystem
    (tmp_path / "b").mkdir()
    other = copy_demo(tmp_path / "b")
    for key, value in {**s3_server.env(), "REGISTRY_STORE": store_url}.items():
        monkeypatch.setenv(key, value)
    code, out, err = registry("pointers", "verify", "--workspace", str(built))
    assert code == 0, out + err
    assert not list(store.keys("")) or list(store.keys("")) == ["made-by-test"]  # read-only
    code, out, err = registry("init", str(built))  # the move: an empty bucket takes it all
    assert code == 0 and "shared with" in out, out + err
    assert set(published(store, "RUNS")) == {
        p.name for p in (built / ".codex" / "RUNS").iterdir() if not p.name.startswith(".")
    }
    assert active_runs(other) == before
    for command in (["pointers", "verify"], ["validate", "--active"]):
        code, out, err = registry(*command, "--workspace", str(other))
        assert code == 0, (command, out, err)
    journal = (built / ".codex" / JOURNAL_NAME).read_bytes()
    assert (other / ".codex" / JOURNAL_NAME).read_bytes() == journal


def test_tampering_in_the_bucket_is_reported_on_the_machine_that_reads_it(
    built_machines: tuple[Path, Path], store: ObjectStore
) -> None:
    a, b = built_machines
    drift = str(active_runs(a)["drift_signals"])
    listed = json.loads(store.get(f"RUNS/{drift}.json").data)  # type: ignore[union-attr]
    artifact = next(f for f in listed["files"] if f["path"].endswith(".json")
                    and f["path"] not in ("run.json", "manifest.json"))  # fmt: skip
    store.put(f"staging/sha256/{artifact['sha256']}", b'{"forged": true}\n')
    ledger = Ledger(store, "pointers")
    last = [entry for entry in ledger.entries(0) if entry.state][-1]  # the pointer file's
    versions = str(active_runs(a)["expected_versions"])
    assert last.state is not None and versions in last.state
    body = json.loads(store.get(ledger.entry_key(last.seq)).data)  # type: ignore[union-attr]
    body["state"] = last.state.replace(versions, versions[:-6] + "_forged")
    store.put(ledger.entry_key(last.seq), json.dumps(body).encode())

    code, out, err = registry("validate", "--all", "--workspace", str(b), "--json")
    assert code == 1 and "HASH_MISMATCH" in out and drift in out, out + err
    for command in (["pointers", "verify"], ["validate", "--active"]):
        code, out, err = registry(*command, "--workspace", str(b), "--json")
        assert code == 1 and "POINTER_MISMATCH" in out, out + err


def test_two_machines_build_in_turn_through_the_bucket(
    machines: tuple[Path, Path], store: ObjectStore
) -> None:
    from registry_pipeline.core.objstore.lease import BuildLease

    a, b = machines
    with BuildLease(store).hold("registry build on another machine", wait=0) as holder:
        code, out, err = registry("build", "--workspace", str(b), "--wait", "0", "--json")
        assert code == 1, out + err
        error = json.loads(out)["error"]
        assert error["code"] == "BUILD_IN_PROGRESS" and holder.holder in error["message"]
    assert not list(store.keys("RUNS/"))  # the refused build sealed nothing

    # the default build (issue 61: its forked run worker hung in the store client's `get`, the
    # client's runtime threads started before the fork): both machines at once, both finish
    env = {key: value for key, value in os.environ.items() if key != "REGISTRY_BUILD_IN_PROCESS"}
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "registry_pipeline", "build", "--json", "--workspace", root],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for root in (a, b)
    ]
    reports = [build.communicate(timeout=600) for build in builds]
    assert [build.returncode for build in builds] == [0, 0], reports
    assert all(json.loads(out)["success"] for out, _ in reports)
    for root in (a, b):
        code, out, err = registry("pointers", "verify", "--workspace", str(root))
        assert code == 0, out + err
    assert active_runs(a) == active_runs(b)


def test_folders_are_never_fetched_through_a_link(
    built_machines: tuple[Path, Path], tmp_path: Path
) -> None:
    _, b = built_machines
    outside = tmp_path / "outside"
    outside.mkdir()
    runs = b / ".codex" / "RUNS"
    for child in runs.iterdir():
        child.unlink()
    runs.rmdir()
    runs.symlink_to(outside)
    code, out, err = registry("pointers", "show", "--workspace", str(b), "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["code"] in ("UNSAFE_PATH", "UNSAFE_RUN_ROOT"), out + err
    assert list(outside.iterdir()) == []


def test_a_journal_restart_is_refused_on_a_bucket_and_changes_nothing(
    built_machines: tuple[Path, Path], store: ObjectStore
) -> None:
    """An entry rewritten in the bucket (a writer with overwrite rights on the journal) is
    reported by a machine that reads it; restarting the journal, as `pointers repair` does on
    a disk, is refused there: entries in a bucket are immutable."""
    a, b = built_machines
    # the build's first change entry (its promotion, one set entry; the entries before it are
    # its leases' fences, which hold no text), with a change after it: a committed history
    code, out, err = registry("pointers", "hold", "drift_signals", "--reason", "after the build",
                              "--workspace", str(a))  # fmt: skip
    assert code == 0, out + err
    ledger = Ledger(store, "pointers")
    seq = next(entry.seq for entry in ledger.entries(0) if '"promote"' in entry.text)
    assert seq < head(ledger)[0], "a change after it"
    key = ledger.entry_key(seq)
    entry = json.loads(store.get(key).data)  # type: ignore[union-attr]
    entry["entry"] = entry["entry"].replace('"promote"', '"promoted"', 1)
    store.put(key, json.dumps(entry).encode())
    before = {name: store.get(name) for name in store.keys("pointers/")}

    code, out, err = registry("pointers", "verify", "--workspace", str(b), "--json")
    assert code == 1 and f"at entry {seq} " in out, out + err
    code, out, err = registry(
        "pointers", "repair", "--reason", f"entry {seq} rewritten", "--workspace", str(b), "--json"
    )
    assert (code, json.loads(out)["error"]["code"]) == (1, "REMOTE_UNSUPPORTED"), out + err
    assert {name: store.get(name) for name in store.keys("pointers/")} == before
