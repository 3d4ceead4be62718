"""Every benchmark of docs/benchmarks.md in one command: `.venv/bin/python benchmarks/run_all.py`.

Options: `--quick` (smaller sizes), `--only SUITE` (one of SUITES, repeatable), `--repeat N`
(default 3), `--keep` (leave the generated data in benchmarks/_data/work/), `--json` (also print
the results JSON on stdout), `--strict` (exit 1 when a target is missed). Generated data lives
in benchmarks/_data/work/ (git-ignored, same filesystem as the repository) and is removed at
the end; the results are written to
benchmarks/_data/results.json, and as Markdown tables (for docs/benchmarks.md) to
benchmarks/_data/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("seal", "validate", "startup", "build", "launch", "pointers", "delta", "backfill")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Run the registry-pipeline benchmarks.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a minute or two)")
    parser.add_argument("--only", action="append", choices=SUITES, help="run only these suites")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--json", action="store_true", help="also print the results JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites, print the table and targets, write results.json."""
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import (
        _common,
        _report,
        bench_backfill,
        bench_build,
        bench_delta,
        bench_launch,
        bench_pointers,
        bench_seal,
        bench_startup,
        bench_validate,
    )

    modules = {
        "seal": bench_seal,
        "validate": bench_validate,
        "startup": bench_startup,
        "build": bench_build,
        "launch": bench_launch,
        "pointers": bench_pointers,
        "delta": bench_delta,
        "backfill": bench_backfill,
    }
    chosen = [name for name in SUITES if not args.only or name in args.only]
    _common.remove_tree(_common.WORK_DIR)
    _common.WORK_DIR.mkdir(parents=True)
    dropped = _common.settle_caches()
    machine = _common.machine_info(dropped)
    print(
        f"[bench] {machine['cpu_model']}, {machine['nproc']} CPUs, cache: {machine['page_cache']}",
        flush=True,
    )
    report = _common.Report()
    started = time.perf_counter()
    try:
        for name in chosen:
            report.add(modules[name].run(_common.WORK_DIR, args.quick, args.repeat))
    finally:
        if not args.keep:
            _common.remove_tree(_common.WORK_DIR)
    results = {
        "command": "python benchmarks/run_all.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine,
        "suites": chosen,
        "quick": args.quick,
        "repeat": args.repeat,
        "total_seconds": round(time.perf_counter() - started, 1),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "measurements": [m.as_json() for m in report.measurements],
        "targets": [t.as_json() for t in report.targets],
        "checks": report.checks,
        **report.extra,
    }
    _common.RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    _common.RESULTS_MD.write_text(_report.markdown(results))
    _report.print_results(results)
    print(f"results: {_common.RESULTS_JSON.relative_to(ROOT)} and {_common.RESULTS_MD.name}")
    if args.json:
        print(json.dumps(results, indent=2))
    missed = [t for t in report.targets if not t.passed]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
