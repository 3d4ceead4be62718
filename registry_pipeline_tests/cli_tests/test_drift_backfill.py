"""drift_signals_daily: day D reads what the journal had active at the end of D; backfills."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import pytest

from registry_pipeline.core.builders.drift_days import DAY_INPUTS, build_drift_for_day
from registry_pipeline.core.builders.drift_signals import KIND_SEVERITY, V01_ARTIFACT
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.definitions import build_definitions
from registry_pipeline.lib.drift_backfill import (
    BACKFILL_TAG,
    DRIFT_DAILY_JOB,
    RANGE_TAG,
    DayOutcome,
    run_drift_backfill,
)
from registry_pipeline_tests._helpers import (
    BUILD_ENV,
    Run,
    break_built_schema,
    child_env,
    copy_built,
    environment_kept,
    registry,
)


def _today() -> date:
    """Today (UTC), read as a test runs, not at import (a run may cross midnight)."""
    return datetime.now(UTC).date()


def _job(root: Path) -> Callable[[], dg.JobDefinition]:
    """The drift job of `root`'s definitions, as `registry drift backfill` loads it."""
    return lambda: build_definitions(root).resolve_job_def(DRIFT_DAILY_JOB)


def _backfill(
    cli: Run, root: Path, first: date, last: date, *options: str
) -> tuple[int, dict[str, object]]:
    code, out, _ = cli(
        "drift", "backfill", "--from", str(first), "--to", str(last),
        "--workspace", str(root), "--json", *options,
    )  # fmt: skip
    return code, json.loads(out) if out.strip() else {}


class Backfilled(NamedTuple):
    """A private copy of the built demo after a backfill of `day`, and its `--json` document."""

    root: Path
    day: date
    document: dict[str, Any]


def _backfilled_copy(
    built_demo_once: tuple[Path, dict[str, Any]], parent: Path, days: int, *options: str
) -> Backfilled:
    """A copy of the built demo after a backfill of the `days` days before today."""
    from registry_pipeline.lib.instance import POSTGRES_URL_ENV

    last = _today() - timedelta(days=1)
    root = copy_built(built_demo_once[0], parent)
    with environment_kept(*BUILD_ENV, POSTGRES_URL_ENV):
        code, out, err = registry(
            "drift", "backfill", "--from", str(last - timedelta(days=days - 1)), "--to", str(last),
            "--workspace", str(root), "--json", *options,
        )  # fmt: skip
    assert code == 0, out + err
    return Backfilled(root, last, json.loads(out))


@pytest.fixture(scope="module")
def backfilled_once(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Backfilled:
    """The built demo after one backfill of yesterday (`--in-process`: accepted), once a process."""
    return _backfilled_copy(
        built_demo_once, tmp_path_factory.mktemp("backfilled"), 1, "--in-process"
    )


@pytest.fixture
def backfilled(backfilled_once: Backfilled, tmp_path: Path) -> Backfilled:
    """A private copy of `backfilled_once` (`tmp_path/demo`)."""
    return backfilled_once._replace(root=copy_built(backfilled_once.root, tmp_path))


@pytest.fixture(scope="module")
def computed_once(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Backfilled:
    """The built demo after a backfill of the three days before today (no history), once a run."""
    return _backfilled_copy(built_demo_once, tmp_path_factory.mktemp("computed"), 3)


def test_days_without_history_are_all_unknown_sealed_and_checked(
    computed_once: Backfilled,
) -> None:
    built, yesterday, document = computed_once  # read only
    first = yesterday - timedelta(days=2)
    assert document["success"] is True
    days = document["days"]
    assert [day["day"] for day in days] == [str(first + timedelta(days=n)) for n in range(3)]
    for day in days:
        assert day["signals"] == {"true": 0, "false": 0, "unknown": len(KIND_SEVERITY)}
        assert day["missing_history"] == list(DAY_INPUTS)
        folder = built / ".codex" / "RUNS" / day["run_id"]
        assert "__drift_signals_daily_build" in day["run_id"]
        assert inspect_run_folder(folder).ok
        envelope = json.loads((folder / "run.json").read_text())
        assert envelope["inputs"] == [] and envelope["registry_id"] == "drift_signals_daily"
        v01 = json.loads((folder / V01_ARTIFACT).read_text())
        assert v01["generated_utc"] == f"{day['day']}T23:59:59Z"
    with dg.DagsterInstance.from_config(str(built / ".codex" / "dagster_home")) as instance:
        done = instance.get_materialized_partitions(dg.AssetKey("drift_signals_daily"))
        runs = instance.get_runs(dg.RunsFilter(job_name=DRIFT_DAILY_JOB))
        backfill_id = runs[0].tags[BACKFILL_TAG]  # one id for the backfill's runs, found by it
        tagged = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
        backfills = instance.get_backfills()
    assert {day["day"] for day in days} <= done
    assert backfills == []  # no Dagster backfill object: one run a day, executed here
    assert sorted(run.run_id for run in tagged) == sorted(d["dagster_run_id"] for d in days)
    assert sorted(run.run_id for run in runs) == sorted(d["dagster_run_id"] for d in days)
    by_day = sorted(tagged, key=lambda run: run.tags["dagster/partition"])
    for day, run in zip(days, by_day, strict=True):
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.run_id == day["dagster_run_id"]
        assert run.tags["dagster/partition"] == day["day"]  # Dagster's own partition tag
        assert run.tags[RANGE_TAG] == f"{first}..{yesterday}"


# --- days already computed: REUSED, without a Dagster run (seconds, not a run a day) -----------


def _dagster_work(root: Path) -> tuple[int, int]:
    """How many runs and backfills (none are made) the workspace's instance holds."""
    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        return len(instance.get_runs()), len(instance.get_backfills())


def test_days_already_computed_are_reused_without_running_them(
    cli: Run, computed_once: Backfilled, tmp_path: Path
) -> None:
    _root, last, computed = computed_once
    built = copy_built(computed_once.root, tmp_path)
    first = last - timedelta(days=2)
    assert computed["success"] is True
    assert [day["status"] for day in computed["days"]] == ["OK"] * 3  # sealed now
    assert not any(day["reused"] for day in computed["days"])
    work = _dagster_work(built)

    code, again = _backfill(cli, built, first, last)
    assert code == 0 and again["success"] is True
    assert [day["status"] for day in again["days"]] == ["REUSED"] * 3
    for before, now in zip(computed["days"], again["days"], strict=True):
        assert now["reused"] is True and now["success"] is True and now["problems"] == []
        assert now["run_id"] == before["run_id"] and now["root_sha256"] == before["root_sha256"]
        assert now["signals"] == before["signals"]
        assert now["missing_history"] == before["missing_history"]
        assert now["dagster_run_id"] == before["dagster_run_id"]  # the run that recorded it
    assert _dagster_work(built) == work  # no run

    code, out, _ = cli("drift", "backfill", "--from", str(first), "--to", str(last),
                       "--workspace", str(built))  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines[:3]] == ["REUSED"] * 3, out
    assert [line.split()[2] for line in lines[:3]] == [d["run_id"] for d in computed["days"]]
    assert lines[3] == "0 of 3 day(s) sealed and checked, 3 reused (sealed before, checked now)"
    assert "sealed and checked" not in "\n".join(lines[:3])
    assert _dagster_work(built) == work

    code, document = _backfill(cli, built, first - timedelta(days=1), last)
    assert code == 0 and [d["status"] for d in document["days"]] == ["OK"] + ["REUSED"] * 3
    assert _dagster_work(built) == (work[0] + 1, work[1])  # one run, for the new day only


def test_a_day_reads_the_snapshots_active_at_its_end(cli: Run, built: Path) -> None:
    workspace = Workspace(built)
    pointers = PointerStore(workspace).read()
    day = _today()  # the build's day (the journal starts there)
    today = build_drift_for_day(workspace, day)
    assert today.missing == ()
    assert {rid: snap.run_id for rid, snap in today.inputs.items()} == {
        rid: pointers.active(rid).run_id for rid in DAY_INPUTS
    }
    summary = today.result.summary
    assert int(summary["true"]) + int(summary["false"]) > 0  # real evidence gives real values
    behind = [
        signal
        for signal in json.loads(today.result.files["DRIFT_SIGNALS_DETAIL_v0_2.json"])["signals"]
        if signal["kind"] == "active_snapshot_behind"
    ]
    assert behind and all(signal["value"] is False for signal in behind if "run_registry" in
                          signal["signal_id"])  # fmt: skip
    again = build_drift_for_day(workspace, day)
    assert again.result.files == today.result.files  # same journal state, same bytes
    before = build_drift_for_day(workspace, day - timedelta(days=1))
    assert before.missing == DAY_INPUTS and before.result.summary["unknown"] == len(KIND_SEVERITY)


def test_a_backfilled_day_with_history_records_its_inputs(
    cli: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_pipeline.core.pointers import store as pointer_store

    yesterday = _today() - timedelta(days=1)
    noon = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    with monkeypatch.context() as patch:  # the promotions are journaled as of yesterday noon
        patch.setattr(pointer_store, "now_utc", lambda: noon)
        assert cli("build", "--workspace", str(demo))[0] == 0
    code, document = _backfill(cli, demo, yesterday, yesterday)  # in process (the session's)
    (outcome,) = document["days"]
    assert code == 0 and outcome["success"] and outcome["missing_history"] == [], outcome
    folder = demo / ".codex" / "RUNS" / str(outcome["run_id"])
    inputs = json.loads((folder / "run.json").read_text())["inputs"]
    pointers = PointerStore(Workspace(demo)).read()
    assert {ref["registry_id"]: ref["run_id"] for ref in inputs} == {
        rid: pointers.active(rid).run_id for rid in DAY_INPUTS
    }
    assert all(ref["manifest_sha256"] for ref in inputs)

    again, document = _backfill(cli, demo, yesterday, yesterday)  # nothing changed since
    (repeat,) = document["days"]
    assert again == 0 and repeat["success"] and repeat["run_id"] == outcome["run_id"]
    days = list((demo / ".codex" / "RUNS").glob("*__drift_signals_daily_build"))
    assert [p.name for p in days] == [outcome["run_id"]]  # no second, identical folder


@pytest.mark.parametrize(
    ("first", "last", "code"),
    [
        ("YESTERDAY", "THE DAY BEFORE", "BAD_RANGE"),
        ("2025-12-31", "2026-01-01", "BAD_RANGE"),
        ("TODAY", "TODAY", "DAY_NOT_ENDED"),
        ("2026-01-01", "2036-01-01", "DAY_NOT_ENDED"),  # BAD_DAY: test_time_grammar.py
    ],
)
def test_bad_ranges_are_refused_before_anything_runs(
    cli: Run, demo: Path, first: str, last: str, code: str
) -> None:
    today = _today()  # the days relative to today, resolved when the test runs
    days = {
        "TODAY": str(today),
        "YESTERDAY": str(today - timedelta(days=1)),
        "THE DAY BEFORE": str(today - timedelta(days=2)),
    }
    first, last = days.get(first, first), days.get(last, last)
    exit_code, out, err = cli(
        "drift", "backfill", "--from", first, "--to", last, "--workspace", str(demo)
    )
    assert exit_code == 2 and code in err and out == ""
    assert not (demo / ".codex" / "dagster_home").exists()


def test_a_broken_catalog_is_named_before_any_backfill(cli: Run, demo: Path) -> None:
    """The catalog's own reason code comes first, before the definitions load; nothing is run."""
    catalog = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog.write_text("{not json")
    yesterday = _today() - timedelta(days=1)
    code, out, err = cli(
        "drift", "backfill", "--from", str(yesterday), "--to", str(yesterday),
        "--workspace", str(demo), "--json",
    )  # fmt: skip
    assert code == 2, out + err
    assert json.loads(out)["error"]["code"] == "CATALOG_INVALID"


def test_a_journal_line_no_release_writes_fails_the_day_with_journal_corrupt(
    cli: Run, built: Path
) -> None:
    journal = built / ".codex" / "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b'"promote"', b'"promoted"', 1))
    yesterday = _today() - timedelta(days=1)
    code, document = _backfill(cli, built, yesterday, yesterday)
    assert code == 1 and document["success"] is False
    (problem,) = document["days"][0]["problems"]
    assert (problem["code"], problem["path"]) == ("JOURNAL_CORRUPT", str(journal))
    assert "line 1" in problem["message"]


def _case(root: Path, day: date, case: str, cli: Run) -> None:
    """Put the workspace in the state `case` names, the day computed before."""
    folder = next((root / ".codex" / "RUNS").glob("*__drift_signals_daily_build"))
    if case == "a sealed file edited":
        detail = folder / V01_ARTIFACT
        detail.write_bytes(detail.read_bytes() + b" ")
    elif case == "its schema no longer passes":
        break_built_schema(root)
    elif case == "a check failed on it before":
        schema = root / "schemas" / "drift_signals_v0_1.schema.json"
        kept = schema.read_bytes()
        break_built_schema(root)
        # the day fails: its receipt says so (the run in this process: how the failed check
        # was recorded is not what the case compares, only that it was)
        assert _backfill(cli, root, day, day, "--in-process")[0] == 1
        schema.write_bytes(kept)
    elif case == "the instance has no record of it":
        shutil.rmtree(root / ".codex" / "dagster_home")


def _comparable(outcome: DayOutcome, computed: str) -> tuple[object, ...]:
    return (
        outcome.success,
        outcome.reused,
        outcome.run_id if outcome.reused else outcome.run_id != computed,  # a new folder
        outcome.signals,
        outcome.missing_history,
        sorted(str(problem["code"]) for problem in outcome.problems),
    )


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unchanged", "REUSED"),
        ("a sealed file edited", "OK"),  # never reused: a new folder is sealed
        ("its schema no longer passes", "FAILED"),  # reused by the run, its check fails
        ("a check failed on it before", "OK"),
        ("the instance has no record of it", "REUSED"),  # run, to record it; reused
    ],
)
def test_the_shortcut_decides_as_the_full_path_does(
    cli: Run, backfilled: Backfilled, tmp_path: Path, case: str, status: str
) -> None:
    """The shortcut and a Dagster run of each day agree: status, folder, signals and problems."""
    built, day, computed = backfilled  # `day` backfilled on the built demo, successfully
    _case(built, day, case, cli)
    twin = tmp_path / "twin"
    shutil.copytree(built, twin, symlinks=True)
    (shortcut,) = run_drift_backfill(built, [day], _job(built))
    (full,) = run_drift_backfill(twin, [day], _job(twin), shortcut=False)
    first = str(computed["days"][0]["run_id"])
    assert _comparable(shortcut, first) == _comparable(full, first)
    assert shortcut.status == full.status == status, (shortcut, full)


# --- Ctrl-C: the day's run ends CANCELED, the backfill stops, exit 130 ------------------------


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as on a terminal; SIGTERM's handler is what it was. The
    cyclic collector is off meanwhile: a KeyboardInterrupt raised while it runs a callback
    (Hypothesis installs one in each process that imports it) is dropped as unraisable, which
    would make the interrupt these tests send a matter of timing (seen once in `make test-full`)."""
    term = signal.getsignal(signal.SIGTERM)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, term)


def _drift_runs(root: Path) -> list[tuple[str, dg.DagsterRunStatus, bool]]:
    """The drift job's runs, oldest first: partition, status, carries the backfill's tag."""
    with dg.DagsterInstance.from_config(str(root / ".codex" / "dagster_home")) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name=DRIFT_DAILY_JOB))
    return [(r.tags["dagster/partition"], r.status, BACKFILL_TAG in r.tags) for r in runs[::-1]]


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_in_a_day_cancels_its_run_and_exits_130(
    cli: Run, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from registry_pipeline.defs import drift_daily

    def interrupted(*_args: object) -> None:  # Ctrl-C while the day is computed
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)  # the signal's handler raises here
        raise AssertionError("the run was not interrupted")

    monkeypatch.setattr(drift_daily, "build_drift_for_day", interrupted)
    first = _today() - timedelta(days=2)
    code, out, err = cli(
        "drift", "backfill", "--from", str(first), "--to", str(first + timedelta(days=1)),
        "--workspace", str(built),
    )  # fmt: skip
    assert code == 130 and out == "" and err.startswith("error: INTERRUPTED "), out + err
    assert err.count("\n") == 1, err  # one line, no traceback
    # the day's run says so: cancelled, not failed; the next day was not run
    assert _drift_runs(built) == [(str(first), dg.DagsterRunStatus.CANCELED, True)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handed back
    assert not list((built / ".codex" / "RUNS").glob("*__drift_signals_daily_build"))


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_between_days_stops_before_the_next_one(built: Path) -> None:
    """A Ctrl-C outside a run stops the backfill before the next day; the day done stays SUCCESS."""
    first = _today() - timedelta(days=2)
    seen: list[DayOutcome] = []

    def on_day(outcome: DayOutcome) -> None:
        seen.append(outcome)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run_drift_backfill(built, [first, first + timedelta(days=1)], _job(built), on_day)
    assert [outcome.status for outcome in seen] == ["OK"]
    assert _drift_runs(built) == [(str(first), dg.DagsterRunStatus.SUCCESS, True)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


NOISY_BACKFILL = """
import sys
from registry_pipeline.cli import main
from registry_pipeline.defs import drift_daily

computed = drift_daily.build_drift_for_day

def noisy(*args):
    print("printed by the run", flush=True)
    return computed(*args)

drift_daily.build_drift_for_day = noisy
sys.exit(main(sys.argv[1:]))
"""
"""`registry ARGS...` in a process whose day's runs print on stdout."""


def test_what_a_run_prints_stays_off_the_json(built: Path) -> None:
    """stdout is the --json document alone: what a day's run prints goes to stderr."""
    import subprocess
    import sys

    yesterday = str(_today() - timedelta(days=1))
    done = subprocess.run(
        [sys.executable, "-c", NOISY_BACKFILL, "drift", "backfill", "--from", yesterday,
         "--to", yesterday, "--workspace", str(built), "--json"],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [day["status"] for day in json.loads(done.stdout)["days"]] == ["OK"]
    assert "printed by the run" in done.stderr


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_ctrl_c_a_run_swallows_as_it_ends_still_stops_the_backfill(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C Dagster drops as a run ends still stops the backfill; that run stays SUCCESS."""
    first = _today() - timedelta(days=2)
    handle = dg.DagsterInstance.handle_new_event

    def ending(self: dg.DagsterInstance, event: Any, **kwargs: Any) -> None:
        # a test seam, not an API: the signal comes as the run's last event is written
        if (
            event.dagster_event
            and event.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
        ):
            os.kill(os.getpid(), signal.SIGINT)
        handle(self, event, **kwargs)

    monkeypatch.setattr(dg.DagsterInstance, "handle_new_event", ending)
    with pytest.raises(KeyboardInterrupt):
        run_drift_backfill(built, [first, first + timedelta(days=1)], _job(built))
    assert _drift_runs(built) == [(str(first), dg.DagsterRunStatus.SUCCESS, True)]
