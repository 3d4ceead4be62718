"""Dagster serving a built copy of the demo workspace, for the tests that look at it as the UI
does: the real `dagster-webserver` (`serve_demo`, `webserver`), or `dagster dev` with its daemon
(`serve`) for the UI's Launch button and `registry build` at once.

`serve_demo` copies the demo workspace, builds it with `registry build --json` (in this
process), then `dagster-webserver -w workspace.yaml` serves it on 127.0.0.1 (REGISTRY_WORKSPACE =
the copy, DAGSTER_HOME = its `.codex/dagster_home`). The GraphQL tests
(`defs_tests/test_webserver.py`) and the browser tests (`ui_tests/`) read what the UI shows
from it.

`serve` does the same on whatever instance and medium the caller's environment gives (SQLite,
PostgreSQL, a bucket) and starts `dagster dev` (its daemon dequeues queued runs). `race` asks for
one build through the webserver's GraphQL `launchPipelineExecution` (what the Launch button
sends) and one `registry build --force` (a process of its own, launched through the instance's
queue as outside the tests) in the order asked, and records every status GraphQL shows of both
runs until both have ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.freshness import up_to_date
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace, point_dagster_here
from registry_pipeline.defs.promotion import SENSOR_INTERVAL
from registry_pipeline_tests._helpers import DEMO_GRAPH, copy_built, copy_demo, registry, watched

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
READY_TIMEOUT = 90.0
"""Upper bound on the server's start (it is usually ready within a few seconds)."""
POLL_INTERVAL = 0.2
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    """A running server on a built copy of the demo workspace."""

    base_url: str
    workspace: Path
    build: dict[str, Any]
    """The `registry build --json` document of the build that ran before the server started."""
    env: Mapping[str, str] = field(default_factory=dict)
    """`dagster dev`'s environment, and of every `registry` process started beside it."""

    def entry(self, registry_id: str) -> dict[str, Any]:
        """The build's entry for `registry_id`."""
        return next(e for e in self.build["registries"] if e["registry_id"] == registry_id)

    def query(self, query: str, **variables: Any) -> Any:
        return graphql(self.base_url, query, variables)

    def runs(self, job: str = "build_registries") -> dict[str, dict[str, Any]]:
        """Every run of `job`: run id -> runId, status, startTime, endTime, tags."""
        answer = self.query(RUNS, job=job)["runsOrError"]
        assert answer["__typename"] == "Runs", answer
        return {run["runId"]: run for run in answer["results"]}

    def log(self, run_id: str) -> list[tuple[str, str]]:
        """The run's log as the UI shows it: (event type, message) of each event."""
        answer = self.query(LOG, id=run_id)["logsForRun"]
        assert answer["__typename"] == "EventConnection", answer
        return [(event["__typename"], event.get("message", "")) for event in answer["events"]]

    def launched(self, run_id: str) -> float | None:
        """When the run was launched (its RunStartingEvent, in seconds), if it was."""
        answer = self.query(LAUNCHED, id=run_id)["logsForRun"]
        assert answer["__typename"] == "EventConnection", answer
        stamps = [e["timestamp"] for e in answer["events"] if e["__typename"] == "RunStartingEvent"]
        return float(stamps[0]) / 1000 if stamps else None

    def assert_succeeded(self, run_id: str, report: str = "") -> None:
        """The run ended SUCCESS and never failed on the way (a run marked failed while its
        worker goes on ends SUCCESS all the same when the worker finishes)."""
        log = self.log(run_id)
        failures = [message for kind, message in log if kind == "RunFailureEvent"]
        status = self.runs()[run_id]["status"]
        assert status == "SUCCESS" and not failures, f"{run_id} {status}: {failures}\n{report}"

    def registry(self, *args: str, held: bool = False) -> subprocess.Popen[str]:
        """`registry ARGS... --workspace ROOT`, a process of its own; `held`: its build run
        (executed in the command) waits at HOLD_STEP while `hold_file` exists, as runs do."""
        return subprocess.Popen(
            [str(BIN / "registry"), *args, "--workspace", str(self.workspace)],
            env={k: v for k, v in self.env.items() if held or k != HOLD},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


JOB = "build_registries"
"""`lib.build_run.BUILD_JOB`."""
WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: registry_pipeline.definitions
      location_name: registry_pipeline
"""
"""The repository's workspace.yaml: the location named as `registry build` names it."""
UNSET = ("DAGSTER_HOME", "REGISTRY_WORKSPACE", "DAGSTER_WEBSERVER_URL", "REGISTRY_BUILD_IN_PROCESS",
         "REGISTRY_STORE", "REGISTRY_DAGSTER_POSTGRES_URL")  # fmt: skip
"""Settings of this process that are not the served workspace's (the caller gives its own)."""
HOLD = "REGISTRY_PIPELINE_HOLD_AT"
"""`core.faults`: the runs of a served workspace wait at HOLD_STEP while `hold_file` exists."""
HOLD_STEP = "staging_created"
"""Where a held build waits: its first seal has begun, its build slot is taken."""
DOOR_TAG = "registry-pipeline-tests/door"
ENDED = ("SUCCESS", "FAILURE", "CANCELED")
POLL = 0.5
"""Between two looks at the runs once a run was seen queued while the other ran (until then every
POLL_INTERVAL, so as short a wait is seen as before): each look is a GraphQL query (~10 ms of the
webserver's CPU), and what is left to see is only how both runs end."""
RACE_TIMEOUT = 180.0
"""Upper bound on two builds one after the other (each takes a few seconds)."""
SLACK = 10.0
"""The issue's bound: two builds at once take at most the sum of their own times plus this. A
run's own time counts from its launch (its RunStartingEvent; the command's run, executed in the
command's own process, has none: from its start), so the time a loaded machine takes to start a
run worker is the run's, and the slack bounds only the time no run was being worked on: the
queue's pick-up, where a wait for a timeout or a deadlock would show."""

REPOSITORIES = """
{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
    name location { name } pipelines { name } } } } }
"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUNS = """
query Runs($job: String!) { runsOrError(filter: {pipelineName: $job}) {
  __typename ... on Runs { results { runId status startTime endTime tags { key value } } } } }
"""
MATERIALIZATIONS = """
query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
  assetMaterializations { assetKey { path }
    metadataEntries { label ... on BoolMetadataEntry { boolValue }
      ... on TextMetadataEntry { text } } } } } }
"""
LAUNCHED = """
query Launched($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { timestamp } } } } }
"""
LOG = """
query Logs($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message } } } } }
"""


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTRY_WORKSPACE": str(root),
        "DAGSTER_HOME": str(root / ".codex" / "dagster_home"),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """POST `query` to the server's /graphql; the `data` of an answer without errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        document = json.load(response)
    assert not document.get("errors"), document.get("errors")
    return document["data"]


LOCATIONS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /server_info, then the code location's load status, within READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    stage = "server_info"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            if stage == "server_info":
                with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
                    info = json.load(response)
                assert "dagster_webserver_version" in info, info
                stage = "location"
            entries = graphql(base_url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                loaded = {e["locationOrLoadError"]["__typename"] for e in entries}
                assert loaded == {"RepositoryLocation"}, entries  # not a PythonError
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(POLL_INTERVAL)  # polling interval, not a wait for readiness
    pytest.fail(f"dagster-webserver not ready after {READY_TIMEOUT}s ({stage}):\n{_log_tail(log)}")


STOPPING: list[subprocess.Popen[bytes]] = []
"""Servers told to stop that this process has not seen end yet (`reap`)."""


def stop(process: subprocess.Popen[bytes]) -> None:
    """Tell the server and the code server it spawned (its own process group) to stop, without
    waiting for them: they shut down (5-12 s under load, mostly waiting) while the next tests
    run, and `reap` sees them end before the test process does."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        STOPPING.append(process)


def reap() -> None:
    """Wait for every server told to stop, killing its process group after 30 s."""
    while STOPPING:
        process = STOPPING.pop()
        try:
            process.wait(timeout=30.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10.0)


def build(root: Path, *, succeed: bool = True) -> dict[str, Any]:
    """`registry build --json` in the workspace at `root` (in this process, with the
    environment the server gets): its document, after checking that the build succeeded
    (`succeed`) or failed with exit code 1."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("REGISTRY_WORKSPACE", "DAGSTER_HOME"):
            patch.setenv(name, _env(root)[name])
        patch.chdir(root)
        code, out, err = registry("build", "--json")
    assert code == (0 if succeed else 1), out + err
    document: dict[str, Any] = json.loads(out)
    assert document["success"] is succeed, document
    return document


@contextlib.contextmanager
def webserver(root: Path) -> Iterator[str]:
    """Serve the workspace at `root` within the block; yields the base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = root.parent / f"webserver-{os.getpid()}.log"  # the run's processes may serve one root
    with log.open("wb") as sink:
        command = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            watched([*command, "-w", str(REPO / "workspace.yaml")], group=True),
            stdin=subprocess.PIPE,  # the watchdog stops the server when this process ends
            env=_env(root),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(base_url, process, log)
        yield base_url
    finally:
        stop(process)


def serve_demo(
    parent: Path, *, prepare: Callable[[Path], object] | None = None, succeed: bool = True
) -> Iterator[Served]:
    """Copy the demo workspace under `parent`, let `prepare` change it, build it (expecting
    `succeed`), and serve it: for a module-scoped fixture (`yield from serve_demo(...)`)."""
    root = copy_demo(parent)
    if prepare is not None:
        prepare(root)
    document = build(root, succeed=succeed)
    with webserver(root) as base_url:
        yield Served(base_url, root, document)


def environment(root: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its own workspace, home and storage, plus the
    workspace at `root`, its home and `settings` (a PostgreSQL URL, a bucket)."""
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    home = str(root / ".codex" / "dagster_home")
    hold = f"{HOLD_STEP}:{hold_file(root)}"  # `race` holds the first build while the file exists
    return {**env, **settings, "REGISTRY_WORKSPACE": str(root), "DAGSTER_HOME": home,
            HOLD: hold}  # fmt: skip


def hold_file(root: Path) -> Path:
    """The file whose presence holds a build of the served workspace at `root` at HOLD_STEP."""
    return root.parent / "hold-the-first-build"


def serve(
    parent: Path,
    settings: Mapping[str, str] | None = None,
    *,
    built: tuple[Path, dict[str, Any]] | None = None,
) -> Iterator[Served]:
    """A copy of the demo workspace under `parent`, built once (in this process, with
    `settings` in the environment, which prepares its instance), served by `dagster dev`: for a
    module-scoped fixture (`yield from serve(...)`). The build also writes the copy's `.env`,
    which `dagster dev` reads in its folder over its environment: a copy of a built workspace
    would still name the original's instance there.

    On SQLite (no `settings`) the caller may give `built`, a workspace already built there and
    its build's document (`built_demo_once`): it is copied instead of built again, and the copy's
    `.env` made to name the copy's own home as every command makes it (`point_dagster_here`)."""
    if built is not None:
        assert not settings, "a built copy is on SQLite"
        root = copy_built(built[0], parent)
        point_dagster_here(root)
        with dagster_dev(root, environment(root, {}), parent) as base_url:
            yield Served(base_url, root, built[1], environment(root, {}))
        return
    root = copy_demo(parent)
    env = environment(root, settings or {})
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET:
            patch.delenv(name, raising=False)
        for name, value in {**(settings or {}), "DAGSTER_HOME": env["DAGSTER_HOME"]}.items():
            patch.setenv(name, value)
        code, out, err = registry("build", "--in-process", "--workspace", str(root), "--json")
    document: dict[str, Any] = json.loads(out) if code == 0 else {}
    assert document.get("success") is True, out + err
    with dagster_dev(root, env, parent) as base_url:
        yield Served(base_url, root, document, env)


@contextlib.contextmanager
def dagster_dev(root: Path, env: Mapping[str, str], scratch: Path) -> Iterator[str]:
    """`dagster dev` (webserver and daemon) started in the workspace `root` with `env`, in a
    process group of its own stopped at the end; its base URL once the location is loaded."""
    workspace = scratch / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    port, log = free_port(), scratch / "dagster-dev.log"
    args = ["dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            watched([str(BIN / "dagster"), *args], group=True),
            stdin=subprocess.PIPE,  # the watchdog stops `dagster dev` when this process ends
            cwd=root,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    SERVERS[base_url] = process
    try:
        wait_until_ready(base_url, process, log)
        yield base_url
    finally:
        SERVERS.pop(base_url, None)
        stop(process)


SERVERS: dict[str, subprocess.Popen[bytes]] = {}
"""The `dagster dev` process serving each base URL, while it serves."""


def interrupt(base_url: str) -> int:
    """Stop the `dagster dev` at `base_url` as Ctrl-C in its terminal does (SIGINT to its
    process group), and wait for it to exit: its exit code."""
    process = SERVERS[base_url]
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=READY_TIMEOUT)


def launch(served: Served, door: str = "ui") -> str:
    """The Launch button of the job's page (the Launchpad's default: no config): the new run's
    id. The location and repository are the ones the webserver names."""
    answer = served.query(REPOSITORIES)["repositoriesOrError"]
    assert answer["__typename"] == "RepositoryConnection", answer
    [repository] = [
        node for node in answer["nodes"] if JOB in {job["name"] for job in node["pipelines"]}
    ]
    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "pipelineName": JOB,
        },
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": DOOR_TAG, "value": door}]},
    }
    launched = served.query(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


@dataclass
class Race:
    """What `race` saw."""

    ui_first: bool
    ui_run: str
    cli: tuple[int, str, str] = (0, "", "")
    timeline: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    """Each change of the new runs' statuses: (seconds since the first request, run -> status)."""
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The new runs as GraphQL shows them at the end (status, startTime, endTime, and launched:
    its launch's time, else its startTime)."""

    @property
    def cli_run(self) -> str:
        """The run of `registry build` (its document names it, failed or not)."""
        out = self.cli[1]
        return str(json.loads(out).get("dagster_run_id")) if out.startswith("{") else ""

    @property
    def second(self) -> str:
        """The run asked for second: the one that waits."""
        return self.cli_run if self.ui_first else self.ui_run

    def queued_while_the_other_ran(self) -> set[str]:
        """The runs seen QUEUED while the other run was STARTED."""
        found = set()
        for _at, statuses in self.timeline:
            for run_id, status in statuses.items():
                others = {s for other, s in statuses.items() if other != run_id}
                if status == "QUEUED" and "STARTED" in others:
                    found.add(run_id)
        return found

    def started_while_the_other_ran(self) -> set[str]:
        """The runs seen STARTED while the other run was STARTED (one waits for the slot)."""
        return {
            run_id
            for _at, statuses in self.timeline
            for run_id, status in statuses.items()
            if status == "STARTED" and list(statuses.values()).count("STARTED") == 2
        }

    def waiting_while_the_other_ran(self) -> bool:
        """The second door waits: the UI's run queued (the instance's queue counts the command's
        run), or the command's run started and waiting for the build slot the first holds."""
        if self.ui_first:
            return bool(self.started_while_the_other_ran())
        return bool(self.queued_while_the_other_ran())

    def duration(self, run_id: str) -> float:
        """The run's own time: from its launch to its end."""
        run = self.runs[run_id]
        return float(run["endTime"]) - float(run["launched"])

    def elapsed(self) -> float:
        """From the first run's launch to the last one's end, as the instance recorded them."""
        starts = [float(run["launched"]) for run in self.runs.values()]
        ends = [float(run["endTime"]) for run in self.runs.values()]
        return max(ends) - min(starts)


def submitted(served: Served, before: set[str]) -> bool:
    """Whether a run not in `before` is in the queue or further on: created alone (NOT_STARTED)
    it is not yet submitted, and a run launched then could be queued before it (under load a
    command's submission took 7 s)."""
    return any(
        run["status"] != "NOT_STARTED"
        for run_id, run in served.runs().items()
        if run_id not in before
    )


def race(served: Served, *, ui_first: bool) -> Race:
    """One UI launch and one `registry build --force` at once (module doc): UI first, then the
    command at once; or the command first, then the UI as soon as the command's run is queued.
    The first run is held at its first seal (`hold_file`) until the second is seen queued while
    it runs: however slowly the second door submits (12 s under load), the runs overlap."""
    before = set(served.runs())
    began = time.monotonic()
    deadline = began + RACE_TIMEOUT
    hold = hold_file(served.workspace)
    hold.touch()
    command: subprocess.Popen[str] | None = None
    try:
        reached = Path(f"{hold}.reached")
        reached.unlink(missing_ok=True)
        change_a_source(served.workspace)  # something to seal: an unchanged build seals nothing
        if ui_first:  # the command once the UI's run holds the slot, at its first seal
            ui_run = launch(served)
            while not reached.exists():
                assert time.monotonic() < deadline, "the UI's run never reached its first seal"
                time.sleep(POLL_INTERVAL)  # polling the run's hold point: it leaves a file
            command = served.registry("build", "--force", "--json", held=True)
        else:
            command = served.registry("build", "--force", "--json", held=True)
            while not submitted(served, before):  # the command's run is queued (or further on)
                assert command.poll() is None and time.monotonic() < deadline, command.communicate()
                time.sleep(POLL_INTERVAL)  # polling an observable condition: launch soon after it
            ui_run = launch(served)
        seen = Race(ui_first, ui_run)
        while True:
            statuses = {k: v["status"] for k, v in served.runs().items() if k not in before}
            if not seen.timeline or seen.timeline[-1][1] != statuses:
                seen.timeline.append((round(time.monotonic() - began, 2), statuses))
            waited = seen.waiting_while_the_other_ran()  # the moment the test is about
            if waited:
                hold.unlink(missing_ok=True)  # the first run goes on; the second follows it
            if command.poll() is not None and statuses.get(ui_run) in ENDED:
                break
            assert time.monotonic() < deadline, f"not both ended: {seen.timeline}"
            time.sleep(POLL if waited else POLL_INTERVAL)  # polling the statuses and the end
        out, err = command.communicate(timeout=60)
    finally:
        hold.unlink(missing_ok=True)
        if command is not None and command.poll() is None:
            command.kill()
            command.communicate()
    seen.cli = (command.returncode, out, err)
    seen.runs = {k: v for k, v in served.runs().items() if k not in before}
    for run_id, run in seen.runs.items():
        run["launched"] = served.launched(run_id) or run["startTime"]
    return seen


def assert_one_after_the_other(served: Served, seen: Race) -> None:
    """Both builds ended well, the second was shown queued while the first ran, and together
    they took at most the sum of their own times plus SLACK (no deadlock, no timeout)."""
    code, out, err = seen.cli
    report = f"{seen.timeline}\nCLI exit {code}:\n{out[-2000:]}\n{err[-2000:]}"
    assert set(seen.runs) == {seen.ui_run, seen.cli_run}, report
    promoted_by_the_sensor(served, seen.ui_run)  # the UI's build, once, by the sensor's run
    assert len(promotions(served).get(seen.cli_run, [])) == 1, report  # the command's own
    for run_id in seen.runs:
        served.assert_succeeded(run_id, report)
    assert code == 0 and json.loads(out)["success"] is True, report
    if seen.ui_first:  # the command waited for the slot the UI's run held, and said so
        assert f"held by dagster run {seen.ui_run}" in err, report
    else:
        assert seen.second in seen.queued_while_the_other_ran(), report  # it waited, Queued
    total = seen.duration(seen.ui_run) + seen.duration(seen.cli_run)
    assert seen.elapsed() <= total + SLACK, (seen.elapsed(), total, report)


def wait_for(served: Served, run_id: str) -> str:
    """The run's final status (polling GraphQL, within RACE_TIMEOUT)."""
    deadline = time.monotonic() + RACE_TIMEOUT
    while (status := served.runs()[run_id]["status"]) not in ENDED:
        assert time.monotonic() < deadline, f"{run_id} still {status}"
        time.sleep(POLL)  # polling the run's status
    return str(status)


def change_a_source(root: Path) -> str:
    """Edit expected_versions' source to another valid value: the registry it changes."""
    source = root / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    text = source.read_text()
    old, new = '"op_status_table": "0.1.0"', '"op_status_table": "0.1.1"'
    changed = text.replace(old, new) if old in text else text.replace(new, old)
    assert changed != text
    source.write_text(changed)
    return "expected_versions"


def derived(root: Path) -> set[str]:
    """The registries built from other registries (not sealed from files of the workspace):
    every build builds them again, whatever changed."""
    catalog = load_catalog(Workspace(root))
    return {spec.registry_id for spec in catalog.registries if not spec.is_source}


def folders(root: Path) -> set[str]:
    return {p.name for p in (root / ".codex" / "RUNS").iterdir() if not p.name.startswith(".")}


DAILY = "drift_signals_daily"
"""The asset the daemon's daily schedule seals at 00:30 UTC (defs/drift_daily.py)."""


def assert_a_ui_build_seals_only_what_changed(served: Served) -> set[str]:
    """A source changed, a build launched from the UI (not forced) seals that source and the
    derived registries, as `registry build` does, reuses every other source, and the next
    `registry build` says "up to date". The run folders it sealed.

    The served instance's daemon runs the daily drift schedule: a test that spans 00:30 UTC
    sees that schedule's folder appear too. Every other new folder must be one this run
    reported (its materialization's `run_id`)."""
    before = folders(served.workspace)
    changed = change_a_source(served.workspace)
    run_id = launch(served)
    wait_for(served, run_id)
    served.assert_succeeded(run_id)
    answer = served.query(MATERIALIZATIONS, id=run_id)["runOrError"]
    entries = {
        event["assetKey"]["path"][-1]: {entry["label"]: entry for entry in event["metadataEntries"]}
        for event in answer["assetMaterializations"]
    }
    assert set(entries) == set(DEMO_GRAPH)  # every registry reported, the reused ones too
    reused = {
        registry_id: bool(labels.get("reused_snapshot", {}).get("boolValue"))
        for registry_id, labels in entries.items()
    }
    new = {
        labels["run_id"]["text"]
        for registry_id, labels in entries.items()
        if not reused[registry_id]
    }
    elsewhere = folders(served.workspace) - before - new
    assert new <= folders(served.workspace), new
    assert {registry_of(name) for name in elsewhere} <= {DAILY}, elsewhere
    sealed = {registry_of(name) for name in new}
    assert sealed == {changed} | derived(served.workspace), sealed
    promoted_by_the_sensor(served, run_id)  # under load its promotion may not have begun yet
    command = served.registry("build")
    out, err = command.communicate(timeout=RACE_TIMEOUT)
    assert command.returncode == 0 and out.startswith("up to date"), out + err
    return new


PROMOTION_JOB = "promote_registries"
"""`lib.promotion.PROMOTION_JOB`."""
PROMOTES = "registry-pipeline/promotes"
"""`lib.runs.PROMOTES_TAG`: on a promotion run, the build run it promotes."""


def promotions(served: Served) -> dict[str, list[dict[str, Any]]]:
    """Build run id -> the promotion runs that promote it (GraphQL's view)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in served.runs(PROMOTION_JOB).values():
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        if PROMOTES in tags:
            found.setdefault(tags[PROMOTES], []).append(run)
    return found


def promoted_by_the_sensor(served: Served, build_run: str) -> dict[str, Any]:
    """The promotion run the daemon's sensor started for `build_run`, once it ended."""
    deadline = time.monotonic() + RACE_TIMEOUT
    while True:
        runs = promotions(served).get(build_run, [])
        if runs and all(run["status"] in ENDED for run in runs):
            break
        assert time.monotonic() < deadline, f"no promotion of {build_run} ended"
        time.sleep(POLL_INTERVAL)  # polling the daemon's runs: GraphQL cannot notify
    [run] = runs  # one promotion per build
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags.get("dagster/sensor_name") == "promote_after_build", tags
    return run


def pointer_bytes(root: Path) -> bytes | None:
    path = root / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json"
    return path.read_bytes() if path.exists() else None


def assert_the_sensor_promotes_a_ui_build(served: Served) -> float:
    """Issue 61's shape under `dagster dev`: a build launched as the Launch button does moves no
    pointer while it runs; the promotion sensor starts one promotion run tagged with the build
    after the build's end, which moves the pointer; then `registry build` says "up to date". The
    seconds from the build's end to its promotion's start (bench_launch.py holds them to 10 s)."""
    before = pointer_bytes(served.workspace)
    changed = change_a_source(served.workspace)
    hold = hold_file(served.workspace)
    hold.touch()
    try:
        run_id = launch(served)
        reached = Path(f"{hold}.reached")
        deadline = time.monotonic() + RACE_TIMEOUT
        while not reached.exists():
            assert time.monotonic() < deadline, "the build never reached its first seal"
            time.sleep(POLL_INTERVAL)  # polling the run's hold point: it leaves a file
        assert pointer_bytes(served.workspace) == before  # the build run moves no pointer
    finally:
        hold.unlink(missing_ok=True)
        Path(f"{hold}.reached").unlink(missing_ok=True)
    assert wait_for(served, run_id) == "SUCCESS"
    build = served.runs()[run_id]
    assert pointer_bytes(served.workspace) == before  # still: the build has ended, unpromoted
    promotion = promoted_by_the_sensor(served, run_id)
    assert promotion["status"] == "SUCCESS"
    delay = float(promotion["startTime"]) - float(build["endTime"])
    # after the build's end, at the sensor's next looks: a broken interval fails here; the
    # 10 s target is a timing, held by bench_launch.py
    assert 0 <= delay <= 12 * SENSOR_INTERVAL, delay
    assert pointer_bytes(served.workspace) != before  # moved by the promotion run
    assert changed in {entry["registry_id"] for entry in _promoted(served, promotion["runId"])}
    freshness = up_to_date(Workspace(served.workspace))
    assert freshness.up_to_date, freshness.changed  # the promotion recorded the build
    command = served.registry("build")
    out, err = command.communicate(timeout=RACE_TIMEOUT)
    assert command.returncode == 0 and out.startswith("up to date"), out + err
    return delay


OBSERVATIONS = """
query Logs($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events {
  __typename ... on ObservationEvent { assetKey { path }
    metadataEntries { label ... on JsonMetadataEntry { jsonString } } } } } } }
"""


def _promoted(served: Served, promotion_run: str) -> list[dict[str, Any]]:
    """The outcomes a promotion run's observations carry whose outcome is `promoted`."""
    answer = served.query(OBSERVATIONS, id=promotion_run)["logsForRun"]
    outcomes = [
        json.loads(entry["jsonString"])
        for event in answer["events"]
        if event["__typename"] == "ObservationEvent"
        for entry in event["metadataEntries"]
        if entry["label"] == "promotion"
    ]
    return [outcome for outcome in outcomes if outcome["outcome"] == "promoted"]


TICKS = """
query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { ticks(limit: 20) { status timestamp } } } } }
"""


def sensor_ticks_after(served: Served, moment: float, count: int = 2) -> None:
    """Return once the promotion sensor has ticked `count` times after `moment` (epoch s)."""
    answer = served.query(REPOSITORIES)["repositoriesOrError"]
    [repository] = [n for n in answer["nodes"] if JOB in {job["name"] for job in n["pipelines"]}]
    selector = {
        "repositoryLocationName": repository["location"]["name"],
        "repositoryName": repository["name"],
        "sensorName": "promote_after_build",
    }
    deadline = time.monotonic() + RACE_TIMEOUT
    while True:
        sensor = served.query(TICKS, selector=selector)["sensorOrError"]
        assert sensor["__typename"] == "Sensor", sensor
        ticks = [t for t in sensor["sensorState"]["ticks"] if float(t["timestamp"]) > moment]
        if len(ticks) >= count:
            return
        assert time.monotonic() < deadline, f"the sensor ticked {len(ticks)} times"
        time.sleep(POLL_INTERVAL)  # polling the daemon's ticks: GraphQL cannot notify
