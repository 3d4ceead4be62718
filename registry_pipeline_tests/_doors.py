"""The UI's Launch button and `registry build` at once, on a real `dagster dev` (webserver and
daemon) over a workspace: the issue-39 race, on whatever instance and medium the caller's
environment gives (SQLite, PostgreSQL, a bucket).

`race` starts one build through the webserver's GraphQL `launchPipelineExecution` (what the
Launch button sends) and one `registry build --force` (a process of its own, launched through
the instance's queue as outside the tests), in the order asked, and watches both runs' statuses
through GraphQL until both have ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline_tests._webserver import _free_port, _stop, _wait_until_ready, graphql

BIN = Path(sys.executable).parent
WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: registry_pipeline.definitions
      location_name: registry_pipeline
"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
RUNS = """
{ runsOrError(filter: {pipelineName: "build_registries"}) { ... on Runs { results {
    runId status creationTime startTime endTime tags { key value } } } } }
"""
RACE_TIMEOUT = 180.0
POLL = 0.2


@contextmanager
def dagster_dev(root: Path, env: dict[str, str], scratch: Path) -> Iterator[str]:
    """`dagster dev` (webserver and daemon) on the workspace `root`, started in it with `env`;
    its base URL. The location is named as `registry build` names it."""
    workspace = scratch / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    port, log = _free_port(), scratch / "dagster-dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", f"{port}"],
            cwd=root,
            env={**env, "DAGSTER_HOME": str(root / ".codex" / "dagster_home")},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base, process, log)  # type: ignore[arg-type]
        yield base
    finally:
        _stop(process)  # type: ignore[arg-type]


def launch(base: str) -> str:
    """The Launch button of the job `build_registries`: the new run's id."""
    params = {
        "selector": {
            "repositoryLocationName": "registry_pipeline",
            "repositoryName": "__repository__",
            "pipelineName": "build_registries",
        },
        "runConfigData": {},
        "mode": "default",
    }
    answer = graphql(base, LAUNCH, {"params": params})["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return str(answer["run"]["runId"])


@dataclass
class Race:
    """What `race` saw."""

    ui_run: str = ""
    cli_run: str = ""
    cli: tuple[int, str, str] = (0, "", "")
    seen: dict[str, set[str]] = field(default_factory=dict)
    """Run id -> every status it was seen in."""
    queued_while_other_ran: set[str] = field(default_factory=set)
    runs: dict[str, dict[str, object]] = field(default_factory=dict)
    """Run id -> its last GraphQL record (status, startTime, endTime)."""
    began: float = 0.0
    """Wall time (epoch seconds) when the first build was asked for."""
    cli_seconds: float = 0.0
    """The command's own wall time, from its start to its exit."""
    queued: dict[str, float] = field(default_factory=dict)
    """Run id -> seconds it was seen QUEUED (to within a poll)."""

    def own_time(self, run_id: str) -> float:
        """How long the build took apart from waiting for the other one: the command's wall
        time for its run, from the launch to the end for the UI's; less the time queued."""
        run = self.runs[run_id]
        if run_id == self.cli_run:
            asked = self.cli_seconds
        else:
            asked = float(run["endTime"]) - float(run["creationTime"])  # type: ignore[arg-type]
        return asked - self.queued.get(run_id, 0.0)

    @property
    def elapsed(self) -> float:
        """From the first build asked for to the last run's end."""
        return max(float(run["endTime"]) for run in self.runs.values()) - self.began  # type: ignore[arg-type]


def race(base: str, root: Path, env: dict[str, str], *, ui_first: bool) -> Race:
    """One UI launch and one `registry build --force` at once (module doc)."""
    seen = Race()
    before = {run["runId"] for run in _runs(base)}
    seen.began = time.time()
    cli_env = {**env, "DAGSTER_HOME": str(root / ".codex" / "dagster_home")}
    cli_env.pop("REGISTRY_BUILD_IN_PROCESS", None)
    argv = [sys.executable, "-m", "registry_pipeline", "build", "--force", "--json"]
    command: subprocess.Popen[str] | None = None

    cli_started = cli_ended = 0.0

    def start_cli() -> subprocess.Popen[str]:
        nonlocal cli_started
        cli_started = time.monotonic()
        return subprocess.Popen(
            [*argv, "--workspace", str(root)],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    if ui_first:
        seen.ui_run = launch(base)
        command = start_cli()
    else:
        command = start_cli()
        deadline = time.monotonic() + RACE_TIMEOUT
        while not (set(_statuses(base)) - before) and time.monotonic() < deadline:
            time.sleep(POLL)  # polls an observable condition: the command's run exists
        seen.ui_run = launch(base)
    deadline = time.monotonic() + RACE_TIMEOUT
    last = time.monotonic()
    while time.monotonic() < deadline:
        statuses = {k: v for k, v in _statuses(base).items() if k not in before}
        now = time.monotonic()
        for run_id, status in statuses.items():
            seen.seen.setdefault(run_id, set()).add(status)
            if status == "QUEUED":
                seen.queued[run_id] = seen.queued.get(run_id, 0.0) + (now - last)
        last = now
        others_running = {k for k, v in statuses.items() if v == "STARTED"}
        for run_id, status in statuses.items():
            if status == "QUEUED" and others_running - {run_id}:
                seen.queued_while_other_ran.add(run_id)
        ended = all(v in ("SUCCESS", "FAILURE", "CANCELED") for v in statuses.values())
        if command.poll() is not None and cli_ended == 0.0:
            cli_ended = time.monotonic()
        if len(statuses) == 2 and ended and cli_ended:
            break
        time.sleep(POLL)  # polls observable conditions: the runs' statuses, the command's end
    out, err = command.communicate(timeout=60)
    seen.cli_seconds = cli_ended - cli_started
    seen.cli = (command.returncode, out, err)
    seen.runs = {run["runId"]: run for run in _runs(base) if run["runId"] not in before}
    document = json.loads(out) if out.strip().startswith("{") else {}
    seen.cli_run = str(document.get("dagster_run_id") or "")
    return seen


def _runs(base: str) -> list[dict[str, object]]:
    return list(graphql(base, RUNS)["runsOrError"]["results"])


def _statuses(base: str) -> dict[str, str]:
    return {str(run["runId"]): str(run["status"]) for run in _runs(base)}


def assert_one_after_the_other(seen: Race) -> None:
    """Both builds ended well, the second waited queued while the first ran, and together they
    took at most the sum of their own times plus 10 s (no deadlock, no timeout)."""
    code, out, err = seen.cli
    assert code == 0, out + err
    assert json.loads(out)["success"] is True
    assert set(seen.runs) == {seen.ui_run, seen.cli_run}, seen.runs
    assert {run["status"] for run in seen.runs.values()} == {"SUCCESS"}, seen.runs
    assert seen.queued_while_other_ran, seen.seen  # the second one waited, shown queued
    total = seen.own_time(seen.ui_run) + seen.own_time(seen.cli_run)
    assert seen.elapsed <= total + 10, (seen.elapsed, total, seen.queued)


def environment(**extra: str) -> dict[str, str]:
    """This process's environment for the server and the command, without a workspace or home
    of the developer's."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGISTRY_WORKSPACE")}
    env.pop("DAGSTER_WEBSERVER_URL", None)
    return {**env, **extra}
