"""Helpers of the run index tests: a small workspace holding only the two run logs (the demo's
catalog entries `run_index` and `run_overrides`, their schemas and the coordination rule
`run-override-exists`), valid record factories, the `registry` command in-process, and an
independent reader of a log (pure Python over its lines) that the sidecar's answers are compared
with."""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.cli import main
from registry_pipeline.core.workspace.layout import init_workspace

REPO = Path(__file__).resolve().parents[3]
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
RUNS_LOG = "registries/run_index/RUN_INDEX_v0_1.jsonl"
OVERRIDES_LOG = "registries/run_index/RUN_OVERRIDES_v0_1.jsonl"
COORDINATION = "registries/COORDINATION_v0_1.yaml"
SIDECAR = ".codex/cache/run_index/run_index.sqlite3"
QUARANTINE = ".codex/quarantine"
SCHEMAS = ("run_index_record.schema.json", "run_override.schema.json")
RULE = """\
version: "0.1"
rules:
  - id: run-override-exists
    severity: error
    kind: exists
    from: {type: run, field: /override_id}
    to: {type: run_override}
    why: "A run that passes qa_gate2 despite a failed uniqueness check names its override."
"""
DROP = object()
"""A `record(field=DROP)` override removes the field."""

LANES = ("artist_id", "genre_id")
UNIQUENESS = ("uniqueness_hook", "uniqueness_scene", "uniqueness_scripture")
GATES = ("qa_gate0", "qa_gate1", "qa_gate2", "qa_gate3")


def make_workspace(parent: Path, name: str = "ws") -> Path:
    """A workspace under `parent` whose catalog holds the demo's `run_index` and `run_overrides`
    entries only (copied from the repository's catalog), their two schemas, a coordination file
    with `run-override-exists`, and both logs empty."""
    root = parent / name
    (root / "registries" / "run_index").mkdir(parents=True)
    (root / "schemas").mkdir()
    document = json.loads((REPO / CATALOG).read_text(encoding="utf-8"))
    document["registries"] = [
        entry
        for entry in document["registries"]
        if entry["registry_id"] in ("run_index", "run_overrides")
    ]
    assert len(document["registries"]) == 2
    document["coordination"] = COORDINATION
    (root / CATALOG).write_text(json.dumps(document, indent=2), encoding="utf-8")
    for schema in SCHEMAS:
        shutil.copy(REPO / "schemas" / schema, root / "schemas" / schema)
    (root / COORDINATION).write_text(RULE, encoding="utf-8")
    (root / RUNS_LOG).write_bytes(b"")
    (root / OVERRIDES_LOG).write_bytes(b"")
    init_workspace(root)
    return root


def run_id(n: int, day: int = 1) -> str:
    """A distinct valid run id (RUN-YYYYMMDD-HHMM-RAND4) for each (n, day)."""
    return f"RUN-202609{day:02d}-{n // 60 % 24:02d}{n % 60:02d}-{n:04d}"


def utc(day: int = 1, hour: int = 8, minute: int = 0, month: int = 9) -> str:
    """A created_utc as the schema wants it (YYYY-MM-DDTHH:MMZ)."""
    return f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}Z"


BASE_RECORD: dict[str, Any] = {
    "record_type": "RUN",
    "run_id": "RUN-20260901-0800-AAAA",
    "created_utc": "2026-09-01T08:00Z",
    "created_by": "gpt",
    "machine_id": "C1",
    "artist_id": "ART-iron-harbor",
    "genre_id": "GEN-worship",
    "scripture_packet_id": "SCR-20260901-0800-EGGM",
    "work_id": "WORK-20260901-0800-B5KC",
    "version_ids": ["VER-20260901-0800-URMH"],
    "qa_gate0": "PASS",
    "qa_gate1": "PASS",
    "qa_gate2": "PASS",
    "uniqueness_hook": "PASS",
    "uniqueness_scene": "PASS",
    "uniqueness_scripture": "PASS",
    "run_log_filepath_abs": str(Path(__file__).resolve()),
}
"""A valid RUN record with every recommended field (its run log is this file, which exists):
appending it gives no warning."""


def record(**overrides: Any) -> dict[str, Any]:
    """A valid RUN record with `overrides` applied (a value DROP removes the field)."""
    found = copy.deepcopy(BASE_RECORD)
    for field, value in overrides.items():
        if value is DROP:
            found.pop(field, None)
        else:
            found[field] = value
    return found


def failing(**overrides: Any) -> dict[str, Any]:
    """A valid RUN record whose qa_gate2 failed (no work yet)."""
    return record(**{"qa_gate2": "FAIL", "work_id": DROP, "version_ids": DROP, **overrides})


def override(**overrides: Any) -> dict[str, Any]:
    """A valid override record."""
    found: dict[str, Any] = {
        "override_id": "OVR-20260901-0900-OOOO",
        "created_utc": "2026-09-01T09:00Z",
        "created_by": "human",
        "run_id": "RUN-20260901-0800-AAAA",
        "checks": ["uniqueness_scene"],
        "reason": "same setting on purpose (sequel)",
    }
    found.update(overrides)
    return found


def log_rows(ws: Path, data: bytes, *fields: str, errors: bool = False) -> list[tuple[Any, ...]]:
    """The `fields` of each problem the build's rules check (`log_problems`) finds in `data` as
    the run index's log (with `errors`: of severity error only)."""
    from registry_pipeline.core.run_index import RunIndex, log_problems

    index = RunIndex.open(ws, "run_index")
    try:
        found = log_problems(index.root, index.catalog, index.spec, data)
    finally:
        index.close()
    chosen = [p for p in found if not errors or p.severity == "error"]
    return [tuple(getattr(p, field) for field in fields) for p in chosen]


def lane_args(*lanes: dict[str, str]) -> list[str]:
    """`--lane FIELD=VALUE` of each field of each of `lanes`."""
    return [arg for lane in lanes for k, v in lane.items() for arg in ("--lane", f"{k}={v}")]


def found(details: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(line, field, code) of each detail of a refusal (`error.details`)."""
    return [(d["line"], d["field"], d["code"]) for d in details]


def line(value: Any) -> bytes:
    """A record as one compact JSONL line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def jsonl(records: Iterable[Any]) -> bytes:
    """Records as JSONL bytes."""
    return b"".join(line(r) for r in records)


def write_input(folder: Path, records: Sequence[Any] | bytes, name: str = "in.jsonl") -> str:
    """A `--record-file` holding `records` (JSONL), or the bytes given."""
    path = folder / "inputs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(records if isinstance(records, bytes) else jsonl(records))
    return str(path)


@dataclass
class Result:
    """One `registry` command line run in-process."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """stdout parsed (the command had --json)."""
        return json.loads(self.out)

    @property
    def error(self) -> dict[str, Any]:
        """The `{"error": {...}}` object of a --json failure."""
        document = json.loads(self.out)
        assert set(document) == {"error"}, document
        found: dict[str, Any] = document["error"]
        return found

    def detail_codes(self) -> list[str]:
        """The codes of the problems the error lists."""
        return [d["code"] for d in self.error.get("details", [])]

    def run_ids(self) -> list[str]:
        """The run ids of a --json list."""
        return [r["run_id"] for r in self.json]


class Cli:
    """`registry ...` in-process on one workspace (`--workspace` added)."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main([*args, "--workspace", str(self.root)])
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return Result(code, captured.out, captured.err)

    def runs(self, *args: str) -> Result:
        """`registry runs ARGS... --workspace ROOT`."""
        return self(*("runs", *args))

    def append(self, *records: Any, index: str | None = None) -> Result:
        """`registry runs append --record-file F --json` with `records` as JSONL."""
        given = write_input(self.root.parent, list(records), f"append-{id(records)}.jsonl")
        extra = ("--index", index) if index else ()
        return self.runs("append", "--record-file", given, "--json", *extra)


# --- an independent reader of a log: the answers the sidecar must give ---------------------


def _micros(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)


@dataclass
class SlowRun:
    """A run as the pure-Python reader sees it."""

    key: str
    first_t: int
    first_line: int
    latest: dict[str, Any]
    records: int

    @property
    def success(self) -> bool:
        return self.latest.get("qa_gate2") == "PASS"

    @property
    def failure(self) -> bool:
        """Whether a uniqueness check FAILed (`runs failed`)."""
        return any(self.latest.get(f) == "FAIL" for f in UNIQUENESS)

    @property
    def gate_failure(self) -> bool:
        """Whether the catalog's failure predicate holds (`runs failed --gates`)."""
        return any(self.latest.get(f) == "FAIL" for f in (*UNIQUENESS, *GATES))


def slow_runs(data: bytes) -> list[SlowRun]:
    """Every run of a log's complete lines, by (first time, first line): latest view = greatest
    (last_updated_utc else created_utc, created_utc), ties the later line; first = smallest
    created_utc, ties the earlier line."""
    return list(_slow_runs(data))


@functools.lru_cache(maxsize=4)
def _slow_runs(data: bytes) -> tuple[SlowRun, ...]:
    runs: dict[str, SlowRun] = {}
    latest_t: dict[str, tuple[int, int]] = {}
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        value = json.loads(raw)
        key, t = value["run_id"], _micros(value["created_utc"])
        place = (_micros(value.get("last_updated_utc") or value["created_utc"]), t)
        if key not in runs:
            runs[key] = SlowRun(key, t, number, value, 1)
            latest_t[key] = place
            continue
        run = runs[key]
        run.records += 1
        if t < run.first_t:
            run.first_t, run.first_line = t, number
        if place >= latest_t[key]:
            run.latest, latest_t[key] = value, place
    return tuple(sorted(runs.values(), key=lambda r: (r.first_t, r.first_line)))


def slow_list(
    data: bytes,
    lanes: dict[str, str] | None = None,
    since: str | None = None,
    until: str | None = None,
    *,
    failed: bool = False,
    gates: bool = False,
) -> list[str]:
    """The run ids `runs list` (or `failed`, `failed --gates`) must give; since/until are ISO
    times (inclusive)."""
    low = _micros(since) if since else None
    high = _micros(until) if until else None
    return [
        run.key
        for run in slow_runs(data)
        if all(run.latest.get(f) == v for f, v in (lanes or {}).items())
        and (low is None or run.first_t >= low)
        and (high is None or run.first_t <= high)
        and (not failed or (run.gate_failure if gates else run.failure))
    ]


def slow_latest(data: bytes, lanes: dict[str, str]) -> str | None:
    """The run id `runs latest` must give (None: no success in the lane)."""
    found = [
        run.key
        for run in slow_runs(data)
        if run.success and all(run.latest.get(f) == v for f, v in lanes.items())
    ]
    return found[-1] if found else None
