"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def unseal(folder: Path) -> None:
    """Make a sealed (0444/0555) folder writable, portably (tests may not run as root)."""
    for directory, _subdirs, files in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


DEMO_GRAPH: dict[str, list[str]] = {
    "run_registry": [],
    "op_status_table": ["allowed_operations", "run_registry", "threshold_packs_file"],
    "drift_signals": [
        "expected_versions",
        "op_status_table",
        "run_registry",
        "threshold_packs_file",
    ],
    "system_health_report": ["drift_signals", "op_status_table", "run_registry"],
    "expected_versions": [],
    "migration_ledger": [],
    "threshold_packs_file": [],
    "allowed_operations": [],
    "registry_delta_log": [
        "allowed_operations",
        "drift_signals",
        "expected_versions",
        "migration_ledger",
        "op_status_table",
        "run_registry",
        "threshold_packs_file",
    ],
}
"""The demo workspace's registry graph (registry -> sorted upstream registries): a contract."""


def copy_demo(parent: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) under `parent`, with no runs."""
    from registry_pipeline.core.workspace.layout import init_workspace

    root = parent / "demo"
    root.mkdir()
    shutil.copytree(REPO / "registries", root / "registries")
    shutil.copytree(REPO / "schemas", root / "schemas")
    init_workspace(root)
    return root


def break_built_schema(root: Path, field: str = "signed_off_by") -> Path:
    """Make drift_signals' own schema require `field`, which its builder never writes: the next
    build seals a drift_signals snapshot whose schema check fails (hand-edited sources that
    violate their schema are refused before sealing, so this is how a check fails)."""
    schema = root / "schemas" / "drift_signals_v0_1.schema.json"
    document = json.loads(schema.read_text())
    document["required"] = [*document["required"], field]
    schema.write_text(json.dumps(document, indent=2))
    return schema
