"""The core's architecture as a test: no Dagster, and subpackages that depend on each other one way;
and no module of the package imports a private module of a library.

Every import in the source is read with `ast` (module level, inside functions and under
`TYPE_CHECKING` alike), so a lazy import cannot hide a dependency. The order is the one
`registry_pipeline.core.LAYERS` writes down. The same rules, and those of the layers above the
core, are `.importlinter`'s contracts (`make lint`); the tests at the end keep them in step with
the packages and show that each one fails on a back-arrow.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_pipeline.core import LAYERS

PACKAGE = Path(__file__).resolve().parents[2] / "registry_pipeline"
TOP_LEVEL_CORE = {
    "__init__",
    "errors",
    "json_strict",
    "yaml_io",
    "jsonl",
    "fs",
    "faults",
    "lock",
    "verified",
}
"""The only modules at the top of core/: the face, the error base, strict JSON and strict YAML,
atomic file writes, the crash-injection points, the one lock and the one verified-cache: shared
primitives every room below may use."""
OUTER = ("lib", "defs", "cli", "definitions")
"""The Dagster layer and the CLI: the core never imports them."""
CONFIG = PACKAGE.parent / ".importlinter"
HOUSE = ("__main__", "cli", "definitions", "defs", "lib", "core", "_version")
"""STYLE.md's parts, top first: each imports only those after it."""


@dataclass(frozen=True)
class Edge:
    """One import: `source` (a module name) imports `target` at `path`:`line`."""

    source: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(package_dir: Path, path: Path) -> str:
    """`registry_pipeline.core.seal.hashing` for `<package_dir>/core/seal/hashing.py`."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(package_dir: Path, dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    base = package_dir.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(package_dir: Path) -> Iterator[Edge]:
    """Every import in the package's source, resolved to a module where one exists."""
    for path in sorted(package_dir.rglob("*.py")):
        source = module_name(package_dir, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Edge(source, alias.name, path, node.lineno)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    root = candidate.split(".")[0] == package_dir.name
                    target = candidate if root and _exists(package_dir, candidate) else node.module
                    yield Edge(source, target, path, node.lineno)


def _layer(module: str) -> str | None:
    """`seal` for `registry_pipeline.core.seal.anything`; None outside core's subpackages."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "core" and parts[2] in LAYERS:
        return parts[2]
    return None


def violations(package_dir: Path) -> list[str]:
    """Every import that breaks the core's rules, as `path:line: reason` (empty when clean)."""
    found: list[str] = []
    rank = {layer: index for index, layer in enumerate(LAYERS)}
    core = f"{package_dir.name}.core"
    for edge in imports(package_dir):
        if not (edge.source == core or edge.source.startswith(core + ".")):
            continue
        top = edge.target.split(".")[0]
        if top == "dagster" or top.startswith("dagster_"):
            found.append(f"{edge}: the core never imports dagster")
            continue
        if any(edge.target.startswith(f"{package_dir.name}.{outer}") for outer in OUTER):
            found.append(f"{edge}: the core never imports the Dagster layer or the CLI")
            continue
        source_layer, target_layer = _layer(edge.source), _layer(edge.target)
        if target_layer is None or source_layer == target_layer:
            continue
        if source_layer is None:
            if edge.source != core:
                found.append(f"{edge}: {edge.source} is below every subpackage")
        elif rank[target_layer] > rank[source_layer]:
            allowed = ", ".join(f"{layer}/" for layer in LAYERS[: rank[source_layer]])
            found.append(
                f"{edge}: {source_layer}/ may import only {allowed or 'errors and _json'}, "
                f"not {target_layer}/"
            )
    return found


def cycles(package_dir: Path) -> list[list[str]]:
    """Import cycles between modules of the package (each as the list of modules on it)."""
    graph: dict[str, set[str]] = {}
    prefix = package_dir.name + "."
    for edge in imports(package_dir):
        if edge.target.startswith(prefix) and edge.target != edge.source:
            graph.setdefault(edge.source, set()).add(edge.target)
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


def private(dotted: str) -> bool:
    """Whether a dotted name has a private part (`_core`; not a dunder such as `__version__`)."""
    return any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in dotted.split(".")
    )


def library_private_imports(package_dir: Path) -> list[str]:
    """Every import of a library's private module or name (`dagster._core.errors`, `from
    pydantic import _internal`), as `path:line: module imports name`; the standard library's and
    the package's own `_` modules are not a library's."""
    found: list[str] = []
    for path in sorted(package_dir.rglob("*.py")):
        source = module_name(package_dir, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != package_dir.name and top not in sys.stdlib_module_names and private(name):
                    where = path.relative_to(package_dir.parent)
                    found.append(f"{where}:{node.lineno}: {source} imports {name}")
    return found


def test_core_subpackages_depend_one_way_and_never_on_dagster() -> None:
    found = violations(PACKAGE)
    assert not found, "\n" + "\n".join(found)


def test_no_module_imports_its_own_importer() -> None:
    found = cycles(PACKAGE)
    assert not found, "\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_module_imports_a_private_module_of_a_library() -> None:
    """Dagster through its front door (STYLE.md): a need its public API does not meet is a
    question for Dagster's issues, not an import of `dagster._...`; the same for every library."""
    found = library_private_imports(PACKAGE)
    assert not found, (
        f"{len(found)} import(s) of a library's private module (use its public API instead):\n"
        + "\n".join(found)
    )


def test_core_top_level_holds_only_the_face_errors_and_json() -> None:
    core = PACKAGE / "core"
    modules = {path.stem for path in core.glob("*.py")}
    packages = {path.parent.name for path in core.glob("*/__init__.py")}
    assert modules == TOP_LEVEL_CORE
    assert packages == set(LAYERS), "a new core subpackage must take its place in LAYERS"


def test_every_subpackage_says_what_it_owns_and_must_not_import() -> None:
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / "core" / layer / "__init__.py").read_text()))
        assert doc, f"core/{layer}/__init__.py has no docstring"
        assert "import" in doc, f"core/{layer}/__init__.py does not say what it may import"


# The checker itself, on small fake packages: each rule must be able to fail.


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "registry_pipeline"
    for relpath, text in files.items():
        path = package / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [package, *[p for p in package.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    return package


@pytest.mark.parametrize(
    ("relpath", "text", "expected"),
    [
        ("core/seal/bad.py", "from registry_pipeline.core.workspace import layout\n", "seal/"),
        (
            "core/workspace/bad.py",
            "def f():\n    from registry_pipeline.core.pointers import store\n",
            "workspace/ may import only objstore/, seal/",
        ),
        ("core/pointers/bad.py", "import registry_pipeline.core.builders.registry\n", "pointers/"),
        ("core/seal/bad.py", "import dagster\n", "never imports dagster"),
        ("core/builders/bad.py", "from dagster import asset\n", "never imports dagster"),
        ("core/explain/bad.py", "from registry_pipeline.lib import build\n", "Dagster layer"),
        ("core/errors.py", "from registry_pipeline.core.seal import hashing\n", "below every"),
    ],
)
def test_checker_flags_wrong_imports(
    tmp_path: Path, relpath: str, text: str, expected: str
) -> None:
    package = _fake_package(
        tmp_path,
        {
            "core/seal/hashing.py": "",
            "core/workspace/layout.py": "from registry_pipeline.core.seal import hashing\n",
            "core/pointers/store.py": "",
            "core/builders/registry.py": "",
            "lib/build.py": "",
            relpath: text,
        },
    )
    found = violations(package)
    assert len(found) == 1, found
    assert relpath in found[0] and expected in found[0]


def test_checker_accepts_downward_imports(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "core/seal/hashing.py": "from registry_pipeline.core.errors import E\n",
            "core/workspace/layout.py": "from registry_pipeline.core.seal import hashing\n",
            "core/builders/registry.py": "from registry_pipeline.core.workspace.layout import W\n",
            "lib/build.py": "import dagster\nfrom registry_pipeline.core.builders import b\n",
        },
    )
    assert violations(package) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("from dagster._core.errors import DagsterError\n", "dagster._core.errors.DagsterError"),
        ("def f():\n    import dagster._core.instance.ref\n", "dagster._core.instance.ref"),
        ("from dagster import _check\n", "dagster._check"),
        ("from dagster_shared._x import y\n", "dagster_shared._x.y"),
        ("from pydantic._internal import _fields\n", "pydantic._internal._fields"),
        ("from sqlalchemy.engine import _private_name\n", "sqlalchemy.engine._private_name"),
    ],
)
def test_checker_flags_a_librarys_private_module(tmp_path: Path, text: str, name: str) -> None:
    package = _fake_package(tmp_path, {"lib/bad.py": text})
    line = text.count("\n")  # the import is on the last line
    assert library_private_imports(package) == [
        f"registry_pipeline/lib/bad.py:{line}: registry_pipeline.lib.bad imports {name}"
    ]


def test_checker_accepts_public_stdlib_and_own_private_modules(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "lib/fine.py": (
                "from __future__ import annotations\n"
                "import dagster as dg\n"
                "from dagster_postgres.utils import pg_url_from_config\n"
                "from dagster_postgres.version import __version__\n"
                "import _thread\n"
                "from importlib import _bootstrap\n"
                "from registry_pipeline.cli import _output\n"
                "from registry_pipeline import _version\n"
            ),
        },
    )
    assert library_private_imports(package) == []


def test_checker_finds_a_circle_of_three(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "core/builders/a.py": "from registry_pipeline.core.builders import b\n",
            "core/builders/b.py": "from registry_pipeline.core.builders.c import run\n",
            "core/builders/c.py": "def run():\n    from registry_pipeline.core.builders import a\n",
        },
    )
    assert cycles(package) == [
        [
            "registry_pipeline.core.builders.a",
            "registry_pipeline.core.builders.b",
            "registry_pipeline.core.builders.c",
        ]
    ]


def test_the_public_face_still_exports_every_documented_name() -> None:
    """The face's names, pinned: a name leaves it only by a change that says so (issue 42 folded
    `SealValidationError` into `RegistryError` with the code SEAL_INVALID)."""
    import registry_pipeline.core as core

    assert sorted(core.__all__) == [
        "FolderReport", "ManifestEntry", "Problem", "ReasonCode", "RegistryError", "RunSpec",
        "RunStore", "SealedRef", "SealedRun", "UsageError", "Workspace", "init_workspace",
        "inspect_run_folder", "is_valid_run_folder", "root_sha256", "seal_files",
        "verify_run_folder",
    ]  # fmt: skip
    for name in core.__all__:
        assert getattr(core, name) is not None, name


# The import-linter contracts (`.importlinter`, run by `make lint`).


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    assert parser.read(CONFIG, encoding="utf-8"), f"{CONFIG} is missing"
    prefix = "importlinter:contract:"
    return {name.removeprefix(prefix): parser[name] for name in parser if name.startswith(prefix)}


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.strip().splitlines() if line.strip()]


def test_the_house_contract_places_every_top_level_module_as_style_md_does() -> None:
    house = _contracts()["house"]
    on_disk = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    on_disk |= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert tuple(_lines(house["layers"])) == HOUSE
    assert set(HOUSE) == on_disk, "a new top-level module must take its place in the house"
    assert house.getboolean("exhaustive")


def test_the_core_contract_follows_layers_and_names_every_subpackage() -> None:
    core = _contracts()["core-subpackages"]
    bottom, *layers = reversed(_lines(core["layers"]))
    packages = {path.parent.name for path in (PACKAGE / "core").glob("*/__init__.py")}
    assert {name.strip() for name in bottom.split(":")} == TOP_LEVEL_CORE - {"__init__"}
    assert set(layers) == packages
    assert [layer for layer in layers if layer in LAYERS] == list(LAYERS)
    assert core.getboolean("exhaustive")


def test_a_private_contract_lists_every_underscore_module_of_each_folder() -> None:
    """Private means private: each folder with `_` modules has a contract allowing them to be
    imported only inside it, listing exactly its `_` modules on disk."""
    on_disk: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("_*.py"):
        if path.name in ("__init__.py", "__main__.py") or path == PACKAGE / "_version.py":
            continue
        folder = module_name(PACKAGE, path.parent / "__init__.py")
        on_disk.setdefault(folder, set()).add(module_name(PACKAGE, path))
    declared = {
        _lines(contract["allowed_importers"])[0]: set(_lines(contract["protected_modules"]))
        for name, contract in _contracts().items()
        if name.startswith("private-")
    }
    assert declared == on_disk


def test_the_dagster_contract_forbids_every_installed_dagster_package() -> None:
    forbidden = set(_lines(_contracts()["core-without-dagster"]["forbidden_modules"]))
    installed = {
        module.name
        for module in pkgutil.iter_modules()
        if module.name == "dagster" or module.name.startswith("dagster_")
    }
    assert "dagster" in installed
    assert installed <= forbidden, sorted(installed - forbidden)


def test_the_private_dagster_contract_names_every_private_package_installed() -> None:
    """import-linter sees into Dagster's packages only as root packages (see `.importlinter`):
    every Dagster package the package imports is one, and the contract forbids exactly the
    private packages and modules they have on disk."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    roots = set(_lines(parser["importlinter"]["root_packages"])) - {PACKAGE.name}
    imported = {edge.target.split(".")[0] for edge in imports(PACKAGE)}
    dagsters = {top for top in imported if top == "dagster" or top.startswith("dagster_")}
    assert dagsters <= roots, sorted(dagsters - roots)
    installed: set[str] = set()
    for root in sorted(roots):
        spec = importlib.util.find_spec(root)
        assert spec is not None and spec.submodule_search_locations, f"{root} is not installed"
        modules = pkgutil.iter_modules(spec.submodule_search_locations)
        installed |= {f"{root}.{module.name}" for module in modules if private(module.name)}
    contract = _contracts()["no-private-dagster"]
    assert set(_lines(contract["source_modules"])) == {PACKAGE.name}
    assert set(_lines(contract["forbidden_modules"])) == installed
    assert contract.getboolean("allow_indirect_imports")  # `import dagster` reaches _core itself


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
    assert f"{len(_contracts())} kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("relpath", "text", "expected"),
    [
        (
            "lib/bad.py",
            "def f():\n    from registry_pipeline.definitions import build_definitions\n",
            "registry_pipeline.lib.bad -> registry_pipeline.definitions",
        ),
        (
            "lib/bad.py",
            "import registry_pipeline.defs.assets\n",
            "lib.bad -> registry_pipeline.defs",
        ),
        (
            "defs/bad.py",
            "from registry_pipeline.cli import main\n",
            "defs.bad -> registry_pipeline.cli",
        ),
        (
            "definitions.py",
            "import registry_pipeline.cli.main\n",
            "definitions -> registry_pipeline.cli",
        ),
        (
            "core/explain/bad.py",
            "from registry_pipeline.lib import build\n",
            "bad -> registry_pipeline.lib",
        ),
        (
            "core/seal/bad.py",
            "from registry_pipeline.core.workspace import layout\n",
            "core.seal.bad -> registry_pipeline.core.workspace.layout",
        ),
        ("core/pointers/bad.py", "import dagster_postgres\n", "pointers.bad -> dagster_postgres"),
        ("core/newpkg/__init__.py", "", "- registry_pipeline.core.newpkg"),
        (
            "lib/bad.py",
            "def f():\n    from dagster._core.errors import DagsterError\n",
            "registry_pipeline.lib.bad -> dagster._core.errors",
        ),
        (
            "defs/bad.py",
            "import dagster._serdes\n",
            "registry_pipeline.defs.bad -> dagster._serdes",
        ),
        (
            "core/gate/bad.py",
            "from registry_pipeline.cli import _validate\n",
            "registry_pipeline.core.gate.bad -> registry_pipeline.cli._validate",
        ),
        (
            "defs/bad.py",
            "from registry_pipeline.cli._pointers import run_verify\n",
            "registry_pipeline.defs.bad -> registry_pipeline.cli._pointers",
        ),
    ],
)
def test_lint_imports_fails_on_a_back_arrow(
    tmp_path: Path, relpath: str, text: str, expected: str
) -> None:
    """A copy of the package with one wrong import (or an unplaced subpackage) breaks a contract."""
    shutil.copytree(PACKAGE, tmp_path / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / PACKAGE.name / relpath
    path.parent.mkdir(exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
    done = _lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and expected in done.stdout, done.stdout
