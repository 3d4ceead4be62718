"""The pure core: sealing, validation, workspaces, pointers, the delta log and the builders.

Never imports dagster (nor `registry_pipeline.lib`, `.defs`, `.cli`): a user can validate run
folders, seal files and verify history with Dagster absent.

One subpackage per concept, and dependencies run one way, down this list (a subpackage imports
only those above it; `core_tests/test_layers.py` enforces it):

1. `seal/`        one run folder: hashes, manifests, run ids, run.json, run store, validation
2. `workspace/`   a workspace's layout, registry catalog, sources, snapshots, the build slot
3. `pointers/`    the active pointer file, its store, the journal and its replay
4. `append_only/` append-only catalogs: ids and published contracts only grow
5. `write_path/`  `add-entry`: registry types, coordination rules, spliced atomic writes
6. `run_index/`   append-only run records with rules, a SQLite sidecar, the four queries
7. `explain/`     record-level explanations of changes
8. `delta_log/`   the registry delta log
9. `gate/`        the publish gate: the blocking checks, their receipts, the gated pointer store
10. `builders/`   the pure builders and the one list of them
11. `adopt/`      planning our catalog for a repository laid out like the seed system's

At the top, the shared primitives with public names, which every subpackage may import and
which import none of them: `errors` (one error base and the reason codes), `json_strict` and
`yaml_io` (the strict JSON and YAML readers), `jsonl` (the one append-only log: append with
fsync, torn tail, prefix check), `fs` (atomic file writes, fsync of a folder), `lock` (the one
lock: an owner note, a wait callback, a backend per medium), `verified` (the one "this
fingerprint passed these checks" cache) and `faults` (the crash-injection points tests use);
and this package face. A module whose name
starts with `_` is imported only inside its own folder (`.importlinter`'s private contracts).
"""

from registry_pipeline.core.errors import (
    Problem,
    ReasonCode,
    RegistryError,
    UsageError,
)
from registry_pipeline.core.seal.envelope import RunSpec, SealedRef
from registry_pipeline.core.seal.manifest import ManifestEntry, root_sha256
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.seal.validate import (
    FolderReport,
    inspect_run_folder,
    is_valid_run_folder,
    verify_run_folder,
)
from registry_pipeline.core.workspace.layout import Workspace, init_workspace

LAYERS = (
    "objstore",
    "seal",
    "workspace",
    "pointers",
    "append_only",
    "write_path",
    "run_index",
    "explain",
    "delta_log",
    "gate",
    "builders",
    "adopt",
    "freshness",
)
"""The subpackages in dependency order: each may import only those before it."""

__all__ = [
    "FolderReport",
    "ManifestEntry",
    "Problem",
    "ReasonCode",
    "RegistryError",
    "RunSpec",
    "RunStore",
    "SealedRef",
    "SealedRun",
    "UsageError",
    "Workspace",
    "init_workspace",
    "inspect_run_folder",
    "is_valid_run_folder",
    "root_sha256",
    "seal_files",
    "verify_run_folder",
]
