"""Helpers of the browser tests: a served workspace ready for a person's first visit, the code
location's name, and the screenshots that go into docs/images."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from registry_pipeline_tests._webserver import LOCATIONS, REPO, Served, graphql, serve_demo

TIMEOUT_MS = 30_000
"""Upper bound of every wait on a page (selectors, navigation, expectations): never a sleep."""
DOCS_IMAGES = REPO / "docs" / "images"
UPDATE_IMAGES = "UPDATE_DOCS_IMAGES"
"""Set to 1 to refresh docs/images from this run's screenshots (absent images are always
written): a plain test run leaves the committed images alone."""


def publish(screenshot: Path, name: str) -> Path:
    """Copy a screenshot to docs/images/`name` when absent there or when UPDATE_IMAGES=1."""
    target = DOCS_IMAGES / name
    if os.environ.get(UPDATE_IMAGES) == "1" or not target.exists():
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)
    return target


NUX_SEEN = "mutation { setNuxSeen }"
"""The UI's own call when a person dismisses its first-visit 'Join the community' dialog."""


def first_visit_done(served: Served) -> Served:
    """`served` with the first-visit dialog already dismissed (it would cover the page)."""
    assert graphql(served.base_url, NUX_SEEN) == {"setNuxSeen": True}
    return served


def serve_for_browser(
    parent: Path, *, prepare: Callable[[Path], object] | None = None, succeed: bool = True
) -> Iterator[Served]:
    """`serve_demo`, with the first-visit dialog already dismissed."""
    for served in serve_demo(parent, prepare=prepare, succeed=succeed):
        yield first_visit_done(served)


def code_location(served: Served) -> str:
    """The name of the one code location the server loaded."""
    entries = graphql(served.base_url, LOCATIONS)["workspaceOrError"]["locationEntries"]
    [entry] = entries
    return str(entry["name"])
