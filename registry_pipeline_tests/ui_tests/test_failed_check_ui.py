"""A failed blocking check as the Dagster UI shows it: the check, its state and its reason code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from registry_pipeline_tests._helpers import break_built_schema
from registry_pipeline_tests._webserver import Served
from registry_pipeline_tests.ui_tests._browser import TIMEOUT_MS, serve_for_browser

CODE = "SCHEMA_VIOLATION"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A copy of the demo workspace built with a broken drift_signals schema, served."""
    yield from serve_for_browser(
        tmp_path_factory.mktemp("ui_failed"), prepare=break_built_schema, succeed=False
    )


def test_failed_blocking_check_shows_its_reason_code(
    served: Served, page: Page, shots: Path
) -> None:
    """(`served` first: it builds in this process, before the browser's driver opens.)"""
    entry = served.entry("drift_signals")
    assert entry["checks"]["schema_valid"] is False  # what the CLI reported
    page.goto(f"{served.base_url}/assets/drift_signals?view=checks")
    page.get_by_text("schema_valid", exact=True).first.click()  # in the list of checks
    page.get_by_text("This is a blocking asset check.").wait_for()
    latest = page.get_by_text(f"{CODE} DRIFT_SIGNALS_v0_1.json")  # the latest execution
    latest.wait_for()
    assert "'signed_off_by' is a required property" in latest.inner_text()
    failed = page.get_by_text("Failed", exact=True)  # in the list of checks and the result
    expect(failed).to_have_count(2, timeout=TIMEOUT_MS)
    expect(page.get_by_text(entry["run_id"], exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    codes = page.locator("tr").filter(has=page.get_by_role("cell", name="reason_codes"))
    codes.get_by_text("[Show JSON]").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(CODE).wait_for()
    assert f'"{CODE}"' in dialog.inner_text()
    page.screenshot(path=str(shots / "failed-check.png"))
