"""The build's side of the write path: every finding about one registry's entries, from the
files it is about to promote, by the rules `add-entry` applies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path.content import TypeContent, content_of, read_type
from registry_pipeline.core.write_path.coordinate import evaluate
from registry_pipeline.core.write_path.entry_schema import entry_violations
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.rules import load_coordination, rules_involving
from registry_pipeline.core.write_path.types import EntryType, entry_types

Reader = Callable[[Path, EntryType], TypeContent]


def workspace_findings(
    workspace: Workspace,
    catalog: RegistryCatalog,
    registry_id: str,
    files: Mapping[str, bytes],
    *,
    read: Reader = read_type,
) -> list[Finding]:
    """Every finding about the entries of `registry_id` when its files are `files` (relpath as
    sealed -> bytes) and the other registries are as `read` gives them (default: as the
    workspace holds them; the build's check reads their sealed snapshots): unreadable files,
    duplicate keys, schema violations per entry and coordination findings of every severity."""
    types = entry_types(catalog)
    by_registry = {t.registry_id: t for t in types.values()}
    target = by_registry.get(registry_id)
    if target is None:
        return []
    coordination = rules_involving(
        load_coordination(workspace.root, catalog.coordination, types), target.name
    )
    contents: dict[str, TypeContent] = {target.name: content_of(target, files)}
    for name in {name for rule in coordination.rules for name in rule.types} - {target.name}:
        contents[name] = read(workspace.root, types[name])
    own = contents[target.name]
    findings = list(own.problems)
    for entry in own.entries.values():
        findings.extend(entry_violations(workspace.root, target, entry.key, entry.value))
    if all(not content.problems for name, content in contents.items() if name != target.name):
        findings.extend(f for f in evaluate(coordination, contents) if f.type == target.name)
    else:
        findings.extend(
            Finding(
                "DEPENDENCY_UNREADABLE",
                "error",
                target.name,
                None,
                "",
                f"{problem.type} cannot be read ({problem.message}): coordination not checked",
                problem.file,
            )
            for name, content in contents.items()
            if name != target.name
            for problem in content.problems
        )
    return findings
