"""The run index benchmark's questions (`bench_run_index`): as our CLI asks them, as DuckDB
answers them over the same JSONL in a fresh process, and as plain Python does (a check on the
SQL); and their answers read back and compared, run ids and records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import gen_run_index
from benchmarks._common import PYTHON, REGISTRY, BenchError
from benchmarks._run_index_data import FAILURE_FIELDS, Dataset

COLUMNS = {name: "VARCHAR" for name in gen_run_index.FIELD_ORDER} | {"version_ids": "VARCHAR[]"}

DUCKDB_SCRIPT = """\
import json, sys
import duckdb
path, question, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def text(value):
    return "'" + str(value).replace("'", "''") + "'"
columns = params["columns"]
names = ", ".join(columns)
struct = "{" + ", ".join(f"{text(k)}: {text(v)}" for k, v in columns.items()) + "}"
db = duckdb.connect()
db.execute("SET enable_progress_bar = false")  # it would write into the answer on stdout
db.execute(
    f"CREATE TEMP TABLE recs AS SELECT * FROM read_json({text(path)}, "
    f"format='newline_delimited', columns={struct}) WITH ORDINALITY AS t({names}, line)"
)
db.execute(
    "CREATE TEMP VIEW runs AS WITH k AS (SELECT run_id, "
    "arg_max(line, (created_utc, line)) AS latest_line, min(line) AS first_line "
    "FROM recs GROUP BY run_id) "
    "SELECT r.*, f.created_utc AS first_created, k.first_line FROM k "
    "JOIN recs r ON r.line = k.latest_line JOIN recs f ON f.line = k.first_line"
)
where = [f"{k} = {text(v)}" for k, v in params.get("lanes", {}).items()]
order = " ORDER BY first_created, first_line"
if question == "show":
    where.append(f"run_id = {text(params['run_id'])}")
elif question == "list":
    where.append(f"first_created BETWEEN {text(params['since'])} AND {text(params['until'])}")
elif question == "failed":
    where.append("'FAIL' IN (" + ", ".join(params["failure_fields"]) + ")")
else:
    where.append("qa_gate2 = 'PASS'")
    order = " ORDER BY first_created DESC, first_line DESC LIMIT 1"
query = f"SELECT {names} FROM runs WHERE {' AND '.join(where)}{order}"
db.execute(f"COPY ({query}) TO '/dev/stdout' (FORMAT json)")
"""
"""DuckDB's side: one question over the JSONL, the latest views written as JSON lines."""


@dataclass
class Question:
    """One question, as our CLI asks it and as DuckDB's script does."""

    name: str
    ours: list[str]
    kind: str
    params: dict[str, Any]


def questions(workspace: Path, data: Dataset, since: str, until: str) -> list[Question]:
    """The seed's four queries (failed twice: everything, and one artist)."""
    artist, genre = data.top_lane
    lane = {"artist_id": artist, "genre_id": genre}
    lane_args = ["--lane", f"artist_id={artist}", "--lane", f"genre_id={genre}"]
    tail = ["--index", "run_index", "--workspace", str(workspace), "--json"]
    runs = [REGISTRY, "runs"]
    return [
        Question(
            "show RUN_ID", [*runs, "show", data.show_run, *tail], "show", {"run_id": data.show_run}
        ),
        Question(
            f"list lane + {since}..{until}",
            [*runs, "list", *lane_args, "--since", since, "--until", until, *tail],
            "list",
            {"lanes": lane, "since": f"{since}T00:00Z", "until": f"{until}T23:59Z"},
        ),
        Question("failed (all)", [*runs, "failed", "--gates", *tail], "failed", {}),
        Question(
            "failed --lane artist_id",
            [*runs, "failed", "--gates", "--lane", f"artist_id={data.small_artist}", *tail],
            "failed",
            {"lanes": {"artist_id": data.small_artist}},
        ),
        Question("latest lane", [*runs, "latest", *lane_args, *tail], "latest", {"lanes": lane}),
    ]


def duckdb_argv(question: Question, path: Path) -> list[str]:
    """DuckDB's side of `question` over the JSONL at `path`, as a fresh Python process."""
    params = {**question.params, "failure_fields": list(FAILURE_FIELDS), "columns": COLUMNS}
    return [PYTHON, "-c", DUCKDB_SCRIPT, str(path), question.kind, json.dumps(params)]


def duckdb_run_ids(text: str) -> list[str]:
    """The run ids of DuckDB's answer (one JSON object a line)."""
    try:
        return [json.loads(line)["run_id"] for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, KeyError) as error:
        raise BenchError(f"DuckDB's answer is not one record a line: {error}") from error


def ours_run_ids(text: str) -> list[str]:
    """The run ids of our `--json` answer, whatever its envelope: a list of records, an object
    holding one (`runs`, `records`, `results`, `items`, `matches`; `run`, `record`, `latest`,
    `view`), a record itself, or JSON lines."""
    try:
        documents = [json.loads(text)] if text.strip() else []
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    found: list[str] = []
    for document in documents:
        for item in _items(document):
            run_id = _run_id(item)
            if run_id is not None:
                found.append(run_id)
    return found


def same_records(ours: str, theirs: str) -> bool:
    """Whether our answer and DuckDB's hold the same latest views, field for field (DuckDB's
    fixed columns give an absent field as null)."""
    mine = {record["run_id"]: record for record in ours_records(ours)}
    duck = {}
    for line in theirs.splitlines():
        if line.strip():
            record = {k: v for k, v in json.loads(line).items() if v is not None}
            duck[record["run_id"]] = record
    return mine == duck


def ours_records(text: str) -> list[dict[str, Any]]:
    """The latest views of our `--json` answer (a failed run's under `record`)."""
    documents = [json.loads(text)] if text.strip() else []
    found = []
    for document in documents:
        for item in _items(document):
            if isinstance(item, dict):
                found.append(item["record"] if isinstance(item.get("record"), dict) else item)
    return found


def _items(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        return []
    for key in ("runs", "records", "results", "items", "matches"):
        found = document.get(key)
        if isinstance(found, list):
            return found
    for key in ("run", "record", "latest", "view", "result"):
        if key in document:
            return [] if document[key] is None else [document[key]]
    return [document] if "run_id" in document else []


def _run_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    run_id = item.get("run_id")
    if isinstance(run_id, str):
        return run_id
    for key in ("record", "latest", "view"):
        inner = item.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("run_id"), str):
            return str(inner["run_id"])
    return None


def reference_answers(path: Path, asked: list[Question]) -> list[list[str]]:
    """The same questions answered by plain Python (a check on DuckDB's SQL), in order."""
    latest: dict[str, tuple[str, int, dict[str, Any]]] = {}
    first: dict[str, tuple[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            record = json.loads(line)
            run_id, when = record["run_id"], record["created_utc"]
            first.setdefault(run_id, (when, number))
            if run_id not in latest or (when, number) >= latest[run_id][:2]:
                latest[run_id] = (when, number, record)
    views = sorted(first, key=first.__getitem__)
    answers = []
    for question in asked:
        lane = question.params.get("lanes", {})
        pool = [r for r in views if all(latest[r][2].get(k) == v for k, v in lane.items())]
        if question.kind == "show":
            answer = [r for r in pool if r == question.params["run_id"]]
        elif question.kind == "list":
            since, until = question.params["since"], question.params["until"]
            answer = [r for r in pool if since <= first[r][0] <= until]
        elif question.kind == "failed":
            answer = [r for r in pool if any(latest[r][2].get(k) == "FAIL" for k in FAILURE_FIELDS)]
        else:
            answer = [r for r in pool if latest[r][2].get("qa_gate2") == "PASS"][-1:]
        answers.append(answer)
    return answers
