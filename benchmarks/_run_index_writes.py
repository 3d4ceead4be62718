"""The run index benchmark's writes (`bench_run_index`): single appends, one more record appended
to the full index by the CLI (whole process) and in-process (the call only); and the bulk import
alone (`--only bulk`): every record appended by `registry runs import FILE` into an empty index,
`--repeat` times, each on a fresh workspace (the overrides appended first, untimed), inputs in
the page cache. Per bulk run: wall seconds, CPU seconds of the whole process tree (user +
system, from the rusage of the children waited for: any process the import waited for
included), peak RSS of the largest process (GNU time) and the load average before it; then
their medians."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks._common import (
    PYTHON,
    REGISTRY,
    ROOT,
    BenchError,
    Sample,
    remove_tree,
    run_timed,
    warm,
)
from benchmarks._run_index_data import (
    FOLDER,
    RUNS_SOURCE,
    Dataset,
    count_lines,
    field_value,
    make_workspace,
)
from benchmarks._run_index_report import SINGLE_APPENDS

API_APPEND_SCRIPT = """\
import json, sys, time
from pathlib import Path
from registry_pipeline.core.run_index import RunIndex
out = []
for record in json.loads(sys.argv[2]):
    start = time.perf_counter()
    index = RunIndex.open(Path(sys.argv[1]), "run_index")
    opened = time.perf_counter()
    index.append([record])
    out.append([opened - start, time.perf_counter() - opened])
    close = getattr(index, "close", None)
    if close is not None:
        close()
print(json.dumps(out))
"""
"""Our in-process append: a fresh RunIndex.open per record, perf_counter around each call."""


def median(samples: list[Sample]) -> float | None:
    """The median wall time of `samples` (None: none)."""
    return round(statistics.median(s.seconds for s in samples), 4) if samples else None


def peak(samples: list[Sample]) -> int | None:
    """The largest peak RSS of `samples`, in KiB (None: unknown)."""
    known = [s.maxrss_kb for s in samples if s.maxrss_kb is not None]
    return max(known) if known else None


def new_records(data: Dataset, after_utc: str, count: int, tag: str) -> list[dict[str, Any]]:
    """`count` new runs (gate 2 PASS, in the biggest lane), a minute apart after `after_utc`."""
    moment = datetime.fromisoformat(after_utc.replace("Z", "+00:00"))
    made = []
    for number in range(count):
        moment += timedelta(minutes=1)
        stamp = moment.strftime("%Y%m%d-%H%M")
        run_id = f"RUN-{stamp}-{tag}{number:02d}"
        made.append(
            {
                "record_type": "RUN",
                "run_id": run_id,
                "created_utc": moment.strftime("%Y-%m-%dT%H:%MZ"),
                "created_by": "claude",
                "machine_id": "C1",
                "artist_id": data.top_lane[0],
                "genre_id": data.top_lane[1],
                "scripture_packet_id": f"SCR-{stamp}-{tag}{number:02d}",
                "work_id": f"WORK-{stamp}-{tag}{number:02d}",
                "version_ids": [f"VER-{stamp}-{tag}{number:02d}"],
                "qa_gate0": "PASS",
                "qa_gate1": "PASS",
                "qa_gate2": "PASS",
                "uniqueness_hook": "PASS",
                "uniqueness_scene": "PASS",
                "uniqueness_scripture": "PASS",
                "run_log_filepath_abs": f"/srv/c1/runs/bench/{run_id}/RUN_LOG.md",
            }
        )
    return made


def single_appends(workspace: Path, data: Dataset) -> dict[str, Any]:
    """One record appended to the full index: CLI (whole process) and API (the call only)."""
    last = field_value(_last_line(workspace / RUNS_SOURCE), "created_utc")
    cli_records = new_records(data, last, SINGLE_APPENDS + 1, "BC")
    samples = []
    for record in cli_records:
        argv = [REGISTRY, "runs", "append", "--record-json", json.dumps(record),
                "--index", "run_index", "--workspace", str(workspace), "--json"]  # fmt: skip
        samples.append(run_timed(argv)[0])
    api_records = new_records(data, cli_records[-1]["created_utc"], SINGLE_APPENDS + 1, "BA")
    argv = [PYTHON, "-c", API_APPEND_SCRIPT, str(workspace), json.dumps(api_records)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise BenchError(f"in-process append failed: {done.stderr[-2000:]}")
    api = json.loads(done.stdout.strip().splitlines()[-1])
    counted = samples[1:]
    return {
        "cli_runs_s": [round(s.seconds, 4) for s in counted],
        "cli_median_s": median(counted),
        "cli_peak_rss_kb": peak(counted),
        "cli_first_s": round(samples[0].seconds, 4),
        "api_open_s": [round(open_s, 6) for open_s, _append in api[1:]],
        "api_append_s": [round(append_s, 6) for _open, append_s in api[1:]],
        "api_first_open_s": round(api[0][0], 6),
        "api_first_append_s": round(api[0][1], 6),
        "api_append_median_ms": round(statistics.median(a for _o, a in api[1:]) * 1000, 3),
        "api_open_median_ms": round(statistics.median(o for o, _a in api[1:]) * 1000, 3),
    }


def _last_line(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 8192))
        return handle.read().decode("utf-8").rstrip("\n").rsplit("\n", 1)[-1]


# --- the bulk import -----------------------------------------------------------------------


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
