"""The health report reads for a person: attention first, with why and what to do."""

from __future__ import annotations

import re
from typing import Any

from registry_pipeline.core.builders.system_health import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    build_system_health,
)
from registry_pipeline_tests._health_history import health_inputs

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
