"""(j) `registry add-entry` into a YAML registry of 10,000 entries, coordination checks on.

The workload is the example workspace in the seed's layout (`examples/module-registries`) with
its `module_instance` list grown to 10,000 generated entries (seeded; 2.3 MB, a comment above
each entry). Each timed run adds one new instance (a new key each time, so each run writes)
through the whole process: `registry` start-up, the catalog, the strict parse of every registry
the rules read, the schema, the coordination rules, the splice and the atomic write.

- cold: the parse cache cleared before each run (a fresh clone, or the first write after a hand
  edit of the file);
- warm: the cache as the previous `add-entry` left it (the steady state of a scripted import).

Peer, in the same run: a plain `ruamel.yaml` round-trip load and dump of the same file in a
fresh process (what a script editing the file with ruamel would pay, without any check).
Target: at most 1 s wall here (warm). Median of 5 after one warm-up; peak RSS reported.

    python -m benchmarks.bench_add_entry
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import PYTHON, REGISTRY, run_timed

ENTRIES = 10_000
RUNS = 5
TARGET_SECONDS = 1.0
REPO = Path(__file__).resolve().parents[1]
INSTANCES = "modules/overview/instance_registry.yaml"


def workload(folder: Path) -> Path:
    """A copy of the example workspace whose instance list holds ENTRIES generated entries."""
    root = folder / "ws"
    shutil.copytree(REPO / "examples" / "module-registries", root)
    path = root / INSTANCES
    text = path.read_text(encoding="utf-8")
    marker = "module_instances:\n"
    head, rest = text.split(marker, 1)
    rng = random.Random(20261122)
    types = ["content_service", "data_store", "delivery_channel"]
    generated = "".join(
        f"  # generated instance {i}\n"
        f"  - module_id: gen_{i:05d}\n"
        f"    type_id: {rng.choice(types)}\n"
        f"    name: Generated {i}\n"
        f"    description: Generated module instance number {i} for the benchmark.\n"
        f"    owner: team_{rng.randrange(40)}\n"
        f"    status: active\n"
        f"    tags:\n"
        f"      - generated\n"
        for i in range(ENTRIES)
    )
    path.write_text(head + marker + generated + rest, encoding="utf-8")
    return root


def _entry(n: int) -> str:
    return json.dumps(
        {
            "module_id": f"zz_bench_{n:03d}",
            "type_id": "content_service",
            "name": f"Bench {n}",
            "description": "Added by the benchmark.",
            "owner": "bench",
            "status": "active",
        }
    )


def main() -> int:
    argparse.ArgumentParser(  # no options: --help says what it measures, and runs nothing
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = workload(Path(work))
        cache = root / ".codex" / "cache"
        counter = iter(range(1000))

        def add() -> list[str]:
            return [REGISTRY, "add-entry", "--workspace", str(root), "--type", "module_instance",
                    "--entry-json", _entry(next(counter))]  # fmt: skip

        def timed(clear: bool) -> tuple[float, int | None]:
            samples = []
            for _ in range(RUNS + 1):
                if clear:
                    shutil.rmtree(cache, ignore_errors=True)
                samples.append(run_timed(add())[0])
            samples = samples[1:]
            peaks = [s.maxrss_kb for s in samples if s.maxrss_kb is not None]
            return statistics.median(s.seconds for s in samples), max(peaks) if peaks else None

        cold = timed(clear=True)
        warm = timed(clear=False)
        peer_code = (
            "import sys; from ruamel.yaml import YAML; y = YAML(); "
            "d = y.load(open(sys.argv[1])); y.dump(d, open(sys.argv[2], 'w'))"
        )
        path = root / INSTANCES
        peer_argv = [PYTHON, "-c", peer_code, str(path), str(Path(work) / "out.yaml")]
        run_timed(peer_argv)
        peer_samples = [run_timed(peer_argv)[0] for _ in range(3)]
        peer = (
            statistics.median(s.seconds for s in peer_samples),
            max((s.maxrss_kb or 0) for s in peer_samples) or None,
        )
        size = path.stat().st_size
        text = path.read_text(encoding="utf-8")
        added = text.count("zz_bench_")
    print(f"add-entry into a YAML list of {ENTRIES} entries ({size / 1e6:.1f} MB), rules on")
    rows = (
        ("registry add-entry, warm cache", warm),
        ("registry add-entry, cold (no cache)", cold),
        ("peer: ruamel.yaml load+dump (3 runs)", peer),
    )
    for label, (seconds, peak) in rows:
        mib = f"{peak / 1024:.0f} MiB" if peak else "n/a"
        print(f"  {label:38s} {seconds:6.2f} s wall  peak {mib}")
    print(f"  entries added: {added} (each run wrote one)")
    verdict = "met" if warm[0] <= TARGET_SECONDS else "MISSED"
    print(f"  target <= {TARGET_SECONDS:.1f} s (warm): {verdict}")
    return 0 if warm[0] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
