"""The pointer promises as an operator meets them at the command line (rules: core_tests/gate/)."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, active_runs, lengthen_journal, tmpfs
from registry_pipeline_tests.core_tests.gate._support import point_by_hand

SOURCE = Path("registries") / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"


def test_a_hand_edited_pointer_stops_the_build_until_accepted(cli: Run, built: Path) -> None:
    newer = str(active_runs(built)["expected_versions"])
    code, out, err = cli("seal", str(built / SOURCE), "--registry-id", "expected_versions",
                         "--workspace", str(built), "--json")  # fmt: skip
    assert code == 0, err
    edited = str(json.loads(out)["run_id"])
    point_by_hand(built, "expected_versions", edited)
    runs_before = sorted(p.name for p in (built / ".codex" / "RUNS").iterdir())
    code, _out, err = cli("build", "--workspace", str(built))
    assert code == 1 and "POINTER_MISMATCH" in err and "expected_versions" in err
    assert edited in err and newer in err
    assert sorted(p.name for p in (built / ".codex" / "RUNS").iterdir()) == runs_before
    code, out, _ = cli("pointers", "show", "--workspace", str(built))
    assert "[POINTER_MISMATCH]" in next(row for row in out.splitlines() if "expected_vers" in row)

    code, out, err = cli("pointers", "accept", "expected_versions", "--reason", "pinned for the "
                         "audit", "--workspace", str(built), "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["record"]["action"] == "accept"
    code, _out, err = cli("pointers", "verify", "--workspace", str(built))
    assert code == 0 and "ACCEPTED_EDIT" in err


def test_a_promotion_on_a_full_disk_is_aborted_and_not_applied_later(
    cli: Run, tmp_path: Path
) -> None:
    """A real full tmpfs: the receipt not written refuses; the pointer file not written aborts."""
    (tmp_path / "disk").mkdir()
    with tmpfs(tmp_path / "disk") as disk:
        ws = disk.path / "ws"
        assert cli("init", str(ws))[0] == 0
        ids = []
        for value in (1, 2):
            source = tmp_path / "ALPHA.json"
            source.write_text(json.dumps({"value": value}))
            code, out, err = cli("seal", str(source), "--registry-id", "alpha", "--json",
                                 "--workspace", str(ws))  # fmt: skip
            assert code == 0, err
            ids.append(json.loads(out)["run_id"])
        promote = ("pointers", "promote", "alpha")
        assert cli(*promote, ids[0], "--workspace", str(ws))[0] == 0
        store = PointerStore(Workspace(ws))
        checkpoint = ws / ".codex/cache/pointer_journal_checkpoint.json"
        checkpoint.unlink(missing_ok=True)  # a cache the store drops when full: no page to free
        disk.fill()  # no room for the gate's receipt: refused before anything is journaled
        code, _out, err = cli(*promote, ids[1], "--workspace", str(ws))
        assert code == 1 and "IO_ERROR" in err and "nothing was changed" in err, err
        assert [record.action for record in read_records(store.journal_path)] == ["promote"]
        disk.free()
        assert cli("pointers", "check", "alpha", ids[1], "--workspace", str(ws))[0] == 0
        checkpoint.unlink(missing_ok=True)
        disk.fill()  # the receipt is there now; the new pointer file does not fit
        code, _out, err = cli(*promote, ids[1], "--workspace", str(ws))
        assert code == 1 and "IO_ERROR" in err and "marked aborted" in err, err
        assert store.read().active("alpha").run_id == ids[0]
        actions = [record.action for record in read_records(store.journal_path)]
        assert actions == ["promote", "promote", "abort"]  # journaled, failed, marked aborted
        disk.free()
        assert cli("pointers", "verify", "--workspace", str(ws))[0] == 0
        assert cli("pointers", "hold", "alpha", "--reason", "x", "--workspace", str(ws))[0] == 0
        assert store.read().active("alpha").run_id == ids[0]  # never applied later


def test_a_corrupt_journal_record_is_a_reason_code_everywhere_never_internal(
    cli: Run, built: Path
) -> None:
    active = str(active_runs(built)["expected_versions"])
    lengthen_journal(built)
    journal = PointerStore(Workspace(built)).journal_path
    lines = journal.read_bytes().splitlines(keepends=True)
    index = max(i for i, line in enumerate(lines[:-1]) if b'"expected_versions"' in line)
    lines[index] = lines[index][:-40] + b"\n"  # a record of it, not the last, cut short
    journal.write_bytes(b"".join(lines))
    for args in (
        ("pointers", "show"),
        ("pointers", "verify"),
        ("pointers", "history"),
        ("pointers", "accept", "expected_versions", "--reason", "x"),
        ("pointers", "hold", "expected_versions", "--reason", "x"),
        ("pointers", "promote", "expected_versions", active),
        ("build",),
    ):
        code, _out, err = cli(*args, "--workspace", str(built))
        assert code in (0, 1), (args, code, err)  # show reports it in its journal column
        assert "INTERNAL" not in err, (args, err)
