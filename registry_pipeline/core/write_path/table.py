"""The generated tables of registry types (the seed's `.system/registry/AGENTS.md`) and rules."""

from __future__ import annotations

import json
from importlib import resources

from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.write_path.content import EntryType
from registry_pipeline.core.write_path.rules import Coordination


def types_markdown(catalog: RegistryCatalog, types: dict[str, EntryType]) -> str:
    """The Markdown document listing every writable type, in catalog order."""
    rules = f"`{catalog.coordination}`" if catalog.coordination else "no coordination file"
    order = {spec.registry_id: index for index, spec in enumerate(catalog.registries)}
    listed = sorted(types.values(), key=lambda t: order.get(t.registry_id, 0))
    return _render("types.md.j2", rules=rules, types=listed)


def _render(name: str, **values: object) -> str:
    """The template `scaffold/NAME` rendered (jinja2 imported here only: a tenth of a second)."""
    import jinja2

    template = (resources.files(__package__) / "scaffold" / name).read_text("utf-8")
    environment = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, autoescape=False)
    environment.filters["shown"] = _shown
    return environment.from_string(template).render(**values)


def types_json(types: dict[str, EntryType]) -> list[dict[str, object]]:
    """The types as `registry types --json` prints them."""
    return [
        {
            "type": t.name,
            "registry_id": t.registry_id,
            "layout": t.layout,
            "content": t.source,
            "container": t.container if t.layout in ("list", "map") else None,
            "key": t.key,
            "order": t.order,
            "schema": t.schema,
            "schema_id": t.schema_id,
            "purpose": t.purpose,
        }
        for t in types.values()
    ]


def coordination_markdown(coordination: Coordination) -> str:
    """The rules as a Markdown table (the generated part of docs/registry_coordination.md)."""
    return _render("coordination.md.j2", rules=coordination.rules)


def _shown(value: object) -> str:
    """A rule's value as written in YAML: strings bare, others as JSON (`true`, `null`)."""
    return value if isinstance(value, str) else json.dumps(value)
