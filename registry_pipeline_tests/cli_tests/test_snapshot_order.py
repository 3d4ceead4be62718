"""One order of a registry's snapshots for every reader: (created_utc to the second, run id).

As text, `...:03.5Z` sorts before `...:03Z` and `2099-02-30...` after every real time: the gate
refused a promotion to a snapshot half a second newer (NOT_NEWER) and took a rollback to it,
while the delta log recorded it as the forward move; and a folder dated with no real time stood
as the newest, so an unchanged source was sealed again by every build."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from registry_pipeline.core.delta_log.build import order_snapshots
from registry_pipeline.core.gate.gate import evaluate, record
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline.core.workspace.snapshots import (
    list_snapshots,
    normalize_created_utc,
    read_snapshot,
    snapshot_order,
)
from registry_pipeline_tests._helpers import registry, reseal, seal_checked


def _dated_copy(
    root: Path, run_id: str, new_run_id: str, created_utc: str, registry_id: str = "alpha"
) -> str:
    """A copy of the sealed folder `run_id` as `new_run_id` dated `created_utc`, resealed, with
    the receipt of its checks (as another writer of the seal format would leave it)."""
    runs = root / ".codex" / "RUNS"
    folder = runs / new_run_id
    folder.mkdir()
    for item in (runs / run_id).iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    envelope = json.loads((folder / "run.json").read_text())
    envelope.update(run_id=new_run_id, created_utc=created_utc)
    (folder / "run.json").write_text(json.dumps(envelope, indent=2) + "\n")
    reseal(folder)
    workspace = Workspace(root)
    verdicts = evaluate(workspace, registry_id, folder)
    root_sha = str(read_snapshot(folder, registry_id).root_sha256)
    record(workspace, registry_id, folder, root_sha, verdicts, {"kind": "cli_user", "id": "test"})
    return new_run_id


def test_half_a_second_later_is_newer_to_the_gate_the_listing_and_the_delta_log(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    init_workspace(root)
    first, _root = seal_checked(root, "alpha", 3, "passed")  # 2026-01-01T00:00:03Z
    later = _dated_copy(root, first, f"{first}__001", "2026-01-01T00:00:03.5Z")
    listed = list_snapshots(Workspace(root), "alpha")
    assert [s.run_id for s in listed] == [first, later]
    assert [s.run_id for s, _at in order_snapshots(listed)[0]] == [first, later]
    where = ["--workspace", str(root), "--json"]
    assert registry("pointers", "promote", "alpha", first, "--reason", "t", *where)[0] == 0
    code, out, _err = registry("pointers", "rollback", "alpha", "--to", later, "--reason", "t",
                               *where)  # fmt: skip
    assert code == 1 and json.loads(out)["error"]["code"] == "NOT_OLDER", out
    code, out, err = registry("pointers", "promote", "alpha", later, "--reason", "t", *where)
    assert code == 0, out + err


def test_a_date_that_is_no_time_is_ordered_by_its_run_id_never_the_newest(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root)
    first, _root = seal_checked(root, "alpha", 1, "passed")  # 2026-01-01T00:00:01Z
    second, _root = seal_checked(root, "alpha", 5, "passed")
    odd = _dated_copy(root, first, "2026-01-01__000003__alpha_build", "2099-02-30T00:00:00Z")
    listed = [s.run_id for s in list_snapshots(Workspace(root), "alpha")]
    assert listed == [first, odd, second]


def test_the_order_reads_the_second_in_utc_and_falls_back_on_the_run_id() -> None:
    run_id = "2026-01-01__000009__alpha_build"
    assert snapshot_order(0, "2026-01-01T01:00:03+01:00", run_id) == (
        0,
        "2026-01-01T00:00:03Z",
        run_id,
    )
    assert snapshot_order(0, "2026-01-01T00:00:03.999Z", run_id)[1] == "2026-01-01T00:00:03Z"
    assert snapshot_order(0, "2026-13-01T00:00:00Z", run_id)[1] == "2026-01-01T00:00:09Z"
    assert snapshot_order(0, None, "hand-made") == (0, "", "hand-made")
    assert normalize_created_utc("2099-02-30T00:00:00Z") is None
    for beyond in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):  # no UTC year
        assert snapshot_order(0, beyond, run_id)[1] == "2026-01-01T00:00:09Z"
    for early in ("0999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):  # four digits, as written:
        assert normalize_created_utc(early) == early  # `%Y` writes 999, which sorts after 2026
        assert snapshot_order(0, early, "b") < snapshot_order(0, "2026-01-01T00:00:00Z", "a")


def _active(root: Path, registry_id: str) -> str:
    code, out, err = registry("pointers", "show", "--workspace", str(root), "--json")
    assert code == 0, out + err
    rows = {row["registry_id"]: row for row in json.loads(out)["pointers"]}
    return str(rows[registry_id]["active_ref"]["run_id"])


def _second_after(run_id: str) -> datetime:
    """The second after the one `run_id` names: the newest snapshot, never a taken name."""
    named = datetime.strptime(run_id[:18], "%Y-%m-%d__%H%M%S").replace(tzinfo=UTC)
    return named + timedelta(seconds=1)


def test_a_newest_input_dated_with_a_fraction_of_a_second_builds_its_drift(built: Path) -> None:
    """The drift builder's `as_of` (the newest input's created_utc, to the second) was refused
    (BAD_AS_OF) when that input's created_utc had a fraction, which the seal allows."""
    current = _active(built, "expected_versions")
    moment = datetime.now(UTC) + timedelta(seconds=2)  # after every snapshot, within the skew
    run_id = f"{moment:%Y-%m-%d__%H%M%S}__expected_versions_build"
    _dated_copy(built, current, run_id, f"{moment:%Y-%m-%dT%H:%M:%S}.5Z", "expected_versions")
    where = ["--workspace", str(built), "--json"]
    code, out, err = registry("pointers", "promote", "expected_versions", run_id, "--reason",
                              "t", *where)  # fmt: skip
    assert code == 0, out + err
    code, out, err = registry("build", "--select", "drift_signals", *where)
    assert code == 0 and json.loads(out)["success"] is True, out + err


def test_a_folder_dated_with_no_real_time_does_not_make_every_build_seal_again(
    built: Path,
) -> None:
    runs = built / ".codex" / "RUNS"
    current = _active(built, "expected_versions")
    moment = _second_after(current)
    odd = f"{moment:%Y-%m-%d__%H%M%S}__expected_versions_build"
    _dated_copy(built, current, odd, "2099-02-30T00:00:00Z", "expected_versions")
    before = {p.name for p in runs.glob("*__expected_versions_build*")}
    for _ in range(2):
        code, out, err = registry("build", "--force", "--workspace", str(built), "--json")
        assert code == 0, out + err
    sealed = {p.name for p in runs.glob("*__expected_versions_build*")} - before
    assert len(sealed) == 1, sorted(sealed)  # once past the odd folder, then reused
