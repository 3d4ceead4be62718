"""RolePack mutations with the seed checker's verdict and ours, and why where they differ."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry_pipeline_tests._rolepack import role

Document = dict[str, Any]


@dataclass(frozen=True)
class Mutation:
    """A change to the pack, and how each checker judges it (True: passes)."""

    name: str
    change: Callable[[Document], Document | bytes]
    seed: bool
    ours: bool
    why: str | None = None
    """When the verdicts differ: the phrase of docs/APPEND_ONLY.md that explains why."""
    published: Callable[[Document], Document] | None = None
    """The version on main (None: nothing published, a first publish)."""


def _same(pack: Document) -> Document:
    return pack


def _edit(fn: Callable[[Document], object]) -> Callable[[Document], Document]:
    def apply(pack: Document) -> Document:
        fn(pack)
        return pack

    return apply


def _text(fn: Callable[[str], str]) -> Callable[[Document], bytes]:
    def apply(pack: Document) -> bytes:
        return fn(json.dumps(pack, indent=2)).encode("utf-8")

    return apply


def _role0(key: str, value: object) -> Callable[[Document], Document]:
    return _edit(lambda pack: pack["roles"][0].__setitem__(key, value))


def _without(key: str) -> Callable[[Document], Document]:
    return _edit(lambda pack: pack["roles"][0].pop(key))


def _contract0(key: str, value: object) -> Callable[[Document], Document]:
    return _edit(lambda pack: pack["roles"][0]["extract_contracts"][0].__setitem__(key, value))


def _extra_contract(contract_id: str, where: str = "extract_contracts") -> Callable[..., Document]:
    contract = {"contract_id": contract_id, "schema_json": {"type": "object"}}
    return _edit(lambda pack: pack["roles"][0][where].append(contract))


def _renamed(new_id: str) -> Callable[[Document], Document]:
    def apply(pack: Document) -> Document:
        first = pack["roles"][0]
        first["role_id"] = new_id
        first["extract_contracts"][0]["contract_id"] = f"ROLE:{new_id}:X:1"
        first["produce_contracts"][0]["contract_id"] = f"ROLE:{new_id}:C:1"
        return pack

    return apply


def _surface_number(literal: str) -> Callable[[Document], bytes]:
    """The first `"maximum": 1` of a schema_json written as `literal`."""
    return _text(lambda text: text.replace('"maximum": 1', f'"maximum": {literal}', 1))


def _reordered(pack: Document) -> Document:
    contract = pack["roles"][0]["extract_contracts"][0]
    contract["schema_json"] = dict(reversed(list(contract["schema_json"].items())))
    return pack


Change = Callable[[Document], Document | bytes]


def _both_pass(name: str, change: Change, **kw: Any) -> Mutation:
    """A change both checkers pass."""
    return Mutation(name, change, True, True, **kw)


def _both_fail(name: str, change: Change, **kw: Any) -> Mutation:
    """A change both checkers fail."""
    return Mutation(name, change, False, False, **kw)


def _ours_stricter(name: str, change: Change, why: str, **kw: Any) -> Mutation:
    """A change the seed's checker passes and ours fails, for the reason `why` names."""
    return Mutation(name, change, True, False, why, **kw)


PUBLISHED = _same
IDS = "ids, aliases included, are lower_snake_case"
U32 = "a version beyond u32"
SCHEMA = "the fields the seed lists as required"
ALIASES = "aliases are checked"
I_JSON = "outside the I-JSON range"
STRICT = "strict JSON"
BASELINE = "the published version's own defects"

MUTATIONS = [
    # --- the same verdict -----------------------------------------------------------------
    _both_pass("unchanged", _same, published=PUBLISHED),
    _both_pass("unchanged, first publish", _same),
    _both_pass(
        "a role added",
        _edit(lambda p: p["roles"].append(role("visuals_9", "visuals", 9))),
        published=PUBLISHED,
    ),
    _both_pass(
        "a contract version added", _extra_contract("ROLE:executive_1:X:2"), published=PUBLISHED
    ),
    _both_pass("a role deprecated", _role0("lifecycle", "deprecated"), published=PUBLISHED),
    _both_pass("schema keys reordered", _reordered, published=PUBLISHED),
    _both_pass("a number spelled 1.0", _surface_number("1.0"), published=PUBLISHED),
    _both_pass("the largest safe integer", _surface_number(str(2**53 - 1))),
    _both_pass("an unknown key in a role", _role0("notes", "x")),
    _both_fail("a role removed", _edit(lambda p: p["roles"].pop(3)), published=PUBLISHED),
    _both_fail("a contract removed", _role0("extract_contracts", []), published=PUBLISHED),
    _both_fail(
        "a schema changed",
        _edit(
            lambda p: p["roles"][0]["extract_contracts"][0]["schema_json"]["required"].append(
                "notes"
            )
        ),
        published=PUBLISHED,
    ),
    _both_fail("extract_contracts missing", _without("extract_contracts")),
    _both_fail("produce_contracts missing", _without("produce_contracts")),
    _both_fail(
        "extract_contracts missing, published", _without("extract_contracts"), published=PUBLISHED
    ),
    _both_fail("extract_contracts null", _role0("extract_contracts", None)),
    _both_fail("extract_contracts an object", _role0("extract_contracts", {})),
    _both_fail("produce_contracts a string", _role0("produce_contracts", "ROLE:executive_1:C:1")),
    _both_fail("role_id missing", _without("role_id")),
    _both_fail("role_id a number", _role0("role_id", 7)),
    _both_fail("role_id empty", _renamed("")),
    _both_fail("role_id blank", _renamed("  ")),
    _both_fail("a role that is a string", _edit(lambda p: p["roles"].append("visuals_9"))),
    _both_fail("roles an object", _edit(lambda p: p.__setitem__("roles", {}))),
    _both_fail("roles missing", _edit(lambda p: p.pop("roles"))),
    _both_fail("the root an array", lambda p: json.dumps([p]).encode()),
    _both_fail(
        "a duplicate role", _edit(lambda p: p["roles"].append(copy.deepcopy(p["roles"][0])))
    ),
    _both_fail(
        "a contract that is a string",
        _edit(lambda p: p["roles"][0]["extract_contracts"].append("ROLE:executive_1:X:2")),
    ),
    _both_fail(
        "contract_id missing",
        _edit(lambda p: p["roles"][0]["extract_contracts"][0].pop("contract_id")),
    ),
    _both_fail("contract_id a number", _contract0("contract_id", 1)),
    _both_fail("contract version 0", _extra_contract("ROLE:executive_1:X:0")),
    _both_fail("contract version 01", _extra_contract("ROLE:executive_1:X:01")),
    _both_fail("contract kind C in the extract list", _extra_contract("ROLE:executive_1:C:2")),
    _both_fail(
        "contract kind X in the produce list",
        _extra_contract("ROLE:executive_1:X:2", "produce_contracts"),
    ),
    _both_fail("a contract of another role", _extra_contract("ROLE:executive_2:X:2")),
    _both_fail("contract kind Z", _extra_contract("ROLE:executive_1:Z:2")),
    _both_fail("contract id prefix in lower case", _extra_contract("role:executive_1:X:2")),
    _both_fail("contract id with a trailing newline", _extra_contract("ROLE:executive_1:X:2\n")),
    _both_fail(
        "schema_json missing",
        _edit(lambda p: p["roles"][0]["extract_contracts"][0].pop("schema_json")),
    ),
    _both_fail("schema_json an array", _contract0("schema_json", [])),
    _both_fail("schema_json true", _contract0("schema_json", True)),
    _both_fail("schema_json null", _contract0("schema_json", None)),
    _both_fail(
        "a duplicate contract id",
        _edit(
            lambda p: p["roles"][0]["extract_contracts"].append(
                copy.deepcopy(p["roles"][0]["extract_contracts"][0])
            )
        ),
    ),
    _both_fail("not JSON", lambda _p: b'{"roles": ['),
    _both_fail("NaN in a schema", _surface_number("NaN")),
    # --- deliberate differences: the seed's text is stricter than its checker -------------
    _ours_stricter("role_id not lower_snake_case", _renamed("Executive-1"), IDS),
    _ours_stricter("role_id of 65 characters", _renamed("x" * 65), IDS),
    _ours_stricter("an alias that is not id-shaped", _role0("aliases", ["Old-Name"]), IDS),
    _ours_stricter(
        "an alias that is another role's id", _role0("aliases", ["executive_2"]), ALIASES
    ),
    _ours_stricter(
        "contract version beyond u32", _extra_contract("ROLE:executive_1:X:4294967296"), U32
    ),
    _ours_stricter("display_name missing", _without("display_name"), SCHEMA),
    _ours_stricter("modes_supported empty", _role0("modes_supported", []), SCHEMA),
    _ours_stricter(
        "department_id not lower_snake_case", _role0("department_id", "Visuals"), SCHEMA
    ),
    _ours_stricter("lifecycle unknown", _role0("lifecycle", "retired"), SCHEMA),
    _ours_stricter("pack_id missing", _edit(lambda p: p.pop("pack_id")), SCHEMA),
    _ours_stricter("an integer beyond 2^53 in a schema", _surface_number(str(2**60)), I_JSON),
    _ours_stricter(
        "an integer beyond 2^53, published the same",
        _surface_number(str(2**60)),
        I_JSON,
        published=lambda p: json.loads(_surface_number(str(2**60))(p)),
    ),
    _ours_stricter("a number that overflows (1e400)", _surface_number("1e400"), I_JSON),
    _ours_stricter(
        "a duplicate key",
        _text(
            lambda t: t.replace(
                '"role_id": "executive_1",',
                '"role_id": "executive_1", "role_id": "executive_1",',
                1,
            )
        ),
        STRICT,
    ),
    # --- deliberate differences: a defective published version blocks no fix -------------
    Mutation(
        "published without contract lists",
        _same,
        False,
        True,
        BASELINE,
        published=_without("extract_contracts"),
    ),
    Mutation(
        "published with a duplicate role",
        _same,
        False,
        True,
        BASELINE,
        published=_edit(lambda p: p["roles"].append(copy.deepcopy(p["roles"][1]))),
    ),
]
