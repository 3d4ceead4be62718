"""Explained deltas: record-level changes inside JSON, JSONL and YAML artifacts."""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.explain import changes as delta_explain
from registry_pipeline.core.explain.changes import FileExplanation, explain_snapshots
from registry_pipeline.core.seal.run_store import SealedRun

REPO = Path(__file__).resolve().parents[3]


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def explain_file(relpath: str, old: bytes | None, new: bytes | None) -> FileExplanation:
    """`relpath` holding `old` then `new` (None: absent), explained as `explain_snapshots` does."""
    with tempfile.TemporaryDirectory() as temp:
        folders = Path(temp) / "old", Path(temp) / "new"
        for folder, data in zip(folders, (old, new), strict=True):
            folder.mkdir()
            if data is not None:
                (folder / relpath).write_bytes(data)
        [got] = explain_snapshots(*folders, [relpath])
    return got


OPS_OLD = [
    {"op_id": "OP-QA07", "status": "OK", "last_run_utc": "2026-10-01T00:00:00Z"},
    {"op_id": "OP-QA09", "status": "OK", "last_run_utc": "2026-10-01T00:00:00Z"},
    {"op_id": "OP-QA10", "status": "OK", "last_run_utc": "2026-10-01T00:00:00Z"},
]
OPS_NEW = [
    {"op_id": "OP-QA07", "status": "STALE", "last_run_utc": "2026-10-02T00:00:00Z"},
    {"op_id": "OP-QA09", "status": "FAILED", "last_run_utc": "2026-10-01T00:00:00Z"},
    {"op_id": "OP-QA10", "status": "OK", "last_run_utc": "2026-10-01T00:00:00Z"},
    {"op_id": "OP-QA12", "status": "OK", "last_run_utc": "2026-10-02T00:00:00Z"},
]


def test_json_array_records_by_id() -> None:
    got = explain_file("OPERATION_STATUS_TABLE_v0_1.json", _json(OPS_OLD), _json(OPS_NEW))
    assert got.kind == "records" and got.change == "modified"
    assert got.records is not None and got.records["identity"] == "op_id"
    assert got.records["counts"] == {"added": 1, "removed": 0, "changed": 2, "unchanged": 1}
    assert got.lines() == [
        "OPERATION_STATUS_TABLE_v0_1.json: 2 records changed "
        "(OP-QA07: last_run_utc, status; OP-QA09: status), 1 added (OP-QA12)"
    ]
    records = got.as_json()["records"]
    assert records["changed"] == {
        "records": [
            {"id": "OP-QA07", "fields": ["last_run_utc", "status"], "more": 0},
            {"id": "OP-QA09", "fields": ["status"], "more": 0},
        ],
        "more": 0,
    }
    assert records["added"] == {"ids": ["OP-QA12"], "more": 0}


PACK = "packs:\n  - pack_id: fresh\n    thresholds: {{stale_after_hours: {}}}\n    since: {}\n"
EXPLAINED = [
    # (relpath, old, new, (where the records are, their identity) or None: a document, line)
    ("ACTIVE_POINTERS.json",
     _json({"version": "0.1", "pointers": [{"registry_id": "a", "run_id": "1"}]}),
     _json({"version": "0.2", "pointers": [{"registry_id": "a", "run_id": "2"},
                                           {"registry_id": "b", "run_id": "1"}]}),
     ("pointers", "registry_id"),
     "ACTIVE_POINTERS.json: 1 record changed (a: run_id), 1 added (b); "
     "other fields: changed version"),
    ("ledger.json",  # records appearing in an empty list are records
     _json({"migrations": [], "_version": "1"}),
     _json({"migrations": [{"migration_id": "m1", "status": "VERIFIED"}], "_version": "1"}),
     ("migrations", "migration_id"), "ledger.json: 1 record added (m1)"),
    ("RUN_REGISTRY_v0_1.jsonl",  # one record per line; blank lines are not records
     _jsonl([{"run_key": "r1", "ok": True}, {"run_key": "r2", "ok": True}]),
     _jsonl([{"run_key": "r2", "ok": False}, {"run_key": "r3", "ok": True}]).replace(
         b"\n", b"\n\n"),
     ("", "run_key"),
     "RUN_REGISTRY_v0_1.jsonl: 1 record changed (r2: ok), 1 added (r3), 1 removed (r1)"),
    ("packs.yaml", PACK.format(24, "2026-01-01").encode(), PACK.format(12, "2026-02-01").encode(),
     ("packs", "pack_id"),
     "packs.yaml: 1 record changed (fresh: since, thresholds.stale_after_hours)"),
    ("tags.yml", b"[a, b]\n", b"[a, c, d]\n", None, "tags.yml: changed [1]; added [2]"),
    ("doc.yaml",  # by core.yaml_io's core schema: a date-shaped or underscored value is text
     b"d: 2026-01-01\nn: 1_000\n", b"d: 2026-13-45\nn: 1_000\n", None, "doc.yaml: changed d"),
]  # fmt: skip


@pytest.mark.parametrize(("relpath", "old", "new", "records", "line"), EXPLAINED)
def test_records_are_found_wherever_they_are_and_explained_in_one_line(
    relpath: str, old: bytes, new: bytes, records: tuple[str, str] | None, line: str
) -> None:
    got = explain_file(relpath, old, new)
    assert got.kind == ("records" if records else "document")
    if records is not None:
        assert got.records is not None
        assert (got.records["location"], got.records["identity"]) == records
    assert got.lines() == [line]


def test_object_of_objects_is_a_document_field_diff() -> None:
    old = {"version": "0.1", "expected": {"schema_version": "0.1", "builders": {"a": "1.0"}}}
    new = {"version": "0.1", "expected": {"schema_version": "0.2", "builders": {"b": "1.0"}}}
    got = explain_file("EXPECTED_VERSIONS_v0_1.json", _json(old), _json(new))
    assert got.kind == "document" and got.records is None
    assert got.as_json()["fields"] == {
        "changed": {"paths": ["expected.schema_version"], "more": 0},
        "added": {"paths": ["expected.builders.b"], "more": 0},
        "removed": {"paths": ["expected.builders.a"], "more": 0},
    }
    assert got.lines() == [
        "EXPECTED_VERSIONS_v0_1.json: changed expected.schema_version; "
        "added expected.builders.b; removed expected.builders.a"
    ]


def test_no_usable_id_compares_by_content() -> None:
    old = [{"id": "x", "v": 1}, {"id": "x", "v": 2}]  # `id` is not unique: no field identity
    new = [{"id": "x", "v": 1}, {"id": "x", "v": 3}]
    got = explain_file("rows.json", _json(old), _json(new))
    assert got.records is not None and got.records["identity"] == "content"
    assert got.records["counts"] == {"added": 1, "removed": 1, "changed": 0, "unchanged": 1}
    assert got.records["added"]["ids"] == ['{"id":"x","v":3}']
    assert got.lines()[0].endswith("[no id field: records compared by content]")


def test_nested_paths_list_indices_and_odd_keys() -> None:
    old = [{"name": "p", "thresholds": {"stale_after_hours": 24}, "cols": [1, 2, 3, 4], "a.b": 1}]
    new = [{"name": "p", "thresholds": {"stale_after_hours": 12}, "cols": [1, 2, 3, 5], "a.b": 2}]
    got = explain_file("p.json", _json(old), _json(new))
    assert got.records is not None
    assert got.records["changed"]["records"][0]["fields"] == [
        '["a.b"]',
        "cols[3]",
        "thresholds.stale_after_hours",
    ]


def test_type_changes_are_changes_but_equal_numbers_are_not() -> None:
    got = explain_file(
        "x.json", _json({"a": 1, "b": 1, "c": 2}), _json({"a": True, "b": 1.0, "c": "2"})
    )
    assert got.fields is not None and got.fields["changed"]["paths"] == ["a", "c"]


def test_large_diff_is_summarized() -> None:
    old = [{"id": i, "status": "OK", **{f"f{j}": 0 for j in range(15)}} for i in range(1000)]
    new = [{"id": i, "status": "BAD", **{f"f{j}": 1 for j in range(15)}} for i in range(1000)]
    got = explain_file("big.jsonl", _jsonl(old), _jsonl(new))
    assert got.records is not None and got.records["counts"]["changed"] == 1000
    changed = got.as_json()["records"]["changed"]
    assert [r["id"] for r in changed["records"]] == [str(i) for i in range(10)]
    assert changed["more"] == 990
    assert changed["records"][0]["more"] == 6  # 16 changed fields, 10 listed
    assert len(got.lines()) == 1 and len(got.lines()[0]) < 2000
    assert "+990 more" in got.lines()[0]


@pytest.mark.parametrize(
    ("relpath", "bad"),
    [
        ("a.json", b'{"a": 1, "a": 2}'),
        ("a.json", b'{"a": NaN}'),
        ("a.json", b"\xff\xfe\x00"),
        ("a.json", b"[" * 100_000),
        ("a.jsonl", b'{"a": 1}\n{"a": \n'),
        ("a.yaml", b"a: 1\na: 2\n"),
        ("a.yaml", b"!!python/object:os.system x\n"),
        ("a.yaml", b"a: &x [*x]\n"),
        ("a.yaml", b"d: [1, 2\n"),
        ("a.yaml", b"[" * 1_000_000),  # ruamel's C composer (YAML(typ="safe")) segfaulted
    ],
)
def test_unparseable_side_is_reported_not_raised(relpath: str, bad: bytes) -> None:
    got = explain_file(relpath, b"[]\n" if relpath.endswith("json") else b"{}\n", bad)
    assert got.kind == "unparseable"
    assert got.reason is not None and got.reason.startswith("new side is not valid")
    assert len(got.reason) < 400
    assert got.lines()[0].startswith(f"{relpath}: not explained: new side")


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    got = explain_file("bomb.yaml", None, "\n".join(lines).encode())
    assert got.kind == "unparseable" and "aliases" in (got.reason or "")


def test_oversized_side_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta_explain, "MAX_EXPLAIN_BYTES", 10)
    got = explain_file("a.json", b"[]", _json(OPS_NEW))
    assert got.kind == "unparseable" and "not parsed" in (got.reason or "")


def test_whole_file_added_and_removed() -> None:
    added = explain_file("OPS.json", None, _json(OPS_OLD))
    assert added.change == "added" and added.records is not None
    assert added.lines() == ["OPS.json (added): 3 records added (OP-QA07, OP-QA09, OP-QA10)"]
    removed = explain_file("OPS.jsonl", _jsonl(OPS_OLD), None)
    assert removed.lines() == ["OPS.jsonl (removed): 3 records removed (OP-QA07, OP-QA09, OP-QA10)"]
    doc = explain_file("doc.yaml", None, b"a: {b: 1}\nc: 2\n")
    assert doc.kind == "document" and doc.lines() == ["doc.yaml (added): added a, c"]


def test_non_data_and_seal_files_get_sizes_only() -> None:
    for relpath in ("run.json", "manifest.json", "MANIFEST.sha256", "notes.txt", "x.csv"):
        got = explain_file(relpath, b"12345", b"123")
        assert (got.kind, got.old_size, got.new_size) == ("binary_or_text", 5, 3)
        assert got.as_json()["records"] is None and got.as_json()["fields"] is None
    assert explain_file("notes.txt", b"1", b"1").lines() == ["notes.txt: 1 -> 1 bytes"]  # unread
    same = explain_file("ops.json", _json(OPS_OLD), _json(OPS_OLD))
    assert same.lines() == ["ops.json (unchanged): no record changed (3 unchanged)"]


def test_deterministic_whatever_the_record_order_and_strict_json() -> None:
    shuffled = list(OPS_NEW)
    random.Random(7).shuffle(shuffled)
    first = explain_file("ops.json", _json(OPS_OLD), _json(OPS_NEW))
    second = explain_file("ops.json", _json(list(reversed(OPS_OLD))), _json(shuffled))
    assert json.dumps(first.as_json()) == json.dumps(second.as_json())
    assert first.lines() == second.lines()
    text = json.dumps(first.as_json(), allow_nan=False)  # strict JSON
    assert json.loads(text)["records"]["identity"] == "op_id"


def test_snapshots_in_byte_order_with_unsafe_and_missing_paths(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, rows in ((old, OPS_OLD), (new, OPS_NEW)):
        (folder / "sub").mkdir(parents=True)
        (folder / "run.json").write_text("{}")
        (folder / "sub" / "ops.jsonl").write_bytes(_jsonl(rows))
    (new / "B.json").write_bytes(b"{}")
    (tmp_path / "secret.json").write_text("{}")
    (new / "link.json").symlink_to(tmp_path / "secret.json")
    paths = ["sub/ops.jsonl", "run.json", "B.json", "../x.json", "link.json", "sub/ops.jsonl"]
    got = explain_snapshots(old, new, paths)
    assert [e.relpath for e in got] == [
        "../x.json",
        "B.json",
        "link.json",
        "run.json",
        "sub/ops.jsonl",
    ]
    assert [e.kind for e in got] == [
        "unparseable",
        "document",
        "unparseable",
        "binary_or_text",
        "records",
    ]
    assert "unsafe relpath" in (got[0].reason or "")
    assert "outside the run folder" in (got[2].reason or "")
    assert got[1].change == "added"


def test_first_snapshot_has_no_old_folder(tmp_path: Path) -> None:
    (tmp_path / "ops.json").write_bytes(_json(OPS_OLD))
    (got,) = explain_snapshots(None, tmp_path, ["ops.json"])
    assert got.change == "added" and got.records is not None
    assert got.records["counts"]["added"] == 3


def test_real_migration_ledger_change(make_run: Callable[..., SealedRun]) -> None:
    source = (REPO / "registries" / "migration_ledger" / "applied_migrations.json").read_bytes()
    ledger = json.loads(source)
    target = ledger["migrations"][2]
    assert target["status"] == "UNVERIFIED"
    target["status"] = "VERIFIED"
    old = make_run({"applied_migrations.json": source}, registry_id="migration_ledger")
    new = make_run({"applied_migrations.json": _json(ledger)}, registry_id="migration_ledger")

    got = explain_snapshots(old.path, new.path, ["applied_migrations.json", "run.json"])

    ledger_expl, run_json = got
    assert run_json.kind == "binary_or_text" and run_json.new_size is not None
    assert ledger_expl.records is not None
    records = ledger_expl.records
    assert (records["location"], records["identity"]) == ("migrations", "file")
    assert ledger_expl.records["counts"]["changed"] == 1
    (changed,) = ledger_expl.records["changed"]["records"]
    assert (changed["id"], changed["fields"]) == (target["file"], ["status"])
    assert ledger_expl.lines() == [
        f"applied_migrations.json: 1 record changed ({target['file']}: status)"
    ]
