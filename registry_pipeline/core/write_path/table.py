"""The generated table of registry types (the seed's `.system/registry/AGENTS.md`): each type
with its schema, its content path(s) and one line of purpose, and how to change it."""

from __future__ import annotations

import json
from importlib import resources

from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.write_path.content import EntryType
from registry_pipeline.core.write_path.rules import Coordination, Rule


def types_markdown(catalog: RegistryCatalog, types: dict[str, EntryType]) -> str:
    """The Markdown document listing every writable type, in catalog order (the template
    `scaffold/types.md.j2`; jinja2 is imported here only: it costs a tenth of a second)."""
    import jinja2

    rules = f"`{catalog.coordination}`" if catalog.coordination else "no coordination file"
    order = {spec.registry_id: index for index, spec in enumerate(catalog.registries)}
    listed = sorted(types.values(), key=lambda t: order.get(t.registry_id, 0))
    template = (resources.files(__package__) / "scaffold" / "types.md.j2").read_text("utf-8")
    environment = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, autoescape=False)
    return environment.from_string(template).render(rules=rules, types=listed)


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
    """The rules as a table: for each, when which registries change, what is checked, how
    severe, and why (the generated part of docs/registry_coordination.md)."""
    lines = [
        "| Rule | Severity | When this changes | Check | Why |",
        "|---|---|---|---|---|",
    ]
    for rule in coordination.rules:
        changes = ", ".join(f"`{name}`" for name in dict.fromkeys(rule.types)) or "any reference"
        why = rule.why.replace("|", "\\|")
        lines.append(f"| `{rule.id}` | {rule.severity} | {changes} | {_check_text(rule)} | {why} |")
    return "\n".join(lines) + "\n"


def _check_text(rule: Rule) -> str:
    field = f"`{rule.field}`"
    if rule.kind == "exists":
        where = rule.target_where
        also = f" whose `{where.field}` is `{_shown(where.equals)}`" if where else ""
        pattern = " (a value ending in `.*` must match at least one)" if rule.patterns else ""
        return f"each {field} of `{rule.source_type}` names a `{rule.target_type}`{also}{pattern}"
    if rule.kind == "not_deprecated" and rule.field is None:
        return (
            "no reference of an `exists` rule names a deprecated entry (`registry deprecate` "
            "marks one: its `lifecycle` or `status` is `deprecated`, unless declared otherwise)"
        )
    if rule.kind == "not_deprecated":
        return (
            f"no reference of an `exists` rule names an entry whose {field} is "
            f"`{_shown(rule.value)}`"
        )
    if rule.kind == "no_overlap":
        return f"no {field} of one `{rule.source_type}` is a prefix of another's"
    if rule.kind == "shared":
        return (
            f"a {field} of `{rule.source_type}` is not also used by an entry of another "
            f"`{rule.owner}`"
        )
    values = ", ".join(f"`{_shown(value)}`" for value in rule.values)
    if rule.values_from is not None:
        values = f"the declared `{rule.values_from}` ({values})"
    when = f" when `{rule.when.field}` is `{_shown(rule.when.equals)}`" if rule.when else ""
    return f"{field} of `{rule.source_type}` is one of {values}{when}"


def _shown(value: object) -> str:
    """A rule's value as written in YAML: strings bare, others as JSON (`true`, `null`)."""
    return value if isinstance(value, str) else json.dumps(value)
