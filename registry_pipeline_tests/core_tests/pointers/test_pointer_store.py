"""The pointer store: compare-and-swap promotions, refusals, the lock, failed writes, holds and
rollbacks, the journal, redo, the seed format."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import (
    CHECKPOINT_RELPATH,
    JournalRecord,
    append_record,
    last_record,
    load,
    read_records,
    verify_journal,
)
from registry_pipeline.core.pointers.pointer_file import (
    parse_pointer_file,
    read_pointer_file,
    ref_text,
)
from registry_pipeline.core.pointers.store import MAX_REASON, PointerRefused, PointerStore
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests._helpers import unseal

ACTOR = {"kind": "cli_user", "id": "tester@host"}
Snap = Callable[..., SealedRun]


def promote(pstore: PointerStore, run: SealedRun, **kwargs: object) -> object:
    """Promote `run` as alpha's ALPHA.json, as the CLI user, through the gate."""
    return pstore.promote(
        "alpha", run.run_id, relpath="ALPHA.json", reason=str(kwargs.pop("reason", "test")),
        actor=ACTOR, **kwargs, admit=admission,
    )  # fmt: skip


def test_first_promotion_writes_the_seed_format_and_one_record(
    pstore: PointerStore, snap: Snap
) -> None:
    run = snap()
    change = promote(pstore, run)
    assert change.changed and change.current is None
    document = json.loads(pstore.pointers_path.read_bytes())
    assert document["pointer_contract_version"] == "0.1"
    (entry,) = document["pointers"]
    assert entry["registry_id"] == "alpha" and entry["active_ref_known"] is True
    assert entry["active_ref"] == {
        "run_id": run.run_id,
        "run_root": ".codex/RUNS",
        "relpath": "ALPHA.json",
        "manifest_sha256": run.root_sha256,
    }
    (record,) = list(read_records(pstore.journal_path))
    assert (record.seq, record.from_ref, record.prev_sha256) == (1, None, None)
    assert record.checks["seal_valid"]["passed"] is True
    assert (
        SchemaCatalog.for_workspace(None).validate(
            "urn:registry-pipeline:schema:active_registry_pointers", document
        )
        == []
    )


def test_each_change_chains_to_the_previous_record(pstore: PointerStore, snap: Snap) -> None:
    first, second = snap(), snap()
    promote(pstore, first)
    promote(pstore, second, expect=first.run_id)
    records = list(read_records(pstore.journal_path))
    assert [r.seq for r in records] == [1, 2]
    line_one = pstore.journal_path.read_bytes().split(b"\n")[0]
    assert records[1].prev_sha256 == hashlib.sha256(line_one).hexdigest()
    assert records[1].from_ref == records[0].to_ref
    assert pstore.read().active("alpha") == records[1].to_ref
    assert verify_journal(pstore.journal_path, pstore.read()).ok
    before = pstore.journal_path.read_bytes(), pstore.pointers_path.read_bytes()
    assert not promote(pstore, second).changed  # the active snapshot again: nothing changes
    assert (pstore.journal_path.read_bytes(), pstore.pointers_path.read_bytes()) == before


def test_compare_and_swap(pstore: PointerStore, snap: Snap) -> None:
    first, second, third = snap(), snap(), snap()
    with pytest.raises(PointerRefused) as caught:
        promote(pstore, first, expect=second.run_id)
    assert caught.value.code == "CAS_CONFLICT"
    promote(pstore, first, expect=None)
    with pytest.raises(PointerRefused) as caught:
        promote(pstore, second, expect=None)
    assert caught.value.code == "CAS_CONFLICT" and first.run_id in caught.value.message
    promote(pstore, second, expect=first.run_id)
    with pytest.raises(PointerRefused) as caught:
        promote(pstore, third, expect=first.run_id)  # a stale expectation
    assert caught.value.code == "CAS_CONFLICT"
    assert len(list(read_records(pstore.journal_path))) == 2


def test_moving_back_is_only_an_explicit_rollback(
    pstore: PointerStore, snap: Snap, checked: Callable[[SealedRun], SealedRun]
) -> None:
    old, new = checked(snap()), snap()
    promote(pstore, new)
    with pytest.raises(PointerRefused) as caught:
        promote(pstore, old)
    assert caught.value.code == "NOT_NEWER" and "rollback" in caught.value.message
    with pytest.raises(Exception) as missing_reason:
        pstore.rollback(
            "alpha", old.run_id, relpath="ALPHA.json", reason=" ", actor=ACTOR, admit=admission
        )
    assert getattr(missing_reason.value, "code", None) == "REASON_REQUIRED"
    change = pstore.rollback(
        "alpha", old.run_id, relpath="ALPHA.json", reason="bad", actor=ACTOR, admit=admission
    )
    assert change.record is not None and change.record.action == "rollback"
    with pytest.raises(PointerRefused) as caught:
        pstore.rollback(
            "alpha", new.run_id, relpath="ALPHA.json", reason="x", actor=ACTOR, admit=admission
        )
    assert caught.value.code == "NOT_OLDER"
    assert pstore.read().active("alpha").run_id == old.run_id


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("../outside", "TARGET_NOT_IN_RUNS"),
        ("../RUNS", "TARGET_NOT_IN_RUNS"),
        (".", "TARGET_NOT_IN_RUNS"),
        ("a/b", "TARGET_NOT_IN_RUNS"),
        (".staging", "TARGET_NOT_IN_RUNS"),
        ("2026-01-01__000000__alpha_build", "TARGET_MISSING"),
    ],
)
def test_targets_outside_runs_or_missing_are_refused(
    pstore: PointerStore, target: str, code: str
) -> None:
    with pytest.raises(PointerRefused) as caught:
        pstore.promote("alpha", target, relpath=None, reason="", actor=ACTOR, admit=admission)
    assert caught.value.code == code
    assert not pstore.pointers_path.exists() and not pstore.journal_path.exists()


def test_an_invalid_unsealed_or_other_registrys_target_is_refused(
    pstore: PointerStore, snap: Snap
) -> None:
    tampered, unsealed, other = snap(), snap(), snap("beta")
    unseal(tampered.path)
    (tampered.path / "ALPHA.json").write_bytes(b'{"n": 999}\n')
    unseal(unsealed.path)
    (unsealed.path / "MANIFEST.sha256").unlink()
    cases = [(tampered, "TARGET_INVALID"), (unsealed, "TARGET_UNSEALED"),
             (other, "TARGET_WRONG_REGISTRY")]  # fmt: skip
    for run, code in cases:
        with pytest.raises(PointerRefused) as caught:
            promote(pstore, run)
        assert caught.value.code == code
        assert caught.value.path == str(run.path)
    assert "beta" in caught.value.message
    assert not pstore.journal_path.exists()


def test_a_lock_file_left_by_a_dead_process_blocks_nothing(
    pstore: PointerStore, snap: Snap
) -> None:
    run = snap()
    pstore.lock_path.write_text(
        json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "since": "then"})
    )
    assert promote(pstore, run).changed  # the flock died with its holder: nothing to remove
    assert not pstore.lock_path.exists()


HOLD_LOCK = """
import sys
from pathlib import Path
from registry_pipeline.core.lock import exclusive_lock
with exclusive_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_held_lock_is_named_with_its_holder_and_never_broken(
    pstore: PointerStore, snap: Snap
) -> None:
    run = snap()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(pstore.lock_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waiting = PointerStore(pstore.workspace, lock_timeout=0.2)
        with pytest.raises(PointerRefused.__mro__[1]) as caught:  # RegistryError, code LOCKED
            promote(waiting, run)
        assert caught.value.code == "LOCKED"
        assert caught.value.path == str(pstore.lock_path)
        message = caught.value.message
        assert f"pid {holder.pid} since " in message and " s ago" in message
        assert not pstore.journal_path.exists()
    finally:
        holder.communicate("\n", timeout=60)
    assert promote(pstore, run).changed


def test_a_reason_too_long_is_refused_before_anything_is_written(
    pstore: PointerStore, snap: Snap
) -> None:
    with pytest.raises(Exception) as caught:
        promote(pstore, snap(), reason="x" * (MAX_REASON + 1))
    assert getattr(caught.value, "code", None) == "REASON_TOO_LONG"
    assert not pstore.journal_path.exists() and not pstore.lock_path.exists()


def _promote_in_child(root: Path, run_id: str, file_limit: int) -> subprocess.CompletedProcess[str]:
    """`registry pointers promote` in a child limited to `file_limit` bytes per written file."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "registry_pipeline", "pointers", "promote", "alpha", run_id,
         "--workspace", str(root), "--lock-timeout", "0.2"],
        capture_output=True, text=True, preexec_fn=limit, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def test_a_failed_pointer_write_is_aborted_and_never_applied_later(
    pstore: PointerStore, snap: Snap
) -> None:
    first, second = snap(), snap()
    big = {"pointer_contract_version": "0.1", "pointers": [], "description": "d" * 20_000}
    pstore.pointers_path.write_text(json.dumps(big))
    promote(pstore, first)
    before = pstore.pointers_path.read_bytes()
    journal_size = pstore.journal_path.stat().st_size
    result = _promote_in_child(pstore.workspace.root, second.run_id, journal_size + 4096)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "IO_ERROR" in result.stderr and "marked aborted" in result.stderr
    assert pstore.pointers_path.read_bytes() == before  # still the old, whole file
    assert not list(pstore.pointers_path.parent.glob(".ACTIVE_REGISTRY_POINTERS_v0_1.json.*"))
    assert not pstore.lock_path.exists()
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and [n.code for n in report.notes] == ["ABORTED"]
    hold = pstore.hold(
        "alpha", reason="an unrelated change", actor=ACTOR, admit=admission
    )  # applies nothing
    assert hold.record is not None and pstore.read().active("alpha").run_id == first.run_id
    pstore.release("alpha", reason="", actor=ACTOR, admit=admission)
    third = snap()
    promote(pstore, third)
    history = [record.to_ref.run_id if record.to_ref else None
               for record in read_records(pstore.journal_path)]  # fmt: skip
    assert history == [first.run_id, second.run_id, first.run_id, first.run_id, first.run_id,
                       third.run_id]  # fmt: skip
    assert verify_journal(pstore.journal_path, pstore.read()).ok


def test_a_lock_whose_owner_cannot_be_written_is_not_left_behind(
    pstore: PointerStore, snap: Snap
) -> None:
    run = snap()
    result = _promote_in_child(pstore.workspace.root, run.run_id, 0)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert not pstore.lock_path.exists()
    assert promote(pstore, run).changed


def test_a_rollback_or_a_hold_stops_automatic_promotion_until_released(
    pstore: PointerStore, snap: Snap, checked: Callable[[SealedRun], SealedRun]
) -> None:
    a, b, c = snap(), checked(snap()), snap()
    promote(pstore, a)
    promote(pstore, c)
    pstore.rollback(
        "alpha", a.run_id, relpath="ALPHA.json", reason="bad data", actor=ACTOR, admit=admission
    )
    d = snap()
    for target in (b, c, d):  # older, the one rolled back from, and a newer build alike
        with pytest.raises(PointerRefused) as caught:
            promote(pstore, target, automatic=True)
        assert caught.value.code == "HELD" and "held: bad data, since" in caught.value.message
    assert pstore.read().active("alpha").run_id == a.run_id
    hold = pstore.held("alpha")
    assert hold is not None and hold.reason == "bad data" and hold.record.action == "rollback"
    released = pstore.release("alpha", reason="fixed", actor=ACTOR, admit=admission)
    assert released.record is not None and released.record.action == "release"
    assert pstore.held("alpha") is None
    assert promote(pstore, d, automatic=True).changed
    assert pstore.release("alpha", reason="", actor=ACTOR, admit=admission).record is None

    held = pstore.hold("alpha", reason="audit freeze", actor=ACTOR, admit=admission)
    assert held.record is not None and held.record.from_ref == held.record.to_ref  # no move
    assert pstore.hold("alpha", reason="again", actor=ACTOR, admit=admission).record is None
    with pytest.raises(PointerRefused) as caught:
        promote(pstore, snap(), automatic=True)
    assert caught.value.code == "HELD"
    pstore.rollback(
        "alpha", b.run_id, relpath="ALPHA.json", reason="again", actor=ACTOR, admit=admission
    )
    assert promote(pstore, c).changed  # a person may promote; that ends the hold
    assert pstore.held("alpha") is None
    assert verify_journal(pstore.journal_path, pstore.read()).ok


def test_an_interrupted_change_is_reported_then_completed(pstore: PointerStore, snap: Snap) -> None:
    first, second, third = snap(), snap(), snap()
    promote(pstore, first)
    previous = last_record(pstore.journal_path)
    assert previous is not None
    target = SealedRef("alpha", second.run_id, second.root_sha256, relpath="ALPHA.json")
    folder = pstore.workspace.runs_dir / second.run_id
    receipt = admission(
        pstore.workspace, "alpha", folder, target, "promote", ACTOR
    )  # the gate first
    pending = JournalRecord(
        seq=2,
        registry_id="alpha",
        from_ref=previous.to_ref,
        to_ref=target,
        action="promote",
        reason="crashed before the rename",
        actor=ACTOR,
        checks={"receipt": receipt},
        created_utc="2099-01-01T00:00:00.000000Z",
        prev_sha256=previous.sha256,
    )
    append_record(pstore.journal_path, pending)  # journaled, pointer file not replaced
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and [n.code for n in report.notes] == ["PENDING_RECORD"]
    promote(pstore, third, expect=second.run_id)  # completes #2 first, then applies #3
    records = list(read_records(pstore.journal_path))
    assert [r.to_ref.run_id for r in records] == [first.run_id, second.run_id, third.run_id]
    assert verify_journal(pstore.journal_path, pstore.read()).notes == []


def test_an_interrupted_change_to_a_snapshot_without_a_passing_receipt_is_never_completed(
    pstore: PointerStore, snap: Snap
) -> None:
    """A journaled change the pointer file does not show yet is completed only through the
    gate: a record naming a snapshot no check passed (written by hand) stays unapplied."""
    first, second = snap(), snap()
    promote(pstore, first)
    previous = last_record(pstore.journal_path)
    assert previous is not None
    target = SealedRef("alpha", second.run_id, second.root_sha256, relpath="ALPHA.json")
    forged = JournalRecord(
        seq=2, registry_id="alpha", from_ref=previous.to_ref, to_ref=target, action="promote",
        reason="no gate", actor=ACTOR, checks={}, created_utc="2099-01-01T00:00:00.000000Z",
        prev_sha256=previous.sha256,
    ).hashed()  # fmt: skip
    append_record(pstore.journal_path, forged)
    with pytest.raises(PointerRefused) as refused:  # the next change completes it first
        pstore.hold("alpha", reason="stop", actor=ACTOR, admit=admission)
    assert refused.value.code == "NO_RECEIPT"
    assert last_record(pstore.journal_path) == forged  # the hold was not journaled either
    assert pstore.read().active("alpha") == previous.to_ref


@pytest.mark.parametrize(
    ("damage", "notes"),
    [(lambda data: data + b'{"journal_version":"0.1","seq":3,"regis', ["TORN_TAIL"]),
     (lambda data: data + b'{"journal_version":"0.1","reason":"' + b"x" * (2 << 20),
      ["TORN_TAIL"]),  # read back in many blocks
     (lambda data: data.rstrip(b"\n"), [])],  # a tool stripped the final newline
    ids=["torn-short", "torn-longer-than-a-block", "complete-without-its-newline"],
)  # fmt: skip
def test_a_torn_last_line_is_dropped_before_the_next_change_and_a_complete_one_kept(
    pstore: PointerStore, snap: Snap, damage: Callable[[bytes], bytes], notes: list[str]
) -> None:
    first, second, third = snap(), snap(), snap()
    promote(pstore, first)
    promote(pstore, second)
    pstore.journal_path.write_bytes(damage(pstore.journal_path.read_bytes()))  # killed mid-append
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and [note.code for note in report.notes] == notes
    promote(pstore, third)
    records = list(read_records(pstore.journal_path))
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.to_ref.run_id for r in records] == [first.run_id, second.run_id, third.run_id]
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and report.notes == []


def test_a_torn_tail_naming_a_registry_does_not_stop_readers(
    pstore: PointerStore, snap: Snap
) -> None:
    first = snap()
    promote(pstore, first)
    with pstore.journal_path.open("ab") as handle:  # killed mid-append, after the registry id
        handle.write(b'{"action":"promote","registry_id":"alpha","seq":2,"to_r')
    before = pstore.journal_path.read_bytes()
    assert pstore.explained(["alpha"]).active("alpha").run_id == first.run_id
    assert pstore.held("alpha") is None
    assert pstore.recorded("alpha") == pstore.read().active("alpha")  # the journal's view
    assert pstore.journal_path.read_bytes() == before  # readers never write the journal


def test_a_hand_edit_back_to_the_previous_snapshot_is_a_mismatch_not_a_redo(
    pstore: PointerStore, snap: Snap
) -> None:
    """The last record's `from_ref` is also what a crash between the journal append and the
    rename leaves; but a file that record wrote carries its created_utc, so an edit back is a
    POINTER_MISMATCH, never redone (a crash leaves the older timestamp), until accepted."""
    first, second = snap(), snap()
    promote(pstore, first)
    one_pointer = pstore.pointers_path.read_bytes()
    promote(pstore, second)
    document = json.loads(pstore.pointers_path.read_text())
    document["pointers"] = json.loads(one_pointer)["pointers"]  # the editor kept the timestamp
    pstore.pointers_path.write_text(json.dumps(document))
    edited = pstore.pointers_path.read_bytes()
    with pytest.raises(PointerRefused) as caught:
        pstore.explained(["alpha"])
    assert caught.value.code == "POINTER_MISMATCH"
    report = verify_journal(pstore.journal_path, pstore.read())
    assert [p.code for p in report.problems] == ["POINTER_MISMATCH"] and report.notes == []
    with pytest.raises(PointerRefused) as caught:  # nothing is completed past a hand edit
        pstore.hold("alpha", reason="stop", actor=ACTOR, admit=admission)
    assert caught.value.code == "POINTER_MISMATCH"
    assert pstore.pointers_path.read_bytes() == edited
    accepted = pstore.accept(
        "alpha", reason="back to the first", actor=ACTOR, admit=admission
    )  # not a redo
    assert accepted.record is not None and accepted.record.to_ref.run_id == first.run_id
    assert pstore.read().active("alpha").run_id == first.run_id
    assert verify_journal(pstore.journal_path, pstore.read()).ok


# --- the pointer file format --------------------------------------------------------------------

SEED_LIKE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "pointer_contract_version": "0.1",
    "description": "kept as is",
    "last_updated_utc": "2026-02-05T01:56:05Z",
    "last_updated_phase": "2.2.1",
    "pointers": [
        {
            "registry_id": "gamma",
            "active_ref": {
                "run_id": "2026-02-05__015605__seal_gamma",
                "run_root": ".codex/RUNS",
                "relpath": None,
                "manifest_sha256": "b" * 64,
            },
            "active_ref_known": True,
            "active_asof_utc": "2026-02-05T01:56:05Z",
            "notes": "multi-file",
        },
        {
            "registry_id": "external_db",
            "active_ref": {"run_id": None, "run_root": None, "relpath": None,
                           "manifest_sha256": None},
            "active_ref_known": "unknown",
            "active_asof_utc": "unknown",
            "notes": "external",
        },
    ],
    "pointer_schema": {"description": "kept as is"},
}  # fmt: skip


def test_a_seed_style_file_is_read_as_is_and_its_extra_keys_kept(
    pstore: PointerStore, snap: Snap
) -> None:
    pstore.pointers_path.write_text(json.dumps(SEED_LIKE, indent=2))
    pointers = pstore.read()
    assert list(pointers.pointers) == ["gamma", "external_db"]
    assert pointers.active("external_db") is None
    assert pointers.pointers["external_db"].active_ref_known == "unknown"
    promote(pstore, snap())
    document = json.loads(pstore.pointers_path.read_bytes())
    assert [p["registry_id"] for p in document["pointers"]] == ["gamma", "external_db", "alpha"]
    assert document["pointers"][:2] == SEED_LIKE["pointers"]
    for key in ("$schema", "description", "last_updated_phase", "pointer_schema"):
        assert document[key] == SEED_LIKE[key]
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and report.notes == []  # the first change captured gamma as found
    adopted, promoted = list(read_records(pstore.journal_path))
    assert (adopted.action, adopted.registry_id, adopted.seq) == ("adopt", "gamma", 1)
    assert adopted.checks["as_found"]["target"] == "absent"
    assert "its folder .codex/RUNS/2026-02-05__015605__seal_gamma is not here" in adopted.reason
    assert (promoted.action, promoted.registry_id, promoted.seq) == ("promote", "alpha", 2)


def test_a_seed_ref_with_null_fields_is_written_back_as_found() -> None:
    """A ref the seed does not vouch for (a run id without a root, a root without a run id) is
    a SealedRef with "" for each null: names the same in messages, null again in the file."""
    seed = json.loads(json.dumps(SEED_LIKE))
    seed["pointers"][0].update(active_ref_known="unknown")
    seed["pointers"][0]["active_ref"].update(manifest_sha256=None, run_root=None)
    seed["pointers"][1]["active_ref"].update(manifest_sha256="c" * 64, relpath="X.json")
    schemas = SchemaCatalog.for_workspace(None)
    pointers = parse_pointer_file(json.dumps(seed).encode(), Path("p"), schemas)
    gamma, external = pointers.active("gamma"), pointers.active("external_db")
    assert gamma == SealedRef("gamma", "2026-02-05__015605__seal_gamma", "", "")
    assert ref_text(gamma) == "2026-02-05__015605__seal_gamma sha256:None"
    assert external == SealedRef("external_db", "", "c" * 64, "", "X.json")
    rendered = pointers.with_pointer(pointers.pointers["gamma"], "now").render()
    assert json.loads(rendered)["pointers"] == seed["pointers"]


def test_before_the_first_change_the_file_is_taken_as_found_then_explained(
    pstore: PointerStore, snap: Snap
) -> None:
    """Verify notes an unjournaled entry only while there is no journal; once the first change
    captured the file, an entry added by hand is a mismatch until accepted."""
    gamma = snap(registry_id="gamma")
    seed = json.loads(json.dumps(SEED_LIKE))
    seed["pointers"][0]["active_ref"].update(
        run_id=gamma.run_id, manifest_sha256=gamma.root_sha256, relpath=None
    )
    pstore.pointers_path.write_text(json.dumps(seed, indent=2))
    found = hashlib.sha256(pstore.pointers_path.read_bytes()).hexdigest()
    before = verify_journal(pstore.journal_path, pstore.read())
    assert before.ok and [n.code for n in before.notes] == ["NOT_JOURNALED"]
    promote(pstore, snap())
    adopted = next(read_records(pstore.journal_path))
    assert adopted.action == "adopt" and adopted.checks == {"as_found": {
        "passed": True, "source": ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json",
        "pointer_file_sha256": found, "target": "valid"}}  # fmt: skip
    catalog = SchemaCatalog.for_workspace(None)
    assert catalog.validate("urn:registry-pipeline:schema:pointer_journal", adopted.as_json()) == []
    assert adopted.reason == "taken as found in .codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
    document = json.loads(pstore.pointers_path.read_bytes())
    beta = snap(registry_id="beta")
    entry = json.loads(json.dumps(document["pointers"][0]))
    entry["registry_id"] = "beta"
    entry["active_ref"].update(run_id=beta.run_id, manifest_sha256=beta.root_sha256)
    document["pointers"].append(entry)
    pstore.pointers_path.write_text(json.dumps(document, indent=2))
    report = verify_journal(pstore.journal_path, pstore.read())
    assert [p.code for p in report.problems] == ["POINTER_MISMATCH"]
    assert "beta" in report.problems[0].message and "accept beta" in report.problems[0].message
    with pytest.raises(PointerRefused) as refused:
        pstore.explained(["beta"])
    assert refused.value.code == "POINTER_MISMATCH"
    pstore.accept(
        "beta", reason="added by hand", actor={"kind": "cli_user", "id": "t"}, admit=admission
    )
    assert verify_journal(pstore.journal_path, pstore.read()).ok


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["pointers"].append(dict(d["pointers"][0])), "/pointers/2/registry_id"),
        (lambda d: d["pointers"][0]["active_ref"].pop("relpath"), "/pointers/0/active_ref"),
        (lambda d: d["pointers"][0].update(active_ref_known="yes"), "/pointers/0"),
        (lambda d: d["pointers"][0]["active_ref"].update(manifest_sha256="x"), "/pointers/0"),
    ],
)
def test_a_broken_pointer_file_names_the_field(
    tmp_path: Path, mutate: Callable[[dict[str, object]], object], where: str
) -> None:
    document = json.loads(json.dumps(SEED_LIKE))
    mutate(document)
    path = tmp_path / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError) as caught:
        read_pointer_file(path, SchemaCatalog.for_workspace(None))
    assert caught.value.code == "POINTERS_INVALID"
    assert caught.value.exit_code == 1 and where in caught.value.message
    assert caught.value.path == str(path)


def test_a_pointer_file_with_duplicate_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    path.write_text('{"pointer_contract_version": "0.1", "pointers": [], "pointers": []}')
    with pytest.raises(UsageError) as caught:
        read_pointer_file(path, SchemaCatalog.for_workspace(None))
    assert caught.value.code == "POINTERS_INVALID"
    assert "duplicate" in caught.value.message.lower()


HAND_LAYOUT = """{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "pointer_contract_version": "0.1",
  "description": "Active Registry Pointers \u2014 the ONLY mutable artifacts.",
  "last_updated_utc": "2026-02-05T01:56:05Z",
  "last_updated_phase": "2.2.1",
  "pointers": [
    {
      "registry_id": "external_db",
      "active_ref": {
        "run_id": null,
        "run_root": null,
        "relpath": null,
        "manifest_sha256": null
      },
      "active_ref_known": "unknown",
      "active_asof_utc": "unknown",
      "notes": "external"
    }
  ],
  "pointer_schema": {
    "required": ["registry_id", "active_ref", "active_ref_known", "active_asof_utc"],
    "properties": {
      "run_id": { "type": ["string", "null"] },
      "active_ref_known": { "enum": [true, false, "unknown"] }
    }
  }
}
"""


def _stamp_shape(text: str) -> bool:
    """The journal's created_utc: `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    return len(text) == 27 and text[10] == "T" and text[19] == "." and text.endswith("Z")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_rewrite_keeps_the_files_own_layout(
    pstore: PointerStore, snap: Snap, newline: str
) -> None:
    """Only the values of last_updated_utc and pointers change: key order, one-line arrays,
    inline objects, raw non-ASCII text, line endings and untouched entries stay byte for byte."""
    original = HAND_LAYOUT.replace("\n", newline)
    pstore.pointers_path.write_bytes(original.encode("utf-8"))
    run = snap()
    promote(pstore, run)
    text = pstore.pointers_path.read_bytes().decode("utf-8")
    head, _, _ = original.partition('  "last_updated_utc"')
    assert text.startswith(head)
    schema_block = original[original.index('  "pointer_schema"') :]
    assert text.endswith(schema_block)
    untouched = original[original.index("    {") : original.index(f"    }}{newline}  ]") + 5]
    assert untouched in text
    assert "\u2014" in text and newline + newline not in text
    if newline == "\r\n":
        assert text.count("\n") == text.count("\r\n")
    document = json.loads(text)
    assert list(document) == list(json.loads(original))
    assert _stamp_shape(document["last_updated_utc"])
    assert _stamp_shape(document["pointers"][1]["active_asof_utc"])
    assert document["pointers"][1]["active_ref"]["run_id"] == run.run_id
    assert verify_journal(pstore.journal_path, pstore.read()).ok
    again = pstore.pointers_path.read_bytes()
    promote(pstore, run)  # the same target again: nothing changes
    assert pstore.pointers_path.read_bytes() == again


JOURNAL_SCHEMA = "urn:registry-pipeline:schema:pointer_journal"


def _records_validate(pstore: PointerStore) -> list[JournalRecord]:
    """Every journal record, each checked against the journal's schema."""
    catalog = SchemaCatalog.for_workspace(None)
    records = list(read_records(pstore.journal_path))
    for record in records:
        assert catalog.validate(JOURNAL_SCHEMA, record.as_json()) == [], record
    return records


def test_the_seed_systems_own_pointer_file_is_read_journaled_and_keeps_its_layout(
    reference: Path, pstore: PointerStore, snap: Snap
) -> None:
    """Read as found; the first change journals it in records its schema accepts, and its
    rewrite changes one line and adds one entry, nothing reformatted."""
    original = (reference / "ACTIVE_REGISTRY_POINTERS_v0_1.json").read_text(encoding="utf-8")
    pstore.pointers_path.write_text(original, encoding="utf-8")
    pointers = pstore.read()
    assert len(pointers.pointers) == 12
    assert pointers.active("threshold_packs_file").relpath is None
    assert pointers.pointers["system_health_report"].active_ref_known == "unknown"
    promote(pstore, snap())
    records = _records_validate(pstore)
    named = [p for p in json.loads(original)["pointers"] if p["active_ref"]["run_id"]]
    assert [r.action for r in records] == ["adopt"] * len(named) + ["promote"]
    text = pstore.pointers_path.read_text(encoding="utf-8")
    before, after = original.splitlines(), text.splitlines()
    changed = [line for line in before if line not in after]
    assert changed == [line for line in before if line.startswith('  "last_updated_utc"')]
    schema = before.index('  "pointer_schema": {')
    assert after[-(len(before) - schema) :] == before[schema:]  # one-line arrays included
    assert len(after) == len(before) + 12  # one entry added, nothing reformatted


def test_a_seed_pointer_with_a_null_run_id_is_journaled_as_found_and_said_so(
    pstore: PointerStore,
) -> None:
    """The seed records a root but no run folder: the adopt record keeps the null run id (the
    schema accepts it) and says why nothing can be checked, in words for a null run id."""
    seed = json.loads(json.dumps(SEED_LIKE))
    seed["pointers"][0].update(active_ref_known="unknown")
    seed["pointers"][0]["active_ref"].update(run_id=None, run_root=None)
    pstore.pointers_path.write_text(json.dumps(seed))
    pstore.hold("gamma", reason="freeze", actor=ACTOR, admit=admission)
    adopted, held = _records_validate(pstore)
    assert adopted.to_ref is not None and adopted.as_json()["to_ref"]["run_id"] is None
    assert adopted.checks["as_found"]["target"] == "invalid"
    assert "names no run folder: its run_id is null" in adopted.reason
    assert "''" not in adopted.reason
    assert held.as_json()["from_ref"] == held.as_json()["to_ref"] == adopted.as_json()["to_ref"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("records", "x"), ("records", True), ("records", 7), ("head", 5), ("head", "0" * 64)],
)
def test_a_checkpoint_that_is_json_but_not_a_replay_is_replayed_again(
    pstore: PointerStore, snap: Snap, field: str, value: object
) -> None:
    """The replay checkpoint is a cache: a hand edit of its fields (valid JSON, wrong types or
    values) means a full replay, never INTERNAL after the record was appended."""
    promote(pstore, snap())
    pstore.hold("alpha", reason="freeze", actor=ACTOR, admit=admission)  # the checkpoint kept
    checkpoint = pstore.workspace.root / CHECKPOINT_RELPATH
    document = json.loads(checkpoint.read_bytes())
    (entry,) = document["entries"].values()
    entry["payload"][field] = value
    checkpoint.write_text(json.dumps(document))
    released = pstore.release("alpha", reason="thaw", actor=ACTOR, admit=admission)
    assert released.record is not None and pstore.held("alpha") is None
    report = verify_journal(pstore.journal_path, pstore.read())
    assert report.ok and report.records == 3
    kept = load(pstore.workspace.root, pstore.journal_path)  # kept again, from the replay
    assert kept is not None and (kept.records, kept.head) == (3, report.head)
