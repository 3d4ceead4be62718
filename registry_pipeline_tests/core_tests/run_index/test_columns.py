"""A block of compact lines is checked by one schema call for all its records (`append`: what
`SchemaCatalog.is_all_valid` vouches for), and each record then by `judged` (its problems and
its place in one pass, a plain record by a few lookups), which finds what the checks one at a time
find: the problems are those of each record checked alone, on generated batches (valid
records in every form, and records each kind of invalid, with the catalog's spec and schema and
with generated specs: no schema; other predicates, lanes, recommended and file fields), and the
one call vouches whenever no record violates the schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_pipeline.core.json_strict import dumps_compact
from registry_pipeline.core.run_index import RunIndex
from registry_pipeline.core.run_index.records import Batch, judged, parse_block, times
from registry_pipeline.core.run_index.spec import Condition, IndexSpec, Predicate
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests.core_tests.run_index._support import (
    DROP,
    make_workspace,
    record,
    run_id,
    utc,
)

SAME = object()
"""A `last_updated_utc` equal to the record's `created_utc`."""
HEADS = st.sampled_from([None, frozenset({"override_id"}), frozenset({"notes", "work_id"})])


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace, with a run log that exists beside it."""
    root = tmp_path_factory.mktemp("columns")
    (root / "logs").mkdir()
    (root / "logs" / "RUN_LOG.md").write_text("log")
    make_workspace(root)
    return root


def _paths(place: Path) -> list[Any]:
    """File field values of every kind: found here or not (under a missing folder too), spelt
    plainly or not, and those that name no file."""
    return [
        f"{place}/logs/RUN_LOG.md",
        f"{place}//logs/RUN_LOG.md",
        f"{place}/logs/./RUN_LOG.md",
        f"{place}/missing/a/RUN_LOG.md",
        f"{place}/missing/b/RUN_LOG.md",
        f"{place}/logs/RUN_LOG.md/",
        "/srv/c1/runs/RUN_LOG.md",
        "C:\\runs\\RUN_LOG.md",
        "\\\\server\\share\\RUN_LOG.md",
        "runs/RUN_LOG.md",
        "/",
        "/a\tb",
        "",
        None,
        DROP,
        7,
    ]


def _batch(records: list[Any], spelled: bool = False) -> Batch:
    """The batch read from these records' compact lines (`spelled`: one line spaced)."""
    lines = [dumps_compact(r).encode() for r in records]
    if spelled and lines:
        lines[0] = lines[0].replace(b":", b": ", 1)
    return parse_block(b"\n".join(lines) + b"\n", 1, "x")


def _agree(root: Path, spec: IndexSpec, heads: frozenset[str] | None, batch: Batch) -> bool:
    """Each record's problems with the batch's one schema call are its problems checked alone;
    the call vouches for a plain batch exactly when no record has a schema violation. Whether
    it vouched."""
    del heads  # the coordination rules judge the records alike either way
    schemas = SchemaCatalog.for_workspace(root / "ws")
    schema = schemas.for_artifact(spec.artifact)
    values = [value for _line, value in batch.records]
    vouched = bool(
        batch.plain and schema is not None and schemas.is_all_valid(schema.schema_id, values)
    )
    alone = [judged(spec, schemas, line, value)[0] for line, value in batch.records]
    shortcut = [
        judged(spec, schemas, line, value, schema_valid=vouched or schema is None)
        for line, value in batch.records
    ]
    assert [problems for problems, _created, _updated in shortcut] == alone
    for (problems, *place), (_line, value) in zip(shortcut, batch.records, strict=True):
        assert problems or tuple(place) == times(spec, value)  # one pass: problems and place
    if schema is not None:
        violated = any(schemas.validate(schema.schema_id, value) for value in values)
        assert vouched == (batch.plain and not violated)
    return vouched


# --- the catalog's spec and schema ----------------------------------------------------------

VALID_CHANGES: list[dict[str, Any]] = [
    {},
    {"scripture_packet_id": DROP},
    {"work_id": DROP, "version_ids": DROP, "qa_gate2": "FAIL"},
    {"qa_gate0": "FAIL", "qa_gate2": "FAIL", "work_id": DROP, "version_ids": DROP},
    {"uniqueness_scene": "FAIL", "override_id": "OVR-20260901-0900-OOOO"},
    {"uniqueness_hook": "FAIL", "qa_gate2": "FAIL", "work_id": DROP, "version_ids": DROP},
    {"last_updated_utc": "2026-09-02T08:00Z"},
    {"last_updated_utc": SAME},
    {"notes": 'ünïcode — and \\ " \n \u2028 \x7f'},
    {"run_log_filepath_abs": DROP, "qa_gate2": "FAIL", "work_id": DROP, "version_ids": DROP},
    {"version_ids": ["VER-20260901-0800-URMH", "VER-20260901-0800-URMI"]},
    {"qa_gate3": "FAIL"},
]
INVALID_CHANGES: list[dict[str, Any]] = [
    {"run_id": DROP},
    {"run_id": ""},
    {"run_id": 7},
    {"created_utc": "yesterday"},
    {"created_utc": DROP},
    {"created_utc": "2026-09-01T08:00:00Z"},
    {"created_utc": "2026-02-30T08:00Z"},
    {"last_updated_utc": "later"},
    {"last_updated_utc": "2026-08-31T08:00Z"},
    {"last_updated_utc": None},
    {"machine_id": "C9"},
    {"record_type": "RUNS"},
    {"extra_field": 1},
    {"qa_gate2": "PASS", "work_id": DROP},
    {"uniqueness_scene": "FAIL"},
    {"run_log_filepath_abs": "runs/RUN_LOG.md"},
    {"run_log_filepath_abs": "/"},
    {"run_log_filepath_abs": "/a\nb"},
    {"run_log_filepath_abs": DROP},
    {"version_ids": []},
    {"artist_id": 12},
]


@st.composite
def catalog_records(draw: st.DrawFn, invalid: bool) -> list[Any]:
    """Records of distinct runs, valid, then (with `invalid`) one or more changed to fail."""
    count = draw(st.integers(1, 12))
    found: list[Any] = []
    for n in range(count):
        created = utc(1, 8, n % 60)
        change = draw(st.sampled_from(VALID_CHANGES))
        change = {k: created if v is SAME else v for k, v in change.items()}
        found.append(record(run_id=run_id(n), created_utc=created, **change))
    if invalid:
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, count - 1))
            bad = draw(st.sampled_from([*INVALID_CHANGES, "not an object"]))
            if isinstance(bad, str):
                found[at] = draw(st.sampled_from([[1, 2], "RUN", 3, None]))
            elif isinstance(found[at], dict):
                found[at] = {k: v for k, v in {**found[at], **bad}.items() if v is not DROP}
    return found


@settings(max_examples=150, deadline=None)
@given(catalog_records(invalid=False), HEADS, st.booleans())
def test_valid_catalog_records_take_the_column_path(
    place: Path, records: list[Any], heads: frozenset[str] | None, spelled: bool
) -> None:
    spec = RunIndex.open(place / "ws").spec
    changed = [dict(r, run_log_filepath_abs=_paths(place)[n % 6]) for n, r in enumerate(records)]
    vouched = _agree(place, spec, heads, _batch(changed, spelled))
    assert vouched is not spelled  # a line not compact: the batch is re-encoded, record by record


@settings(max_examples=200, deadline=None)
@given(catalog_records(invalid=True), HEADS)
def test_invalid_catalog_records_get_the_same_problems(
    place: Path, records: list[Any], heads: frozenset[str] | None
) -> None:
    spec = RunIndex.open(place / "ws").spec
    _agree(place, spec, heads, _batch(records))


# --- generated specs, no schema -------------------------------------------------------------

SCALARS = st.sampled_from(
    [None, True, False, 0, 1, 1.0, -2, "", "PASS", "FAIL", "x", "1", 2**60, 10**20, [], ["PASS"]]
)
TIMES = st.sampled_from(
    [
        "2026-09-01T08:00Z",
        "2026-09-01T08:01Z",
        "2026-09-01T07:59:30Z",
        "2026-09-01T08:00:00+00:00",
        "2026-09-01",
        "2026-13-01T08:00Z",
        "2026-09-01T24:00Z",
        "2026-09-01T08:60Z",
        "٢٠٢٦-09-01T08:00Z",
        "",
        None,
        5,
    ]
)


@st.composite
def specs(draw: st.DrawFn) -> IndexSpec:
    """A run index spec no schema governs, with drawn lanes, predicates and fields."""

    def predicate() -> Predicate | None:
        fields = draw(st.lists(st.sampled_from(["g0", "g1", "u_x", "uniqueness_a"]), max_size=3))
        if draw(st.booleans()):
            return None
        conditions = tuple(
            Condition(f, tuple(draw(st.lists(SCALARS, min_size=1, max_size=3)))) for f in fields
        )
        return Predicate(draw(st.sampled_from(["all", "any"])), conditions)

    return IndexSpec(
        registry_id="runs",
        type_name="run",
        source="registries/runs.jsonl",
        artifact="NOT_GOVERNED.jsonl",
        key="id",
        time="t",
        updated="u",
        lanes=tuple(draw(st.lists(st.sampled_from(["lane", "g0", "id"]), max_size=2))),
        success=predicate(),
        failure=predicate(),
        recommended=tuple(draw(st.lists(st.sampled_from(["r0", "r1", "path"]), max_size=3))),
        file_fields=tuple(draw(st.lists(st.sampled_from(["path", "path2"]), max_size=2))),
    )


@st.composite
def generic_records(draw: st.DrawFn, place: Path, valid: bool) -> list[Any]:
    """Records over the fields a generated spec reads: keyed and timed (`valid`), else anyhow."""
    paths = st.sampled_from(_paths(place))
    found: list[Any] = []
    for n in range(draw(st.integers(1, 10))):
        fields: dict[str, Any] = {
            "id": f"K{n % 4}" if valid else draw(st.sampled_from([f"K{n}", "", 3, None, DROP])),
            "t": utc(1, 8, n) if valid else draw(TIMES),
            "u": draw(st.sampled_from([DROP, utc(1, 9, n), utc(1, 8, n)]) if valid else TIMES),
            "path": draw(paths) if not valid else draw(st.sampled_from(_paths(place)[:10])),
            "path2": draw(paths) if not valid else DROP,
        }
        for name in ("g0", "g1", "u_x", "uniqueness_a", "lane", "r0", "r1", "override_id"):
            fields[name] = draw(st.one_of(st.just(DROP), SCALARS))
        found.append({k: v for k, v in fields.items() if v is not DROP})
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), specs(), HEADS, st.booleans())
def test_generated_specs_and_records_get_the_same_findings(
    place: Path, data: st.DataObject, spec: IndexSpec, heads: Any, valid: bool
) -> None:
    records = data.draw(generic_records(place, valid))
    _agree(place, spec, heads, _batch(records))


def test_the_column_path_is_taken_for_plain_valid_batches(place: Path) -> None:
    spec = RunIndex.open(place / "ws").spec
    valid = [record(run_id=run_id(n), created_utc=utc(1, 8 + n // 60, n % 60)) for n in range(300)]
    assert _agree(place, spec, None, _batch(valid))  # long enough for the msgspec proof
    big = [dict(r, notes=str(10**20)) for r in valid]
    assert _agree(place, spec, None, _batch(big))
    unplain = [dict(r, count=10**20) for r in valid]  # not plain: the records one by one
    no_schema = dataclasses.replace(spec, artifact="NOT_GOVERNED.jsonl")
    assert not _batch(unplain).plain
    assert not _agree(place, no_schema, None, _batch(unplain))
    assert not _agree(place, spec, None, _batch([dict(valid[0], machine_id="C9")]))
