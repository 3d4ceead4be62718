"""The architecture: `.importlinter`'s layers hold, no import cycle, no private import from afar."""

from __future__ import annotations

import ast
import configparser
import functools
import importlib.metadata
import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = Path(__file__).resolve().parents[2] / "registry_pipeline"
CONFIG = PACKAGE.parent / ".importlinter"
TESTS = PACKAGE.parent / "registry_pipeline_tests"


def module_name(package_dir: Path, path: Path) -> str:
    """`registry_pipeline.core.seal.hashing` for `<package_dir>/core/seal/hashing.py`."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def imports(package_dir: Path) -> tuple[tuple[str, str, str], ...]:
    """Every import in the package as (importer, imported dotted name, `path:line`), read once
    per process (the real package's tests ask four times; each fake package is a new folder)."""
    return tuple(_imports(package_dir))


def _imports(package_dir: Path) -> Iterator[tuple[str, str, str]]:
    for path in sorted(package_dir.rglob("*.py")):
        source = module_name(package_dir, path)
        where = path.relative_to(package_dir.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                yield source, name, f"{where}:{node.lineno}"


def cycles(package_dir: Path) -> list[list[str]]:
    """Import cycles between modules of the package (each as the list of modules on it)."""
    graph: dict[str, set[str]] = {}
    for source, name, _ in imports(package_dir):
        if name.split(".")[0] != package_dir.name:
            continue
        base = package_dir.joinpath(*name.split(".")[1:])
        found_module = base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()
        target = name if found_module else name.rpartition(".")[0]  # `from m import f` is m
        if target != source:
            graph.setdefault(source, set()).add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private(part: str) -> bool:
    """`_core` is private, a dunder such as `__version__` is not."""
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_imports(package_dir: Path) -> list[str]:
    """Imports of a library's private name (`dagster._core`), or of ours from outside its folder."""
    found: list[str] = []
    for source, name, where in imports(package_dir):
        parts = name.split(".")
        first = next((i for i, part in enumerate(parts) if private(part)), None)
        if first is None or parts[0] in sys.stdlib_module_names:
            continue
        home = ".".join(parts[:first])
        if parts[0] != package_dir.name or not (source + ".").startswith(home + "."):
            found.append(f"{where}: {source} imports {name}")
    return found


def test_no_module_imports_its_own_importer() -> None:
    found = cycles(PACKAGE)
    assert not found, "\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_module_imports_a_private_module_from_outside_its_folder() -> None:
    found = private_imports(PACKAGE)
    assert not found, "use the public API (or a public name) instead:\n" + "\n".join(found)


def test_no_test_imports_a_librarys_private_name() -> None:
    """The tests too use Dagster and every other library through its public API (they may look
    inside our own modules: the white-box tests of a room)."""
    ours = {PACKAGE.name, TESTS.name, *sys.stdlib_module_names}
    found = [
        f"{where}: {name}"
        for _source, name, where in imports(TESTS)
        if name.split(".")[0] not in ours and any(map(private, name.split(".")))
    ]
    assert not found, "use the library's public API instead:\n" + "\n".join(found)


def test_every_library_the_package_imports_is_declared() -> None:
    """pyproject.toml names, among the package's dependencies or its `postgres` extra, the
    distribution of every library the package imports: one that only comes with another may
    leave with it."""
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    declared = {canonicalize_name(Requirement(line).name) for line in lines}
    providers = importlib.metadata.packages_distributions()
    found = sorted({
        f"{where.partition(':')[0]}: {top}"
        for _source, name, where in imports(PACKAGE)
        if (top := name.partition(".")[0]) not in {PACKAGE.name, *sys.stdlib_module_names}
        and not declared & {canonicalize_name(dist) for dist in providers.get(top, [top])}
    })  # fmt: skip
    assert not found, "declare these in pyproject.toml (then `make lock`):\n" + "\n".join(found)


def test_every_core_subpackage_says_what_it_owns_and_may_import() -> None:
    for init in sorted((PACKAGE / "core").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"{init}: no docstring saying what it may import"


def test_the_public_face_still_exports_every_documented_name() -> None:
    """A name leaves `registry_pipeline.core` only by a change that says so."""
    import registry_pipeline.core as core

    assert sorted(core.__all__) == [
        "FolderReport", "ManifestEntry", "Problem", "ReasonCode", "RegistryError", "RunSpec",
        "RunStore", "SealedRef", "SealedRun", "UsageError", "Workspace", "init_workspace",
        "inspect_run_folder", "is_valid_run_folder", "root_sha256", "seal_files",
        "verify_run_folder",
    ]  # fmt: skip


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "registry_pipeline"
    for relpath, text in files.items():
        path = package / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [package, *[p for p in package.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    return package


def test_checker_finds_a_circle_of_three(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "core/builders/a.py": "from registry_pipeline.core.builders import b\n",
            "core/builders/b.py": "from registry_pipeline.core.builders.c import run\n",
            "core/builders/c.py": "def run():\n    from registry_pipeline.core.builders import a\n",
        },
    )
    modules = ["registry_pipeline.core.builders." + name for name in "abc"]
    assert cycles(package) == [modules]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("from dagster._core.errors import DagsterError\n", "dagster._core.errors.DagsterError"),
        ("def f():\n    import dagster._core.instance.ref\n", "dagster._core.instance.ref"),
        ("from dagster import _check\n", "dagster._check"),
        ("from pydantic._internal import _fields\n", "pydantic._internal._fields"),
        ("from sqlalchemy.engine import _private_name\n", "sqlalchemy.engine._private_name"),
        ("from registry_pipeline.cli._output import out\n", "registry_pipeline.cli._output.out"),
        ("from registry_pipeline.cli import _args\n", "registry_pipeline.cli._args"),
    ],
)
def test_checker_flags_a_private_import(tmp_path: Path, text: str, name: str) -> None:
    package = _fake_package(tmp_path, {"lib/bad.py": text})
    line = text.count("\n")  # the import is on the last line
    assert private_imports(package) == [
        f"registry_pipeline/lib/bad.py:{line}: registry_pipeline.lib.bad imports {name}"
    ]


def test_checker_accepts_public_stdlib_and_own_folders_private_modules(tmp_path: Path) -> None:
    fine = (
        "import dagster as dg\n"
        "from dagster_postgres.version import __version__\n"
        "from importlib import _bootstrap\n"
        "from registry_pipeline.cli import _output\n"
        "from registry_pipeline.cli._commands import _relative\n"
        "from registry_pipeline import _version\n"
    )
    package = _fake_package(tmp_path, {"cli/_fine.py": fine, "core/fine.py": fine.splitlines()[-1]})
    assert private_imports(package) == []


def test_the_core_contract_forbids_every_installed_dagster_package() -> None:
    parser = configparser.ConfigParser()
    assert parser.read(CONFIG, encoding="utf-8")
    forbidden = parser["importlinter:contract:core-without-dagster"]["forbidden_modules"].split()
    installed = {m.name for m in pkgutil.iter_modules() if m.name.split("_")[0] == "dagster"}
    assert "dagster" in installed
    assert installed <= set(forbidden), sorted(installed - set(forbidden))


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the repository's contracts, on the package found under `root`."""
    command = [str(Path(sys.executable).with_name("lint-imports")), "--config", str(CONFIG)]
    return subprocess.run(
        [*command, "--no-cache", "--no-logo"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_lint_imports_keeps_every_contract() -> None:
    done = _lint_imports(PACKAGE.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("relpath", "text", "expected"),
    [
        (
            "lib/bad.py",
            "def f():\n    from registry_pipeline.definitions import build_definitions\n",
            "registry_pipeline.lib.bad -> registry_pipeline.definitions",
        ),
        ("defs/bad.py", "from registry_pipeline.cli import main\n", "bad -> registry_pipeline.cli"),
        (
            "core/explain/bad.py",
            "import typing\nif typing.TYPE_CHECKING:\n    from registry_pipeline.lib import b\n",
            "explain.bad -> registry_pipeline.lib",
        ),
        ("newtop.py", "", "- registry_pipeline.newtop"),
        (
            "core/seal/bad.py",
            "from registry_pipeline.core.workspace import layout\n",
            "core.seal.bad -> registry_pipeline.core.workspace.layout",
        ),
        ("core/errors.py", "from registry_pipeline.core.seal import hashing\n", "errors ->"),
        ("core/newpkg/__init__.py", "", "- registry_pipeline.core.newpkg"),
        ("core/pointers/bad.py", "import dagster_postgres\n", "pointers.bad -> dagster_postgres"),
    ],
)
def test_lint_imports_fails_on_a_back_arrow(
    tmp_path: Path, relpath: str, text: str, expected: str
) -> None:
    """A copy of the package with one wrong import (or an unplaced module) breaks a contract."""
    shutil.copytree(PACKAGE, tmp_path / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / PACKAGE.name / relpath
    path.parent.mkdir(exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
    done = _lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and expected in done.stdout, done.stdout
