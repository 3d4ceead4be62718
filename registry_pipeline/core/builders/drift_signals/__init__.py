"""The drift_signals builder: what the sealed evidence shows against what is expected.

Pure and deterministic: plain parsed inputs in, two documents out. `DRIFT_SIGNALS_v0_1.json` keeps
the seed system's v0.1 shape (extra facts go into its `warnings`, and the canon state in words
into `system_drift.canon_state`, where the seed's schema allows more: `canon_notes`); the companion
`DRIFT_SIGNALS_DETAIL_v0_2.json` lists every signal with a tri-state value (true, false, or null
when evidence is missing: never a guess), a severity and evidence refs.

Severity: a signal whose value is true carries its kind's severity (`KIND_SEVERITY`); an unknown
(null) signal is a `warning` when its kind is critical and `info` otherwise; a false one is `info`.

`canon_tree_hash`: SHA-256 (hex) of the lines `<schema sha256>  <key>\\n`, one per entry of
`schema_hashes_now`, sorted in byte order and concatenated (the ROOT_SHA256 recipe applied to the
schema files); the empty mapping hashes the empty string.

Layout: `_build` checks the inputs and assembles the result, `_comparisons` and `_runs` compute
the signals, `_v01` shapes the seed document, `_model` holds the names and values.
"""

from registry_pipeline.core.builders.drift_signals._build import (
    DEFAULT_EXPECTED_SOURCE,
    build_drift_signals,
    canon_tree_hash,
    unknown_drift,
)
from registry_pipeline.core.builders.drift_signals._model import (
    DETAIL_ARTIFACT,
    KIND_SEVERITY,
    UTC_STAMP,
    V01_ARTIFACT,
    DriftResult,
    Evidence,
    Signal,
    SnapshotRef,
)
from registry_pipeline.core.builders.drift_signals._v01 import POLICY_RULES, canon_notes

__all__ = [
    "DEFAULT_EXPECTED_SOURCE",
    "DETAIL_ARTIFACT",
    "KIND_SEVERITY",
    "POLICY_RULES",
    "UTC_STAMP",
    "V01_ARTIFACT",
    "DriftResult",
    "Evidence",
    "Signal",
    "SnapshotRef",
    "build_drift_signals",
    "canon_notes",
    "canon_tree_hash",
    "unknown_drift",
]
