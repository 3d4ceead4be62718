"""Tampering with the pointer journal (or the pointer file) is detected by `verify_journal`.

A journal of six real promotions over two registries is edited as an attacker or a careless
person would: a field edited, a record deleted, a record forged and inserted (correctly chained
to its predecessor), two records swapped, an unreadable line. Each is named at the first record
where the chain no longer holds. A truncated journal (with the pointer file rolled back to match)
and a journal rewritten whole and re-chained are consistent in themselves: only a head hash
recorded elsewhere (`expect_head`) detects them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.journal import (
    CHECKPOINT_RELPATH,
    JournalRecord,
    VerifyReport,
    keep_aside,
    kept_journals,
    parse_record,
    read_records,
    verify_journal,
)
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

ACTOR = {"kind": "cli_user", "id": "tester@host"}
Lines = list[bytes]


@dataclass
class History:
    """The store, its snapshots by name (a1..a3, b1..b3), and the pointer file after each record."""

    pstore: PointerStore
    runs: dict[str, SealedRun]
    pointer_bytes: list[bytes]

    @property
    def lines(self) -> Lines:
        return self.pstore.journal_path.read_bytes().splitlines()

    def write(self, lines: Lines) -> None:
        self.pstore.journal_path.write_bytes(b"".join(line + b"\n" for line in lines))

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        return verify_journal(self.pstore.journal_path, self.pstore.read(), expect_head)


@pytest.fixture(scope="module")
def history_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, SealedRun], list[bytes]]:
    """`history`'s workspace, its snapshots and pointer files, made once per test process:
    tests never change it, they take a copy (`history`)."""
    root = tmp_path_factory.mktemp("history") / "ws"
    root.mkdir()
    init_workspace(root)
    workspace = Workspace(root)
    store = RunStore(workspace)
    runs: dict[str, SealedRun] = {}
    for n in (1, 2, 3):
        for registry, prefix in (("alpha", "a"), ("beta", "b")):
            runs[f"{prefix}{n}"] = seal_files(
                store, RunSpec(registry_id=registry), {"DATA.json": b"%d\n" % n}
            )
    pstore = PointerStore(workspace)
    pointer_bytes = []
    for name in ("a1", "b1", "a2", "b2", "a3", "b3"):
        registry = "alpha" if name.startswith("a") else "beta"
        pstore.promote(
            registry,
            runs[name].run_id,
            relpath="DATA.json",
            reason=f"promote {name}",
            actor=ACTOR,
            admit=admission,
        )
        pointer_bytes.append(pstore.pointers_path.read_bytes())
    return root, runs, pointer_bytes


@pytest.fixture
def history(
    history_once: tuple[Path, dict[str, SealedRun], list[bytes]], tmp_path: Path
) -> History:
    """Six records: a1, b1, a2, b2, a3, b3 (alpha and beta, interleaved), in a copy of
    `history_once` of this test's own (symlinks, modes and times kept)."""
    made, runs, pointer_bytes = history_once
    root = tmp_path / "ws"
    shutil.copytree(made, root, symlinks=True)
    workspace = Workspace(root)
    copied = {name: replace(run, path=workspace.runs_dir / run.run_id)
              for name, run in runs.items()}  # fmt: skip
    return History(PointerStore(workspace), copied, list(pointer_bytes))


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _rechain(records: list[JournalRecord]) -> Lines:
    """The records renumbered and re-hashed into a consistent chain (what a careful forger does)."""
    lines: Lines = []
    previous: str | None = None
    for seq, record in enumerate(records, start=1):
        chained = replace(record, seq=seq, prev_sha256=previous).hashed()
        lines.append(chained.line())
        previous = chained.sha256
    return lines


def _problem(report: VerifyReport) -> tuple[str, int | None, int | None]:
    assert len(report.problems) == 1, report.problems
    (finding,) = report.problems
    return finding.code, finding.extra["seq"], finding.line


def test_the_untouched_journal_verifies_and_knows_its_heads(history: History) -> None:
    report = history.verify()
    assert report.ok and report.notes == [] and report.records == 6
    assert report.head == _sha(history.lines[-1])
    middle = history.verify(expect_head=_sha(history.lines[2]))
    assert middle.ok and middle.expect_head_seq == 3
    assert [r.seq for r in read_records(history.pstore.journal_path)] == [1, 2, 3, 4, 5, 6]


# -- edit, delete, insert, reorder: named at the first record whose link breaks --------------------


def _edit_reason(lines: Lines) -> Lines:
    edited = lines[2].replace(b'"reason":"promote a2"', b'"reason":"approved by CAB"')
    assert edited != lines[2]
    return [*lines[:2], edited, *lines[3:]]


def _edit_target(lines: Lines) -> Lines:
    record = parse_record(lines[2])  # record 3 (a2): claim that a3 was promoted instead
    assert record.to_ref.run_id is not None
    forged = json.loads(lines[2])
    forged["to_ref"]["run_id"] = record.to_ref.run_id[:-5] + "zzzzz"
    return [*lines[:2], json.dumps(forged, separators=(",", ":")).encode(), *lines[3:]]


def _delete(lines: Lines) -> Lines:
    return [*lines[:2], *lines[3:]]


def _insert_chained(lines: Lines) -> Lines:
    """A forged record 3 that chains correctly to record 2; the real record 3 then breaks."""
    two = parse_record(lines[1])
    forged = replace(parse_record(lines[2]), reason="forged", prev_sha256=two.sha256).hashed()
    return [*lines[:2], forged.line(), *lines[2:]]


def _insert_unchained(lines: Lines) -> Lines:
    forged = replace(parse_record(lines[2]), reason="forged", prev_sha256="0" * 64).hashed()
    return [*lines[:2], forged.line(), *lines[2:]]


def _swap(lines: Lines) -> Lines:
    return [*lines[:2], lines[3], lines[2], *lines[4:]]


def _garble(lines: Lines) -> Lines:
    return [*lines[:3], lines[3][:40], *lines[4:]]


@pytest.mark.parametrize(
    ("tamper", "code", "seq", "line"),
    [
        (_edit_reason, "CHAIN_BROKEN", 4, 4),  # record 4's prev_sha256 no longer matches line 3
        (_edit_target, "CHAIN_BROKEN", 4, 4),
        (_delete, "CHAIN_BROKEN", 4, 3),
        (_insert_chained, "CHAIN_BROKEN", 3, 4),
        (_insert_unchained, "CHAIN_BROKEN", 3, 3),
        (_swap, "CHAIN_BROKEN", 4, 3),
        (_garble, "RECORD_UNREADABLE", None, 4),
    ],
    ids=["edit_reason", "edit_target", "delete", "insert_chained", "insert", "reorder", "garble"],
)
def test_tampering_is_named_at_the_first_bad_record(
    history: History, tamper: Callable[[Lines], Lines], code: str, seq: int | None, line: int
) -> None:
    history.write(tamper(history.lines))
    report = history.verify()
    assert not report.ok
    assert _problem(report) == (code, seq, line)


def test_a_rechained_journal_that_skips_a_number_or_breaks_the_from_link_is_named(
    history: History,
) -> None:
    records = list(read_records(history.pstore.journal_path))
    lines = history.lines
    fifth = replace(parse_record(lines[4]), seq=9).hashed()  # chained, but numbered 9
    sixth = replace(parse_record(lines[5]), prev_sha256=fifth.sha256).hashed()
    history.write([*lines[:4], fifth.line(), sixth.line()])
    assert _problem(history.verify()) == ("SEQ_GAP", 9, 5)

    a1 = history.runs["a1"]
    wrong_from = SealedRef("alpha", a1.run_id, a1.root_sha256, relpath="DATA.json")
    records[4] = replace(records[4], from_ref=wrong_from)  # a3's record claims it came from a1
    history.write(_rechain(records))
    assert _problem(history.verify()) == ("FROM_MISMATCH", 5, 5)


# -- consistent forgeries: only a head recorded elsewhere catches them ----------------------------


def test_a_truncated_journal_is_detected_only_with_the_expected_head(history: History) -> None:
    head = _sha(history.lines[-1])
    history.write(history.lines[:4])
    alone = history.verify()  # the pointer file still shows the records cut off
    assert {finding.code for finding in alone.problems} == {"POINTER_MISMATCH"}
    history.pstore.pointers_path.write_bytes(history.pointer_bytes[3])  # rolled back to match
    plain = history.verify()
    assert plain.ok and plain.notes == [] and plain.records == 4
    report = history.verify(expect_head=head)
    assert _problem(report) == ("HEAD_NOT_FOUND", None, None)
    assert head in report.problems[0].message


def test_a_rewritten_and_rechained_journal_is_detected_only_with_the_expected_head(
    history: History,
) -> None:
    head = _sha(history.lines[-1])
    records = list(read_records(history.pstore.journal_path))
    # A different past with the same present: alpha never went through a2, and record 1 was
    # promoted by somebody else for another reason.
    a1_to_a3 = replace(records[4], from_ref=records[0].to_ref, reason="straight to a3")
    rewritten = [replace(records[0], actor={"kind": "cli_user", "id": "someone@else"}),
                 records[1], records[3], a1_to_a3, records[5]]  # fmt: skip
    history.write(_rechain(rewritten))
    plain = history.verify()
    assert plain.ok and plain.notes == [] and plain.records == 5
    assert _problem(history.verify(expect_head=head)) == ("HEAD_NOT_FOUND", None, None)
    assert history.verify(expect_head=plain.head).ok  # the forger's own head, of course


@pytest.mark.parametrize("kept_by", ["this release", "an older release"])
def test_a_journal_set_aside_is_named_by_verify(history: History, kept_by: str) -> None:
    """A journal set aside (`.codex/quarantine/`, the one quarantine; `.codex/JOURNAL_QUARANTINE/`
    of older releases, still read) holds a head recorded before; gone, the journal is missed."""
    root, journal = history.pstore.workspace.root, history.pstore.journal_path
    head = _sha(history.lines[-1])
    if kept_by == "this release":
        kept = root / keep_aside(root, journal)
    else:
        kept = root / ".codex/JOURNAL_QUARANTINE" / f"2026-01-01T000000.000000Z__{journal.name}"
        kept.parent.mkdir()
        journal.rename(kept)
    (root / CHECKPOINT_RELPATH).unlink(missing_ok=True)  # only the journal kept shows it existed
    where = kept.relative_to(root).as_posix()
    gone = history.pstore.verify(expect_head=head).problems
    assert [p.code for p in gone] == ["HEAD_NOT_FOUND", "JOURNAL_MISSING"]
    assert f"{where} line 6" in gone[0].message and where in gone[1].message
    assert kept_journals(root, journal.name) == [kept]


def test_an_appended_record_keeps_an_older_expected_head(history: History) -> None:
    """Appending is what the journal is for: a recorded head stays found after later records."""
    head = _sha(history.lines[-1])
    history.pstore.rollback(
        "alpha",
        history.runs["a2"].run_id,
        relpath="DATA.json",
        reason="bad a3",
        actor=ACTOR,
        admit=admission,
    )
    report = history.verify(expect_head=head)
    assert report.ok and report.records == 7 and report.expect_head_seq == 6


# -- the pointer file edited by hand ---------------------------------------------------------------


@pytest.mark.parametrize(("registry", "field"), [("alpha", "run_id"), ("beta", "manifest_sha256")])
def test_a_pointer_file_edited_by_hand_is_a_pointer_mismatch(
    history: History, registry: str, field: str
) -> None:
    """A pointer's run id or root edited by hand (an edit back to the last record's origin,
    which a crash also leaves: `test_pointer_store.py`)."""
    document = json.loads(history.pstore.pointers_path.read_bytes())
    (entry,) = [p for p in document["pointers"] if p["registry_id"] == registry]
    entry["active_ref"][field] = history.runs["a1"].run_id if field == "run_id" else "f" * 64
    history.pstore.pointers_path.write_text(json.dumps(document, indent=2))
    report = history.verify()
    assert _problem(report) == ("POINTER_MISMATCH", None, None) and report.notes == []
    assert registry in report.problems[0].message
