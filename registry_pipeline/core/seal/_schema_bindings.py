"""Schema bindings: a small JSON file (`x-schema-file`) that names the schema governing an
artifact, checked so the file it names lies inside the workspace (no absolute path, no `..`
out of it, no symlink on the way)."""

from __future__ import annotations

import stat
from pathlib import Path, PureWindowsPath
from typing import Any

from registry_pipeline.core.errors import UsageError

BINDING_KEY = "x-schema-file"
BINDING_KEYWORDS = frozenset({"$id", "$schema", "title", "description"})
"""The keywords a binding may hold besides `x-*` ones: a binding is not itself a schema."""


def walk_binding(binding: Path, target: object) -> list[Path]:
    """Every path the OS would pass through to open `target` from the binding's folder, the file
    last; ValueError (before any filesystem call) when it is not a relative path inside the
    workspace (the binding folder's parent)."""
    if not isinstance(target, str) or not target:
        raise ValueError("must be a non-empty relative path (a string)")
    if "\\" in target or "\0" in target:
        raise ValueError("must use `/` as separator (no backslash, no NUL)")
    if target.startswith("/") or PureWindowsPath(target).drive:
        raise ValueError("is absolute: it must be relative to the binding's folder")
    folder = binding.absolute().parent
    parts = [folder.name]
    walk = [folder]
    for part in target.split("/"):
        if part == "..":
            if not parts:
                raise ValueError(f"leads outside the workspace {folder.parent}")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
            walk.append(folder.parent.joinpath(*parts))
    walk.append(folder.parent.joinpath(*parts))
    return walk


def bound_file(binding: Path, declared: dict[str, Any]) -> Path:
    """The checked file a binding names: SCHEMA_INVALID for a binding with schema keywords or a
    reference that may leave the workspace, SCHEMA_UNREADABLE when it is missing."""
    extra = sorted(k for k in declared if k not in BINDING_KEYWORDS and not k.startswith("x-"))
    if extra:
        raise UsageError(
            f"a binding ({BINDING_KEY}) holds only $id, $schema, title, description and x-* "
            f"keys, not a schema of its own; found {', '.join(map(repr, extra))}",
            code="SCHEMA_INVALID",
            path=str(binding),
        )
    target = declared[BINDING_KEY]
    try:
        walk = walk_binding(binding, target)
    except ValueError as exc:
        raise UsageError(
            f"{BINDING_KEY} {target!r} {exc}", code="SCHEMA_INVALID", path=str(binding)
        ) from None
    for step in dict.fromkeys(walk):  # the file itself comes last
        try:
            info = step.lstat()
        except OSError as exc:
            raise UsageError(
                f"cannot read the schema bound by {binding}: {exc.strerror or exc} ({step})",
                code="SCHEMA_UNREADABLE",
                path=str(walk[-1]),
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(
                f"{BINDING_KEY} {target!r} passes through the symlink {step}: the bound file "
                "must lie in the workspace itself",
                code="SCHEMA_INVALID",
                path=str(binding),
            )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"the schema bound by {binding} is not a regular file",
            code="SCHEMA_UNREADABLE",
            path=str(walk[-1]),
        )
    return walk[-1]
