"""No building on a broken history: while `pointers verify` fails nothing moves, the refusal
names the repair, and the repair is an explicit, journaled act."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, failed_rolepack, lengthen_journal

JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"


def _build(cli: Run, root: Path) -> tuple[int, dict[str, dict[str, object]], str]:
    code, out, err = cli("build", "--workspace", str(root), "--json")
    entries = {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}
    return code, entries, err


def _verify(cli: Run, root: Path) -> tuple[int, dict[str, object]]:
    code, out, _ = cli("pointers", "verify", "--json", "--workspace", str(root))
    return code, json.loads(out)


def _point_by_hand(root: Path, registry_id: str, run_id: str, manifest_sha256: str) -> str:
    """The pointer file edited by hand to `run_id`; the file as it was."""
    path = root / POINTERS
    original = path.read_text()
    edited = json.loads(original)
    for pointer in edited["pointers"]:
        if pointer["registry_id"] == registry_id:
            pointer["active_ref"].update(run_id=run_id, manifest_sha256=manifest_sha256)
    path.write_text(json.dumps(edited, indent=2) + "\n")
    return original


def test_a_build_refuses_to_promote_onto_a_journal_missing_a_middle_record(
    cli: Run, built: Path
) -> None:
    journal = built / JOURNAL
    lengthen_journal(built)
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 3
    journal.write_bytes(b"".join(lines[:1] + lines[2:]))  # one middle record removed
    before = journal.read_bytes()
    pointers_before = (built / POINTERS).read_bytes()
    code, out, _err = cli("build", "--workspace", str(built), "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "CHAIN_BROKEN" and "registry pointers repair" in error["message"]
    assert journal.read_bytes() == before  # nothing appended to the broken chain
    assert (built / POINTERS).read_bytes() == pointers_before

    code, out, err = cli(
        "pointers", "repair", "--reason", "a record was deleted", "--workspace", str(built)
    )
    assert code == 0, err
    assert "journal restarted" in out and "kept at" in out
    (kept,) = (built / ".codex/JOURNAL_QUARANTINE").iterdir()
    assert kept.read_bytes() == before  # the evidence, byte for byte
    assert _verify(cli, built)[0] == 0
    first = next(read_records(journal))
    assert first.action == "adopt" and first.checks["repair"]["sha256"]
    assert "a record was deleted" in first.reason
    assert _build(cli, built)[0] == 0


def test_a_promotion_by_hand_is_refused_while_the_chain_is_broken(cli: Run, built: Path) -> None:
    journal = built / JOURNAL
    lengthen_journal(built)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:1] + lines[2:]))
    for command in (("hold", "rolepack", "--reason", "x"),):
        code, _out, err = cli("pointers", *command, "--workspace", str(built))
        assert code == 1 and "CHAIN_BROKEN" in err and "registry pointers repair" in err


def test_a_hand_edit_of_the_relpath_names_the_field_and_repair_restores_it(
    cli: Run, built: Path
) -> None:
    path = built / POINTERS
    document = json.loads(path.read_text())
    entry = next(p for p in document["pointers"] if p["registry_id"] == "expected_versions")
    recorded = entry["active_ref"]["relpath"]
    entry["active_ref"]["relpath"] = "OTHER.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    code, out = _verify(cli, built)
    assert code == 1
    (problem,) = [p for p in out["problems"] if p["code"] == "POINTER_MISMATCH"]  # type: ignore[union-attr]
    message = problem["message"]
    assert "relpath is 'OTHER.json' in the pointer file" in message
    assert f"{recorded!r} in the journal" in message
    assert "registry pointers repair expected_versions" in message
    code, _out, err = cli(
        "pointers", "accept", "expected_versions", "--reason", "x", "--workspace", str(built)
    )
    assert code == 1 and "registry pointers repair expected_versions" in err
    code, out_text, err = cli(
        "pointers", "repair", "expected_versions", "--reason", "undo", "--workspace", str(built)
    )
    assert code == 0, err
    assert "restore" in out_text
    assert _verify(cli, built)[0] == 0
    restored = json.loads(path.read_text())
    entry = next(p for p in restored["pointers"] if p["registry_id"] == "expected_versions")
    assert entry["active_ref"]["relpath"] == recorded
    last = list(read_records(built / JOURNAL))[-1]
    assert last.action == "restore" and last.checks["restored"]["found"]["relpath"] == "OTHER.json"
    assert _build(cli, built)[0] == 0


def test_verify_reports_a_deleted_active_snapshot(cli: Run, built: Path) -> None:
    active = PointerStore(Workspace(built)).read().active("rolepack")
    assert active is not None and active.run_id
    shutil.rmtree(built / ".codex/RUNS" / active.run_id)
    code, out = _verify(cli, built)
    assert code == 1
    codes = {(p["code"], p["registry_id"]) for p in out["problems"]}  # type: ignore[union-attr]
    assert ("TARGET_MISSING", "rolepack") in codes
    code, _text, err = cli("pointers", "verify", "--workspace", str(built))
    assert code == 1 and "TARGET_MISSING" in err and active.run_id in err


def test_verify_reports_a_changed_active_snapshot(cli: Run, built: Path) -> None:
    active = PointerStore(Workspace(built)).read().active("rolepack")
    assert active is not None and active.run_id
    seal = built / ".codex/RUNS" / active.run_id / "MANIFEST.sha256"
    text = seal.read_text()
    root = active.manifest_sha256 or ""
    seal.write_text(text.replace(root, "0" * 64))
    code, out = _verify(cli, built)
    assert code == 1
    assert ("TARGET_CHANGED", "rolepack") in {
        (p["code"], p["registry_id"])
        for p in out["problems"]  # type: ignore[union-attr]
    }


def test_a_deleted_journal_stops_every_move_and_no_hand_edit_rides_in_on_the_repair(
    cli: Run, built: Path
) -> None:
    published = PointerStore(Workspace(built)).read().active("rolepack")
    original = _point_by_hand(built, "rolepack", *failed_rolepack(built))
    (built / JOURNAL).unlink()
    code, out = _verify(cli, built)
    assert code == 1 and "JOURNAL_MISSING" in {p["code"] for p in out["problems"]}  # type: ignore[union-attr]
    code, _text, err = cli(
        "pointers", "hold", "run_index", "--reason", "x", "--workspace", str(built)
    )
    assert code == 1 and "JOURNAL_MISSING" in err and "registry pointers repair" in err
    assert not (built / JOURNAL).exists()
    code, _text, err = cli("pointers", "repair", "--reason", "lost", "--workspace", str(built))
    assert code == 1 and "CHECK_FAILED" in err and "rolepack" in err  # the edit cannot ride in
    (built / POINTERS).write_text(original)
    code, text, err = cli("pointers", "repair", "--reason", "lost", "--workspace", str(built))
    assert code == 0, err
    assert "none was left" in text
    assert _verify(cli, built)[0] == 0
    assert PointerStore(Workspace(built)).read().active("rolepack") == published


def test_a_journal_with_an_unreadable_record_is_restarted_and_a_refusal_leaves_it_there(
    cli: Run, built: Path
) -> None:
    """A record edited into one no release writes: verify names its line; a restart refused
    (a hand edit cannot ride in) leaves the journal where it was; once the edit is undone the
    restart keeps the broken journal, byte for byte, and moves go on."""
    rolepack = built / "registries/rolepack/atelier_rolepack_v1.json"
    source = rolepack.read_text()
    failed = failed_rolepack(built)
    journal = built / JOURNAL
    journal.write_bytes(journal.read_bytes().replace(b'"promote"', b'"promoted"', 1))
    broken = journal.read_bytes()
    code, report = _verify(cli, built)
    assert code == 1 and report["problems"][0]["code"] == "RECORD_UNREADABLE"  # type: ignore[index]
    original = _point_by_hand(built, "rolepack", *failed)

    code, out, err = cli("pointers", "repair", "--reason", "edited", "--workspace", str(built),
                         "--json")  # fmt: skip
    assert code == 1, out + err
    assert json.loads(out)["error"]["code"] == "CHECK_FAILED" and "rolepack" in out
    assert journal.read_bytes() == broken
    assert not list((built / ".codex/JOURNAL_QUARANTINE").glob("*"))

    (built / POINTERS).write_text(original)
    code, out, err = cli("pointers", "repair", "--reason", "edited", "--workspace", str(built))
    assert code == 0, out + err
    (kept,) = (built / ".codex/JOURNAL_QUARANTINE").iterdir()
    assert kept.read_bytes() == broken
    assert _verify(cli, built)[0] == 0
    rolepack.write_text(source)
    assert _build(cli, built)[0] == 0


def test_repair_puts_back_only_what_passes_the_gate(cli: Run, built: Path) -> None:
    """P1 active, P2 (a role added) promoted, then P1 checked against P2 fails (a role removed);
    with the journal's last record cut, `repair rolepack` would put P1 back: refused through
    the gate (as `rollback --to P1` is), naming `accept`, which keeps P2 (it passed)."""
    first = str(_active_run(cli, built, "rolepack"))
    source = built / "registries/rolepack/atelier_rolepack_v1.json"
    document = json.loads(source.read_text())
    role = json.loads(json.dumps(document["roles"][0]).replace("executive_1", "newbie_1"))
    role.update(display_name="Newbie 1", aliases=[])
    source.write_text(json.dumps({**document, "roles": [*document["roles"], role]}, indent=2))
    code, out, err = cli("build", "--select", "rolepack", "--workspace", str(built), "--json")
    assert code == 0, out + err
    (entry,) = [e for e in json.loads(out)["registries"] if e["registry_id"] == "rolepack"]
    second = str(entry["run_id"])
    assert _active_run(cli, built, "rolepack") == second
    code, out, err = cli("pointers", "check", "rolepack", first, "--workspace", str(built))
    assert code == 1 and "ID_REMOVED" in out + err, out + err
    code, out, err = cli("pointers", "rollback", "rolepack", "--to", first, "--reason", "x",
                         "--workspace", str(built))  # fmt: skip
    assert code == 1 and "CHECK_FAILED" in err, out + err

    journal = built / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    assert last["registry_id"] == "rolepack" and last["to_ref"]["run_id"] == second
    journal.write_bytes(b"".join(lines[:-1]))  # the promotion of P2 cut off the journal
    code, report = _verify(cli, built)
    assert code == 1 and "registry pointers repair rolepack" in json.dumps(report)
    pointers_before = (built / POINTERS).read_bytes()
    code, out, err = cli("pointers", "repair", "rolepack", "--reason", "cut",
                         "--workspace", str(built))  # fmt: skip
    assert code == 1 and "CHECK_FAILED" in err and "registry pointers accept rolepack" in err, err
    assert (built / POINTERS).read_bytes() == pointers_before  # nothing put back
    assert journal.read_bytes() == b"".join(lines[:-1])  # nothing journaled
    code, out, err = cli("pointers", "accept", "rolepack", "--reason", "P2 passed",
                         "--workspace", str(built))  # fmt: skip
    assert code == 0, err
    assert _verify(cli, built)[0] == 0
    assert _active_run(cli, built, "rolepack") == second


def _active_run(cli: Run, root: Path, registry_id: str) -> str | None:
    code, out, err = cli("pointers", "show", "--workspace", str(root), "--json")
    assert code == 0, err
    (row,) = [r for r in json.loads(out)["pointers"] if r["registry_id"] == registry_id]
    return (row["active_ref"] or {}).get("run_id")


def test_a_snapshot_adopted_while_absent_passes_the_gate_when_its_folder_comes_back(
    cli: Run, built: Path
) -> None:
    """A restart adopts a pointer to a folder that is not here as found (noted, never checked);
    the snapshot failed its checks. Once the folder comes back, verify and build refuse it
    (CHECK_FAILED naming the snapshot and the rollback), as a rollback to it is refused; that
    rollback gets out. They passed."""
    good = str(_active_run(cli, built, "rolepack"))
    failed, root = failed_rolepack(built)
    _point_by_hand(built, "rolepack", failed, root)
    folder = built / ".codex/RUNS" / failed
    aside = built.parent / "aside"
    folder.rename(aside)
    (built / JOURNAL).unlink()
    code, text, err = cli("pointers", "repair", "--reason", "lost", "--workspace", str(built))
    assert code == 0, text + err
    assert _verify(cli, built)[0] == 0  # a note: the target is not here
    aside.rename(folder)
    code, out = _verify(cli, built)
    problems = out["problems"]
    assert code == 1 and [p["code"] for p in problems] == ["CHECK_FAILED"], out  # type: ignore[union-attr]
    assert "pointers rollback rolepack" in str(problems)
    code, text, err = cli("build", "--workspace", str(built))
    assert code == 1 and "CHECK_FAILED" in err and failed in err, text + err
    code, text, err = cli("pointers", "rollback", "rolepack", "--to", good, "--reason", "back",
                          "--workspace", str(built))  # fmt: skip
    assert code == 0, text + err
    assert _verify(cli, built)[0] == 0
    assert _active_run(cli, built, "rolepack") == good
