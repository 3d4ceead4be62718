"""Edge cases found in review: a stripped final newline, short writes, a lock whose owner cannot
be written, rollbacks, holds and automatic promotion."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import read_records, verify_journal
from registry_pipeline.core.pointers.store import MAX_REASON, PointerRefused, PointerStore
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline_tests.core_tests.pointers.test_pointer_store import ACTOR, Snap, promote


def test_a_complete_last_record_without_its_newline_is_kept(
    pstore: PointerStore, snap: Snap
) -> None:
    first, second, third = snap(), snap(), snap()
    promote(pstore, first)
    promote(pstore, second)
    data = pstore.journal_path.read_bytes()
    pstore.journal_path.write_bytes(data.rstrip(b"\n"))  # a tool stripped the final newline
    promote(pstore, third)
    records = list(read_records(pstore.journal_path))
    assert [r.to_ref.run_id for r in records] == [first.run_id, second.run_id, third.run_id]
    assert verify_journal(pstore.journal_path, pstore.read()).notes == []


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
