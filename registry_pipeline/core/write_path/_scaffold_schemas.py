"""The entry schemas `registry init --with-write-path` writes: one JSON Schema (draft 2020-12,
written as YAML) per registry type of seed 003, Block A ("Primary key fields ... Relationship
fields ... Descriptive fields ... Enumerations and required/optional constraints"). The example
workspace (`examples/module-registries/`) has the same shapes; a test holds them together.

Event types and routing stages are plain names here: the coordination rules check them against
the lists the workspace declares (`registries/COORDINATION_v0_1.yaml`), so one list decides."""

from __future__ import annotations

_HEAD = """\
# Schema of one {title} entry ({where}). JSON Schema 2020-12, written as YAML.
# Made by `registry init --with-write-path`; edit it to fit your registry (docs/WRITE_PATH.md).
$schema: "https://json-schema.org/draft/2020-12/schema"
$id: "urn:registry-types:schema:{name}"
title: {title}
type: object
additionalProperties: false
"""
_NAME = "type: string\n    pattern: '^[a-z][a-z0-9_]*$'"
_TEXT = "type: string\n    minLength: 1"
_TAGS = "type: array\n    uniqueItems: true\n    items: {type: string, minLength: 1}"
_NAMES = (
    "type: array\n    uniqueItems: true\n    items: {type: string, pattern: '^[a-z][a-z0-9_]*$'}"
)
_OPERATION = r"'^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'"
_SEMVER = (
    r"'^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'"
)
_SCOPE = r"'^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.([a-z][a-z0-9_]*|\*)$'"
"""An operation key, or a prefix pattern ending in `.*`."""
_STATUS = "type: string\n    enum: [active, deprecated]"
_HOOK_IDS = "{type: array, uniqueItems: true, items: {type: string, pattern: '^[a-z][a-z0-9_]*$'}}"

_BODIES = {
    "module_type": f"""\
required: [type_id, name, description, status]
properties:
  type_id:
    description: Primary key, unique across module types.
    {_NAME}
  name:
    {_TEXT}
  description:
    {_TEXT}
  status:
    {_STATUS}
  tags:
    {_TAGS}
""",
    "module_instance": f"""\
required: [module_id, type_id, name, description, owner, status]
properties:
  module_id:
    description: Primary key; abilities, routes, maturity records and interfaces name it.
    {_NAME}
  type_id:
    description: The module_type this instance is of.
    {_NAME}
  name:
    {_TEXT}
  description:
    {_TEXT}
  owner:
    description: The team that owns the module.
    {_TEXT}
  status:
    type: string
    enum: [planned, active, deprecated]
  tags:
    {_TAGS}
""",
    "module_maturity": f"""\
required: [module_id, level, assessed_on]
properties:
  module_id:
    description: Primary key and relationship; the module_instance assessed.
    {_NAME}
  level:
    type: string
    enum: [prototype, alpha, beta, stable, retired]
  assessed_on:
    description: The day of the assessment (YYYY-MM-DD).
    type: string
    pattern: '^\\d{{4}}-\\d{{2}}-\\d{{2}}$'
  notes:
    {_TEXT}
""",
    "module_interface": f"""\
required: [interface_id, module_id, kind, description, status]
properties:
  interface_id:
    description: Primary key, for example articles.http.
    type: string
    pattern: '^[a-z][a-z0-9_.]*$'
  module_id:
    description: The module_instance that offers the interface.
    {_NAME}
  kind:
    type: string
    enum: [http_api, event, cli, file, library]
  description:
    {_TEXT}
  status:
    {_STATUS}
""",
    "route": f"""\
required: [route_id, owner_module, scope, topics, description, status]
properties:
  route_id:
    description: Primary key, also the file name (<route_id>.yaml).
    {_NAME}
  owner_module:
    description: The module_instance that owns the content.
    {_NAME}
  scope:
    description: Content path prefixes, each ending in /; no route's may contain another's.
    type: array
    minItems: 1
    uniqueItems: true
    items: {{type: string, pattern: '^[a-z0-9][a-z0-9_.-]*/([a-z0-9][a-z0-9_.-]*/)*$'}}
  topics:
    type: array
    uniqueItems: true
    items: {{type: string, pattern: '^[a-z][a-z0-9_-]*$'}}
  description:
    {_TEXT}
  status:
    {_STATUS}
""",
    "ability_low": f"""\
required: [operation_key, version, summary, scope, implementation, status]
properties:
  operation_key:
    description: Primary key (for example db.write.user_row), also the file name.
    type: string
    pattern: {_OPERATION}
  version:
    description: Semantic version.
    type: string
    pattern: {_SEMVER}
  summary:
    {_TEXT}
  scope:
    type: object
    required: [modules, environments]
    additionalProperties: false
    properties:
      modules:
        description: The module_instances that may use the ability.
        type: array
        minItems: 1
        uniqueItems: true
        items: {{type: string, pattern: '^[a-z][a-z0-9_]*$'}}
      environments:
        type: array
        minItems: 1
        uniqueItems: true
        items: {{enum: [dev, staging, prod]}}
  implementation:
    description: How the ability runs; kind script needs command, mcp server and tool, api endpoint.
    type: object
    required: [kind]
    additionalProperties: false
    properties:
      kind: {{enum: [script, mcp, api]}}
      command: {{type: string, minLength: 1}}
      server: {{type: string, minLength: 1}}
      tool: {{type: string, minLength: 1}}
      endpoint: {{type: string, minLength: 1}}
    allOf:
      - if: {{properties: {{kind: {{const: script}}}}}}
        then: {{required: [command]}}
      - if: {{properties: {{kind: {{const: mcp}}}}}}
        then: {{required: [server, tool]}}
      - if: {{properties: {{kind: {{const: api}}}}}}
        then: {{required: [endpoint]}}
  hooks:
    description: Hook ids per slot; each must name a hook of the slot's event type.
    type: object
    additionalProperties: false
    properties:
      pre_create: {_HOOK_IDS}
      pre_call: {_HOOK_IDS}
      post_call: {_HOOK_IDS}
  status:
    {_STATUS}
""",
    "ability_high": f"""\
required: [id, type, summary, calls, status]
properties:
  id:
    description: Primary key, also the file name (<id>.yaml).
    {_NAME}
  type:
    type: string
    enum: [workflow, agent]
  summary:
    {_TEXT}
  calls:
    description: The operation keys of the low-level abilities it calls.
    type: array
    minItems: 1
    uniqueItems: true
    items: {{type: string, pattern: {_OPERATION}}}
  status:
    {_STATUS}
""",
    "hook": f"""\
required: [id, event_type, enabled, blocking, summary, handler, status]
properties:
  id:
    description: Primary key, also the file name (<id>.yaml).
    {_NAME}
  event_type:
    description: The event the hook listens to; one of the declared hook_event_types.
    type: string
    pattern: '^[A-Z][A-Za-z]*$'
  routing_stages:
    description: The content routing stages it runs at; each one of the declared routing_stages.
    {_NAMES}
  enabled:
    type: boolean
  blocking:
    description: Whether a failing handler stops the event (only PromptSubmit, PreAbilityCall).
    type: boolean
  summary:
    {_TEXT}
  match:
    description: Filters narrowing when the hook runs; all given must match.
    type: object
    additionalProperties: false
    properties:
      ability_scope:
        description: Operation keys, or prefix patterns ending in .*; each must match an ability.
        type: array
        minItems: 1
        uniqueItems: true
        items: {{type: string, pattern: {_SCOPE}}}
      min_duration_ms: {{type: integer, minimum: 0}}
      only_if_changed_paths:
        type: array
        minItems: 1
        uniqueItems: true
        items: {{type: string, minLength: 1}}
  handler:
    type: object
    required: [kind, command]
    additionalProperties: false
    properties:
      kind: {{const: script}}
      command: {{type: string, minLength: 1}}
  status:
    {_STATUS}
""",
}


def schema_text(name: str, title: str, where: str) -> str:
    """The schema file of the type `name`."""
    return _HEAD.format(name=name, title=title, where=where) + _BODIES[name]
