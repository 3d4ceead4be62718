"""Where a repository of the seed system keeps its registry layer, and its v0.1 catalog entries.

Default places (the seed system's own layout): the catalog
`docs/phase_2_2/REGISTRY_CATALOG_v0_1.json`; beside it its addenda
(`REGISTRY_CATALOG_ADDENDUM_v0_1__*.json`), the pointer file
(`ACTIVE_REGISTRY_POINTERS_v0_1.json`), the schemas (`schemas/REGISTRY_<id>_v0_1.schema.json`) and
the operations catalogs (`OVC_ALLOWED_OPERATIONS_CATALOG_v<version>.md`, every version found
beside it or at the repository's root: v0.2 in `docs/phase_2_2/` inherits the v0.1 at the root,
so both are read, the newer one winning an id both define) and, found the same way, the
enforcement coverage matrices (`OVC_ENFORCEMENT_COVERAGE_MATRIX_v<version>.md`) that give each
operation its coverage level. `--catalog PATH` names the catalog
when it lives elsewhere; the other files are then looked for beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.builders.operations_catalog import catalog_version_key
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

DEFAULT_CATALOG = "docs/phase_2_2/REGISTRY_CATALOG_v0_1.json"
ADDENDA = "REGISTRY_CATALOG_ADDENDUM_v0_1__*.json"
POINTER_FILE = "ACTIVE_REGISTRY_POINTERS_v0_1.json"
OPERATIONS = "OVC_ALLOWED_OPERATIONS_CATALOG_v*.md"
COVERAGE = "OVC_ENFORCEMENT_COVERAGE_MATRIX_v*.md"
REGISTRY_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class SeedLayout:
    """The files of a seed-system repository that adoption reads (never writes)."""

    root: Path
    catalog: Path
    addenda: tuple[Path, ...]
    pointer_file: Path | None
    schemas_dir: Path | None
    operations: tuple[Path, ...]
    """The operations catalogs, oldest version first (each newer one supersedes the older)."""
    coverage: tuple[Path, ...] = ()
    """The enforcement coverage matrices (each operation's C0..C5 level), oldest first."""

    def relpath(self, path: Path) -> str:
        """`path` relative to the repository's root, POSIX style."""
        return path.relative_to(self.root).as_posix()


def find_layout(root: Path, catalog: Path | None = None) -> SeedLayout:
    """The seed layout of the repository at `root`; NO_SEED_CATALOG when its catalog is absent."""
    root = root.resolve()  # one spelling of every path, so relpaths never fail (a symlinked DIR)
    path = root / (catalog or DEFAULT_CATALOG)
    if not path.is_file():
        raise UsageError(
            f"no v0.1 registry catalog at {path} (looked for {DEFAULT_CATALOG}); pass "
            "--catalog PATH to name it",
            code="NO_SEED_CATALOG",
            path=str(path),
        )
    path = path.resolve()
    if not path.is_relative_to(root):
        raise UsageError(
            "the catalog must be inside the repository being adopted",
            code="NO_SEED_CATALOG",
            path=str(path),
        )
    folder = path.parent
    pointer = folder / POINTER_FILE
    schemas = folder / "schemas"
    return SeedLayout(
        root=root,
        catalog=path,
        addenda=tuple(sorted(folder.glob(ADDENDA))),
        pointer_file=pointer if pointer.is_file() else None,
        schemas_dir=schemas if schemas.is_dir() else None,
        operations=_versions(OPERATIONS, folder, root),
        coverage=_versions(COVERAGE, folder, root),
    )


def _versions(pattern: str, *folders: Path) -> tuple[Path, ...]:
    """Every file matching `pattern` in `folders`, one per file name (the first folder's wins),
    oldest version first."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in folder.glob(pattern):
            if path.is_file() and not path.is_symlink():  # a folder or a link is no document
                found.setdefault(path.name, path)
    return tuple(sorted(found.values(), key=lambda path: catalog_version_key(path.name)))


def read_entries(layout: SeedLayout) -> list[tuple[str, dict[str, Any]]]:
    """(file relpath, entry) for every registry of the catalog, then of each addendum, in order;
    an id defined twice is CATALOG_INVALID naming both files."""
    entries: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for path in (layout.catalog, *layout.addenda):
        where = layout.relpath(path)
        try:
            document = loads_strict(path.read_bytes())
        except (OSError, JSONDecodeProblem) as exc:
            raise UsageError(
                f"cannot read: {exc}", code="CATALOG_INVALID", path=str(path)
            ) from None
        registries = document.get("registries") if isinstance(document, dict) else None
        if not isinstance(registries, list):
            raise UsageError("no `registries` array", code="CATALOG_INVALID", path=str(path))
        for index, entry in enumerate(registries):
            problem = _entry_problem(entry)
            if problem is not None:
                raise UsageError(
                    f"/registries/{index}/{problem}", code="CATALOG_INVALID", path=str(path)
                )
            registry_id = entry["registry_id"]
            if registry_id in seen:
                raise UsageError(
                    f"{registry_id!r} is defined in {seen[registry_id]} and again here",
                    code="CATALOG_INVALID",
                    path=str(path),
                )
            seen[registry_id] = where
            entries.append((where, entry))
    return entries


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with the shape of a v0.1 entry (`field: reason`), or None: what adoption
    reads must have the type it reads it as."""
    if not isinstance(entry, dict):
        return ": an entry must be a JSON object"
    registry_id = entry.get("registry_id")
    if not isinstance(registry_id, str) or not REGISTRY_ID.fullmatch(registry_id):
        return f"registry_id: not a registry id (a-z, 0-9, _, a letter first): {registry_id!r}"
    for key in ("schema_id", "artifact_type", "write_policy", "description"):
        if key in entry and not isinstance(entry[key], str):
            return f"{key}: must be a string"
    sources = entry.get("authoritative_sources", [])
    if not isinstance(sources, list):
        return "authoritative_sources: must be an array"
    for number, source in enumerate(sources):
        if not isinstance(source, dict) or not isinstance(source.get("path", ""), str):
            return f"authoritative_sources/{number}: must be an object whose path is a string"
    return None


def operation_ids(text: str) -> set[str]:
    """Every operation id a Markdown operations catalog mentions (`OP-A01`, `OP-QA11`,
    `OP-NC29`), with same-family ranges written `OP-NC01 through OP-NC29` expanded."""
    ids = set(re.findall(r"\bOP-[A-Z]+\d+\b", text))
    for family, first, last in re.findall(
        r"\bOP-([A-Z]+)(\d+)\s+(?:through|to|-|–|—)\s+OP-\1(\d+)\b", text
    ):
        width = len(first)
        ids.update(f"OP-{family}{n:0{width}d}" for n in range(int(first), int(last) + 1))
    return ids
