"""The object-store backend driven by many simulated writers: throughput, lost races, latency.

    .venv/bin/python benchmarks/bench_object_store.py [--backend s3|memory|both]
        [--writers 1,8,64] [--changes 256] [--folders 200] [--json]

`s3` starts a real SeaweedFS server on 127.0.0.1 (the tests' harness); `memory` is obstore's
in-memory store (the protocol's own cost, no network). For each number of writers W: W threads
split over 2 processes (two 'machines' sharing only the bucket) make `--changes` pointer changes
in all through the bucket journal as the pointer store drives it (`BucketJournal.change` under
`retry_lost`: pull and settle, append a chained record, write entry N by If-None-Match, advance
the head by If-Match), each thread with its own workspace copy. Reported: changes per second,
lost races per change (a rival wrote entry N first), and p50/p99 latency of one change. Then
`--folders` run folders of 4 files are published (staged, then one conditional write each),
listed, and one is read back. Figures go to docs/SCALE.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry_pipeline.core.objstore import ObjectStore, parse_store_url  # noqa: E402
from registry_pipeline.core.objstore.folders import fetch, publish, published  # noqa: E402

MACHINE = textwrap.dedent(
    """
    import json, shutil, sys, tempfile, threading, time
    from pathlib import Path
    from registry_pipeline.core.objstore import ObjectStore, parse_store_url
    from registry_pipeline.core.pointers.bucket import retry_lost
    from registry_pipeline_tests.core_tests.objstore.test_ledger import machine, record, state
    url, prefix, threads, changes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    env = json.loads(sys.argv[5])
    memory = url == "memory"
    store = ObjectStore.in_memory() if memory else ObjectStore.open(
        parse_store_url(f"{url}/{prefix}"), env)  # one ledger per run
    roots = Path(tempfile.mkdtemp(prefix="bench-object-store-"))
    samples = []
    lock = threading.Lock()
    def writer(n):
        journal = machine(store, roots / str(n))
        for i in range(changes):
            start, tries = time.perf_counter(), []
            def change():
                tries.append(1)
                with journal.change(lambda r, a: None, lambda: state(journal), writes=True):
                    journal.append(record(f"w{n}-{i}", journal.last()))
                    state(journal)
            retry_lost(change)
            with lock:
                samples.append((time.perf_counter() - start, len(tries) - 1))
    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    [w.start() for w in workers]
    [w.join() for w in workers]
    shutil.rmtree(roots)
    print(json.dumps(samples))
    """
)


def contention(url: str, env: dict[str, str], writers: int, changes: int) -> dict[str, float]:
    """`writers` threads over 2 processes (1 process for 1 writer), `changes` changes in all."""
    prefix = f"bench-{writers}-{time.monotonic_ns()}"
    machines = 1 if writers == 1 or url == "memory" else 2
    per_thread = max(1, changes // writers)
    start = time.perf_counter()
    argv = [sys.executable, "-c", MACHINE, url, prefix, str(writers // machines)]
    argv += [str(per_thread), json.dumps(env)]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(machines)
    ]
    samples = [s for proc in procs for s in json.loads(proc.communicate()[0])]
    wall = time.perf_counter() - start
    latencies = sorted(s[0] for s in samples)
    return {
        "writers": writers,
        "changes": len(samples),
        "changes_per_s": round(len(samples) / wall, 1),
        "lost_races_per_change": round(sum(s[1] for s in samples) / len(samples), 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
    }


def folders(store: ObjectStore, count: int, work: Path) -> dict[str, float]:
    """Publish `count` run folders of 4 files, list them, read one back."""
    base = work / "sealed"
    for n in range(count):
        folder = base / f"2026-11-24__{n:06d}__bench_build"
        folder.mkdir(parents=True)
        for name in ("registry.json", "run.json", "manifest.json", "MANIFEST.sha256"):
            (folder / name).write_text(json.dumps({"n": n, "file": name}) + "\n")
    start = time.perf_counter()
    for folder in sorted(base.iterdir()):
        publish(store, "RUNS", folder)
    published_s = time.perf_counter() - start
    start = time.perf_counter()
    listed = published(store, "RUNS")
    list_s = time.perf_counter() - start
    start = time.perf_counter()
    fetch(store, "RUNS", listed[-1], work / "cache")
    fetch_s = time.perf_counter() - start
    return {
        "folders": len(listed),
        "publish_per_folder_ms": round(1000 * published_s / count, 1),
        "list_all_ms": round(1000 * list_s, 1),
        "fetch_one_ms": round(1000 * fetch_s, 1),
    }


def run(backend: str, writers: list[int], changes: int, count: int) -> dict[str, object]:
    if backend == "memory":
        url, env, server = "memory", {}, None
        store = ObjectStore.in_memory()
    else:
        from registry_pipeline_tests.s3_tests._server import SeaweedServer, find_weed

        weed = find_weed()
        if weed is None:
            raise SystemExit("the SeaweedFS `weed` binary is not installed (dev extra)")
        server = SeaweedServer.start(weed)
        url, env = "s3://registry-bench/ws", server.env()
        store = ObjectStore.open(parse_store_url(url), env)
        store.put("made-by-bench", b"")
    try:
        rows = [contention(url, env, w, changes) for w in writers]
        with tempfile.TemporaryDirectory() as work:
            published_row = folders(store, count, Path(work))
    finally:
        if server is not None:
            server.stop()
    return {"backend": backend, "pointer_changes": rows, "folders": published_row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("s3", "memory", "both"), default="both")
    parser.add_argument("--writers", default="1,8,64")
    parser.add_argument("--changes", type=int, default=256)
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ("memory", "s3") if args.backend == "both" else (args.backend,)
    writers = [int(w) for w in args.writers.split(",")]
    results = [run(b, writers, args.changes, args.folders) for b in backends]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for result in results:
        print(f"## {result['backend']}")
        print("| writers | changes | changes/s | lost races/change | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|")
        for row in result["pointer_changes"]:  # type: ignore[attr-defined]
            cells = ("writers", "changes", "changes_per_s", "lost_races_per_change", "p50_ms")
            print("| " + " | ".join(str(row[c]) for c in (*cells, "p99_ms")) + " |")
        print(f"folders: {result['folders']}")


if __name__ == "__main__":
    main()
