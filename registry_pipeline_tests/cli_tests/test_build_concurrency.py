"""One build at a time per workspace: racing builds serialize or fail fast (BUILD_IN_PROGRESS)."""

from __future__ import annotations

import itertools
import json
import signal
from pathlib import Path

import dagster as dg
import pytest

from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.workspace.build_slot import BUILD_SLOT_RELPATH
from registry_pipeline.lib.build_run import BUILD_JOB
from registry_pipeline.lib.instance import open_instance
from registry_pipeline_tests._helpers import (
    Run,
    copy_demo,
    registry_process,
    run_folders,
    slot_holder,
)

SOURCES = ("expected_versions", "migration_ledger", "threshold_packs_file", "allowed_operations")


def _assert_healthy(cli: Run, root: Path) -> None:
    """Everything verifies and a `--force` build afterwards is green."""
    for args in (("validate", "--all"), ("pointers", "verify"), ("delta", "verify")):
        code, out, err = cli(*args, "--workspace", str(root))
        assert code == 0, (args, out, err)
    code, out, err = cli("build", "--workspace", str(root), "--json", "--force")
    assert code == 0, (out, err)
    assert all(entry["problems"] == [] for entry in json.loads(out)["registries"])


def _assert_one_after_the_other(root: Path, outputs: list[str]) -> None:
    """The builds wrote their snapshots one after the other (two green outcomes do not say it)."""
    spans = []
    with open_instance(root) as instance:
        for out in outputs:
            run_id = json.loads(out)["dagster_run_id"]
            if run_id is None:  # nothing to run: it waited, then found the work done
                continue
            times = [
                record.timestamp
                for record in instance.all_logs(run_id)
                if record.dagster_event is not None
                and record.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
            ]
            if times:
                spans.append((min(times), max(times)))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, spans


def _source_snapshots(root: Path) -> dict[str, list[str]]:
    runs = root / ".codex" / "RUNS"
    return {
        source: sorted(p.name for p in runs.iterdir() if registry_of(p.name) == source)
        for source in SOURCES
    }


@pytest.mark.parametrize("builds", [2, 3])
def test_concurrent_builds_on_a_fresh_workspace_serialize(
    cli: Run, tmp_path: Path, builds: int
) -> None:
    root = copy_demo(tmp_path)
    processes = [
        registry_process("build", "--workspace", str(root), "--json") for _ in range(builds)
    ]
    results = [(*p.communicate(timeout=600), p.returncode) for p in processes]
    for out, err, code in results:
        assert code == 0, (out, err)
        assert "INTERNAL" not in err
    for source, folders in _source_snapshots(root).items():
        assert len(folders) == 1, (source, folders)  # identical content is sealed once
    _assert_one_after_the_other(root, [out for out, _err, _code in results])
    _assert_healthy(cli, root)


def test_a_build_on_a_used_workspace_waits_for_the_running_one(cli: Run, built: Path) -> None:
    source = built / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    text = source.read_text()
    source.write_text(text.replace('"op_status_table": "0.1.0"', '"op_status_table": "0.1.1"'))
    first = registry_process("build", "--workspace", str(built), "--json")
    second = registry_process("build", "--workspace", str(built), "--json")
    outputs = []
    for process in (first, second):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, (out, err)
        outputs.append(out)
    assert len(_source_snapshots(built)["expected_versions"]) == 2
    _assert_one_after_the_other(built, outputs)
    _assert_healthy(cli, built)


def test_a_busy_workspace_fails_fast_naming_the_holder(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    holder = slot_holder(root)
    try:
        code, _out, err = cli("build", "--workspace", str(root), "--wait", "0")
    finally:
        holder.communicate(input="\n", timeout=60)
    assert code == 1
    assert "BUILD_IN_PROGRESS" in err and str(root / BUILD_SLOT_RELPATH) in err
    assert "test holder" in err, err
    assert run_folders(root) == []


def test_a_dagster_run_of_the_build_job_meets_the_slot_too(tmp_path: Path) -> None:
    """A run launched by the UI or a schedule takes the same slot (its build_run resource)."""
    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.lib.build_run import resources_config

    root = copy_demo(tmp_path)
    job = build_definitions(root).resolve_job_def(BUILD_JOB)
    config = resources_config(str(root), False, wait_seconds=0)
    holder = slot_holder(root)
    try:
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(config, instance=instance, raise_on_error=False)
    finally:
        holder.communicate(input="\n", timeout=60)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure).event_specific_data
    error, messages = failure.error, []
    while error is not None:  # the resource's error is the cause of Dagster's
        messages.append(error.message)
        error = error.cause
    assert any("BuildInProgress: another build" in message for message in messages), messages
    assert list((root / ".codex" / "RUNS").iterdir()) == [root / ".codex" / "RUNS" / ".gitkeep"]


def test_ctrl_c_waiting_for_the_build_slot_is_one_line_and_130(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    holder = slot_holder(root)
    try:
        build = registry_process("build", "--workspace", str(root), "--wait", "600")
        assert build.stderr is not None
        assert "waiting" in build.stderr.readline()  # it is waiting for the holder: interrupt it
        build.send_signal(signal.SIGINT)
        out, err = build.communicate(timeout=60)
    finally:
        holder.communicate("")
    assert build.returncode == 130
    assert err.strip().startswith("error: INTERRUPTED ") and len(err.splitlines()) == 1 and not out
    assert run_folders(root) == []
