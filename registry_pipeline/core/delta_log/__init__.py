"""The registry delta log: what changed in each covered registry; see docs/DELTA_LOG.md.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

from registry_pipeline.core.delta_log.build import (
    CoveredRegistry,
    DeltaLogResult,
    RegistryCounts,
    build_delta_log,
)
from registry_pipeline.core.delta_log.chain import (
    ChainReport,
    check_append_only,
    future_findings,
    inspect_chain,
    newest_valid_log,
)
from registry_pipeline.core.delta_log.records import (
    LOG_ARTIFACT,
    LOG_REGISTRY_ID,
    MANIFEST_DIFF,
    STATE_ARTIFACT,
    TORN_TAIL,
    UNKNOWN,
    DeltaBasis,
    DeltaRecord,
    LogState,
    PreviousLog,
    load_previous_log,
    parse_record,
    state_from_log,
)

__all__ = [
    "LOG_ARTIFACT",
    "LOG_REGISTRY_ID",
    "MANIFEST_DIFF",
    "STATE_ARTIFACT",
    "TORN_TAIL",
    "UNKNOWN",
    "ChainReport",
    "CoveredRegistry",
    "DeltaBasis",
    "DeltaLogResult",
    "DeltaRecord",
    "LogState",
    "PreviousLog",
    "RegistryCounts",
    "build_delta_log",
    "check_append_only",
    "future_findings",
    "inspect_chain",
    "load_previous_log",
    "newest_valid_log",
    "parse_record",
    "state_from_log",
]
