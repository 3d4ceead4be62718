"""Two machines 3 minutes apart on one bucket (issue 62): the slow one's build of an edit is
promoted (newer by generation, not by its clock), and the other machine then finds it active.
The offset is real: libfaketime preloaded into the slow machine's `registry` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import list_snapshots
from registry_pipeline_tests._clock import clock_offset_env
from registry_pipeline_tests._helpers import REPO, active_runs, registry

SOURCE = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"


def test_a_machine_three_minutes_slow_promotes_its_edit_on_the_bucket(
    built_machines: tuple[Path, Path],
) -> None:
    a, b = built_machines
    field = '"threshold_pack_version": "v1"'
    for root in (a, b):  # the edit reaches both checkouts, as a pull would
        source = root / SOURCE
        source.write_text(source.read_text().replace(field, f'{field}, "note": "slow"'))
    edited = (b / SOURCE).read_bytes()

    done = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", "build", "--workspace", str(b), "--json"],
        env=clock_offset_env("-3m"),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entries = {e["registry_id"]: e for e in json.loads(done.stdout)["registries"]}
    assert entries["expected_versions"]["promoted"] is True, entries["expected_versions"]
    slow = entries["expected_versions"]["run_id"]

    code, out, err = registry("build", "--workspace", str(a), "--json")
    assert code == 0, out + err
    assert active_runs(a) == active_runs(b)
    assert active_runs(a)["expected_versions"] == slow
    newest = list_snapshots(Workspace(a), "expected_versions")[-1]
    assert newest.run_id == slow and newest.generation == 2
    assert (newest.path / "EXPECTED_VERSIONS_v0_1.json").read_bytes() == edited
