"""(d) `registry build`: full audit vs incremental on 10,000 run folders, and the run registry
over 100,000 folders with its peak memory.

A workspace is made from the demo's `registries/` and `schemas/` (`registry init`), 10,000 small
valid run folders are written into `.codex/RUNS` (in the format of the real seal, like
bench_validate, without fsync), and one `registry build` makes the previous snapshot. Then, side
by side (rotating the order): `registry build --full-audit` (every folder hashed again) and
`registry build` after adding one new run folder (incremental). The builders alone, without
Dagster, run in a worker process (`python benchmarks/bench_build.py builders WS [--full-audit]`)
that calls the registered builders of `registry_pipeline.core.builders.registry` with the same
sealed snapshots the build reads; the Dagster overhead is the build time minus the builders'.

Then the workspace grows to 100,000 folders and the run registry adapter alone runs in a worker
(`python benchmarks/bench_build.py run_registry WS [--full-audit] [--previous DIR] [--seal-to
WS2]`), full and incremental, under GNU time for its peak RSS.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    PYTHON,
    REGISTRY,
    BenchError,
    Measurement,
    Report,
    Sample,
    Target,
    demo_workspace,
    ready,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
    write_run_folder,
)

FULL_SIZES = (10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
TARGET_RATIO = 0.10
TARGET_RSS_MB = 600
BUILT = ("run_registry", "op_status_table", "drift_signals", "system_health_report")
WORKER = str(Path(__file__).resolve())


# --------------------------------------------------------------------------------------------
# the generated workspace
# --------------------------------------------------------------------------------------------


def make_workspace(work: Path, name: str = "ws_build") -> Path:
    """The build benchmark's workspace: a copy of the demo, initialized."""
    return demo_workspace(work, name)


class Folders:
    """Writes small valid run folders (the seal's format, no fsync) into a workspace's RUNS."""

    def __init__(self, workspace: Path) -> None:
        """Read the git state once (every run.json records it)."""
        from registry_pipeline.core.seal.gitstate import read_git_state

        self.runs = workspace / ".codex" / "RUNS"
        self.git = read_git_state(workspace)
        self.count = 0

    def grow(self, size: int) -> None:
        """Add folders until `size` have been written."""
        for index in range(self.count, size):
            self.write(index)
        self.count = max(self.count, size)

    def add_one(self) -> None:
        """One more folder (the new run of an incremental build)."""
        self.write(self.count)
        self.count += 1

    def write(self, index: int) -> str:
        """Run folder number `index`: two payload files, run.json, manifest.json, MANIFEST."""
        from datetime import UTC, datetime, timedelta

        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=index)
        return write_run_folder(
            self.runs, f"bench_{index % 12:02d}", moment, _payload(index), self.git
        )


def _payload(index: int) -> dict[str, bytes]:
    """About 1 KB: a small JSON report and a small CSV."""
    report = {
        "item": index,
        "status": "PASS",
        "checks": [{"name": f"c{k}", "ok": True} for k in range(8)],
    }
    rows = ["id,value"] + [f"{k},{(index * 7919 + k * 104729) % 1000003}" for k in range(40)]
    return {
        "REPORT.json": (json.dumps(report, indent=2) + "\n").encode(),
        "data.csv": ("\n".join(rows) + "\n").encode(),
    }


def run_files(workspace: Path) -> list[Path]:
    """Every file under RUNS (the warm set of a timed build)."""
    from benchmarks._common import files_under

    return files_under(workspace / ".codex" / "RUNS")


# --------------------------------------------------------------------------------------------
# workers: the builders alone, in a process of their own
# --------------------------------------------------------------------------------------------


def _worker_builders(workspace_root: Path, full_audit: bool, only: tuple[str, ...]) -> None:
    """Time each registered adapter on the sealed snapshots a build would read; print JSON."""
    from registry_pipeline.core.builders.model import BuildInputs
    from registry_pipeline.core.builders.registry import BUILDERS
    from registry_pipeline.core.seal.validate import inspection_cache
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.workspace.layout import Workspace
    from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots

    workspace = Workspace(workspace_root)
    catalog = load_catalog(workspace)
    builders = BUILDERS
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    latest: dict[str, Snapshot] = {}
    for spec in catalog.registries:  # what the last (successful, checked) build sealed
        snapshots = list_snapshots(workspace, spec.registry_id)
        if snapshots:
            latest[spec.registry_id] = snapshots[-1]
    for registry_id in only:
        spec = catalog.get(registry_id)
        if registry_id not in latest or not set(spec.depends_on) <= set(latest):
            raise SystemExit(f"no sealed snapshot for {registry_id} or its inputs")
        inputs = {d: latest[d] for d in spec.depends_on}
        build = BuildInputs(workspace, spec, inputs, latest[registry_id], full_audit)
        start = time.perf_counter()
        with inspection_cache(workspace.root, trust_stored=not full_audit):  # as a build
            result = builders[registry_id](build)
        seconds[registry_id] = time.perf_counter() - start
        counts[registry_id] = result.record_count
        if registry_id == "run_registry":
            counts["hashed"] = int(str(result.summary.get("hashed", -1)))
            counts["reused"] = int(str(result.summary.get("reused", -1)))
    print(json.dumps({"seconds": seconds, "counts": counts}))


def _worker_run_registry(
    workspace_root: Path, full_audit: bool, previous: Path | None, seal_to: Path | None
) -> None:
    """Time the run registry adapter alone; optionally seal its result into another workspace."""
    from registry_pipeline.core.builders.model import BuildInputs
    from registry_pipeline.core.builders.registry import BUILDERS
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files
    from registry_pipeline.core.seal.validate import inspection_cache
    from registry_pipeline.core.workspace.catalog import load_catalog
    from registry_pipeline.core.workspace.layout import Workspace
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    workspace = Workspace(workspace_root)
    spec = load_catalog(workspace).get("run_registry")
    snapshot = read_snapshot(previous, "run_registry") if previous else None
    build = BuildInputs(workspace, spec, {}, snapshot, full_audit)
    start = time.perf_counter()
    with inspection_cache(workspace.root, trust_stored=not full_audit):  # as a build
        result = BUILDERS["run_registry"](build)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"seconds": {"run_registry": seconds}, "counts": dict(result.summary)}
    if seal_to is not None:
        sealed = seal_files(RunStore(Workspace(seal_to)), RunSpec("run_registry"), result.files)
        out["sealed"] = str(sealed.path)
    print(json.dumps(out))


def worker_main(argv: list[str]) -> int:
    """`builders WS [ID...] [--full-audit]` or `run_registry WS [--full-audit] [--previous DIR]
    [--seal-to WS2]`: one timed call in this process, JSON on stdout."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("builders", "run_registry"))
    parser.add_argument("workspace", type=Path)
    parser.add_argument("only", nargs="*")
    parser.add_argument("--full-audit", action="store_true")
    parser.add_argument("--previous", type=Path)
    parser.add_argument("--seal-to", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run_registry":
        _worker_run_registry(args.workspace, args.full_audit, args.previous, args.seal_to)
    else:
        _worker_builders(args.workspace, args.full_audit, tuple(args.only) or BUILT)
    return 0


# --------------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------------


def _build_argv(workspace: Path, full_audit: bool) -> list[str]:
    argv = [REGISTRY, "build", "--workspace", str(workspace), "--json"]
    return [*argv, "--full-audit"] if full_audit else argv


def _builders_argv(workspace: Path, full_audit: bool, *only: str) -> list[str]:
    argv = [PYTHON, WORKER, "builders", str(workspace), *only]
    return [*argv, "--full-audit"] if full_audit else argv


def _check_build(path: Path, label: str) -> None:
    """A timed build must have succeeded with every registry built or reused."""
    summary = json.loads(path.read_text())
    if not summary["success"]:
        raise BenchError(f"{label}: registry build failed: {summary}")


def _check_counts(counts: dict[str, int], full: bool, generated: int) -> None:
    """Full audit hashes every folder; incremental reuses all generated ones but the new one."""
    hashed, reused, total = counts["hashed"], counts["reused"], counts["run_registry"]
    if (full and hashed != total) or (not full and reused < generated - 1):
        raise BenchError(f"run_registry: {hashed} hashed, {reused} reused of {total}: {counts}")


def _builders_result(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def measure_build(work: Path, folders: Folders, workspace: Path, repeat: int) -> Report:
    """Full audit vs incremental through Dagster, and the builders alone, side by side.

    Each timed build is followed by the builders alone in the same mode on the snapshots that
    build sealed (the builders-alone full audit runs once: it is long and steady).
    """
    size = folders.count
    label = f"build {size:,} folders"
    names = {
        "full": "registry build --full-audit",
        "incremental": "registry build (+1 new folder)",
        "builders_full": "4 builders alone, full audit (no Dagster)",
        "builders_incremental": "4 builders alone, incremental (no Dagster)",
    }
    measurements = {
        key: Measurement(label, name, items=size, ours=True) for key, name in names.items()
    }
    per_builder: dict[str, list[dict[str, float]]] = {"full": [], "incremental": []}
    counts: dict[str, dict[str, int]] = {}
    output = work / "build_output.json"
    for repetition in range(repeat):
        for key in rotate(["full", "incremental"], repetition):
            full = key == "full"
            if not full:
                folders.add_one()
            ready(run_files(workspace), _warm_programs)
            sample, _ = run_timed(_build_argv(workspace, full), stdout_path=output)
            _check_build(output, names[key])
            measurements[key].samples.append(sample)
            print(
                f"[build] {label} run {repetition + 1}/{repeat} {names[key]}: "
                f"{sample.seconds:.2f} s",
                flush=True,
            )
            if full and repetition > 0:
                continue
            ready(run_files(workspace), _warm_programs)
            sample, _ = run_timed(_builders_argv(workspace, full), stdout_path=output)
            result = _builders_result(output)
            in_process = sum(result["seconds"].values())
            measurements[f"builders_{key}"].samples.append(Sample(in_process, sample.maxrss_kb))
            per_builder[key].append(result["seconds"])
            counts[key] = result["counts"]
            _check_counts(result["counts"], full, folders.count)
            print(f"[build] builders alone ({key}): {result['seconds']}", flush=True)
    report = Report(measurements=list(measurements.values()))
    report.extra["build_per_builder_s"] = {
        key: {
            registry_id: round(statistics.median(run[registry_id] for run in runs), 3)
            for registry_id in BUILT
        }
        for key, runs in per_builder.items()
    }
    report.extra["build_counts"] = counts
    full, incremental = measurements["full"], measurements["incremental"]
    ratio = incremental.median / full.median
    overhead = {
        key: measurements[key].median - measurements[f"builders_{key}"].median
        for key in ("full", "incremental")
    }
    report.extra["build_dagster_overhead_s"] = {k: round(v, 3) for k, v in overhead.items()}
    rr = report.extra["build_per_builder_s"]
    report.targets.append(
        Target(
            f"incremental build <= {TARGET_RATIO:.0%} of full ({size:,} folders + 1 new)",
            ratio <= TARGET_RATIO,
            f"incremental {incremental.median:.2f} s / full audit {full.median:.2f} s = "
            f"{ratio:.0%}; builders alone {measurements['builders_incremental'].median:.2f} s "
            f"vs {measurements['builders_full'].median:.2f} s (run_registry "
            f"{rr['incremental']['run_registry']:.2f} s vs {rr['full']['run_registry']:.2f} s); "
            f"Dagster overhead (build minus builders) {overhead['incremental']:.2f} s "
            f"incremental, {overhead['full']:.2f} s full",
        )
    )
    return report


def _warm_programs() -> None:
    """Untimed: load the CLI, Dagster and the builders (their files) into the page cache."""
    run_quiet([PYTHON, "-c", WARM_IMPORTS])


WARM_IMPORTS = (
    "import registry_pipeline.cli.main, registry_pipeline.lib.build, "
    "registry_pipeline.definitions, registry_pipeline.core.builders.registry"
)


def _rr_argv(workspace: Path, *extra: str) -> list[str]:
    return [PYTHON, WORKER, "run_registry", str(workspace), *extra]


def _time_rr(
    argv: list[str], workspace: Path, measurement: Measurement, output: Path
) -> dict[str, Any]:
    """One timed worker run: the builder's own seconds, the worker's peak RSS."""
    ready(run_files(workspace), _warm_programs)
    sample, _ = run_timed(argv, stdout_path=output)
    result = _builders_result(output)
    seconds = result["seconds"]["run_registry"]
    measurement.samples.append(Sample(seconds, sample.maxrss_kb))
    print(
        f"[build] {measurement.benchmark} {measurement.contender}: {seconds:.2f} s in the "
        f"builder ({sample.seconds:.2f} s with start-up), max RSS "
        f"{(sample.maxrss_kb or 0) / 1024:.0f} MiB, {result['counts']}",
        flush=True,
    )
    return result


def _mib(measurement: Measurement) -> str:
    return f"{(measurement.maxrss_kb or 0) / 1024:.0f} MiB"


def measure_run_registry(work: Path, folders: Folders, workspace: Path, repeat: int) -> Report:
    """The run registry adapter alone over the large workspace: full and incremental, peak RSS.

    The full audit (once: it is the long one) is sealed into a side workspace as the previous
    snapshot, so that the incremental runs see exactly one new folder. Then once more with that
    snapshot copied into the run root, as after a real build: the incremental build then also
    verifies the previous snapshot itself (a new folder with one line per run folder).
    """
    side = make_workspace(work, "ws_build_side")
    output = work / "rr_output.json"
    size = len(os.listdir(workspace / ".codex" / "RUNS")) - 1  # minus .gitkeep
    label = f"run registry {size:,} folders"
    full = Measurement(label, "run_registry builder, full audit", items=size, ours=True)
    result = _time_rr(
        _rr_argv(workspace, "--full-audit", "--seal-to", str(side)), workspace, full, output
    )
    previous = Path(result["sealed"])
    incremental = Measurement(
        f"run registry {size + 1:,} folders",
        "run_registry builder, incremental (+1 new folder)",
        items=size + 1,
        ours=True,
    )
    folders.add_one()
    for _ in range(repeat):
        _time_rr(_rr_argv(workspace, "--previous", str(previous)), workspace, incremental, output)
    shutil.copytree(previous, workspace / ".codex" / "RUNS" / previous.name)
    with_snapshot = Measurement(
        f"run registry {size + 2:,} folders",
        "run_registry builder, incremental (+1 folder, +its own previous snapshot)",
        items=size + 2,
        ours=True,
    )
    _time_rr(_rr_argv(workspace, "--previous", str(previous)), workspace, with_snapshot, output)
    remove_tree(side)
    report = Report(measurements=[full, incremental, with_snapshot])
    peak = max((m.maxrss_kb or 0) for m in report.measurements)
    report.targets.append(
        Target(
            f"run registry over {size:,} folders: peak memory < {TARGET_RSS_MB} MB",
            peak * 1024 < TARGET_RSS_MB * 1_000_000,
            f"max RSS {peak / 1024:.0f} MiB (full audit {_mib(full)}, incremental "
            f"{_mib(incremental)}, with the snapshot {_mib(with_snapshot)}); full audit "
            f"{full.median:.1f} s, "
            f"incremental {incremental.median:.2f} s ({incremental.median / full.median:.1%}), "
            f"incremental with its previous snapshot to verify {with_snapshot.median:.1f} s",
        )
    )
    return report


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Generate once per size; time the builds at the small size, the run registry at the large."""
    small, large = QUICK_SIZES if quick else FULL_SIZES
    report = Report()
    workspace = make_workspace(work)
    folders = Folders(workspace)
    print(f"[build] generating {small:,} run folders", flush=True)
    folders.grow(small)
    run_quiet(_build_argv(workspace, False))  # the previous snapshot of every registry
    report.add(measure_build(work, folders, workspace, repeat))
    print(f"[build] generating up to {large:,} run folders", flush=True)
    folders.grow(large)
    report.add(measure_run_registry(work, folders, workspace, repeat))
    report.checks.append(
        "build: every timed `registry build` succeeded (--json success: true); the builders "
        "alone hashed every folder in full-audit mode and reused all but the new ones otherwise"
    )
    remove_tree(workspace)
    return report


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
