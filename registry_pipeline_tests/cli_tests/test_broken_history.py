"""`registry pointers verify` and `repair` on a broken history (the rules: core_tests/gate/)."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, seal_checked
from registry_pipeline_tests.core_tests.gate._support import point_by_hand


def test_repair_restarts_a_broken_journal_keeping_it_and_restores_a_hand_edit(
    cli: Run, ws: Path
) -> None:
    first, second, failed = (
        seal_checked(ws, "alpha", n, receipt)[0]
        for n, receipt in ((1, "passed"), (2, "passed"), (3, "failed"))
    )
    journal = PointerStore(Workspace(ws)).journal_path

    def pointers(*args: str) -> tuple[int, str, str]:
        return cli("pointers", *args, "--workspace", str(ws))

    assert pointers("promote", "alpha", first)[0] == 0
    assert pointers("hold", "alpha", "--reason", "x")[0] == 0
    assert pointers("release", "alpha", "--reason", "x")[0] == 0
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(broken := b"".join(lines[:1] + lines[2:]))  # a middle record removed
    code, out, _err = pointers("verify", "--json")
    assert code == 1 and [p["code"] for p in json.loads(out)["problems"]] == ["CHAIN_BROKEN"]
    code, _out, err = pointers("hold", "alpha", "--reason", "x")
    assert code == 1 and "CHAIN_BROKEN" in err
    edited = point_by_hand(ws, "alpha", failed)  # a hand edit cannot ride in on the repair
    code, out, _err = pointers("repair", "--reason", "lost", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "CHECK_FAILED"
    (ws / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json").write_bytes(edited)

    code, out, err = pointers("repair", "--reason", "a record was deleted")
    assert code == 0, err
    head, *records = out.splitlines()
    kept = head.split("kept at ")[1].split(";")[0]
    assert head.startswith("journal restarted") and (ws / kept).read_bytes() == broken
    assert len(records) == 1 and "adopt alpha" in records[0] and first in records[0]
    assert pointers("verify")[0] == 0

    point_by_hand(ws, "alpha", second)
    code, out, err = pointers("repair", "alpha", "--reason", "undo", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["repair"], [r["action"] for r in done["records"]]) == ("restored", ["restore"])
    assert done["journal_head"] == done["records"][-1]["sha256"]
    assert pointers("verify")[0] == 0
