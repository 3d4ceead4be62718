"""A bad-input corpus at every entry point: refused with its code, exit 1 or 2, nothing written."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.pointers.pointer_file import POINTERS_NAME
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    root_sha256,
)
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, lengthen_journal, reseal, run_folders, unseal

ARTIFACT = "EXPECTED_VERSIONS_v0_1.json"
SOURCE = Path("registries/expected_versions") / ARTIFACT
CATALOG = Path("registries/REGISTRY_CATALOG_v0_2.json")
POINTERS = Path(".codex") / POINTERS_NAME
JOURNAL = Path(".codex") / JOURNAL_NAME


# --------------------------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input (one line: it can stand for a journal record) and its strict-JSON code."""

    name: str
    data: bytes
    code: str


def _doc(version: bytes) -> bytes:
    """An expected_versions document, good but for `version` (raw JSON text)."""
    return (
        b'{"version": %s, "expected": {"schema_version": "0.1", "threshold_pack_version": "v1"}}'
        % version
    )


def _alias_bomb(levels: int = 9) -> bytes:
    """The billion laughs in YAML flow style: nine levels of nine aliases (valid YAML)."""
    names = "abcdefghi"[:levels]
    parts = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for previous, name in itertools.pairwise(names):
        parts.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return ("{" + ", ".join(parts) + "}").encode()


CASES = [
    Case("nested_1100_deep", _doc(b"[" * 1100 + b"]" * 1100), "JSON_TOO_DEEP"),
    Case("integer_4400_digits", _doc(b"9" * 4400), "JSON_NUMBER_TOO_LARGE"),
    Case("float_1e400", _doc(b"1e400"), "JSON_NON_FINITE"),
    Case("nan", _doc(b"NaN"), "JSON_NON_FINITE"),
    Case("lone_surrogate", _doc(b'"\\ud800"'), "JSON_LONE_SURROGATE"),
    Case("duplicate_keys", _doc(b'"0.1", "version": "0.2"'), "JSON_INVALID"),
    Case("byte_order_mark", b"\xef\xbb\xbf" + _doc(b'"0.1"'), "JSON_INVALID"),
    Case("invalid_utf8", _doc(b'"0.1\xff\xfe"'), "JSON_INVALID"),
    Case("yaml_tag", _doc(b'!!python/object/apply:os.system ["touch pwned"]'), "JSON_INVALID"),
    Case("yaml_alias_bomb", _alias_bomb(), "JSON_INVALID"),
]
assert all(b"\n" not in case.data for case in CASES)


CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _state(root: Path) -> dict[str, str]:
    """Each .codex/ path with its file's hash, leaving out Dagster's home, caches and locks."""
    codex = root / ".codex"
    found: dict[str, str] = {}
    for directory, subdirs, files in os.walk(codex):
        here = Path(directory)
        if here == codex:
            subdirs[:] = [name for name in subdirs if name not in ("dagster_home", "cache")]
        found[here.relative_to(codex).as_posix() + "/"] = ""
        for name in files:
            path = here / name
            if not name.endswith(".lock"):
                found[path.relative_to(codex).as_posix()] = _sha(path.read_bytes())
    return found


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seal(root: Path, data: bytes) -> Path:
    """A folder of expected_versions holding `data`, sealed by the core (the CLI would refuse)."""
    store = RunStore(Workspace(root))
    spec = RunSpec(registry_id="expected_versions", run_type="seal")
    return seal_files(store, spec, {ARTIFACT: data}).path


def _lock(folder: Path) -> None:
    """The folder read-only again, as sealed."""
    for name in os.listdir(folder):
        os.chmod(folder / name, 0o444)
    os.chmod(folder, 0o555)


def _forge_run_json(folder: Path, data: bytes) -> None:
    """`data` as the folder's run.json, both manifests sealed again over it, as a forger would."""
    unseal(folder)
    (folder / RUN_JSON).write_bytes(data)
    reseal(folder)
    _lock(folder)


def _forge_manifest_json(folder: Path, data: bytes) -> None:
    """`data` as the folder's manifest.json, its line and the root recomputed."""
    unseal(folder)
    (folder / MANIFEST_JSON).write_bytes(data)
    text = (folder / MANIFEST_SHA256).read_text()
    lines = [
        line
        for line in text.splitlines()
        if not line.startswith("ROOT_SHA256") and not line.endswith("  " + MANIFEST_JSON)
    ]
    lines.append(f"{_sha(data)}  {MANIFEST_JSON}")
    body = "".join(f"{line}\n" for line in lines)
    (folder / MANIFEST_SHA256).write_text(body + f"ROOT_SHA256  {root_sha256(lines)}\n")
    _lock(folder)


def _replace_journal_line(root: Path, number: int, data: bytes) -> None:
    journal = root / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    assert 1 <= number <= len(lines)
    lines[number - 1] = data + b"\n"
    journal.write_bytes(b"".join(lines))


def _build(cli: Run, root: Path, *flags: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    code, out, err = cli("build", "--workspace", str(root), "--json", *flags)
    document = json.loads(out)
    assert set(document) != {"error"}, document
    return code, {entry["registry_id"]: entry for entry in document["registries"]}, err


def _pointer_of(root: Path, registry_id: str) -> object:
    document = json.loads((root / POINTERS).read_bytes())
    return next(p["active_ref"] for p in document["pointers"] if p["registry_id"] == registry_id)


def _names(code: str, text: str) -> bool:
    """Whether `text` names `code` as a word (JSON_INVALID is not in RUN_JSON_INVALID)."""
    return re.search(rf"(?<![A-Z_]){code}(?![A-Z_])", text) is not None


def _jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# 1. registry seal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_seal_refuses_the_case_with_its_code(
    cli: Run, demo: Path, tmp_path: Path, case: Case
) -> None:
    source = tmp_path / ARTIFACT
    source.write_bytes(case.data)
    before = _state(demo)
    args = ("seal", str(source), "--registry-id", "expected_versions", "--workspace", str(demo))
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: BAD_SOURCE") and _names(case.code, err)
    code, out, err = cli(*args, "--json")
    assert code == 2 and err == ""
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_SOURCE"
    assert [d["code"] for d in error["details"]] == ["JSON_INVALID"]  # the rule in the message
    assert case.code == "JSON_INVALID" or case.code in error["details"][0]["message"]
    assert _state(demo) == before


def _link_to_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside.json"
    outside.write_bytes(_doc(b'"0.1"'))
    link = tmp_path / "src" / ARTIFACT
    link.symlink_to(outside)
    return link


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "src" / ARTIFACT
    os.mkfifo(fifo)
    return fifo


def _folder_linking_outside(tmp_path: Path) -> Path:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.json").write_text("{}")
    (tmp_path / "src" / "sub").symlink_to(tmp_path / "elsewhere")
    return tmp_path / "src"


SPECIAL_SOURCES: dict[str, Callable[[Path], Path]] = {
    "symlink_to_a_file_outside": _link_to_outside,
    "fifo": _fifo,
    "folder_holding_a_symlink": lambda tmp: _link_to_outside(tmp).parent,
    "folder_holding_a_fifo": lambda tmp: _fifo(tmp).parent,
    "folder_holding_a_symlinked_folder": _folder_linking_outside,
}


@pytest.mark.parametrize("kind", SPECIAL_SOURCES)
def test_seal_refuses_links_and_fifos(cli: Run, demo: Path, tmp_path: Path, kind: str) -> None:
    (tmp_path / "src").mkdir()
    source = SPECIAL_SOURCES[kind](tmp_path)
    before = _state(demo)
    code, out, _err = cli("seal", str(source), "--registry-id", "expected_versions", "--json",
                          "--workspace", str(demo))  # fmt: skip
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_SOURCE"
    assert {d["code"] for d in error["details"]} == {"NOT_A_REGULAR_FILE"}
    assert _state(demo) == before


# --------------------------------------------------------------------------------------------
# 2. registry validate: the case as an artifact, and as run.json
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_validate_fails_only_the_folders_holding_the_case(cli: Run, demo: Path, case: Case) -> None:
    """The case as an artifact, as run.json and as manifest.json, each in a folder of its own
    beside an intact one: each fails with its own code naming the case's rule."""
    good = (demo / SOURCE).read_bytes()
    intact, artifact = _seal(demo, good), _seal(demo, case.data)
    run_json, manifest = _seal(demo, good), _seal(demo, good)
    _forge_run_json(run_json, case.data)
    _forge_manifest_json(manifest, case.data)
    before = _state(demo)
    code, out, _err = cli("validate", "--all", "--json", "--workspace", str(demo))
    assert code == 1
    reports = {Path(str(r["run_folder"])).name: r for r in _jsonl(out)}
    assert reports.pop(intact.name)["status"] == "PASS"
    expected = {
        artifact.name: [("JSON_INVALID", ARTIFACT)],
        run_json.name: [("RUN_JSON_INVALID", RUN_JSON)],
        manifest.name: [("MALFORMED_MANIFEST", MANIFEST_JSON)],
    }
    assert set(reports) == set(expected)
    for name, report in reports.items():
        assert report["status"] == "FAIL"
        assert [(e["code"], e["path"]) for e in report["errors"]] == expected[name], report
        assert _names(case.code, json.dumps(report["errors"])), report
    code, out, _err = cli("validate", "--all", "--workspace", str(demo))
    assert code == 1 and "1 PASS, 3 FAIL" in out
    assert f"FAIL  .codex/RUNS/{run_json.name}" in out and f"PASS  .codex/RUNS/{intact.name}" in out
    assert _state(demo) == before


@pytest.mark.parametrize("audit", [False, True], ids=["build", "full_audit"])
def test_a_folder_with_a_bad_run_json_never_stops_a_build(
    cli: Run, built: Path, audit: bool
) -> None:
    """Every case forged in one workspace (one build): each fails its folder; the build goes on."""
    bad: dict[str, Path] = {}
    for case in CASES:
        bad[case.name] = _seal(built, (built / SOURCE).read_bytes())
        _forge_run_json(bad[case.name], case.data)
    assert len({folder.name for folder in bad.values()}) == len(CASES)
    code, entries, _err = _build(cli, built, *(["--full-audit"] if audit else []))
    assert code in (0, 1)
    index = entries["run_registry"]
    assert index["status"] == "built", index
    folder = built / ".codex" / "RUNS" / str(index["run_id"])
    rows = _jsonl((folder / "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl").read_text())
    records = _jsonl((folder / "RUN_REGISTRY_v0_1.jsonl").read_text())
    for name, forged in bad.items():
        (row,) = [r for r in rows if str(r["run_key"]).endswith("::" + forged.name)]
        assert row["status"] == "FAIL" and "RUN_JSON_INVALID" in json.dumps(row["problems"]), name
        (record,) = [r for r in records if r["run_id"] == forged.name]
        assert record["warnings"][0].startswith("Failed to parse run.json: "), name  # the seed's


# --------------------------------------------------------------------------------------------
# 3. registry build with the case as a source
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_build_refuses_the_case_as_a_source(cli: Run, built: Path, case: Case) -> None:
    pointer = _pointer_of(built, "expected_versions")
    before = set(run_folders(built))
    (built / SOURCE).write_bytes(case.data)
    code, entries, _err = _build(cli, built)
    assert code == 1
    entry = entries["expected_versions"]
    assert entry["status"] == "failed" and entry["run_id"] is None
    problems = "\n".join(map(str, entry["problems"]))
    assert "BAD_SOURCE" in problems and _names(case.code, problems) and str(SOURCE) in problems
    assert entries["drift_signals"]["status"] == "skipped"
    assert not any("expected_versions" in name for name in set(run_folders(built)) - before)
    assert _pointer_of(built, "expected_versions") == pointer


# --------------------------------------------------------------------------------------------
# 4. the catalog
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_a_bad_catalog_is_refused_by_every_command(cli: Run, demo: Path, case: Case) -> None:
    (demo / CATALOG).write_bytes(case.data)
    before = _state(demo)
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 2 and out == "" and err.startswith("error: CATALOG_INVALID")
    assert _names(case.code, err)
    for args in (("validate", "--all", "--registry", "x"), ("pointers", "show")):
        code, out, err = cli(*args, "--workspace", str(demo))
        assert code == 2 and err.startswith("error: CATALOG_INVALID"), (args, err)
    assert _state(demo) == before


def _set_sources(root: Path, sources: list[str]) -> None:
    path = root / CATALOG
    catalog = json.loads(path.read_text())
    entry = next(e for e in catalog["registries"] if e["registry_id"] == "expected_versions")
    entry["sources"] = sources
    path.write_text(json.dumps(catalog, indent=2))


def _set_run_roots(root: Path, roots: list[str]) -> None:
    path = root / CATALOG
    catalog = json.loads(path.read_text())
    catalog["run_roots"] = roots
    path.write_text(json.dumps(catalog, indent=2))


CATALOG_PATHS: dict[str, Callable[[Path], None]] = {
    "source_up_a_folder": lambda root: _set_sources(root, ["../outside.json"]),
    "source_up_and_out": lambda root: _set_sources(
        root, ["registries/expected_versions/../../../outside.json"]
    ),
    "source_absolute": lambda root: _set_sources(root, ["/etc/passwd"]),
    "source_with_nul": lambda root: _set_sources(root, [f"{SOURCE}\x00.json"]),
    "source_glob_up_a_folder": lambda root: _set_sources(root, ["../*.json"]),
    "run_root_up_a_folder": lambda root: _set_run_roots(root, ["../outside"]),
    "run_root_absolute": lambda root: _set_run_roots(root, ["/etc"]),
}


@pytest.mark.parametrize("kind", CATALOG_PATHS)
def test_a_catalog_path_that_leaves_the_workspace_is_refused(
    cli: Run, demo: Path, kind: str
) -> None:
    (demo.parent / "outside.json").write_bytes(_doc(b'"0.1"'))
    (demo.parent / "outside").mkdir()
    CATALOG_PATHS[kind](demo)
    before = _state(demo)
    code, out, _err = cli("build", "--json", "--workspace", str(demo))
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "CATALOG_INVALID" and error["details"]
    assert _state(demo) == before


def _source_linked_outside(root: Path) -> None:
    outside = root.parent / "outside.json"
    outside.write_bytes((root / SOURCE).read_bytes())
    (root / SOURCE).unlink()
    (root / SOURCE).symlink_to(outside)


def _source_folder_linked_outside(root: Path) -> None:
    folder = root / SOURCE.parent
    outside = root.parent / "outside"
    shutil.move(folder, outside)
    folder.symlink_to(outside)


LINKED_SOURCES: dict[str, Callable[[Path], None]] = {
    "source_is_a_symlink_outside": _source_linked_outside,
    "source_folder_is_a_symlink_outside": _source_folder_linked_outside,
}


@pytest.mark.parametrize("kind", LINKED_SOURCES)
def test_a_source_reached_through_a_symlink_is_never_sealed(
    cli: Run, built: Path, kind: str
) -> None:
    pointer = _pointer_of(built, "expected_versions")
    before = set(run_folders(built))
    (built / SOURCE).write_bytes((built / SOURCE).read_bytes().replace(b'"0.1"', b'"0.2"', 1))
    LINKED_SOURCES[kind](built)
    code, out, _err = cli("build", "--json", "--workspace", str(built))
    assert code in (1, 2)
    document = json.loads(out)
    if code == 2:
        assert document["error"]["code"] == "CATALOG_INVALID"
    else:
        entry = next(e for e in document["registries"] if e["registry_id"] == "expected_versions")
        problems = " ".join(map(str, entry["problems"]))
        assert "BAD_SOURCE" in problems and "NOT_A_REGULAR_FILE" in problems
    assert not any("expected_versions" in name for name in set(run_folders(built)) - before)
    assert _pointer_of(built, "expected_versions") == pointer


# --------------------------------------------------------------------------------------------
# 5. the pointer file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_a_bad_pointer_file_is_refused_and_left_alone(cli: Run, built: Path, case: Case) -> None:
    (built / POINTERS).write_bytes(case.data)
    before = _state(built)
    for args in (("pointers", "show"), ("pointers", "verify"), ("build",)):
        code, out, err = cli(*args, "--workspace", str(built))
        assert code in (1, 2) and "error: POINTERS_INVALID" in err, (args, code, out, err)
        assert _names(case.code, err)
    assert _state(built) == before


def _point_at(root: Path, run_id: str) -> None:
    path = root / POINTERS
    document = json.loads(path.read_bytes())
    entry = next(p for p in document["pointers"] if p["registry_id"] == "expected_versions")
    entry["active_ref"]["run_id"] = run_id
    path.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize(
    "run_id",
    [
        "../x",
        "/etc",
        "a\x00b",
        "..",
    ],
)
def test_a_pointer_to_a_folder_outside_runs_is_refused(cli: Run, built: Path, run_id: str) -> None:
    _point_at(built, run_id)
    before = _state(built)
    code, out, _err = cli("pointers", "show", "--json", "--workspace", str(built))
    assert code == 0
    row = next(r for r in json.loads(out)["pointers"] if r["registry_id"] == "expected_versions")
    assert row["target"] == "missing" and row["journal"] == "POINTER_MISMATCH"
    code, out, _err = cli("pointers", "verify", "--json", "--workspace", str(built))
    assert code == 1
    assert [p["code"] for p in json.loads(out)["problems"]] == ["POINTER_MISMATCH"]
    code, _out, err = cli("validate", "--active", "--workspace", str(built))
    assert code == 1 and err.startswith("error: POINTER_MISMATCH")
    code, _out, err = cli("build", "--workspace", str(built))
    assert code == 1 and err.startswith("error: POINTER_MISMATCH")
    code, _out, accept = cli("pointers", "accept", "expected_versions", "--reason", "audit",
                             "--workspace", str(built))  # fmt: skip
    assert code == 1
    assert _state(built) == before
    assert accept.startswith(("error: TARGET_NOT_IN_RUNS", "error: POINTERS_INVALID")), accept


# --------------------------------------------------------------------------------------------
# 6. the journal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["last", "inside"])
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_a_bad_journal_line_fails_verify_and_stops_every_change(
    cli: Run, built: Path, case: Case, where: str
) -> None:
    """The last line, or one inside (the chain after it never rewritten): nothing builds on it."""
    if where == "inside":
        lengthen_journal(built)
    line = 2 if where == "inside" else len((built / JOURNAL).read_bytes().splitlines())
    _replace_journal_line(built, line, case.data)
    before = _state(built)
    code, out, _err = cli("pointers", "verify", "--json", "--workspace", str(built))
    assert code == 1
    problems = json.loads(out)["problems"]
    assert [(p["code"], p["line"]) for p in problems] == [("RECORD_UNREADABLE", line)]
    assert _names(case.code, json.dumps(problems))
    code, _out, err = cli("pointers", "history", "--workspace", str(built))
    assert code == 1 and err.startswith("error: JOURNAL_CORRUPT")
    code, _out, err = cli("build", "--workspace", str(built))
    assert code == 1 and err.startswith("error: RECORD_UNREADABLE"), err
    assert "registry pointers repair" in err
    assert _state(built) == before
