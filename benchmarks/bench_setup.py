"""(s) Set-up: `make run` on a fresh clone, with uv and with the pip fallback; `make test` once.

Each contender runs `make run` in its own fresh clone of this repository (`git clone`, then the
work tree's uncommitted changes copied over and committed in the clone, so that what is measured
is what would be committed; `--committed` skips that). The installers' caches are private folders
of the benchmark: "cold" is an empty cache (a machine that never installed the project), "warm"
the same cache again (a second clone on the same machine). The figures: the wall time of `make
run`, the part of it that installing took (the installer's own `installed in N s` line), and the
lines `make run` printed (stdout and stderr together, as a person sees them). `--make-test` also
times `make test` once, in a clone whose venv `make run` made (the suite takes minutes).

    .venv/bin/python benchmarks/bench_setup.py                  # uv and pip, cold and warm
    .venv/bin/python benchmarks/bench_setup.py --only uv --make-test
    .venv/bin/python benchmarks/bench_setup.py --baseline 2d00cdd  # also that commit's Makefile

On this machine pip also reads the local wheel folders of its own configuration (pip.conf's
find-links and extra indexes): pip's "cold" figure is a lower bound of a fresh machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    ROOT,
    BenchError,
    Measurement,
    Report,
    Sample,
    Target,
    remove_tree,
    run_quiet,
)

RUN_TARGET_S = 60.0
TEST_TARGET_S = 300.0
INSTALLED = re.compile(r"^installed in ([0-9.]+) s$", re.MULTILINE)
PYTEST_SUMMARY = re.compile(r"^=+ (.*\b(passed|failed)\b.*) in [0-9.]+s.*=+$", re.MULTILINE)
# Contenders: (label, installer, cache folder); the first to use a cache folder finds it empty.
CONTENDERS = (
    ("uv, cold cache", "uv", "uv"),
    ("uv, warm cache", "uv", "uv"),
    ("pip, cold cache", "pip", "pip"),
    ("pip, warm cache", "pip", "pip"),
)


@dataclass
class Outcome:
    """One timed `make` call: wall time, exit code, its output."""

    seconds: float
    code: int
    output: str

    @property
    def lines(self) -> int:
        """Lines printed."""
        return len(self.output.splitlines())

    @property
    def install_seconds(self) -> float | None:
        """What the installer reported (`installed in N s`), when it ran."""
        match = INSTALLED.search(self.output)
        return float(match.group(1)) if match else None


def fresh_clone(dest: Path, committed: bool) -> Path:
    """`git clone` of this repository into `dest`, with the work tree's changes unless
    `committed`: modified, added and untracked (not ignored) files copied over, deleted ones
    removed."""
    run_quiet(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)])
    if committed:
        return dest
    changed = run_quiet(["git", "-C", str(ROOT), "diff", "--name-only", "-z", "HEAD"])
    changed += run_quiet(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--others", "--exclude-standard"]
    )
    for name in filter(None, changed.split("\0")):
        source, target = ROOT / name, dest / name
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode & 0o777)
        elif target.exists():
            target.unlink()
    # Committed in the clone, as they would be: tools that read git (pre-commit's try-repo in the
    # tests) see them too.
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    run_quiet(["git", "-C", str(dest), "add", "-A"])
    run_quiet(["git", "-C", str(dest), *identity, "commit", "-q", "--no-verify", "-m", "work tree"])
    return dest


def clean_env(caches: Path, installer: str) -> dict[str, str]:
    """The caller's environment without this venv, the workspace variables or pytest's worker
    variables, with the installers' caches in `caches` and the installer chosen."""
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "REGISTRY_WORKSPACE", "DAGSTER_HOME")
        and not key.startswith(("PYTEST_", "UV_CACHE", "PIP_CACHE"))
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["UV_CACHE_DIR"] = str(caches / "uv")
    env["PIP_CACHE_DIR"] = str(caches / "pip")
    env["INSTALLER"] = installer
    return env


def make(clone: Path, target: str, env: dict[str, str]) -> Outcome:
    """`make TARGET` in `clone`, timed, stdout and stderr together as a terminal shows them."""
    started = time.perf_counter()
    done = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return Outcome(time.perf_counter() - started, done.returncode, done.stdout)


def checked_run(clone: Path, env: dict[str, str], name: str) -> Outcome:
    """`make run`, which must exit 0 and end with every active folder passing."""
    outcome = make(clone, "run", env)
    if outcome.code != 0 or not re.search(r"\b0 FAIL$", outcome.output.rstrip()):
        raise BenchError(f"make run ({name}) exited {outcome.code}: {outcome.output[-3000:]}")
    return outcome


def baseline_makefile(clone: Path, revision: str) -> None:
    """The Makefile of `revision` in place of the clone's (the set-up as it was)."""
    old = run_quiet(["git", "-C", str(ROOT), "show", f"{revision}:Makefile"])
    (clone / "Makefile").write_text(old, encoding="utf-8")


def time_make_run(
    work: Path, committed: bool, only: Sequence[str], repeat: int, baseline: str | None
) -> tuple[list[Measurement], dict[str, Any]]:
    """Every contender, `repeat` times each, each time in a new clone (new caches per round)."""
    rows: dict[str, Measurement] = {}
    details: dict[str, Any] = {}
    plan = [c for c in CONTENDERS if c[1] in only]
    if baseline:
        plan.append((f"pip, Makefile of {baseline}, cold cache", "pip", "baseline"))
    for attempt in range(repeat):
        for number, (label, installer, cache) in enumerate(plan):
            clone = fresh_clone(work / f"clone_{attempt}_{number}", committed)
            if cache == "baseline":
                baseline_makefile(clone, str(baseline))
            env = clean_env(work / f"caches_{attempt}_{cache}", installer)
            print(f"[setup] make run: {label} ...", flush=True)
            outcome = checked_run(clone, env, label)
            remove_tree(clone)
            row = rows.setdefault(
                label, Measurement("`make run`, fresh clone", label, ours=cache != "baseline")
            )
            row.samples.append(Sample(outcome.seconds))
            detail = details.setdefault(label, {"runs": [], "output": outcome.output})
            detail["runs"].append(
                {
                    "wall_s": round(outcome.seconds, 2),
                    "install_s": outcome.install_seconds,
                    "lines": outcome.lines,
                }
            )
            print(
                f"[setup]   {outcome.seconds:.1f} s (installing: {outcome.install_seconds} s), "
                f"{outcome.lines} lines",
                flush=True,
            )
    return list(rows.values()), details


def time_make_test(work: Path, committed: bool) -> tuple[Measurement, dict[str, Any]]:
    """`make test` once, in a fresh clone whose venv `make run` made first (warm uv cache)."""
    clone = fresh_clone(work / "clone_make_test", committed)
    env = clean_env(work / "caches_make_test", "uv")
    checked_run(clone, env, "before make test")
    print("[setup] make test (minutes) ...", flush=True)
    outcome = make(clone, "test", env)
    summary = PYTEST_SUMMARY.search(outcome.output)
    if outcome.code != 0:
        tail = outcome.output[-4000:]
        print(f"[setup] make test exited {outcome.code}:\n{tail}", flush=True)
    row = Measurement("`make test`, fresh clone", "uv, venv from `make run`", ours=True)
    row.samples.append(Sample(outcome.seconds))
    remove_tree(clone)
    return row, {
        "wall_s": round(outcome.seconds, 1),
        "exit": outcome.code,
        "pytest": summary.group(1) if summary else None,
    }


def run(
    work: Path,
    quick: bool,
    repeat: int,
    *,
    only: Sequence[str] = ("uv", "pip"),
    committed: bool = False,
    with_make_test: bool = False,
    baseline: str | None = None,
) -> Report:
    """Time `make run` per contender (and `make test` once when asked); evaluate the targets."""
    if quick:
        only = [name for name in only if name == "uv"]
    report = Report()
    measurements, details = time_make_run(work, committed, only, repeat, baseline)
    report.measurements.extend(measurements)
    for row in measurements:
        if row.contender.startswith("uv"):
            report.targets.append(
                Target(
                    f"`make run` on a fresh clone ({row.contender}) under {RUN_TARGET_S:g} s",
                    row.median < RUN_TARGET_S,
                    f"median {row.median:.1f} s of {len(row.samples)}",
                )
            )
    if with_make_test:
        row, test_details = time_make_test(work, committed)
        report.measurements.append(row)
        details["make test"] = test_details
        report.targets.append(
            Target(
                f"`make test` on a fresh clone under {TEST_TARGET_S:g} s",
                test_details["exit"] == 0 and row.median < TEST_TARGET_S,
                f"{row.median:.0f} s, exit {test_details['exit']}: {test_details['pytest']}",
            )
        )
    report.extra["setup"] = details
    return report


def markdown(report: Report) -> str:
    """The figures as a Markdown table (for docs/benchmarks.md)."""
    details = report.extra["setup"]
    assert isinstance(details, dict)
    lines = [
        "| contender | `make run` wall (median) | of which installing | lines printed |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in report.measurements:
        runs = details.get(row.contender, {}).get("runs")
        if not runs:
            continue
        installs = [r["install_s"] for r in runs if r["install_s"] is not None]
        install = f"{sorted(installs)[len(installs) // 2]:.1f} s" if installs else "-"
        lines.append(f"| {row.contender} | {row.median:.1f} s | {install} | {runs[0]['lines']} |")
    if "make test" in details:
        test = details["make test"]
        lines += ["", f"`make test` on a fresh clone: {test['wall_s']} s ({test['pytest']})."]
    lines += ["", *(f"- {t.status} {t.name}: {t.detail}" for t in report.targets)]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--only", action="append", choices=("uv", "pip"), help="installers to time (both)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (1)")
    parser.add_argument("--make-test", action="store_true", help="also time `make test` once")
    parser.add_argument("--baseline", metavar="REV", help="also time the Makefile of REV (pip)")
    parser.add_argument(
        "--committed", action="store_true", help="clone HEAD as is (no uncommitted changes)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the clones and caches")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--show-output", action="store_true", help="print each first output")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Time the set-up, print the table and the targets (and JSON); 1 when a run failed."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_setup_"))
    try:
        report = run(
            work,
            False,
            args.repeat,
            only=args.only or ("uv", "pip"),
            committed=args.committed,
            with_make_test=args.make_test,
            baseline=args.baseline,
        )
    except BenchError as exc:
        print(f"[setup] failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"[setup] kept {work}")
        else:
            remove_tree(work)
    details = report.extra["setup"]
    assert isinstance(details, dict)
    if args.show_output:
        for label, detail in details.items():
            if "output" in detail:
                print(f"\n---- make run, {label} ----\n{detail['output']}")
    print()
    print(markdown(report), end="")
    if args.json:
        print(
            json.dumps(
                {
                    "measurements": [m.as_json() for m in report.measurements],
                    "targets": [t.as_json() for t in report.targets],
                    "setup": {
                        k: {kk: vv for kk, vv in v.items() if kk != "output"}
                        for k, v in details.items()
                    },
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
