"""One order of snapshots (core_tests/gate/test_snapshot_order.py) as builds meet it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from registry_pipeline_tests._helpers import active_runs, registry
from registry_pipeline_tests.core_tests.gate._support import dated_copy


def test_a_newest_input_dated_with_a_fraction_of_a_second_builds_its_drift(built: Path) -> None:
    """The drift builder refused (BAD_AS_OF) an input sealed at a fraction of a second."""
    current = str(active_runs(built)["expected_versions"])
    moment = datetime.now(UTC) + timedelta(seconds=2)  # after every snapshot, within the skew
    run_id = f"{moment:%Y-%m-%d__%H%M%S}__expected_versions_build"
    dated_copy(built, current, run_id, f"{moment:%Y-%m-%dT%H:%M:%S}.5Z", "expected_versions")
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
    current = str(active_runs(built)["expected_versions"])
    moment = datetime.strptime(current[:18], "%Y-%m-%d__%H%M%S").replace(tzinfo=UTC)
    odd = f"{moment + timedelta(seconds=1):%Y-%m-%d__%H%M%S}__expected_versions_build"
    dated_copy(built, current, odd, "2099-02-30T00:00:00Z", "expected_versions")
    before = {p.name for p in runs.glob("*__expected_versions_build*")}
    for _ in range(2):
        code, out, err = registry("build", "--select", "expected_versions", "--force",
                                  "--workspace", str(built), "--json")  # fmt: skip
        assert code == 0, out + err
    sealed = {p.name for p in runs.glob("*__expected_versions_build*")} - before
    assert len(sealed) == 1, sorted(sealed)  # once past the odd folder, then reused
