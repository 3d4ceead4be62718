"""The build slot of a bucket between processes sharing only the bucket: while one holds it the
other is refused with BUILD_IN_PROGRESS naming it; once released, the other takes it. A holder
paused past its term (SIGSTOP) is taken over after a full term on the other's own clock, and,
resumed, is told it lost the lease and has its pointer write refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.lease import MARGIN, BuildLease
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline_tests.core_tests.objstore.test_ledger import add, machine, reasons
from registry_pipeline_tests.s3_tests._server import SeaweedServer

TERM = 1.0

OTHER_MACHINE = textwrap.dedent(
    """
    import sys
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.objstore import ObjectStore, parse_store_url
    from registry_pipeline.core.objstore.lease import BuildLease
    env = dict(arg.split("=", 1) for arg in sys.argv[2:])
    store = ObjectStore.open(parse_store_url(sys.argv[1]), env)
    try:
        with BuildLease(store).hold("registry build", wait=0):
            print("HELD")
    except RegistryError as exc:
        print(exc.code, exc.message)
    """
)

PAUSED_HOLDER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.objstore import ObjectStore, parse_store_url
    from registry_pipeline.core.objstore.lease import BuildLease
    from registry_pipeline.core.objstore.ledger import Ledger
    from registry_pipeline_tests.core_tests.objstore.test_ledger import add, machine
    env = dict(arg.split("=", 1) for arg in sys.argv[4:])
    store = ObjectStore.open(parse_store_url(sys.argv[1]), env)
    ledger = Ledger(store, "pointers")
    lost = threading.Event()
    lease = BuildLease(store, term=float(sys.argv[2]), ledger=ledger, on_lost=lambda _: lost.set())
    with lease.hold("paused holder", 0) as grant:
        print("HELD", grant.epoch, flush=True)
        sys.stdin.readline()  # paused here (SIGSTOP); resumed, told to go on
        print("LOST" if lost.wait(30) else "NOT LOST", flush=True)
        try:  # a pointer write under the lost grant's epoch, as if it were still in flight
            add(machine(store, Path(sys.argv[3]), epoch=grant.epoch), "stale")
            print("WRITTEN", flush=True)
        except RegistryError as exc:
            print(exc.code, flush=True)
    """
)


def test_two_machines_one_build_slot(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str
) -> None:
    env = [f"{key}={value}" for key, value in s3_server.env().items()]

    def other_machine() -> str:
        command = [sys.executable, "-c", OTHER_MACHINE, store_url, *env]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    with BuildLease(store).hold("registry build on this machine", wait=0) as grant:
        refused = other_machine()
    assert refused.startswith("BUILD_IN_PROGRESS") and grant.holder in refused
    assert other_machine() == "HELD\n"


def test_a_paused_holder_is_taken_over_and_fenced(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str, tmp_path: Path
) -> None:
    env = [f"{key}={value}" for key, value in s3_server.env().items()]
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "first"), "a")
    stale = str(tmp_path / "stale")
    command = [sys.executable, "-c", PAUSED_HOLDER, store_url, str(TERM), stale, *env]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "HELD 1\n"
        os.kill(holder.pid, signal.SIGSTOP)
        told: list[str] = []
        start = time.monotonic()
        lease = BuildLease(store, term=TERM, ledger=ledger)
        with lease.hold("other machine", wait=30, on_wait=told.append) as grant:
            waited = time.monotonic() - start
            fenced = ledger.head()
            assert grant.epoch == 2 == fenced.fence and told == ["paused holder"]
            os.kill(holder.pid, signal.SIGCONT)
            out, _err = holder.communicate("go\n", timeout=30)
            assert out == "LOST\nBUILD_LEASE_LOST\n"
            assert ledger.head() == fenced  # unchanged by the stale holder
            now = lease.current()
            assert now is not None and (now.holder, now.epoch, now.released) == (
                "other machine", 2, False)  # fmt: skip
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.wait()
    assert TERM * (1 + MARGIN) <= waited < 30
    assert "stale" not in reasons(ledger)
