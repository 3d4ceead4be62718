"""The journal's schema (`schemas/pointer_journal.schema.json`) takes both shapes of a line: the
one-registry record (`journal_version` 0.1) and the set entry `promote_set` writes (0.2, `moves`),
by the project's engine and by jsonschema alike, so a sealed copy of a journal with sets passes
its schema check; a set entry of one move, with a key twice or with a field of neither shape is
refused."""

from __future__ import annotations

import errno
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.pointers import store as store_module
from registry_pipeline.core.pointers.journal import (
    JOURNAL_VERSION,
    SET_VERSION,
    JournalFormatError,
    parse_record,
)
from registry_pipeline.core.pointers.store import Move, PointerRefused, PointerStore
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.sources import source_problems
from registry_pipeline_tests.core_tests.seal.reference_engine import reference_validator

JOURNAL_SCHEMA = "urn:registry-pipeline:schema:pointer_journal"
SEALED_COPY = "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
"""The name under which a run's copy of the journal is governed by the schema."""
GOLDEN = Path(__file__).parent / "golden" / "journal_v0_1.jsonl"
"""A journal written by the one-registry code before sets existed."""
ACTOR = {"kind": "dagster_run", "id": "run-1"}
PERSON = {"kind": "cli_user", "id": "tester@host"}
RELPATH = "ALPHA.json"
CHECKS = {"rules": {"passed": True, "status": "SUCCEEDED", "source": "test"}}
Snap = Callable[..., SealedRun]


@functools.cache
def _catalog() -> SchemaCatalog:
    return SchemaCatalog.for_workspace(None)


@functools.cache
def _reference() -> Any:
    return reference_validator(_catalog(), JOURNAL_SCHEMA)


def valid(document: Any) -> bool:
    """Whether the schema takes `document`: the project's engine, and jsonschema agreeing."""
    ours = _catalog().validate(JOURNAL_SCHEMA, document) == []
    assert _catalog().is_all_valid(JOURNAL_SCHEMA, [document]) is ours, document
    assert _reference().is_valid(document) is ours, document
    return ours


def sealed_copy_problems(lines: list[bytes]) -> list[Any]:
    """The parse and schema problems of a run's copy of a journal holding `lines`."""
    return source_problems({SEALED_COPY: b"".join(line + b"\n" for line in lines)}, _catalog())


def _move(run: SealedRun, registry_id: str) -> Move:
    return Move(registry_id, run.run_id, RELPATH, CHECKS)


@pytest.fixture
def journal(pstore: PointerStore, snap: Snap, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The lines of a journal: alpha and beta promoted one by one (one-registry records), a set
    moving both and gamma (its first pointer: from_ref null), then a set whose pointer write
    failed, journaled as its promote and its abort (delta's to_ref null: it had no pointer)."""
    for registry_id in ("alpha", "beta"):
        pstore.promote(registry_id, snap(registry_id).run_id, relpath=RELPATH, reason="by hand",
                       actor=PERSON, admit=admission)  # fmt: skip
    moves = [_move(snap(registry_id), registry_id) for registry_id in ("alpha", "beta", "gamma")]
    pstore.promote_set(moves, reason="a build", actor=ACTOR, admit=admission)

    def full(path: Path, data: bytes, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "write_atomic", full)
    with pytest.raises(PointerRefused):
        pstore.promote_set([_move(snap("alpha"), "alpha"), _move(snap("delta"), "delta")],
                           reason="a build", actor=ACTOR, admit=admission)  # fmt: skip
    monkeypatch.undo()
    return pstore.journal_path.read_bytes().splitlines()


def _set_entry(journal: list[bytes]) -> dict[str, Any]:
    """The journal's first set entry (a promote of three registries), as a fresh object."""
    entries = [json.loads(line) for line in journal]
    return next(e for e in entries if e["journal_version"] == SET_VERSION)


def test_every_line_of_a_journal_written_by_promote_set_is_valid(journal: list[bytes]) -> None:
    entries = [loads_strict(line) for line in journal]
    shapes = [(e["journal_version"], e["action"], len(e.get("moves", ()))) for e in entries]
    one, many = (JOURNAL_VERSION, "promote", 0), (SET_VERSION, "promote")
    assert shapes == [one, one, (*many, 3), (*many, 2), (SET_VERSION, "abort", 2)]
    first_set, _failed, aborted = entries[2:]
    assert first_set["moves"][2]["from_ref"] is None  # gamma's first pointer
    assert aborted["moves"][1]["to_ref"] is None  # delta had none to stay at
    for entry in entries:
        assert valid(entry), entry
    assert sealed_copy_problems(journal) == []


def test_a_one_registry_line_is_valid_as_before(journal: list[bytes]) -> None:
    old = GOLDEN.read_bytes().splitlines()
    assert old
    for line in [*old, *journal[:2]]:
        assert valid(loads_strict(line)), line
    assert sealed_copy_problems(old) == []
    record = json.loads(journal[0])
    assert not valid({**record, "journal_version": SET_VERSION})  # a set's version, no moves
    assert not valid({**record, "moves": _set_entry(journal)["moves"]})  # a set's field
    assert not valid({**record, "to_ref": None})  # a promote names a snapshot, as before


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


def _first_move(entry: dict[str, Any], move: dict[str, Any]) -> dict[str, Any]:
    """`entry` with `move` in place of its first move."""
    return {**entry, "moves": [move, *entry["moves"][1:]]}


def _unsealed(move: dict[str, Any]) -> dict[str, Any]:
    return {**move, "to_ref": {**move["to_ref"], "run_id": None}}


SET_BREAKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "one move": lambda e: {**e, "moves": e["moves"][:1]},
    "no move": lambda e: {**e, "moves": []},
    "moves not a list": lambda e: {**e, "moves": e["moves"][0]},
    "a move repeated": lambda e: {**e, "moves": [e["moves"][0], *e["moves"]]},
    "an extra field": lambda e: {**e, "extra": 1},
    "a registry_id beside the moves": lambda e: {**e, "registry_id": "alpha"},
    "a to_ref beside the moves": lambda e: {**e, "to_ref": e["moves"][0]["to_ref"]},
    "an extra field in a move": lambda e: _first_move(e, {**e["moves"][0], "seq": 3}),
    "a move without checks": lambda e: _first_move(e, _without(e["moves"][0], "checks")),
    "no moves": lambda e: _without(e, "moves"),
    "no seq": lambda e: _without(e, "seq"),
    "a one-registry version": lambda e: {**e, "journal_version": JOURNAL_VERSION},
    "no version": lambda e: _without(e, "journal_version"),
    "a promote to no snapshot": lambda e: _first_move(e, {**e["moves"][0], "to_ref": None}),
    "a promote to an unsealed ref": lambda e: _first_move(e, _unsealed(e["moves"][0])),
    "a bad registry id": lambda e: _first_move(e, {**e["moves"][0], "registry_id": "Alpha"}),
}
"""A set entry changed into one the schema refuses, by what was changed."""


@pytest.mark.parametrize("name", sorted(SET_BREAKS))
def test_a_malformed_set_entry_is_invalid(journal: list[bytes], name: str) -> None:
    entry = _set_entry(journal)
    assert valid(entry)
    assert not valid(SET_BREAKS[name](entry))


def test_an_abort_set_may_leave_a_registry_without_pointer_a_promote_may_not(
    journal: list[bytes],
) -> None:
    aborted = json.loads(journal[-1])
    assert aborted["action"] == "abort" and valid(aborted)
    assert not valid({**aborted, "action": "promote"})  # delta's to_ref null
    assert not valid({**aborted, "action": "hold"})


KEY_TWICE: dict[str, Callable[[bytes], bytes]] = {
    "the entry's seq": lambda line: b'{"seq":99,' + line[1:],
    "the entry's moves": lambda line: b'{"moves":[],' + line[1:],
    "a move's registry_id": lambda line: line.replace(
        b'"registry_id":"alpha"', b'"registry_id":"alpha","registry_id":"x"', 1
    ),
}


@pytest.mark.parametrize("where", KEY_TWICE)
def test_a_set_line_with_a_key_twice_is_refused(journal: list[bytes], where: str) -> None:
    """JSON of a key twice reaches no engine: the strict read of a sealed copy refuses the line,
    as the journal's reader does. (A registry in two moves, which JSON Schema cannot compare by
    one field, fails the journal's reader: `test_journal_sets.py`.)"""
    line = journal[2]
    assert json.loads(line)["journal_version"] == SET_VERSION
    doubled = KEY_TWICE[where](line)
    assert doubled != line
    problems = sealed_copy_problems([*journal[:2], doubled])
    assert [(p.code, p.line) for p in problems] == [("JSON_INVALID", 3)]
    assert "duplicate key" in problems[0].message
    with pytest.raises(JournalFormatError):
        parse_record(doubled)
