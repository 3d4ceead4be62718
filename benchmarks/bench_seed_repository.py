"""The seed's real repository: `registry build` next to the seed's own five builder scripts.

Usage: `.venv/bin/python benchmarks/bench_seed_repository.py [--repeat 3] [--json]
[--tarball PATH] [--work DIR] [--keep]`.

The seed system's whole public repository, as `git archive` wrote it at commit 5d9a3c1
(`../shared/reference/ovc-infra-5d9a3c1.tar.gz`), is extracted once, made a git repository and
committed (`git add -A -f`: every archived file, those its .gitignore names too). Then, for each
repetition (rotating which side goes first), each side works on a fresh `cp -a` of it, git's
index refreshed (not timed; see `fresh_copy`):
- the seed side runs, in its runbook's order, the five builder scripts of that very copy
  (`python3 SCRIPT`, cwd = the copy, with the venv's base interpreter: their stdlib only), after
  creating the `.codex/RUNS` they need (not timed); wall and CPU are summed, peak RSS the largest;
- our side runs `registry adopt .` (timed on its own), commits the adoption (`git add -A`,
  `git commit`, not timed, as a user would), then `registry build --json` (a full first build),
  once more with nothing changed (it must answer `up to date`), and once after one hand-edited
  source changed (a newline appended to the expected versions: a build that changes something).

Timing, cache handling and the table are bench_adopt's (its `Bench`, `run_measured` and
`markdown`). Checks on every run: every command exits 0; their run registry indexes every run
folder of their run roots, their status table has 31 rows, their drift, health and delta-log
folders hold their artifacts; our builds report `success` with every registry built or reused
and a run registry over every folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    PYTHON,
    REGISTRY,
    ROOT,
    BenchError,
    machine_info,
    remove_tree,
    run_quiet,
    settle_caches,
)
from benchmarks.bench_adopt import (
    EVIDENCE,
    OK_STATUSES,
    RUNS,
    SEED_STEPS,
    Bench,
    Fixture,
    Row,
    Timed,
    copy_fixture,
    markdown,
    run_measured,
)

TARBALL = ROOT.parent / "shared/reference/ovc-infra-5d9a3c1.tar.gz"
SEED_COMMIT = "5d9a3c1"
SEED_RUN_ROOTS = (RUNS, Path("reports/runs"), EVIDENCE)  # what their run registry scans
OPERATIONS = 31  # their status table: the canonical operations of the root v0.1 catalog
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
LOG = "[seed-repository]"


def extract(tarball: Path, dest: Path) -> Path:
    """The repository as `git archive` wrote it, made a git repository with one commit."""
    remove_tree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    tops = [path for path in dest.iterdir() if path.is_dir()]
    if len(tops) != 1:
        raise BenchError(f"{tarball}: expected one top folder, found {[p.name for p in tops]}")
    git = ["git", "-C", str(tops[0])]
    run_quiet([*git, "init", "-q", "-b", "main"])
    run_quiet([*git, "add", "-A", "-f"])
    run_quiet([*git, "commit", "-q", "-m", f"the seed's repository at {SEED_COMMIT}"])
    return tops[0]


def run_keys(root: Path) -> set[str]:
    """`<run root>::<folder>` of every run folder in their run roots (their run_key)."""
    return {
        f"{run_root.as_posix()}::{entry.name}"
        for run_root in SEED_RUN_ROOTS
        if (root / run_root).is_dir()
        for entry in (root / run_root).iterdir()
        if entry.is_dir()
    }


CHANGED_SOURCE = "docs/governance/EXPECTED_VERSIONS_v0_1.json"
"""The hand-edited source the third build finds changed (expected_versions, a plain JSON file)."""


class SeedRepositoryBench(Bench):
    """bench_adopt's two sides on copies of the real repository instead of a generated one.

    Bench's own constructor resolves the scripts from `--seed-scripts`; here they are the
    copy's own, so the attributes Bench's methods use are set directly.
    """

    def __init__(self, args: argparse.Namespace, work: Path, fixture: Fixture) -> None:
        """The rows of the table and the run folders their run registry must index."""
        self.args = args
        self.work = work
        self.fixture = fixture
        self.seed_python = getattr(sys, "_base_executable", PYTHON)
        self.seed_scripts = [(name, fixture.root / rel) for name, rel in SEED_STEPS]
        self.skip_reason = ""
        self.expected_keys = run_keys(fixture.root)
        tracked = run_quiet(["git", "-C", str(fixture.root), "ls-files"])
        self.tracked_files = len(tracked.splitlines())
        self.rows = {
            "seed": Row(
                "seed scripts, 5 in runbook order",
                "python3 SCRIPT from the copy: run registry, op status, drift, health render, "
                "delta log (sum of 5 processes)",
                ours=False,
            ),
            "adopt": Row("registry adopt .", "once per copy, then committed", ours=True),
            "first": Row("registry build (first, full)", "registry build --json", ours=True),
            "again": Row(
                "registry build (no change)",
                "the same, right after the first: `up to date`, no Dagster",
                ours=True,
            ),
            "changed": Row(
                "registry build (one source changed)",
                f"after a newline is appended to {CHANGED_SOURCE}",
                ours=True,
            ),
        }
        self.steps: dict[str, list[Timed]] = {name: [] for name, _rel in SEED_STEPS}
        self.statuses: dict[str, dict[str, str]] = {}
        self.kept: Path | None = None

    def fresh_copy(self, name: str) -> Path:
        """A `cp -a` of the repository with git's index refreshed (untimed): `cp -a` changes
        every file's inode and ctime, and whichever side ran git first would re-hash all of
        them; a user's working repository has a current index."""
        copy = copy_fixture(self.fixture, self.work / name)
        run_quiet(["git", "-C", str(copy), "update-index", "-q", "--refresh"])
        return copy

    def seed_side(self, repetition: int) -> None:
        """Their five scripts, from the copy itself, in sequence; checks their outputs."""
        copy = self.fresh_copy(f"seed_{repetition}")
        (copy / RUNS).mkdir(parents=True, exist_ok=True)
        self.prepare(copy)
        parts = []
        for name, rel in SEED_STEPS:
            part = run_measured([self.seed_python, rel], copy)
            self.steps[name].append(part)
            parts.append(part)
        total = Timed.total(parts)
        self.rows["seed"].runs.append(total)
        self.check_seed(copy)
        _progress("seed scripts", total)
        remove_tree(copy)

    def check_seed(self, copy: Path) -> None:
        """Their run registry indexes every run folder, their table has 31 rows, and the
        drift, health and delta-log folders hold their artifacts."""
        runs = copy / RUNS

        def newest(tag: str, artifact: str) -> Path:
            found = sorted(runs.glob(f"*__{tag}"))
            if not found or not (found[-1] / artifact).is_file():
                raise BenchError(f"seed side: no {tag} folder with {artifact}")
            return found[-1] / artifact

        registry = newest("run_registry_build", "RUN_REGISTRY_v0_1.jsonl")
        keys = [json.loads(line)["run_key"] for line in registry.read_text().splitlines() if line]
        if len(keys) != len(self.expected_keys) or set(keys) != self.expected_keys:
            missing = sorted(self.expected_keys - set(keys))[:5]
            raise BenchError(
                f"seed run registry: {len(keys)} records, {len(self.expected_keys)} folders; "
                f"missing e.g. {missing}"
            )
        table = newest("op_status_table_build", "OPERATION_STATUS_TABLE_v0_1.json")
        rows = json.loads(table.read_text())
        if len(rows) != OPERATIONS:
            raise BenchError(f"seed status table: {len(rows)} rows, expected {OPERATIONS}")
        newest("drift_signals_build", "DRIFT_SIGNALS_v0_1.json")
        newest("system_health_render", "SYSTEM_HEALTH_SUMMARY_v0_1.json")
        newest("registry_delta_log_build", "REGISTRY_DELTA_LOG_v0_1.jsonl")

    def our_side(self, repetition: int) -> None:
        """`registry adopt .` (timed), its commit (not timed), then two timed builds."""
        copy = self.fresh_copy(f"ours_{repetition}")
        self.prepare(copy)
        adopt = run_measured([REGISTRY, "adopt", "."], copy, self.work / "adopt.out")
        self.rows["adopt"].runs.append(adopt)
        _progress("ours adopt", adopt)
        run_quiet(["git", "-C", str(copy), "add", "-A"])
        run_quiet(["git", "-C", str(copy), "commit", "-q", "-m", "adopt registry-pipeline"])
        for key in ("first", "again", "changed"):
            before = self.count_folders(copy)
            output = self.work / f"build_{key}.json"
            if key == "changed":
                with (copy / CHANGED_SOURCE).open("a", encoding="utf-8") as source:
                    source.write("\n")
            self.prepare(copy)
            try:
                sample = run_measured([REGISTRY, "build", "--json"], copy, output)
                self.statuses[key] = (
                    _up_to_date(output) if key == "again" else self.check_build(output, before, key)
                )
            except BenchError as error:
                raise BenchError(f"registry build ({key}): {error}{_problems(output)}") from error
            self.rows[key].runs.append(sample)
            _progress(f"ours {key} build", sample)
        if self.kept is None and self.args.keep:
            self.kept = copy
        else:
            remove_tree(copy)


def _up_to_date(output: Path) -> dict[str, str]:
    """The no-change build must answer `up to date` (and build nothing)."""
    summary = json.loads(output.read_text())
    if not (summary.get("success") and summary.get("up_to_date")):
        raise BenchError(f"not up to date: {summary.get('changed')}")
    return {"up_to_date": "true"}


def _problems(output: Path) -> str:
    """The failed registries and their problems from a `registry build --json` output."""
    try:
        summary = json.loads(output.read_text())
    except (OSError, ValueError):
        return ""
    failed = [
        {k: r.get(k) for k in ("registry_id", "status", "checks", "problems")}
        for r in summary.get("registries", [])
        if r.get("status") not in OK_STATUSES
    ]
    return "\nfailed registries: " + json.dumps(failed, indent=2) if failed else ""


def _progress(what: str, sample: Timed) -> None:
    print(
        f"{LOG} {what}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU, "
        f"{sample.rss_kb / 1024:.0f} MiB",
        flush=True,
    )


def describe(root: Path, tarball: Path) -> Fixture:
    """The extracted repository as a bench_adopt Fixture: where it is, its run folders."""
    keys = run_keys(root)
    runs = sum(1 for key in keys if key.startswith(f"{RUNS.as_posix()}::"))
    return Fixture(root, f"{tarball} (commit {SEED_COMMIT})", [], runs, len(keys) - runs)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--tarball", type=Path, default=TARBALL, help=f"the seed's repository (default {TARBALL})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new one in $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    return parser.parse_args(argv)


def results(
    bench: SeedRepositoryBench,
    machine: dict[str, object],
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    seconds: float,
) -> dict[str, Any]:
    """The machine-readable results."""
    fixture = bench.fixture
    return {
        "command": "python benchmarks/bench_seed_repository.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine,
        "repository": {
            "tarball": str(args.tarball),
            "commit": SEED_COMMIT,
            "tracked_files": bench.tracked_files,
            "run_folders": {"codex_runs": fixture.runs, "other_run_roots": fixture.evidence},
        },
        "seed_python": bench.seed_python,
        "repeat": args.repeat,
        "total_seconds": round(seconds, 1),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "rows": [row.as_json() for row in bench.rows.values() if row.runs],
        "seed_steps": {k: [round(p.wall, 3) for p in v] for k, v in bench.steps.items()},
        "build_statuses": bench.statuses,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Extract the repository, run both sides, print the table (and JSON)."""
    args = parse_args(argv)
    if not args.tarball.is_file():
        print(
            f"error: {args.tarball} is absent: the seed's repository (git archive of "
            f"ovc-infra at {SEED_COMMIT}) lies only beside the development repository; "
            "give its path with --tarball PATH",
            file=sys.stderr,
        )
        return 2
    for name in ("DAGSTER_HOME", "REGISTRY_WORKSPACE"):  # each copy is its own workspace
        os.environ.pop(name, None)
    os.environ.update(GIT_ENV)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_seed_repository_"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        root = extract(args.tarball, work / "extracted")
        fixture = describe(root, args.tarball)
        bench = SeedRepositoryBench(args, work, fixture)
        print(
            f"{LOG} {fixture.data}: {bench.tracked_files} tracked files, "
            f"{fixture.folders} run folders in their run roots",
            flush=True,
        )
        machine = machine_info(cache_dropped=settle_caches())
        bench.run()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"{LOG} kept {work}", flush=True)
        else:
            remove_tree(work)
    seconds = time.perf_counter() - started
    print()
    print(markdown(bench))
    if args.json:
        print(json.dumps(results(bench, machine, args, argv, seconds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
