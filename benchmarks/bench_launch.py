"""(l) A launched `registry build` against the same build `--in-process`, side by side.

A copy of the demo workspace is built once; then `registry build --force` (launched: the run
goes through the instance's queue and run launcher, its worker forked from the command) and
`registry build --force --in-process` (the run executed in the command) alternate, ROUNDS
rounds, the order rotating each round, after one untimed warm-up of each. Each is a whole
process, Python's start and imports included. The target (issue 39): the launched build costs
at most 1.5 s more than the in-process one (medians).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import (
    REGISTRY,
    Measurement,
    Report,
    Target,
    demo_workspace,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
)

ROUNDS = 7
QUICK_ROUNDS = 3
TARGET_EXTRA_SECONDS = 1.5
BENCHMARK = "`registry build --force` of the demo"


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Time both ways of running the same build, alternated (module doc)."""
    workspace = demo_workspace(work, "ws_launch")
    run_quiet([REGISTRY, "build", "--workspace", str(workspace)])
    contenders = {
        "launched (the default)": [REGISTRY, "build", "--force", "--workspace", str(workspace)],
        "--in-process": [
            REGISTRY, "build", "--force", "--in-process", "--workspace", str(workspace),
        ],
    }  # fmt: skip
    measurements = {name: Measurement(BENCHMARK, name, items=1, ours=True) for name in contenders}
    for argv in contenders.values():
        run_timed(argv)  # warm-up: caches, bytecode
    rounds = QUICK_ROUNDS if quick else ROUNDS  # `repeat` is for the size-bound suites
    for round_number in range(rounds):
        for name in rotate(list(contenders), round_number):
            measurements[name].samples.append(run_timed(contenders[name])[0])
    launched, in_process = measurements.values()
    extra = launched.median - in_process.median
    report = Report(measurements=list(measurements.values()))
    report.targets.append(
        Target(
            f"a launched build costs at most {TARGET_EXTRA_SECONDS:g} s more than --in-process",
            extra <= TARGET_EXTRA_SECONDS,
            f"launched {launched.median:.2f} s, --in-process {in_process.median:.2f} s "
            f"(+{extra:.2f} s, medians of {rounds}, alternated)",
        )
    )
    print(f"[launch] launched {launched.median:.2f} s, in process {in_process.median:.2f} s")
    remove_tree(workspace)
    return report
