"""The registry delta log: what changed in each covered registry, between which sealed snapshots.

Pure core (no Dagster, no CLI). One record per sealed snapshot of each covered registry, in the
seed system's exact shape (`REGISTRY_DELTA_LOG_v0_1.jsonl`): the first snapshot of a registry
gives a bootstrap record (`from_ref` null, every manifest path added), each next one a transition.

- **Basis, tri-state.** `manifest_diff` when both snapshots validate (seal and schemas) and the
  from side still has the recorded root: paths from manifest.json (every file it lists, run.json
  included, like the seed), compared by sha256. Otherwise `unknown`, with no paths and zero
  counts: never a guess.
- **Order.** A registry's snapshots are ordered by (created_utc, run_id), created_utc being the
  record's value below. Folders without a well-formed ROOT_SHA256 are not sealed snapshots and
  are skipped (listed in the build summary); so are folders dated in the future
  (`future_findings`, FUTURE_DATED), which would otherwise stop the log.
- **created_utc is deterministic.** It is the to_ref snapshot's run.json `created_utc`,
  normalized to `YYYY-MM-DDTHH:MM:SSZ` (converted to UTC, fractions of a second dropped; a value
  without an offset is UTC); when run.json has none, the second the run id encodes. It is never
  the build's clock, so rebuilding from the same sealed inputs, the same previous log and the same
  derivation_run_id gives byte-identical files.
- **Append-only.** A build copies the previous log's bytes unchanged and appends records for the
  snapshots after each registry's last covered to_ref only. It reads the previous snapshot's
  state companion (`REGISTRY_DELTA_LOG_STATE_v0_2.json`: per registry its record count and last
  to_ref, plus the SHA-256 of the JSONL) instead of parsing old records, so its cost grows with
  the new snapshots, not with history.
- **Chain.** Each log snapshot's run.json names its predecessor (`PreviousLog.ref()`) as an input;
  `check_append_only` is the blocking check of one build, `inspect_chain`/`verify_chain` walk the
  whole chain, `newest_valid_log` picks a baseline that never dropped or altered a record.

Depends on `seal/`, `workspace/`, `pointers/` and `explain/`; must not import `builders/`.
"""

from registry_pipeline.core.delta_log.build import (
    CoveredRegistry,
    DeltaLogResult,
    RegistryCounts,
    build_delta_log,
    order_snapshots,
)
from registry_pipeline.core.delta_log.chain import (
    ChainReport,
    check_append_only,
    check_records,
    future_findings,
    inspect_chain,
    newest_valid_log,
    verify_chain,
)
from registry_pipeline.core.delta_log.records import (
    DELTA_VERSION,
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    MANIFEST_DIFF,
    STATE_ARTIFACT,
    STATE_VERSION,
    UNKNOWN,
    DeltaBasis,
    DeltaCode,
    DeltaRecord,
    LogState,
    PreviousLog,
    RegistryState,
    delta_log_error,
    finding_text,
    load_previous_log,
    normalize_created_utc,
    parse_record,
    parse_state,
    state_from_log,
)

__all__ = [
    "DELTA_VERSION",
    "LOG_ARTIFACT",
    "LOG_REGISTRY_ID",
    "MANIFEST_DIFF",
    "STATE_ARTIFACT",
    "STATE_VERSION",
    "UNKNOWN",
    "ChainReport",
    "CoveredRegistry",
    "DeltaBasis",
    "DeltaCode",
    "DeltaLogResult",
    "DeltaRecord",
    "LogState",
    "PreviousLog",
    "RegistryCounts",
    "RegistryState",
    "build_delta_log",
    "check_append_only",
    "check_records",
    "delta_log_error",
    "finding_text",
    "future_findings",
    "inspect_chain",
    "load_previous_log",
    "newest_valid_log",
    "normalize_created_utc",
    "order_snapshots",
    "parse_record",
    "parse_state",
    "state_from_log",
    "verify_chain",
]
