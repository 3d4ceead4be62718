"""A day without pointer history: every drift signal unknown, in documents both schemas accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline.core.builders.drift_signals import (
    DETAIL_ARTIFACT,
    KIND_SEVERITY,
    V01_ARTIFACT,
    build_drift_signals,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests.core_tests.builders.test_drift_health_builders import (
    drift_detail,
    drift_v01,
)

REPO = Path(__file__).resolve().parents[3]
DRIFT_ID = "urn:registry-pipeline:schema:drift_signals_v0_1"
DETAIL_ID = "urn:registry-pipeline:schema:drift_signals_detail_v0_2"
AS_OF = "2026-03-01T23:59:59Z"


def test_every_kind_is_unknown_with_the_reason() -> None:
    result = build_drift_signals(
        as_of="2026-03-01T23:59:59Z", unknown="no active run_registry then"
    )
    detail = drift_detail(result)
    assert detail["counts"] == {"true": 0, "false": 0, "unknown": len(KIND_SEVERITY)}
    assert {signal["kind"] for signal in detail["signals"]} == set(KIND_SEVERITY)
    assert all(s["summary"] == "no active run_registry then" for s in detail["signals"])
    v01 = drift_v01(result)
    assert v01["generated_utc"] == "2026-03-01T23:59:59Z"
    assert v01["system_drift"]["schema_drift"] is None
    catalog = SchemaCatalog.for_workspace(REPO)
    files = result.files
    assert catalog.validate(DRIFT_ID, json.loads(files[V01_ARTIFACT])) == []
    assert catalog.validate(DETAIL_ID, json.loads(files[DETAIL_ARTIFACT])) == []
    assert (
        build_drift_signals(
            as_of="2026-03-01T23:59:59Z", unknown="no active run_registry then"
        ).files
        == files
    )


def test_a_bad_moment_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        build_drift_signals(as_of="2026-03-01", unknown="x")
    assert caught.value.code == "BAD_AS_OF"


@pytest.mark.reference
def test_valid_against_the_seed_schema(reference: Path) -> None:
    from jsonschema import Draft202012Validator

    seed = json.loads((reference / "schemas/REGISTRY_drift_signals_v0_1.schema.json").read_text())
    document = drift_v01(build_drift_signals(as_of="2026-03-01T23:59:59Z", unknown="none"))
    assert [e.message for e in Draft202012Validator(seed).iter_errors(document)] == []
