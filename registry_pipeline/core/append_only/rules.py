"""Where a catalog keeps its ids, aliases, lifecycle and contracts; see docs/APPEND_ONLY.md."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.run_id import OPERATION_ID

SAFE_ID = r"^[a-z0-9_]{1,64}$"
"""The seed's id format: lower_snake_case, 1 to 64 characters."""


def rules_invalid(
    reason: str, *, path: str | None = None, what: str = "the append-only rules"
) -> UsageError:
    """RULES_INVALID: a rule block, preset name or rules file that cannot be used."""
    return UsageError.of("RULES_INVALID", path=path, what=what, reason=reason)


@dataclass(frozen=True)
class ContractList:
    """One list of contracts inside an entry, and the kind letter its contract ids carry."""

    key: str
    """The entry's key holding the list, e.g. `extract_contracts`."""
    kind: str
    """The kind part of its contract ids, e.g. `X`."""


@dataclass(frozen=True)
class Rules:
    """The append-only rules of one catalog."""

    name: str
    """The preset name, or where the block came from."""
    items: str
    """JSON pointer to the array of entries, e.g. `/roles`."""
    id_key: str
    """The key of an entry's id, e.g. `role_id`."""
    id_pattern: str = SAFE_ID
    """Regular expression every id (and alias) must match in full."""
    alias_key: str | None = None
    """The key of an entry's rename aliases; absent in an entry means none."""
    lifecycle_key: str | None = None
    """The key of an entry's lifecycle; absent in an entry means `active`."""
    contracts: tuple[ContractList, ...] = ()
    contract_id_key: str = "contract_id"
    surface_key: str = "schema_json"
    contract_prefix: str = "ROLE"

    def id_matches(self, value: str) -> bool:
        """Whether `value` has the id format."""
        return re.fullmatch(self.id_pattern, value) is not None

    def as_json(self) -> dict[str, Any]:
        """The rule block (what `--json` prints and a rules file holds)."""
        return {
            "name": self.name,
            "items": self.items,
            "id": self.id_key,
            "id_pattern": self.id_pattern,
            "aliases": self.alias_key,
            "lifecycle": self.lifecycle_key,
            "contracts": [{"list": c.key, "kind": c.kind} for c in self.contracts],
            "contract_id": self.contract_id_key,
            "surface": self.surface_key,
            "contract_prefix": self.contract_prefix,
        }


PRESETS: dict[str, Rules] = {
    "rolepack": Rules(
        name="rolepack",
        items="/roles",
        id_key="role_id",
        alias_key="aliases",
        lifecycle_key="lifecycle",
        contracts=(ContractList("extract_contracts", "X"), ContractList("produce_contracts", "C")),
    ),
    "allowed_operations": Rules(
        name="allowed_operations",
        items="/operations",
        id_key="operation_id",
        id_pattern=f"^{OPERATION_ID.pattern}$",  # `registry seal --op-id`'s and the schemas'
        lifecycle_key="lifecycle",
    ),
}
"""The shipped rule sets, by name."""

_KEYS = frozenset({"preset", *PRESETS["rolepack"].as_json()})
"""The keys a rule block may hold: those `Rules.as_json` writes, or `preset` alone."""


def parse_rules(value: object, where: str) -> Rules:
    """Rules from a preset name, `{"preset": NAME}` or a rule block; RULES_INVALID names it."""
    if isinstance(value, str):
        return preset(value, where)
    if not isinstance(value, Mapping):
        raise rules_invalid("must be a preset name or a rule block (an object)", path=where)
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise rules_invalid(
            f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})", path=where
        )
    if "preset" in value:
        if len(value) > 1:
            raise rules_invalid("`preset` stands alone in a rule block", path=where)
        return preset(_text(value, "preset", where), where)
    pattern = _text(value, "id_pattern", where, SAFE_ID)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise rules_invalid(f"id_pattern is not a regular expression: {exc}", path=where) from None
    items = _text(value, "items", where)
    if not items.startswith("/"):
        raise rules_invalid(
            f"items must be a JSON pointer such as /roles, not {items!r}", path=where
        )
    return Rules(
        name=str(value.get("name") or where),
        items=items,
        id_key=_text(value, "id", where),
        id_pattern=pattern,
        alias_key=_optional(value, "aliases", where),
        lifecycle_key=_optional(value, "lifecycle", where),
        contracts=_contract_lists(value.get("contracts", []), where),
        contract_id_key=_text(value, "contract_id", where, "contract_id"),
        surface_key=_text(value, "surface", where, "schema_json"),
        contract_prefix=_text(value, "contract_prefix", where, "ROLE"),
    )


def preset(name: str, where: str) -> Rules:
    """The shipped rules called `name`; RULES_INVALID lists the known names."""
    if name not in PRESETS:
        raise rules_invalid(f"no preset {name!r} (known: {', '.join(sorted(PRESETS))})", path=where)
    return PRESETS[name]


def _text(value: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    found = value.get(key, default)
    if not isinstance(found, str) or not found:
        raise rules_invalid(f"{key} must be a non-empty string", path=where)
    return found


def _optional(value: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if value.get(key) is None else _text(value, key, where)


def _contract_lists(raw: object, where: str) -> tuple[ContractList, ...]:
    if not isinstance(raw, list):
        raise rules_invalid("contracts must be a list of {list, kind}", path=where)
    lists = []
    for item in raw:
        if not isinstance(item, Mapping) or set(item) != {"list", "kind"}:
            raise rules_invalid('each contracts item is {"list": KEY, "kind": LETTER}', path=where)
        kind = item["kind"]
        if not isinstance(kind, str) or not re.fullmatch(r"[A-Z]", kind):
            raise rules_invalid(
                f"contract kind must be one capital letter, not {kind!r}", path=where
            )
        lists.append(ContractList(_text(item, "list", where), kind))
    return tuple(lists)
