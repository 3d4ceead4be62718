"""The run index benchmark's bulk import alone (`bench_run_index.py --only bulk`): every record
appended by `registry runs import FILE` into an empty index, `--repeat` times, each on a
fresh workspace (the overrides appended first, untimed), inputs in the page cache. Per run: wall
seconds, CPU seconds of the whole process tree (user + system, from the rusage of the children
waited for: the append's worker processes included), peak RSS of the largest process (GNU time)
and the load average before it; then their medians."""

from __future__ import annotations

import os
import resource
import statistics
from pathlib import Path
from typing import Any

from benchmarks._common import REGISTRY, BenchError, remove_tree, run_timed, warm
from benchmarks._run_index_data import FOLDER, RUNS_SOURCE, Dataset, count_lines, make_workspace


def bulk_runs(data: Dataset, repeat: int, keep: bool) -> dict[str, Any]:
    """Time the bulk append `repeat` times; each run's figures and the medians."""
    runs: list[dict[str, Any]] = []
    for number in range(repeat):
        workspace = make_workspace(FOLDER / f"ws_bulk_n{data.records}")
        try:
            run_timed(_append(data.overrides, "run_overrides", workspace))
            warm([data.runs])
            load = os.getloadavg()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            sample = run_timed(_append(data.runs, "run_index", workspace))[0]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            lines = count_lines(workspace / RUNS_SOURCE)
            if lines != data.records:
                raise BenchError(f"the index holds {lines} lines, expected {data.records}")
        finally:
            if not keep or number < repeat - 1:
                remove_tree(workspace)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        runs.append(
            {
                "wall_s": round(sample.seconds, 3),
                "cpu_s": round(user + system, 3),
                "user_s": round(user, 3),
                "system_s": round(system, 3),
                "peak_rss_kb": sample.maxrss_kb,
                "loadavg_before": [round(x, 2) for x in load],
            }
        )
        print(f"[run_index] bulk append {number + 1}/{repeat}: {_line(runs[-1])}", flush=True)
    return {
        "runs": runs,
        "median_wall_s": _median(runs, "wall_s"),
        "median_cpu_s": _median(runs, "cpu_s"),
        "median_peak_rss_kb": _median(runs, "peak_rss_kb"),
    }


def _append(path: Path, registry_id: str, workspace: Path) -> list[str]:
    return [REGISTRY, "runs", "import", str(path),
            "--index", registry_id, "--workspace", str(workspace)]  # fmt: skip


def _median(runs: list[dict[str, Any]], name: str) -> float | None:
    known = [run[name] for run in runs if run[name] is not None]
    return round(statistics.median(known), 3) if known else None


def _line(run: dict[str, Any]) -> str:
    rss = run["peak_rss_kb"]
    return (
        f"wall {run['wall_s']:.2f} s, CPU {run['cpu_s']:.2f} s (user {run['user_s']:.2f}, "
        f"system {run['system_s']:.2f}), peak RSS {'?' if rss is None else rss // 1024} MiB, "
        f"load {run['loadavg_before']}"
    )


def summary(found: dict[str, Any], records: int) -> str:
    """The medians, one line."""
    rss = found["median_peak_rss_kb"]
    return (
        f"bulk append of {records:,} records, median of {len(found['runs'])}: wall "
        f"{found['median_wall_s']:.2f} s, CPU {found['median_cpu_s']:.2f} s, peak RSS "
        f"{'?' if rss is None else int(rss) // 1024} MiB"
    )
