"""Nothing dead blocks the living on a workspace kept in a bucket (issue 62), on a real SeaweedFS
server: a run a gone `registry build` left QUEUED is marked CANCELED by the next build, which
proceeds and promotes through the bucket; a `registry build` killed by SIGKILL while its run
seals leaves its run STARTED and the bucket's build lease unreleased: the next build marks the
run FAILURE at once, saying so, takes the lease over once it has seen it unrenewed for a whole
term (66 s: docs/DEPLOYMENT.md), builds, promotes and exits 0."""

from __future__ import annotations

from pathlib import Path

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.lease import BuildLease
from registry_pipeline_tests._dead_runs import (
    killed_mid_run,
    next_build_clears,
    queued_by_a_gone_submitter,
)


def test_a_run_queued_by_a_gone_build_is_canceled_by_the_next_which_proceeds(
    built_machines: tuple[Path, Path],
) -> None:
    a, _b = built_machines
    queued = queued_by_a_gone_submitter(a)
    next_build_clears(a, queued=[queued])


def test_a_killed_build_is_failed_by_the_next_which_takes_its_lease_over_and_promotes(
    built_machines: tuple[Path, Path], store: ObjectStore, tmp_path: Path
) -> None:
    a, _b = built_machines
    started = killed_mid_run(a, tmp_path)
    left = BuildLease(store).current()
    assert left is not None and not left.released and started in left.holder  # never released
    next_build_clears(a, started=[started])
    now = BuildLease(store).current()
    assert now is not None and now.released and now.epoch > left.epoch  # taken over, released
