"""A headless Chromium (Debian's `chromium`, driven by Playwright) for the tests that look at
pages the way a person does, and a place for their screenshots.

No browser: the tests fail where `CI` is set (CI installs it) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from registry_pipeline_tests.ui_tests._browser import TIMEOUT_MS

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = ViewportSize(width=1400, height=900)


def chromium_executable() -> Path | None:
    """Debian's chromium: on PATH, else at /usr/bin/chromium; None when not installed."""
    found = shutil.which("chromium")
    if found:
        return Path(found)
    return DEBIAN_CHROMIUM if DEBIAN_CHROMIUM.is_file() else None


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, for one test module: while it is open its event loop counts as this
    thread's running loop, so a build run in this process later (Dagster ends a run by shutting
    down its own loop's generators) could not, warning `coroutine 'BaseEventLoop.
    shutdown_asyncgens' was never awaited` in whichever test of the worker came next."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium with the background-networking switches off, in a fresh temporary
    profile (Playwright gives each launch its own user-data dir and removes it on close)."""
    executable = chromium_executable()
    if executable is None:
        reason = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    launched = playwright.chromium.launch(
        executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new page in its own browser context (no state shared between tests)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
