"""`registry build` of the demo workspace with nothing changed, this checkout against another.

    .venv/bin/python benchmarks/bench_lean_build.py [--other DIR] [--repeat 5] [--json]

Each side gets its own copy of the demo workspace (`registries/`, `schemas/`, `registry init`)
and one untimed first build. Then, alternating which side goes first, each side runs
`python -m registry_pipeline build --json` in its copy, as a child process under GNU time (user +
system CPU, peak RSS), wall time by the parent. `--other DIR` is another checkout of this
repository (e.g. `git worktree add /tmp/before <commit>`): its package is put first on
`PYTHONPATH` for its side, with the same interpreter and dependencies. Every timed build must
report `success: true`. Also printed: how many `fdatasync`/`fsync` calls one build makes on each
side (`strace -f -c`, when strace is installed), and `import dagster` alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GNU_TIME = "/usr/bin/time"
BUILD = (PYTHON, "-m", "registry_pipeline", "build", "--json")


def _workspace(parent: Path, name: str) -> Path:
    root = parent / name
    root.mkdir()
    shutil.copytree(ROOT / "registries", root / "registries")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    return root


def _env(package_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    env["PYTHONPATH"] = str(package_root)
    return env


def _run(package_root: Path, workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "registry_pipeline", *args],
        cwd=workspace,
        env=_env(package_root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _timed_build(package_root: Path, workspace: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one `build --json` that must succeed."""
    command = [GNU_TIME, "-f", "%U %S %M", *BUILD]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=workspace, env=_env(package_root), capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - start
    if done.returncode != 0 or not json.loads(done.stdout)["success"]:
        said = done.stdout[-2000:] + done.stderr[-2000:]
        raise SystemExit(f"build failed in {workspace}:\n{said}")
    user, system, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(rss_kb) / 1024


def _syncs(package_root: Path, workspace: Path) -> int | None:
    strace = shutil.which("strace")
    if strace is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        subprocess.run(
            [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out.name, *BUILD],
            cwd=workspace,
            env=_env(package_root),
            capture_output=True,
            timeout=600,
            check=False,
        )
        text = Path(out.name).read_text(encoding="utf-8")
    calls = re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+\S*\s*f", text, re.M)
    return sum(int(m.group(1)) for m in calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", type=Path, help="another checkout to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sides = {"this checkout": ROOT}
    if args.other is not None:
        sides[f"other ({args.other})"] = args.other.resolve()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_lean_") as tmp:
        spaces = {}
        for index, (name, package_root) in enumerate(sides.items()):
            workspace = _workspace(Path(tmp), f"ws{index}")
            for step in (("init", "."), ("build", "--json")):
                done = _run(package_root, workspace, *step)
                if done.returncode != 0:
                    raise SystemExit(f"{name}: {' '.join(step)} failed:\n{done.stderr[-2000:]}")
            spaces[name] = workspace
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sides}
        for repetition in range(args.repeat):
            order = list(sides) if repetition % 2 == 0 else list(reversed(sides))
            for name in order:
                samples[name].append(_timed_build(sides[name], spaces[name]))
        for name in sides:
            walls = [s[0] for s in samples[name]]
            results[name] = {
                "wall_runs_s": [round(w, 2) for w in walls],
                "wall_median_s": round(statistics.median(walls), 2),
                "cpu_median_s": round(statistics.median(s[1] for s in samples[name]), 2),
                "peak_rss_mib": round(max(s[2] for s in samples[name])),
                "fsync_calls": _syncs(sides[name], spaces[name]),
            }
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import dagster"], check=True)
    results["import dagster alone"] = {"wall_s": round(time.perf_counter() - start, 2)}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, figures in results.items():
            print(f"{name}: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
