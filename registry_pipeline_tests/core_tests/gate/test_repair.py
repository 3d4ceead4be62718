"""No building on a broken history; the way out is a journaled act that only passes the gate."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.repair import repair
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
from registry_pipeline_tests._helpers import journal_records, lengthen_journal, unseal
from registry_pipeline_tests.core_tests.gate._support import (
    PERSON,
    ROLEPACK,
    active,
    build,
    check,
    edit_json,
    move,
    point_by_hand,
)


def _failed_rolepack(root: Path) -> str:
    """A rolepack snapshot built without its first role: sealed, failed append_only."""
    source = (root / ROLEPACK).read_bytes()
    edit_json(root / ROLEPACK, lambda document: document.update(roles=document["roles"][1:]))
    ((run_id, outcome),) = build(root, "rolepack").values()
    (root / ROLEPACK).write_bytes(source)
    assert outcome == "failed"
    return run_id


def _with_a_new_role(root: Path) -> tuple[str, str]:
    """rolepack built with a role added (its first snapshot then fails append_only against this
    one): the build's run id and outcome."""
    document = json.loads((root / ROLEPACK).read_text())
    role = json.loads(json.dumps(document["roles"][0]).replace("executive_1", "newbie_1"))
    edit_json(root / ROLEPACK, lambda d: d["roles"].append(role | {"aliases": []}))
    ((run_id, outcome),) = build(root, "rolepack").values()
    return run_id, outcome


def _refusal(call: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The code of the error `call(*args, **kwargs)` raises."""
    with pytest.raises(RegistryError) as refused:
        call(*args, **kwargs)
    return refused.value.code


def _forge(journal: Path, run_id: str, root_sha256: str) -> None:
    """Append a record moving rolepack to `run_id`, numbered next but chained to nothing."""
    lines = journal.read_bytes().splitlines()
    rolepack = next(record for line in reversed(lines)
                    for record in journal_records(json.loads(line))
                    if record["registry_id"] == "rolepack")  # fmt: skip
    forged = {
        **rolepack,
        "seq": json.loads(lines[-1])["seq"] + 1,
        "prev_sha256": "0" * 64,
        "action": "promote",
        "from_ref": rolepack["to_ref"],
        "to_ref": {**rolepack["to_ref"], "run_id": run_id, "manifest_sha256": root_sha256},
    }
    with journal.open("ab") as handle:  # fmt: skip
        handle.write(json.dumps(forged, separators=(",", ":"), sort_keys=True).encode() + b"\n")


BREAKS = {
    "a middle record removed": "CHAIN_BROKEN",
    "a forged last record": "CHAIN_BROKEN",
    "a record no release writes": "RECORD_UNREADABLE",
    "deleted": "JOURNAL_MISSING",
    "emptied": "JOURNAL_MISSING",
}
"""How the journal is broken -> the code verify and every move say."""


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_a_broken_journal_stops_every_move_until_a_repair_restarts_it(
    published: Path, broken: str
) -> None:
    store = PointerStore(Workspace(published), lock_timeout=0.2)
    published_run = active(published, "rolepack")
    lengthen_journal(published, "expected_versions")
    failed = _failed_rolepack(published)
    journal, lines = store.journal_path, store.journal_path.read_bytes().splitlines(keepends=True)
    if broken == "a middle record removed":
        journal.write_bytes(b"".join(lines[:1] + lines[2:]))
    elif broken == "a forged last record":
        folder = store.workspace.runs_dir / failed
        _forge(journal, failed, str(read_snapshot(folder, "rolepack").root_sha256))
    elif broken == "a record no release writes":
        journal.write_bytes(journal.read_bytes().replace(b'"promote"', b'"promoted"', 1))
    elif broken == "emptied":  # a history wiped in place is as gone as a deleted one
        journal.write_bytes(b"")
    else:
        journal.unlink()
    evidence = journal.read_bytes() if journal.exists() else None
    code = BREAKS[broken]
    assert code in {problem.code for problem in store.verify(admit=admission).problems}
    assert _refusal(store.hold, "expected_versions", reason="x", actor=PERSON) == code
    assert _refusal(store.require_intact, admit=admission) == code  # a build's first step
    assert active(published, "rolepack") == published_run  # a forged record is never applied

    before = point_by_hand(published, "rolepack", failed)  # a hand edit cannot ride in
    assert _refusal(repair, store, None, reason="r", actor=PERSON, admit=admission) == (
        "CHECK_FAILED"
    )  # fmt: skip
    assert (journal.read_bytes() if journal.exists() else None) == evidence
    assert list(published.glob(".codex/quarantine/*")) == []  # the journal put back
    store.pointers_path.write_bytes(before)
    done = repair(store, None, reason="a record was lost", actor=PERSON, admit=admission)
    kept = None if done.quarantined is None else (published / done.quarantined).read_bytes()
    assert kept == evidence  # the broken journal, byte for byte (none if none was left)
    first = next(read_records(journal))
    assert first.action == "adopt" and "a record was lost" in first.reason
    assert store.verify(admit=admission).ok and active(published, "rolepack") == published_run


@pytest.mark.parametrize(("damage", "code"), [("deleted", "TARGET_MISSING"),
                                              ("resealed", "TARGET_CHANGED")])  # fmt: skip
def test_verify_names_an_active_snapshot_deleted_or_changed(
    published: Path, damage: str, code: str
) -> None:
    folder = Workspace(published).runs_dir / str(active(published, "rolepack"))
    if damage == "deleted":
        shutil.rmtree(folder)
    else:
        unseal(folder)
        seal = folder / "MANIFEST.sha256"
        root = str(read_snapshot(folder, "rolepack").root_sha256)
        seal.write_text(seal.read_text().replace(root, "0" * 64))
    problems = PointerStore(Workspace(published)).verify().problems
    assert [(p.code, p.extra.get("registry_id")) for p in problems] == [(code, "rolepack")]


def test_a_hand_edit_of_the_relpath_is_a_mismatch_until_repair_restores_it(
    published: Path,
) -> None:
    store = PointerStore(Workspace(published))
    recorded = store.read().active("expected_versions")
    assert recorded is not None
    point_by_hand(published, "expected_versions", None, relpath="OTHER.json")
    problems = store.verify().problems
    assert [(p.code, p.extra.get("registry_id")) for p in problems] == [
        ("POINTER_MISMATCH", "expected_versions")
    ]  # fmt: skip
    assert _refusal(store.explained, ["expected_versions"]) == "POINTER_MISMATCH"  # a build's
    assert _refusal(store.accept, "expected_versions", reason="x", actor=PERSON,
                    admit=admission) == "TARGET_INVALID"  # fmt: skip
    done = repair(store, "expected_versions", reason="undo", actor=PERSON, admit=admission)
    (last,) = done.records
    assert done.kind == "restored" and last.action == "restore"
    assert last.checks["restored"]["found"]["relpath"] == "OTHER.json"
    assert store.verify().ok and store.read().active("expected_versions") == recorded
    point_by_hand(published, "expected_versions", None, run_root=".codex/ELSEWHERE")
    with pytest.raises(RegistryError) as refused:  # the field that differs, never two equal roots
        store.accept("expected_versions", reason="x", actor=PERSON, admit=admission)
    assert refused.value.code == "TARGET_INVALID"
    assert "run_root is '.codex/ELSEWHERE' in the pointer file" in refused.value.message


def test_a_hand_edited_pointer_holds_once_accepted_and_accept_refuses_what_it_cannot_accept(
    published: Path,
) -> None:
    store = PointerStore(Workspace(published))
    older = active(published, "expected_versions")
    assert older is not None
    assert _refusal(store.accept, "expected_versions", reason="x", actor=PERSON,
                    admit=admission) == "NOTHING_TO_ACCEPT"  # fmt: skip
    path = published / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"
    path.write_text(path.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    ((newer, outcome),) = build(published, "expected_versions").values()
    assert outcome == "promoted"
    point_by_hand(published, "expected_versions", older)
    edited = store.pointers_path.read_bytes()
    assert [p.code for p in store.verify().problems] == ["POINTER_MISMATCH"]
    assert _refusal(store.explained, ["expected_versions"]) == "POINTER_MISMATCH"  # a build's

    point_by_hand(published, "expected_versions", None, manifest_sha256="0" * 64)
    assert _refusal(store.accept, "expected_versions", reason="x", actor=PERSON,
                    admit=admission) == "TARGET_INVALID"  # fmt: skip
    store.pointers_path.write_bytes(edited)
    store.accept("expected_versions", reason="pinned for the audit", actor=PERSON, admit=admission)
    report = store.verify()
    assert report.ok and [note.code for note in report.notes] == ["ACCEPTED_EDIT"]
    last = list(read_records(store.journal_path))[-1]
    assert (last.action, last.from_ref.run_id, last.to_ref.run_id) == ("accept", newer, older)
    assert build(published, "expected_versions")["expected_versions"][1] == "HELD"
    assert active(published, "expected_versions") == older


def test_repair_puts_back_only_what_passes_the_gate(published: Path) -> None:
    """P2's promotion cut off the journal: P1, failing against P2, is not put back; accept is."""
    store = PointerStore(Workspace(published))
    first = active(published, "rolepack")
    assert first is not None
    second, outcome = _with_a_new_role(published)
    assert outcome == "promoted"
    assert not check(published, "rolepack", store.workspace.runs_dir / first).passed
    assert _refusal(move, published, "rollback", "rolepack", first) == "CHECK_FAILED"
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    store.journal_path.write_bytes(b"".join(lines[:-1]))  # P2's promotion cut off
    assert [p.code for p in store.verify().problems] == ["POINTER_MISMATCH"]
    before = store.pointers_path.read_bytes()
    assert _refusal(repair, store, "rolepack", reason="cut", actor=PERSON, admit=admission) == (
        "CHECK_FAILED"
    )  # fmt: skip
    assert store.pointers_path.read_bytes() == before
    assert store.journal_path.read_bytes() == b"".join(lines[:-1])  # nothing journaled
    store.accept("rolepack", reason="P2 passed", actor=PERSON, admit=admission)
    assert store.verify(admit=admission).ok and active(published, "rolepack") == second


def test_repair_all_puts_back_every_pointer_of_a_deleted_file(published: Path) -> None:
    """The pointer file deleted: one `repair --all` restores each registry's entry, one
    journaled `restore` apiece, as `repair REGISTRY` would one at a time."""
    store = PointerStore(Workspace(published))
    path = published / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"
    path.write_text(path.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    assert [outcome for _run, outcome in build(published, "expected_versions").values()] == [
        "promoted"]  # fmt: skip
    expected = {rid: store.read().active(rid) for rid in store.read().pointers}
    assert _refusal(repair, store, None, every=True, reason="x", actor=PERSON,
                    admit=admission) == "NOTHING_TO_REPAIR"  # fmt: skip
    store.pointers_path.unlink()
    edited = sorted(expected)
    assert len(edited) >= 3
    assert sorted(p.extra["registry_id"] for p in store.verify().problems) == edited
    done = repair(store, None, every=True, reason="file deleted", actor=PERSON, admit=admission)
    assert done.kind == "restored"
    assert [(r.action, r.registry_id) for r in done.records] == [("restore", r) for r in edited]
    report = store.verify(admit=admission)
    assert report.ok and not report.notes
    assert {rid: store.read().active(rid) for rid in expected} == expected


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"pointers": 7}'], ids=repr)
def test_repair_all_sets_an_unreadable_pointer_file_aside_and_puts_back_every_pointer(
    published: Path, garbage: bytes
) -> None:
    """A pointer file no reader accepts (POINTERS_INVALID: empty, not JSON, not the contract)
    is kept byte for byte in the quarantine, then every journal value put back as for a
    deleted file; the quarantined copy is named in what `repair` returns."""
    store = PointerStore(Workspace(published))
    expected = {rid: store.read().active(rid) for rid in store.read().pointers}
    store.hold("rolepack", reason="audit", actor=PERSON, admit=admission)  # the last line
    store.pointers_path.write_bytes(garbage)
    assert _refusal(store.verify) == "POINTERS_INVALID"
    assert (
        _refusal(repair, store, "rolepack", reason="x", actor=PERSON, admit=admission)
        == "POINTERS_INVALID"
    )  # one registry: the file is needed
    assert store.pointers_path.read_bytes() == garbage
    done = repair(store, None, every=True, reason="garbled", actor=PERSON, admit=admission)
    assert done.kind == "restored" and done.quarantined is not None
    assert (published / done.quarantined).read_bytes() == garbage
    assert done.quarantined.startswith(".codex/quarantine/ACTIVE_REGISTRY_POINTERS_v0_1-")
    said = "not valid JSON: " if garbage != b'{"pointers": 7}' else "/: 'pointer_contract_version"
    said = f"POINTERS_INVALID: {said}"
    assert done.problem is not None and done.problem.startswith(said) and ";" not in done.problem
    assert store.verify(admit=admission).ok
    assert {rid: store.read().active(rid) for rid in expected} == expected
    assert [r.registry_id for r in done.records] == sorted(expected)  # each journaled, naming
    for record in done.records:  # the file it replaced and why
        restored = record.checks["restored"]
        assert (restored["set_aside"], restored["problem"]) == (done.quarantined, done.problem)
    assert store.held("rolepack") is not None


@pytest.mark.parametrize("kind", ["fifo", "folder", "too-large"])
def test_repair_all_sets_aside_what_stands_in_the_pointer_files_place(
    published: Path, kind: str
) -> None:
    """A FIFO, a folder or a file too large to read at the pointer file's path: each reader
    refuses it with its own code, and `repair --all` keeps it aside, unopened, as any other
    pointer file no reader accepts."""
    store = PointerStore(Workspace(published))
    expected = {rid: store.read().active(rid) for rid in store.read().pointers}
    store.pointers_path.unlink()
    if kind == "fifo":
        os.mkfifo(store.pointers_path)
    elif kind == "folder":
        store.pointers_path.mkdir()
    else:
        with store.pointers_path.open("wb") as big:
            big.truncate(MAX_CATALOG_FILE_BYTES + 1)
    code = _refusal(store.verify)
    done = repair(store, None, every=True, reason="replaced", actor=PERSON, admit=admission)
    assert done.quarantined is not None and done.problem is not None
    assert done.problem.startswith(f"{code}: ")
    kept = published / done.quarantined
    assert kept.is_fifo() if kind == "fifo" else kept.is_dir() if kind == "folder" else (
        kept.stat().st_size == MAX_CATALOG_FILE_BYTES + 1)  # fmt: skip
    assert store.verify(admit=admission).ok
    assert {rid: store.read().active(rid) for rid in expected} == expected


def test_repair_all_on_a_workspace_never_built_sets_a_garbled_pointer_file_aside(
    demo: Path,
) -> None:
    """No journal yet, so nothing to put back: the garbled file is kept aside all the same (not
    NOTHING_TO_REPAIR, which left the user no way out), and the first build starts afresh."""
    store = PointerStore(Workspace(demo))
    store.pointers_path.parent.mkdir(parents=True, exist_ok=True)
    store.pointers_path.write_bytes(b"garbage")
    done = repair(store, None, every=True, reason="garbled", actor=PERSON, admit=admission)
    assert (done.records, done.completed) == ((), None)
    assert done.quarantined is not None
    assert (demo / done.quarantined).read_bytes() == b"garbage"
    assert not store.pointers_path.exists() and store.verify(admit=admission).ok
    assert [outcome for _run, outcome in build(demo, "rolepack").values()] == ["promoted"]


def test_repair_all_refuses_when_the_file_it_would_write_is_refused_too(published: Path) -> None:
    """The pointer file's schema edited so that it refuses what the store writes: the file is
    no reader's, but one written again would be no reader's either; refused before the first
    write, the file back, nothing journaled, nothing left aside (not a file lost per run)."""
    schema = published / "schemas" / "active_registry_pointers.schema.json"
    edit_json(schema, lambda document: document["required"].append("extra_field"))
    store = PointerStore(Workspace(published))
    pointers, journal = store.pointers_path.read_bytes(), store.journal_path.read_bytes()
    with pytest.raises(RegistryError) as refused:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert refused.value.code == "POINTERS_INVALID"
    assert "the pointer file's schema, not the file, refuses it" in refused.value.message
    assert store.pointers_path.read_bytes() == pointers
    assert store.journal_path.read_bytes() == journal
    assert not list((published / ".codex" / "quarantine").glob("ACTIVE_REGISTRY_POINTERS*"))


def test_repair_all_over_a_lost_journal_says_so_not_that_all_is_well(published: Path) -> None:
    """The journal deleted (the workspace shows it existed) and the pointer file garbled: the
    garbled file was the one naming snapshots, so the journal is JOURNAL_MISSING, as with a
    readable file; refused, the file back, not a set-aside that hides the loss."""
    store = PointerStore(Workspace(published))
    store.hold("rolepack", reason="audit", actor=PERSON, admit=admission)  # a change keeps its
    assert (published / ".codex" / "cache" / "pointer_journal_checkpoint.json").exists()  # replay
    store.journal_path.unlink()
    store.pointers_path.write_bytes(b"garbled")
    with pytest.raises(RegistryError) as refused:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert refused.value.code == "JOURNAL_MISSING"
    assert refused.value.message.endswith("move it away to follow this advice)")
    assert store.pointers_path.read_bytes() == b"garbled" and not store.journal_path.exists()


def test_repair_all_leaves_an_unreadable_pointer_file_in_place_when_refused(
    published: Path,
) -> None:
    """One journal value refused by the gate: nothing journaled, and the unreadable file is
    back where it was, byte for byte, with nothing left in the quarantine."""
    store = PointerStore(Workspace(published))
    first = active(published, "rolepack")
    assert first is not None and _with_a_new_role(published)[1] == "promoted"
    assert not check(published, "rolepack", store.workspace.runs_dir / first).passed
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    store.journal_path.write_bytes(b"".join(lines[:-1]))  # the new rolepack's promotion cut off
    store.pointers_path.write_bytes(b"{not json")
    journal = store.journal_path.read_bytes()
    with pytest.raises(RegistryError) as refused:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert refused.value.code == "CHECK_FAILED"
    said = refused.value.message  # the journal's lost last line refused: the file is back
    assert said.endswith("is back in its place, unchanged: move it away to follow this advice)")
    assert store.pointers_path.read_bytes() == b"{not json"
    assert store.journal_path.read_bytes() == journal
    assert not list((published / ".codex" / "quarantine").glob("ACTIVE_REGISTRY_POINTERS*"))


def test_repair_all_puts_back_nothing_when_one_value_fails_the_gate(published: Path) -> None:
    """Every journal value passes the gate before the first goes back: all or none."""
    store = PointerStore(Workspace(published))
    first = active(published, "rolepack")
    assert first is not None
    assert _with_a_new_role(published)[1] == "promoted"
    assert not check(published, "rolepack", store.workspace.runs_dir / first).passed
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    store.journal_path.write_bytes(b"".join(lines[:-1]))  # the new rolepack's promotion cut off
    point_by_hand(published, "expected_versions", None, relpath="OTHER.json")
    assert sorted(p.extra["registry_id"] for p in store.verify().problems) == [
        "expected_versions", "rolepack"]  # fmt: skip
    pointers, journal = store.pointers_path.read_bytes(), store.journal_path.read_bytes()
    with pytest.raises(RegistryError) as refused:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert refused.value.code == "CHECK_FAILED" and "keep the edit" in refused.value.message
    assert store.pointers_path.read_bytes() == pointers
    assert store.journal_path.read_bytes() == journal  # expected_versions not put back either
    edit_json(
        store.pointers_path,
        lambda document: document.update(
            pointers=[entry for entry in document["pointers"] if entry["registry_id"] != "rolepack"]
        ),
    )
    with pytest.raises(RegistryError) as deleted:  # no edit to keep: the others, one at a time
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert deleted.value.code == "CHECK_FAILED" and "keep the edit" not in deleted.value.message
    assert "put back the others one at a time" in deleted.value.message


def test_repair_all_applies_no_lost_line_when_a_value_fails_the_gate(published: Path) -> None:
    """The journal's last line not in the pointer file (PENDING_RECORD) and another registry's
    value refused by the gate: `--all` refuses before it applies that line either."""
    store = PointerStore(Workspace(published))
    first, older = active(published, "rolepack"), active(published, "expected_versions")
    assert first is not None and older is not None
    path = published / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"
    path.write_text(path.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    assert [outcome for _run, outcome in build(published, "expected_versions").values()] == [
        "promoted"]  # fmt: skip
    assert _with_a_new_role(published)[1] == "promoted"
    assert not check(published, "rolepack", store.workspace.runs_dir / first).passed
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    store.journal_path.write_bytes(b"".join(lines[:-1]))  # rolepack's promotion cut off
    point_by_hand(published, "expected_versions", older)  # the last line's move not in the file
    report = store.verify()
    assert [n.code for n in report.notes] == ["PENDING_RECORD"]
    assert [p.extra["registry_id"] for p in report.problems] == ["rolepack"]
    pointers, journal = store.pointers_path.read_bytes(), store.journal_path.read_bytes()
    assert _refusal(repair, store, None, every=True, reason="x", actor=PERSON,
                    admit=admission) == "CHECK_FAILED"  # fmt: skip
    assert store.pointers_path.read_bytes() == pointers  # the lost line not applied
    assert store.journal_path.read_bytes() == journal


def test_repair_all_on_a_broken_journal_says_what_a_restart_would_adopt(published: Path) -> None:
    """The chain broken and the pointer file deleted: `--all` refuses (a restart comes first) and
    says that a restart, adopting the pointer file as found, would start with nothing active."""
    store = PointerStore(Workspace(published))
    path = published / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"
    path.write_text(path.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    assert [outcome for _run, outcome in build(published, "expected_versions").values()] == [
        "promoted"]  # fmt: skip
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    store.journal_path.write_bytes(b"".join(lines[1:]))  # the first record removed
    with pytest.raises(RegistryError) as kept:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert kept.value.code == "CHAIN_BROKEN" and "missing" not in kept.value.message
    store.pointers_path.unlink()
    with pytest.raises(RegistryError) as lost:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert lost.value.code == "CHAIN_BROKEN"
    assert "the pointer file is missing too" in lost.value.message
    assert "nothing active" in lost.value.message
    store.pointers_path.write_bytes(b"garbage")  # unreadable: put back, and said so
    with pytest.raises(RegistryError) as garbled:
        repair(store, None, every=True, reason="x", actor=PERSON, admit=admission)
    assert garbled.value.code == "CHAIN_BROKEN"
    assert "the pointer file is unreadable too" in garbled.value.message
    assert "readable copy in its place first" in garbled.value.message
    assert store.pointers_path.read_bytes() == b"garbage"


def test_a_restore_keeps_the_hold_it_finds(published: Path) -> None:
    """A restore puts the journal's value back and decides nothing about holds: a registry held
    before `repair --all` or `repair REGISTRY` stays held, and the next build does not move it."""
    store = PointerStore(Workspace(published))
    store.hold("rolepack", reason="audit", actor=PERSON, admit=admission)
    store.pointers_path.unlink()
    repair(store, None, every=True, reason="lost", actor=PERSON, admit=admission)
    point_by_hand(published, "rolepack", None, relpath="OTHER.json")
    repair(store, "rolepack", reason="undo", actor=PERSON, admit=admission)
    hold = store.held("rolepack")
    assert hold is not None and (hold.record.action, hold.record.reason) == ("hold", "audit")
    assert _with_a_new_role(published)[1] == "HELD"


def test_a_snapshot_adopted_while_absent_passes_the_gate_when_its_folder_comes_back(
    published: Path,
) -> None:
    """A failed snapshot adopted while its folder was away is refused once back; roll it back."""
    store = PointerStore(Workspace(published))
    good, failed = active(published, "rolepack"), _failed_rolepack(published)
    assert good is not None
    point_by_hand(published, "rolepack", failed)
    folder = store.workspace.runs_dir / failed
    aside = published.parent / "aside"
    folder.rename(aside)
    store.journal_path.unlink()
    repair(store, None, reason="lost", actor=PERSON, admit=admission)
    report = store.verify(admit=admission)
    assert report.ok and [note.code for note in report.notes] == ["TARGET_NOT_HERE"]
    aside.rename(folder)
    problems = store.verify(admit=admission).problems
    assert [(p.code, p.extra.get("registry_id")) for p in problems] == [
        ("CHECK_FAILED", "rolepack")
    ]  # fmt: skip
    assert _refusal(store.require_intact, admit=admission) == "CHECK_FAILED"  # a build's start
    move(published, "rollback", "rolepack", good)
    assert store.verify(admit=admission).ok and active(published, "rolepack") == good
