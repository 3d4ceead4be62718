"""The health report's HTML page in Chromium, opened from a file offline: its charts are drawn."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, Route, ViewportSize

from registry_pipeline.core.builders.system_health import HTML_ARTIFACT, build_system_health
from registry_pipeline_tests._health_history import DAYS, REGISTRIES, health_inputs
from registry_pipeline_tests.ui_tests._browser import publish

REPORT_VIEWPORT = ViewportSize(width=840, height=1000)


def _render(page: Page, folder: Path) -> list[str]:
    """Open the report from a file, refusing and returning every other request."""
    report = folder / HTML_ARTIFACT
    report.write_bytes(build_system_health(**health_inputs()).files[HTML_ARTIFACT])
    refused: list[str] = []

    def refuse(route: Route) -> None:
        refused.append(route.request.url)
        route.abort()

    page.route(lambda url: url != report.as_uri(), refuse)
    page.set_viewport_size(REPORT_VIEWPORT)  # a laptop window beside another one
    page.goto(report.as_uri())
    return refused


def test_charts_are_drawn_with_their_labels(page: Page, tmp_path: Path, shots: Path) -> None:
    refused = _render(page, tmp_path)
    for chart_id in ("chart-runs", "chart-pass-rate", "chart-drift"):
        chart = page.locator(f"svg#{chart_id}")
        assert chart.get_attribute("role") == "img"
        box = chart.bounding_box()
        assert box is not None and box["width"] >= 600 and box["height"] >= 150, (chart_id, box)
        marks = chart.locator("rect")
        drawn = [marks.nth(i).bounding_box() for i in range(marks.count())]
        assert sum(1 for b in drawn if b and b["width"] > 0 and b["height"] > 0) >= 10, chart_id
    runs = page.locator("svg#chart-runs g.column")
    assert runs.count() == DAYS
    assert runs.first.locator("text").last.text_content() == "2026-11-09"
    assert page.locator("svg#chart-runs text.total").first.text_content() == "6"
    bar = page.locator('svg#chart-pass-rate g.bar[data-label="drift_signals"]')
    assert bar.locator("text.value").text_content() == "12/14 · 86% · latest FAIL"
    labels = page.locator("svg#chart-pass-rate g.bar text.label")
    assert [labels.nth(i).text_content() for i in range(labels.count())] == list(REGISTRIES)
    drift = page.locator("svg#chart-drift")
    assert drift.locator("g.column").count() == DAYS
    assert drift.locator("g.legend text").first.text_content() == "drifting: 0 latest"
    caption = page.locator("figcaption", has_text="Drift signals over time")
    assert "14 drift snapshot(s); latest: drifting 0" in caption.inner_text()
    assert caption.is_visible()
    assert refused == []  # nothing to fetch: no fonts, scripts or images
    glance = page.locator("h2", has_text="At a glance").bounding_box()
    end = page.locator("h2", has_text="Governance scorecard").bounding_box()
    assert glance is not None and end is not None
    screenshot = shots / "health-report.png"
    page.screenshot(
        path=str(screenshot),
        full_page=True,
        clip={"x": 0, "y": 0, "width": REPORT_VIEWPORT["width"], "height": end["y"] - 8},
    )
    publish(screenshot, "health-report.png")


def test_the_page_opens_on_what_needs_attention_and_shades_only_bad_news(
    page: Page, tmp_path: Path
) -> None:
    """First heading "Needs attention"; a builder's `yes` is not red, a drift `no` is green."""
    _render(page, tmp_path)
    headings = page.locator("h2")
    assert headings.first.inner_text() == "Needs attention"
    first = headings.first.bounding_box()
    glance = page.locator("h2", has_text="At a glance").bounding_box()
    assert first is not None and glance is not None and first["y"] < glance["y"]
    builder = page.locator("h2:has-text('Registries') + table td", has_text="yes").first
    assert builder.evaluate("e => getComputedStyle(e).backgroundColor") == "rgba(0, 0, 0, 0)"
    drift = page.locator("h2:has-text('Drift signals') + table td.no").first
    assert drift.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(227, 244, 228)"
