"""(k) The run index: `registry runs` next to DuckDB, on the same million-record JSONL.

Usage: `.venv/bin/python benchmarks/bench_run_index.py [--records 1000000] [--seed 4] [--json]`.

The data is benchmarks/gen_run_index.py's: `--records` RUN records (about 10% of them augmenting an
earlier run) and the overrides they name, generated once into benchmarks/_data/run_index/ and
reused while `--records` and `--seed` stay the same. A throwaway workspace next to it
(`registry init`, removed unless `--keep`) has a catalog of just two logs, `run_index` and
`run_overrides`, and one coordination rule (`run-override-exists`).

Timed, each as a whole process (wall: perf_counter around the child; peak RSS: GNU time's
`%M`, the largest single process), median of `--repeat` runs (default 5) after one warm-up
run, contenders taking turns, inputs in the page cache:

- the four questions of the seed (60-REGISTRY/RUN-INDEX.md, "Minimal Queries") through our CLI:
  `registry runs show|list|failed --gates|latest ... --index run_index --workspace W --json`,
  `failed --gates`
  twice (all runs, and one artist's for a smaller answer);
- DuckDB answering the same questions over the same JSONL, in a fresh process each time (the
  duckdb Python package, `python -c` a small script: read_json into a temporary table, the
  answer written as JSON lines with COPY ... TO '/dev/stdout'). The same semantics: a run's
  latest view is its record with the greatest created_utc (ties: the later line); `list`
  filters latest views by lane and the run's first record's created_utc in [since 00:00,
  until 23:59]; `failed` = latest views with any uniqueness check or QA gate FAIL; `latest` =
  the lane's latest views with qa_gate2 PASS, the one with the greatest first created_utc
  (ties: the later first line). Both answers must name the same run ids (checked, printed);
- `registry runs append --record-file` of every record into the empty index (once: wall and
  peak RSS; the overrides first, which the coordination rule needs), then the first query after
  it (it may build the sidecar index) apart from the warm ones;
- one more record appended to the full index: by the CLI (`--record-json`, whole process) and
  in-process (`RunIndex.open(W, "run_index")` then `.append([record])`, perf_counter around the
  append call only, a fresh open each time). Target: <= 50 ms, no work proportional to the index.

Without `registry runs` (or with `--skip-ours`) only DuckDB's half runs, on the records copied
into place. Up to 200,000 records DuckDB's answers are also checked against a plain Python
reference of the same semantics.

Prints a Markdown table for docs/benchmarks.md; `--json` prints every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import gen_run_index
from benchmarks._common import (
    DATA_DIR,
    PYTHON,
    REGISTRY,
    ROOT,
    BenchError,
    Sample,
    machine_info,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
    warm,
)

DEFAULT_RECORDS = 1_000_000
DEFAULT_SEED = 4
DEFAULT_SINCE, DEFAULT_UNTIL = "2024-03-01", "2024-06-30"
REFERENCE_LIMIT = 200_000
TARGET_APPEND_MS = 50.0
SINGLE_APPENDS = 5
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
COLUMNS = {name: "VARCHAR" for name in gen_run_index.FIELD_ORDER} | {"version_ids": "VARCHAR[]"}

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

DUCKDB_SCRIPT = """\
import json, sys
import duckdb
path, question, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def text(value):
    return "'" + str(value).replace("'", "''") + "'"
columns = params["columns"]
names = ", ".join(columns)
struct = "{" + ", ".join(f"{text(k)}: {text(v)}" for k, v in columns.items()) + "}"
db = duckdb.connect()
db.execute("SET enable_progress_bar = false")  # it would write into the answer on stdout
db.execute(
    f"CREATE TEMP TABLE recs AS SELECT * FROM read_json({text(path)}, "
    f"format='newline_delimited', columns={struct}) WITH ORDINALITY AS t({names}, line)"
)
db.execute(
    "CREATE TEMP VIEW runs AS WITH k AS (SELECT run_id, "
    "arg_max(line, (created_utc, line)) AS latest_line, min(line) AS first_line "
    "FROM recs GROUP BY run_id) "
    "SELECT r.*, f.created_utc AS first_created, k.first_line FROM k "
    "JOIN recs r ON r.line = k.latest_line JOIN recs f ON f.line = k.first_line"
)
where = [f"{k} = {text(v)}" for k, v in params.get("lanes", {}).items()]
order = " ORDER BY first_created, first_line"
if question == "show":
    where.append(f"run_id = {text(params['run_id'])}")
elif question == "list":
    where.append(f"first_created BETWEEN {text(params['since'])} AND {text(params['until'])}")
elif question == "failed":
    where.append("'FAIL' IN (" + ", ".join(params["failure_fields"]) + ")")
else:
    where.append("qa_gate2 = 'PASS'")
    order = " ORDER BY first_created DESC, first_line DESC LIMIT 1"
query = f"SELECT {names} FROM runs WHERE {' AND '.join(where)}{order}"
db.execute(f"COPY ({query}) TO '/dev/stdout' (FORMAT json)")
"""
"""DuckDB's side: one question over the JSONL, the latest views written as JSON lines."""

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


# --------------------------------------------------------------------------------------------
# data and workspace
# --------------------------------------------------------------------------------------------


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
        tuple(meta["top_lane"]),  # type: ignore[arg-type]
        meta["small_artist"],
        meta["show_run"],
    )


def _field(line: str, name: str) -> str:
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
            run_id = _field(line, "run_id")
            last_utc = _field(line, "created_utc")
            first_utc = first_utc or last_utc
            if run_id in first_line:
                if not show_run and first_line[run_id] >= records // 2:
                    show_run = run_id
                continue
            first_line[run_id] = number
            artist = _field(line, "artist_id")
            lanes[artist, _field(line, "genre_id")] += 1
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


# --------------------------------------------------------------------------------------------
# the questions
# --------------------------------------------------------------------------------------------


@dataclass
class Question:
    """One question, as our CLI asks it and as DuckDB's script does."""

    name: str
    ours: list[str]
    kind: str
    params: dict[str, Any]


def questions(workspace: Path, data: Dataset, since: str, until: str) -> list[Question]:
    """The seed's four queries (failed twice: everything, and one artist)."""
    artist, genre = data.top_lane
    lane = {"artist_id": artist, "genre_id": genre}
    lane_args = ["--lane", f"artist_id={artist}", "--lane", f"genre_id={genre}"]
    tail = ["--index", "run_index", "--workspace", str(workspace), "--json"]
    runs = [REGISTRY, "runs"]
    return [
        Question(
            "show RUN_ID", [*runs, "show", data.show_run, *tail], "show", {"run_id": data.show_run}
        ),
        Question(
            f"list lane + {since}..{until}",
            [*runs, "list", *lane_args, "--since", since, "--until", until, *tail],
            "list",
            {"lanes": lane, "since": f"{since}T00:00Z", "until": f"{until}T23:59Z"},
        ),
        Question("failed (all)", [*runs, "failed", "--gates", *tail], "failed", {}),
        Question(
            "failed --lane artist_id",
            [*runs, "failed", "--gates", "--lane", f"artist_id={data.small_artist}", *tail],
            "failed",
            {"lanes": {"artist_id": data.small_artist}},
        ),
        Question("latest lane", [*runs, "latest", *lane_args, *tail], "latest", {"lanes": lane}),
    ]


def duckdb_argv(question: Question, path: Path) -> list[str]:
    """DuckDB's side of `question` over the JSONL at `path`, as a fresh Python process."""
    params = {**question.params, "failure_fields": list(FAILURE_FIELDS), "columns": COLUMNS}
    return [PYTHON, "-c", DUCKDB_SCRIPT, str(path), question.kind, json.dumps(params)]


def duckdb_run_ids(text: str) -> list[str]:
    """The run ids of DuckDB's answer (one JSON object a line)."""
    try:
        return [json.loads(line)["run_id"] for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, KeyError) as error:
        raise BenchError(f"DuckDB's answer is not one record a line: {error}") from error


def ours_run_ids(text: str) -> list[str]:
    """The run ids of our `--json` answer, whatever its envelope: a list of records, an object
    holding one (`runs`, `records`, `results`, `items`, `matches`; `run`, `record`, `latest`,
    `view`), a record itself, or JSON lines."""
    try:
        documents = [json.loads(text)] if text.strip() else []
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    found: list[str] = []
    for document in documents:
        for item in _items(document):
            run_id = _run_id(item)
            if run_id is not None:
                found.append(run_id)
    return found


def _items(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        return []
    for key in ("runs", "records", "results", "items", "matches"):
        if isinstance(document.get(key), list):
            return document[key]
    for key in ("run", "record", "latest", "view", "result"):
        if key in document:
            return [] if document[key] is None else [document[key]]
    return [document] if "run_id" in document else []


def _run_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("run_id"), str):
        return item["run_id"]
    for key in ("record", "latest", "view"):
        if isinstance(item.get(key), dict) and isinstance(item[key].get("run_id"), str):
            return item[key]["run_id"]
    return None


def reference_answers(path: Path, asked: list[Question]) -> list[list[str]]:
    """The same questions answered by plain Python (a check on DuckDB's SQL), in order."""
    latest: dict[str, tuple[str, int, dict[str, Any]]] = {}
    first: dict[str, tuple[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            record = json.loads(line)
            run_id, when = record["run_id"], record["created_utc"]
            first.setdefault(run_id, (when, number))
            if run_id not in latest or (when, number) >= latest[run_id][:2]:
                latest[run_id] = (when, number, record)
    views = sorted(first, key=first.__getitem__)
    answers = []
    for question in asked:
        lane = question.params.get("lanes", {})
        pool = [r for r in views if all(latest[r][2].get(k) == v for k, v in lane.items())]
        if question.kind == "show":
            answer = [r for r in pool if r == question.params["run_id"]]
        elif question.kind == "list":
            since, until = question.params["since"], question.params["until"]
            answer = [r for r in pool if since <= first[r][0] <= until]
        elif question.kind == "failed":
            answer = [r for r in pool if any(latest[r][2].get(k) == "FAIL" for k in FAILURE_FIELDS)]
        else:
            answer = [r for r in pool if latest[r][2].get("qa_gate2") == "PASS"][-1:]
        answers.append(answer)
    return answers


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One question: the timed runs of each side and the answers."""

    question: Question
    ours: list[Sample] = field(default_factory=list)
    duckdb: list[Sample] = field(default_factory=list)
    ours_ids: list[str] | None = None
    duckdb_ids: list[str] = field(default_factory=list)
    reference_ids: list[str] | None = None

    @property
    def agree(self) -> bool | None:
        """Whether both sides named the same run ids (None without our side)."""
        if self.ours_ids is None:
            return None
        return set(self.ours_ids) == set(self.duckdb_ids)

    def as_json(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "question": self.question.name,
            "ours_argv": self.question.ours[1:],
            "ours_runs_s": [round(s.seconds, 4) for s in self.ours],
            "ours_median_s": _median(self.ours),
            "ours_peak_rss_kb": _peak(self.ours),
            "duckdb_runs_s": [round(s.seconds, 4) for s in self.duckdb],
            "duckdb_median_s": _median(self.duckdb),
            "duckdb_peak_rss_kb": _peak(self.duckdb),
            "answer_runs": len(self.duckdb_ids),
            "ours_answer_runs": None if self.ours_ids is None else len(self.ours_ids),
            "same_run_ids": self.agree,
            "same_order": None if self.ours_ids is None else self.ours_ids == self.duckdb_ids,
            "duckdb_matches_reference": None
            if self.reference_ids is None
            else self.reference_ids == self.duckdb_ids,
        }


def _median(samples: list[Sample]) -> float | None:
    return round(statistics.median(s.seconds for s in samples), 4) if samples else None


def _peak(samples: list[Sample]) -> int | None:
    known = [s.maxrss_kb for s in samples if s.maxrss_kb is not None]
    return max(known) if known else None


def time_questions(rows: list[Row], source: Path, out: Path, repeat: int, with_ours: bool) -> None:
    """Warm-up plus `repeat` timed runs of every question on both sides, taking turns."""
    out.mkdir(parents=True, exist_ok=True)
    for round_number in range(repeat + 1):
        for number, row in enumerate(rows):
            sides = ["duckdb", "ours"] if with_ours else ["duckdb"]
            for side in rotate(sides, round_number + number):
                stdout = out / f"q{number}_{side}.out"
                argv = row.question.ours if side == "ours" else duckdb_argv(row.question, source)
                sample, _tree = run_timed(argv, stdout_path=stdout)
                if round_number:
                    getattr(row, side).append(sample)
            print(f"[run_index] round {round_number}/{repeat}: {row.question.name}", flush=True)
    for number, row in enumerate(rows):
        row.duckdb_ids = duckdb_run_ids((out / f"q{number}_duckdb.out").read_text())
        if with_ours:
            row.ours_ids = ours_run_ids((out / f"q{number}_ours.out").read_text())


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
    last = _field(_last_line(workspace / RUNS_SOURCE), "created_utc")
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
        "cli_median_s": _median(counted),
        "cli_peak_rss_kb": _peak(counted),
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


def extra_bytes(workspace: Path) -> int:
    """Bytes of the workspace's files outside registries/ (the sidecar index, locks, ...)."""
    return sum(
        path.stat().st_size
        for path in workspace.rglob("*")
        if path.is_file() and path.relative_to(workspace).parts[0] != "registries"
    )


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"


def markdown(results: dict[str, Any]) -> str:
    """The tables for docs/benchmarks.md."""
    n, runs = results["records"], results["distinct_runs"]
    lines = [
        f"| Question ({n:,} records, {runs:,} runs) | Answer (runs) | Ours median (s) "
        "| DuckDB median (s) | Peak RSS ours / DuckDB (MiB) | Same run ids |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in results["questions"]:
        same = {True: "yes", False: "**NO**", None: "n/a"}[row["same_run_ids"]]
        lines.append(
            f"| `{' '.join(_short(row['ours_argv']))}` | {row['answer_runs']:,} "
            f"| {_s(row['ours_median_s'])} | {_s(row['duckdb_median_s'])} "
            f"| {_mib(row['ours_peak_rss_kb'])} / {_mib(row['duckdb_peak_rss_kb'])} | {same} |"
        )
    writes = results.get("writes")
    if writes:
        lines += ["", "| Write | Wall (s) | Peak RSS (MiB) |", "|---|---:|---:|"]
        for label, key in (
            (f"`runs append --record-file` overrides ({results['overrides']:,})", "overrides"),
            (f"`runs append --record-file` all {n:,} records, empty index (once)", "bulk"),
            ("first query after it (`runs show`, may build the sidecar; once)", "first_query"),
        ):
            lines.append(f"| {label} | {writes[key]['s']:.3f} | {_mib(writes[key]['kb'])} |")
        single = writes.get("single")
        if single:
            lines.append(
                f"| `runs append --record-json` one record (CLI, median of {SINGLE_APPENDS}) "
                f"| {single['cli_median_s']:.3f} | {_mib(single['cli_peak_rss_kb'])} |"
            )
            lines.append(
                f"| `RunIndex.append([record])` in-process (the call; median of "
                f"{SINGLE_APPENDS}; open: {single['api_open_median_ms']:.1f} ms) "
                f"| {single['api_append_median_ms'] / 1000:.4f} | - |"
            )
        if "sidecar_bytes" in writes:
            lines += [
                "",
                f"Workspace files outside registries/ after the bulk append (the sidecar index): "
                f"{writes['sidecar_bytes'] / 1e6:,.0f} MB.",
            ]
    return "\n".join(lines) + "\n"


def _short(argv: list[str]) -> list[str]:
    """Our argv without the workspace path, the index and --json (the table's column)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workspace", "--index"):
            skip = True
            continue
        if arg != "--json":
            out.append(arg)
    return out


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="The run index: `registry runs` next to DuckDB on the same JSONL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  .venv/bin/python benchmarks/bench_run_index.py              # 1,000,000 records\n"
            "  .venv/bin/python benchmarks/bench_run_index.py --records 20000 --repeat 3\n"
            "  .venv/bin/python benchmarks/bench_run_index.py --skip-ours --json\n"
            "  .venv/bin/python benchmarks/bench_run_index.py --keep      # keep the workspace\n"
            "\n"
            "Data: benchmarks/_data/run_index/ (git-ignored; the generated records are kept and\n"
            "reused for the same --records and --seed, the workspace is removed unless --keep).\n"
            "DuckDB: pip install duckdb into the venv (not a project dependency)."
        ),
    )
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="records in the index (1,000,000)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed (4)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per contender (5)")
    parser.add_argument("--since", help=f"list: first day (default {DEFAULT_SINCE})")
    parser.add_argument("--until", help=f"list: last day (default {DEFAULT_UNTIL})")
    parser.add_argument("--skip-ours", action="store_true", help="time DuckDB only")
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate or reuse the data, time both sides, print the tables (and JSON)."""
    args = parse_args(argv)
    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed: .venv/bin/pip install duckdb", file=sys.stderr)
        return 2
    started = time.perf_counter()
    data = dataset(args.records, args.seed)
    overrides = count_lines(data.overrides)
    since, until = date_range(data, args.since, args.until)
    missing = "skipped (--skip-ours)" if args.skip_ours else ours_available()
    with_ours = missing is None
    workspace = make_workspace(FOLDER / f"ws_n{args.records}_s{args.seed}")
    source = workspace / RUNS_SOURCE
    writes: dict[str, Any] = {}
    checks: list[str] = []
    try:
        if with_ours:
            print(f"[run_index] bulk append of {data.records:,} records", flush=True)
            for key, registry_id, path in (
                ("overrides", "run_overrides", data.overrides),
                ("bulk", "run_index", data.runs),
            ):
                warm([path])
                append = [REGISTRY, "runs", "append", "--record-file", str(path),
                          "--index", registry_id, "--workspace", str(workspace)]  # fmt: skip
                sample = run_timed(append)[0]
                writes[key] = {"s": round(sample.seconds, 3), "kb": sample.maxrss_kb}
            lines = count_lines(source)
            checks.append(f"the index holds {lines:,} lines after the bulk append")
            if lines != data.records:
                raise BenchError(f"the index holds {lines} lines, expected {data.records}")
        else:
            print(f"[run_index] our side: {missing}; DuckDB only", flush=True)
            shutil.copyfile(data.runs, source)
            shutil.copyfile(data.overrides, workspace / OVERRIDES_SOURCE)
        asked = questions(workspace, data, since, until)
        if with_ours:
            sample = run_timed(asked[0].ours)[0]
            writes["first_query"] = {"s": round(sample.seconds, 3), "kb": sample.maxrss_kb}
            writes["sidecar_bytes"] = extra_bytes(workspace)
        warm([source])
        rows = [Row(question) for question in asked]
        time_questions(rows, source, workspace / "_out", args.repeat, with_ours)
        if data.records <= REFERENCE_LIMIT:
            for row, answer in zip(rows, reference_answers(source, asked), strict=True):
                row.reference_ids = answer
        if with_ours:
            writes["single"] = single_appends(workspace, data)
    finally:
        if not args.keep:
            remove_tree(workspace)
    machine = machine_info(cache_dropped=False)
    machine["page_cache"] = "warm (inputs read before timing, not dropped)"
    results: dict[str, Any] = {
        "command": "python benchmarks/bench_run_index.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine,
        "duckdb": duckdb.__version__,
        "records": data.records,
        "distinct_runs": data.distinct_runs,
        "overrides": overrides,
        "seed": args.seed,
        "span_utc": [data.first_utc, data.last_utc],
        "asked": {
            "show_run": data.show_run,
            "lane": list(data.top_lane),
            "failed_artist": data.small_artist,
            "since": since,
            "until": until,
        },
        "repeat": args.repeat,
        "ours": "measured" if with_ours else missing,
        "questions": [row.as_json() for row in rows],
        "writes": writes,
        "checks": checks,
        "total_seconds": round(time.perf_counter() - started, 1),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
    }
    if args.keep:
        results["workspace"] = str(workspace)
    print()
    print(markdown(results))
    for row in rows:
        verdict = {True: "same run ids", False: "DIFFERENT run ids", None: "ours not run"}
        line = f"{row.question.name}: {verdict[row.agree]} ({len(row.duckdb_ids):,} runs"
        if row.reference_ids is not None:
            line += ", DuckDB = Python reference" if row.reference_ids == row.duckdb_ids else ""
            line += "" if row.reference_ids == row.duckdb_ids else ", DuckDB != Python reference"
        print(line + ")")
    single = writes.get("single")
    if single:
        target = "met" if single["api_append_median_ms"] <= TARGET_APPEND_MS else "MISSED"
        print(
            f"single append: CLI {single['cli_median_s']:.3f} s, in-process "
            f"{single['api_append_median_ms']:.1f} ms (target <= {TARGET_APPEND_MS:.0f} ms: "
            f"{target})"
        )
    for check in checks:
        print(f"check: {check}")
    if args.json:
        print(json.dumps(results, indent=2))
    disagree = [row for row in rows if row.agree is False]
    wrong_reference = [row for row in rows if row.reference_ids not in (None, row.duckdb_ids)]
    return 1 if disagree or wrong_reference else 0


if __name__ == "__main__":
    sys.exit(main())
