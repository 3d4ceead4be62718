"""One order of snapshots for every reader: generation, the second in UTC, run id; never text."""

from __future__ import annotations

import pytest

from registry_pipeline.core.delta_log.build import order_snapshots
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import (
    list_snapshots,
    normalize_created_utc,
    snapshot_order,
)
from registry_pipeline_tests._helpers import seal_checked
from registry_pipeline_tests.core_tests.gate._support import PERSON, dated_copy


def test_half_a_second_later_is_newer_to_the_gate_the_listing_and_the_delta_log(
    workspace: Workspace,
) -> None:
    first, _root = seal_checked(workspace.root, "alpha", 3, "passed")  # 2026-01-01T00:00:03Z
    later = dated_copy(workspace.root, first, f"{first}__001", "2026-01-01T00:00:03.5Z")
    listed = list_snapshots(workspace, "alpha")
    assert [s.run_id for s in listed] == [first, later]
    assert [s.run_id for s, _at in order_snapshots(listed)[0]] == [first, later]
    store = PointerStore(workspace)
    who = {"relpath": "ALPHA.json", "reason": "t", "actor": PERSON, "admit": admission}
    store.promote("alpha", first, **who)
    with pytest.raises(RegistryError) as refused:
        store.rollback("alpha", later, **who)
    assert refused.value.code == "NOT_OLDER"
    assert store.promote("alpha", later, **who).changed


def test_a_date_that_is_no_time_is_ordered_by_its_run_id_never_the_newest(
    workspace: Workspace,
) -> None:
    first, _root = seal_checked(workspace.root, "alpha", 1, "passed")  # 2026-01-01T00:00:01Z
    second, _root = seal_checked(workspace.root, "alpha", 5, "passed")
    odd = dated_copy(workspace.root, first, "2026-01-01__000003__alpha_build",
                     "2099-02-30T00:00:00Z")  # fmt: skip
    assert [s.run_id for s in list_snapshots(workspace, "alpha")] == [first, odd, second]


def test_the_order_reads_the_second_in_utc_and_falls_back_on_the_run_id() -> None:
    run_id = "2026-01-01__000009__alpha_build"
    assert snapshot_order(0, "2026-01-01T01:00:03+01:00", run_id) == (
        0, "2026-01-01T00:00:03Z", run_id
    )  # fmt: skip
    assert snapshot_order(0, "2026-01-01T00:00:03.999Z", run_id)[1] == "2026-01-01T00:00:03Z"
    assert snapshot_order(0, "2026-13-01T00:00:00Z", run_id)[1] == "2026-01-01T00:00:09Z"
    assert snapshot_order(0, None, "hand-made") == (0, "", "hand-made")
    assert normalize_created_utc("2099-02-30T00:00:00Z") is None
    for beyond in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):  # no UTC year
        assert snapshot_order(0, beyond, run_id)[1] == "2026-01-01T00:00:09Z"
    for early in ("0999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):  # four digits, as written:
        assert normalize_created_utc(early) == early  # `%Y` writes 999, which sorts after 2026
        assert snapshot_order(0, early, "b") < snapshot_order(0, "2026-01-01T00:00:00Z", "a")
