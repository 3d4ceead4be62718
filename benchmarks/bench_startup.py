"""(c) CLI start time: `registry --help` and `registry validate RUN_FOLDER`, median of 10.

Each is timed in the environment as given and with Python's bytecode cache enabled (see
`environments`), after one untimed warm-up call. Each command also runs once under
`python -X importtime`; the benchmark asserts that neither
imports `dagster` or `pandas`, and records the slowest imports it does make.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import (
    PYTHON,
    REGISTRY,
    Measurement,
    Report,
    Target,
    remove_tree,
    run_quiet,
    run_timed,
)

CALLS = 10
TARGET_SECONDS = 0.5
FORBIDDEN = ("dagster", "pandas")
WATCHED = (
    "registry_pipeline.cli",
    "registry_pipeline.core.errors",
    "pydantic",
    "jsonschema",
    "referencing",
    "rich",
)
IMPORT_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)\s*$")


def one_folder(work: Path) -> tuple[Path, Path]:
    """A workspace holding one small sealed run folder (made by the real seal_files API)."""
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files
    from registry_pipeline.core.workspace.layout import Workspace, init_workspace

    workspace = work / "ws_startup"
    init_workspace(workspace)
    files = {"REPORT.json": b'{"status": "PASS"}\n', "data.csv": b"id,value\n1,2\n"}
    sealed = seal_files(RunStore(Workspace(workspace)), RunSpec(registry_id="startup"), files)
    return workspace, sealed.path


def imports_of(argv: list[str]) -> tuple[list[str], dict[str, float]]:
    """Top-level packages a command imports, and the cumulative import time (ms) of the
    registry_pipeline.cli package and of the WATCHED third-party packages it pulls in."""
    done = _importtime(argv)
    packages: set[str] = set()
    cumulative: dict[str, float] = {}
    for line in done.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        name = match.group(4)
        packages.add(name.split(".")[0])
        if name in WATCHED:
            cumulative[name] = max(cumulative.get(name, 0.0), int(match.group(2)) / 1000)
    return sorted(packages), cumulative


def _importtime(argv: list[str]) -> str:
    """stderr of `python -X importtime <registry script> ARGS` (the real console script)."""
    import subprocess

    done = subprocess.run(
        [PYTHON, "-X", "importtime", REGISTRY, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        run_quiet([REGISTRY, *argv])  # raises with the command's own error
    return done.stderr


def environments(work: Path) -> dict[str, dict[str, str]]:
    """The environment as given, and one where Python caches bytecode in a private folder.

    With PYTHONDONTWRITEBYTECODE=1 (set on some machines) the package's own modules, installed
    editable, are compiled from source on every start; PYTHONPYCACHEPREFIX keeps the cache
    under benchmarks/_data/ so that nothing is written next to the sources.
    """
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    as_given = "no bytecode cache" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "as given"
    return {as_given: dict(os.environ), "bytecode cached": cached}


def time_command(name: str, argv: list[str], env: dict[str, str]) -> Measurement:
    """One untimed warm-up call, then CALLS timed calls."""
    run_timed(argv, env=env)
    measurement = Measurement(f"CLI start ({CALLS} calls)", name, items=1, ours=True)
    for _ in range(CALLS):
        measurement.samples.append(run_timed(argv, env=env)[0])
    return measurement


def import_target(name: str, args: list[str]) -> tuple[Target, dict[str, object]]:
    """Assert, from `python -X importtime`, that the command imports neither dagster nor pandas."""
    packages, cumulative = imports_of(args)
    heavy = [package for package in FORBIDDEN if package in packages]
    target = Target(
        f"`{name}` imports neither dagster nor pandas",
        not heavy,
        "python -X importtime: "
        + (f"imported {', '.join(heavy)}" if heavy else "neither imported")
        + "; cumulative import times: "
        + ", ".join(f"{module} {ms:.0f} ms" for module, ms in cumulative.items()),
    )
    return target, {"forbidden_imported": heavy, "cumulative_import_ms": cumulative}


def run(work: Path, quick: bool, repeat: int) -> Report:
    """Time both commands CALLS times each, in both environments, and check what they import."""
    workspace, folder = one_folder(work)
    commands = {
        "registry --help": ["--help"],
        "registry validate RUN_FOLDER": ["validate", str(folder), "--workspace", str(workspace)],
    }
    report = Report()
    imports: dict[str, object] = {}
    for name, args in commands.items():
        for label, env in environments(work).items():
            measurement = time_command(f"{name} ({label})", [REGISTRY, *args], env)
            report.measurements.append(measurement)
            report.targets.append(
                Target(
                    f"`{name}` ({label}) under {TARGET_SECONDS:g} s",
                    measurement.median < TARGET_SECONDS,
                    f"median {measurement.median * 1000:.0f} ms of {CALLS}",
                )
            )
            print(f"[startup] {measurement.contender}: {measurement.median * 1000:.0f} ms")
        target, imports[name] = import_target(name, args)
        report.targets.append(target)
    report.extra["startup_imports"] = imports
    remove_tree(workspace)
    return report
