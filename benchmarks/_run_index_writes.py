"""The run index benchmark's single appends (`bench_run_index`): one more record appended to
the full index, by the CLI (whole process) and in-process (the call only)."""

from __future__ import annotations

import json
import statistics
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks._common import PYTHON, REGISTRY, ROOT, BenchError, Sample, run_timed
from benchmarks._run_index_data import RUNS_SOURCE, Dataset, field_value
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
