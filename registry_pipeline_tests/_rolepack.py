"""A generated RolePack shaped like the published one (38 roles; `scaled_pack(n)`: n roles)."""

from __future__ import annotations

import copy
from typing import Any

DEPARTMENTS = (
    ("executive", 2),
    ("thematic_psychological", 4),
    ("context_culture", 3),
    ("world_building", 3),
    ("visuals", 4),
    ("fashion_styling", 4),
    ("finishing", 4),
    ("special_modes", 14),
)
"""The real pack's departments and how many roles each has (38 in all)."""

EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["claims"],
    "properties": {
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["feature", "value", "confidence"],
                "properties": {
                    "feature": {"type": "string"},
                    "value": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "notes": {"type": "string"},
    },
}
PRODUCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["output", "sources"],
    "properties": {
        "output": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "string"}},
    },
}


def role(role_id: str, department_id: str, number: int) -> dict[str, Any]:
    """One role with one extract and one produce contract, version 1, in the real key order."""
    return {
        "role_id": role_id,
        "department_id": department_id,
        "display_name": f"{department_id.replace('_', ' ').title()} {number}",
        "modes_supported": ["representational", "conceptual"],
        "content_profiles_supported": ["general"],
        "claim_features": ["subject", "tone"],
        "extract_contracts": [_contract(f"ROLE:{role_id}:X:1", EXTRACT_SCHEMA)],
        "produce_contracts": [_contract(f"ROLE:{role_id}:C:1", PRODUCE_SCHEMA)],
        "allowed_models": [],
        "allowed_tools": [],
        "vocab_namespace": "",
        "proposal_policy": "disabled",
    }


def _contract(contract_id: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A contract with its own copy of the schema (editing one never edits another)."""
    return {"contract_id": contract_id, "schema_json": copy.deepcopy(schema)}


def example_pack() -> dict[str, Any]:
    """The demo's pack: 38 roles in the real pack's 8 departments."""
    roles = [
        role(f"{department}_{number}", department, number)
        for department, count in DEPARTMENTS
        for number in range(1, count + 1)
    ]
    return _pack(roles)


def scaled_pack(count: int) -> dict[str, Any]:
    """A pack of `count` roles spread over the real departments (2 contracts each)."""
    names = [department for department, _ in DEPARTMENTS]
    roles = [
        role(f"{names[n % len(names)]}_{n + 1}", names[n % len(names)], n + 1) for n in range(count)
    ]
    return _pack(roles)


def _pack(roles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pack_id": "atelier_rolepack_digital_production_studio",
        "pack_version": "1.0.0",
        "spec_id": "example_master_spec_v1",
        "roles": roles,
    }
