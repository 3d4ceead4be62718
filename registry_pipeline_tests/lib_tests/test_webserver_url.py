"""`webserver_url` finds the webserver serving a home among this machine's processes, on the port
it listens on (which no argument names when 3000 was taken), once it answers `/server_info`;
`run_url` links there. The webserver here is a stand-in named `dagster-webserver` (a real one
takes seconds to start: `cli_tests/test_dagster_dev_home.py` runs `dagster dev` itself)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry_pipeline.lib import webserver
from registry_pipeline.lib.webserver import (
    DEFAULT_WEBSERVER_URL,
    WEBSERVER_URL_ENV,
    run_url,
    webserver_url,
)

STAND_IN = f"""#!{sys.executable}
import http.server, json, os, sys

PREFIX = sys.argv[sys.argv.index("--path-prefix") + 1] if "--path-prefix" in sys.argv else ""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        found = self.path == PREFIX + "/server_info"
        body = os.environ["ANSWER"].encode() if found else b"{{}}"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
INFO = '{"dagster_webserver_version": "1.13.27"}'

Start = Callable[..., int]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a stand-in webserver (`cwd`, `env` and `args` as given, no DAGSTER_HOME unless in
    `env`) on a random port, not on its command line; its port once it listens."""
    script = tmp_path / "bin" / "dagster-webserver"
    script.parent.mkdir()
    script.write_text(STAND_IN)
    script.chmod(0o755)
    started: list[subprocess.Popen[str]] = []

    def run(*args: str, cwd: Path = tmp_path, answer: str = INFO, **env: str) -> int:
        base = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        process = subprocess.Popen(
            [str(script), *args],
            cwd=cwd,
            env={**base, "ANSWER": answer, **env},
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        assert process.stdout is not None
        return int(process.stdout.readline())  # printed once it listens

    yield run
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(WEBSERVER_URL_ENV, raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    folder = tmp_path / "ws" / ".codex" / "dagster_home"
    folder.mkdir(parents=True)
    return folder


def test_finds_the_port_it_listens_on_and_links_there(
    start: Start, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = start(DAGSTER_HOME=str(home))
    assert webserver_url(home) == f"http://127.0.0.1:{port}"
    other = tmp_path / "other"
    other.mkdir()
    assert webserver_url(other) is None  # another instance's webserver: not this one
    assert run_url("abc", home) == f"http://127.0.0.1:{port}/runs/abc"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # as `dagster dev` and a code location set it
    assert run_url("abc") == f"http://127.0.0.1:{port}/runs/abc"
    assert run_url("abc", other) == f"{DEFAULT_WEBSERVER_URL}/runs/abc"
    monkeypatch.setenv(WEBSERVER_URL_ENV, "https://dagster.example/")
    assert run_url("abc", home) == "https://dagster.example/runs/abc"


def test_home_from_the_env_file_of_its_folder_and_its_path_prefix(start: Start, home: Path) -> None:
    """`dagster-webserver` started in the workspace reads DAGSTER_HOME from `.env`."""
    root = home.parents[1]
    (root / ".env").write_text(f"SECRET=1\nDAGSTER_HOME={home}\n")
    port = start("--path-prefix", "/dagster", cwd=root)
    assert webserver_url(home) == f"http://127.0.0.1:{port}/dagster"


def test_a_process_that_does_not_answer_as_a_webserver_is_not_one(start: Start, home: Path) -> None:
    start(DAGSTER_HOME=str(home), answer="{}")
    assert webserver_url(home) is None


def test_without_proc_nothing_is_found(
    start: Start, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(DAGSTER_HOME=str(home))
    monkeypatch.setattr(webserver, "PROC", tmp_path / "no-proc")
    assert webserver_url(home) is None


@pytest.mark.parametrize(
    ("column", "host"),
    [
        ("0100007F", "127.0.0.1"),
        ("00000000", "127.0.0.1"),  # 0.0.0.0: reached on the loopback
        ("00000000000000000000000001000000", "[::1]"),
        ("0000000000000000FFFF00000100007F", "127.0.0.1"),  # ::ffff:127.0.0.1
    ],
)
def test_addresses_of_proc_net_tcp(column: str, host: str) -> None:
    if sys.byteorder != "little":
        pytest.skip("the columns above are a little-endian machine's")
    assert webserver._url_host(column) == host
