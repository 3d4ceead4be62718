"""What a person sees in the real Dagster UI (headless Chromium) after `registry build`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._webserver import Served
from registry_pipeline_tests.ui_tests._browser import (
    TIMEOUT_MS,
    code_location,
    first_visit_done,
    publish,
)

LINEAGE_VIEWPORT = ViewportSize(width=1280, height=1400)
"""Tall enough that the graph, fitted to the width, is drawn whole with its names in full."""
MAX_ZOOM_STEPS = 12
"""Zoom-out clicks allowed before every node must be on screen."""
GRAPH_NODES = """() => Array.from(document.querySelectorAll('svg foreignObject')).flatMap(fo => {
  const node = fo.querySelector('[class*="AssetNode_assetName"]');
  const link = fo.querySelector('span.label[title]');
  const label = node ? node.textContent : link ? link.getAttribute('title') : null;
  return label ? [{label, x: Number(fo.getAttribute('x')), kind: node ? 'node' : 'link'}] : [];
})"""
"""Asset nodes and links to other groups, with their x: left to right, upstream first."""


@pytest.fixture(scope="module")
def served(served_demo: Served) -> Served:
    """The built demo workspace, served (`served_demo`, shared with the GraphQL tests)."""
    return first_visit_done(served_demo)


def _resolve(label: str, ids: list[str]) -> str | None:
    """The registry id a node label shows: whole, or cut in the middle as `abc…xyz`."""
    if label in ids:
        return label
    if "…" not in label:
        return None
    head, tail = label.split("…", 1)
    [match] = [i for i in ids if i.startswith(head) and i.endswith(tail) and len(i) > len(label)]
    return match


def _shown_nodes(page: Page, ids: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for node in page.evaluate(GRAPH_NODES):
        registry_id = _resolve(node["label"], ids)
        if registry_id is not None:
            found[registry_id] = node
    return found


def _zoom_out_until_all_shown(page: Page, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Zoom the graph out until every registry is drawn (it draws only what is in view)."""
    slider = page.get_by_role("slider")
    for _ in range(MAX_ZOOM_STEPS):
        shown = _shown_nodes(page, ids)
        if set(shown) == set(ids):
            return shown
        before = slider.get_attribute("aria-valuenow")
        page.locator('button:has([aria-label="zoom_out"])').click()
        page.wait_for_function(
            "before => document.querySelector('[role=slider]')"
            ".getAttribute('aria-valuenow') !== before",
            arg=before,
        )
    missing = sorted(set(ids) - set(_shown_nodes(page, ids)))
    pytest.fail(f"not drawn after {MAX_ZOOM_STEPS} zoom steps: {missing}")


def test_lineage_shows_every_registry_in_runbook_order(
    page: Page, served: Served, shots: Path
) -> None:
    catalog = load_catalog(Workspace(served.workspace))
    ids = list(catalog.ids)  # runbook order: dependencies first, then catalog order
    page.set_viewport_size(LINEAGE_VIEWPORT)
    page.goto(f"{served.base_url}/locations/{code_location(served)}/asset-groups/registries")
    page.locator('[class*="AssetNode_assetName"]').first.wait_for()
    shown = _zoom_out_until_all_shown(page, ids)
    assert set(shown) == set(ids)
    x = {registry_id: shown[registry_id]["x"] for registry_id in ids}
    for spec in catalog.registries:  # every registry drawn right of what it reads
        for upstream in spec.depends_on:
            assert x[upstream] < x[spec.registry_id], (upstream, spec.registry_id, x)
    reading = sorted(ids, key=lambda registry_id: (x[registry_id], ids.index(registry_id)))
    position = {registry_id: index for index, registry_id in enumerate(reading)}
    for spec in catalog.registries:  # left to right is a runbook order
        assert all(position[d] < position[spec.registry_id] for d in spec.depends_on), reading
    built = [i for i in ids if shown[i]["kind"] == "node"]  # this group's own assets
    assert [i for i in reading if i in built] == built  # the same order as the catalog's
    assert built == [spec.registry_id for spec in catalog.registries if not spec.is_source]
    graph = page.locator("[data-svg-viewport]")
    materialized = graph.get_by_text("Materialized", exact=True)  # each node's latest state
    expect(materialized).to_have_count(len(built), timeout=TIMEOUT_MS)
    expect(graph.get_by_text("Loading...")).to_have_count(0, timeout=TIMEOUT_MS)
    screenshot = shots / "asset-lineage.png"
    graph.screenshot(path=str(screenshot))  # the graph without the navigation
    publish(screenshot, "asset-lineage.png")


def _metadata_value(page: Page, key: str) -> Locator:
    """The value cell of `key` in the metadata table shown on the page."""
    row = page.locator("tr").filter(has=page.get_by_role("cell", name=key, exact=True))
    return row.first.locator("td").nth(1)


LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1) { timestamp } } } }
"""


def _materialization_page(served: Served, registry_id: str) -> str:
    """The asset's events page at its latest materialization at or before `time`."""
    asset = served.query(LATEST_MATERIALIZATION, key={"path": [registry_id]})["assetOrError"]
    [latest] = asset["assetMaterializations"]
    return f"{served.base_url}/assets/{registry_id}?view=events&time={latest['timestamp']}"


def test_materialization_shows_run_folder_root_hash_and_record_count(
    page: Page, served: Served, shots: Path
) -> None:
    entry = served.entry("run_registry")
    page.goto(_materialization_page(served, "run_registry"))
    run_id = _metadata_value(page, "run_id")
    run_id.wait_for()
    assert run_id.inner_text().strip() == entry["run_id"]
    assert _metadata_value(page, "root_sha256").inner_text().strip() == entry["root_sha256"]
    assert _metadata_value(page, "record_count").inner_text().strip() == str(entry["record_count"])
    folder = served.workspace / ".codex" / "RUNS" / entry["run_id"]
    path = _metadata_value(page, "path")  # a path entry: the text and a copy button
    assert path.inner_text().strip() == str(folder)
    expect(path.get_by_title("Copy to clipboard")).to_be_visible(timeout=TIMEOUT_MS)
    manifest = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    assert f"ROOT_SHA256  {entry['root_sha256']}" in manifest.splitlines()
    page.screenshot(path=str(shots / "run-registry-materialization.png"))


def test_health_report_markdown_renders(page: Page, served: Served, shots: Path) -> None:
    entry = served.entry("system_health_report")
    folder = served.workspace / ".codex" / "RUNS" / entry["run_id"]
    summary = json.loads((folder / "SYSTEM_HEALTH_SUMMARY_v0_1.json").read_text())
    sealed = summary["scorecard"]["sealed_registries"]
    page.goto(_materialization_page(served, "system_health_report"))
    _metadata_value(page, "report").get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("heading", name="System Health Report v0.1").wait_for()
    headings = [h.inner_text() for h in dialog.locator("h2").all()]
    assert headings[:4] == ["Needs attention", "Governance scorecard", "Registries", "Operations"]
    tables = dialog.locator("table")
    first = 1 if "nothing needs attention" not in dialog.inner_text() else 0  # the headline's
    scorecard = tables.nth(first)  # Markdown tables render as tables
    row = scorecard.locator("tr").filter(has_text="sealed registries")
    assert row.locator("td").nth(1).inner_text() == f"{sealed['count']}/{sealed['total']}"
    registries = tables.nth(first + 1)
    assert registries.locator("tr").count() == 1 + len(served.build["registries"])
    text = dialog.inner_text()
    assert "|---|" not in text and "## " not in text  # rendered, not shown as source
    page.screenshot(path=str(shots / "health-report-markdown.png"))


def test_the_asset_page_shows_the_active_snapshot(page: Page, served: Served, shots: Path) -> None:
    """Issue 61: the newest event is the promotion's: run id, root hash, when, receipt."""
    entry = served.entry("op_status_table")
    page.goto(f"{served.base_url}/assets/op_status_table?view=events")
    active = _metadata_value(page, "active_run_id")
    active.wait_for()
    assert active.inner_text().strip() == entry["run_id"]
    assert _metadata_value(page, "active_root_sha256").inner_text().strip() == entry["root_sha256"]
    for label in ("promoted_at", "receipt", "build_run_id"):
        expect(_metadata_value(page, label)).to_be_visible(timeout=TIMEOUT_MS)
    page.screenshot(path=str(shots / "op-status-table-active-snapshot.png"))
