"""The build: sections and summary from the inputs, rendered into the three artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from registry_pipeline.core.builders.system_health._attention import attention
from registry_pipeline.core.builders.system_health._charts import report_charts
from registry_pipeline.core.builders.system_health._inputs import (
    _stale_threshold_days,
    operation_statuses,
    unauthorized_operations,
)
from registry_pipeline.core.builders.system_health._render import render_html, render_markdown
from registry_pipeline.core.builders.system_health._scorecard import compute_scorecard
from registry_pipeline.core.builders.system_health._sections import (
    Section,
    _attention_section,
    _catalog_section,
    _operation_section,
    _overrides_section,
    _registry_section,
    _run_folder_section,
    _scorecard_section,
    _signal_section,
    _system_drift_section,
)
from registry_pipeline.core.builders.system_health._summary import _summary
from registry_pipeline.core.json_strict import dumps_pretty

MARKDOWN_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.md"
HTML_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.html"
SUMMARY_ARTIFACT = "SYSTEM_HEALTH_SUMMARY_v0_1.json"


def build_system_health(
    *,
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any],
    drift_v01: Mapping[str, Any],
    drift_detail: Mapping[str, Any],
    run_registry_lines: Sequence[Mapping[str, Any]],
    as_of: str,
    input_sources: Mapping[str, str] | None = None,
    write_overrides: Sequence[Mapping[str, Any]] = (),
    drift_history: Sequence[Mapping[str, Any]] = (),
    excluded: Sequence[tuple[str, str]] = (),
) -> dict[str, bytes]:
    """Artifact name to bytes for the Markdown report, the HTML page and the JSON summary.

    `input_sources` (the seed summary's field: input name -> workspace-relative artifact path of
    the sealed snapshot read) is recorded as given; `write_overrides` are the records of the
    write path's overrides log (`add-entry --no-check`), shown newest first; `drift_history`
    are earlier drift detail documents, oldest first, drawn before `drift_detail` in the drift
    chart of the HTML page; `excluded` are the catalog's excluded registries (id, reason), which
    the scorecard counts as not sealed.
    """
    scorecard = compute_scorecard(catalog_summary, op_status_rows, op_status_detail, excluded)
    statuses = operation_statuses(op_status_detail)
    unauthorized = unauthorized_operations(op_status_detail)
    signals = [s for s in drift_detail.get("signals", ()) if isinstance(s, Mapping)]
    needs = attention(
        op_status_detail, signals, run_registry_lines, scorecard, drift_v01.get("system_drift")
    )
    sections = (
        _attention_section(needs),
        _scorecard_section(scorecard),
        _registry_section(catalog_summary),
        _operation_section(op_status_rows, statuses, op_status_detail),
        *filter(None, [_catalog_section(op_status_detail)]),
        Section("Unauthorized operations", notes=tuple(unauthorized) or ("none",)),
        _run_folder_section(run_registry_lines),
        _system_drift_section(drift_v01),
        _signal_section(signals),
        _overrides_section(write_overrides),
    )
    charts = report_charts(catalog_summary, run_registry_lines, [*drift_history, drift_detail])
    summary = _summary(
        scorecard, catalog_summary, op_status_rows, statuses, unauthorized, run_registry_lines,
        signals, drift_v01, as_of,
    )  # fmt: skip
    summary["stale_threshold_days"] = _stale_threshold_days(op_status_detail)
    summary["input_sources"] = dict(sorted((input_sources or {}).items()))
    summary["write_overrides"] = len(write_overrides)
    return {
        MARKDOWN_ARTIFACT: render_markdown(sections, as_of).encode("utf-8"),
        HTML_ARTIFACT: render_html(sections, as_of, charts).encode("utf-8"),
        SUMMARY_ARTIFACT: dumps_pretty(summary, sort_keys=False),
    }
