"""The real `dagster-webserver` on a built copy of the demo workspace (one per test module).

A copy of the demo workspace is built with `registry build --json` (in this process), then
`dagster-webserver -w workspace.yaml` serves it on 127.0.0.1 (REGISTRY_WORKSPACE = the copy,
DAGSTER_HOME = its `.codex/dagster_home`). The GraphQL tests (`defs_tests/test_webserver.py`)
and the browser tests (`ui_tests/`) read what the UI shows from it.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import copy_demo, registry

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
READY_TIMEOUT = 90.0
"""Upper bound on the server's start (it is usually ready within a few seconds)."""
POLL_INTERVAL = 0.2
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    """A running webserver on a built copy of the demo workspace."""

    base_url: str
    workspace: Path
    build: dict[str, Any]
    """The `registry build --json` document of the build that ran before the server started."""

    def entry(self, registry_id: str) -> dict[str, Any]:
        """The build's entry for `registry_id`."""
        return next(e for e in self.build["registries"] if e["registry_id"] == registry_id)


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTRY_WORKSPACE": str(root),
        "DAGSTER_HOME": str(root / ".codex" / "dagster_home"),
    }


def _free_port() -> int:
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


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server and the code server it spawned (its own process group)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


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
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = root.parent / "webserver.log"
    with log.open("wb") as sink:
        command = ["dagster-webserver", "-h", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            [str(BIN / command[0]), *command[1:], "-w", str(REPO / "workspace.yaml")],
            env=_env(root),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(base_url, process, log)
        yield base_url
    finally:
        _stop(process)


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
