"""The canon state (`clean`, `dirty`, `unknown`): unknown is never reported as clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.builders.drift_signals import (
    V01_ARTIFACT,
    build_drift_signals,
    canon_notes,
)
from registry_pipeline.core.builders.system_health import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    SUMMARY_ARTIFACT,
)
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests.core_tests.builders.test_drift_health_builders import (
    _health,
    _inputs,
    drift_detail,
    drift_v01,
)

REPO = Path(__file__).resolve().parents[3]
DRIFT_ID = "urn:registry-pipeline:schema:drift_signals_v0_1"
SUMMARY_ID = "urn:registry-pipeline:schema:system_health_summary_v0_1"
UNKNOWN_WORDS = "git state unknown"

STATES = [
    # (git_commit, working_tree_state, canon_dirty, canon_state)
    ("c" * 40, "clean", False, "clean"),
    ("c" * 40, "dirty", True, "dirty"),
    (None, "clean", False, "clean"),  # a repository with no commit yet: its tree is known
    (None, None, True, "unknown"),  # git absent, or no repository
    ("c" * 40, None, True, "unknown"),  # git answered HEAD, not the tree
]


def _v01(commit: str | None, state: str | None) -> dict[str, Any]:
    return drift_v01(build_drift_signals(**_inputs(git_commit=commit, working_tree_state=state)))


@pytest.mark.parametrize(("commit", "state", "dirty", "canon"), STATES)
def test_the_canon_state_is_what_git_said_and_unknown_is_never_clean(
    commit: str | None, state: str | None, dirty: bool, canon: str
) -> None:
    v01 = _v01(commit, state)
    assert v01["git_commit"] == commit and v01["working_tree_state"] == state  # seed fields
    assert v01["system_drift"]["canon_dirty"] is dirty
    assert v01["system_drift"]["canon_state"] == canon
    unknown = [w for w in v01["warnings"] if w.startswith("canon_state:")]
    assert unknown == (["canon_state:unknown"] if canon == "unknown" else [])
    assert SchemaCatalog.for_workspace(REPO).validate(DRIFT_ID, v01) == []


def test_the_seed_keys_keep_their_order_and_canon_state_follows_canon_dirty() -> None:
    assert list(_v01("c" * 40, "clean")["system_drift"]) == [
        "canon_dirty", "canon_state", "schema_drift", "threshold_drift",
        "threshold_drift_computed",
    ]  # fmt: skip


def test_an_unknown_state_is_said_in_words_once() -> None:
    [note] = canon_notes(_v01(None, None))
    assert note.startswith(UNKNOWN_WORDS)
    assert "git_commit" in note and "not known to be clean" in note
    assert canon_notes(_v01("c" * 40, "clean")) == []
    assert canon_notes(_v01("c" * 40, "dirty")) == []
    assert canon_notes({"system_drift": {"canon_dirty": False}}) == []  # sealed before canon_state


def test_a_day_without_history_has_an_unknown_canon_state() -> None:
    v01 = drift_v01(
        build_drift_signals(as_of="2026-03-01T23:59:59Z", unknown="no active run_registry then")
    )
    assert v01["system_drift"]["canon_state"] == "unknown"
    assert v01["system_drift"]["canon_dirty"] is True


def test_the_health_report_says_unknown_with_why_never_no() -> None:
    drift = build_drift_signals(**_inputs(git_commit=None, working_tree_state=None))
    files = _health(drift_v01=drift_v01(drift), drift_detail=drift_detail(drift))
    markdown = files[MARKDOWN_ARTIFACT].decode()
    page = files[HTML_ARTIFACT].decode()
    assert "canon_dirty: no" not in markdown and "canon_dirty: yes" not in markdown
    assert f"canon_dirty: unknown ({UNKNOWN_WORDS}" in markdown
    assert f"canon_dirty: unknown ({UNKNOWN_WORDS}" in page
    summary = json.loads(files[SUMMARY_ARTIFACT])
    assert summary["system_drift"]["canon_state"] == "unknown"
    assert SchemaCatalog.for_workspace(REPO).validate(SUMMARY_ID, summary) == []


@pytest.mark.parametrize(("state", "shown"), [("clean", "no"), ("dirty", "yes")])
def test_the_health_report_says_a_known_state_as_before(state: str, shown: str) -> None:
    drift = build_drift_signals(**_inputs(working_tree_state=state))
    markdown = _health(drift_v01=drift_v01(drift), drift_detail=drift_detail(drift))[
        MARKDOWN_ARTIFACT
    ]
    assert f"canon_dirty: {shown}" in markdown.decode()


def test_a_report_of_drift_sealed_before_canon_state_reads_canon_dirty() -> None:
    v01 = _v01("c" * 40, "dirty")
    del v01["system_drift"]["canon_state"]
    drift = build_drift_signals(**_inputs(working_tree_state="dirty"))
    markdown = _health(drift_v01=v01, drift_detail=drift_detail(drift))[MARKDOWN_ARTIFACT]
    assert "canon_dirty: yes" in markdown.decode()


@pytest.mark.reference
@pytest.mark.parametrize(("commit", "state", "dirty", "canon"), STATES)
def test_every_canon_state_passes_the_seed_schema(
    reference: Path, commit: str | None, state: str | None, dirty: bool, canon: str
) -> None:
    """`canon_dirty` stays a boolean; `canon_state` sits where the seed's schema allows more."""
    from jsonschema import Draft202012Validator

    seed = json.loads((reference / "schemas/REGISTRY_drift_signals_v0_1.schema.json").read_text())
    document = json.loads(
        build_drift_signals(**_inputs(git_commit=commit, working_tree_state=state)).files[
            V01_ARTIFACT
        ]
    )
    assert [e.message for e in Draft202012Validator(seed).iter_errors(document)] == []
