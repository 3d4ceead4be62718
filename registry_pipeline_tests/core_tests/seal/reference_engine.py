"""jsonschema, the reference issue 29 compares the one engine (jsonschema-rs) with."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from registry_pipeline.core.seal.schemas import SchemaCatalog

EXACT_INT = 2**53


def reference_validator(catalog: SchemaCatalog, schema_id: str) -> Any:
    """jsonschema's draft 2020-12 validator for the schema, `$ref`s among the catalog only."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry().with_resources(
        (sid, DRAFT202012.create_resource(s.document)) for sid, s in catalog.schemas.items()
    )
    return Draft202012Validator(catalog.schemas[schema_id].document, registry=registry)


def metaschema_problems(catalog: SchemaCatalog) -> Iterator[tuple[Path, str]]:
    """Schemas that are not themselves valid draft 2020-12 schemas, by jsonschema."""
    from jsonschema import Draft202012Validator

    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for schema in catalog.schemas.values():
        for error in meta.iter_errors(schema.document):
            yield schema.path, error.message


def plain(value: Any) -> bool:
    """Whether `value` holds only what a strict JSON parse gives (integers within +-2**53)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -EXACT_INT <= item <= EXACT_INT:
                return False
        elif kind is not float or not math.isfinite(item):
            return False
    return True


def comparable(value: Any) -> bool:
    """`plain`, with no string ending in a newline or non-ASCII (Python's `re` is no ECMA-262)."""
    if not plain(value):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.endswith("\n") or not item.isascii():
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
