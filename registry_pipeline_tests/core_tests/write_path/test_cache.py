"""The parse cache is as strict as parsing: a stored splice equals a full parse, a hit too."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.write_path.cache import CACHE_RELPATH, MIN_BYTES, load
from registry_pipeline.core.write_path.content import parse_file

REPO = Path(__file__).resolve().parents[3]
TYPES = "modules/overview/type_registry.yaml"


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """The example workspace with a module type list large enough to be cached."""
    root = tmp_path / "ws"
    shutil.copytree(REPO / "examples" / "module-registries", root)
    path = root / TYPES
    head, rest = path.read_text(encoding="utf-8").split("module_types:\n", 1)
    grown = "".join(
        f"  # type {i}\n  - type_id: t_{i:04d}\n    name: Type {i}\n"
        f"    description: Generated type {i}.\n    status: active\n\n"
        for i in range(0, 1600, 2)
    )
    path.write_text(head + "module_types:\n" + grown + rest, encoding="utf-8")
    assert path.stat().st_size >= MIN_BYTES
    return root


def _type(key: str, note: str) -> dict[str, object]:
    return {"type_id": key, "name": note, "description": f"{note}.", "status": "active"}


def test_the_entry_stored_after_each_write_equals_a_full_parse(big: Path) -> None:
    rng = random.Random(7)
    workspace = Workspace(big)
    keys = [f"t_{rng.randrange(1600):04d}" for _ in range(12)] + ["a_first", "zz_last"]
    for step, key in enumerate(keys):
        result = add_entry(workspace, "module_type", _type(key, f"Step {step}"))
        assert result.written
        data = (big / TYPES).read_bytes()
        cached = load(big / CACHE_RELPATH, TYPES, data, "/module_types")
        assert cached is not None, f"step {step}: nothing stored for the new bytes"
        fresh = parse_file(TYPES, data, "/module_types")
        assert cached.document == fresh.document, f"step {step} ({key})"
        assert cached.spans == fresh.spans, f"step {step} ({key})"


def test_a_cached_parse_is_used_and_a_changed_file_is_parsed_again(big: Path) -> None:
    workspace = Workspace(big)
    add_entry(workspace, "module_type", _type("t_0001", "One"))
    path = big / TYPES
    edited = path.read_text(encoding="utf-8").replace("name: One", "name: One by hand")
    path.write_text(edited, encoding="utf-8")  # a hand edit: new bytes, no cache entry
    assert load(big / CACHE_RELPATH, TYPES, path.read_bytes(), "/module_types") is None
    result = add_entry(workspace, "module_type", _type("t_0003", "Three"))
    assert result.written
    text = path.read_text(encoding="utf-8")
    assert "name: One by hand" in text and "type_id: t_0003" in text


@pytest.mark.parametrize("spans", [[1], [["a", "b"]], [[1, 2, 3]], "spans", {"a": 1}])
def test_an_entry_whose_spans_are_no_pairs_of_numbers_is_a_miss(big: Path, spans: object) -> None:
    """The cache is a file anyone may edit: an entry that is JSON but not what `store` keeps is
    parsed again, never INTERNAL."""
    workspace = Workspace(big)
    add_entry(workspace, "module_type", _type("t_0001", "One"))
    data = (big / TYPES).read_bytes()
    (cache,) = (big / CACHE_RELPATH).glob("*.json")
    document = json.loads(cache.read_bytes())
    (entry,) = document["entries"].values()
    entry["payload"]["spans"] = spans
    cache.write_text(json.dumps(document))
    assert load(big / CACHE_RELPATH, TYPES, data, "/module_types") is None
    assert add_entry(workspace, "module_type", _type("t_0003", "Three")).written
