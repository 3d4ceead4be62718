"""(b) Validating many small run folders vs bagit-python validating the equivalent bags.

Each item is two payload files of a few KB (`REPORT.json`, `data.csv`), sealed once as our run
folder (`run.json`, `manifest.json`, `MANIFEST.sha256`) and once as a BagIt bag (`data/`,
`bagit.txt`, `bag-info.txt`, `manifest-sha256.txt`, `tagmanifest-sha256.txt`), across a dozen
registry ids. The first three run folders are made by the real `seal_files` API; the rest are
written directly in the same format with the core's manifest helpers (seal_files fsyncs every
file and asks git for its state each time, which would make generating 10,000 slow). Bags are
written in the exact format of `bagit.make_bag`, checked against a real make_bag at the start.

Timed: `registry validate --all --workspace WS --json > /dev/null` (full, then `--fast`), and
bagit in its own process: `Bag(path).validate()` in a loop, and spread over Pool(2) with
Pool.map (our CLI uses 2 worker processes), plus the fast (Payload-Oxum) mode. Every timed run
must report every folder valid. Peak memory of the CLI and its workers is measured at both sizes.
The CPU time (user + system) of each timed process tree is recorded too: on a shared machine it
says what each contender costs when the wall time is disturbed by other work.

Alone: `.venv/bin/python benchmarks/bench_validate.py [--quick] [--repeat N] [--keep]` (its own
work folder, results in benchmarks/_data/validate_results.json and .md); or through
`benchmarks/run_all.py --only validate`.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BAGIT_WORKER,
    DATA_DIR,
    PYTHON,
    REGISTRY,
    BenchError,
    Measurement,
    Report,
    Sample,
    Target,
    files_under,
    ready,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
    write_run_folder,
)

FULL_SIZES = (1_000, 10_000)
QUICK_SIZES = (200, 2_000)
VIA_API = 3
PER_BAG_SUBSET = 100
WARM_FOLDERS = 40
TARGET_SPEEDUP = 3.0
FLAT_MEMORY = 1.25
REGISTRIES = (
    "expected_versions",
    "migration_ledger",
    "threshold_packs_file",
    "validation_range_results",
    "drift_notes",
    "run_registry",
    "ops_catalog",
    "risk_register",
    "model_cards",
    "data_contracts",
    "release_gates",
    "audit_findings",
)
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
BASELINE: list[tuple[str, Path]] = []
"""(label, folder) of another version of our package to time beside this one (`--baseline`)."""


def payload(index: int) -> dict[str, bytes]:
    """The two artifact files of item `index`: about 1 KB of JSON and 3 KB of CSV."""
    rng = random.Random(index)
    report = {
        "registry_id": REGISTRIES[index % len(REGISTRIES)],
        "item": index,
        "status": "PASS",
        "checks": [
            {"name": f"check_{k:02d}", "value": round(rng.random(), 6), "ok": True}
            for k in range(14)
        ],
    }
    rows = ["id,metric,value,label"]
    rows += [
        f"{k},{rng.choice(['p50', 'p95', 'p99'])},{rng.random():.8f},label_{rng.randrange(10**6)}"
        for k in range(80)
    ]
    return {
        "REPORT.json": (json.dumps(report, indent=2) + "\n").encode(),
        "data.csv": ("\n".join(rows) + "\n").encode(),
    }


class Corpus:
    """The run folders (in a workspace) and the bags of the same payloads, grown on demand."""

    def __init__(self, work: Path) -> None:
        """An empty workspace and bag folder under `work`; git state read once for run.json."""
        from registry_pipeline.core.seal.gitstate import read_git_state
        from registry_pipeline.core.workspace.layout import init_workspace

        self.workspace = work / "ws_validate"
        self.bags = work / "bags"
        init_workspace(self.workspace)
        self.bags.mkdir()
        self.runs = self.workspace / ".codex" / "RUNS"
        self.git = read_git_state(self.workspace)
        self.size = 0
        self.bag_info = _bag_info_template()

    def grow(self, size: int) -> None:
        """Add items until there are `size` run folders and `size` bags."""
        for index in range(self.size, size):
            files = payload(index)
            registry_id = REGISTRIES[index % len(REGISTRIES)]
            if index < VIA_API:
                run_id = self._seal_via_api(registry_id, files)
            else:
                run_id = self._write_run_folder(index, registry_id, files)
            _write_bag(self.bags / run_id, files, self.bag_info)
        self.size = size

    def warm_programs(self) -> None:
        """Run our CLI (with its worker pool) and bagit on 40 folders, untimed, after a drop.

        Loads the interpreter, our modules, multiprocessing and bagit into the page cache so
        that no contender pays for reading its own program from disk in the timed run.
        """
        warm_ws = self.workspace.parent / "ws_warm_validate"
        if not warm_ws.exists():
            shutil.copytree(self.workspace, warm_ws)
            for extra in sorted(os.listdir(warm_ws / ".codex" / "RUNS"))[WARM_FOLDERS:]:
                remove_tree(warm_ws / ".codex" / "RUNS" / extra)
        ours = [REGISTRY, "validate", "--all", "--workspace", str(warm_ws), "--json"]
        run_quiet(ours)
        for _label, source in BASELINE:
            run_quiet(["env", f"PYTHONPATH={source}", *ours])
        bags = [PYTHON, BAGIT_WORKER, "validate", str(self.bags), "--limit", str(WARM_FOLDERS)]
        run_quiet([*bags, "--pool", "2"])

    def _seal_via_api(self, registry_id: str, files: dict[str, bytes]) -> str:
        """One folder made by the product itself (fsynced, read-only, real run id)."""
        from registry_pipeline.core.seal.envelope import RunSpec
        from registry_pipeline.core.seal.run_store import RunStore, seal_files
        from registry_pipeline.core.workspace.layout import Workspace

        store = RunStore(Workspace(self.workspace))
        return seal_files(store, RunSpec(registry_id=registry_id), files).run_id

    def _write_run_folder(self, index: int, registry_id: str, files: dict[str, bytes]) -> str:
        """Folder number `index`, in the seal's exact format (shared with bench_build)."""
        return write_run_folder(
            self.runs, registry_id, EPOCH + timedelta(seconds=index), files, self.git
        )


def _bag_info_template() -> str:
    """bag-info.txt as make_bag writes it (sorted tags), with `{oxum}` left to fill in."""
    import bagit

    agent = f"bagit.py v{bagit.VERSION} <{bagit.PROJECT_URL}>"
    today = f"{date.today():%Y-%m-%d}"
    return f"Bag-Software-Agent: {agent}\nBagging-Date: {today}\nPayload-Oxum: {{oxum}}\n"


def _write_bag(bag: Path, files: dict[str, bytes], bag_info: str) -> None:
    """A bag of `files` in make_bag's exact format (SHA-256 manifest and tag manifest)."""
    import hashlib

    (bag / "data").mkdir(parents=True)
    lines = []
    for relpath in sorted(files):
        (bag / "data" / relpath).write_bytes(files[relpath])
        lines.append(f"{hashlib.sha256(files[relpath]).hexdigest()}  data/{relpath}\n")
    total = sum(len(data) for data in files.values())
    tags = {
        "manifest-sha256.txt": "".join(lines).encode(),
        "bagit.txt": b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": bag_info.format(oxum=f"{total}.{len(files)}").encode(),
    }
    for name, data in tags.items():
        (bag / name).write_bytes(data)
    tagmanifest = "".join(f"{hashlib.sha256(d).hexdigest()} {n}\n" for n, d in tags.items())
    (bag / "tagmanifest-sha256.txt").write_bytes(tagmanifest.encode())


def check_bag_format(work: Path, bag_info: str) -> str:
    """Make one bag with the real make_bag and compare it with ours, file by file."""
    real, mine = work / "bagcheck_real", work / "bagcheck_mine"
    files = payload(0)
    real.mkdir()
    for relpath, data in files.items():
        (real / relpath).write_bytes(data)
    run_quiet([PYTHON, BAGIT_WORKER, "make", str(real)])
    _write_bag(mine, files, bag_info)
    for path in sorted(files_under(real)):
        relpath = path.relative_to(real)
        if sorted(path.read_bytes().splitlines()) != sorted(
            (mine / relpath).read_bytes().splitlines()
        ):
            raise BenchError(f"our bag's {relpath} differs from make_bag's")
    if len(files_under(real)) != len(files_under(mine)):
        raise BenchError("our bag has a different set of files than make_bag's")
    shutil.rmtree(real)
    shutil.rmtree(mine)
    return "validate: generated bags are byte-identical to bagit.make_bag output (line order aside)"


def _contenders(corpus: Corpus) -> dict[str, tuple[list[str], bool, Path]]:
    """name -> (argv, ours, tree to warm) of every timed validation."""
    ours = [REGISTRY, "validate", "--all", "--workspace", str(corpus.workspace), "--json"]
    bags = str(corpus.bags)
    bag = [PYTHON, BAGIT_WORKER, "validate", bags]
    before = {
        f"registry validate --all (2 procs), before: {label}": (
            ["env", f"PYTHONPATH={source}", *ours],
            True,
            corpus.workspace,
        )
        for label, source in BASELINE
    }
    return {
        **before,
        "registry validate --all (2 procs)": (ours, True, corpus.workspace),
        "registry validate --all --fast": ([*ours, "--fast"], True, corpus.workspace),
        "registry validate --all --jobs 1": ([*ours, "--jobs", "1"], True, corpus.workspace),
        "bagit Bag.validate() loop, 1 proc": (bag, False, corpus.bags),
        "bagit Bag.validate() over Pool(2)": ([*bag, "--pool", "2"], False, corpus.bags),
        "bagit validate(fast=True) over Pool(2)": (
            [*bag, "--pool", "2", "--fast"],
            False,
            corpus.bags,
        ),
    }


def measure_size(
    corpus: Corpus, repeat: int, cpu: dict[str, dict[str, list[float]]]
) -> tuple[list[Measurement], dict[str, int]]:
    """Time every contender at the corpus's current size (its CPU seconds into `cpu`, by
    benchmark and contender); then the CLI's memory, sampled."""
    contenders = _contenders(corpus)
    label = f"validate {corpus.size:,} folders"
    measurements = {
        name: Measurement(label, name, items=corpus.size, ours=ours)
        for name, (_argv, ours, _tree) in contenders.items()
    }
    spent = cpu.setdefault(label, {name: [] for name in contenders})
    warm_sets = {tree: files_under(tree) for _argv, _ours, tree in contenders.values()}
    for repetition in range(repeat):
        for name in rotate(list(contenders), repetition):
            argv, _ours, tree = contenders[name]
            ready(warm_sets[tree], corpus.warm_programs)
            sample, seconds = _timed_with_cpu(argv)
            measurements[name].samples.append(sample)
            spent[name].append(round(seconds, 3))
            print(
                f"[validate] {label} run {repetition + 1}/{repeat} {name}: {sample.seconds:.2f} s "
                f"(CPU {seconds:.2f} s)",
                flush=True,
            )
    argv = contenders["registry validate --all (2 procs)"][0]
    memory = _memory(argv, warm_sets[corpus.workspace], corpus)
    return list(measurements.values()), memory


def _timed_with_cpu(argv: list[str]) -> tuple[Sample, float]:
    """`run_timed(argv)` and the user + system CPU seconds of the whole process tree it ran
    (every descendant is waited for by its parent, so all of it lands in RUSAGE_CHILDREN)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sample, _ = run_timed(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return sample, used


def _memory(argv: list[str], warm_set: list[Path], corpus: Corpus) -> dict[str, int]:
    """Peak RSS of one CLI run: largest one process (GNU time) and the polled sum of the tree."""
    ready(warm_set, corpus.warm_programs)
    sample, tree_peak = run_timed(argv, sample_tree=True)
    return {"max_rss_one_process_kb": sample.maxrss_kb or 0, "peak_rss_tree_sum_kb": tree_peak or 0}


def per_bag_processes(corpus: Corpus, repeat: int) -> Measurement:
    """bagit's own `processes=2` (a Pool per bag), on the first 100 bags only: it is slow."""
    argv = [PYTHON, BAGIT_WORKER, "validate", str(corpus.bags), "--processes", "2"]
    argv += ["--limit", str(PER_BAG_SUBSET)]
    measurement = Measurement(
        f"validate {PER_BAG_SUBSET} folders",
        "bagit Bag.validate(processes=2) per bag",
        items=PER_BAG_SUBSET,
    )
    warm_set = files_under(corpus.bags)
    for _ in range(repeat):
        ready(warm_set, corpus.warm_programs)
        measurement.samples.append(run_timed(argv)[0])
    return measurement


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Both corpus sizes: generate, check the bag format, time, measure memory, evaluate."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    report = Report()
    corpus = Corpus(work)
    report.checks.append(check_bag_format(work, corpus.bag_info))
    memory: dict[int, dict[str, int]] = {}
    by_size: dict[int, list[Measurement]] = {}
    cpu: dict[str, dict[str, list[float]]] = {}
    for size in sizes:
        print(f"[validate] generating {size:,} run folders and {size:,} bags", flush=True)
        corpus.grow(size)
        if size == sizes[0]:
            report.measurements.append(per_bag_processes(corpus, repeat))
        by_size[size], memory[size] = measure_size(corpus, repeat, cpu)
        report.measurements.extend(by_size[size])
    report.checks.append(
        "validate: every timed run exited 0 (all folders PASS / all bags valid); "
        f"{VIA_API} of the run folders were made by the real seal_files API"
    )
    report.extra["validate_memory_kb"] = {str(size): value for size, value in memory.items()}
    report.extra["validate_cpu_s"] = cpu
    report.targets.extend(_targets(by_size[sizes[-1]], memory, sizes))
    report.checks.append(_cpu_line(cpu[f"validate {sizes[-1]:,} folders"]))
    remove_tree(corpus.workspace)
    remove_tree(corpus.bags)
    return report


def _targets(
    largest: list[Measurement], memory: dict[int, dict[str, int]], sizes: tuple[int, int]
) -> list[Target]:
    """Ours >= 3x faster than the fastest full bagit usage; memory flat from small to large."""
    by_name = {m.contender: m for m in largest}
    ours = by_name["registry validate --all (2 procs)"]
    fast = by_name["registry validate --all --fast"]
    peers = [m for m in largest if not m.ours and "fast" not in m.contender]
    best = min(peers, key=lambda m: m.median)
    bag_fast = by_name["bagit validate(fast=True) over Pool(2)"]
    small, large = memory[sizes[0]], memory[sizes[1]]
    tree_ratio = large["peak_rss_tree_sum_kb"] / max(1, small["peak_rss_tree_sum_kb"])
    one_ratio = large["max_rss_one_process_kb"] / max(1, small["max_rss_one_process_kb"])
    return [
        Target(
            f"validate >= {TARGET_SPEEDUP:g}x faster than bagit ({sizes[1]:,} folders)",
            best.median / ours.median >= TARGET_SPEEDUP,
            f"ours {ours.median:.2f} s vs fastest bagit ({best.contender}) {best.median:.2f} s: "
            f"{best.median / ours.median:.2f}x; fast modes: ours {fast.median:.2f} s vs "
            f"bagit {bag_fast.median:.2f} s = {bag_fast.median / fast.median:.2f}x",
        ),
        Target(
            f"validate memory flat ({sizes[0]:,} -> {sizes[1]:,} folders, <= {FLAT_MEMORY:g}x)",
            tree_ratio <= FLAT_MEMORY and one_ratio <= FLAT_MEMORY,
            f"CLI+workers summed peak {small['peak_rss_tree_sum_kb'] / 1024:.1f} -> "
            f"{large['peak_rss_tree_sum_kb'] / 1024:.1f} MiB ({tree_ratio:.2f}x); largest single "
            f"process {small['max_rss_one_process_kb'] / 1024:.1f} -> "
            f"{large['max_rss_one_process_kb'] / 1024:.1f} MiB ({one_ratio:.2f}x)",
        ),
    ]


def _cpu_line(spent: dict[str, list[float]]) -> str:
    """The median CPU seconds of every contender at the largest size, ours against bagit's."""
    medians = {name: statistics.median(values) for name, values in spent.items() if values}
    ours = medians["registry validate --all (2 procs)"]
    pool = medians["bagit Bag.validate() over Pool(2)"]
    shown = "; ".join(f"{name} {value:.2f} s" for name, value in medians.items())
    return (
        f"validate: CPU (user + system of the process tree, medians): {shown}; "
        f"bagit over Pool(2) uses {pool / ours:.2f}x the CPU of ours"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run this benchmark alone, in its own work folder; print and write the results."""
    import argparse

    from benchmarks import _report
    from benchmarks._common import machine_info, settle_caches

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 and 2,000 folders")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument(
        "--work",
        type=Path,
        default=DATA_DIR / "work_validate",
        help="work folder (default: benchmarks/_data/work_validate; emptied first)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DATA_DIR / "validate_results",
        help="results written to OUT.json and OUT.md",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--baseline",
        nargs=2,
        metavar=("LABEL", "DIR"),
        help="also time `registry validate --all` with the package in DIR (a folder holding "
        "registry_pipeline/ and schemas/ of another commit, e.g. from `git archive`), as LABEL",
    )
    args = parser.parse_args(argv)
    if args.baseline:
        label, source = args.baseline
        if not (Path(source) / "registry_pipeline" / "cli" / "main.py").is_file():
            parser.error(f"--baseline: no registry_pipeline package in {source}")
        BASELINE.append((label, Path(source).resolve()))
    remove_tree(args.work)
    args.work.mkdir(parents=True)
    machine = machine_info(settle_caches())
    started = time.perf_counter()
    try:
        report = run(args.work, args.quick, args.repeat)
    finally:
        if not args.keep:
            remove_tree(args.work)
    results: dict[str, Any] = {
        "command": "python benchmarks/bench_validate.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine,
        "suites": ["validate"],
        "quick": args.quick,
        "repeat": args.repeat,
        "total_seconds": round(time.perf_counter() - started, 1),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "measurements": [m.as_json() for m in report.measurements],
        "targets": [t.as_json() for t in report.targets],
        "checks": report.checks,
        **report.extra,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_report.markdown(results))
    _report.print_results(results)
    return 1 if args.strict and not all(t.passed for t in report.targets) else 0


if __name__ == "__main__":
    sys.exit(main())
