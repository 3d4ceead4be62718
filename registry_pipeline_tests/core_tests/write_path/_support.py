"""Write path test helpers: workspace copies, snapshots, readers independent of the writer."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.yaml_io import loads_yaml_strict
from registry_pipeline_tests._helpers import EXAMPLE, REPO, copy_example

__all__ = ["EXAMPLE", "REPO", "copy_example"]

EXAMPLE_TYPES = (
    "ability_high",
    "ability_low",
    "hook",
    "module_instance",
    "module_interface",
    "module_maturity",
    "module_type",
    "route",
)
"""The eight types of the example workspace, each with a sample in `entries/<type>.yaml`."""

EXAMPLE_FILES = {
    "module_type": ("modules/overview/type_registry.yaml", "/module_types", "type_id"),
    "module_instance": (
        "modules/overview/instance_registry.yaml",
        "/module_instances",
        "module_id",
    ),
    "module_maturity": ("modules/overview/instance_maturity.yaml", "/maturity", "module_id"),
    "module_interface": ("modules/overview/interfaces.yaml", "/interfaces", "interface_id"),
}
"""The example's list types: (file, container, key)."""

EXAMPLE_FOLDERS = {
    "route": ("modules/routes", "route_id"),
    "hook": (".system/hooks", "id"),
    "ability_low": (".system/registry/low-level", "operation_key"),
    "ability_high": (".system/registry/high-level", "id"),
}
"""The example's files types: (folder, key)."""

DEMO_FILES = {
    "expected_versions": "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json",
    "migration_ledger": "registries/migration_ledger/applied_migrations.json",
    "allowed_operations": "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json",
    "rolepack": "registries/rolepack/atelier_rolepack_v1.json",
}
DEMO_PACKS = "registries/threshold_packs"
NOTES = "registries/WRITE_NOTES_v0_1.jsonl"
OVERRIDES = "registries/WRITE_OVERRIDES_v0_1.jsonl"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace by relpath, `.codex/` (the write lock, runs) left out."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] != ".codex"
    }


def changed_files(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    """The relpaths added, removed or changed between two snapshots."""
    return {rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel)}


def sample(name: str) -> Any:
    """The example's sample entry of type `name` (entries/<name>.yaml), parsed."""
    return loads_yaml_strict((EXAMPLE / "entries" / f"{name}.yaml").read_bytes())


def parse(path: Path) -> Any:
    """A registry file parsed strictly (YAML or JSON by its suffix)."""
    data = path.read_bytes()
    return loads_yaml_strict(data) if path.suffix in (".yaml", ".yml") else loads_strict(data)


def keys_of(document: Any, container: str, key: str) -> list[str]:
    """The keys of a list at `container` (a one-level pointer), in file order."""
    return [item[key] for item in document[container.strip("/")]]


def opcodes(before: bytes, after: bytes) -> list[tuple[str, int, int, int, int]]:
    """difflib's line opcodes from `before` to `after`, the `equal` ones left out."""
    old = before.decode("utf-8").splitlines(keepends=True)
    new = after.decode("utf-8").splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [op for op in matcher.get_opcodes() if op[0] != "equal"]


def inserted_block(before: bytes, after: bytes) -> list[str]:
    """The lines `after` adds to `before`, asserting that one contiguous block is all it adds."""
    ops = opcodes(before, after)
    assert len(ops) == 1, ops
    tag, i1, i2, j1, j2 = ops[0]
    assert tag == "insert" and i1 == i2, ops
    return after.decode("utf-8").splitlines(keepends=True)[j1:j2]


def entry_lines(data: bytes, key_field: str, key: str) -> tuple[int, int]:
    """(first, stop) line indexes of the YAML item `- key_field: key`, up to its next sibling."""
    lines = data.decode("utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() == f"- {key_field}: {key}")
    indent = len(lines[first]) - len(lines[first].lstrip())
    stop = first + 1
    while stop < len(lines):
        line = lines[stop]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        stop += 1
    return first, stop


def comments(data: bytes) -> list[str]:
    """Every comment line of a YAML file, as written."""
    return [line for line in data.decode("utf-8").splitlines() if line.lstrip().startswith("#")]


def json_members(data: bytes, container: str, key: str | None) -> dict[str, str]:
    """Each member at `container` (by key or name) as its value's exact text, by json_source_map."""
    from json_source_map import calculate

    text = data.decode("utf-8")
    positions = calculate(text)
    document = json.loads(text)
    holder = document
    for part in container.strip("/").split("/"):
        holder = holder[part]
    found: dict[str, str] = {}
    if isinstance(holder, list):
        assert key is not None
        for index, item in enumerate(holder):
            entry = positions[f"{container}/{index}"]
            found[item[key]] = text[entry.value_start.position : entry.value_end.position]
    else:
        for name in holder:
            entry = positions[f"{container}/{name}"]
            found[name] = text[entry.value_start.position : entry.value_end.position]
    return found


def json_outside(data: bytes, container: str) -> tuple[str, str]:
    """The text of a JSON file before and after the container's value."""
    from json_source_map import calculate

    text = data.decode("utf-8")
    entry = calculate(text)[container]
    return text[: entry.value_start.position], text[entry.value_end.position :]


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines log (none when it does not exist)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]
