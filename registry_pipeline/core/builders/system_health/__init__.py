"""The system_health_report builder: one read-only view of registries, operations and drift.

Pure and deterministic. It renders the same report model three ways: Markdown
(`SYSTEM_HEALTH_REPORT_v0_1.md`), a self-contained HTML page (inline CSS and SVG charts, no
scripts, no external resources, every text escaped), and `SYSTEM_HEALTH_SUMMARY_v0_1.json`
(counts and scorecard).

Inputs are plain parsed JSON:
- `catalog_summary`: one object per catalog registry: `registry_id`, `kind`, `has_builder` (bool),
  `latest_run_id` (str or null: the snapshot counted, the newest the inputs show, see
  `_sealed`), `latest_status` (`PASS` | `FAIL` | `none`: whether it validates), optional
  `operation_id` (the operation that builds it), `in_scorecard` (false: not one of the
  repository's registries, left out of the scorecard) and `this_report` (true: the registry
  this build writes, counted as sealed).
- `op_status_rows`: OPERATION_STATUS_TABLE_v0_1 rows; `op_status_detail`: `{"operations": [...]
  or {op_id: {...}}, "unauthorized": [op_id or {"operation_id": ...}]}` with each operation's
  `status` (`ok` | `failing` | `stale` | `never_run`).
- `drift_v01`, `drift_detail`: the two drift_signals documents; `run_registry_lines`: RUN_REGISTRY
  lines with `seal:` warnings; optional `drift_history`: earlier drift detail documents.

Charts (HTML only): run folders per day by seal status (`created_utc` of each run registry
line), the seal pass rate per registry (its run folders, by run id, whose seal verifies) with
its latest status, and drift signals by value per drift snapshot (`drift_history`, then
`drift_detail`).

Scorecard, computed from those inputs only (`_scorecard` says exactly what each counts, `_sealed`
what "sealed" means): enforcement coverage C3+ over the canonical operations, sealed registries
over the repository's registries (excluded ones included, as the seed counts), operations with
builders, and the executables the operations catalog binds; in the summary's `scorecard`, and
the same numbers in the report's first section. The catalog's non-canonical operations and the
lines it could not read are listed in an "Operations catalog" section.

Layout: `_build` assembles the report, `_inputs` reads the inputs, `_scorecard` computes the
ratios (`_sealed`: which snapshots count), `_sections` builds the report model, `_charts` the
charts' data (drawn by `_svg`), `_render` writes Markdown and HTML, `_summary` the JSON summary.
"""

from registry_pipeline.core.builders.system_health._build import (
    HTML_ARTIFACT,
    MARKDOWN_ARTIFACT,
    SUMMARY_ARTIFACT,
    build_system_health,
)
from registry_pipeline.core.builders.system_health._charts import Chart, report_charts
from registry_pipeline.core.builders.system_health._inputs import (
    SEAL_STATUSES,
    operation_statuses,
    unauthorized_operations,
)
from registry_pipeline.core.builders.system_health._render import render_html, render_markdown
from registry_pipeline.core.builders.system_health._scorecard import (
    CHECKED_LEVELS,
    Ratio,
    Scorecard,
    compute_scorecard,
)
from registry_pipeline.core.builders.system_health._sealed import RULE, visible_runs
from registry_pipeline.core.builders.system_health._sections import Section, tri_state
from registry_pipeline.core.builders.system_health._summary import MAX_LIST, OP_STATUSES

__all__ = [
    "CHECKED_LEVELS",
    "HTML_ARTIFACT",
    "MARKDOWN_ARTIFACT",
    "MAX_LIST",
    "OP_STATUSES",
    "RULE",
    "SEAL_STATUSES",
    "SUMMARY_ARTIFACT",
    "Chart",
    "Ratio",
    "Scorecard",
    "Section",
    "build_system_health",
    "compute_scorecard",
    "operation_statuses",
    "render_html",
    "render_markdown",
    "report_charts",
    "tri_state",
    "unauthorized_operations",
    "visible_runs",
]
