"""The demo workspace on the local filesystem and on a real S3 server (SeaweedFS on 127.0.0.1),
side by side: a forced build (every registry built, sealed, checked, promoted), a command on a
second checkout that fetches what the build published (`registry pointers verify` after it),
and the same command when there is nothing new. Each figure is a whole `registry` process, the
two backends in turn, and the median of --rounds.

    .venv/bin/python benchmarks/bench_workspace_store.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from registry_pipeline_tests._helpers import copy_demo  # noqa: E402


def registry(root: Path, env: dict[str, str], *args: str) -> float:
    """Seconds one `registry ARGS --workspace ROOT` process took; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", *args, "--workspace", str(root)],
        env=env, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from registry_pipeline_tests.s3_tests._server import SeaweedServer, find_weed

    weed = find_weed()
    if weed is None:
        raise SystemExit("the SeaweedFS `weed` binary is not installed (dev extra)")
    server = SeaweedServer.start(weed)
    base = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_STORE", "DAGSTER_HOME")}
    base["REGISTRY_BUILD_IN_PROCESS"] = "1"  # the backends compared, not Dagster's run launch
    s3 = {**base, **server.env(), "REGISTRY_STORE": "s3://registry-bench/ws"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            roots = {}
            for name in ("local", "s3", "s3-other"):
                (Path(tmp) / name).mkdir()
                roots[name] = copy_demo(Path(tmp) / name)
            from registry_pipeline.core.objstore import ObjectStore, parse_store_url

            ObjectStore.open(parse_store_url("s3://registry-bench"), server.env()).put("x", b"")
            registry(roots["local"], base, "build")
            registry(roots["s3"], s3, "build")
            figures: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                figures.setdefault("build --force, local", []).append(
                    registry(roots["local"], base, "build", "--force"))  # fmt: skip
                figures.setdefault("build --force, S3", []).append(
                    registry(roots["s3"], s3, "build", "--force"))  # fmt: skip
                figures.setdefault("pointers verify, another checkout, after a build (S3)",
                                   []).append(registry(roots["s3-other"], s3, "pointers",
                                                       "verify"))  # fmt: skip
                figures.setdefault("pointers verify, nothing new (S3)", []).append(
                    registry(roots["s3-other"], s3, "pointers", "verify"))  # fmt: skip
                figures.setdefault("pointers verify, local", []).append(
                    registry(roots["local"], base, "pointers", "verify"))  # fmt: skip
            report = {name: round(statistics.median(values), 3) for name, values in figures.items()}
            print(json.dumps({"rounds": args.rounds, "median_seconds": report}, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
