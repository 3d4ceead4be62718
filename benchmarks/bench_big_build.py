"""`registry build --force` of the demo workspace with N run index records: wall, peak RSS.

    .venv/bin/python benchmarks/bench_big_build.py [--records 1000000] [--seed 4]
        [--other DIR] [--repeat 1] [--keep] [--json]

The demo workspace (`registries/`, `schemas/`, `registry init`) gets the generated run index
(`gen_run_index`, made once under benchmarks/_data/run_index/ and reused, as `bench_run_index`
does): its overrides log first, then N run records, each through `registry runs append
--record-file` (untimed but reported). Then `python -m registry_pipeline build --force --json`
runs `--repeat` times as a child process under GNU time: wall seconds by the parent, peak RSS as
GNU time reports it (`%M`, the build process: Dagster runs in it). The first build seals the
filled run index; a second one (`--repeat 2`) is the steady state, checked against that sealed
snapshot. Every build must report `success: true`. Target: peak RSS under 1 GiB at 1,000,000
records, and about the same at 100,000 (memory flat in the record count).

`--other DIR` is another checkout of this repository (e.g. `git archive HEAD | tar -x -C
/tmp/before`): its package is put first on `PYTHONPATH` for a second side, same interpreter,
same dependencies, its own copy of the workspace (`registry init` is this checkout's). Each
side's commands are checked to import that side's package.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    MIB,
    PYTHON,
    ROOT,
    BenchError,
    Sample,
    demo_workspace,
    machine_info,
    remove_tree,
    run_timed,
    warm,
)
from benchmarks._run_index_data import OVERRIDES_SOURCE, RUNS_SOURCE, count_lines, dataset

TARGET_RSS_MIB = 1024
"""The peak RSS a build of a 1,000,000-record run index must stay under."""


def _env(package_root: Path) -> dict[str, str]:
    """The environment of one side: its package first on the path, no inherited workspace.
    PYTHONSAFEPATH: `python -m` would otherwise put the current folder (this checkout, when
    run from its root) before PYTHONPATH, and `--other` would time this checkout twice."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    env["PYTHONPATH"] = str(package_root)
    env["PYTHONSAFEPATH"] = "1"
    return env


def check_package(package_root: Path) -> None:
    """Refuse to time a side whose commands would not import its own package."""
    code = "import registry_pipeline; print(registry_pipeline.__file__)"
    done = subprocess.run(
        [PYTHON, "-c", code], env=_env(package_root), capture_output=True, text=True, check=False
    )
    found = Path(done.stdout.strip()).resolve()
    if done.returncode != 0 or not found.is_relative_to(package_root.resolve()):
        raise BenchError(f"{package_root}: its commands import {found} ({done.stderr[-500:]})")


def _registry(workspace: Path, *args: str) -> list[str]:
    return [PYTHON, "-m", "registry_pipeline", *args, "--workspace", str(workspace)]


def fill(workspace: Path, runs: Path, overrides: Path, package_root: Path) -> dict[str, Any]:
    """Append the overrides, then the runs, each in one `runs append --record-file`."""
    filled: dict[str, Any] = {}
    for registry_id, path in (("run_overrides", overrides), ("run_index", runs)):
        warm([path])
        command = _registry(workspace, "runs", "append", "--record-file", str(path))
        sample = run_timed([*command, "--index", registry_id], env=_env(package_root))[0]
        filled[registry_id] = {"append_s": round(sample.seconds, 2), "kb": sample.maxrss_kb}
    held = count_lines(workspace / RUNS_SOURCE)
    filled["run_index_lines"] = held
    filled["run_index_bytes"] = (workspace / RUNS_SOURCE).stat().st_size
    filled["overrides_lines"] = count_lines(workspace / OVERRIDES_SOURCE)
    return filled


def timed_build(workspace: Path, package_root: Path, out: Path) -> Sample:
    """One `build --force --json` that must succeed: wall seconds and peak RSS (KiB)."""
    command = _registry(workspace, "build", "--force", "--json")
    sample = run_timed(command, stdout_path=out, env=_env(package_root))[0]
    said = json.loads(out.read_text(encoding="utf-8"))
    if not said.get("success"):
        raise BenchError(f"the build in {workspace} did not succeed: {out.read_text()[-3000:]}")
    return sample


def side(
    name: str, package_root: Path, work: Path, records: int, seed: int, repeat: int
) -> dict[str, Any]:
    """Make and fill one workspace, then time its builds."""
    check_package(package_root)
    with contextlib.redirect_stdout(sys.stderr):  # progress, not the results
        data = dataset(records, seed)
    workspace = demo_workspace(work, "workspace")
    print(f"[big_build] {name}: appending {records:,} records", file=sys.stderr, flush=True)
    filled = fill(workspace, data.runs, data.overrides, package_root)
    demo = count_lines(ROOT / RUNS_SOURCE)
    if filled["run_index_lines"] != records + demo:
        raise BenchError(
            f"the index holds {filled['run_index_lines']} lines, expected {records} + {demo}"
        )
    samples = []
    for number in range(repeat):
        samples.append(timed_build(workspace, package_root, work / "build.json"))
        print(
            f"[big_build] {name}: build --force {number + 1}/{repeat}: "
            f"{samples[-1].seconds:.1f} s, {samples[-1].maxrss_kb} KiB",
            file=sys.stderr,
            flush=True,
        )
    walls = [s.seconds for s in samples]
    peaks = [s.maxrss_kb for s in samples if s.maxrss_kb is not None]
    return {
        "package": str(package_root),
        **filled,
        "build_wall_runs_s": [round(w, 2) for w in walls],
        "build_wall_median_s": round(statistics.median(walls), 2),
        "build_peak_rss_runs_mib": [round(peak / 1024) for peak in peaks],
        "build_peak_rss_mib": round(max(peaks) / 1024) if peaks else None,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="run records to append")
    parser.add_argument("--seed", type=int, default=4, help="gen_run_index's seed (default 4)")
    parser.add_argument("--other", type=Path, help="another checkout to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="timed builds per side")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fill each side's workspace, time its builds, print the figures (and JSON)."""
    args = parse_args(argv)
    sides = {"this checkout": ROOT}
    if args.other is not None:
        sides[f"other ({args.other})"] = args.other.resolve()
    started = time.perf_counter()
    machine = machine_info(cache_dropped=False)  # before the long part: it may fail
    machine["page_cache"] = "warm (inputs read before appending, not dropped)"
    work = Path(tempfile.mkdtemp(prefix="bench_big_build_"))
    results: dict[str, Any] = {}
    try:
        for index, (name, package_root) in enumerate(sides.items()):
            results[name] = side(
                name, package_root, work / f"ws{index}", args.records, args.seed, args.repeat
            )
    finally:
        if args.keep:
            print(f"[big_build] kept {work}", file=sys.stderr, flush=True)
        else:
            remove_tree(work)
    peak = results["this checkout"]["build_peak_rss_mib"]
    document = {
        "command": "python benchmarks/bench_big_build.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine,
        "records": args.records,
        "sides": results,
        "target": {
            "peak_rss_mib_under": TARGET_RSS_MIB,
            "status": "n/a" if peak is None else ("PASS" if peak < TARGET_RSS_MIB else "MISS"),
        },
        "total_s": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        for name, figures in results.items():
            print(
                f"{name}: {args.records:,} records ({figures['run_index_bytes'] / MIB:.0f} MiB), "
                f"build --force {figures['build_wall_median_s']} s, peak RSS "
                f"{figures['build_peak_rss_mib']} MiB (appends: run_overrides "
                f"{figures['run_overrides']['append_s']} s, run_index "
                f"{figures['run_index']['append_s']} s)"
            )
        print(f"target: peak RSS < {TARGET_RSS_MIB} MiB: {document['target']['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
