"""The build slot of a bucket between two processes sharing only the bucket: while one holds it
the other is refused with BUILD_IN_PROGRESS naming it; once released, the other takes it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.lease import BuildLease
from registry_pipeline_tests.s3_tests._server import SeaweedServer

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


def test_two_machines_one_build_slot(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str
) -> None:
    env = [f"{key}={value}" for key, value in s3_server.env().items()]

    def other_machine() -> str:
        command = [sys.executable, "-c", OTHER_MACHINE, store_url, *env]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    with BuildLease(store).hold("registry build", wait=0) as me:
        refused = other_machine()
    assert refused.startswith("BUILD_IN_PROGRESS") and me in refused
    assert other_machine() == "HELD\n"
