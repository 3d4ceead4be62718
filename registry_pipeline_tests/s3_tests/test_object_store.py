"""The bucket client against a real S3 server: the two conditional writes, a lost answer taken
for what it was, listing, errors with reason codes, and nothing lost across a server crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import Conflict, ObjectStore, parse_store_url
from registry_pipeline.core.objstore.store import Blob
from registry_pipeline_tests.s3_tests._relay import Relay
from registry_pipeline_tests.s3_tests._server import SeaweedServer


def test_create_writes_once(store: ObjectStore) -> None:
    etag = store.create("journal/000001.json", b"first")
    with pytest.raises(Conflict):
        store.create("journal/000001.json", b"second")
    found = store.get("journal/000001.json")
    assert found is not None and (found.data, found.etag) == (b"first", etag)


def test_replace_only_from_the_etag_read(store: ObjectStore) -> None:
    old = store.create("pointers.json", b"v1")
    new = store.replace("pointers.json", b"v2", old)
    with pytest.raises(Conflict):
        store.replace("pointers.json", b"v3", old)  # stale: another writer moved it
    assert store.get("pointers.json") == store.get("pointers.json")
    found = store.get("pointers.json")
    assert found is not None and (found.data, found.etag) == (b"v2", new)
    with pytest.raises(Conflict):
        store.replace("nothing-here.json", b"v", '"0"')  # a missing object


def test_keys_lists_under_a_prefix_only(store: ObjectStore) -> None:
    for key in ("RUNS/a/x", "RUNS/b/y", "RUNSX/z", "journal/1"):
        store.put(key, b"")
    assert sorted(store.keys("RUNS/")) == ["RUNS/a/x", "RUNS/b/y"]
    assert store.get("missing") is None
    store.delete("RUNS/a/x")
    store.delete("RUNS/a/x")  # gone already: no error
    assert sorted(store.keys("RUNS")) == ["RUNS/b/y"]


def test_wrong_credentials_are_refused_with_a_reason(s3_server: SeaweedServer) -> None:
    env = {**s3_server.env(), "AWS_SECRET_ACCESS_KEY": "wrong"}
    store = ObjectStore.open(parse_store_url("s3://registry-denied/ws"), env)
    with pytest.raises(RegistryError) as caught:
        store.put("x", b"")
    assert caught.value.code in {"STORE_DENIED", "STORE_UNAVAILABLE"}
    assert caught.value.path == "s3://registry-denied/ws/x"


def test_an_unreachable_endpoint_says_so() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s"}  # fmt: skip
    store = ObjectStore.open(parse_store_url("s3://registry-nowhere"), env, timedelta(seconds=1))
    with pytest.raises(RegistryError) as caught:
        store.get("x")
    assert caught.value.code == "STORE_UNAVAILABLE"
    assert "s3://registry-nowhere/x" in caught.value.message


COUNTER = textwrap.dedent(
    """
    import sys, threading, traceback
    from registry_pipeline.core.objstore import Conflict, ObjectStore, parse_store_url
    url, env, writers, name = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[5:]), \
        int(sys.argv[3]), sys.argv[4]
    store = ObjectStore.open(parse_store_url(url), env)
    won, failed = [], []
    def writer(n):
        try:
            while True:
                blob = store.get("counter")
                value = int(blob.data.split(b" ")[0])
                try:
                    store.replace("counter", b"%d %s-%d" % (value + 1, name.encode(), n),
                                  blob.etag)
                    won.append(n)
                    return
                except Conflict:
                    continue
        except BaseException:
            failed.append(traceback.format_exc())
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(len(won))
    sys.exit("".join(failed) or None)  # a writer that failed fails the machine, saying why
    """
)


def test_64_writers_on_two_machines_lose_no_update(
    s3_server: SeaweedServer, store: ObjectStore, store_url: str
) -> None:
    """Two processes sharing only the bucket, 32 writers each, each adding one by If-Match."""
    store.create("counter", b"0 start")
    env = [f"{key}={value}" for key, value in s3_server.env().items()]
    machines = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER, store_url, "", "32", name, *env],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("host-a", "host-b")
    ]
    outputs = [machine.communicate(timeout=300) for machine in machines]
    assert [
        (machine.returncode, err) for machine, (_, err) in zip(machines, outputs, strict=True)
    ] == [(0, "")] * 2
    won = [int(out) for out, _ in outputs]
    final = store.get("counter")
    assert won == [32, 32]
    assert final is not None and final.data.split(b" ")[0] == b"64"


def test_a_server_killed_and_restarted_keeps_every_committed_write(tmp_path: object) -> None:
    from registry_pipeline_tests.s3_tests._server import find_weed

    weed = find_weed()
    if weed is None:
        pytest.skip("the SeaweedFS `weed` binary is not installed")
    server = SeaweedServer.start(weed)
    try:
        store = ObjectStore.open(parse_store_url("s3://registry-crash/ws"), server.env())
        etags = {f"journal/{n:06d}": store.create(f"journal/{n:06d}", b"entry %d" % n)
                 for n in range(20)}  # fmt: skip
        server.kill()
        impatient = ObjectStore.open(parse_store_url("s3://registry-crash/ws"), server.env(),
                                     timedelta(seconds=1))  # fmt: skip
        with pytest.raises(RegistryError) as down:
            impatient.get("journal/000000")
        assert down.value.code in {"STORE_UNAVAILABLE", "STORE_DENIED", "STORE_NO_BUCKET"}
        server.launch()  # the store retries while the restarted server loads its volumes
        for key, etag in etags.items():
            found = store.get(key)
            assert found is not None and found.etag == etag
        with pytest.raises(Conflict):
            store.create("journal/000019", b"a second entry 19")
    finally:
        server.stop()


def test_a_missing_bucket_is_named(s3_server: SeaweedServer) -> None:
    store = ObjectStore.open(parse_store_url("s3://registry-never-made/ws"), s3_server.env())
    with pytest.raises(RegistryError) as caught:
        list(store.keys("RUNS/"))
    assert caught.value.code == "STORE_NO_BUCKET"
    assert "the bucket registry-never-made does not exist" in caught.value.message


def _through(
    relay: Relay, s3_server: SeaweedServer, store_url: str, **options: timedelta
) -> ObjectStore:
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": relay.endpoint}
    return ObjectStore.open(parse_store_url(store_url), env, **options)


def _answers_lost_are_writes_won(
    relay: Relay, flaky: ObjectStore, store: ObjectStore, hold: bool
) -> None:
    """A create and a replace through `flaky`, the answer to each lost once (`hold`: never
    sent, so the client times out): each found to hold exactly our bytes, counted as won."""
    relay.lose_answers(1, hold=hold)
    etag = flaky.create("journal/000001.json", b"entry with nonce 1")
    old = store.create("head.json", b"state 1")
    relay.lose_answers(1, hold=hold)
    moved = flaky.replace("head.json", b"state 2", old)
    assert relay.lost == 2
    assert [store.get(key) for key in ("journal/000001.json", "head.json")] == [
        Blob(b"entry with nonce 1", etag), Blob(b"state 2", moved)]  # fmt: skip
    with pytest.raises(Conflict):
        flaky.create("journal/000001.json", b"a rival's entry")


def test_a_conditional_write_whose_answer_was_lost_is_counted_as_won(
    relay: Relay, s3_server: SeaweedServer, store_url: str, store: ObjectStore
) -> None:
    """The server wrote the object, the connection was cut before the client heard: the write
    is sent again, refused, and found to hold exactly our bytes (no STORE_ error, no Conflict)."""
    _answers_lost_are_writes_won(relay, _through(relay, s3_server, store_url), store, hold=False)


def test_a_conditional_write_whose_request_was_lost_is_sent_again(
    relay: Relay, s3_server: SeaweedServer, store_url: str, store: ObjectStore
) -> None:
    flaky = _through(relay, s3_server, store_url)
    relay.lose_requests(2)
    etag = flaky.create("lease.json", b"held by me")
    assert relay.lost == 2
    found = store.get("lease.json")
    assert found is not None and (found.data, found.etag) == (b"held by me", etag)


def test_a_conditional_write_never_answered_is_sent_again_after_the_timeout(
    relay: Relay, s3_server: SeaweedServer, store_url: str, store: ObjectStore
) -> None:
    """The client's HTTP layer retries no conditional write that timed out (it cannot know
    whether the server carried it out): the store does, and reads back what happened."""
    flaky = _through(relay, s3_server, store_url, timeout=timedelta(seconds=1))
    _answers_lost_are_writes_won(relay, flaky, store, hold=True)
