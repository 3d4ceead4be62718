"""Nothing past the gate on a bucket either: two checkouts of the demo workspace share one
bucket on a real S3 server, and a writer with rights on the bucket's objects forges, replays or
garbles the next journal entry, deletes the history, or journals changes the bucket never saw.
Nothing the bucket holds is applied before it is verified, nothing is dropped without being
kept aside and reported, a read-only command never writes to the bucket, and every refusal
names a command that gets out of it (run here)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.folders import published
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline_tests._helpers import (
    REPO,
    active_runs,
    failed_rolepack,
    journal_records,
    registry,
    registry_json,
)

READERS = (["validate", "--active"], ["pointers", "show"], ["runs", "list"])


def _error(*args: str) -> dict[str, str]:
    code, out, err = registry(*args, "--json")
    assert code in (1, 2), out + err
    error = json.loads(out)["error"]
    assert isinstance(error, dict)
    return error


def _bucket(store: ObjectStore) -> dict[str, bytes]:
    """Every object under pointers/, by key: what a read-only command must leave as it was."""
    return {key: store.get(key).data for key in store.keys("pointers/")}  # type: ignore[union-attr]


def _journal_lines(root: Path) -> list[bytes]:
    return (root / ".codex" / JOURNAL_NAME).read_bytes().splitlines()


def _hostile_entry(root: Path, kind: str, failed: str, failed_root: str) -> str:
    """The text a hostile writer puts in the next entry: a record moving rolepack to the failed
    snapshot with a broken chain (or chained as a writer would, but past the gate), an old
    entry's record replayed, or garbage."""
    lines = _journal_lines(root)
    if kind == "garbage":
        return "5"
    if kind in ("replayed", "fenced"):
        return lines[0].decode() + "\n"
    last = json.loads(lines[-1])
    rolepack = next(
        r
        for x in reversed(lines)
        for r in journal_records(json.loads(x))
        if r["registry_id"] == "rolepack"
    )
    chain = hashlib.sha256(lines[-1]).hexdigest() if kind == "chained" else "0" * 64
    forged = {**rolepack, "seq": last["seq"] + 1, "prev_sha256": chain, "action": "promote",
              "from_ref": rolepack["to_ref"],
              "to_ref": {**rolepack["to_ref"], "run_id": failed,
                         "manifest_sha256": failed_root}}  # fmt: skip
    return json.dumps(forged, separators=(",", ":"), sort_keys=True) + "\n"


HOSTILE = [(kind, head_too) for kind in ("forged", "chained", "replayed", "garbage", "fenced")
           for head_too in (False, True)]  # fmt: skip
"""Each hostile next entry, alone or carrying a pointer file naming the failed snapshot;
`fenced`: a replayed record in an object that is also a fence entry (whose text no reader
checked: one machine looped on CHAIN_BROKEN that repair could not fix, another committed it)."""
CODES = {"forged": ("CHAIN_BROKEN",), "replayed": ("CHAIN_BROKEN", "SEQ_GAP"),
         "garbage": ("RECORD_UNREADABLE",), "chained": ("CHECK_FAILED", "NO_RECEIPT"),
         "fenced": ("RECORD_UNREADABLE",)}  # fmt: skip
"""What every reader answers: the chain's check, or the gate's for a record chained well."""


def test_a_hostile_next_entry_is_never_applied_and_repair_sets_it_aside(
    built_machines: tuple[Path, Path], store: ObjectStore
) -> None:
    """Each case of HOSTILE in turn on one bucket (each repair leaves it as it was)."""
    a, b = built_machines
    failed, failed_root = failed_rolepack(a)
    before = active_runs(b)
    assert before == active_runs(a) and before["rolepack"] != failed
    for kind, head_too in HOSTILE:
        _refused_then_repaired(a, b, store, kind, head_too, failed, failed_root, before)
    source = "registries/rolepack/atelier_rolepack_v1.json"
    (a / source).write_bytes((REPO / source).read_bytes())  # the removed role back
    assert registry_json("build", "--workspace", str(a))["success"] is True  # builds go on
    assert active_runs(b)["rolepack"] != failed


def _refused_then_repaired(
    a: Path, b: Path, store: ObjectStore, kind: str, head_too: bool, failed: str,
    failed_root: str, before: dict[str, str | None],
) -> None:  # fmt: skip
    ledger = Ledger(store, "pointers")
    entries = list(ledger.entries(0))
    seq = entries[-1].seq + 1
    text = _hostile_entry(a, kind, failed, failed_root)
    body: dict[str, object] = {"seq": seq, "entry": text}
    if kind == "fenced":
        body["fence"] = max(ledger.fenced(), 1)
    if head_too:  # a pointer file naming the failed snapshot, as a change's entry carries one
        state = next(entry.state for entry in reversed(entries) if entry.state)
        body["state"] = state.replace(str(before["rolepack"]), failed)
    store.create(ledger.entry_key(seq), json.dumps(body).encode())
    hostile = _bucket(store)
    journals = {root: _journal_lines(root) for root in (a, b)}

    for root in (b, a):
        for command in READERS:
            error = _error(*command, "--workspace", str(root))
            assert error["code"] in CODES[kind], (kind, error)
            assert "registry pointers repair" in error["message"], (kind, error)
        error = _error("build", "--workspace", str(root))
        assert "registry pointers repair" in error["message"], (kind, error)
    assert _bucket(store) == hostile  # a read-only command never writes to the bucket
    for root in (a, b):  # nothing applied: each copy as it was
        assert _journal_lines(root) == journals[root]
        assert failed not in (root / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json").read_text()

    code, out, err = registry("pointers", "repair", "--reason", f"a {kind} entry",
                              "--workspace", str(b))  # fmt: skip
    assert code == 0 and "set aside" in out, (kind, out + err)
    kept = {key: store.get(key).data for key in store.keys("quarantine/")}  # type: ignore[union-attr]
    assert hostile[ledger.entry_key(seq)] in kept.values()  # the evidence, byte for byte
    for root in (a, b):
        code, out, err = registry("pointers", "verify", "--workspace", str(root))
        assert code == 0, (kind, out + err)
        assert active_runs(root) == before


def test_changes_journaled_without_the_bucket_are_kept_aside_and_reported(
    built_machines: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = built_machines
    registry_json("pointers", "show", "--workspace", str(b))
    with monkeypatch.context() as local:
        local.delenv("REGISTRY_STORE")
        code, out, err = registry("pointers", "hold", "drift_signals", "--reason", "offline",
                                  "--workspace", str(a))  # fmt: skip
        assert code == 0, out + err
        code, out, err = registry("pointers", "verify", "--workspace", str(a), "--json")
        offline_head = json.loads(out)["head"]
    offline = (a / ".codex" / JOURNAL_NAME).read_bytes()
    code, out, err = registry("pointers", "hold", "run_index", "--reason", "on b",
                              "--workspace", str(b))  # fmt: skip
    assert code == 0, out + err

    code, out, err = registry("pointers", "show", "--workspace", str(a))
    assert code == 0, out + err
    (kept,) = (a / ".codex/quarantine").glob(f"{Path(JOURNAL_NAME).stem}-*")
    where = kept.relative_to(a).as_posix()
    assert where in err and "registry pointers hold drift_signals" in err, err
    assert kept.read_bytes() == offline  # byte for byte
    code, out, err = registry("pointers", "verify", "--workspace", str(a),
                              "--expect-head", offline_head)  # fmt: skip
    assert code == 1 and "HEAD_NOT_FOUND" in out + err and where in out + err


def test_a_bucket_whose_history_vanished_is_refused_not_restarted(
    built_machines: tuple[Path, Path], store: ObjectStore, tmp_path: Path
) -> None:
    from registry_pipeline_tests._helpers import copy_demo

    a, b = built_machines
    before = active_runs(a)
    last = max(seq for seq, _etag in Ledger(store, "pointers").listed(0))
    journal_head = registry_json("pointers", "verify", "--workspace", str(a))["head"]
    for key in list(store.keys("pointers/")):
        store.delete(key)
    (tmp_path / "c").mkdir()
    fresh = copy_demo(tmp_path / "c")
    for root in (a, fresh):
        for command in (["pointers", "show"], ["build"]):
            error = _error(*command, "--workspace", str(root))
            assert error["code"] == "POINTERS_MISSING", error
            assert "registry pointers repair" in error["message"], error
    seen = _error("pointers", "show", "--workspace", str(a))["message"]
    assert f"entry {last}, head {journal_head}" in seen  # the last head this machine saw
    assert not list(store.keys("pointers/"))  # nothing started a new history

    code, out, err = registry("pointers", "repair", "--reason", "history deleted",
                              "--workspace", str(a))  # fmt: skip
    assert code == 0, out + err
    for root in (a, b, fresh):
        code, out, err = registry("pointers", "verify", "--workspace", str(root))
        assert code == 0, out + err
        assert active_runs(root) == before


def test_a_promotion_on_a_bucket_publishes_its_folder_before_naming_it(
    built_machines: tuple[Path, Path], store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = built_machines
    with monkeypatch.context() as local:  # a folder sealed with the variable unset: local only
        local.delenv("REGISTRY_STORE")
        sealed = registry_json("seal", "registries/rolepack/atelier_rolepack_v1.json",
                               "--registry-id", "rolepack", "--workspace", str(a))  # fmt: skip
    run_id = str(sealed["run_id"])
    assert run_id not in published(store, "RUNS")
    code, out, err = registry("pointers", "promote", "rolepack", run_id, "--workspace", str(a))
    assert code == 0, out + err
    assert run_id in published(store, "RUNS")  # published before the entry naming it
    assert active_runs(b)["rolepack"] == run_id
    code, out, err = registry("pointers", "verify", "--workspace", str(b))
    assert code == 0, out + err


def test_a_folder_sealed_into_a_new_bucket_starts_its_history_not_a_refusal(
    machines: tuple[Path, Path], store: ObjectStore
) -> None:
    """`registry seal` before any build: the folder is published with the ledger's entry 0,
    so no machine mistakes the bucket for one whose pointer history vanished."""
    a, b = machines
    sealed = registry_json("seal", "registries/rolepack/atelier_rolepack_v1.json",
                           "--registry-id", "rolepack", "--workspace", str(a))  # fmt: skip
    assert str(sealed["run_id"]) in published(store, "RUNS")
    for root in (a, b):
        code, out, err = registry("pointers", "show", "--workspace", str(root))
        assert code == 0, out + err


@pytest.mark.parametrize(
    "garbage", [b"garbage\n", b'{"root_sha256": "0"}\n', None], ids=["text", "json", "misnamed"]
)
def test_a_receipt_object_is_checked_before_it_joins_the_local_receipts(
    built_machines: tuple[Path, Path], store: ObjectStore, garbage: bytes | None
) -> None:
    """A hostile object under the active root's receipts: it was merged into the local receipts
    file unchecked, so that file stayed broken (RECEIPT_INVALID naming the local path) after the
    object was deleted. Now refused naming its key, the local file as it was."""
    a, _b = built_machines
    pointers = json.loads((a / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json").read_text())
    entry = next(e for e in pointers["pointers"] if e["registry_id"] == "rolepack")
    digest = entry["active_ref"]["manifest_sha256"]
    local = a / ".codex/RECEIPTS" / f"{digest}.jsonl"
    before = local.read_bytes()
    if garbage is None:  # a receipt the gate wrote, under another line's name: merged again and
        garbage = before.splitlines(keepends=True)[0]  # again, until the file was too large
        key = f"receipts/{digest}/20990101T000000Z_{'0' * 16}.json"
    else:
        key = f"receipts/{digest}/20990101T000000Z_{hashlib.sha256(garbage).hexdigest()[:16]}.json"
    store.put(key, garbage)
    previous = active_runs(a)["rolepack"]
    code, out, err = registry("pointers", "check", "rolepack", str(previous),
                              "--workspace", str(a), "--json")  # fmt: skip
    assert code == 1, out + err
    error = json.loads(out)["error"]
    assert error["code"] == "RECEIPT_INVALID" and key in error["message"], error
    assert local.read_bytes() == before  # nothing merged
    store.delete(key)
    code, out, err = registry("pointers", "check", "rolepack", str(previous),
                              "--workspace", str(a), "--json")  # fmt: skip
    assert code == 0, out + err
