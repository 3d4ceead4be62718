"""The build slot of a bucket (obstore's in-memory store, short terms; `s3_tests/` pauses a real
holder process): taken by one, expiry judged on the waiter's own clock, renewals that fail
tell `on_lost` before the term lapses, and a takeover fences the stale holder's pointer writes."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import Conflict, ObjectStore
from registry_pipeline.core.objstore.lease import KEY, MARGIN, BuildLease, Grant
from registry_pipeline.core.objstore.ledger import Ledger
from registry_pipeline.core.pointers.store import PointerRefused
from registry_pipeline_tests._helpers import chained_journal_lines
from registry_pipeline_tests.core_tests.objstore.test_ledger import add, head, machine, reasons

TERM = 1.0
"""Seconds: short, so that a takeover takes about one second of the test."""


class _Flaky(ObjectStore):
    """The in-memory store (shared with others by `inner`) whose lease renewals fail `fail`
    times, or hang until `unhang` is set; `renewed` is set after `wanted` renewals."""

    def __init__(self, inner: ObjectStore, fail: int = 0, hang: bool = False) -> None:
        super().__init__(inner._backend, inner.url)
        self.fail, self.hang = fail, hang
        self.unhang = threading.Event()
        self.renewals, self.wanted = 0, 0
        self.renewed = threading.Event()

    def replace(self, key: str, data: bytes, etag: str) -> str:
        if key == KEY and not json.loads(data)["released"]:
            self.renewals += 1
            if self.hang:
                self.unhang.wait(30)
                raise RegistryError("no answer", code="STORE_UNAVAILABLE")
            if self.fail:
                self.fail -= 1
                raise RegistryError("connection reset", code="STORE_UNAVAILABLE")
            etag = super().replace(key, data, etag)
            if self.renewals >= self.wanted:
                self.renewed.set()
            return etag
        return super().replace(key, data, etag)


class _Lost:
    """An `on_lost` that records each call and when it came."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.at = 0.0
        self.told = threading.Event()

    def __call__(self, reason: str) -> None:
        self.at = time.monotonic()
        self.reasons.append(reason)
        self.told.set()


@pytest.fixture
def store() -> Iterator[ObjectStore]:
    yield ObjectStore.in_memory()


def test_a_held_lease_refuses_a_second_build_naming_the_holder(store: ObjectStore) -> None:
    with BuildLease(store).hold("pid 1 (registry build) on a", wait=0) as grant:
        told: list[str] = []
        second = BuildLease(store).hold("pid 2 on b", wait=0.2, on_wait=told.append)
        with pytest.raises(RegistryError) as caught, second:
            pass
        assert caught.value.code == "BUILD_IN_PROGRESS"
        assert grant.holder in caught.value.message and told == [grant.holder]
        assert caught.value.path == f"memory:///{KEY}"
    lease = BuildLease(store).current()
    assert lease is not None and lease.released and lease.holder == grant.holder


def test_each_take_writes_the_next_epoch_and_a_released_lease_is_taken_at_once(
    store: ObjectStore,
) -> None:
    for epoch in (1, 2, 3):
        with BuildLease(store).hold("registry build", wait=0) as grant:
            assert grant == Grant("registry build", epoch)
            lease = BuildLease(store).current()
            assert lease is not None and (lease.epoch, lease.released) == (epoch, False)
    with pytest.raises(ZeroDivisionError), BuildLease(store).hold("registry build", wait=0):
        1 / 0  # noqa: B018  # a failed build releases it too
    lease = BuildLease(store).current()
    assert lease is not None and lease.released and lease.epoch == 4


@pytest.mark.parametrize(
    ("term", "until"),
    [(TERM, time.time() + 3600), (2 * TERM, 0.0)],
    ids=["its-clock-an-hour-ahead", "a-longer-term"],
)
def test_a_dead_holders_lease_is_taken_after_its_full_term_on_the_waiters_own_clock(
    store: ObjectStore, term: float, until: float
) -> None:
    """Its `until` is not believed (an hour ahead: its clock was): the waiter counts the
    holder's own term, however long."""
    body = {"holder": "pid 1 on gone", "epoch": 4, "term": term, "until": until,
            "released": False, "nonce": "n"}  # fmt: skip
    store.create(KEY, json.dumps(body).encode())
    told: list[str] = []
    start = time.monotonic()
    with BuildLease(store, term=TERM).hold("me", wait=10, on_wait=told.append) as grant:
        waited = time.monotonic() - start
    assert grant.epoch == 5 and told == ["pid 1 on gone"]
    assert term * (1 + MARGIN) <= waited < 10


def test_skewed_wall_clocks_do_not_end_a_renewed_lease(store: ObjectStore) -> None:
    """The holder's clock is an hour behind (its `until` long past for the waiter, whose own
    clock is an hour ahead): the waiter still waits, because the lease keeps changing."""
    behind = BuildLease(store, term=TERM, wall=lambda: time.time() - 3600)
    ahead = BuildLease(store, term=TERM, wall=lambda: time.time() + 3600)
    with behind.hold("behind", wait=0) as grant:
        lease = ahead.current()
        assert lease is not None and lease.until < time.time()
        with pytest.raises(RegistryError) as caught, ahead.hold("ahead", wait=2 * TERM):
            pass
        assert caught.value.code == "BUILD_IN_PROGRESS" and not grant.lost.is_set()
    with ahead.hold("ahead", wait=0) as taken:  # released: at once
        assert taken.epoch == grant.epoch + 1


def test_a_failed_renewal_is_tried_again_at_the_next_tick(store: ObjectStore) -> None:
    flaky = _Flaky(store, fail=2)
    flaky.wanted = 4  # two failed, then two renewed
    lost = _Lost()
    with BuildLease(flaky, term=TERM, on_lost=lost).hold("me", wait=0) as grant:
        assert flaky.renewed.wait(10)
        assert not grant.lost.is_set() and lost.reasons == []
    lease = BuildLease(store).current()
    assert lease is not None and lease.released


@pytest.mark.parametrize("hang", [False, True], ids=["failing", "unanswered"])
def test_renewals_that_never_succeed_tell_on_lost_once_before_a_waiter_may_take_it(
    store: ObjectStore, hang: bool
) -> None:
    flaky = _Flaky(store, fail=1000, hang=hang)
    lost = _Lost()
    start = time.monotonic()
    try:
        with BuildLease(flaky, term=2 * TERM, on_lost=lost).hold("me", wait=0) as grant:
            assert lost.told.wait(10)
            assert grant.lost.is_set()
            # at its term less MARGIN (no sooner), before a waiter may take it over: one takes a
            # lease unchanged for its term and MARGIN
            assert 2 * TERM * (1 - MARGIN) <= lost.at - start < 2 * TERM * (1 + MARGIN)
            assert "no renewal" in lost.reasons[0]
    finally:
        flaky.unhang.set()
    assert len(lost.reasons) == 1
    lease = BuildLease(store).current()
    assert lease is not None and not lease.released  # nothing written under a lost grant


def test_a_holder_paused_past_its_term_is_told_at_its_release_at_the_latest(
    store: ObjectStore,
) -> None:
    """Resumed and released before its renewal thread looked at the clock (a build that ends
    right after a pause): `on_lost` is still told, before the slot is given back, so what it
    built is never taken for work done under the lease."""
    now = [0.0]
    lost = _Lost()
    with BuildLease(store, term=TERM, on_lost=lost, clock=lambda: now[0]).hold("me", 0) as grant:
        now[0] += 2 * TERM  # paused past its term
    assert grant.lost.is_set() and len(lost.reasons) == 1
    lease = BuildLease(store).current()
    assert lease is not None and not lease.released  # nothing written under a lost grant


class _RacedCreate(ObjectStore):
    """The in-memory store whose first create of the lease is answered 409 (Conflict), a
    rival's lease written meanwhile when `rival`."""

    def __init__(self, rival: bool) -> None:
        inner = ObjectStore.in_memory()
        super().__init__(inner._backend, inner.url)
        self.rival, self.raced = rival, False

    def create(self, key: str, data: bytes) -> str:
        if key == KEY and not self.raced:
            self.raced = True
            if self.rival:
                body = {"holder": "rival", "epoch": 1, "term": 60, "until": 0, "released": False}
                super().create(key, json.dumps(body).encode())
            raise Conflict(key)
        return super().create(key, data)


def test_a_conflict_on_create_is_read_again_and_decided() -> None:
    with BuildLease(_RacedCreate(rival=False)).hold("me", wait=0) as grant:
        assert grant.epoch == 1  # nobody won: taken on the next try
    raced = _RacedCreate(rival=True)
    with pytest.raises(RegistryError) as caught, BuildLease(raced).hold("me", wait=0):
        pass
    assert caught.value.code == "BUILD_IN_PROGRESS" and "rival" in caught.value.message


class _Answers409(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that answers a conditional write 409 ConditionalRequestConflict."""

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._answer(409, "ConditionalRequestConflict")

    def do_GET(self) -> None:
        self._answer(404, "NoSuchKey")

    def _answer(self, status: int, code: str) -> None:
        body = f"<Error><Code>{code}</Code><Message>m</Message></Error>".encode()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_409_to_a_conditional_write_is_a_lost_race() -> None:
    from obstore.store import S3Store

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers409)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {"endpoint": f"http://127.0.0.1:{server.server_port}", "region": "us-east-1",
                  "access_key_id": "a", "secret_access_key": "b",
                  "virtual_hosted_style_request": False}  # fmt: skip
        backend = S3Store(
            "bucket", config=config, client_options={"allow_http": True},  # type: ignore[arg-type]
            retry_config={"max_retries": 0},
        )  # fmt: skip
        s3 = ObjectStore(backend, "s3://bucket")
        with pytest.raises(Conflict):
            s3.create(KEY, b"{}")
        with pytest.raises(Conflict):
            s3.replace(KEY, b"{}", "etag")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"holder": "a", "until": 1, "released": false, "holder": "b"}',
        b'{"holder": 1, "until": 1, "released": false}',
        b'{"holder": "a", "until": 1, "released": "no"}',
        b'{"holder": "a", "until": NaN, "released": false}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": "3"}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": 1.5}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": true}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": -1}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": 1, "term": 0}',
        # issue 40: finite numbers in sane ranges, exact types, printable holders
        b'{"holder": "a", "until": 1e20, "released": false}',
        b'{"holder": "a", "until": -1, "released": false}',
        b'{"holder": "a", "until": Infinity, "released": false}',
        b'{"holder": "a", "until": 1, "released": "false"}',
        b'{"holder": "a", "until": 1, "released": 0}',
        b'{"holder": "a", "until": 1, "released": false, "term": 1e300}',
        b'{"holder": "a", "until": 1, "released": false, "term": 86400}',
        b'{"holder": "a", "until": 1, "released": false, "term": true}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": 1e3}',
        b'{"holder": "a", "until": 1, "released": false, "epoch": %d}' % 2**63,
        b'{"holder": "a\\u001b[2J", "until": 1, "released": false}',
        b'{"holder": "%s", "until": 1, "released": false}' % (b"a" * 1001),
    ],
)
def test_a_lease_object_this_release_did_not_write_is_refused(
    store: ObjectStore, data: bytes
) -> None:
    store.put(KEY, data)
    for read in (BuildLease(store).current, lambda: BuildLease(store).hold("me", 0).__enter__()):
        with pytest.raises(RegistryError) as caught:
            read()
        assert caught.value.code == "REMOTE_STATE_INVALID"
        assert caught.value.path == f"memory:///{KEY}"
    found = store.get(KEY)  # never read as released (or expired) and taken over
    assert found is not None and found.data == data


def test_a_lease_the_release_before_epochs_wrote_is_read(store: ObjectStore) -> None:
    old = {"holder": "pid 1 on a", "until": 0.0, "released": True, "token": None, "nonce": "n"}
    store.put(KEY, json.dumps(old).encode())
    lease = BuildLease(store).current()
    assert lease is not None and (lease.epoch, lease.term, lease.released) == (0, 60.0, True)
    with BuildLease(store).hold("me", wait=0) as grant:
        assert grant.epoch == 1


def test_a_takeover_fences_the_stale_holders_pointer_writes(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A holder whose renewals hang (a paused process, a cut network) is told before the
    term lapses; the next holder takes over after a full term and fences the ledger: the
    stale holder's write is refused, a person's (no epoch) is not and keeps the fence."""
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "first"), "a")
    stuck = _Flaky(store, hang=True)
    lost = _Lost()
    try:
        with BuildLease(stuck, term=TERM, ledger=ledger, on_lost=lost).hold("a", 0) as stale:
            assert ledger.fenced() == stale.epoch
            with BuildLease(store, term=TERM, ledger=ledger).hold("b", wait=10) as grant:
                taken = time.monotonic()
                assert lost.told.is_set() and lost.at < taken
                assert grant.epoch == stale.epoch + 1 == ledger.fenced()
                before = head(ledger)
                with pytest.raises(RegistryError) as caught:
                    add(machine(store, tmp_path / "stale", epoch=stale.epoch), "stale")
                assert caught.value.code == "BUILD_LEASE_LOST"
                assert head(ledger) == before
                add(machine(store, tmp_path / "b", epoch=grant.epoch), "b")
                add(machine(store, tmp_path / "person"), "person")
                assert head(ledger)[1] == "a,b,person" and ledger.fenced() == grant.epoch
    finally:
        stuck.unhang.set()
    assert "stale" not in reasons(ledger)


def _raise_fence(store: ObjectStore, fence: int) -> None:
    """A fence entry of `fence` after the last entry, as a writer with rights on the bucket
    writes it (the ledger refuses to write one past the highest epoch itself)."""
    ledger = Ledger(store, "pointers")
    seq = head(ledger)[0] + 1
    store.put(ledger.entry_key(seq), json.dumps({"seq": seq, "entry": "", "fence": fence}).encode())


def test_a_fence_raised_above_every_lease_does_not_block_the_next_holder(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A fence entry far above the lease's epoch (a writer with rights on the bucket): each
    take wrote the lease's epoch + 1, always below it, so every build's pointer writes were
    BUILD_LEASE_LOST for good. A take is above the ledger's fence too."""
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "first"), "a")
    with BuildLease(store, ledger=ledger).hold("first build", 0) as grant:
        assert grant.epoch == 1
    _raise_fence(store, 10**18)
    with BuildLease(store, ledger=ledger).hold("next build", 0) as grant:
        assert grant.epoch == 10**18 + 1
        add(machine(store, tmp_path / "next", epoch=grant.epoch), "b")
    assert reasons(ledger)[-1] == "b"


@pytest.mark.parametrize("fence", [2**63 - 1, 2**63, 2**64], ids=["highest", "above", "far"])
def test_a_fence_at_or_past_the_highest_epoch_refuses_the_take_not_the_fencing(
    store: ObjectStore, tmp_path: Path, fence: int
) -> None:
    """At the highest epoch two holders got the same epoch (a stale holder's write went in);
    past it every build was BUILD_LEASE_LOST for good. Both are state no release writes."""
    ledger = Ledger(store, "pointers")
    add(machine(store, tmp_path / "first"), "a")
    _raise_fence(store, fence)
    with pytest.raises(RegistryError) as refused, BuildLease(store, ledger=ledger).hold("b", 0):
        pass
    assert refused.value.code == "REMOTE_STATE_INVALID"


J1, J2 = chained_journal_lines(2)


def test_the_grant_reaches_the_pointer_writes_of_its_process(
    store: ObjectStore, tmp_path: Path
) -> None:
    """`Remote.grant` (set by `build_slot`): a push under a grant fenced off, or lost,
    is refused and the local copy put back; a bucket fenced before its first change still
    takes the workspace's journal (bootstrap)."""
    replica = machine(store, tmp_path / "ws")
    remote = replica.remote
    with remote.lease().hold("a", wait=0) as grant:
        remote.grant = grant
        replica.journal.write_bytes(J1)
        replica.pointers.write_bytes(b'{"p": 1}')
        base = replica.pull(lambda record, action: None, lambda: None)  # bootstrapped, fenced
        assert [entry.text for entry in replica.ledger.entries(0)] == ["", J1.decode()]
        for refuse in ("fenced", "lost"):
            if refuse == "fenced":
                replica.ledger.fence(grant.epoch + 1)  # another build took the lease over
            else:
                remote.grant = grant = Grant("a", grant.epoch + 1)
                grant.lost.set()
            base = replica.pull(lambda record, action: None, lambda: None)
            with replica.journal.open("ab") as handle:
                handle.write(J2)
            replica.pointers.write_bytes(b'{"p": 2}')
            with pytest.raises(PointerRefused) as caught:
                replica.push(base)
            assert caught.value.code == "BUILD_LEASE_LOST"
            assert replica.journal.read_bytes() == J1
            assert replica.pointers.read_bytes() == b'{"p": 1}'
            assert head(replica.ledger)[1] == '{"p": 1}'
        remote.grant = None


def test_a_bucket_fenced_by_several_builds_before_any_change_still_bootstraps(
    store: ObjectStore, tmp_path: Path
) -> None:
    replica = machine(store, tmp_path / "ws")
    for _ in range(3):  # three builds that changed no pointer: fence entries only
        with replica.remote.lease().hold("a", wait=0):
            pass
    replica.journal.write_bytes(J1)
    replica.pointers.write_bytes(b'{"p": 1}')
    replica.pull(lambda record, action: None, lambda: None)
    assert [entry.text for entry in replica.ledger.entries(0)] == ["", "", "", J1.decode()]
    assert head(replica.ledger) == (4, '{"p": 1}') and replica.ledger.fenced() == 3
    assert replica.journal.read_bytes() == J1
