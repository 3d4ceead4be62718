"""The run envelope schema: ours and the seed's valid; mutations judged as jsonschema does."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core.seal.envelope import RunSpec, SealedRef, build_envelope
from registry_pipeline.core.seal.gitstate import GitState
from registry_pipeline.core.seal.schemas import ENVELOPE_ID, SchemaCatalog
from registry_pipeline_tests.core_tests.seal.reference_engine import comparable, reference_validator

CATALOG = SchemaCatalog.for_workspace(None)


def _schema_valid(doc: Any) -> bool:
    """The reference: jsonschema itself."""
    return bool(reference_validator(CATALOG, ENVELOPE_ID).is_valid(doc))


def _compiled(doc: Any) -> bool:
    return CATALOG.is_all_valid(ENVELOPE_ID, [doc])


def _ours() -> dict[str, Any]:
    spec = RunSpec(
        registry_id="run_registry",
        operation_id="OP-QA07",
        inputs=[
            SealedRef("expected_versions", "2026-01-01__000000__expected_versions_build", "a" * 64)
        ],
    )
    git = GitState("0123456789abcdef0123456789abcdef01234567", "clean")
    return build_envelope(
        spec,
        "2026-01-02__030405__run_registry_build",
        "2026-01-02T03:04:05Z",
        git,
        ["RUN_REGISTRY_v0_1.jsonl"],
    )


SEED_STYLE = {
    "run_id": "p1_20260204_001",
    "created_utc": "2026-02-04T22:45:58Z",
    "run_type": "op_run",
    "option": "D",
    "operation_id": "OP-D07",
    "git_commit": None,
    "working_tree_state": "dirty",
    "inputs": {"symbol": "GBPUSD"},
    "outputs": ["RUN.md", "run.json"],
}


def test_envelopes_we_write_are_valid() -> None:
    assert _compiled(_ours())
    assert _schema_valid(_ours())
    assert CATALOG.validate(ENVELOPE_ID, _ours()) == []


def test_seed_style_envelopes_are_valid() -> None:
    assert _compiled(SEED_STYLE)
    assert _schema_valid(SEED_STYLE)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=70)
    | st.sampled_from(
        [
            "",
            "clean",
            "dirty",
            "OP-QA07",
            "qa07",
            "a" * 64,
            "A" * 64,
            "2026-01-02T03:04:05Z",
            "2026-01-02 03:04:05",
            "run_registry",
            "Bad Id",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "run_id",
        "created_utc",
        "run_type",
        "registry_id",
        "operation_id",
        "git_commit",
        "working_tree_state",
        "builder",
        "inputs",
        "outputs",
        "extra",
    ]
)


def _mutate(doc: dict[str, Any], path: list[str], value: Any, delete: bool) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for key in path[:-1]:
        if not isinstance(target, dict) or key not in target:
            return doc
        target = target[key]
    if isinstance(target, dict):
        if delete:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return doc


@settings(max_examples=4 * settings().max_examples, deadline=None)
@given(
    base=st.sampled_from(["ours", "seed"]),
    key=KEYS,
    nested=st.sampled_from([None, "name", "version", "registry_id", "manifest_sha256", "x"]),
    value=JSON_VALUES,
    delete=st.booleans(),
)
def test_every_mutated_envelope_gets_jsonschemas_verdict(
    base: str, key: str, nested: str | None, value: Any, delete: bool
) -> None:
    doc = _ours() if base == "ours" else json.loads(json.dumps(SEED_STYLE))
    path = [key] if nested is None else [key, nested]
    if key == "inputs" and nested is not None and isinstance(doc.get("inputs"), list):
        doc["inputs"] = [dict(ref) for ref in doc["inputs"]]
        mutated = copy.deepcopy(doc)
        if mutated["inputs"]:
            if delete:
                mutated["inputs"][0].pop(nested, None)
            else:
                mutated["inputs"][0][nested] = value
    else:
        mutated = _mutate(doc, path, value, delete)
    verdict = CATALOG.validate(ENVELOPE_ID, mutated) == []
    assert _compiled(mutated) is verdict, mutated
    if comparable(mutated):
        assert verdict is _schema_valid(mutated), mutated
