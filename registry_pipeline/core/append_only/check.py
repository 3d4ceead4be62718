"""The append-only check: a catalog against its published baseline, every problem in one pass."""

from __future__ import annotations

import functools
import math
import pickle
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import rfc8785

from registry_pipeline.core.append_only.compat import Compatibility, classify
from registry_pipeline.core.append_only.rules import Rules
from registry_pipeline.core.errors import Problem, RegistryError, problem_object, render
from registry_pipeline.core.json_strict import gc_paused, pointer_token, resolve_pointer
from registry_pipeline.core.seal.hashing import sha256_bytes

MAX_VERSION = 2**32 - 1
"""Contract versions are positive u32."""


@dataclass
class _Contract:
    contract_id: str
    owner: str
    kind: str
    version: int
    surface: Any
    path: str
    canonical: bool = True
    """False when the surface is missing, not an object or not canonicalizable (reported)."""


@dataclass
class _Index:
    """The ids, aliases and contracts of one document."""

    ids: dict[str, str] = field(default_factory=dict)
    """id -> JSON pointer of its entry (first occurrence)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """alias -> the id it belongs to (first occurrence)."""
    contracts: dict[str, _Contract] = field(default_factory=dict)
    entries: int = 0


def check_catalog(current: Any, baseline: Any | None, rules: Rules, where: str = "") -> Report:
    """Every violation of `current` against `baseline` (None: a first publish) under `rules`."""
    found: list[Problem] = []
    with gc_paused():  # builds no cycles; collections would cost as much as the check
        index = _index(current, rules, where, found)
        old = _index(baseline, rules, f"{where} (baseline)", None) if baseline else None
        if old is not None:
            found.extend(_against_baseline(index, old, rules))
    if found:  # each violation with the entry it lies in (the published one for a removal)
        entries = entries_of(current, rules, where)
        published = entries_of(baseline, rules, where) if baseline else []
        for n, problem in enumerate(found):
            place = entries if in_current(problem) else published
            entry = entry_at(place, rules, problem.field or "")
            found[n] = replace(problem, extra={**problem.extra, "entry": entry})
    return Report(tuple(found), index.entries, len(index.contracts), old.entries if old else None)


def entries_of(document: Any, rules: Rules, where: str) -> list[Any]:
    """The array at `rules.items`; CATALOG_SHAPE when there is none."""
    try:
        node = resolve_pointer(document, rules.items)
    except KeyError:
        node = None
    if not isinstance(node, list):
        raise RegistryError.of("CATALOG_SHAPE", path=where, items=rules.items, rules=rules.name)
    return node


def entry_at(entries: Sequence[Any], rules: Rules, path: str) -> Entry | None:
    """The entry (an object with a string id) of `entries` that JSON pointer `path` points into."""
    head, slash, rest = path.removeprefix(rules.items).partition("/")
    if not path.startswith(rules.items) or head or not slash:
        return None
    token = rest.split("/", 1)[0]
    if not token.isdigit() or token != str(int(token)) or int(token) >= len(entries):
        return None
    entry = entries[int(token)]
    found = entry.get(rules.id_key) if isinstance(entry, Mapping) else None
    return Entry(f"{rules.items}/{token}", rules.id_key, found) if isinstance(found, str) else None


def _index(document: Any, rules: Rules, where: str, found: list[Problem] | None) -> _Index:
    """Index a document; with `found`, record the internal violations (the current document)."""

    def report(*args: Any, **fields: Any) -> None:  # the arguments of `violation`
        if found is not None:
            found.append(violation(*args, **fields))

    index = _Index()
    for position, entry in enumerate(entries_of(document, rules, where)):
        index.entries += 1
        path = f"{rules.items}/{position}"
        if not isinstance(entry, Mapping):
            why = f"an entry is not an object ({type(entry).__name__})"
            report("INVALID_ID", None, path, reason=why)
            continue
        entry_id = entry.get(rules.id_key)
        id_path = f"{path}/{rules.id_key}"
        if not isinstance(entry_id, str) or not rules.id_matches(entry_id):
            shown = f"{entry_id!r} does not match" if rules.id_key in entry else "is missing, like"
            why = f"{rules.id_key} {shown} {rules.id_pattern}"
            report("INVALID_ID", entry_id if isinstance(entry_id, str) else None, id_path,
                   reason=why)  # fmt: skip
            continue
        if entry_id in index.ids:
            report("DUPLICATE_ID", entry_id, id_path, other=index.ids[entry_id])
            continue
        index.ids[entry_id] = path
        _aliases(entry, entry_id, path, rules, index, report)
        for contract in _contracts(entry, entry_id, path, rules, report, found is not None):
            first = index.contracts.setdefault(contract.contract_id, contract)
            if first is not contract:
                report("DUPLICATE_CONTRACT_ID", contract.contract_id, contract.path,
                       (first.owner, entry_id), other=first.path)  # fmt: skip
    for alias, owner in index.aliases.items():
        if alias in index.ids:
            why = f"alias {alias!r} of {owner} is the id of {index.ids[alias]}"
            report("ALIAS_COLLISION", owner, index.ids[owner], (alias,), reason=why)
    return index


def _aliases(
    entry: Mapping[str, Any], entry_id: str, path: str, rules: Rules, index: _Index, report: Any
) -> None:
    if rules.alias_key is None or rules.alias_key not in entry:
        return  # absent: no aliases (the real pack has none)
    aliases = entry[rules.alias_key]
    if not isinstance(aliases, list):
        why = f"{rules.alias_key} is not a list"
        report("INVALID_ID", entry_id, f"{path}/{rules.alias_key}", reason=why)
        return
    for number, alias in enumerate(aliases):
        where = f"{path}/{rules.alias_key}/{number}"
        if not isinstance(alias, str) or not rules.id_matches(alias):
            why = f"alias {alias!r} does not match {rules.id_pattern}"
            report("INVALID_ID", entry_id, where, reason=why)
        elif alias in index.aliases:
            why = f"alias {alias!r} is also an alias of {index.aliases[alias]}"
            report("ALIAS_COLLISION", entry_id, where, (alias, index.aliases[alias]), reason=why)
        else:
            index.aliases[alias] = entry_id


def _contracts(
    entry: Mapping[str, Any], entry_id: str, path: str, rules: Rules, report: Any, judge: bool
) -> Iterator[_Contract]:
    """The entry's well-formed contracts; surfaces are judged only with `judge`."""
    grammar = _grammar(rules.contract_prefix)
    for listed in rules.contracts:
        items = entry.get(listed.key)
        if not isinstance(items, list):
            state = "is missing" if listed.key not in entry else "is not a list"
            why = f"{listed.key} {state}: every entry has the list, empty when it has none"
            report("INVALID_CONTRACT_ID", entry_id, f"{path}/{listed.key}", reason=why)
            continue
        for number, item in enumerate(items):
            where = f"{path}/{listed.key}/{number}"
            if not isinstance(item, Mapping):
                why = f"a contract is not an object (found {type(item).__name__})"
                report("INVALID_CONTRACT_ID", None, where, (entry_id,), reason=why)
                continue
            raw = item.get(rules.contract_id_key)
            problem = _contract_id_problem(raw, grammar, listed.kind, entry_id, rules)
            if problem is not None:
                shown = raw if isinstance(raw, str) else None
                id_path = f"{where}/{rules.contract_id_key}"
                report("INVALID_CONTRACT_ID", shown, id_path, (entry_id,), reason=problem)
                continue
            assert isinstance(raw, str)
            _prefix, owner, kind, version = raw.split(":")
            at = f"{where}/{rules.surface_key}"
            invalid = _surface_invalid(item, at, rules) if judge else None
            if invalid is not None:
                why, at = invalid
                report("CONTRACT_SURFACE_INVALID", raw, at, (entry_id,), reason=why)
            surface = item.get(rules.surface_key)
            yield _Contract(raw, owner, kind, int(version), surface, where, invalid is None)


def _surface_invalid(item: Mapping[str, Any], where: str, rules: Rules) -> tuple[str, str] | None:
    """(why, where) of a surface that is missing, not an object or not canonicalizable."""
    surface = item.get(rules.surface_key)
    if rules.surface_key not in item:
        return f"{rules.surface_key} is missing: a contract needs its surface", where
    if not isinstance(surface, Mapping):
        return f"{rules.surface_key} is not an object (found {type(surface).__name__})", where
    problem = surface_problem(surface)
    return None if problem is None else (problem[1], where + problem[0])


@functools.cache
def _grammar(prefix: str) -> re.Pattern[str]:
    """`<prefix>:<owner>:<kind>:<version>`, loosely: the parts are judged one by one."""
    return re.compile(rf"{re.escape(prefix)}:([^:]*):([A-Z]):([0-9]+)")


def _contract_id_problem(
    raw: object, grammar: re.Pattern[str], kind: str, owner: str, rules: Rules
) -> str | None:
    expected = f"{rules.contract_prefix}:{owner}:{kind}:<version>"
    if not isinstance(raw, str):
        return f"{rules.contract_id_key} {raw!r} is not a string (expected {expected})"
    match = grammar.fullmatch(raw)
    if match is None:
        return f"{raw} is not of the form {expected}"
    found_owner, found_kind, version = match.groups()
    if found_kind != kind:
        return f"{raw} has kind {found_kind} in a list of kind {kind} (expected {expected})"
    if found_owner != owner:
        return f"{raw} names {found_owner!r}, but it belongs to {owner} (expected {expected})"
    if version.startswith("0") or int(version) > MAX_VERSION:
        return f"{raw}: the version must be a positive u32 without leading zeros"
    return None


def _against_baseline(index: _Index, old: _Index, rules: Rules) -> Iterator[Problem]:
    for entry_id, path in old.ids.items():
        if entry_id in index.ids:
            continue
        yield violation("ID_REMOVED", entry_id, path)
        if (owner := index.aliases.get(entry_id)) is not None:
            why = f"alias {entry_id!r} of {owner} reuses a published id"
            yield violation("ALIAS_COLLISION", owner, index.ids.get(owner, path), (entry_id,),
                            reason=why)  # fmt: skip
    for entry_id, path in index.ids.items():
        owner = old.aliases.get(entry_id)
        if entry_id not in old.ids and owner is not None and entry_id not in index.aliases:
            why = f"{entry_id} was published as an alias of {owner}; an id is never reused"
            yield violation("ALIAS_COLLISION", entry_id, path, (owner,), reason=why)
    for contract_id, published in old.contracts.items():
        current = index.contracts.get(contract_id)
        if current is None:
            yield violation("CONTRACT_REMOVED", contract_id, published.path, (published.owner,))
        elif (drift := _drift(published, current, index, old, rules)) is not None:
            yield drift


def _drift(
    published: _Contract, current: _Contract, index: _Index, old: _Index, rules: Rules
) -> Problem | None:
    if not current.canonical or same_surface(published.surface, current.surface):
        return None  # an invalid surface is reported once, as CONTRACT_SURFACE_INVALID
    try:
        expected, found = surface_sha256(published.surface), surface_sha256(current.surface)
    except RegistryError as exc:
        why = f"{rules.surface_key} cannot be canonicalized (RFC 8785): {exc.message}"
        at = f"{current.path}/{rules.surface_key}"
        return violation("CONTRACT_SURFACE_INVALID", current.contract_id, at, (current.owner,),
                         reason=why)  # fmt: skip
    if expected == found:
        return None
    versions = [
        c.version
        for c in (*index.contracts.values(), *old.contracts.values())
        if (c.owner, c.kind) == (current.owner, current.kind)
    ]
    instead = f"{rules.contract_prefix}:{current.owner}:{current.kind}:{max(versions) + 1}"
    compatibility = classify(published.surface, current.surface)
    return violation(
        "CONTRACT_SURFACE_DRIFT",
        current.contract_id,
        f"{current.path}/{rules.surface_key}",
        (current.owner,),
        expected,
        found,
        instead,
        compatibility,
        kind=compatibility.kind,
    )


CODES = (
    "ID_REMOVED",
    "DUPLICATE_ID",
    "INVALID_ID",
    "ALIAS_COLLISION",
    "INVALID_CONTRACT_ID",
    "DUPLICATE_CONTRACT_ID",
    "CONTRACT_REMOVED",
    "CONTRACT_SURFACE_DRIFT",
    "CONTRACT_SURFACE_INVALID",
)
"""Every violation code, in the order the docs list them."""

IN_BASELINE = frozenset({"ID_REMOVED", "CONTRACT_REMOVED"})
"""The codes whose JSON pointer is a place in the published version, not in the checked file."""


@dataclass(frozen=True)
class Entry:
    """The catalog entry a JSON pointer lies in: its own pointer, the key of its id, its id."""

    pointer: str
    """JSON pointer of the entry, e.g. `/roles/38`."""
    key: str
    """The key of its id, e.g. `role_id`."""
    id: str
    """Its id as the file writes it (even one that breaks the id format: it names the entry)."""

    def __str__(self) -> str:
        return f"{self.pointer} ({self.key}={self.id})"

    def locate(self, path: str) -> str:
        """`path` with the entry named: `/roles/38 (role_id=newbie_1)/extract_contracts`."""
        return f"{self}{path[len(self.pointer) :]}"


def violation(
    code: str,
    id: str | None,
    path: str,
    ids: tuple[str, ...] = (),
    expected_sha256: str | None = None,
    found_sha256: str | None = None,
    publish_instead: str | None = None,
    compatibility: Compatibility | None = None,
    **fields: Any,
) -> Problem:
    """One broken promise: the id, the JSON pointer, the other ids and, for drift, the hashes;
    worded by `MESSAGES` with the id and `fields`."""
    verdict = compatibility.as_json() if compatibility else None
    said = render(code, id=id, instead=publish_instead, **fields)
    return Problem(
        code=code, message=said, field=path, subject=() if id is None else (id,),
        related=ids, expected=expected_sha256, found=found_sha256,
        extra={"publish_instead": publish_instead, "compatibility": verdict},
    )  # fmt: skip


def in_current(problem: Problem) -> bool:
    """Whether a violation's pointer points into the checked document (else the published)."""
    return problem.code not in IN_BASELINE


def location(problem: Problem) -> str:
    """A violation's pointer with the entry it lies in named beside it, where there is one."""
    entry, pointer = problem.extra.get("entry"), problem.field or ""
    return entry.locate(pointer) if isinstance(entry, Entry) else pointer


def violation_text(problem: Problem) -> str:
    """`CODE  /roles/38 (role_id=newbie_1)/extract_contracts: message`."""
    return f"{problem.code}  {location(problem)}: {problem.message}"


def violation_row(problem: Problem, *, sealed: bool = False) -> dict[str, Any]:
    """The `{code, id, path, message, ...}` row of the blocking check's metadata."""
    row = {"code": str(problem.code), "id": _id(problem), "path": problem.field}
    return {**row, "message": problem.message, **_details(problem, sealed=sealed)}


def violation_problem(problem: Problem, file: str, line: int | None = None) -> dict[str, object]:
    """The `--json` problem object: `path` the file, `field` the pointer, `line` where it starts."""
    return problem_object(
        str(problem.code), problem.message, path=file, line=line, field=problem.field,
        id=_id(problem), **_details(problem),
    )  # fmt: skip


def _id(problem: Problem) -> str | None:
    return problem.subject[0] if problem.subject else None


def _details(problem: Problem, *, sealed: bool = False) -> dict[str, Any]:
    entry = problem.extra.get("entry")
    hashes = {"expected_sha256": problem.expected, "found_sha256": problem.found}
    details = {
        "entry_id": entry.id if isinstance(entry, Entry) and not sealed else None,
        "ids": list(problem.related) or None,
        **(hashes if problem.expected is not None else {}),
        "publish_instead": problem.extra.get("publish_instead"),
        "compatibility": problem.extra.get("compatibility"),
    }
    return {key: value for key, value in details.items() if value is not None}


@dataclass(frozen=True)
class Report:
    """The outcome of one check."""

    violations: tuple[Problem, ...]
    entries: int
    """Entries in the current document."""
    contracts: int
    """Contracts in the current document."""
    baseline_entries: int | None
    """Entries in the baseline; None for a first publish."""

    @property
    def ok(self) -> bool:
        """True when no promise is broken."""
        return not self.violations


# --- contract surfaces: SHA-256 of their RFC 8785 (JCS) canonical JSON ---------------------

SAFE_INTEGER = 2**53 - 1
"""The largest integer an IEEE 754 double holds exactly (I-JSON, RFC 7493 section 2.2)."""


def surface_sha256(surface: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `surface`; CONTRACT_SURFACE_INVALID when none."""
    try:
        return sha256_bytes(rfc8785.dumps(surface))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        why = str(exc) or type(exc).__name__
        raise RegistryError.of("CONTRACT_SURFACE_INVALID", reason=why) from None


def same_surface(left: Any, right: Any) -> bool | None:
    """True when two surfaces are certainly the same JSON value; None when only hashing can tell."""
    try:
        return True if pickle.dumps(left, 5) == pickle.dumps(right, 5) else None
    except (pickle.PicklingError, TypeError, ValueError, RecursionError):
        return None


def surface_problem(surface: Any) -> tuple[str, str] | None:
    """The first value RFC 8785 cannot canonicalize, as (JSON pointer, reason); None when none."""
    if _canonicalizable(surface):
        return None
    stack: list[tuple[str, Any]] = [("", surface)]
    while stack:
        where, value = stack.pop()
        kind = type(value)
        if isinstance(value, dict):
            for key in reversed(value):
                stack.append((f"{where}/{pointer_token(key)}", value[key]))
        elif isinstance(value, list):
            stack.extend((f"{where}/{n}", item) for n, item in reversed(list(enumerate(value))))
        elif kind is int and not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            return where, (
                f"the integer {value} is outside the I-JSON range +/-(2^53 - 1): RFC 8785 "
                "cannot canonicalize it (write it as a string, or as a float if rounding is "
                "meant)"
            )
        elif kind is float and not math.isfinite(value):
            return where, f"the number {value} is not finite: RFC 8785 cannot canonicalize it"
        elif value is not None and not isinstance(value, str | int | float):
            return where, f"a {kind.__name__} is not a JSON value"
    return None


def _canonicalizable(surface: Any) -> bool:
    """True when every value has a canonical form (a third of the cost of a walk with pointers)."""
    stack = [surface]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            extend(value.values())
        elif kind is list:
            extend(value)
        elif kind is int:
            if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is not str and kind is not bool and value is not None:
            return False
    return True
