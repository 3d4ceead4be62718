"""The issue-39 race on SQLite: the UI's Launch button (a real webserver's GraphQL) and
`registry build` at once, in both orders, under `dagster dev`'s daemon: both builds complete,
one after the other, the second shown queued while it waits; and a build launched from the UI
seals only what changed and is followed by "up to date"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline_tests._doors import (
    _statuses,
    assert_one_after_the_other,
    dagster_dev,
    environment,
    launch,
    race,
)
from registry_pipeline_tests._helpers import registry

pytestmark = pytest.mark.launched


@pytest.fixture
def served(built: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`dagster dev` on a copy of a built workspace, after a build in the copy (a copy's `.env`
    names the original's home until a build corrects it)."""
    code, _, err = registry("build", "--force", "--in-process", "--workspace", str(built))
    assert code == 0, err
    with dagster_dev(built, environment(), tmp_path) as base:
        yield base, built


@pytest.mark.parametrize("ui_first", [True, False], ids=["ui-first", "cli-first"])
def test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other(
    served: tuple[str, Path], ui_first: bool
) -> None:
    base, root = served
    assert_one_after_the_other(race(base, root, environment(), ui_first=ui_first))


def test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date(
    served: tuple[str, Path],
) -> None:
    base, root = served
    runs = root / ".codex" / "RUNS"
    before = set(runs.iterdir())
    source = root / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text(source.read_text().replace('"0.1.0"', '"0.1.1"', 1))
    run_id = launch(base)
    deadline = time.monotonic() + 300
    while _statuses(base).get(run_id) not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)  # polls an observable condition: the run's status
    assert _statuses(base)[run_id] == "SUCCESS"
    sealed = {registry_of(path.name) for path in set(runs.iterdir()) - before}
    assert "expected_versions" in sealed
    assert not sealed & {"migration_ledger", "threshold_packs_file", "allowed_operations"}
    code, out, err = registry("build", "--workspace", str(root))
    assert code == 0 and out.startswith("up to date"), out + err
