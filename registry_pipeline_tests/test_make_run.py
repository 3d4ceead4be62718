"""`make run`'s own commands (read from the Makefile) through a typo and its fix: one mistake in
a hand-edited registry fails the build, and the first run after the fix is green again. And what
comes before them: the lock that `make` installs from covers pyproject.toml's dependencies, and
the install step runs exactly when the venv is older than what it is made from."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from registry_pipeline_tests._helpers import copy_demo

REPO = Path(__file__).resolve().parents[1]
EXPECTED = Path("registries/expected_versions/EXPECTED_VERSIONS_v0_1.json")
LOCK = REPO / "requirements.lock"


def _make_run_commands() -> list[str]:
    """The recipe of the Makefile's `run` target, `$(BIN)/` resolved to this venv."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe is not None
    bin_dir = Path(sys.executable).parent
    return [line.strip().replace("$(BIN)", str(bin_dir)) for line in recipe.group(1).splitlines()]


def _make_run(root: Path) -> list[tuple[str, int, str]]:
    """Each command of `make run` in `root` as make would (stopping at the first failure)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    results = []
    for command in _make_run_commands():
        done = subprocess.run(
            ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600
        )
        results.append((command, done.returncode, done.stdout + done.stderr))
        assert "Traceback" not in done.stdout + done.stderr
        if done.returncode != 0:
            break
    return results


def test_the_makefile_runs_the_commands_this_test_runs() -> None:
    commands = [command.split("/")[-1] for command in _make_run_commands()]
    assert commands == ["registry init .", "registry build", "registry validate --active"]


Made = tuple[Path, list[tuple[str, int, str]]]


@pytest.fixture(scope="module")
def made_once(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """`make run` in a clone of the demo (a git repository ignoring what this one ignores),
    once: the folder and each command's (command, exit code, output). Tests take a copy."""
    root = copy_demo(tmp_path_factory.mktemp("make_run"))
    shutil.copy(REPO / ".gitignore", root / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root, _make_run(root)


def test_a_typo_and_its_fix_leave_make_run_green(made_once: Made, tmp_path: Path) -> None:
    made, results = made_once  # a first `make run`, green
    assert all(code == 0 for _, code, _ in results)
    root = tmp_path / "demo"
    shutil.copytree(made, root, symlinks=True)
    source = root / EXPECTED
    good = source.read_bytes()
    source.write_bytes(good.replace(b"}", b"", 1))  # the typo: a brace lost

    broken = _make_run(root)
    command, code, output = broken[-1]
    assert command.endswith("registry build") and code == 1
    assert "BAD_SOURCE" in output and str(EXPECTED) in output and "JSON_INVALID" in output

    source.write_bytes(good)  # the fix
    fixed = _make_run(root)
    assert [code for _, code, _ in fixed] == [0, 0, 0], fixed[-1][2]
    assert "0 FAIL" in fixed[-1][2]
    all_folders = subprocess.run(
        [str(Path(sys.executable).parent / "registry"), "validate", "--all"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert all_folders.returncode == 0, all_folders.stdout  # the typo sealed nothing


def _locked() -> dict[str, tuple[Requirement, list[str]]]:
    """requirements.lock: each pinned requirement (with its marker) and its hashes, by name."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[Requirement, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = (part.strip() for part in line.split("--hash="))
        requirement = Requirement(spec)
        pins[canonicalize_name(requirement.name)] = (requirement, hashes)
    return pins


def _declared() -> list[Requirement]:
    """Every dependency of pyproject.toml: the package's own and those of every extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(line) for group in (project["dependencies"], *extras) for line in group]


def test_the_lock_pins_every_declared_dependency_within_its_range_with_hashes() -> None:
    pins = _locked()
    assert len(pins) > 50
    for requirement, hashes in pins.values():
        (specifier,) = requirement.specifier  # exactly one `==` pin
        assert specifier.operator == "==", requirement
        assert hashes and all(h.startswith("sha256:") for h in hashes), requirement
    for wanted in _declared():
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{wanted} is not in requirements.lock: run `make lock`"
        pinned = next(iter(pins[name][0].specifier)).version
        assert wanted.specifier.contains(pinned, prereleases=True), (wanted, pinned)


def test_this_environment_holds_the_locked_versions() -> None:
    """What the tests run on is what the lock says (the install is from the lock, not a resolve)."""
    wrong = []
    for name, (requirement, _hashes) in _locked().items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # another platform's dependency
        pinned = next(iter(requirement.specifier)).version
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "absent"
        if installed != pinned:
            wrong.append(f"{name}: {installed}, locked {pinned}")
    assert not wrong, "the venv differs from requirements.lock (run `make`):\n" + "\n".join(wrong)


def _dry_run(root: Path) -> list[str]:
    """What `make run` would execute in `root` (`make -n`), one command a line."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "run"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not on PATH")
def test_make_installs_when_the_venv_is_older_than_its_sources(tmp_path: Path) -> None:
    sources = ("Makefile", "pyproject.toml", "requirements.lock", ".ci/install")
    for name in sources:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    install = "bash .ci/install python3"
    assert _dry_run(tmp_path)[0] == install  # no venv yet

    stamp = tmp_path / ".venv" / ".installed"
    stamp.parent.mkdir()
    stamp.write_text("uv\n")
    newest = max((tmp_path / name).stat().st_mtime for name in sources)
    os.utime(stamp, (newest + 10, newest + 10))
    commands = _dry_run(tmp_path)
    assert install not in commands
    assert [command.split("/")[-1] for command in commands] == [
        "registry init .",
        "registry build",
        "registry validate --active",
    ]

    for step, name in enumerate(("requirements.lock", "pyproject.toml"), 2):
        later = newest + 10 * step  # this source changed after the install: install again
        os.utime(tmp_path / name, (later, later))
        assert _dry_run(tmp_path)[0] == install
        os.utime(stamp, (later + 5, later + 5))
        assert install not in _dry_run(tmp_path)


def test_the_install_refuses_a_python_older_than_3_11_before_making_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / ".ci").mkdir()
    shutil.copy2(REPO / ".ci" / "install", tmp_path / ".ci" / "install")
    old = tmp_path / "python2"
    old.write_text("#!/bin/sh\necho 'Python 2.7.18' >&2\nexit 1\n", encoding="utf-8")
    old.chmod(0o755)
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "install"), str(old)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "needs Python 3.11 or newer" in done.stderr and "Python 2.7.18" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_make_run_in_a_clone_warns_about_nothing(made_once: Made) -> None:
    """The demo keeps its run folders out of git (.gitignore): a choice, not something a demo
    user could act on, so `make run` says nothing about it (issue 28)."""
    _root, results = made_once
    assert [code for _, code, _ in results] == [0, 0, 0], results[-1][2]
    assert not [output for _, _, output in results if "warning" in output.lower()]
