"""`registry build` runs its build and promotion runs in its own process, on the instance."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import dagster as dg

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.lib.build_run import BUILD_JOB, COMMAND_TAG
from registry_pipeline.lib.instance import open_instance
from registry_pipeline.lib.promotion import PROMOTION_JOB
from registry_pipeline.lib.runs import PROMOTES_TAG, PROMOTION_TAG, RUN_KEY_TAG
from registry_pipeline_tests._dead_runs import wait_until
from registry_pipeline_tests._helpers import (
    Run,
    child_env,
    copy_demo,
    registry_process,
    slot_holder,
)


def test_a_build_is_a_build_run_then_a_promotion_run_naming_it(built: Path, cli: Run) -> None:
    """The build run seals and checks; its promotion run, tagged and keyed, moves the pointers."""
    code, out, err = cli("build", "--workspace", str(built), "--force", "--json")
    assert code == 0, out + err
    document = json.loads(out)
    build_id, promotion_id = document["dagster_run_id"], document["promotion_run_id"]
    assert document["dagster_run_url"].endswith(f"/runs/{build_id}")
    with open_instance(built) as instance:
        build = instance.get_run_by_id(build_id)
        promotion = instance.get_run_by_id(promotion_id)
    assert build is not None and promotion is not None
    assert (build.job_name, promotion.job_name) == (BUILD_JOB, PROMOTION_JOB)
    assert build.status == promotion.status == dg.DagsterRunStatus.SUCCESS
    assert build.tags[PROMOTION_TAG] == promotion_id and promotion.tags[PROMOTES_TAG] == build_id
    assert promotion.tags[RUN_KEY_TAG] == f"promote:{build_id}"
    assert build.tags[COMMAND_TAG].startswith("registry build (pid ")
    moved = [r for r in read_records(PointerStore(Workspace(built)).journal_path)
             if r.actor.get("id") == build_id]  # fmt: skip
    assert moved, "the build's snapshots were promoted, the journal naming the build run"


def test_a_build_that_finds_the_slot_held_waits_saying_for_whom_then_builds(
    tmp_path: Path,
) -> None:
    """A held workspace: the build says whom it waits for, then builds (`--wait 0` refused at
    once: test_build_concurrency.py)."""
    root = copy_demo(tmp_path)
    holder = slot_holder(root, "test build")
    try:
        patient = registry_process("build", "--workspace", str(root), "--json")
        assert patient.stderr is not None
        first = patient.stderr.readline()  # said as it starts waiting (the holder never lets go)
        assert first.startswith("waiting: dagster run ") and "test build" in first, first
    finally:
        holder.communicate(input="\n", timeout=60)
    out, rest = patient.communicate(timeout=600)
    assert patient.returncode == 0, out + rest
    assert json.loads(out)["success"] is True


def test_ctrl_c_cancels_the_run_with_one_line_and_130(cli: Run, tmp_path: Path) -> None:
    """Ctrl-C while sealing: the run ends CANCELED, nothing promoted, `interrupted`, exit 130."""
    root = copy_demo(tmp_path)
    hold = tmp_path / "hold"
    hold.touch()
    build = registry_process(
        "build", "--workspace", str(root),
        env=child_env(REGISTRY_PIPELINE_HOLD_AT=f"staging_created:{hold}"),
    )  # fmt: skip
    reached = Path(f"{hold}.reached")
    wait_until(lambda: reached.exists() or build.poll() is not None, "the build's first seal")
    build.send_signal(signal.SIGINT)
    hold.unlink()
    out, err = build.communicate(timeout=300)
    assert build.returncode == 130, out + err
    assert out == "" and [line.split()[:2] for line in err.splitlines()] == [
        ["error:", "INTERRUPTED"]
    ], err
    assert "Traceback" not in err
    with open_instance(root) as instance:
        [run] = instance.get_runs(dg.RunsFilter(job_name=BUILD_JOB))
        assert run.status == dg.DagsterRunStatus.CANCELED
    pointers = root / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    assert not pointers.exists()  # an interrupted build promotes nothing
    code, out, err = cli("build", "--workspace", str(root))
    assert code == 0, out + err


def test_wait_0_on_an_idle_workspace_builds_at_once(built: Path, cli: Run) -> None:
    """`--wait 0` fails at once only when another build holds the workspace."""
    code, out, err = cli(
        "build", "--workspace", str(built), "--force", "--select", "expected_versions",
        "--wait", "0", "--json",
    )  # fmt: skip
    assert code == 0, out + err
    document = json.loads(out)
    assert document["success"] is True
    assert [entry["registry_id"] for entry in document["registries"]] == ["expected_versions"]
