"""The build slot of a bucket between processes sharing only the bucket: while one holds it the
other is refused with BUILD_IN_PROGRESS naming it; once released, the other takes it. A holder
paused past its term (SIGSTOP) in the middle of a pointer change is taken over after a full term
on the other's own clock, which fences the journal and promotes; resumed, the paused holder's
change is refused (BUILD_LEASE_LOST) and writes nothing, even before it notices the loss. The
same at the product level: a `registry build` paused mid-build past its term, whose lease another
build took over, is never promoted once resumed, though its promotion is a run of its own."""

from __future__ import annotations

import json
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
from registry_pipeline_tests._dead_runs import wait_until
from registry_pipeline_tests._helpers import active_runs, child_env
from registry_pipeline_tests.core_tests.objstore.test_ledger import add, head, machine, reasons
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
    from registry_pipeline.core.objstore.lease import BuildLease, Grant
    from registry_pipeline.core.objstore.ledger import Ledger
    from registry_pipeline_tests.core_tests.objstore.test_ledger import add, machine
    env = dict(arg.split("=", 1) for arg in sys.argv[4:])
    store = ObjectStore.open(parse_store_url(sys.argv[1]), env)
    lost = threading.Event()
    lease = BuildLease(store, term=float(sys.argv[2]), ledger=Ledger(store, "pointers"),
                       on_lost=lambda _: lost.set())
    with lease.hold("paused holder", 0) as grant:
        print("HELD", grant.epoch, flush=True)
        journal = machine(store, Path(sys.argv[3]), epoch=grant.epoch)
        journal.remote.grant = Grant(grant.holder, grant.epoch)  # never told it was lost
        pull = journal.pull
        def paused_pull(*args, **kwargs):  # the change checked its fence, then pauses
            base = pull(*args, **kwargs)
            if journal.pull is paused_pull:
                journal.pull = pull
                print("PULLED", flush=True)
                sys.stdin.readline()  # paused here (SIGSTOP); resumed, told to go on
            return base
        journal.pull = paused_pull
        try:  # the promotion goes on under the lost grant, as if it were still held
            add(journal, "stale")
            print("WRITTEN", flush=True)
        except RegistryError as exc:
            print(exc.code, flush=True)
        print("LOST" if lost.wait(30) else "NOT LOST", flush=True)
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


def test_a_paused_holder_that_resumes_after_a_takeover_promotes_nothing(
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
        assert holder.stdout.readline() == "PULLED\n"  # its change checked the fence: epoch 1
        os.kill(holder.pid, signal.SIGSTOP)
        told: list[str] = []
        start = time.monotonic()
        lease = BuildLease(store, term=TERM, ledger=ledger)
        with lease.hold("other machine", wait=30, on_wait=told.append) as grant:
            waited = time.monotonic() - start
            assert grant.epoch == 2 == ledger.fenced() and told == ["paused holder"]
            add(machine(store, tmp_path / "b", epoch=grant.epoch), "b")  # B promotes
            before = head(ledger)
            os.kill(holder.pid, signal.SIGCONT)
            out, _err = holder.communicate("go\n", timeout=30)
            assert out == "BUILD_LEASE_LOST\nLOST\n"  # the entry it was to create: B's fence
            assert head(ledger) == before == (4, "a,b")  # no pointer moved by the stale holder
            now = lease.current()
            assert now is not None and (now.holder, now.epoch, now.released) == (
                "other machine", 2, False)  # fmt: skip
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.wait()
    assert TERM * (1 + MARGIN) <= waited < 30
    assert reasons(ledger) == ["a", "", "", "b"]  # the two takes' fences, then B's change


SHORT_TERM_BUILD = textwrap.dedent(
    """
    import functools, sys
    from registry_pipeline.core.objstore.lease import BuildLease
    BuildLease.__init__ = functools.partialmethod(BuildLease.__init__, term=float(sys.argv[1]))
    from registry_pipeline.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)
"""`registry ARGS...` whose bucket lease has a term of `argv[1]` s (60 s in a release)."""
BUILD_TERM = 4.0
"""Long enough that a loaded machine renews in time, short enough to be taken over at once."""


def test_a_build_paused_past_its_lease_is_never_promoted(
    built_machines: tuple[Path, Path], store: ObjectStore, tmp_path: Path
) -> None:
    a, b = built_machines
    for root, added in ((a, "\n"), (b, "\n\n")):  # each machine its own change to build
        with (root / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json").open("a") as f:
            f.write(added)
    ledger = Ledger(store, "pointers")

    def build(root: Path, **env: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-c", SHORT_TERM_BUILD, str(BUILD_TERM),
                   "build", "--json", "--workspace", str(root)]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=child_env(**env))  # fmt: skip

    hold = tmp_path / "hold-at-first-seal"
    hold.touch()
    paused = build(a, REGISTRY_PIPELINE_HOLD_AT=f"staging_created:{hold}")
    try:
        reached = Path(f"{hold}.reached")  # its build run holds the lease and seals
        wait_until(lambda: reached.exists() or paused.poll() is not None, "a's first seal")
        assert paused.poll() is None, paused.communicate()
        os.kill(paused.pid, signal.SIGSTOP)
        held = BuildLease(store).current()
        assert held is not None and not held.released
        hold.unlink()  # resumed, it goes on sealing
        out, err = build(b).communicate(timeout=600)  # takes the lease over, builds, promotes
        assert json.loads(out)["success"] is True, out + err
        promoted = active_runs(b)
        changes = [entry.text for entry in ledger.entries(0) if entry.text]
        assert (lease := BuildLease(store).current()) is not None and lease.epoch > held.epoch
        os.kill(paused.pid, signal.SIGCONT)
        out, err = paused.communicate(timeout=600)
    finally:
        hold.unlink(missing_ok=True)
        if paused.poll() is None:
            os.kill(paused.pid, signal.SIGCONT)
            paused.kill()
            paused.communicate()
    report = json.loads(out)
    assert paused.returncode == 1 and report["success"] is False, out + err
    assert [problem["code"] for problem in report["problems"]] == ["BUILD_LEASE_LOST"], out
    assert not any(entry["promoted"] for entry in report["registries"])
    assert [entry.text for entry in ledger.entries(0) if entry.text] == changes  # nothing moved
    assert active_runs(a) == promoted == active_runs(b)
