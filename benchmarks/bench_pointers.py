"""(e) Pointer promotion latency against the journal's length, and `registry pointers verify` over
100,000 journal records with its peak memory.

A journal of 100,000 records is generated once in the journal's exact format (canonical RFC 8785
lines, each chained to the SHA-256 of the previous one; written without fsync, like the run folders
of bench_validate), spread over twelve filler registries, with the pointer file that replaying it
gives. Its first record and its first 10,000 records, each with the matching pointer file, make
the journals of the other sizes.

(a) Latency: two workspaces (`registry init`) hold the same sealed snapshots of `alpha` and a
journal of 1 or 10,000 records. One worker process (`python benchmarks/bench_pointers.py promote
N WS1 WS2`) makes one untimed promotion in each (imports, schema catalog), then times N
promotions in each through `PointerStore.promote` with compare-and-swap, taking the two
workspaces in turn so that both see the same machine load. Each is a full change: lock, redo
check, validation of the target folder, journal append + fsync, pointer temp + fsync + rename +
folder fsync. The journals and pointer files are reset before every repetition.

(b) Verify: `registry pointers verify --json` over 10,000 and 100,000 records, under GNU time for
the peak RSS; every run must replay the whole chain with the expected record count (the filler
registries' targets are absent by construction: TARGET_MISSING for them is expected).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    ready,
    remove_tree,
    rotate,
    run_quiet,
    run_timed,
    write_run_folder,
)

LATENCY_SIZES = (1, 10_000)
FULL_VERIFY_SIZES = (10_000, 100_000)
QUICK_VERIFY_SIZES = (10_000, 30_000)
PROMOTIONS = 50
QUICK_PROMOTIONS = 20
TARGET_LATENCY_RATIO = 1.5
TARGET_RSS_RATIO = 1.10
FILLERS = 12
REGISTRY_ID = "alpha"
RELPATH = "ALPHA.json"
START = datetime(2025, 1, 1, tzinfo=UTC)
WORKER = str(Path(__file__).resolve())
JOURNAL = "ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
POINTERS = "ACTIVE_REGISTRY_POINTERS_v0_1.json"
VERDICT = {
    "seal_valid": {"passed": True, "source": "pointer store (under the lock)"},
    "schema_valid": {"passed": True, "source": "pointer store (under the lock)"},
}


# --------------------------------------------------------------------------------------------
# the generated journal
# --------------------------------------------------------------------------------------------


@dataclass
class Prefix:
    """The first `records` records of the generated journal: bytes and the matching pointers."""

    records: int
    nbytes: int
    pointer_file: bytes


def generate_journal(path: Path, total: int, prefixes: tuple[int, ...]) -> dict[int, Prefix]:
    """Write `total` chained records over FILLERS registries; the state after each prefix.

    Each pointer file carries the filler registries its journal prefix has recorded (an entry
    the journal does not explain is a hand edit, and no pointer moves while there is one): one
    in the 1-record file, all twelve from 12 records on (about 3 KB more).
    """
    from registry_pipeline.core.pointers.journal import JournalRecord
    from registry_pipeline.core.pointers.pointer_file import Pointer, PointerFile
    from registry_pipeline.core.seal.envelope import SealedRef
    from registry_pipeline.core.seal.run_id import base_run_id

    state: dict[str, tuple[SealedRef, str]] = {}
    snapshots: dict[int, dict[str, tuple[SealedRef, str]]] = {}
    previous: str | None = None
    offset = 0
    offsets: dict[int, int] = {}
    with path.open("wb") as handle:
        for index in range(total):
            registry_id = f"filler_{index % FILLERS:02d}"
            moment = START + timedelta(seconds=index)
            created = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            ref = SealedRef(
                registry_id,
                base_run_id(registry_id, moment),
                hashlib.sha256(b"%d" % index).hexdigest(),
                ".codex/RUNS",
                "DATA.json",
            )
            record = JournalRecord(
                seq=index + 1,
                registry_id=registry_id,
                from_ref=state[registry_id][0] if registry_id in state else None,
                to_ref=ref,
                action="promote",
                reason="generated",
                actor={"kind": "cli_user", "id": "bench@host"},
                checks=VERDICT,
                created_utc=created,
                prev_sha256=previous,
            )
            line = record.line()
            previous = hashlib.sha256(line).hexdigest()
            handle.write(line + b"\n")
            offset += len(line) + 1
            state[registry_id] = (ref, created)
            if index + 1 in prefixes:
                offsets[index + 1] = offset
                snapshots[index + 1] = dict(state)
    result: dict[int, Prefix] = {}
    for records, journaled in snapshots.items():
        pointers = PointerFile()
        for registry_id, (ref, created) in sorted(journaled.items()):
            pointer = Pointer(registry_id, ref, True, created, "generated")
            pointers = pointers.with_pointer(pointer, created)
        result[records] = Prefix(records, offsets[records], pointers.render())
    return result


def install_journal(workspace: Path, source: Path, prefix: Prefix) -> None:
    """Put the first `prefix.records` records and their pointer file into a workspace."""
    codex = workspace / ".codex"
    with source.open("rb") as handle:
        (codex / JOURNAL).write_bytes(handle.read(prefix.nbytes))
    (codex / POINTERS).write_bytes(prefix.pointer_file)
    (codex / (POINTERS + ".lock")).unlink(missing_ok=True)


def make_workspace(work: Path, name: str, snapshots: int) -> Path:
    """`registry init`, plus `snapshots` valid run folders of alpha, one second apart."""
    from registry_pipeline.core.seal.gitstate import read_git_state

    workspace = work / name
    workspace.mkdir(parents=True)
    run_quiet([REGISTRY, "init", str(workspace)])
    git = read_git_state(workspace)
    runs = workspace / ".codex" / "RUNS"
    for index in range(snapshots):
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index)
        data = {RELPATH: (json.dumps({"n": index}) + "\n").encode()}
        write_run_folder(runs, REGISTRY_ID, moment, data, git)
    return workspace


# --------------------------------------------------------------------------------------------
# worker: timed promotions in a process of their own
# --------------------------------------------------------------------------------------------


def worker_main(argv: list[str]) -> int:
    """`promote N WS...`: in each workspace one untimed promotion, then N timed ones, taking
    the workspaces in turn (rotating which goes first) so that all see the same machine load;
    JSON {workspace: [seconds...]} on stdout."""
    if len(argv) < 3 or argv[0] != "promote":
        raise SystemExit("usage: bench_pointers.py promote COUNT WORKSPACE...")
    count = int(argv[1])
    promoters = [_Promoter(Path(root), count) for root in argv[2:]]
    for promoter in promoters:
        promoter.next()  # untimed: imports, the schema catalog, the first pointer of alpha
    seconds: dict[str, list[float]] = {str(p.root): [] for p in promoters}
    for index in range(count):
        for promoter in rotate(promoters, index):
            seconds[str(promoter.root)].append(promoter.next())
    print(json.dumps(seconds))
    return 0


class _Promoter:
    """Promotes the sealed snapshots of alpha in one workspace, oldest first, with CAS."""

    def __init__(self, root: Path, count: int) -> None:
        from registry_pipeline.core.gate.gate import admission
        from registry_pipeline.core.pointers.store import PointerStore
        from registry_pipeline.core.workspace.layout import Workspace

        self.root = root
        workspace = Workspace(root)
        self.runs = sorted(p.name for p in workspace.runs_dir.iterdir() if p.name[0] != ".")
        if len(self.runs) < count + 1:
            raise SystemExit(f"{root}: {len(self.runs)} snapshots, {count + 1} needed")
        self.store = PointerStore(workspace)
        self.admit = admission
        self.expect: str | None = None
        self.done = 0

    def next(self) -> float:
        """Promote the next snapshot; the seconds the call took."""
        run_id = self.runs[self.done]
        actor = {"kind": "cli_user", "id": "bench@host"}
        start = time.perf_counter()
        change = self.store.promote(
            REGISTRY_ID, run_id, relpath=RELPATH, reason="bench", actor=actor, admit=self.admit,
            expect=self.expect,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if not change.changed:
            raise SystemExit(f"promotion of {run_id} changed nothing")
        self.expect, self.done = run_id, self.done + 1
        return elapsed


# --------------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------------


def _warm_programs() -> None:
    """Untimed: load the CLI and the pointer store's modules into the page cache."""
    run_quiet(
        [PYTHON, "-c", "import registry_pipeline.cli.main, registry_pipeline.core.pointers.store"]
    )


def _verify(workspace: Path, output: Path, expected_records: int) -> Sample:
    """One timed `registry pointers verify --json`: the replay must be whole with every record.
    The filler registries' targets are absent by construction (generated refs, no folders), so
    TARGET_MISSING for a filler is the one problem expected."""
    argv = [REGISTRY, "pointers", "verify", "--workspace", str(workspace), "--json"]
    sample, _ = run_timed(argv, stdout_path=output, expect=1)  # TARGET_MISSING: the fillers
    report = json.loads(output.read_text())
    unexpected = [
        problem
        for problem in report["problems"]
        if problem["code"] != "TARGET_MISSING"
        or not str(problem.get("registry_id", "")).startswith("filler_")
    ]
    if unexpected or report["records"] != expected_records:
        raise BenchError(f"verify of {workspace.name}: {report}")
    return sample


def _codex_files(workspace: Path) -> list[Path]:
    return [workspace / ".codex" / JOURNAL, workspace / ".codex" / POINTERS]


def measure_latency(
    work: Path, journal: Path, prefixes: dict[int, Prefix], repeat: int, promotions: int
) -> Report:
    """Median promotion latency with a journal of 1 vs 10,000 records, sizes alternating."""
    workspaces = {
        size: make_workspace(work, f"ws_pointers_{size}", promotions + 1) for size in LATENCY_SIZES
    }
    measurements = {
        size: Measurement(
            "promotion latency",
            f"PointerStore.promote, journal of {size:,} record{'s' if size > 1 else ''} "
            f"(median of {promotions})",
            ours=True,
        )
        for size in LATENCY_SIZES
    }
    every: dict[int, list[float]] = {size: [] for size in LATENCY_SIZES}
    output = work / "pointers_output.json"
    for repetition in range(repeat):
        order = rotate(list(LATENCY_SIZES), repetition)
        for size in order:
            install_journal(workspaces[size], journal, prefixes[size])
        ready([f for size in order for f in _codex_files(workspaces[size])], _warm_programs)
        argv = [PYTHON, WORKER, "promote", str(promotions), *(str(workspaces[s]) for s in order)]
        sample, _ = run_timed(argv, stdout_path=output)
        result = json.loads(output.read_text())
        for size in order:
            seconds = result[str(workspaces[size])]
            every[size].extend(seconds)
            median = statistics.median(seconds)
            measurements[size].samples.append(Sample(median, sample.maxrss_kb))
            _verify(workspaces[size], output, size + promotions + 1)
            print(
                f"[pointers] run {repetition + 1}/{repeat} journal of {size:,}: median "
                f"{median * 1000:.2f} ms, p90 {_p90(seconds) * 1000:.2f} ms",
                flush=True,
            )
    for workspace in workspaces.values():
        remove_tree(workspace)
    small, large = (measurements[size] for size in LATENCY_SIZES)
    ratio = large.median / small.median
    report = Report(measurements=list(measurements.values()))
    report.extra["pointers_latency_ms"] = {
        str(size): {
            "median": round(statistics.median(values) * 1000, 3),
            "p90": round(_p90(values) * 1000, 3),
            "promotions": len(values),
        }
        for size, values in every.items()
    }
    report.targets.append(
        Target(
            f"promotion latency with {LATENCY_SIZES[1]:,} journal records <= "
            f"{TARGET_LATENCY_RATIO}x that with {LATENCY_SIZES[0]}",
            ratio <= TARGET_LATENCY_RATIO,
            f"median {large.median * 1000:.2f} ms vs {small.median * 1000:.2f} ms = {ratio:.2f}x "
            f"(medians of {promotions} promotions, {repeat} runs each; p90 over all runs "
            f"{_p90(every[LATENCY_SIZES[1]]) * 1000:.2f} ms vs "
            f"{_p90(every[LATENCY_SIZES[0]]) * 1000:.2f} ms)",
        )
    )
    report.checks.append(
        f"pointers: every promotion changed the pointer, and `registry pointers verify` replayed "
        f"the whole chain (only the fillers' absent targets reported) "
        f"with {promotions + 1} more records after each run"
    )
    return report


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def measure_verify(
    work: Path, journal: Path, prefixes: dict[int, Prefix], sizes: tuple[int, ...], repeat: int
) -> Report:
    """`registry pointers verify` over each size: wall time and peak RSS, sizes alternating."""
    workspaces = {size: make_workspace(work, f"ws_verify_{size}", 0) for size in sizes}
    for size, workspace in workspaces.items():
        install_journal(workspace, journal, prefixes[size])
    measurements = {
        size: Measurement(f"verify {size:,} records", "registry pointers verify --json", ours=True)
        for size in sizes
    }
    output = work / "pointers_verify.json"
    for repetition in range(repeat):
        for size in rotate(list(sizes), repetition):
            ready(_codex_files(workspaces[size]), _warm_programs)
            sample = _verify(workspaces[size], output, size)
            measurements[size].samples.append(sample)
            print(
                f"[pointers] verify {size:,} records run {repetition + 1}/{repeat}: "
                f"{sample.seconds:.2f} s, max RSS {(sample.maxrss_kb or 0) / 1024:.1f} MiB",
                flush=True,
            )
    for workspace in workspaces.values():
        remove_tree(workspace)
    small, large = (measurements[size] for size in sizes)
    rss_ratio = (large.maxrss_kb or 0) / max(1, small.maxrss_kb or 0)
    megabytes = prefixes[sizes[1]].nbytes / 1_000_000
    report = Report(measurements=list(measurements.values()))
    report.targets.append(
        Target(
            f"verify of {sizes[1]:,} records streams: peak RSS <= {TARGET_RSS_RATIO}x that of "
            f"{sizes[0]:,}",
            rss_ratio <= TARGET_RSS_RATIO,
            f"max RSS {(large.maxrss_kb or 0) / 1024:.1f} MiB vs "
            f"{(small.maxrss_kb or 0) / 1024:.1f} MiB = {rss_ratio:.2f}x for a "
            f"{megabytes:.0f} MB journal; {large.median:.2f} s vs {small.median:.2f} s "
            f"({sizes[1] / large.median:,.0f} vs {sizes[0] / small.median:,.0f} records/s "
            "with CLI start-up)",
        )
    )
    report.extra["pointers_journal_bytes"] = {str(size): prefixes[size].nbytes for size in sizes}
    report.checks.append(
        "pointers: every timed `registry pointers verify --json` replayed the whole chain with the "
        "expected "
        "record count"
    )
    return report


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Generate the journal once; the latency pair, then verify at both sizes."""
    verify_sizes = QUICK_VERIFY_SIZES if quick else FULL_VERIFY_SIZES
    promotions = QUICK_PROMOTIONS if quick else PROMOTIONS
    total = max(verify_sizes)
    journal = work / "pointer_journal.jsonl"
    print(f"[pointers] generating a journal of {total:,} records", flush=True)
    started = time.perf_counter()
    prefixes = generate_journal(journal, total, (*LATENCY_SIZES, *verify_sizes))
    print(f"[pointers] generated in {time.perf_counter() - started:.1f} s", flush=True)
    report = Report()
    report.add(measure_latency(work, journal, prefixes, repeat, promotions))
    report.add(measure_verify(work, journal, prefixes, verify_sizes, repeat))
    journal.unlink()
    return report


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
