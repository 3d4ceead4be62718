"""The coordination rules `registry init --with-write-path` writes: seed 003's three
relationships (Block C, 5.1), each "When A changes, check B/C", at the severity it calls for."""

from __future__ import annotations

RULES_TEXT = """\
# Coordination rules between the registry types of this workspace (seed 003, Block C).
# `registry add-entry` and `registry deprecate` run them before each write (an error refuses it,
# a warning is printed, a record is appended to registries/WRITE_NOTES_v0_1.jsonl), and
# `registry build` runs them as a blocking check. Made by `registry init --with-write-path`; edit
# freely (docs/registry_coordination.md lists the kinds). Fields are JSON pointers into one
# entry; /* stands for every item of a list.
version: "0.1"
# The lists hook registrations are checked against (seed 003, 5.1.3: "The referenced hook event
# types and routing stages are valid"). These are the built-in defaults, written out to edit.
declared:
  hook_event_types: [PromptSubmit, PreAbilityCreate, PreAbilityCall, PostAbilityCall, SessionStop]
  routing_stages: [pre_route, post_route]
rules:
  # Module instances and what refers to them
  - id: instance-type-exists
    severity: error
    kind: exists
    from: {type: module_instance, field: /type_id}
    to: {type: module_type}
    why: "Every module instance must be of a module type that exists."
  - id: maturity-module-exists
    severity: error
    kind: exists
    from: {type: module_maturity, field: /module_id}
    to: {type: module_instance}
    why: "A maturity record must describe a module instance that exists."
  - id: interface-module-exists
    severity: error
    kind: exists
    from: {type: module_interface, field: /module_id}
    to: {type: module_instance}
    why: "An interface must be exposed by a module instance that exists."
  - id: maturity-of-inactive-instance
    severity: record
    kind: exists
    from: {type: module_maturity, field: /module_id}
    to: {type: module_instance, where: {field: /status, equals: active}}
    why: "Maturity of an instance that is not active is recorded for review, not refused."

  # 5.1.2 Routing and module instance
  - id: route-owner-exists
    severity: error
    kind: exists
    from: {type: route, field: /owner_module}
    to: {type: module_instance}
    why: "A content route must be owned by a module instance that exists."
  - id: route-scope-overlap
    severity: error
    kind: no_overlap
    of: {type: route, field: /scope/*}
    why: "A content path belongs to exactly one route: no route's scope may contain another's."
  - id: route-shared-topic
    severity: warning
    kind: shared
    of: {type: route, field: /topics/*, owner: /owner_module}
    why: "A topic covered by routes of different owners may be split across modules."

  # 5.1.1 Ability and module instance
  - id: ability-modules-exist
    severity: error
    kind: exists
    from: {type: ability_low, field: /scope/modules/*}
    to: {type: module_instance}
    why: "An ability may only be scoped to module instances that exist."
  - id: ability-pre-create-hooks
    severity: error
    kind: exists
    from: {type: ability_low, field: /hooks/pre_create/*}
    to: {type: hook, where: {field: /event_type, equals: PreAbilityCreate}}
    why: "A pre_create slot may only name existing hooks that listen to PreAbilityCreate."
  - id: ability-pre-call-hooks
    severity: error
    kind: exists
    from: {type: ability_low, field: /hooks/pre_call/*}
    to: {type: hook, where: {field: /event_type, equals: PreAbilityCall}}
    why: "A pre_call slot may only name existing hooks that listen to PreAbilityCall."
  - id: ability-post-call-hooks
    severity: error
    kind: exists
    from: {type: ability_low, field: /hooks/post_call/*}
    to: {type: hook, where: {field: /event_type, equals: PostAbilityCall}}
    why: "A post_call slot may only name existing hooks that listen to PostAbilityCall."
  - id: high-level-calls-exist
    severity: error
    kind: exists
    from: {type: ability_high, field: /calls/*}
    to: {type: ability_low}
    why: "A workflow or agent may only call low-level abilities that exist."

  # 5.1.3 Hooks and abilities / routing
  - id: hook-ability-scope
    severity: error
    kind: exists
    from: {type: hook, field: /match/ability_scope/*}
    to: {type: ability_low, patterns: true}
    why: "A hook's ability scope must name existing abilities; a prefix pattern must match one."
  - id: hook-event-type
    severity: error
    kind: one_of
    of: {type: hook, field: /event_type}
    values_from: hook_event_types
    why: "The hook runner only dispatches the declared event types."
  - id: hook-routing-stage
    severity: error
    kind: one_of
    of: {type: hook, field: /routing_stages/*}
    values_from: routing_stages
    why: "A hook can only run at a routing stage the router has."
  - id: hook-blocking-events
    severity: error
    kind: one_of
    of: {type: hook, field: /event_type}
    when: {field: /blocking, equals: true}
    values: [PromptSubmit, PreAbilityCall]
    why: "Only a prompt or a call that has not happened yet can be stopped."

  # Lifecycle: `registry deprecate TYPE KEY --reason TEXT` marks an entry (status: deprecated)
  - id: deprecated-reference
    severity: warning
    kind: not_deprecated
    why: "A reference to a deprecated entry still works but should be moved to a current one."
"""
