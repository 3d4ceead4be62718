"""A quick, conservative check of `run.json` against `schemas/run_envelope.schema.json`.

Validating every envelope with jsonschema costs more than the rest of checking a small folder.
`surely_valid` answers True only when the envelope certainly satisfies the schema; anything else
(including what it does not understand) is handed to jsonschema, which stays the authority and
writes the messages. A property test holds `surely_valid(doc) => schema-valid(doc)`.
"""

from __future__ import annotations

import re
from typing import Any

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_REGISTRY_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OPERATION_ID = re.compile(r"OP-[A-Z0-9-]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_OURS = (
    "run_type",
    "registry_id",
    "operation_id",
    "git_commit",
    "working_tree_state",
    "builder",
    "inputs",
    "outputs",
)
_REF_KEYS = frozenset({"registry_id", "run_id", "run_root", "relpath", "manifest_sha256"})


def surely_valid(doc: Any) -> bool:
    """True only if `doc` certainly satisfies the run envelope schema."""
    if type(doc) is not dict:
        return False
    if not (_text(doc.get("run_id")) and _matches(_TIMESTAMP, doc.get("created_utc"))):
        return False
    if not _optional_fields_ok(doc):
        return False
    return "builder" not in doc or _ours_ok(doc)


def _optional_fields_ok(doc: dict[str, Any]) -> bool:
    for key in ("run_type", "operation_id"):
        if key in doc and not (doc[key] is None or type(doc[key]) is str):
            return False
    if "git_commit" in doc and not (
        doc["git_commit"] is None or _matches(_COMMIT, doc["git_commit"])
    ):
        return False
    if "working_tree_state" in doc and doc["working_tree_state"] not in ("clean", "dirty", None):
        return False
    if "outputs" in doc and not _strings(doc["outputs"]):
        return False
    return "inputs" not in doc or type(doc["inputs"]) in (dict, list)


def _ours_ok(doc: dict[str, Any]) -> bool:
    if any(key not in doc for key in _OURS):
        return False
    operation = doc["operation_id"]
    builder = doc["builder"]
    return (
        _matches(_REGISTRY_ID, doc["registry_id"])
        and (operation is None or _matches(_OPERATION_ID, operation))
        and type(builder) is dict
        and set(builder) == {"name", "version"}
        and _text(builder["name"])
        and _text(builder["version"])
        and type(doc["inputs"]) is list
        and all(_ref_ok(ref) for ref in doc["inputs"])
        and len(set(doc["outputs"])) == len(doc["outputs"])
    )


def _ref_ok(ref: Any) -> bool:
    return (
        type(ref) is dict
        and set(ref) <= _REF_KEYS
        and _matches(_REGISTRY_ID, ref.get("registry_id"))
        and _text(ref.get("run_id"))
        and _matches(_HEX64, ref.get("manifest_sha256"))
        and ("run_root" not in ref or type(ref["run_root"]) is str)
        and ("relpath" not in ref or ref["relpath"] is None or type(ref["relpath"]) is str)
    )


def _text(value: Any) -> bool:
    return type(value) is str and value != ""


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return type(value) is str and pattern.fullmatch(value) is not None
