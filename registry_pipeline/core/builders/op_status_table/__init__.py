"""op_status_table: for each operation of the operations catalog, its last run, success and status.

A pure, deterministic function of three inputs: the run registry's lines, the `allowed_operations`
document and the threshold packs. It reads no clock: `as_of` is the moment the table describes,
given by the caller, and is the `created_utc` of the run registry snapshot it reads, so the same
sealed inputs always give byte-identical artifacts. Ages (`staleness_days`, staleness against
`stale_after_hours`) are measured from it.

Two artifacts are rendered:
- `OPERATION_STATUS_TABLE_v0_1.json`: the seed system's v0.1 array, one row per operation in
  catalog order. Whatever v0.1 has no field for goes into each row's `warnings` as codes.
- `OPERATION_STATUS_DETAIL_v0_2.json`: our companion (schema `op_status_detail_v0_2`): last
  success, run and failure counts, status, evidence run keys, and the unauthorized operations.

Meanings:
- A run belongs to an operation when its line's `operation_id` names it. The "last" run is the
  newest by `created_utc` (unknown times count as oldest), ties broken by `run_key`.
- A run's seal status is read from its `seal:...` warnings (the first gives PASS, FAIL or
  UNSEALED; a `seal:TAMPERED` anywhere overrides it): PASS is a success; FAIL and TAMPERED are
  failures; UNSEALED, or no seal warning at all (UNKNOWN), are neither.
- status: `never_run` without runs; `failing` when the last run failed; `stale` when there is no
  success, or the last success is older than `stale_after_hours` (the operation's threshold pack's
  `max_age_hours`) at `as_of`; otherwise `ok`.
- run_evidence_state: OBSERVED with runs; LEGACY_ONLY without runs while the registry holds
  pre-envelope folders (no `run.json`), which may be this operation's runs but cannot be
  attributed; UNOBSERVED otherwise.
- op_drift (tri-state): true when the last run was built from a dirty working tree, or from a
  commit other than `reference_commit` when one is given; false when its seal is PASS, its tree
  was clean and its commit is known (and equal to `reference_commit`, if given); null (unknown)
  when that evidence is missing: no run, a seal that is not PASS (its run.json cannot be trusted),
  no git state. The reason for null is a `op_drift_unknown:<why>` warning.

Coverage: each canonical operation's `coverage_level` is the enforcement coverage matrices' level
for it (`_coverage`, when the workspace's catalog names matrices), else its catalog entry's, else
C0. Non-canonical operations (a Markdown catalog's NON_CANONICAL section) are in the detail only,
listed by id under `non_canonical`. Catalog lines that could not be read are `catalog_warnings`.

Layout: `_build` assembles and renders both artifacts, `_inputs` reads the three inputs, `_rows`
computes one operation's entry and row, `_model` holds the names and values; `_markdown` reads a
Markdown catalog, `_coverage` a coverage matrix, both through `_blocks`.
"""

from registry_pipeline.core.builders.op_status_table._build import build_op_status_table, render
from registry_pipeline.core.builders.op_status_table._coverage import Coverage, coverage_levels
from registry_pipeline.core.builders.op_status_table._markdown import (
    catalog_version_key,
    merged_operations,
    read_operations_markdown,
)
from registry_pipeline.core.builders.op_status_table._model import (
    DETAIL_ARTIFACT,
    DETAIL_VERSION,
    ROW_FIELDS,
    SEAL_STATES,
    STATUS_VERSION,
    STATUSES,
    TABLE_ARTIFACT,
    CatalogWarning,
    Operation,
    OperationsInput,
    OpStatusInputError,
    OpStatusResult,
    RunFact,
)

__all__ = [
    "DETAIL_ARTIFACT",
    "DETAIL_VERSION",
    "ROW_FIELDS",
    "SEAL_STATES",
    "STATUSES",
    "STATUS_VERSION",
    "TABLE_ARTIFACT",
    "CatalogWarning",
    "Coverage",
    "OpStatusInputError",
    "OpStatusResult",
    "Operation",
    "OperationsInput",
    "RunFact",
    "build_op_status_table",
    "catalog_version_key",
    "coverage_levels",
    "merged_operations",
    "read_operations_markdown",
    "render",
]
