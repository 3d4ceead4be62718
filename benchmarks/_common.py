"""Shared helpers of the benchmark suite: paths, timed subprocesses, page cache, memory, machine.

Every timed command runs as a child process under GNU time (`/usr/bin/time -f %M`), which reports
the peak resident set size of the command and of every descendant it waited for ("Maximum
resident set size" of `/usr/bin/time -v`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / "_data"
WORK_DIR = DATA_DIR / "work"
RESULTS_JSON = DATA_DIR / "results.json"
RESULTS_MD = DATA_DIR / "results.md"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
REGISTRY = str(BIN / "registry") if (BIN / "registry").exists() else "registry"
BAGIT_WORKER = str(ROOT / "benchmarks" / "_bagit_worker.py")
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
MIB = 1 << 20
MB = 1_000_000
READ_BLOCK = 1 << 20


class BenchError(RuntimeError):
    """A contender failed or produced a wrong result: the figures would be meaningless."""


@dataclass
class Sample:
    """One timed run: wall seconds and the peak RSS (KiB) of the process tree, when known."""

    seconds: float
    maxrss_kb: int | None = None


@dataclass
class Measurement:
    """The repeated runs of one contender on one workload; the table shows the median."""

    benchmark: str
    contender: str
    samples: list[Sample] = field(default_factory=list)
    nbytes: int = 0
    items: int = 0
    ours: bool = False
    note: str = ""

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(sample.seconds for sample in self.samples)

    @property
    def mb_per_s(self) -> float | None:
        """Median throughput in MB/s (10^6 bytes per second), for byte workloads."""
        return self.nbytes / MB / self.median if self.nbytes else None

    @property
    def items_per_s(self) -> float | None:
        """Median throughput in items (folders, calls) per second, for item workloads."""
        return self.items / self.median if self.items and not self.nbytes else None

    @property
    def maxrss_kb(self) -> int | None:
        """Largest peak RSS over the runs, when the runs were child processes."""
        known = [sample.maxrss_kb for sample in self.samples if sample.maxrss_kb is not None]
        return max(known) if known else None

    def as_json(self) -> dict[str, object]:
        """Machine-readable form for results.json."""
        return {
            "benchmark": self.benchmark,
            "contender": self.contender,
            "ours": self.ours,
            "runs_s": [round(sample.seconds, 4) for sample in self.samples],
            "median_s": round(self.median, 4),
            "bytes": self.nbytes,
            "items": self.items,
            "mb_per_s": None if self.mb_per_s is None else round(self.mb_per_s, 1),
            "items_per_s": None if self.items_per_s is None else round(self.items_per_s, 1),
            "max_rss_kb": self.maxrss_kb,
            "note": self.note,
        }


@dataclass
class Target:
    """One target of the issue, evaluated on the measured figures."""

    name: str
    passed: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        """Machine-readable form for results.json."""
        return {"target": self.name, "status": self.status, "detail": self.detail}

    @property
    def status(self) -> str:
        """`PASS` or `MISS`."""
        return "PASS" if self.passed else "MISS"


@dataclass
class Report:
    """What one benchmark module hands back: figures, evaluated targets and sanity checks."""

    measurements: list[Measurement] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def add(self, other: Report) -> None:
        """Append another report's content to this one."""
        self.measurements.extend(other.measurements)
        self.targets.extend(other.targets)
        self.checks.extend(other.checks)
        self.extra.update(other.extra)


def run_timed(
    argv: Sequence[str],
    *,
    stdout_path: Path | None = None,
    expect: int = 0,
    sample_tree: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[Sample, int | None]:
    """Run `argv`; return its wall time and peak RSS, and with `sample_tree` the tree's peak.

    The peak RSS (KiB) is that of the command or of any descendant it waited for, as GNU time
    reports it (`/usr/bin/time -f %M`, ~1 ms of overhead, the same for every contender). It is
    not taken from this process's own wait4: a child started by vfork inherits the high-water
    mark of the benchmark runner itself. With `sample_tree`, the summed RSS of the whole process
    tree is also polled every 10 ms and its peak returned. `env` replaces the environment.
    Raises BenchError when the exit code is not `expect`.
    """
    with (
        open(stdout_path or os.devnull, "wb") as out,
        tempfile.TemporaryFile() as errors,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else list(argv)
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapped, stdout=out, stderr=errors, stdin=subprocess.DEVNULL, env=env
        )
        sampler = TreeRSS(proc.pid) if sample_tree else None
        code = proc.wait()
        seconds = time.perf_counter() - start
        tree_peak = sampler.stop() if sampler else None
        if code != expect:
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace")
            raise BenchError(f"{argv[:3]}... exited {code}, expected {expect}: {tail}")
        maxrss = _last_int(rss.read()) if GNU_TIME else None
    return Sample(seconds, maxrss), tree_peak


def _last_int(text: str) -> int | None:
    """The last line of `text` as an integer (GNU time may print a status line first)."""
    lines = text.strip().splitlines()
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


def demo_workspace(work: Path, name: str) -> Path:
    """A copy of the demo catalog, sources and schemas in `work/name`, `registry init`-ed."""
    workspace = work / name
    workspace.mkdir(parents=True)
    for folder in ("registries", "schemas"):
        shutil.copytree(ROOT / folder, workspace / folder)
    run_quiet([REGISTRY, "init", str(workspace)])
    return workspace


def run_quiet(argv: Sequence[str]) -> str:
    """Run an untimed helper command; return its stdout, raise BenchError on failure."""
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{argv[:3]}... exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


class TreeRSS:
    """Polls the summed RSS of a process and all of its descendants; keeps the peak (KiB)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        """Start polling `pid` every `interval` seconds on a daemon thread."""
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        """The polling loop: sum the tree's RSS, keep the largest sum seen."""
        while not self._done.is_set():
            self.peak = max(self.peak, sum(_rss_kb(pid) for pid in _tree(self.pid)))
            self._done.wait(self.interval)

    def stop(self) -> int:
        """Stop polling and return the peak."""
        self._done.set()
        self._thread.join()
        return self.peak


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants, from /proc/<pid>/task/<tid>/children."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                stack.extend(int(child) for child in children.split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def _rss_kb(pid: int) -> int:
    """Resident set size of one process in KiB (0 once it is gone; a zombie has none)."""
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE") // 1024


def settle_caches() -> bool:
    """`sync`, then try `echo 3 > /proc/sys/vm/drop_caches`; True when the cache was dropped."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
    except OSError:
        return False
    return True


def warm(paths: Iterable[Path]) -> int:
    """Read every file once so that it sits in the page cache; returns the bytes read."""
    buffer = bytearray(READ_BLOCK)
    total = 0
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                total += count
    return total


def files_under(root: Path) -> list[Path]:
    """Every regular file below `root`, in walk order."""
    return [Path(folder) / name for folder, _dirs, names in os.walk(root) for name in names]


def ready(paths: Iterable[Path], programs: Callable[[], None] | None = None) -> None:
    """Equal cache state before a timed run: programs and inputs warm, no writes pending.

    `sync`, drop the page cache if the kernel allows it, run `programs` (untimed calls of every
    contender on a tiny input, so that no contender pays for reading its interpreter, modules or
    binary from disk), then read the input files once.
    """
    settle_caches()
    if programs is not None:
        programs()
        os.sync()
    warm(paths)


def remove_tree(path: Path) -> None:
    """Remove a tree, including the read-only folders a seal leaves behind."""
    if not path.exists():
        return
    for folder, _dirs, _files in os.walk(path):
        os.chmod(folder, 0o700)
    shutil.rmtree(path)


def rotate(items: Sequence[T], shift: int) -> list[T]:
    """`items` rotated left by `shift`: each repetition starts with a different contender."""
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def machine_info(cache_dropped: bool) -> dict[str, object]:
    """The facts docs/benchmarks.md records about the machine and the tools compared."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.MULTILINE)
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model.group(1).strip() if model else "unknown",
        "sha_ni": bool(flags and "sha_ni" in flags.group(1).split()),
        "mem_total_gib": round(int(mem_kb.group(1)) / MIB, 1) if mem_kb else None,
        "kernel": platform.release(),
        "filesystem": _filesystem(DATA_DIR),
        "python": platform.python_version(),
        "coreutils": run_quiet(["sha256sum", "--version"]).splitlines()[0],
        "bagit": importlib.metadata.version("bagit"),
        "registry_pipeline": importlib.metadata.version("registry-pipeline"),
        "page_cache": "dropped, then sources warmed" if cache_dropped else "warm (drop refused)",
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        **_code_state(),
    }


def _code_state() -> dict[str, object]:
    """The commit measured, and any uncommitted changes to the product's code at that moment."""
    head = run_quiet(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    status = ["git", "-C", str(ROOT), "status", "--porcelain", "--", "registry_pipeline"]
    changed = [line[3:] for line in run_quiet(status).splitlines()]
    return {"git_head": head, "uncommitted_product_files": changed}


def _filesystem(path: Path) -> str:
    """The filesystem type holding `path` (e.g. ext4), from /proc/mounts."""
    target = str(path.resolve())
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        inside = parts[1] == "/" or target == parts[1] or target.startswith(parts[1] + "/")
        if len(parts) >= 3 and inside and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def write_run_folder(
    runs: Path, registry_id: str, moment: Any, files: dict[str, bytes], git: Any
) -> str:
    """A valid run folder in the seal's exact format, without fsync (generating data fast)."""
    from registry_pipeline.core.json_strict import dumps_pretty
    from registry_pipeline.core.seal.envelope import RunSpec, build_envelope
    from registry_pipeline.core.seal.hashing import sha256_bytes
    from registry_pipeline.core.seal.manifest import (
        ManifestEntry,
        render_manifest_json,
        render_manifest_sha256,
        sorted_entries,
    )
    from registry_pipeline.core.seal.run_id import base_run_id, utc_timestamp

    run_id = base_run_id(registry_id, moment)
    folder = runs / run_id
    folder.mkdir()
    entries = []
    for relpath, data in files.items():
        (folder / relpath).write_bytes(data)
        entries.append(ManifestEntry(relpath, len(data), sha256_bytes(data)))
    spec = RunSpec(registry_id=registry_id)
    envelope = build_envelope(spec, run_id, utc_timestamp(moment), git, list(files))
    run_json = dumps_pretty(envelope)
    (folder / "run.json").write_bytes(run_json)
    entries.append(ManifestEntry("run.json", len(run_json), sha256_bytes(run_json)))
    listed = sorted_entries(entries)
    manifest_json = render_manifest_json(listed)
    (folder / "manifest.json").write_bytes(manifest_json)
    manifest_entry = ManifestEntry("manifest.json", len(manifest_json), sha256_bytes(manifest_json))
    text, _root = render_manifest_sha256([*listed, manifest_entry])
    (folder / "MANIFEST.sha256").write_bytes(text)
    return run_id
