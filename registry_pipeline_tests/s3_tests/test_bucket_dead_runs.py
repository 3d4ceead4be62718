"""Nothing dead blocks the living on a workspace kept in a bucket (issue 62), on a real SeaweedFS
server: a run a gone `registry build` left QUEUED is marked CANCELED by the next build, which
proceeds and promotes through the bucket; a `registry build` killed by SIGKILL while its run
seals leaves its run STARTED and the bucket's build lease unreleased: the next build marks the
run FAILURE at once, saying so, takes the lease over once it has seen it unrenewed for a whole
term (66 s in a release, docs/DEPLOYMENT.md; `BUILD_TERM` s here), builds, promotes and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.lease import BuildLease
from registry_pipeline_tests import _dead_runs
from registry_pipeline_tests._dead_runs import (
    killed_mid_run,
    next_build_clears,
    queued_by_a_gone_submitter,
)
from registry_pipeline_tests._helpers import child_env
from registry_pipeline_tests.s3_tests.test_build_lease import BUILD_TERM, SHORT_TERM_BUILD


def test_a_run_queued_by_a_gone_build_is_canceled_by_the_next_which_proceeds(
    built_machines: tuple[Path, Path],
) -> None:
    a, _b = built_machines
    queued = queued_by_a_gone_submitter(a)
    next_build_clears(a, queued=[queued])


def short_term_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`registry ARGS...` as `registry_process` starts it, its bucket lease of `BUILD_TERM` s."""
    command = [sys.executable, "-c", SHORT_TERM_BUILD, str(BUILD_TERM), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or child_env())  # fmt: skip


def test_a_killed_build_is_failed_by_the_next_which_takes_its_lease_over_and_promotes(
    built_machines: tuple[Path, Path],
    store: ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _b = built_machines
    monkeypatch.setattr(_dead_runs, "registry_process", short_term_process)  # both builds
    started = killed_mid_run(a, tmp_path)
    left = BuildLease(store).current()
    assert left is not None and not left.released and started in left.holder  # never released
    assert left.term == BUILD_TERM
    next_build_clears(a, started=[started])
    now = BuildLease(store).current()
    assert now is not None and now.released and now.epoch > left.epoch  # taken over, released
