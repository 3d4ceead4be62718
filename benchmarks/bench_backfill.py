"""(b) A drift backfill of days already computed, against the backfill that computed them.

A copy of examples/drift-history is backfilled over DAYS days (each day computed: sealed and
checked, through Dagster's backfill), then the same days are backfilled again ROUNDS times: each
day is REUSED (its sealed folder is the day's result, checked again now), no run launched. Each
is a whole `registry drift backfill` process. The target (issue 41): a reused day costs seconds,
not the ~25 s a computed day took on the seed's repository: at most 1 s per reused day
(median), and less than a fifth of the computing backfill.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import REGISTRY, Measurement, Report, Target, remove_tree, run_timed

ROOT = Path(__file__).resolve().parent.parent
DAYS = ("2026-11-16", "2026-11-18")  # three days of the example's history
ROUNDS = 5
QUICK_ROUNDS = 3
TARGET_SECONDS_PER_DAY = 1.0
BENCHMARK = "`registry drift backfill` of 3 days of examples/drift-history"


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Compute the days once (timed), then backfill them again (module doc)."""
    workspace = work / "ws_backfill" / "drift-history"
    remove_tree(workspace.parent)
    shutil.copytree(ROOT / "examples" / "drift-history", workspace)
    argv = [REGISTRY, "drift", "backfill", "--workspace", str(workspace),
            "--from", DAYS[0], "--to", DAYS[1]]  # fmt: skip
    computing = Measurement(BENCHMARK, "days computed (first backfill)", items=3, ours=True)
    reused = Measurement(BENCHMARK, "days reused (the same backfill again)", items=3, ours=True)
    computing.samples.append(run_timed(argv)[0])
    for _ in range(QUICK_ROUNDS if quick else ROUNDS):
        reused.samples.append(run_timed(argv)[0])
    per_day = reused.median / 3
    report = Report(measurements=[computing, reused])
    report.targets.append(
        Target(
            f"a reused day costs at most {TARGET_SECONDS_PER_DAY:g} s, and the reused backfill "
            "less than a fifth of the computing one",
            per_day <= TARGET_SECONDS_PER_DAY and reused.median * 5 < computing.median,
            f"reused {reused.median:.2f} s ({per_day:.2f} s a day), computing "
            f"{computing.median:.2f} s",
        )
    )
    print(f"[backfill] computing {computing.median:.2f} s, reused {reused.median:.2f} s")
    remove_tree(workspace.parent)
    return report
