"""(l) Issue 61's figures: the CLI's default build against `--in-process`, a UI-launched build
against the CLI's, and the time from a build's end to its promotion's start under `dagster dev`.

1. A copy of the demo workspace is built once; then `registry build --force` and `registry build
   --force --in-process` alternate, ROUNDS rounds, the order rotating, after one untimed warm-up
   of each: whole processes, Python's start and imports included. Both execute the build run and
   its promotion run in the command (the flag is kept for scripts of earlier releases): the
   target is that the default costs at most 1.5 s more (issue 39's bound, kept by issue 61).
2. The same copy served by `dagster dev` (webserver and daemon): a source edited, then a build
   launched as the Launch button does (GraphQL), ROUNDS times. Each round's figures: the build
   run's wall time (start to end, as the instance records them), and the seconds from its end to
   the start of the promotion run the sensor `promote_after_build` requested (target: <= 10 s,
   medians), and from the Launch request to the promotion run's end. The peer in the same run:
   the CLI's own build of the same change (`registry build`: its build run's wall time read the
   same way, and the whole command, build and promotion).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import (
    REGISTRY,
    Measurement,
    Report,
    Sample,
    Target,
    demo_workspace,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
)

ROUNDS = 5
QUICK_ROUNDS = 3
TARGET_EXTRA_SECONDS = 1.5
TARGET_PROMOTION_DELAY = 10.0
BENCHMARK = "`registry build --force` of the demo"
UI = "a UI-launched build of the demo under `dagster dev` (one source changed)"


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Both figures of the module doc, each with its peer from the same run."""
    rounds = QUICK_ROUNDS if quick else ROUNDS  # `repeat` is for the size-bound suites
    workspace = demo_workspace(work, "ws_launch")
    run_quiet([REGISTRY, "build", "--workspace", str(workspace)])
    report = Report()
    _cli(workspace, rounds, report)
    _ui(work, rounds, report)
    remove_tree(workspace)
    return report


def _cli(workspace: Path, rounds: int, report: Report) -> None:
    contenders = {
        "registry build (the default)": [REGISTRY, "build", "--force", "--workspace",
                                         str(workspace)],
        "--in-process": [
            REGISTRY, "build", "--force", "--in-process", "--workspace", str(workspace),
        ],
    }  # fmt: skip
    measurements = {name: Measurement(BENCHMARK, name, items=1, ours=True) for name in contenders}
    for argv in contenders.values():
        run_timed(argv)  # warm-up: caches, bytecode
    for round_number in range(rounds):
        for name in rotate(list(contenders), round_number):
            measurements[name].samples.append(run_timed(contenders[name])[0])
    default, in_process = measurements.values()
    extra = default.median - in_process.median
    report.measurements.extend(measurements.values())
    report.targets.append(
        Target(
            f"the default build costs at most {TARGET_EXTRA_SECONDS:g} s more than --in-process",
            extra <= TARGET_EXTRA_SECONDS,
            f"default {default.median:.2f} s, --in-process {in_process.median:.2f} s "
            f"({extra:+.2f} s, medians of {rounds}, alternated)",
        )
    )
    print(f"[launch] default {default.median:.2f} s, in process {in_process.median:.2f} s")


def _ui(work: Path, rounds: int, report: Report) -> None:
    """Builds launched over GraphQL and their promotions, against the CLI's builds."""
    import json

    from registry_pipeline_tests._webserver import (
        change_a_source,
        copy_demo,
        dagster_dev,
        environment,
        launch,
        promoted_by_the_sensor,
        wait_for,
    )

    scratch = work / "launch_ui"
    scratch.mkdir(parents=True, exist_ok=True)
    root = copy_demo(scratch)
    env = {k: v for k, v in environment(root, {}).items() if k != "REGISTRY_PIPELINE_HOLD_AT"}
    run_quiet([REGISTRY, "build", "--workspace", str(root)])
    ui_wall, cli_wall, delays, ui_whole, cli_whole = [], [], [], [], []
    with dagster_dev(root, env, scratch) as base_url:
        from registry_pipeline_tests._webserver import Served

        served = Served(base_url, root, {}, env)
        for _ in range(rounds):
            change_a_source(root)
            clicked = time.time()
            run_id = launch(served)
            assert wait_for(served, run_id) == "SUCCESS", run_id
            build = served.runs()[run_id]
            promotion = promoted_by_the_sensor(served, run_id)
            ui_wall.append(float(build["endTime"]) - float(build["startTime"]))
            delays.append(float(promotion["startTime"]) - float(build["endTime"]))
            ui_whole.append(float(promotion["endTime"]) - clicked)
            change_a_source(root)
            started = time.monotonic()
            command = served.registry("build", "--json")
            out, err = command.communicate(timeout=600)
            cli_whole.append(time.monotonic() - started)
            assert command.returncode == 0, out + err
            cli_run = served.runs()[json.loads(out)["dagster_run_id"]]
            cli_wall.append(float(cli_run["endTime"]) - float(cli_run["startTime"]))
    for name, samples, ours in (
        ("UI: build run (the daemon's run worker)", ui_wall, True),
        ("CLI: build run (in the command)", cli_wall, True),
        ("UI: Launch to promoted (queue, worker, sensor, promotion)", ui_whole, True),
        ("CLI: `registry build` to its exit (build and promotion)", cli_whole, True),
    ):
        measurement = Measurement(UI, name, items=1, ours=ours)
        measurement.samples.extend(Sample(seconds) for seconds in samples)
        report.measurements.append(measurement)
    delay = statistics.median(delays)
    report.targets.append(
        Target(
            f"a build's promotion starts within {TARGET_PROMOTION_DELAY:g} s of its end under "
            "`dagster dev`",
            delay <= TARGET_PROMOTION_DELAY,
            f"build end to promotion start: median {delay:.2f} s of {rounds} "
            f"(min {min(delays):.2f}, max {max(delays):.2f}); UI build run "
            f"{statistics.median(ui_wall):.2f} s, the CLI's {statistics.median(cli_wall):.2f} s",
        )
    )
    print(
        f"[launch] promotion delay median {delay:.2f} s; UI build "
        f"{statistics.median(ui_wall):.2f} s, CLI build {statistics.median(cli_wall):.2f} s"
    )
    remove_tree(scratch)
