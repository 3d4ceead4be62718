"""The run index benchmark's data and workspace (`bench_run_index`): the generated records
(`gen_run_index`, made once and reused), what the questions ask about, and a throwaway workspace
with the run index, its overrides log and one coordination rule."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks import gen_run_index
from benchmarks._common import DATA_DIR, REGISTRY, ROOT, remove_tree, run_quiet

DEFAULT_SINCE, DEFAULT_UNTIL = "2024-03-01", "2024-06-30"
FOLDER = DATA_DIR / "run_index"
RUNS_SOURCE = "registries/run_index/RUN_INDEX_v0_1.jsonl"
OVERRIDES_SOURCE = "registries/run_index/RUN_OVERRIDES_v0_1.jsonl"
FAILURE_FIELDS = (
    "uniqueness_hook",
    "uniqueness_scene",
    "uniqueness_scripture",
    "qa_gate0",
    "qa_gate1",
    "qa_gate2",
    "qa_gate3",
)

RUN_INDEX_ENTRY: dict[str, Any] = {
    "registry_id": "run_index",
    "schema_id": "REGISTRY_run_index_v0_1",
    "schema_version": "0.1",
    "artifact_type": "jsonl_registry",
    "description": "One record per generation run (a later record with the same run_id "
    "augments it): lane, inputs, outputs and QA outcomes (seed 004).",
    "write_policy": "append_only",
    "build_operation_id": None,
    "kind": "log",
    "artifacts": ["RUN_INDEX_v0_1.jsonl"],
    "depends_on": [],
    "active_pointer": True,
    "delta_log": {"covered": True},
    "sources": [RUNS_SOURCE],
    "run_index": {
        "type": "run",
        "key": "run_id",
        "time": "created_utc",
        "lanes": ["artist_id", "genre_id"],
        "success": {"all": [{"field": "qa_gate2", "in": ["PASS"]}]},
        "failure": {"any": [{"field": name, "in": ["FAIL"]} for name in FAILURE_FIELDS]},
        "recommended": ["scripture_packet_id", "work_id", "version_ids", "run_log_filepath_abs"],
        "file_fields": ["run_log_filepath_abs"],
    },
}
OVERRIDES_ENTRY: dict[str, Any] = {
    "registry_id": "run_overrides",
    "schema_id": "REGISTRY_run_overrides_v0_1",
    "schema_version": "0.1",
    "artifact_type": "jsonl_registry",
    "description": "Overrides letting a run pass QA gate 2 despite a failed uniqueness check.",
    "write_policy": "append_only",
    "build_operation_id": None,
    "kind": "log",
    "artifacts": ["RUN_OVERRIDES_v0_1.jsonl"],
    "depends_on": [],
    "active_pointer": True,
    "delta_log": {"covered": True},
    "sources": [OVERRIDES_SOURCE],
    "run_index": {"type": "run_override", "key": "override_id", "time": "created_utc"},
}
COORDINATION = """\
# The run index benchmark's one coordination rule (benchmarks/bench_run_index.py).
version: "0.1"
rules:
  - id: run-override-exists
    severity: error
    kind: exists
    from: {type: run, field: /override_id}
    to: {type: run_override}
    why: >-
      A run passing QA gate 2 despite a failed uniqueness check names its override:
      the override must exist in the overrides log.
"""


@dataclass
class Dataset:
    """The generated files and what the questions ask about (from one pass over the runs)."""

    runs: Path
    overrides: Path
    records: int
    distinct_runs: int
    first_utc: str
    last_utc: str
    top_lane: tuple[str, str]
    small_artist: str
    show_run: str


def dataset(records: int, seed: int) -> Dataset:
    """The run index of `records` records for `seed`: generated once, then reused."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    stem = f"n{records}_s{seed}"
    runs, overrides = FOLDER / f"RUNS_{stem}.jsonl", FOLDER / f"OVERRIDES_{stem}.jsonl"
    meta_path = FOLDER / f"META_{stem}.json"
    if meta_path.exists() and runs.exists() and overrides.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("runs_bytes") == runs.stat().st_size:
            print(f"[run_index] reusing {runs.relative_to(ROOT)}", flush=True)
            return _dataset(runs, overrides, meta)
    started = time.perf_counter()
    part_runs, part_overrides = runs.with_suffix(".part"), overrides.with_suffix(".part")
    gen_run_index.write(records, seed, gen_run_index.DEFAULT_START, part_runs, part_overrides)
    part_runs.replace(runs)
    part_overrides.replace(overrides)
    seconds = time.perf_counter() - started
    meta = survey(runs, records, seed)
    meta["runs_bytes"] = runs.stat().st_size
    meta["generate_s"] = round(seconds, 2)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(
        f"[run_index] generated {records:,} records ({meta['runs_bytes'] / 1e6:.0f} MB) "
        f"in {seconds:.1f} s",
        flush=True,
    )
    return _dataset(runs, overrides, meta)


def _dataset(runs: Path, overrides: Path, meta: dict[str, Any]) -> Dataset:
    return Dataset(
        runs,
        overrides,
        meta["records"],
        meta["distinct_runs"],
        meta["first_utc"],
        meta["last_utc"],
        (meta["top_lane"][0], meta["top_lane"][1]),
        meta["small_artist"],
        meta["show_run"],
    )


def field_value(line: str, name: str) -> str:
    """The string value of `name` in one compact generated line (no JSON parse: fast)."""
    start = line.index(f'"{name}":"') + len(name) + 4
    return line[start : line.index('"', start)]


def survey(path: Path, records: int, seed: int) -> dict[str, Any]:
    """What the questions ask about: the biggest lane (list, latest), an artist of middling
    size (failed --lane), and a run augmented later whose first line is past the middle (show)."""
    lanes: Counter[tuple[str, str]] = Counter()
    artists: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    show_run = ""
    first_utc = last_utc = ""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            run_id = field_value(line, "run_id")
            last_utc = field_value(line, "created_utc")
            first_utc = first_utc or last_utc
            if run_id in first_line:
                if not show_run and first_line[run_id] >= records // 2:
                    show_run = run_id
                continue
            first_line[run_id] = number
            artist = field_value(line, "artist_id")
            lanes[artist, field_value(line, "genre_id")] += 1
            artists[artist] += 1
    ranked = [name for name, _count in artists.most_common()]
    return {
        "records": records,
        "seed": seed,
        "distinct_runs": len(first_line),
        "first_utc": first_utc,
        "last_utc": last_utc,
        "top_lane": list(lanes.most_common(1)[0][0]),
        "small_artist": ranked[min(10, len(ranked) - 1)],
        "show_run": show_run or next(iter(first_line)),
    }


def date_range(data: Dataset, since: str | None, until: str | None) -> tuple[str, str]:
    """The list question's days: the given ones, 2024-03-01..2024-06-30 when the data covers
    them, otherwise the middle third of the data's days (a smoke run covers only days)."""
    if since and until:
        return since, until
    first, last = date.fromisoformat(data.first_utc[:10]), date.fromisoformat(data.last_utc[:10])
    if first <= date.fromisoformat(DEFAULT_SINCE) and last >= date.fromisoformat(DEFAULT_UNTIL):
        return since or DEFAULT_SINCE, until or DEFAULT_UNTIL
    third = (last - first).days // 3
    return (
        since or (first + timedelta(days=third)).isoformat(),
        until or (first + timedelta(days=2 * third)).isoformat(),
    )


def make_workspace(root: Path) -> Path:
    """A fresh workspace with the two logs (empty), the catalog and the coordination rule."""
    remove_tree(root)
    (root / "registries" / "run_index").mkdir(parents=True)
    catalog = {
        "catalog_version": "0.2",
        "description": "The run index benchmark's workspace (benchmarks/bench_run_index.py).",
        "coordination": "registries/COORDINATION_v0_1.yaml",
        "registries": [RUN_INDEX_ENTRY, OVERRIDES_ENTRY],
    }
    (root / "registries" / "REGISTRY_CATALOG_v0_2.json").write_text(
        json.dumps(catalog, indent=2) + "\n", encoding="utf-8"
    )
    (root / "registries" / "COORDINATION_v0_1.yaml").write_text(COORDINATION, encoding="utf-8")
    for source in (RUNS_SOURCE, OVERRIDES_SOURCE):
        (root / source).touch()
    run_quiet([REGISTRY, "init", str(root)])
    return root


def ours_available() -> str | None:
    """None when `registry runs` exists, else why not."""
    done = subprocess.run([REGISTRY, "runs", "--help"], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    return (done.stderr or done.stdout).strip().splitlines()[-1][:200]


def count_lines(path: Path) -> int:
    """Newlines in a file."""
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            total += chunk.count(b"\n")
    return total
