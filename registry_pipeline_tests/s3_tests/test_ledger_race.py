"""The shared journal and head on a real S3 server, written by two processes sharing only the
bucket, 32 writers each: every change is in the journal once, in the head, in order."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline_tests.s3_tests._server import SeaweedServer

MACHINE = textwrap.dedent(
    """
    import sys, threading
    from registry_pipeline.core.objstore import ObjectStore, parse_store_url
    from registry_pipeline.core.objstore.ledger import Ledger
    from registry_pipeline_tests.core_tests.objstore.test_ledger import add
    url, name = sys.argv[1], sys.argv[2]
    env = dict(arg.split("=", 1) for arg in sys.argv[3:])
    ledger = Ledger(ObjectStore.open(parse_store_url(url), env), "pointers")
    threads = [threading.Thread(target=add, args=(ledger, f"{name}-{n}")) for n in range(32)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    """
)


def test_64_writers_on_two_machines_journal_every_change_once(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str
) -> None:
    env = [f"{key}={value}" for key, value in s3_server.env().items()]
    machines = [
        subprocess.Popen([sys.executable, "-c", MACHINE, store_url, name, *env])
        for name in ("host-a", "host-b")
    ]
    assert [machine.wait(timeout=600) for machine in machines] == [0, 0]
    ledger = Ledger(store, "pointers")
    head = ledger.head()
    entries = list(ledger.entries(0))
    expected = sorted(f"{host}-{n}" for host in ("host-a", "host-b") for n in range(32))
    assert [seq for seq, _ in entries] == list(range(1, 65))
    assert sorted(entry for _, entry in entries) == expected
    assert (head.seq, head.state.split(",")) == (64, [entry for _, entry in entries])
