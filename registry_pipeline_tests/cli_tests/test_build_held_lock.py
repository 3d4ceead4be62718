"""A pointer lock held by another process refuses a build's whole move (LOCKED), never half."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.lib.failures import run_events, step_problems
from registry_pipeline.lib.instance import POSTGRES_URL_ENV, open_instance
from registry_pipeline.lib.promotion import (
    PROMOTION_JOB,
    PROMOTION_SENSOR,
    materialized,
    outcomes_of,
    pending_builds,
)
from registry_pipeline.lib.runs import PROMOTES_TAG, PROMOTION_TAG
from registry_pipeline_tests._dead_runs import promoted_by
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    Run,
    child_env,
    copy_built,
    environment_kept,
    registry,
)

HOLD_LOCK = """
import sys
from pathlib import Path
from registry_pipeline.core.lock import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), timeout=0, holder="a test holding the pointer lock"):
    print("held", flush=True)
    sys.stdin.readline()
"""


@dataclass(frozen=True)
class Held:
    """A green build's workspace after a forced `registry build` met the held pointer lock."""

    root: Path
    code: int
    lines: list[str]
    """What the build printed (stdout), line by line."""
    before: tuple[bytes, bytes]
    """The pointer file and the journal before that build."""
    build_run_id: str


@pytest.fixture(scope="module")
def held(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Held:
    """`registry build --force` while another process holds the pointer lock throughout."""
    root = copy_built(built_demo_once[0], tmp_path_factory.mktemp("held_lock"))
    store = PointerStore(Workspace(root))
    before = (store.pointers_path.read_bytes(), store.journal_path.read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store.lock_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):  # a build sets DAGSTER_HOME
            code, out, _err = registry("build", "--force", "--workspace", str(root))
    finally:
        holder.communicate(input="\n", timeout=60)
    lines = out.splitlines()
    run = lines[-1].split()[:3]  # `dagster run <id>: ...`
    assert run[:2] == ["dagster", "run"], out
    return Held(root, code, lines, before, run[2].rstrip(":"))


def _with_pointer(root: Path) -> set[str]:
    return {spec.registry_id for spec in load_catalog(Workspace(root)).registries
            if spec.active_pointer}  # fmt: skip


def test_a_held_pointer_lock_refuses_the_whole_move_and_the_build_stays_pending(
    held: Held,
) -> None:
    root, wanted = held.root, _with_pointer(held.root)
    assert held.code == 1
    rows = {line.split()[1]: line for line in held.lines if line.split()[0] in ("BUILT", "REUSED")}
    assert wanted and wanted <= set(rows)
    for registry_id, line in rows.items():
        why = "LOCKED" if registry_id in wanted else "no pointer by design"
        assert line.endswith(f"  not promoted ({why})"), line
    store = PointerStore(Workspace(root))
    assert (store.pointers_path.read_bytes(), store.journal_path.read_bytes()) == held.before
    with open_instance(root) as instance:
        build = instance.get_run_by_id(held.build_run_id)
        assert build is not None and build.status == dg.DagsterRunStatus.SUCCESS
        [promotion] = instance.get_runs(
            dg.RunsFilter(job_name=PROMOTION_JOB, tags={PROMOTES_TAG: held.build_run_id})
        )
        assert promotion.status == dg.DagsterRunStatus.FAILURE  # it promoted nothing
        outcomes = outcomes_of(instance, promotion.run_id)
        assert {rid: (o["outcome"], o["code"]) for rid, o in outcomes.items() if rid in wanted} == {
            rid: ("refused", "LOCKED") for rid in wanted
        }  # every registry of the build: the whole move refused
        failure = dg.DagsterEventType.STEP_FAILURE
        [why] = step_problems(run_events(instance, promotion.run_id, failure))
        assert why["code"] == "LOCKED" and why["path"] == str(store.lock_path), why
        assert "is pending again" in str(why["message"])
        # its promotion is due again: the sensor requests it under the next run key
        assert build.tags[PROMOTION_TAG] == "pending"
        assert [run.run_id for run in pending_builds(instance)] == [held.build_run_id]
        defs = build_definitions(root)
        sensor = defs.resolve_sensor_def(PROMOTION_SENSOR)
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        keys = [request.run_key for request in tick.run_requests or []]
        assert keys == [f"promote:{held.build_run_id}:2"]


def test_once_the_lock_is_free_the_next_build_promotes_the_refused_one(
    held: Held, cli: Run, tmp_path: Path
) -> None:
    """The next build promotes the refused one first, in one move, then builds as any build does."""
    root = copy_built(held.root, tmp_path)
    code, out, err = cli("build", "--json", "--workspace", str(root))
    assert code == 0, out + err
    settled = f"promoting dagster run {held.build_run_id}, a build whose promotion was pending"
    assert settled in err.splitlines(), err
    journal = PointerStore(Workspace(root)).journal_path
    records = [r for r in read_records(journal) if r.actor.get("id") == held.build_run_id]
    with open_instance(root) as instance:
        made = materialized(instance, held.build_run_id)
    moved = {r.registry_id: r.to_ref.run_id for r in records}  # type: ignore[union-attr]
    assert moved and moved == {rid: made[rid][0] for rid in moved}  # the refused build's
    assert len({r.seq for r in records}) == 1  # its whole move, in one journal entry
    document = json.loads(out)
    assert document["success"] is True  # then built (a copy's files are new to it), promoted
    promoted_by(root, document)


def test_a_build_refused_by_the_pointer_lock_says_why_in_its_last_line(held: Held) -> None:
    """As after a failed promotion write (test_full_disk.py): nothing promoted, and why."""
    last = held.lines[-1]
    assert "FAILED" in last and "nothing promoted" in last and "LOCKED" in last, last
