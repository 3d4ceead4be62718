"""Our append-only check against the seed's checker (SEED_ROLE_REGISTRY_CHECK), per mutation."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from registry_pipeline.core.append_only import preset
from registry_pipeline.core.append_only.baseline import check_file, git_baseline
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests._rolepack import example_pack
from registry_pipeline_tests.core_tests.append_only._seed_mutations import MUTATIONS, Mutation

REPO = Path(__file__).resolve().parents[3]
CHECKER_ENV = "SEED_ROLE_REGISTRY_CHECK"
PACK = "assets/atelier_rolepack_digital_production_studio_v1.json"
"""Where the seed's checker reads the pack (fixed in its code)."""
GIT = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
GIT += ["-c", "init.defaultBranch=main"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, check=True)


def _repository(tmp_path: Path, mutation: Mutation) -> Path:
    """A repository: `main` holds the published pack (or no commit), the tree the mutated one."""
    root = tmp_path / "repo"
    (root / "assets").mkdir(parents=True)
    _git(root, "init", "-q")
    pack = root / PACK
    if mutation.published is not None:
        published = mutation.published(copy.deepcopy(example_pack()))
        pack.write_text(json.dumps(published, indent=2) + "\n", encoding="utf-8")
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "publish")
    current = mutation.change(copy.deepcopy(example_pack()))
    data = current if isinstance(current, bytes) else json.dumps(current, indent=2).encode()
    pack.write_bytes(data)
    return root


def _our_verdict(root: Path) -> bool:
    """What `check-append-only --baseline-git main` decides: exit 1 and exit 2 both fail."""
    path = root / PACK
    try:
        baseline = git_baseline(path, "main")
        checked = check_file(
            path.read_bytes(),
            path.name,
            baseline,
            preset("rolepack", "test"),
            SchemaCatalog.for_workspace(None),
            str(path),
        )
    except RegistryError:
        return False
    return checked.ok


def _seed_checker() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the seed's checker is a Node script")
    configured = os.environ.get(CHECKER_ENV)
    if not configured or not Path(configured).is_file():
        pytest.skip(
            f"{CHECKER_ENV} does not name a copy of the seed's checker (Nuntissura/Handshake "
            ".GOV/roles_shared/checks/atelier_role_registry_check.mjs; not vendored: its code "
            "may not enter this repository); our verdicts are still checked against the table"
        )
    return node, Path(configured)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_our_verdict(tmp_path: Path, mutation: Mutation) -> None:
    assert _our_verdict(_repository(tmp_path, mutation)) is mutation.ours


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_seed_checkers_verdict(tmp_path: Path, mutation: Mutation) -> None:
    node, checker = _seed_checker()
    root = _repository(tmp_path, mutation)
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    done = subprocess.run(
        [node, str(checker)], cwd=root, capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    assert (done.returncode == 0) is mutation.seed, done.stdout + done.stderr


def test_every_difference_is_deliberate_and_documented() -> None:
    docs = " ".join((REPO / "docs" / "APPEND_ONLY.md").read_text(encoding="utf-8").split())
    for mutation in MUTATIONS:
        if mutation.seed is mutation.ours:
            assert mutation.why is None, mutation.name
        else:
            assert mutation.why is not None and mutation.why in docs, mutation.name


def test_the_table_covers_every_shape_rule_of_the_seed_checker() -> None:
    """Each of the seed checker's refusals has at least one mutation that both checkers fail."""
    both_fail = {m.name for m in MUTATIONS if not m.seed and not m.ours}
    for needed in ("roles an object", "the root an array", "a role that is a string",
                   "role_id missing", "extract_contracts missing", "a duplicate role",
                   "a contract that is a string", "contract_id missing", "contract version 0",
                   "a contract of another role", "contract kind C in the extract list",
                   "schema_json missing", "a duplicate contract id", "a role removed",
                   "a contract removed", "a schema changed"):  # fmt: skip
        assert needed in both_fail
