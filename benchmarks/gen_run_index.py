"""A seeded run index: RUN records in the seed's format (seed 004, 60-REGISTRY/RUN-INDEX.md) and
the overrides log their failed uniqueness checks name.

Every record is valid against schemas/run_index_record.schema.json. One record a minute or two
(`created_utc` strictly increasing through the file, to the minute as the seed writes it), run ids
`RUN-YYYYMMDD-HHMM-RAND4` from the minute of the run's first record (so unique: no two first
records share a minute). About 200 artists (`ART-<slug>`) over 30 genres (`GEN-<slug>`), each
artist in one to eight genres; lanes are skewed (a few big, a long tail of tiny ones) and about
one lane in twenty never succeeds. About 70% of runs pass QA gate 2 (always with a work id and at
least one version), about 5% fail a uniqueness check; of those, the ones that still pass gate 2
name an override that the overrides log holds (written in the same minute, before the run).
About 10% of runs get one augmenting record later (same run_id, a later created_utc): the final
save (run log path, gate 3, another version), a new version, or a QA re-run that flips gate 2.
Optional fields are present most of the time. Lines are compact JSON, keys in the seed's order
(`last_updated_utc` after `created_utc`, `override_id` after the uniqueness checks).

Deterministic: the same `--records`, `--seed` and `--start` give the same bytes (one
`random.Random(seed)` drives everything). Streaming: the runs are produced one line at a time, so a
million records never sit in memory; the overrides (a few percent of the runs) are a list.

    .venv/bin/python benchmarks/gen_run_index.py --records 1000000 --seed 4 \\
        --out benchmarks/_data/run_index/RUNS.jsonl \\
        --overrides-out benchmarks/_data/run_index/OVERRIDES.jsonl

    from benchmarks.gen_run_index import generate
    lines, overrides = generate(20_000, seed=4)   # overrides fill while `lines` is consumed
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._run_index_vocab import (
    AUGMENT_PROBABILITY,
    CHECK,
    CREATED_BY,
    GATE0,
    GATE1,
    GATE3,
    HH_MM,
    HHMM,
    MACHINES,
    NOTES,
    OVERRIDE_REASONS,
    PAIRS,
    _cumulative,
    lanes,
)

DEFAULT_START = "2024-01-01T00:00Z"
FIELD_ORDER = (
    "record_type",
    "run_id",
    "created_utc",
    "last_updated_utc",
    "created_by",
    "machine_id",
    "artist_id",
    "genre_id",
    "scripture_packet_id",
    "story_id",
    "song_frame_id",
    "work_id",
    "version_ids",
    "qa_gate0",
    "qa_gate1",
    "qa_gate2",
    "qa_gate3",
    "uniqueness_hook",
    "uniqueness_scene",
    "uniqueness_scripture",
    "override_id",
    "run_log_filepath_abs",
    "notes",
)
"""The seed's field order; the two fields it does not list sit next to their relatives."""
UNIQUENESS = ("uniqueness_hook", "uniqueness_scene", "uniqueness_scripture")


def parse_start(text: str) -> datetime:
    """`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[Z]` as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def generate(
    n: int, seed: int, start: str | datetime = DEFAULT_START
) -> tuple[Iterator[str], list[dict[str, Any]]]:
    """`n` RUN records as JSONL lines (each ending in a newline), and the overrides they name.

    The lines are produced lazily; the override list is filled while they are consumed and is
    complete once the iterator is exhausted (each override is appended before the first line
    that names it).
    """
    overrides: list[dict[str, Any]] = []
    moment = parse_start(start) if isinstance(start, str) else start
    return _lines(n, seed, moment, overrides), overrides


def _lines(n: int, seed: int, start: datetime, overrides: list[dict[str, Any]]) -> Iterator[str]:
    rng = random.Random(seed)
    rand = rng.random
    encode = json.JSONEncoder(separators=(",", ":")).encode
    all_lanes = lanes(seed)
    lane_cum = list(accumulate(lane.weight for lane in all_lanes))
    lane_total = lane_cum[-1]
    lane_packet: dict[int, str] = {}
    by_cum, by_values = _cumulative(CREATED_BY)
    machine_cum, machine_values = _cumulative(MACHINES)
    gate0_cum, gate0_values = _cumulative(GATE0)
    gate1_cum, gate1_values = _cumulative(GATE1)
    gate3_cum, gate3_values = _cumulative(GATE3)
    check_cum, check_values = _cumulative(CHECK)
    pairs = PAIRS

    def rand4() -> str:
        value = int(rand() * 1_679_616)
        return pairs[value // 1296] + pairs[value % 1296]

    def pick(cum: list[float], values: list[str]) -> str:
        return values[bisect_right(cum, rand())]

    pending: list[tuple[int, int, dict[str, Any]]] = []
    base_day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    minute = start.hour * 60 + start.minute
    day_index = -1
    ymd = date = ""
    produced = 0
    serial = 0
    while produced < n:
        if minute // 1440 != day_index:
            day_index = minute // 1440
            day = base_day + timedelta(days=day_index)
            ymd, date = day.strftime("%Y%m%d"), day.strftime("%Y-%m-%d")
        of_day = minute % 1440
        stamp = f"{ymd}-{HHMM[of_day]}"
        utc = f"{date}T{HH_MM[of_day]}Z"
        if pending and pending[0][0] <= minute:
            _due, _serial, first = heapq.heappop(pending)
            record = _augment(first, stamp, utc, rng, rand4, overrides)
        else:
            lane_number = bisect_right(lane_cum, rand() * lane_total)
            lane = all_lanes[lane_number]
            run_id = f"RUN-{stamp}-{rand4()}"
            record = {"record_type": "RUN", "run_id": run_id, "created_utc": utc}
            record["created_by"] = pick(by_cum, by_values)
            record["machine_id"] = pick(machine_cum, machine_values)
            record["artist_id"] = lane.artist_id
            record["genre_id"] = lane.genre_id
            if rand() < 0.92:
                packet = lane_packet.get(lane_number)
                if packet is None or rand() < 0.05:
                    packet = lane_packet[lane_number] = f"SCR-{stamp}-{rand4()}"
                record["scripture_packet_id"] = packet
            if rand() < 0.88:
                record["story_id"] = f"SF-{stamp}-{rand4()}"
            if rand() < 0.86:
                record["song_frame_id"] = f"SFR-{stamp}-{rand4()}"
            gate0 = pick(gate0_cum, gate0_values) if rand() < 0.95 else None
            gate1 = pick(gate1_cum, gate1_values) if rand() < 0.92 else None
            checks = [pick(check_cum, check_values) if rand() < 0.93 else None for _ in UNIQUENESS]
            failed = [name for name, v in zip(UNIQUENESS, checks, strict=True) if v == "FAIL"]
            passes = rand() < lane.success and gate0 != "FAIL" and gate1 != "FAIL"
            if passes and failed and rand() >= 0.45:
                passes = False  # most failed uniqueness checks stop the run at gate 2
            if passes or rand() < 0.45:
                record["work_id"] = f"WORK-{stamp}-{rand4()}"
                count = 1 + (rand() < 0.35) + (rand() < 0.1) if passes else int(rand() * 2.4)
                if count:
                    record["version_ids"] = _versions(stamp, count, rand4)
            if gate0 is not None:
                record["qa_gate0"] = gate0
            if gate1 is not None:
                record["qa_gate1"] = gate1
            record["qa_gate2"] = "PASS" if passes else "FAIL"
            if rand() < (0.8 if passes else 0.2):
                record["qa_gate3"] = pick(gate3_cum, gate3_values)
            for name, value in zip(UNIQUENESS, checks, strict=True):
                if value is not None:
                    record[name] = value
            if passes and failed:
                record["override_id"] = f"OVR-{stamp}-{rand4()}"
                overrides.append(_override_record(record, failed, utc, rng))
            if rand() < 0.85 or passes:  # required at Final Save (gate 2 PASS)
                record["run_log_filepath_abs"] = _run_log(record, date)
            if rand() < 0.15:
                record["notes"] = NOTES[int(rand() * len(NOTES))]
            if rand() < AUGMENT_PROBABILITY:
                roll = rand()
                delay = (
                    1 + int(rand() * 60)
                    if roll < 0.3
                    else 60 + int(rand() * 1380)
                    if roll < 0.8
                    else 1440 + int(rand() * 8640)
                )
                serial += 1
                heapq.heappush(pending, (minute + delay, serial, record))
        produced += 1
        yield encode(record) + "\n"
        minute += 2 if rand() < 0.15 else 1


def _versions(stamp: str, count: int, rand4: Any) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        version = f"VER-{stamp}-{rand4()}"
        if version not in found:
            found.append(version)
    return found


def _override_record(
    record: dict[str, Any], failed: list[str], utc: str, rng: random.Random
) -> dict[str, Any]:
    return {
        "override_id": record["override_id"],
        "created_utc": utc,
        "created_by": "human" if rng.random() < 0.7 else record["created_by"],
        "run_id": record["run_id"],
        "checks": failed,
        "reason": OVERRIDE_REASONS[failed[0]][rng.random() < 0.3],
    }


def _run_log(record: dict[str, Any], date: str) -> str:
    machine = record["machine_id"]
    root = "/srv/c1/runs" if machine == "C1" else "/srv/c2/runs" if machine == "C2" else "/tmp/runs"
    return f"{root}/{date[:4]}/{date[5:7]}/{record['run_id']}/RUN_LOG.md"


def _augment(
    first: dict[str, Any],
    stamp: str,
    utc: str,
    rng: random.Random,
    rand4: Any,
    overrides: list[dict[str, Any]],
) -> dict[str, Any]:
    """A later record of the run `first`: the final save, a new version, or a QA re-run."""
    record = dict(first)
    record["created_utc"] = utc
    rand = rng.random
    if rand() < 0.5:
        record["last_updated_utc"] = utc
    roll = rand()
    gate2 = record["qa_gate2"]
    failed = [name for name in UNIQUENESS if record.get(name) == "FAIL"]
    blocked = "FAIL" in (record.get("qa_gate0"), record.get("qa_gate1"))
    if gate2 == "FAIL" and not blocked and roll < 0.25:
        # QA re-run: gate 2 now passes (an override for a failed uniqueness check)
        record["qa_gate2"] = "PASS"
        record.setdefault("run_log_filepath_abs", _run_log(record, utc[:10]))  # Final Save
        record.setdefault("work_id", f"WORK-{stamp}-{rand4()}")
        record["version_ids"] = [*record.get("version_ids", ()), f"VER-{stamp}-{rand4()}"]
        if failed:
            record["override_id"] = f"OVR-{stamp}-{rand4()}"
            overrides.append(_override_record(record, failed, utc, rng))
        record["notes"] = "QA gate 2 re-run after fixes"
    elif gate2 == "PASS" and roll < 0.05:
        # a later listening pass fails gate 3 (the run is now failed)
        record["qa_gate3"] = "FAIL"
        record["notes"] = "gate 3 failed on the final listening pass"
    elif roll < 0.55 and "work_id" in record:
        # a new version of the work
        record["version_ids"] = [*record.get("version_ids", ()), f"VER-{stamp}-{rand4()}"]
    else:
        # the final save: run log, final QA, and the recommended fields
        record.setdefault("run_log_filepath_abs", _run_log(record, utc[:10]))
        if gate2 == "PASS" and "qa_gate3" not in record:
            record["qa_gate3"] = "PASS" if rand() < 0.85 else "PASS_WITH_MINOR_FIXES"
        if "scripture_packet_id" not in record:
            record["scripture_packet_id"] = f"SCR-{stamp}-{rand4()}"
    return {key: record[key] for key in FIELD_ORDER if key in record}


def write(n: int, seed: int, start: str, out: Path, overrides_out: Path) -> tuple[int, int]:
    """Write the runs and the overrides; returns (run lines, override lines)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    overrides_out.parent.mkdir(parents=True, exist_ok=True)
    lines, overrides = generate(n, seed, start)
    with open(out, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as handle:
        handle.writelines(lines)
    encode = json.JSONEncoder(separators=(",", ":")).encode
    with open(overrides_out, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(encode(record) + "\n" for record in overrides)
    return n, len(overrides)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Generate a seeded run index (RUN records) and its overrides log.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  .venv/bin/python benchmarks/gen_run_index.py --records 20000 --seed 4 \\\n"
            "      --out benchmarks/_data/run_index/RUNS.jsonl \\\n"
            "      --overrides-out benchmarks/_data/run_index/OVERRIDES.jsonl\n"
            "  .venv/bin/python benchmarks/gen_run_index.py --records 1000000 --seed 7 \\\n"
            "      --start 2025-06-01T08:00Z --out /tmp/r.jsonl --overrides-out /tmp/o.jsonl\n"
        ),
    )
    parser.add_argument("--records", type=int, required=True, help="RUN lines to write")
    parser.add_argument("--seed", type=int, default=4, help="random seed (default 4)")
    parser.add_argument("--out", type=Path, required=True, help="the runs (JSONL)")
    parser.add_argument("--overrides-out", type=Path, required=True, help="the overrides (JSONL)")
    parser.add_argument(
        "--start",
        default=DEFAULT_START,
        help=f"created_utc of the first record (default {DEFAULT_START})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the files and say how long it took."""
    args = parse_args(argv)
    started = time.perf_counter()
    runs, overrides = write(args.records, args.seed, args.start, args.out, args.overrides_out)
    seconds = time.perf_counter() - started
    print(
        f"{runs:,} run records -> {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), "
        f"{overrides:,} overrides -> {args.overrides_out}, {seconds:.1f} s "
        f"({runs / seconds:,.0f} records/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
