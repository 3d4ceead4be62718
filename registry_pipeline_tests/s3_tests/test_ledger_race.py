"""The shared journal on a real S3 server, written through the bucket journal (`BucketJournal`,
as the pointer store drives it) by two processes sharing only the bucket, 32 writers each: every
change is in the journal once, in order, the last entry's pointer file naming them all; also
when one machine's network loses the answers to some of its conditional writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline_tests.core_tests.objstore.test_ledger import head, reasons
from registry_pipeline_tests.s3_tests._relay import Relay
from registry_pipeline_tests.s3_tests._server import SeaweedServer

MACHINE = textwrap.dedent(
    """
    import sys, threading, traceback
    from datetime import timedelta
    from pathlib import Path
    from registry_pipeline.core.objstore import ObjectStore, parse_store_url
    from registry_pipeline_tests.core_tests.objstore.test_ledger import add, machine
    url, name, timeout, roots = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
    env = dict(arg.split("=", 1) for arg in sys.argv[5:])
    store = ObjectStore.open(parse_store_url(url), env, timeout=timedelta(seconds=timeout))
    failed = []
    def writer(n):
        try:
            add(machine(store, roots / str(n)), f"{name}-{n}")
        except BaseException:
            failed.append(traceback.format_exc())
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(32)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    sys.exit("".join(failed) or None)  # a writer that failed fails the machine, saying why
    """
)


def _race(
    store: ObjectStore,
    store_url: str,
    roots: Path,
    envs: dict[str, dict[str, str]],
    timeout: float = 30,
) -> None:
    machines = []
    for name, env in envs.items():
        settings = [f"{key}={value}" for key, value in env.items()]
        argv = [sys.executable, "-c", MACHINE, store_url, name, str(timeout),
                str(roots / name), *settings]  # fmt: skip
        machines.append(subprocess.Popen(argv, stderr=subprocess.PIPE, text=True))
    outcomes = [(machine.wait(timeout=600), machine.communicate()[1]) for machine in machines]
    assert outcomes == [(0, "")] * len(machines)
    ledger = Ledger(store, "pointers")
    names = reasons(ledger)
    expected = sorted(f"{host}-{n}" for host in envs for n in range(32))
    assert sorted(names) == expected
    assert [entry.seq for entry in ledger.entries(0)] == list(range(1, 65))
    seq, pointers = head(ledger)
    assert (seq, pointers.split(",")) == (64, names)


def test_64_writers_on_two_machines_journal_every_change_once(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str, tmp_path: Path
) -> None:
    _race(store, store_url, tmp_path, {"host-a": s3_server.env(), "host-b": s3_server.env()})


def test_answers_lost_on_one_machine_lose_no_change(
    s3_server: SeaweedServer, relay: Relay, store: ObjectStore, store_url: str, tmp_path: Path
) -> None:
    """host-b's network loses the answer to every third conditional write, 12 in all, after
    the server carried it out; its client times out after 1 s, not knowing whether it won."""
    relay.lose_answers(12, every=3, hold=True)
    flaky = {**s3_server.env(), "AWS_ENDPOINT_URL": relay.endpoint}
    _race(store, store_url, tmp_path, {"host-a": s3_server.env(), "host-b": flaky}, timeout=1)
    assert relay.lost == 12
