"""One operation-id rule (`OP-` then [A-Z0-9], then letters, digits, dashes) at every door."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from registry_pipeline.core.append_only.rules import PRESETS
from registry_pipeline.core.seal.run_id import OPERATION_ID

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _patterns() -> list[str]:
    """Every operation_id pattern the shipped schemas hold."""
    found = []
    for name in ("allowed_operations", "run_envelope", "registry_catalog"):
        text = (SCHEMAS / f"{name}.schema.json").read_text()
        json.loads(text)  # still a schema
        found += re.findall(r'"pattern": "(\^OP-[^"]*)"', text)
    return found


@given(st.text(alphabet="OP-AZ09az_ ", max_size=8).map(lambda tail: "OP-" + tail))
@example("OP--")
@example("OP-")
@example("OP-QA07")
@example("OP-2FA1")
def test_every_place_decides_an_operation_id_alike(text: str) -> None:
    patterns = _patterns()
    assert len(patterns) == 3
    expected = OPERATION_ID.fullmatch(text) is not None
    for pattern in [*patterns, PRESETS["allowed_operations"].id_pattern]:
        assert (re.search(pattern, text) is not None) is expected, (pattern, text)
