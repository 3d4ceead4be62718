"""(f) The registry delta log: an incremental build with 10,000 sealed snapshots plus 1 new vs a
full rebuild.

A workspace is made from the demo's `registries/` and `schemas/` (`registry init`), and 10,000
small valid snapshots of four covered registries are written into `.codex/RUNS` (the seal's
format, without fsync, like bench_build): a JSONL file of 20 items (one item changes in every
snapshot), a summary JSON (changes every third snapshot) and an exceptions JSON present in half
of them (added, then removed), so that consecutive manifests really differ. One untimed full
build (`build_delta_log` with no previous log) is sealed into the workspace with the core's
`seal_files` (`RunSpec(LOG_REGISTRY_ID)`): it is the previous log of every incremental build.

Side by side, rotating the order: the full rebuild (previous=None, 10,000 records) and the
incremental build after adding one new snapshot (previous=`load_previous_log` of the sealed log:
1 record appended, 10,000 carried); the new snapshot is removed again after each incremental run,
so every run sees the same 10,000 (+1). Each runs in a worker process (`python
benchmarks/bench_delta.py build WS --out FILE [--previous DIR] [--seal]`) under GNU time (peak
RSS), which times the core call itself and prints JSON; the process's own wall time is the
end-to-end figure (start-up, imports, schemas, loading the previous log, the build). The parent
checks every run's output bytes. One more, untimed incremental run under cProfile says where its
time goes.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    PYTHON,
    BenchError,
    Measurement,
    Report,
    Sample,
    Target,
    demo_workspace,
    files_under,
    ready,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
    write_run_folder,
)

FULL_SIZE = 10_000
QUICK_SIZE = 1_000
TARGET_RATIO = 0.10
COVERED = ("bench_inventory", "bench_status", "bench_signals", "bench_health")
ITEMS = 20
WORKER = str(Path(__file__).resolve())
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
FULL_DERIVATION = "2025-06-01__000000__registry_delta_log_build"
INCREMENTAL_DERIVATION = "2025-06-01__000001__registry_delta_log_build"
PROFILED = (
    # (label, function name, file suffix): cumulative seconds of each in the profiled run
    ("load_previous_log", "load_previous_log", "delta_log/records.py"),
    ("build_delta_log", "build_delta_log", "delta_log/build.py"),
    ("list_snapshots", "list_snapshots", "core/workspace/snapshots.py"),
    ("  read run.json (_envelope)", "_envelope", "core/workspace/snapshots.py"),
    ("  read MANIFEST.sha256 (_root)", "_root", "core/workspace/snapshots.py"),
    ("  registry_of (run id pattern)", "registry_of", "core/seal/run_id.py"),
    ("  sort by (created_utc, run_id)", "<lambda>", "core/workspace/snapshots.py"),
    ("order_snapshots", "order_snapshots", "delta_log/build.py"),
    ("  normalize_created_utc (strptime)", "normalize_created_utc", "delta_log/records.py"),
    ("sealed_files (validate + manifest)", "sealed_files", "delta_log/build.py"),
    ("diff_record", "diff_record", "delta_log/build.py"),
)


# --------------------------------------------------------------------------------------------
# the generated workspace
# --------------------------------------------------------------------------------------------


class Snapshots:
    """Writes small valid snapshots of the covered registries (the seal's format, no fsync)."""

    def __init__(self, workspace: Path) -> None:
        """Read the git state once (every run.json records it)."""
        from registry_pipeline.core.seal.gitstate import read_git_state

        self.runs = workspace / ".codex" / "RUNS"
        self.git = read_git_state(workspace)

    def write(self, index: int) -> str:
        """Snapshot number `index`: registry `index % 4`, its `index // 4`-th snapshot."""
        registry_id = COVERED[index % len(COVERED)]
        moment = EPOCH + timedelta(seconds=index)
        return write_run_folder(
            self.runs, registry_id, moment, _payload(registry_id, index // len(COVERED)), self.git
        )


def _payload(registry_id: str, step: int) -> dict[str, bytes]:
    """About 2 KB: items.jsonl (item `step % 20` changes every step), summary.json (changes
    every third step), exceptions.json (present in steps 0-1 of every 4: added, then removed)."""
    rows = []
    for item in range(ITEMS):
        # item k last changed at the latest step s <= step with s % ITEMS == k
        changed = step - ((step - item) % ITEMS) if step >= item else 0
        rows.append(
            json.dumps(
                {
                    "id": f"{registry_id}-{item:03d}",
                    "status": ("PASS", "WARN", "FAIL")[changed % 3],
                    "value": (changed * 7919 + item * 104729) % 1_000_003,
                    "revision": changed,
                },
                sort_keys=True,
            )
        )
    files = {"items.jsonl": ("\n".join(rows) + "\n").encode()}
    summary = {"registry_id": registry_id, "revision": step // 3, "items": ITEMS}
    files["summary.json"] = (json.dumps(summary, indent=2) + "\n").encode()
    if step % 4 < 2:
        exceptions = {"open": [f"{registry_id}-{(step // 4) % ITEMS:03d}"], "since": step // 4}
        files["exceptions.json"] = (json.dumps(exceptions, indent=2) + "\n").encode()
    return files


def run_files(workspace: Path) -> list[Path]:
    """Every file under RUNS (the warm set of a timed build)."""
    return files_under(workspace / ".codex" / "RUNS")


# --------------------------------------------------------------------------------------------
# the worker: one build in a process of its own
# --------------------------------------------------------------------------------------------


def _covered() -> list[Any]:
    from registry_pipeline.core.delta_log import CoveredRegistry

    return [CoveredRegistry(registry_id, "items.jsonl") for registry_id in COVERED]


def _worker_build(
    workspace_root: Path, out: Path, previous_dir: Path | None, seal: bool, profile: Path | None
) -> None:
    """One build_delta_log call, timed; its JSONL written to `out`; JSON figures on stdout."""
    from registry_pipeline.core.delta_log import (
        LOG_ARTIFACT,
        LOG_REGISTRY_ID,
        build_delta_log,
        load_previous_log,
    )
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files
    from registry_pipeline.core.seal.schemas import SchemaCatalog
    from registry_pipeline.core.workspace.layout import Workspace
    from registry_pipeline.core.workspace.snapshots import read_snapshot

    workspace = Workspace(workspace_root)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    covered = _covered()
    derivation = FULL_DERIVATION if previous_dir is None else INCREMENTAL_DERIVATION
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    start = time.perf_counter()
    previous = None
    if previous_dir is not None:
        previous = load_previous_log(read_snapshot(previous_dir, LOG_REGISTRY_ID))
    loaded = time.perf_counter()
    result = build_delta_log(workspace, covered, previous, derivation, schemas)
    built = time.perf_counter()
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(str(profile))
    jsonl = result.files[LOG_ARTIFACT]
    out.write_bytes(jsonl)
    figures: dict[str, Any] = {
        "load_seconds": loaded - start,
        "build_seconds": built - loaded,
        "appended": result.appended,
        "carried": result.carried,
        "records": result.records,
        "unknown": sum(counts.unknown for counts in result.registries.values()),
        "skipped": sum(len(counts.skipped) for counts in result.registries.values()),
        "late": sum(counts.late for counts in result.registries.values()),
        "jsonl_bytes": len(jsonl),
    }
    if seal:
        inputs = (previous.ref(),) if previous is not None else ()
        spec = RunSpec(LOG_REGISTRY_ID, inputs=inputs)
        figures["sealed"] = str(seal_files(RunStore(workspace), spec, result.files).path)
    print(json.dumps(figures))


def worker_main(argv: list[str]) -> int:
    """`build WS --out FILE [--previous DIR] [--seal] [--profile FILE]`: JSON on stdout."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("build",))
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--previous", type=Path)
    parser.add_argument("--seal", action="store_true")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    _worker_build(args.workspace, args.out, args.previous, args.seal, args.profile)
    return 0


# --------------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------------


def _build_argv(workspace: Path, out: Path, previous: Path | None, *extra: str) -> list[str]:
    argv = [PYTHON, WORKER, "build", str(workspace), "--out", str(out), *extra]
    return [*argv, "--previous", str(previous)] if previous is not None else argv


def _warm_programs() -> None:
    """Untimed: load the core modules the worker imports (their files) into the page cache."""
    run_quiet([PYTHON, "-c", WARM_IMPORTS])


WARM_IMPORTS = (
    "import registry_pipeline.core.delta_log, registry_pipeline.core.seal.run_store, "
    "registry_pipeline.core.seal.schemas, registry_pipeline.core.workspace.snapshots, "
    "registry_pipeline.core.seal.validate"
)


def _check_full(figures: dict[str, Any], jsonl: bytes, reference: bytes, size: int) -> None:
    """A full rebuild appends one manifest_diff record per snapshot and matches the sealed log."""
    if figures["appended"] != size or figures["carried"] != 0 or jsonl.count(b"\n") != size:
        raise BenchError(f"full build: {figures}, expected {size:,} appended and none carried")
    if figures["unknown"] or figures["skipped"] or figures["late"]:
        raise BenchError(f"full build: unknown/skipped/late records: {figures}")
    if reference and jsonl != reference:
        raise BenchError("full build: not byte-identical to the sealed full log (determinism)")


def _check_incremental(
    figures: dict[str, Any], jsonl: bytes, reference: bytes, size: int, new_run_id: str
) -> None:
    """1 appended, `size` carried, the full log's bytes as prefix, the new line naming the new
    snapshot with a manifest_diff basis from the registry's previous last snapshot."""
    from registry_pipeline.core.delta_log import MANIFEST_DIFF, parse_record

    if figures["appended"] != 1 or figures["carried"] != size or figures["unknown"]:
        raise BenchError(f"incremental build: {figures}, expected 1 appended, {size:,} carried")
    if not jsonl.startswith(reference) or jsonl.count(b"\n") != size + 1:
        raise BenchError("incremental build: the full log's bytes are not its prefix")
    record = parse_record(jsonl[len(reference) :].rstrip(b"\n"))
    last_of_registry = [
        json.loads(line)
        for line in reference.splitlines()
        if json.loads(line)["registry_id"] == record.registry_id
    ][-1]
    if (
        record.to_ref.run_id != new_run_id
        or record.from_ref is None
        or record.from_ref.as_json() != last_of_registry["to_ref"]
        or record.delta_basis != MANIFEST_DIFF
        or not record.modified_paths
    ):
        raise BenchError(f"incremental build: unexpected new record {record}")


def _profile_breakdown(path: Path) -> dict[str, float]:
    """Cumulative seconds of the functions in PROFILED (summed over same-named functions)."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, name, suffix in PROFILED:
        found[label.strip()] = round(
            sum(
                row[3]
                for (filename, _line, function), row in stats.items()
                if function == name and filename.endswith(suffix)
            ),
            4,
        )
    found["_scan own time"] = round(
        sum(
            row[2]
            for (filename, _line, function), row in stats.items()
            if function == "_scan" and filename.endswith("core/workspace/snapshots.py")
        ),
        4,
    )
    found["read_snapshot calls"] = sum(
        row[1]
        for (filename, _line, function), row in stats.items()
        if function == "read_snapshot" and filename.endswith("core/workspace/snapshots.py")
    )
    return found


def _top_tottime(path: Path, count: int = 8) -> list[str]:
    """The functions with the most own time in the profiled run, as `seconds name (file)`."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        f"{row[2]:.3f} s {function} ({Path(filename).name}, {row[1]:,} calls)"
        for (filename, _line, function), row in rows
    ]


def measure(work: Path, workspace: Path, size: int, repeat: int) -> Report:
    """The full rebuild vs the incremental build (+1 new), side by side; then one profile."""
    snapshots = Snapshots(workspace)
    out = work / "delta_output.jsonl"
    stdout = work / "delta_stdout.json"
    print(f"[delta] sealing the full log of {size:,} snapshots (untimed)", flush=True)
    ready(run_files(workspace), _warm_programs)
    run_timed(_build_argv(workspace, out, None, "--seal"), stdout_path=stdout)
    figures = json.loads(stdout.read_text())
    reference = out.read_bytes()
    _check_full(figures, reference, b"", size)
    previous = Path(figures["sealed"])
    label = f"delta log {size:,} snapshots"
    names = {
        "full": "build_delta_log, full rebuild (previous=None)",
        "incremental": "build_delta_log, incremental (+1 new)",
        "full_process": "worker process end to end, full rebuild",
        "incremental_process": "worker process end to end, incremental (+1 new)",
    }
    measurements = {
        key: Measurement(label, name, items=size, ours=True) for key, name in names.items()
    }
    loads: list[float] = []
    for repetition in range(repeat):
        for key in rotate(["full", "incremental"], repetition):
            full = key == "full"
            new_run_id = None if full else snapshots.write(size)
            ready(run_files(workspace), _warm_programs)
            argv = _build_argv(workspace, out, None if full else previous)
            sample, _ = run_timed(argv, stdout_path=stdout)
            figures = json.loads(stdout.read_text())
            jsonl = out.read_bytes()
            if full:
                _check_full(figures, jsonl, reference, size)
            else:
                assert new_run_id is not None
                _check_incremental(figures, jsonl, reference, size, new_run_id)
                remove_tree(workspace / ".codex" / "RUNS" / new_run_id)
                loads.append(figures["load_seconds"])
            seconds = figures["load_seconds"] + figures["build_seconds"]
            measurements[key].samples.append(Sample(figures["build_seconds"], sample.maxrss_kb))
            measurements[f"{key}_process"].samples.append(sample)
            print(
                f"[delta] {label} run {repetition + 1}/{repeat} {key}: build_delta_log "
                f"{figures['build_seconds']:.3f} s (+ load {figures['load_seconds']:.3f} s = "
                f"{seconds:.3f} s), process {sample.seconds:.2f} s, max RSS "
                f"{(sample.maxrss_kb or 0) / 1024:.0f} MiB",
                flush=True,
            )
    report = Report(measurements=list(measurements.values()))
    report.extra["delta_load_previous_s"] = [round(value, 4) for value in loads]
    report.extra["delta_log_bytes"] = len(reference)
    report.extra["delta_profile_incremental"] = _profile(work, workspace, snapshots, size, previous)
    inc, ful = measurements["incremental"], measurements["full"]
    inc_p, ful_p = measurements["incremental_process"], measurements["full_process"]
    load = statistics.median(loads)
    ratio = inc.median / ful.median
    with_load = (inc.median + load) / ful.median
    report.targets.append(
        Target(
            f"incremental delta log build <= {TARGET_RATIO:.0%} of full ({size:,} snapshots "
            "+ 1 new)",
            ratio <= TARGET_RATIO,
            f"build_delta_log {inc.median:.3f} s / {ful.median:.3f} s = {ratio:.1%}; with "
            f"load_previous_log ({load:.3f} s) {with_load:.1%}; worker process end to end "
            f"{inc_p.median:.2f} s / {ful_p.median:.2f} s = {inc_p.median / ful_p.median:.1%}; "
            f"max RSS {_mib(inc_p)} incremental, {_mib(ful_p)} full",
        )
    )
    return report


def _mib(measurement: Measurement) -> str:
    return f"{(measurement.maxrss_kb or 0) / 1024:.0f} MiB"


def _profile(work: Path, workspace: Path, snapshots: Snapshots, size: int, previous: Path) -> Any:
    """One more incremental build (untimed) under cProfile: where its time goes."""
    profile = work / "delta_incremental.prof"
    out = work / "delta_profiled.jsonl"
    new_run_id = snapshots.write(size)
    ready(run_files(workspace), _warm_programs)
    argv = _build_argv(workspace, out, previous, "--profile", str(profile))
    run_timed(argv, stdout_path=work / "delta_profiled.json")
    remove_tree(workspace / ".codex" / "RUNS" / new_run_id)
    breakdown = _profile_breakdown(profile)
    top = _top_tottime(profile)
    print(f"[delta] profiled incremental build (cumulative s): {breakdown}", flush=True)
    for line in top:
        print(f"[delta]   own time: {line}", flush=True)
    return {"cumulative_s": breakdown, "top_own_time": top}


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Generate the snapshots once; seal the full log; time full vs incremental; profile."""
    size = QUICK_SIZE if quick else FULL_SIZE
    workspace = demo_workspace(work, "ws_delta")
    snapshots = Snapshots(workspace)
    print(f"[delta] generating {size:,} snapshots of {len(COVERED)} registries", flush=True)
    started = time.perf_counter()
    for index in range(size):
        snapshots.write(index)
    print(f"[delta] generated in {time.perf_counter() - started:.1f} s", flush=True)
    report = measure(work, workspace, size, repeat)
    report.checks.append(
        f"delta: every full rebuild appended {size:,} manifest_diff records (none unknown, "
        "skipped or late) byte-identical to the sealed full log; every incremental build "
        f"appended 1 and carried {size:,}, its JSONL starting with the full log's bytes and its "
        "new record naming the new snapshot, from the registry's previous last one"
    )
    for name in (
        "delta_output.jsonl",
        "delta_stdout.json",
        "delta_profiled.jsonl",
        "delta_profiled.json",
        "delta_incremental.prof",
    ):
        (work / name).unlink(missing_ok=True)
    remove_tree(workspace)
    return report


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
