"""`registry runs append` and the build decide alike: a record `append` refuses, written into the
log by hand, fails the build's blocking `rules` check with the same code; a rewritten log fails
its `append_only` check; an unchanged log is reused with both checks passed by the shortcut. The
`rules` check reads the overrides log from a sealed snapshot, not from the working tree."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline.core.gate.checks import run_rules_check
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots
from registry_pipeline_tests._helpers import Entries, Run, build_entries

LOG = "registries/run_index/RUN_INDEX_v0_1.jsonl"
OVERRIDES = "registries/run_index/RUN_OVERRIDES_v0_1.jsonl"
OVERRIDE = {
    "override_id": "OVR-20261001-0900-ZZZZ",
    "created_utc": "2026-10-01T09:00Z",
    "created_by": "human",
    "run_id": "RUN-20261001-0900-ZZZZ",
    "checks": ["uniqueness_scene"],
    "reason": "only in the working tree",
}


def test_append_and_the_build_refuse_the_same_record(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo, first = built, built_entries  # the first build: the session's (exit 0)
    assert first["run_index"]["promoted"]
    code, again = build_entries(
        cli, demo, "--force"
    )  # unchanged: the shortcut runs the same checks
    assert code == 0 and again["run_index"]["status"] == "reused"
    assert again["run_index"]["checks"] == first["run_index"]["checks"]
    assert {"append_only", "rules"} <= set(first["run_index"]["checks"])

    log = demo / LOG
    last = json.loads(log.read_bytes().splitlines()[-1])  # again, at the same time
    other_bytes = dict(reversed(list(last.items())))  # byte for byte, it would be a retry
    code, out, _ = cli("runs", "append", "--workspace", str(demo), "--json",
                       "--record-json", json.dumps(other_bytes))  # fmt: skip
    assert code == 1 and json.loads(out)["error"]["code"] == "AUGMENT_NOT_LATER"
    with log.open("ab") as handle:  # the same record, by hand
        handle.write(json.dumps(last).encode() + b"\n")
    code, rebuilt = build_entries(cli, demo)
    assert code == 1
    assert rebuilt["run_index"]["checks"]["rules"] is False
    assert "AUGMENT_NOT_LATER" in " ".join(map(str, rebuilt["run_index"]["problems"]))
    assert not rebuilt["run_index"]["promoted"]


def test_a_rewritten_log_fails_its_append_only_check(cli: Run, built: Path) -> None:
    demo = built  # after one green build
    log = demo / LOG
    lines = log.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["notes"] = "rewritten by hand"
    lines[1] = json.dumps(record).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    code, rebuilt = build_entries(cli, demo)
    assert code == 1
    assert rebuilt["run_index"]["checks"]["append_only"] is False
    assert "rules" not in rebuilt["run_index"]["checks"]  # its own step, after the snapshot's
    assert "line 2 of the previous log" in " ".join(map(str, rebuilt["run_index"]["problems"]))


def _append(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def test_an_override_only_in_the_working_tree_fails_the_rules_check(cli: Run, built: Path) -> None:
    sealed = list_snapshots(Workspace(built), "run_overrides")[-1]
    _append(built / OVERRIDES, OVERRIDE)
    first = json.loads((built / LOG).read_text().splitlines()[0])
    run = {
        **first,
        "run_id": OVERRIDE["run_id"],
        "created_utc": "2026-10-01T09:00Z",
        "uniqueness_scene": "FAIL",
        "override_id": OVERRIDE["override_id"],
    }
    _append(built / LOG, run)
    cli("build", "--workspace", str(built), "--select", "run_index", "--json")
    folder = list_snapshots(Workspace(built), "run_index")[-1].path

    verdict = run_rules_check(folder, Workspace(built), "run_index", pinned={})

    assert not verdict.passed
    assert verdict.metadata["reason_codes"] == ["run-override-exists"]
    assert [(i.registry_id, i.run_id) for i in verdict.inputs] == [("run_overrides", sealed.run_id)]
