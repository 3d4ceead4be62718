"""Quick, conservative checks of the run registry's JSONL lines against their built-in schemas.

A run registry snapshot has one line per run folder in two files, and every build validates
snapshots; jsonschema costs about 150 µs a line. Each function here answers True only when the
line certainly satisfies its schema; anything else goes to jsonschema, which stays the authority
and writes the messages. Property tests hold `quick(line) => schema-valid(line)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_HEX64 = re.compile(r"[0-9a-f]{64}")
_RUN_KEY = re.compile(r".+::.+")
_CODE = re.compile(r"[A-Z][A-Z0-9_]*")

_LINE_REQUIRED = frozenset(
    {
        "registry_version",
        "run_id",
        "run_root",
        "run_key",
        "run_path",
        "has_run_json",
        "has_manifest_sha256",
        "has_manifest_json",
        "files",
        "warnings",
    }
)
_LINE_NULLABLE = (
    "created_utc",
    "run_type",
    "option",
    "operation_id",
    "git_commit",
    "manifest_root_sha256",
)
_LINE_ALLOWED = _LINE_REQUIRED | frozenset(_LINE_NULLABLE) | {"working_tree_state"}
_STATUS_KEYS = frozenset(
    {
        "run_key",
        "manifest_root_sha256",
        "status",
        "problems",
        "problem_count",
        "verification",
        "tampered",
    }
)

_STATUS_ALLOWED = _STATUS_KEYS | {"nested_files"}


def run_registry_line_ok(line: Any) -> bool:
    """True only if `line` certainly satisfies `run_registry_v0_1.schema.json`."""
    if type(line) is not dict or not _LINE_REQUIRED <= line.keys() <= _LINE_ALLOWED:
        return False
    return (
        line["registry_version"] == "0.1"
        and all(type(line[key]) is str for key in ("run_id", "run_root", "run_key", "run_path"))
        and all(line.get(key) is None or type(line[key]) is str for key in _LINE_NULLABLE)
        and line.get("working_tree_state") in ("clean", "dirty", None)
        and all(
            type(line[key]) is bool
            for key in ("has_run_json", "has_manifest_sha256", "has_manifest_json")
        )
        and type(line["files"]) is list
        and all(_file_ok(item) for item in line["files"])
        and type(line["warnings"]) is list
        and all(type(item) is str for item in line["warnings"])
    )


def seal_status_line_ok(line: Any) -> bool:
    """True only if `line` certainly satisfies `run_registry_seal_status_v0_2.schema.json`."""
    if type(line) is not dict or not _STATUS_KEYS <= line.keys() <= _STATUS_ALLOWED:
        return False
    nested = line.get("nested_files", [])
    if type(nested) is not list or not all(_nested_file_ok(item) for item in nested):
        return False
    problems, count = line["problems"], line["problem_count"]
    root = line["manifest_root_sha256"]
    if not (
        type(line["run_key"]) is str
        and _RUN_KEY.fullmatch(line["run_key"])
        and (root is None or (type(root) is str and _HEX64.fullmatch(root)))
        and line["status"] in ("PASS", "FAIL", "UNSEALED")
        and line["verification"] in ("hashed", "reused", "none")
        and type(line["tampered"]) is bool
        and type(count) is int
        and count >= 0
        and type(problems) is list
        and len(problems) <= 50
        and all(_problem_ok(problem) for problem in problems)
    ):
        return False
    return _status_rules_ok(line["status"], line["verification"], line["tampered"], problems, count)


def _status_rules_ok(
    status: str, verification: str, tampered: bool, problems: list[Any], count: int
) -> bool:
    if status == "PASS" and (problems or count != 0 or tampered):
        return False
    if status == "UNSEALED" and (verification != "none" or tampered):
        return False
    if verification == "reused" and status != "PASS":
        return False
    return not (status == "FAIL" and (count < 1 or not problems))


def _file_ok(item: Any) -> bool:
    return (
        type(item) is dict and type(item.get("relpath")) is str and type(item.get("bytes")) is int
    )


def _nested_file_ok(item: Any) -> bool:
    return (
        type(item) is dict
        and item.keys() == {"relpath", "bytes"}
        and type(item["relpath"]) is str
        and type(item["bytes"]) is int
        and item["bytes"] >= 0
    )


def _problem_ok(problem: Any) -> bool:
    return (
        type(problem) is dict
        and problem.keys() == {"code", "path"}
        and type(problem["code"]) is str
        and _CODE.fullmatch(problem["code"]) is not None
        and (problem["path"] is None or type(problem["path"]) is str)
    )


QUICK_CHECKS: dict[str, Callable[[Any], bool]] = {
    "urn:registry-pipeline:schema:run_registry_v0_1": run_registry_line_ok,
    "urn:registry-pipeline:schema:run_registry_seal_status_v0_2": seal_status_line_ok,
}
"""Schema $id -> quick check; used only while the schema is the built-in one."""
