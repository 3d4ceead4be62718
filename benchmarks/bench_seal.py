"""(a) Sealing 1 GiB in 256 files of 4 MiB: ours side by side with sha256sum, bagit and the floor.

Contenders, all on the same random files, generated once:

- `registry seal` (the real CLI, a subprocess) and the in-process API (plan_sources,
  RunStore.stage, Staging.add_copies, publish);
- `sha256sum` over the 256 files, one coreutils process;
- `bagit.make_bag(dir, processes=2, checksums=["sha256"])` in its own Python process, on a fresh
  copy of the files (make_bag moves files in place; the copy is made and flushed before timing);
- the floor: two Python threads that read, hash (hashlib SHA-256), write to a new file and fsync
  each byte once, 1 MiB at a time: the least work a durable copying seal can do;
- for reference, the same without hashing: what reading, writing and fsyncing alone cost.

Before every timed run: `sync`, drop the page cache if the kernel allows it, run every contender
once on a tiny file (so programs and modules are cached), `sync`, then read the input files once:
every contender starts with its program and inputs warm and no dirty pages pending. One whole
round of all contenders runs first and is not counted (the disk is slower right after the 1 GiB
of test data was written); then `repeat` counted rounds, each starting with another contender.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import (
    BAGIT_WORKER,
    MIB,
    PYTHON,
    READ_BLOCK,
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
)

if TYPE_CHECKING:
    from registry_pipeline.core.seal.run_store import SealedRun

FILE_SIZE = 4 * MIB
FULL_FILES = 256
QUICK_FILES = 64
TARGET_VS_SHA256SUM = 2.0
TARGET_VS_FLOOR = 1.25


@dataclass(frozen=True)
class SealData:
    """The files every contender seals, and their SHA-256 computed when they were generated."""

    src: Path
    files: tuple[Path, ...]
    digests: dict[str, str]

    @property
    def nbytes(self) -> int:
        """Total payload bytes."""
        return len(self.files) * FILE_SIZE


Contender = Callable[[SealData, Path, bool], tuple[Sample, dict[str, str] | None]]


def generate(work: Path, count: int) -> SealData:
    """`count` files of 4 MiB of random bytes in `work/seal_src/`, flushed to disk."""
    src = work / "seal_src"
    src.mkdir(parents=True)
    files, digests = [], {}
    for index in range(count):
        data = os.urandom(FILE_SIZE)
        path = src / f"part_{index:04d}.bin"
        path.write_bytes(data)
        files.append(path)
        digests[path.name] = hashlib.sha256(data).hexdigest()
    os.sync()
    return SealData(src, tuple(files), digests)


def warm_programs(work: Path) -> None:
    """Run every contender once on one tiny file, untimed, after the cache was dropped.

    Loads the interpreter, our modules, git, bagit and sha256sum into the page cache, so that
    no contender pays for reading its own program from disk in the timed run.
    """
    tiny, bag, workspace = work / "tiny", work / "tiny_bag", work / "ws_warm"
    if not tiny.exists():
        tiny.mkdir()
        (tiny / "tiny.bin").write_bytes(b"warm\n")
        run_quiet([REGISTRY, "init", str(workspace), "--json"])
    argv = [REGISTRY, "seal", str(tiny), "--registry-id", "warmup", "--workspace", str(workspace)]
    remove_tree(Path(json.loads(run_quiet([*argv, "--json"]))["path"]))
    remove_tree(_api_seal(workspace, tiny, "warmup_api").path)
    run_quiet(["sha256sum", str(tiny / "tiny.bin")])
    shutil.copytree(tiny, bag)
    run_quiet([PYTHON, BAGIT_WORKER, "make", "--processes", "2", str(bag)])
    remove_tree(bag)


def seal_cli(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str]]:
    """`registry seal SRC --registry-id bench --workspace WS --json`, as a user runs it."""
    workspace = work / "ws_cli"
    if not workspace.exists():
        run_quiet([REGISTRY, "init", str(workspace), "--json"])
    printed = work / "seal_cli.json"
    ready(data.files, lambda: warm_programs(work))
    argv = [REGISTRY, "seal", str(data.src), "--registry-id", "bench"]
    sample, _ = run_timed([*argv, "--workspace", str(workspace), "--json"], stdout_path=printed)
    run_folder = Path(json.loads(printed.read_text())["path"])
    digests = _manifest_digests(run_folder)
    if check:
        run_quiet([REGISTRY, "validate", str(run_folder), "--workspace", str(workspace)])
    remove_tree(run_folder)
    return sample, digests


def seal_api(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str]]:
    """The same seal through the Python API, in this process (no interpreter start, no CLI)."""
    from registry_pipeline.core.workspace.layout import init_workspace

    workspace = work / "ws_api"
    init_workspace(workspace)
    ready(data.files, lambda: warm_programs(work))
    start = time.perf_counter()
    sealed = _api_seal(workspace, data.src, "bench_api")
    sample = Sample(time.perf_counter() - start)
    digests = {e.relpath: e.sha256 for e in sealed.entries if e.relpath != "run.json"}
    remove_tree(sealed.path)
    return sample, digests


def _api_seal(workspace: Path, src: Path, registry_id: str) -> SealedRun:
    """plan_sources, RunStore.stage, Staging.add_copies, publish: what `registry seal` does."""
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore
    from registry_pipeline.core.workspace.layout import Workspace
    from registry_pipeline.core.workspace.sources import plan_sources

    store = RunStore(Workspace(workspace))
    with store.stage(RunSpec(registry_id=registry_id)) as staging:
        staging.add_copies(plan_sources([src]))
        return staging.publish()


def sha256sum(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str]]:
    """`sha256sum FILE...` over the 256 files: one process, one thread (coreutils)."""
    printed = work / "sha256sum.txt"
    ready(data.files, lambda: warm_programs(work))
    sample, _ = run_timed(["sha256sum", *map(str, data.files)], stdout_path=printed)
    digests = {}
    for line in printed.read_text().splitlines():
        digest, path = line.split("  ", 1)
        digests[Path(path).name] = digest
    return sample, digests


def bagit_make(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str]]:
    """`bagit.make_bag(copy, processes=2, checksums=["sha256"])` in its own process."""
    bag = work / "bag"
    run_quiet(["cp", "-r", str(data.src), str(bag)])
    ready(files_under(bag), lambda: warm_programs(work))
    argv = [PYTHON, BAGIT_WORKER, "make", "--processes", "2", str(bag)]
    sample, _ = run_timed(argv)
    digests = {}
    for line in (bag / "manifest-sha256.txt").read_text().splitlines():
        digest, path = line.split("  ", 1)
        digests[Path(path).name] = digest
    remove_tree(bag)
    return sample, digests


def floor(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str] | None]:
    """Two threads read, hash, write and fsync each byte once: the least a durable seal does."""
    return _threaded_copy(data, work, hashing=True)


def copy_only(data: SealData, work: Path, check: bool) -> tuple[Sample, dict[str, str] | None]:
    """Reference: the floor without hashing (read, write, fsync): what the disk alone costs."""
    return _threaded_copy(data, work, hashing=False)


def _threaded_copy(
    data: SealData, work: Path, hashing: bool
) -> tuple[Sample, dict[str, str] | None]:
    """Copy the files into a new folder on 2 threads, 1 MiB at a time, fsyncing each copy."""
    target = work / "floor"
    target.mkdir()
    jobs = [(source, target / source.name, hashing) for source in data.files]
    ready(data.files, lambda: warm_programs(work))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = dict(pool.map(_copy_fsync, jobs))
    sample = Sample(time.perf_counter() - start)
    remove_tree(target)
    return sample, digests if hashing else None


def _copy_fsync(job: tuple[Path, Path, bool]) -> tuple[str, str]:
    """Copy one file block by block (hashing the same buffer if asked), then fsync the copy."""
    source, target, hashing = job
    digest = hashlib.sha256()
    buffer = bytearray(READ_BLOCK)
    view = memoryview(buffer)
    with open(source, "rb", buffering=0) as src, open(target, "xb", buffering=0) as dst:
        while count := src.readinto(buffer):
            chunk = view[:count]
            if hashing:
                digest.update(chunk)
            while chunk:
                chunk = chunk[dst.write(chunk) :]
        os.fsync(dst.fileno())
    return source.name, digest.hexdigest()


def _manifest_digests(run_folder: Path) -> dict[str, str]:
    """relpath -> sha256 of the payload, from a run folder's manifest.json."""
    rows = json.loads((run_folder / "manifest.json").read_text())
    return {row["relpath"]: row["sha256"] for row in rows if row["relpath"] != "run.json"}


CONTENDERS: dict[str, tuple[Contender, bool]] = {
    "registry seal (CLI)": (seal_cli, True),
    "RunStore API (in-process)": (seal_api, True),
    "sha256sum (coreutils)": (sha256sum, False),
    "bagit make_bag processes=2": (bagit_make, False),
    "floor: 2 threads read+hash+write+fsync": (floor, False),
    "reference: 2 threads read+write+fsync, no hash": (copy_only, False),
}


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Generate the files, time every contender `repeat` times (rotating the order), check."""
    count = QUICK_FILES if quick else FULL_FILES
    print(f"[seal] generating {count} x 4 MiB of random bytes", flush=True)
    data = generate(work, count)
    label = f"seal {data.nbytes // MIB} MiB in {count} files"
    measurements = {
        name: Measurement(label, name, nbytes=data.nbytes, items=count, ours=ours)
        for name, (_fn, ours) in CONTENDERS.items()
    }
    report = Report()
    for repetition in range(-1, repeat):
        for name in rotate(list(CONTENDERS), repetition):
            sample, digests = CONTENDERS[name][0](data, work, repetition == 0)
            if digests is not None:
                _check_digests(name, digests, data)
            if repetition < 0:
                print(f"[seal] warm-up round (not counted) {name}: {sample.seconds:.2f} s")
                continue
            measurements[name].samples.append(sample)
            print(f"[seal] run {repetition + 1}/{repeat} {name}: {sample.seconds:.2f} s")
    report.measurements.extend(measurements.values())
    report.checks.append(
        f"seal: every hashing contender reported the same {count} SHA-256 digests as the "
        "generator, on every run; the first CLI run folder passed `registry validate`"
    )
    report.targets.extend(_targets(measurements))
    remove_tree(data.src)
    return report


def _check_digests(name: str, digests: dict[str, str], data: SealData) -> None:
    """Raise unless a contender reported exactly the generated files and their hashes."""
    if digests != data.digests:
        missing = sorted(set(data.digests) ^ set(digests))[:3]
        raise BenchError(f"{name} reported wrong digests (first differences: {missing})")


def _targets(measurements: dict[str, Measurement]) -> list[Target]:
    """Ours (the CLI) at least 2x faster than sha256sum and within 1.25x of the floor."""
    cli = measurements["registry seal (CLI)"].median
    api = measurements["RunStore API (in-process)"].median
    sha = measurements["sha256sum (coreutils)"].median
    low = measurements["floor: 2 threads read+hash+write+fsync"].median
    speedup = sha / cli
    over_floor = cli / low
    return [
        Target(
            f"seal >= {TARGET_VS_SHA256SUM:g}x faster than sha256sum",
            speedup >= TARGET_VS_SHA256SUM,
            f"CLI {cli:.2f} s vs sha256sum {sha:.2f} s: {speedup:.2f}x "
            f"(floor vs sha256sum: {sha / low:.2f}x)",
        ),
        Target(
            f"seal within {TARGET_VS_FLOOR:g}x of the floor",
            over_floor <= TARGET_VS_FLOOR,
            f"CLI {cli:.2f} s / floor {low:.2f} s = {over_floor:.2f}x "
            f"(API {api:.2f} s = {api / low:.2f}x)",
        ),
    ]
