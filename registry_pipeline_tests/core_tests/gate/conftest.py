"""`published`: the demo workspace after a build of its source registries (`_support.build`)."""

from pathlib import Path

import pytest

from registry_pipeline_tests.core_tests.gate._support import DEMO_SOURCES, build


@pytest.fixture
def published(demo: Path) -> Path:
    """The demo after a build of its source registries: each active."""
    assert {outcome for _run, outcome in build(demo, *DEMO_SOURCES).values()} == {"promoted"}
    return demo
