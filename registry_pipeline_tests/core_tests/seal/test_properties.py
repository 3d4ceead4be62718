"""Properties of sealing: any safe tree seals and validates (random edits: test_validate_cases)."""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.manifest import RUN_JSON
from registry_pipeline.core.seal.paths import RESERVED_NAMES, fold_key, relpath_problem
from registry_pipeline.core.seal.run_store import RunStore, SealedRun
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace, init_workspace
from registry_pipeline.core.workspace.sources import plan_sources

PROPERTY_SETTINGS = settings(
    max_examples=settings().max_examples // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RESERVED_KEYS = frozenset(fold_key(name) for name in RESERVED_NAMES)
BUILTIN_SCHEMAS = SchemaCatalog.for_workspace(None)

Tree = dict[str, Any]  # name -> bytes (a file) or Tree (a folder)


def _safe_name(name: str) -> bool:
    return (
        name not in (".", "..")
        and relpath_problem(name) is None
        and len(name.encode("utf-8")) <= 120
    )


names = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"),
        min_size=1,
        max_size=12,
    )
    .map(lambda text: unicodedata.normalize("NFC", text))
    .filter(_safe_name)
)
contents = st.one_of(st.just(b""), st.binary(min_size=1, max_size=2048))


def _folder(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Tree]:
    # Unique after case folding within a folder: such twins are refused by design.
    return st.lists(
        st.tuples(names, children), min_size=1, max_size=5, unique_by=lambda pair: fold_key(pair[0])
    ).map(dict)


trees = _folder(st.recursive(contents, _folder, max_leaves=8)).filter(
    lambda tree: (
        not RESERVED_KEYS & {fold_key(name) for name in tree} and any(True for _ in _files(tree))
    )
)


def _files(tree: Tree, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from _files(value, f"{prefix}{name}/")
        else:
            yield prefix + name, value


def _write_tree(root: Path, tree: Tree) -> None:
    root.mkdir()
    for name, value in tree.items():
        if isinstance(value, dict):
            _write_tree(root / name, value)
        else:
            (root / name).write_bytes(value)


def _seal_tree(base: Path, tree: Tree) -> SealedRun:
    source = base / "source"
    _write_tree(source, tree)
    root = base / "ws"
    root.mkdir()
    init_workspace(root)
    pairs = plan_sources([source])
    with RunStore(Workspace(root)).stage(RunSpec(registry_id="prop")) as staging:
        staging.add_copies(pairs)
        return staging.publish()


@PROPERTY_SETTINGS
@given(tree=trees)
def test_any_safe_tree_seals_and_validates(tree: Tree) -> None:
    files = dict(_files(tree))
    assume(all(BUILTIN_SCHEMAS.for_artifact(relpath) is None for relpath in files))
    with tempfile.TemporaryDirectory() as tmp:
        sealed = _seal_tree(Path(tmp), tree)
        report = inspect_run_folder(sealed.path)
        assert report.ok, report.problems
        assert report.root_sha256 == sealed.root_sha256
        payload = {e.relpath: e for e in sealed.entries if e.relpath != RUN_JSON}
        assert set(payload) == set(files)
        for relpath, data in files.items():
            assert (sealed.path / relpath).read_bytes() == data
            assert payload[relpath].bytes == len(data)


def test_generated_trees_are_varied() -> None:
    """The strategy really produces nested folders, non-ASCII names and empty files."""
    seen = {"nested": False, "non_ascii": False, "empty": False}

    @settings(max_examples=100, deadline=None, database=None)
    @given(tree=trees)
    def look(tree: Tree) -> None:
        for relpath, content in _files(tree):
            seen["nested"] |= "/" in relpath
            seen["non_ascii"] |= not relpath.isascii()
            seen["empty"] |= not content

    look()
    assert all(seen.values()), seen
