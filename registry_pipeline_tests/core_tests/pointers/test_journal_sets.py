"""The journal's set entry (several registries' moves in one line, `promote_set`) beside the
one-registry lines written before it: old journals read and verify byte for byte unchanged, and
every reader (replay, verify, history, as-of, the checkpoint) sees a set whole or not at all."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from registry_pipeline.core.pointers.journal import (
    SET_VERSION,
    EntryMove,
    JournalFormatError,
    JournalRecord,
    last_effective_record_of,
    last_record,
    load,
    parse_record,
    read_records,
    records_of,
    replay,
    state_as_of,
    verify_journal,
)
from registry_pipeline.core.pointers.pointer_file import PointerFile, read_pointer_file
from registry_pipeline.core.pointers.targets import apply_move, apply_record
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.schemas import SchemaCatalog

GOLDEN = Path(__file__).parent / "golden"
"""A journal and pointer file written by the one-registry code before sets existed, and what
its readers made of them then (`readers_v0_1.json`)."""
ACTOR = {"kind": "dagster_run", "id": "run-1"}
REGISTRIES = ("alpha", "beta", "gamma", "delta")


def ref(registry_id: str, n: int) -> SealedRef:
    """Snapshot `n` of `registry_id` (a ref as a move names it; no folder is needed here)."""
    root = f"{REGISTRIES.index(registry_id):02x}{n:062x}"
    return SealedRef(registry_id, f"2026-01-01__{n:06d}__{registry_id}_build", root,
                     relpath="ALPHA.json")  # fmt: skip


def chained(entries: list[list[tuple[str, int]]], *, start: JournalRecord | None = None,
            action: str = "promote") -> list[JournalRecord]:  # fmt: skip
    """Lines moving each entry's registries to snapshot n (from where the chain had them)."""
    at: dict[str, SealedRef | None] = {}
    records, previous = [], start
    for number, entry in enumerate(entries):
        moves = []
        for registry_id, n in entry:
            moves.append(EntryMove(registry_id, at.get(registry_id), ref(registry_id, n),
                                   {"receipt": {"passed": True, "n": n}}))  # fmt: skip
            at[registry_id] = ref(registry_id, n)
        seq = (previous.seq if previous else 0) + 1
        previous = JournalRecord.of(
            seq, moves, action, f"entry {seq}", ACTOR,
            f"2026-02-01T00:00:{number:02d}.000000Z", previous.sha256 if previous else None,
        )  # fmt: skip
        records.append(previous)
    return records


def write(path: Path, records: list[JournalRecord]) -> PointerFile:
    """The journal of `records` at `path`; the pointer file its replay gives."""
    path.write_bytes(b"".join(record.line() + b"\n" for record in records))
    pointers = PointerFile()
    for record in records:
        pointers = apply_record(pointers, record)
    return pointers


# -- the format -----------------------------------------------------------------------------


def test_a_set_entry_is_one_line_naming_each_move(tmp_path: Path) -> None:
    (first,) = chained([[("alpha", 1), ("beta", 1), ("gamma", 1)]])
    document = json.loads(first.line())
    assert sorted(document) == ["action", "actor", "created_utc", "journal_version", "moves",
                                "prev_sha256", "reason", "seq"]  # fmt: skip
    assert document["journal_version"] == SET_VERSION
    assert [sorted(move) for move in document["moves"]] == [
        ["checks", "from_ref", "registry_id", "to_ref"]] * 3  # fmt: skip
    assert [move["registry_id"] for move in document["moves"]] == ["alpha", "beta", "gamma"]
    assert b"\n" not in first.line()
    again = parse_record(first.line())
    assert again == first and again.sha256 == first.sha256
    assert [r.registry_id for r in again.members()] == ["alpha", "beta", "gamma"]
    assert {r.sha256 for r in again.members()} == {first.sha256}  # one entry, one hash
    assert {r.seq for r in again.members()} == {1}


def test_one_move_is_written_as_a_one_registry_line() -> None:
    (single,) = chained([[("alpha", 1)]])
    assert single.moves == () and single.members() == (single,)
    document = json.loads(single.line())
    assert document["journal_version"] == "0.1" and document["registry_id"] == "alpha"
    assert "moves" not in document and single.entry_json() == single.as_json()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.update(moves=d["moves"][:1]), "one move"),
        (lambda d: d.update(moves=[]), "no move"),
        (lambda d: d["moves"][1].update(registry_id="alpha"), "a registry twice"),
        (lambda d: d.update(journal_version="0.1"), "the one-registry version"),
        (lambda d: d["moves"][0].pop("from_ref"), "a move without its from_ref"),
        (lambda d: d["moves"][0].update(to_ref=None), "a promotion to nothing"),
        (lambda d: d.update(moves="alpha"), "not a list"),
        (lambda d: d.pop("seq"), "no seq"),
    ],
)
def test_a_malformed_set_entry_is_unreadable(change: object, why: str) -> None:
    import rfc8785

    (entry,) = chained([[("alpha", 1), ("beta", 1)]])
    document = json.loads(entry.line())
    change(document)  # type: ignore[operator]
    with pytest.raises(JournalFormatError):
        parse_record(bytes(rfc8785.dumps(document)))


# -- old journals -----------------------------------------------------------------------------


def test_an_old_journal_reads_and_verifies_byte_for_byte_unchanged(tmp_path: Path) -> None:
    """The golden journal, written by the one-registry code: every line parses back to its own
    bytes, and every reader gives what it gave before sets existed."""
    journal = GOLDEN / "journal_v0_1.jsonl"
    pointers = read_pointer_file(GOLDEN / "pointers_v0_1.json", SchemaCatalog.for_workspace(None))
    before = json.loads((GOLDEN / "readers_v0_1.json").read_text())
    lines = journal.read_bytes().splitlines()
    assert [parse_record(line).line() for line in lines] == lines
    assert all(parse_record(line).moves == () for line in lines)
    records = list(read_records(journal))
    assert [{**r.as_json(), "sha256": r.sha256} for r in records] == before["records"]
    report = verify_journal(journal, pointers)
    assert {
        "ok": report.ok, "records": report.records, "head": report.head,
        "problems": [p.code for p in report.problems], "notes": [n.code for n in report.notes],
        "last_records": {k: v.seq for k, v in report.last_records.items()},
    } == before["verify"]  # fmt: skip
    assert {
        r.created_utc: {k: v.seq for k, v in state_as_of(iter(records), r.created_utc).items()}
        for r in records
    } == before["as_of"]
    last = last_record(journal)
    assert last is not None and last.seq == before["last"]
    assert {rid: [r.seq for r in records_of(journal, rid)] for rid in ("alpha", "beta")} == (
        before["history"]
    )
    effective = {rid: last_effective_record_of(journal, rid) for rid in ("alpha", "beta")}
    assert {rid: r.seq for rid, r in effective.items() if r} == before["effective"]


def test_a_set_appended_to_an_old_journal_chains_to_it_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    shutil.copy(GOLDEN / "journal_v0_1.jsonl", journal)
    old = journal.read_bytes()
    pointers = read_pointer_file(GOLDEN / "pointers_v0_1.json", SchemaCatalog.for_workspace(None))
    head = last_record(journal)
    assert head is not None
    moves = []
    for rid in ("alpha", "beta"):
        found = pointers.active(rid)
        assert found is not None
        moved = dataclasses.replace(found, run_id=found.run_id + "_next", manifest_sha256="f" * 64)
        moves.append(EntryMove(rid, found, moved, {}))
    entry = JournalRecord.of(head.seq + 1, moves, "promote", "a build", ACTOR,
                             "2099-01-01T00:00:00.000000Z", head.sha256)  # fmt: skip
    with journal.open("ab") as handle:
        handle.write(entry.line() + b"\n")
    assert journal.read_bytes().startswith(old)
    report = verify_journal(journal, apply_record(pointers, entry))
    assert report.ok and report.notes == [] and report.head == entry.sha256
    assert report.records == head.seq + 1
    stale = verify_journal(journal, pointers)  # the file not replaced yet: one pending entry
    assert stale.ok and [(n.code, n.extra["seq"]) for n in stale.notes] == [
        ("PENDING_RECORD", entry.seq)]  # fmt: skip


# -- every reader sees a set whole ------------------------------------------------------------

entries = st.lists(
    st.lists(st.sampled_from(REGISTRIES), min_size=1, max_size=4, unique=True),
    min_size=1,
    max_size=8,
)


@settings(max_examples=settings().max_examples * 3 // 5, deadline=None)
@given(entries=entries)
def test_replay_verify_history_and_as_of_see_each_entry_whole(
    tmp_path_factory: pytest.TempPathFactory, entries: list[list[str]]
) -> None:
    """A random journal of one-registry lines and set entries: it verifies against the file
    its replay gives; history lists each registry's moves (a set's under its shared seq and
    hash); and at every moment as-of gives every entry's moves all, or none of them."""
    folder = tmp_path_factory.mktemp("sets")
    journal = folder / "journal.jsonl"
    numbered = [[(rid, number + 1) for rid in entry] for number, entry in enumerate(entries)]
    records = chained(numbered)
    pointers = write(journal, records)
    report = verify_journal(journal, pointers)
    assert report.ok and report.notes == [] and report.records == len(records)
    assert report.head == records[-1].sha256
    members = [member for record in records for member in record.members()]
    assert list(read_records(journal)) == members
    for registry_id in REGISTRIES:
        mine = [m for m in members if m.registry_id == registry_id]
        assert list(records_of(journal, registry_id)) == mine[::-1]  # newest first
        assert {(m.seq, m.sha256) for m in mine} <= {(r.seq, r.sha256) for r in records}
    expected, moment = PointerFile(), "2000-01-01T00:00:00.000000Z"
    assert state_as_of(iter(members), moment) == {}  # before the first entry: nothing
    for record in records:
        before = state_as_of(iter(members), moment)
        moment = record.created_utc
        state = state_as_of(iter(members), moment)
        expected = apply_record(expected, record)
        assert {rid: r.to_ref for rid, r in state.items()} == {
            rid: expected.active(rid) for rid in expected.pointers
        }
        moved = [m.registry_id for m in record.members()]
        assert [state[rid].seq for rid in moved] == [record.seq] * len(moved)  # all of it
        assert not any(before[rid].seq == record.seq for rid in moved if rid in before)


@settings(max_examples=settings().max_examples * 3 // 10, deadline=None)
@given(entries=entries)
def test_the_checkpoint_keeps_each_registrys_last_move_and_a_pending_set_whole(
    tmp_path_factory: pytest.TempPathFactory, entries: list[list[str]]
) -> None:
    """The replay kept in the checkpoint gives what a full replay gives; a set journaled but
    not yet in the pointer file is one PENDING_RECORD note either way."""
    root = tmp_path_factory.mktemp("checkpoint")
    journal = root / ".codex" / "journal.jsonl"
    journal.parent.mkdir()
    numbered = [[(rid, number + 1) for rid in entry] for number, entry in enumerate(entries)]
    records = chained(numbered)
    pointers = write(journal, records)
    full = replay(root, journal, pointers, None, True)  # saves the checkpoint
    kept = load(root, journal)
    assert kept is not None and kept.records == full.records and kept.head == full.head
    assert kept.last_records == full.last_records
    assert {r.sha256 for r in kept.last_records.values()} <= {r.sha256 for r in records}
    before_last = write(journal, records[:-1])
    write(journal, records)  # the last line journaled, the file as before it
    for report in (replay(root, journal, before_last, None, True),
                   verify_journal(journal, before_last)):  # fmt: skip
        codes = [note.code for note in report.notes]
        assert report.ok and codes == ["PENDING_RECORD"], (report.problems, codes)


def test_a_set_whose_move_does_not_continue_the_chain_is_a_from_mismatch(tmp_path: Path) -> None:
    first, second = chained([[("alpha", 1), ("beta", 1)], [("alpha", 2), ("beta", 2)]])
    moves = list(second.moves)
    moves[1] = EntryMove("beta", ref("beta", 7), ref("beta", 2), {})  # beta was at 1
    forged = JournalRecord.of(2, moves, "promote", "forged", ACTOR, second.created_utc,
                              first.sha256)  # fmt: skip
    journal = tmp_path / "journal.jsonl"
    pointers = write(journal, [first, forged])
    report = verify_journal(journal, pointers)
    assert [(p.code, p.extra["seq"], p.line) for p in report.problems] == [
        ("FROM_MISMATCH", 2, 2)]  # fmt: skip


def test_a_file_showing_half_a_set_is_a_mismatch_never_pending(tmp_path: Path) -> None:
    """The file is replaced whole, so half a set in it is a hand edit: never completed."""
    first, second = chained([[("alpha", 1), ("beta", 1)], [("alpha", 2), ("beta", 2)]])
    journal = tmp_path / "journal.jsonl"
    write(journal, [first, second])
    alpha_moved = apply_move(apply_record(PointerFile(), first), second.members()[0])
    half = dataclasses.replace(alpha_moved, last_updated_utc="2026-03-01T00:00:00.000000Z")
    report = verify_journal(journal, half)  # beta still where the set found it
    assert [(p.code, p.extra["registry_id"]) for p in report.problems] == [
        ("POINTER_MISMATCH", "beta")]  # fmt: skip
    assert report.notes == []
