"""(k) The run index: `registry runs` next to DuckDB, on the same million-record JSONL.

Usage: `.venv/bin/python benchmarks/bench_run_index.py [--records 1000000] [--seed 4] [--json]`;
`--only bulk` times the bulk import alone (below), `--repeat` times, and nothing else.

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
- `registry runs import FILE` of every record into the empty index (once: wall and
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
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    REGISTRY,
    BenchError,
    Sample,
    machine_info,
    remove_tree,
    rotate,
    run_timed,
    warm,
)
from benchmarks._run_index_answers import (
    Question,
    duckdb_argv,
    duckdb_run_ids,
    ours_run_ids,
    questions,
    reference_answers,
    same_records,
)
from benchmarks._run_index_data import (
    DEFAULT_SINCE,
    DEFAULT_UNTIL,
    FOLDER,
    OVERRIDES_SOURCE,
    RUNS_SOURCE,
    count_lines,
    dataset,
    date_range,
    make_workspace,
    ours_available,
)
from benchmarks._run_index_report import markdown
from benchmarks._run_index_writes import bulk_runs, median, peak, single_appends, summary

DEFAULT_RECORDS = 1_000_000
DEFAULT_SEED = 4
REFERENCE_LIMIT = 200_000
TARGET_APPEND_MS = 50.0

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
    records_agree: bool | None = None
    """Whether both sides gave the same latest views, field for field (None without ours)."""

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
            "ours_median_s": median(self.ours),
            "ours_peak_rss_kb": peak(self.ours),
            "duckdb_runs_s": [round(s.seconds, 4) for s in self.duckdb],
            "duckdb_median_s": median(self.duckdb),
            "duckdb_peak_rss_kb": peak(self.duckdb),
            "answer_runs": len(self.duckdb_ids),
            "ours_answer_runs": None if self.ours_ids is None else len(self.ours_ids),
            "same_run_ids": self.agree,
            "same_order": None if self.ours_ids is None else self.ours_ids == self.duckdb_ids,
            "same_records": self.records_agree,
            "duckdb_matches_reference": None
            if self.reference_ids is None
            else self.reference_ids == self.duckdb_ids,
        }


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
        theirs = (out / f"q{number}_duckdb.out").read_text()
        row.duckdb_ids = duckdb_run_ids(theirs)
        if with_ours:
            ours = (out / f"q{number}_ours.out").read_text()
            row.ours_ids = ours_run_ids(ours)
            row.records_agree = same_records(ours, theirs)


def extra_bytes(workspace: Path) -> int:
    """Bytes of the workspace's files outside registries/ (the sidecar index, locks, ...)."""
    return sum(
        path.stat().st_size
        for path in workspace.rglob("*")
        if path.is_file() and path.relative_to(workspace).parts[0] != "registries"
    )


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
            "  .venv/bin/python benchmarks/bench_run_index.py --only bulk --repeat 3\n"
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
    parser.add_argument(
        "--only",
        choices=["bulk"],
        help="bulk: time only the bulk append into an empty index, --repeat times (wall, CPU, "
        "peak RSS, load; DuckDB not needed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate or reuse the data, time both sides, print the tables (and JSON)."""
    args = parse_args(argv)
    if args.only == "bulk":
        return _bulk_only(args)
    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed: .venv/bin/pip install duckdb", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
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
                append = [REGISTRY, "runs", "import", str(path),
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
        "loadavg_start": load_start,
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
    }
    if args.keep:
        results["workspace"] = str(workspace)
    print()
    print(markdown(results))
    for row in rows:
        verdict = {True: "same run ids", False: "DIFFERENT run ids", None: "ours not run"}
        line = f"{row.question.name}: {verdict[row.agree]} ({len(row.duckdb_ids):,} runs"
        line += {True: ", same records", False: ", DIFFERENT records", None: ""}[row.records_agree]
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
    disagree = [row for row in rows if False in (row.agree, row.records_agree)]
    wrong_reference = [row for row in rows if row.reference_ids not in (None, row.duckdb_ids)]
    return 1 if disagree or wrong_reference else 0


def _bulk_only(args: argparse.Namespace) -> int:
    """`--only bulk`: the bulk append alone, `--repeat` times."""
    missing = ours_available()
    if missing is not None:
        print(f"registry runs is not available: {missing}", file=sys.stderr)
        return 2
    data = dataset(args.records, args.seed)
    found = bulk_runs(data, args.repeat, args.keep)
    found["machine"] = machine_info(cache_dropped=False)
    print(summary(found, data.records))
    if args.json:
        print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
