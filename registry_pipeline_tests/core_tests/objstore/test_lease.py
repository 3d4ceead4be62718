"""The build slot of a bucket (obstore's in-memory store; `s3_tests/` races two processes)."""

from __future__ import annotations

import json

import pytest

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.lease import KEY, BuildLease


def test_a_held_lease_refuses_a_second_build_naming_the_holder() -> None:
    store = ObjectStore.in_memory()
    with BuildLease(store).hold("registry build", wait=0) as me:
        told: list[str] = []
        second = BuildLease(store).hold("registry build", wait=0.2, on_wait=told.append)
        with pytest.raises(RegistryError) as caught, second:
            pass
        assert caught.value.code == "BUILD_IN_PROGRESS"
        assert me in caught.value.message and told == [me]
    holder, _etag = BuildLease(store).current()
    assert holder is not None and holder.released


def test_a_released_lease_is_taken_again() -> None:
    store = ObjectStore.in_memory()
    for _ in range(3):
        with BuildLease(store).hold("registry build", wait=0):
            pass


def test_an_ended_lease_of_a_killed_holder_is_taken_over() -> None:
    store = ObjectStore.in_memory()
    body = {"holder": "pid 1 (registry build) on gone", "until": 0.0, "released": False}
    store.create(KEY, json.dumps(body).encode())
    with BuildLease(store).hold("registry build", wait=0) as me:
        holder, _etag = BuildLease(store).current()
        assert holder is not None and holder.holder == me and not holder.free


def test_the_lease_is_released_when_the_build_fails() -> None:
    store = ObjectStore.in_memory()
    with pytest.raises(ZeroDivisionError), BuildLease(store).hold("registry build", wait=0):
        1 / 0  # noqa: B018
    holder, _etag = BuildLease(store).current()
    assert holder is not None and holder.released


def test_a_lease_object_this_release_did_not_write_is_refused() -> None:
    store = ObjectStore.in_memory()
    store.put(KEY, b"{}")
    with pytest.raises(RegistryError) as caught:
        BuildLease(store).current()
    assert caught.value.code == "REMOTE_STATE_INVALID"


def test_the_holders_delegate_goes_on_and_an_impostor_waits() -> None:
    store = ObjectStore.in_memory()
    with BuildLease(store).hold("registry build", wait=0, token="run-1"):
        with BuildLease(store).hold("dagster run run-1", wait=0, token="run-1"):
            holder, _ = BuildLease(store).current()
            assert holder is not None and holder.token == "run-1" and not holder.released
        holder, _ = BuildLease(store).current()
        assert holder is not None and not holder.released  # the delegate released nothing
        for token in ("run-2", None):  # a re-execution has a new run id; the UI names none
            with pytest.raises(RegistryError) as caught, BuildLease(store).hold(
                "dagster run", wait=0, token=token
            ):
                pass
            assert caught.value.code == "BUILD_IN_PROGRESS"
    with BuildLease(store).hold("dagster run run-1", wait=0, token="run-1"):  # a free lease
        holder, _ = BuildLease(store).current()
        assert holder is not None and "dagster run run-1" in holder.holder
