"""`registry pointers ...` as a user runs it: exit codes, reason codes, --json, --help."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.pointers.store import MAX_REASON
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline_tests._helpers import Run, unseal

HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def seal(cli: Run, ws: Path, tmp_path: Path) -> Callable[..., str]:
    """`registry seal FILE --registry-id ID --json`: a new snapshot; returns its run id."""
    counter = iter(range(1000))

    def make(registry_id: str = "alpha") -> str:
        source = tmp_path / f"{registry_id.upper()}.json"
        source.write_text(json.dumps({"n": next(counter)}) + "\n")
        code, out, err = cli(
            "seal", str(source), "--registry-id", registry_id, "--workspace", str(ws), "--json"
        )
        assert code == 0, err
        run_id: str = json.loads(out)["run_id"]
        return run_id

    return make


def pointers(cli: Run, ws: Path, *args: str) -> tuple[int, str, str]:
    """`registry pointers ARGS... --workspace WS`."""
    return cli("pointers", *args, "--workspace", str(ws))


# -- help and bad usage ----------------------------------------------------------------------------


def test_the_group_help_says_its_exit_codes(cli: Run) -> None:
    """Every command's --help and examples: test_cli_helps.py; the group's also says exit codes."""
    code, out, _ = cli("pointers", "--help")
    assert code == 0 and "exit codes" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("pointers",), "BAD_USAGE"),
        (("pointers", "frobnicate"), "BAD_USAGE"),
        (("pointers", "verify", "--expect-head", "abc123"), "BAD_HEAD"),
        (("pointers", "verify", "--expect-head", "A" * 64), "BAD_HEAD"),
        (("pointers", "as-of", "yesterday"), "BAD_TIMESTAMP"),
        (("pointers", "as-of", "2026-11-20T18:00:00"), "BAD_TIMESTAMP"),  # no time zone
        (("pointers", "as-of", "2026-13-45"), "BAD_TIMESTAMP"),
        (("pointers", "as-of", "9999-12-31T23:59:59-01:00"), "BAD_TIMESTAMP"),  # past the calendar
        (("pointers", "as-of", "0001-01-01T00:00:00+01:00"), "BAD_TIMESTAMP"),
        (("pointers", "as-of", "0999-12-31"), "BAD_TIMESTAMP"),
        (("pointers", "rollback", "alpha", "--to", "X"), "--reason"),
        (("pointers", "rollback", "alpha", "--reason", "x"), "--to"),
        (("pointers", "promote", "alpha"), "RUN_ID"),
        *((("pointers", "promote", "alpha", "X", "--lock-timeout", seconds), "--lock-timeout")
          for seconds in ("nan", "inf", "-1", "1e300", "soon")),  # a finite number of seconds
    ],
)  # fmt: skip
def test_bad_usage_exits_2(cli: Run, ws: Path, args: tuple[str, ...], expected: str) -> None:
    code, out, err = cli(*args, "--workspace", str(ws))
    assert code == 2, (out, err)
    assert expected in err


def test_a_blank_reason_is_bad_usage_wherever_one_is_recorded(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """REASON_REQUIRED is its table's exit 2 for each command that records a reason (a repair
    said 1 until issue 63), and nothing is written."""
    old, new = seal(), seal()
    assert pointers(cli, ws, "promote", "alpha", new)[0] == 0
    journal = ws / ".codex" / JOURNAL_NAME
    before = journal.read_bytes()
    for args in (("rollback", "alpha", "--to", old), ("hold", "alpha"), ("repair",),
                 ("repair", "alpha")):  # fmt: skip
        code, _out, err = pointers(cli, ws, *args, "--reason", "  ")
        assert code == 2 and err.startswith("error: REASON_REQUIRED "), (args, code, err)
    assert journal.read_bytes() == before


def test_a_reason_too_long_is_refused_by_every_command_that_journals_one(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """REASON_TOO_LONG (exit 2) is one rule for every journaled reason: until issue 63 a hold,
    a release, an accept and a repair journaled a reason that a promotion refused."""
    old, new = seal(), seal()
    assert pointers(cli, ws, "promote", "alpha", old)[0] == 0
    assert pointers(cli, ws, "promote", "alpha", new)[0] == 0
    journal = ws / ".codex" / JOURNAL_NAME
    before = journal.read_bytes()
    for args in (("promote", "alpha", old), ("rollback", "alpha", "--to", old),
                 ("hold", "alpha"), ("release", "alpha"), ("accept", "alpha"), ("repair",),
                 ("repair", "alpha")):  # fmt: skip
        code, _out, err = pointers(cli, ws, *args, "--reason", "x" * (MAX_REASON + 1))
        assert code == 2 and err.startswith("error: REASON_TOO_LONG "), (args, code, err)
    assert journal.read_bytes() == before


def test_a_newline_in_a_reason_never_makes_a_line_of_its_own(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """`show` and `history` print one line per registry and per record: a journaled reason that
    holds a newline (a forged row) is shown escaped, as every other control character is."""
    assert pointers(cli, ws, "promote", "alpha", seal())[0] == 0
    forged = "ok\nalpha                    FAKE_RUN  sha256:000  ok"
    assert pointers(cli, ws, "hold", "alpha", "--reason", forged)[0] == 0
    for args in (("show",), ("history",), ("history", "alpha")):
        code, out, err = pointers(cli, ws, *args)
        assert code == 0, err
        lines = out.splitlines()
        assert not any(line.startswith("alpha                    FAKE_RUN") for line in lines)
        assert any("ok\\x0aalpha" in line for line in lines), (args, out)
    code, out, _err = pointers(cli, ws, "history", "--json")
    assert code == 0 and json.loads(out)[-1]["reason"] == forged  # the record keeps it as given


# -- promote, show, refusals -----------------------------------------------------------------------


def test_promote_show_and_the_journal_head(cli: Run, ws: Path, seal: Callable[..., str]) -> None:
    code, out, _ = pointers(cli, ws, "show", "--json")
    assert code == 0 and json.loads(out) == {"last_updated_utc": "unknown", "pointers": []}

    first = seal()
    code, out, err = pointers(cli, ws, "promote", "alpha", first, "--expect", "none", "--json")
    assert code == 0, err
    change = json.loads(out)
    assert change["changed"] is True and change["registry_id"] == "alpha"
    assert HEX64.fullmatch(change["journal_head"])
    assert change["record"]["seq"] == 1 and change["record"]["to_ref"]["run_id"] == first
    assert change["record"]["to_ref"]["relpath"] == "ALPHA.json"
    assert change["record"]["actor"]["kind"] == "cli_user"

    code, out, _ = pointers(cli, ws, "show", "--json")
    (row,) = json.loads(out)["pointers"]
    assert row["registry_id"] == "alpha" and row["active_ref"]["run_id"] == first
    assert row["target"] == "ok" and row["active_ref_known"] is True and row["hold"] is None
    code, out, _ = pointers(cli, ws, "show")
    assert code == 0 and first in out and "ok" in out

    code, out, _ = pointers(cli, ws, "promote", "alpha", first)
    assert code == 0 and "already active" in out
    code, out, _ = pointers(cli, ws, "promote", "alpha", first, "--json")
    assert json.loads(out)["changed"] is False and json.loads(out)["record"] is None


def test_refusals_exit_1_with_their_reason_code(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """One case per kind of refusal (every rule: core_tests/pointers/test_pointer_store.py)."""
    one, two, three, broken = seal(), seal(), seal(), seal()
    assert pointers(cli, ws, "promote", "alpha", two)[0] == 0
    journal = ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    before = journal.read_bytes()
    folder = ws / ".codex" / "RUNS" / broken
    unseal(folder)
    (folder / "ALPHA.json").write_text('{"n": "edited"}\n')
    for args, said in [
        (("promote", "alpha", three, "--expect", one), ("CAS_CONFLICT", two)),
        (("promote", "alpha", one), ("NOT_NEWER", "rollback")),
        (("rollback", "alpha", "--to", three, "--reason", "x"), ("NOT_OLDER",)),
        (("promote", "alpha", broken), ("TARGET_INVALID", "HASH_MISMATCH")),
        (("promote", "alpha", "a/b"), ("TARGET_NOT_IN_RUNS",)),
    ]:
        code, _out, err = pointers(cli, ws, *args)
        assert code == 1 and all(word in err for word in said), (args, err)
    assert journal.read_bytes() == before  # nothing refused was journaled


def test_a_lock_file_of_a_dead_process_does_not_block_and_verify_is_clean(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    run_id = seal()
    lock = ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json.lock"
    lock.write_text(json.dumps({"pid": 2**22 + 4321, "host": socket.gethostname(), "since": "-"}))
    code, _out, err = pointers(cli, ws, "verify")
    assert code == 0 and "LOCK_HELD" not in err  # nobody holds it: the flock died with its owner
    code, _out, err = pointers(cli, ws, "promote", "alpha", run_id, "--lock-timeout", "0")
    assert code == 0, err
    assert not lock.exists()


# -- rollback, history, as-of, verify --------------------------------------------------------------


def test_rollback_history_and_time_travel(cli: Run, ws: Path, seal: Callable[..., str]) -> None:
    a1, a2, b1 = seal(), seal(), seal("beta")
    for registry_id, run_id in (("alpha", a1), ("beta", b1), ("alpha", a2)):
        assert pointers(cli, ws, "promote", registry_id, run_id, "--reason", "ok")[0] == 0
    code, out, err = pointers(
        cli, ws, "rollback", "alpha", "--to", a1, "--reason", "bad data", "--expect", a2
    )
    assert code == 0, err

    code, out, _ = pointers(cli, ws, "history", "--json")
    records = json.loads(out)
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert [r["action"] for r in records] == ["promote"] * 3 + ["rollback"]
    assert records[3]["reason"] == "bad data" and records[3]["to_ref"]["run_id"] == a1
    assert all(HEX64.fullmatch(r["sha256"]) for r in records)
    code, out, _ = pointers(cli, ws, "history", "beta", "--json")
    assert [r["registry_id"] for r in json.loads(out)] == ["beta"]
    code, out, _ = pointers(cli, ws, "history", "alpha")
    assert code == 0 and len(out.splitlines()) == 3 and "rollback" in out and b1 not in out
    code, out, err = pointers(cli, ws, "history", "gamma")  # known nowhere: a typo, not "none"
    assert code == 2 and "UNKNOWN_REGISTRY" in err and out == ""

    first_moment = records[0]["created_utc"]
    code, out, _ = pointers(cli, ws, "as-of", first_moment, "--json")
    state = json.loads(out)
    assert code == 0 and state["as_of"] == first_moment
    assert [(p["registry_id"], p["active_ref"]["run_id"]) for p in state["pointers"]] == [
        ("alpha", a1)
    ]
    today = first_moment[:10]
    code, out, _ = pointers(cli, ws, "as-of", today, "--json")
    assert json.loads(out)["as_of"] == f"{today}T23:59:59.999999Z"
    assert {p["registry_id"]: p["seq"] for p in json.loads(out)["pointers"]} == {
        "alpha": 4,
        "beta": 2,
    }
    code, out, _ = pointers(cli, ws, "as-of", "2000-01-01")
    assert code == 0 and "nothing was active" in out
    code, out, _ = pointers(cli, ws, "as-of", "2000-01-01T12:00:00+02:00", "--json")
    assert json.loads(out) == {"as_of": "2000-01-01T10:00:00.000000Z", "pointers": []}


def test_verify_with_and_without_an_expected_head(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    code, out, _ = pointers(cli, ws, "verify")
    assert code == 0 and "0 record(s)" in out
    one, two = seal(), seal()
    _code, out, _ = pointers(cli, ws, "promote", "alpha", one, "--json")
    first_head = json.loads(out)["journal_head"]
    assert pointers(cli, ws, "promote", "alpha", two)[0] == 0

    code, out, _ = pointers(cli, ws, "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["records"] == 2
    assert report["problems"] == [] and report["notes"] == []
    code, out, _ = pointers(cli, ws, "verify", "--expect-head", first_head, "--json")
    assert code == 0 and json.loads(out)["expect_head_seq"] == 1
    code, out, err = pointers(cli, ws, "verify", "--expect-head", "0" * 64)
    assert code == 1 and "HEAD_NOT_FOUND" in err
    code, out, _ = pointers(cli, ws, "verify", "--expect-head", "0" * 64, "--json")
    assert code == 1 and [p["code"] for p in json.loads(out)["problems"]] == ["HEAD_NOT_FOUND"]


def test_a_corrupt_journal_is_reported_not_a_traceback(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    one = seal()
    assert pointers(cli, ws, "promote", "alpha", one)[0] == 0
    journal = ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    journal.write_bytes(b"{not json\n" + journal.read_bytes())
    code, _out, err = pointers(cli, ws, "history")
    assert code == 1 and "JOURNAL_CORRUPT" in err
    code, _out, err = pointers(cli, ws, "as-of", "2999-01-01")
    assert code == 1 and "JOURNAL_CORRUPT" in err and "INTERNAL" not in err
    code, _out, err = pointers(cli, ws, "show")
    assert code == 0 and one in _out


def test_a_torn_last_line_is_read_as_verify_reads_it(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """A promotion killed while appending leaves a torn last line: `verify` notes TORN_TAIL (the
    next change cuts it) and `history`, `as-of` and a change read the records before it, as
    the replay does; a line that does not parse before the last is JOURNAL_CORRUPT still."""
    one, two = seal(), seal()
    assert pointers(cli, ws, "promote", "alpha", one)[0] == 0
    journal = ws / ".codex" / JOURNAL_NAME
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"seq":')
    code, out, err = pointers(cli, ws, "verify", "--json")
    assert code == 0 and [n["code"] for n in json.loads(out)["notes"]] == ["TORN_TAIL"], err
    code, out, err = pointers(cli, ws, "history", "--json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [1], err
    code, out, err = pointers(cli, ws, "as-of", "2999-01-01", "--json")
    assert code == 0 and json.loads(out)["pointers"][0]["active_ref"]["run_id"] == one, err
    assert pointers(cli, ws, "promote", "alpha", two)[0] == 0  # the change cuts it
    assert journal.read_bytes().startswith(whole) and b'{"seq":{' not in journal.read_bytes()
    journal.write_bytes(b'{"seq":\n' + journal.read_bytes())
    for args in (("history",), ("as-of", "2999-01-01")):
        code, _out, err = pointers(cli, ws, *args)
        assert code == 1 and err.startswith("error: JOURNAL_CORRUPT"), (args, err)


def test_two_hand_edits_are_accepted_one_after_the_other(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """`accept` records one registry's hand edit; another registry's edit, not yet accepted, does
    not refuse it (each refusal named the other's accept: neither could go first)."""
    path = ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    earlier = {}
    for registry_id in ("alpha", "beta"):
        assert pointers(cli, ws, "promote", registry_id, seal(registry_id))[0] == 0
        earlier[registry_id] = next(p["active_ref"] for p in json.loads(path.read_text())[
            "pointers"] if p["registry_id"] == registry_id)  # fmt: skip
        assert pointers(cli, ws, "promote", registry_id, seal(registry_id))[0] == 0
    document = json.loads(path.read_text())
    for pointer in document["pointers"]:
        pointer["active_ref"] = earlier[pointer["registry_id"]]  # both edited back by hand
    path.write_text(json.dumps(document))
    code, out, _err = pointers(cli, ws, "verify", "--json")
    assert code == 1 and {p["code"] for p in json.loads(out)["problems"]} == {"POINTER_MISMATCH"}
    for registry_id in ("alpha", "beta"):
        code, _out, err = pointers(cli, ws, "accept", registry_id, "--reason", "pinned by hand")
        assert code == 0, (registry_id, err)
    assert pointers(cli, ws, "verify")[0] == 0
    code, out, _err = pointers(cli, ws, "show", "--json")
    shown = {row["registry_id"]: row for row in json.loads(out)["pointers"]}
    assert {rid: (row["active_ref"], row["journal"]) for rid, row in shown.items()} == {
        rid: (ref, "ok") for rid, ref in earlier.items()}  # fmt: skip


def test_a_fifo_journal_is_refused_as_such_never_said_missing(
    cli: Run, ws: Path, seal: Callable[..., str]
) -> None:
    """Only an absent or empty journal file is JOURNAL_MISSING (once the workspace shows it had
    records): a FIFO in its place is NOT_A_REGULAR_FILE on every reader, never waited on."""
    assert pointers(cli, ws, "promote", "alpha", seal())[0] == 0
    assert pointers(cli, ws, "hold", "alpha", "--reason", "x")[0] == 0  # the checkpoint kept
    journal = ws / ".codex" / JOURNAL_NAME
    journal.unlink()
    os.mkfifo(journal)
    for args in (("pointers", "verify"), ("pointers", "show"), ("validate", "--active")):
        code, _out, err = cli(*args, "--workspace", str(ws))
        assert code == 2 and err.startswith("error: NOT_A_REGULAR_FILE "), (args, code, err)


# -- the demo catalog ------------------------------------------------------------------------------


def test_a_registry_without_a_pointer_by_design_is_refused(
    cli: Run, demo: Path, tmp_path: Path
) -> None:
    report = tmp_path / "SYSTEM_HEALTH_REPORT_v0_1.md"
    report.write_text("# health\n")
    code, out, err = cli(
        "seal", str(report), "--registry-id", "system_health_report", "--workspace", str(demo),
        "--json",
    )  # fmt: skip
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, _out, err = pointers(cli, demo, "promote", "system_health_report", run_id)
    assert code == 1 and "NO_POINTER" in err
    code, _out, err = pointers(
        cli, demo, "rollback", "system_health_report", "--to", run_id, "--reason", "x"
    )
    assert code == 1 and "NO_POINTER" in err
    assert not (demo / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").exists()

    code, out, _ = pointers(cli, demo, "show", "--json")
    rows = {row["registry_id"]: row for row in json.loads(out)["pointers"]}
    assert code == 0 and rows["system_health_report"]["has_pointer"] is False
    assert (
        rows["run_registry"]["has_pointer"] is True and rows["run_registry"]["active_ref"] is None
    )
    code, out, _ = pointers(cli, demo, "show")
    assert "system_health_report" in out and "no pointer by design" in out


def test_a_seed_pointer_naming_a_root_but_no_run_id_is_shown_as_none(cli: Run, ws: Path) -> None:
    """A seed entry with a null run_id is adopted as found and named `None` everywhere, never ""."""
    seed = {"pointer_contract_version": "0.1", "pointers": [{
        "registry_id": "gamma", "active_ref": {"run_id": None, "run_root": None, "relpath": None,
                                               "manifest_sha256": "b" * 64},
        "active_ref_known": "unknown", "active_asof_utc": "unknown", "notes": ""}]}  # fmt: skip
    (ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json").write_text(json.dumps(seed))
    code, out, _err = cli("pointers", "hold", "gamma", "--reason", "stop", "--workspace", str(ws))
    assert code == 0 and out.startswith("#2 hold gamma: None -> None ")
    code, out, _err = cli("pointers", "history", "--workspace", str(ws))
    adopted, held = out.splitlines()
    assert code == 0 and " gamma " in adopted and " (none) -> None  by registry_adopt:" in adopted
    assert " None -> None  by cli_user:" in held
    code, out, _err = cli("pointers", "as-of", "2999-01-01T00:00:00Z", "--workspace", str(ws))
    assert code == 0 and out.split()[:2] == ["gamma", "None"]
    code, out, _err = cli("pointers", "show", "--workspace", str(ws))
    assert code == 0 and out.split()[:3] == ["gamma", "None", "sha256:" + "b" * 12]


@pytest.mark.parametrize(
    "args",
    [("hold", "alpah", "--reason", "x"), ("release", "alpah"), ("accept", "alpah", "--reason", "x"),
     ("repair", "alpah", "--reason", "x"), ("history", "alpah")],
    ids=lambda args: args[0],
)  # fmt: skip
def test_a_registry_nobody_knows_is_unknown_registry_not_nothing_to_do(
    cli: Run, ws: Path, seal: Callable[..., str], args: tuple[str, ...]
) -> None:
    """A typo's nothing-to-do is UNKNOWN_REGISTRY (exit 2); a known registry keeps its answer."""
    assert pointers(cli, ws, "promote", "alpha", seal())[0] == 0
    code, out, err = pointers(cli, ws, *args)
    assert code == 2 and "UNKNOWN_REGISTRY" in err and "'alpah'" in err and "alpha" in err, err
    assert out == ""
    known = tuple("alpha" if a == "alpah" else a for a in args)
    code, out, err = pointers(cli, ws, *known)
    assert "UNKNOWN_REGISTRY" not in err, err
    if args[0] == "release":
        assert code == 0 and "not held; nothing changed" in out


def test_the_journal_names_registry_actor_as_the_write_path_does(
    cli: Run, ws: Path, seal: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One `who` for every log: the journal and the receipt take REGISTRY_ACTOR, as add-entry."""
    run_id = seal()
    monkeypatch.setenv("REGISTRY_ACTOR", "ops@example")
    code, out, err = pointers(cli, ws, "promote", "alpha", run_id, "--json")
    assert code == 0, err
    assert json.loads(out)["record"]["actor"] == {"kind": "cli_user", "id": "ops@example"}
    receipts = list((ws / ".codex/RECEIPTS").glob("*.jsonl"))
    assert [json.loads(r.read_text())["build"]["id"] for r in receipts] == ["ops@example"]


@pytest.mark.parametrize("value", ["ops\x1b[2J@example", "ops\n@example", "x" * 201])
def test_a_registry_actor_no_log_can_hold_is_refused_before_anything_is_written(
    cli: Run, ws: Path, seal: Callable[..., str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    run_id = seal()
    monkeypatch.setenv("REGISTRY_ACTOR", value)
    code, out, err = pointers(cli, ws, "promote", "alpha", run_id, "--json")
    assert code == 2, (out, err)
    error = json.loads(out)["error"]
    assert (error["code"], error["field"]) == ("BAD_ACTOR", "REGISTRY_ACTOR"), error
    assert not (ws / ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl").exists()
    assert not (ws / ".codex/RECEIPTS").exists() or not any((ws / ".codex/RECEIPTS").iterdir())


@pytest.mark.parametrize("damage", ["duplicate_last", "spaced_reason", "deleted"])
def test_a_broken_journal_chain_is_said_by_show_and_validate_active_as_by_verify(
    cli: Run, ws: Path, seal: Callable[..., str], damage: str
) -> None:
    """A pointer file is explained only by a history that holds: show says CHAIN_BROKEN too."""
    for run_id in (seal(), seal()):
        assert pointers(cli, ws, "promote", "alpha", run_id, "--reason", "t")[0] == 0
    journal = ws / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    if damage == "duplicate_last":
        lines.append(lines[-1])
    elif damage == "spaced_reason":  # the first record's bytes change, not its hash: a broken link
        lines[0] = lines[0].replace(b'"reason":', b'"reason" :', 1)
    journal.write_bytes(b"".join(lines))
    if damage == "deleted":  # the workspace shows it existed (its checkpoint, the lock)
        journal.unlink()
    code, out, _err = pointers(cli, ws, "verify", "--json")
    found = {p["code"] for p in json.loads(out)["problems"]}
    broken = found & {"CHAIN_BROKEN", "SEQ_GAP", "JOURNAL_MISSING"}
    assert code == 1 and broken, out
    code, out, _err = pointers(cli, ws, "show", "--json")
    (row,) = json.loads(out)["pointers"]
    assert row["journal"] in broken, row
    code, out, err = cli("validate", "--active", "--workspace", str(ws))
    assert code == 1 and any(c in out + err for c in broken), out + err


def test_a_deleted_pointer_file_comes_back_with_one_repair(cli: Run, built: Path) -> None:
    """The only mutable file deleted: `validate --active` says the way back, and one `repair
    --all` puts every journal value back (not one command per registry): the build's last line
    applied again, or each registry's value restored, journaled, when a later line moved none."""
    path = built / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"

    def active() -> dict[str, Any]:
        return {p["registry_id"]: p["active_ref"] for p in json.loads(path.read_text())["pointers"]}

    original = active()
    named = sorted(original)
    assert len(named) >= 9
    path.unlink()
    code, _out, err = cli("validate", "--active", "--workspace", str(built))
    assert code == 1 and "error: POINTERS_MISSING" in err and "repair --all" in err, err
    code, out, _err = pointers(cli, built, "repair", "expected_versions", "--all", "--reason", "x",
                               "--json")  # fmt: skip
    assert code == 2 and json.loads(out)["error"]["code"] == "BAD_USAGE"
    assert json.loads(out)["error"]["field"] == "--all"
    code, out, err = pointers(cli, built, "repair", "--all", "--reason", "deleted", "--json")
    assert code == 0, out + err
    done = json.loads(out)  # the build's one promotion line moved every registry: applied again
    assert done["records"] == [], done  # the line's moves, one record each, as `history` has them
    assert sorted((r["action"], r["registry_id"]) for r in done["completed"]) == [
        ("promote", registry_id) for registry_id in named]  # fmt: skip
    assert active() == original

    assert pointers(cli, built, "hold", "drift_signals", "--reason", "audit")[0] == 0
    path.unlink()  # the last line a hold: nothing to apply again, every pointer restored
    code, out, err = pointers(cli, built, "repair", "--all", "--reason", "deleted", "--json")
    assert code == 0, out + err
    done = json.loads(out)
    assert done["completed"] is None
    assert [(r["action"], r["registry_id"]) for r in done["records"]] == [
        ("restore", registry_id) for registry_id in named]  # fmt: skip
    assert active() == original
    assert pointers(cli, built, "verify")[0] == 0
    assert cli("validate", "--active", "--workspace", str(built))[0] == 0
    code, out, _err = pointers(cli, built, "repair", "--all", "--reason", "again", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "NOTHING_TO_REPAIR"


def test_an_unreadable_pointer_file_comes_back_with_one_repair(cli: Run, built: Path) -> None:
    """A pointer file no reader accepts: every command that reads it says POINTERS_INVALID and
    how back, and `repair --all` keeps it in the quarantine, then writes it again from the
    journal (saying where the old one is kept)."""
    path = built / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    original = path.read_bytes()
    path.write_bytes(b"\x00garbage")
    for command in (("validate", "--active"), ("pointers", "verify"), ("build",)):
        code, _out, err = cli(*command, "--workspace", str(built))
        assert code == 1 and "error: POINTERS_INVALID" in err and "repair --all" in err, err
    code, out, err = pointers(cli, built, "repair", "--all", "--reason", "garbled")
    assert code == 0, out + err
    kept = re.search(
        r"^the unreadable pointer file is kept at (\S+) \(POINTERS_INVALID: not valid JSON",
        out,
        re.M,
    )
    assert kept is not None, out
    assert (built / kept.group(1)).read_bytes() == b"\x00garbage"
    head = json.loads(pointers(cli, built, "history", "--json")[1])[-1]["sha256"]
    assert f"missing from the file; journal head {head})" in out, out  # as --json's journal_head
    assert json.loads(path.read_bytes())["pointers"] == json.loads(original)["pointers"]
    assert cli("validate", "--active", "--workspace", str(built))[0] == 0
