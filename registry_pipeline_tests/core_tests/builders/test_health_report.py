"""The health report reads for a person: attention first, with why and what to do; its SVG
charts are well-formed, accessible, drawn from the values, say when empty, and escape text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from registry_pipeline.core.builders.system_health import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    MAX_COLUMNS,
    UNDATED,
    Chart,
    build_system_health,
    drift_counts,
    pass_rates,
    percent,
    report_charts,
    runs_per_day,
)
from registry_pipeline_tests._health_history import drift_detail, health_inputs, run_lines

CHART_IDS = ("chart-runs", "chart-pass-rate", "chart-drift")
CONVERTED_NOTE = (
    "op_drift unknown: the evidence folder reports/path1/evidence/runs/p1_20260204_001 was "
    "converted by git line-ending normalization (its files match their seal once their line "
    "endings are converted back), so its run.json cannot be trusted; see "
    "`registry restore-line-endings`"
)


def _inputs() -> dict[str, Any]:
    """The fourteen days, the seed's converted OP-D07 and an operation with no staleness limit."""
    inputs = health_inputs()
    inputs["op_status_detail"] = {
        "operations": [
            {"operation_id": "OP-QA07", "status": "ok"},
            {
                "operation_id": "OP-D07",
                "status": "failing",
                "last_run_id": "p1_20260204_001",
                "last_run_key": "reports/path1/evidence/runs::p1_20260204_001",
                "last_seal_status": "CONVERTED",
                "notes": [CONVERTED_NOTE],
                "stale_after_hours": None,
            },
        ]
    }
    signals = inputs["drift_detail"]["signals"]
    signals.append(
        {
            "signal_id": "operation_stale:OP-A01",
            "kind": "operation_stale",
            "severity": "info",
            "value": False,
            "summary": "OP-A01: status None, stale after None hours",
            "evidence": [],
        }
    )  # fmt: skip: what drift snapshots sealed before this release said
    return inputs


def _sections(markdown: str) -> list[str]:
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def test_the_headline_is_what_needs_attention_with_why_and_the_fix() -> None:
    files = build_system_health(**_inputs()).files
    markdown = files[MARKDOWN_ARTIFACT].decode()
    assert _sections(markdown)[0] == "Needs attention"
    headline = markdown.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
    assert "OP-D07" in headline and "converted by git" in headline
    assert "registry restore-line-endings reports/path1/evidence/runs/p1_20260204_001" in headline
    assert "drift_signals" not in headline or "fail their seal" in headline
    assert "OP-QA07" not in headline  # ok: not news
    assert "unsealed" not in headline  # an info signal: the tables below say it


def test_a_report_with_nothing_wrong_says_so_first() -> None:
    inputs = health_inputs()
    inputs["run_registry_lines"] = [
        {**line, "warnings": ["seal:PASS"]} for line in inputs["run_registry_lines"]
    ]
    for signal in inputs["drift_detail"]["signals"]:
        signal["value"] = False
    markdown = build_system_health(**inputs).files[MARKDOWN_ARTIFACT].decode()
    headline = markdown.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
    assert "- nothing needs attention" in headline


def test_no_python_literal_reaches_the_text() -> None:
    files = build_system_health(**_inputs()).files
    for name in (MARKDOWN_ARTIFACT, HTML_ARTIFACT):
        text = files[name].decode()
        assert not re.search(r"\b(None|True|False)\b", text), (
            name,
            re.findall(r".{40}\bNone\b.{20}", text),
        )
        assert "no staleness limit" in text and "status unknown" in text


def test_only_drift_is_shaded_as_bad_news() -> None:
    page = build_system_health(**_inputs()).files[HTML_ARTIFACT].decode()
    registries = page.split("<h2>Registries</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>yes</td>" in registries and 'class="yes"' not in registries  # builder: yes
    signals = page.split("<h2>Drift signals</h2>", 1)[1].split("<h2>", 1)[0]
    assert '<td class="no">no</td>' in signals or '<td class="yes">yes</td>' in signals


def test_every_explanation_of_the_detail_is_in_the_markdown_and_the_page() -> None:
    files = build_system_health(**_inputs()).files
    for name in (MARKDOWN_ARTIFACT, HTML_ARTIFACT):
        text = files[name].decode()
        assert "OP-D07: op_drift unknown: the evidence folder" in text, name
        assert "registry restore-line-endings" in text, name


def test_an_unknown_git_state_or_a_dirty_canon_is_news_in_the_headline() -> None:
    for flags, said in (
        ({"canon_dirty": True, "canon_state": "unknown"}, "git state | unknown"),
        ({"canon_dirty": True, "canon_state": "dirty"}, "canon | the working tree has changes"),
        ({"canon_dirty": False, "canon_state": "clean", "threshold_drift": True},
         "threshold pack |"),
    ):  # fmt: skip
        inputs = _inputs()
        inputs["drift_v01"] = {"system_drift": flags}
        markdown = build_system_health(**inputs).files[MARKDOWN_ARTIFACT].decode()
        headline = markdown.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
        assert said in headline, (flags, headline)
    markdown = build_system_health(**_inputs()).files[MARKDOWN_ARTIFACT].decode()
    headline = markdown.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
    assert "git state" not in headline and "| canon |" not in headline  # clean: not news


def _charts(**overrides: Any) -> tuple[Chart, ...]:
    inputs = health_inputs()
    inputs.update(overrides)
    return report_charts(
        inputs["catalog_summary"],
        inputs["run_registry_lines"],
        [*inputs["drift_history"], inputs["drift_detail"]],
    )


def _parse(chart: Chart) -> ET.Element:
    """The chart's SVG as XML (raises when it is not well-formed)."""
    return ET.fromstring(chart.svg)


def _texts(root: ET.Element, css: str | None = None) -> list[str]:
    """Every visible `<text>` (not tooltips), optionally only those of one class."""
    return [
        "".join(node.itertext()) if css is None else node.text or ""
        for node in root.iter("text")
        if css is None or node.get("class") == css
    ]


def _column(root: ET.Element, label: str) -> ET.Element:
    [column] = [g for g in root.iter("g") if g.get("data-label") == label]
    return column


def test_every_chart_is_well_formed_and_labelled() -> None:
    charts = _charts()
    assert tuple(chart.chart_id for chart in charts) == CHART_IDS
    for chart in charts:
        root = _parse(chart)
        assert root.tag == "svg" and root.get("role") == "img"
        assert root.get("id") == chart.chart_id
        assert root.get("aria-label", "").startswith(chart.title + ": ")
        assert root.findtext("title") == chart.title
        assert root.findtext("desc")
        assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
        for mark in root.iter("rect"):
            if mark.get("fill") not in ("#eee",) and mark.find("title") is None:
                assert mark.get("height") == "10", ET.tostring(mark)  # only legend swatches
        lowered = chart.svg.lower()
        for forbidden in ("<script", "href", "http", "url(", "@import", "<image", "<foreignobject"):
            assert forbidden not in lowered, (chart.chart_id, forbidden)


def test_runs_per_day_draws_each_day_stacked_by_seal_status() -> None:
    root = _parse(_charts()[0])
    assert [g.get("data-label") for g in root.iter("g") if g.get("class") == "column"] == [
        f"2026-11-{day:02d}" for day in range(9, 23)
    ]
    day = _column(root, "2026-11-12")  # day 3: drift_signals' folder failed its seal
    tips = ["".join(t.itertext()) for t in day.iter("title")]
    assert tips == ["2026-11-12: PASS 3", "2026-11-12: FAIL 1"]
    assert _texts(day, "total") == ["4"]
    assert _texts(_column(root, "2026-11-17"), "total") == ["6"]  # 2 sources sealed that day
    legend = _texts(next(g for g in root.iter("g") if g.get("class") == "legend"))
    assert legend == [  # the tampered folder fails: counted within FAIL, as validate counts it
        "PASS 58", "FAIL 3", "INTACT_OLDER_FORMAT 0", "CONVERTED 0", "UNSEALED 3", "unknown 0",
    ]  # fmt: skip


def test_runs_per_day_counts_from_created_utc_then_run_id() -> None:
    lines: list[dict[str, Any]] = [
        {"run_id": "x", "created_utc": "2026-01-02T10:00:00Z", "warnings": ["seal:PASS"]},
        {"run_id": "2026-01-01__000000__a_build", "warnings": ["seal:UNSEALED"]},
        {"run_id": "seed-folder", "created_utc": None, "warnings": []},
        {"run_id": "2026-01-02__000000__a_build", "created_utc": "2026-01-02T00:00:00Z"},
    ]
    days = [(day, dict(counts)) for day, counts in runs_per_day(lines)]
    assert days == [
        ("2026-01-01", {"UNSEALED": 1}),
        ("2026-01-02", {"PASS": 1, "unknown": 1}),
        (UNDATED, {"unknown": 1}),
    ]


def test_only_the_latest_days_are_drawn_and_the_caption_says_so() -> None:
    lines = [
        {"run_id": f"2026-01-{day:02d}__000000__a_build", "warnings": ["seal:PASS"]}
        for day in range(1, 32)
    ] + [{"run_id": "2026-02-01__000000__a_build", "warnings": ["seal:PASS"]}] * 3
    chart = _charts(run_registry_lines=lines)[0]
    labels = [g.get("data-label") for g in _parse(chart).iter("g") if g.get("class") == "column"]
    assert len(labels) == MAX_COLUMNS
    assert labels[0] == "2026-01-02" and labels[-1] == "2026-02-01"
    assert chart.caption == (
        "34 run folder(s) on 32 day(s); the 1 earliest day(s) (1 folder(s)) are not drawn."
    )


def test_pass_rates_follow_the_catalog_then_other_registries() -> None:
    rows = pass_rates(health_inputs()["catalog_summary"], run_lines())
    by_id = {row[0]: row[1:] for row in rows}
    assert [row[0] for row in rows][:3] == ["run_registry", "expected_versions", "migration_ledger"]
    assert by_id["drift_signals"] == (12, 14, "FAIL")
    assert by_id["op_status_table"] == (13, 14, "PASS")
    assert by_id["registry_delta_log"] == (11, 14, "PASS")
    assert by_id["migration_ledger"] == (0, 0, "PASS")
    extra = [*run_lines(), {"run_id": "2026-01-01__000000__zzz_build", "warnings": ["seal:FAIL"]}]
    assert pass_rates([{"registry_id": "run_registry"}], extra)[-1] == ("zzz", 0, 1, "-")
    assert pass_rates([{"registry_id": "run_registry"}], extra)[0][3] == "none"


def test_pass_rate_bars_write_their_values() -> None:
    root = _parse(_charts()[1])
    values = {g.get("data-label"): _texts(g, "value") for g in root.iter("g")}
    assert values["drift_signals"] == ["12/14 · 86% · latest FAIL"]
    assert values["run_registry"] == ["14/14 · 100% · latest PASS"]
    assert values["migration_ledger"] == ["no run folder · latest PASS"]
    bar = next(g for g in root.iter("g") if g.get("data-label") == "registry_delta_log")
    widths = [r.get("width") for r in bar.iter("rect")]
    assert widths == ["280", "220", "60"]  # track, 11/14 of 280, the rest
    assert "registry_delta_log 11 of 14" in (root.findtext("desc") or "")


@pytest.mark.parametrize(
    ("count", "total", "shown"),
    [(1, 8, 13), (1, 200, 1), (1, 3, 33), (2, 3, 67), (0, 5, 0), (5, 5, 100)],
)
def test_percentages_round_half_up_in_integers(count: int, total: int, shown: int) -> None:
    assert percent(count, total) == shown


def test_drift_chart_draws_history_then_the_current_snapshot() -> None:
    chart = _charts()[2]
    root = _parse(chart)
    labels = [g.get("data-label") for g in root.iter("g") if g.get("class") == "column"]
    assert labels == [f"2026-11-{day:02d} 06:00" for day in range(9, 23)]
    assert drift_counts(drift_detail(0)) == (0, 6, 6)
    assert drift_counts(drift_detail(6)) == (1, 8, 3)
    tips = ["".join(t.itertext()) for t in _column(root, "2026-11-15 06:00").iter("title")]
    assert tips == [
        "2026-11-15 06:00: drifting 1",
        "2026-11-15 06:00: not drifting 8",
        "2026-11-15 06:00: unknown 3",
    ]
    assert chart.caption == "14 drift snapshot(s); latest: drifting 0, not drifting 12, unknown 0."


def test_empty_inputs_give_charts_that_say_so() -> None:
    charts = report_charts([], [], [])
    runs, rates, drift = (_parse(chart) for chart in charts)
    assert "no run folders" in _texts(runs)
    assert "nothing to show" in _texts(rates)
    assert "no drift snapshot" in _texts(drift)
    assert charts[0].caption == "0 run folder(s) on 0 day(s)."
    assert charts[2].caption == "0 drift snapshot(s)."
    assert not [g for root in (runs, drift) for g in root.iter("g") if g.get("class") == "column"]
    only = report_charts([{"registry_id": "a"}], [], [{"signals": []}])
    assert "a 0 of" not in only[1].svg and "no run folder indexed yet" in only[1].svg
    assert _texts(_parse(only[2]), "total") == ["0"]


def test_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&\'" and a long tail'
    charts = _charts(catalog_summary=[{"registry_id": hostile, "latest_status": hostile}])
    root = _parse(charts[1])  # parses: nothing leaked into the markup
    assert "<script" not in charts[1].svg
    assert hostile in ["".join(t.itertext()) for t in root.iter("title")]
    assert any(g.get("data-label") == hostile for g in root.iter("g"))
    label = next(t.text or "" for t in root.iter("text") if (t.text or "").startswith("<script"))
    assert label == hostile[:29] + "…"  # long labels are cut; the tooltip has them whole


def test_charts_do_not_depend_on_line_order_and_repeat_byte_for_byte() -> None:
    lines = run_lines()
    assert _charts() == _charts()
    assert _charts(run_registry_lines=list(reversed(lines))) == _charts()
    svg = "".join(chart.svg for chart in _charts())
    numbers = re.findall(r' (?:x|y|x1|x2|y1|y2|dy|width|height)="([^"]*)"', svg)
    assert numbers and all(re.fullmatch(r"\d+(\.\d)?", n) for n in numbers), numbers


def test_html_page_shows_the_charts_first_and_markdown_is_unchanged() -> None:
    files = build_system_health(**health_inputs()).files
    page = files[HTML_ARTIFACT].decode()
    glance = page.index("<h2>At a glance</h2>")
    assert glance < page.index('<svg id="chart-runs"') < page.index("<h2>Governance scorecard</h2>")
    for chart_id in CHART_IDS:
        assert page.count(f'<svg id="{chart_id}"') == 1
    assert page.count("<figcaption>") == 3
    markdown = files[MARKDOWN_ARTIFACT].decode()
    assert "<svg" not in markdown and "At a glance" not in markdown
    without_history = build_system_health(**{**health_inputs(), "drift_history": []}).files
    assert without_history[MARKDOWN_ARTIFACT] == files[MARKDOWN_ARTIFACT]
    assert b"1 drift snapshot(s)" in without_history[HTML_ARTIFACT]
