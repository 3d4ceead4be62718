"""The order of a run's records (seed 004: "append a newer RUN record with same `run_id` and later
`created_utc` or add `last_updated_utc`").

Records of one run are ordered by (`created_utc`, `last_updated_utc`), lexicographically: a record
created later is later whatever either record's `last_updated_utc` says; with equal
`created_utc`, the one updated later is later (an absent `last_updated_utc` counts as equal to
`created_utc`). So a record created earlier than the run's latest is never later, even when
updated after it (AUGMENT_NOT_LATER); equal in both: not later.

`Order` keeps each key's records of a batch or a log in that order.
"""

from __future__ import annotations

import itertools
import operator
import re
import sqlite3
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from registry_pipeline.core.run_index.spec import EARLIEST, IndexSpec, parse_time


def times(spec: IndexSpec, record: dict[str, Any]) -> tuple[int, int]:
    """(created, updated) of a record in microseconds since the epoch, its place among its run's
    records: updated is `last_updated_utc`, else (absent or unparsable) the created time (a
    created time that does not parse sorts first)."""
    created = parse_time(record.get(spec.time))
    if created is None:
        created = EARLIEST
    updated = parse_time(record.get(spec.updated)) if record.get(spec.updated) else None
    return created, (created if updated is None else updated)


_SEED_MINUTE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z")
"""The seed's time to the minute (`YYYY-MM-DDTHH:MMZ`)."""


def parse_times(values: list[Any]) -> list[int | None]:
    """`parse_time` of each value; when all are the seed's times to the minute, each distinct day
    and each distinct minute is read once (by `parse_time` itself), and a time is their sum."""
    if set(map(type, values)) != {str} or not all(map(_SEED_MINUTE.fullmatch, values)):
        return list(map(parse_time, values))
    days = list(map(operator.getitem, values, itertools.repeat(slice(0, 10))))
    minutes = list(map(operator.getitem, values, itertools.repeat(slice(11, 16))))
    day = {text: parse_time(f"{text}T00:00Z") for text in set(days)}
    minute = {text: parse_time(f"1970-01-01T{text}Z") for text in set(minutes)}
    if None in day.values() or None in minute.values():
        return list(map(parse_time, values))
    return list(map(operator.add, map(day.__getitem__, days), map(minute.__getitem__, minutes)))


class Order:
    """Each key's records in the order given, as they are added: which come after the key's
    latest (`not_later`), the first of each key (checked `against` the index), and each key's
    latest. Held in memory, compactly: a dict of the keys and arrays of times and lines (about
    150 bytes a record; a million records, 150 MB)."""

    def __init__(self) -> None:
        self.count = 0
        self.new_keys = 0
        """Keys of the batch the index did not have (counted by `against`)."""
        self.known: set[str] = set()
        """Keys of the batch the index had (found by `against`)."""
        self._first: dict[str, int] = {}
        """Key -> position of its first record (in the order first given)."""
        self._top: dict[str, int] = {}
        """Key -> position of its latest record so far, for keys given more than once."""
        self._counts: dict[str, int] = {}
        """Key -> its records, for keys given more than once."""
        self._lines = array("q")
        self._created = array("q")
        self._updated = array("q")
        self._later: list[tuple[int, str]] = []

    def add(self, line: int, key: str, created: int, updated: int) -> None:
        """One record (`times`), in line order."""
        self.add_many([line], [key], [created], [updated])

    def add_many(
        self,
        lines: Sequence[int],
        keys: Sequence[str],
        created: Sequence[int],
        updated: Sequence[int],
    ) -> None:
        """Records in line order (columns of equal length). Keys first given here are noted
        at once (in C); only the records of a key given before, here or earlier, are placed
        one by one."""
        base, first = self.count, self._first
        self._lines.extend(lines)
        self._created.extend(created)
        self._updated.extend(updated)
        self.count = base + len(keys)
        ordered = dict.fromkeys(keys, 0)  # each key once, in the order first given
        positions = range(self.count - 1, base - 1, -1)
        ordered.update(zip(reversed(keys), positions, strict=True))  # the first position wins
        known = ordered.keys() & first.keys()
        kept = {key: first[key] for key in known}
        first.update(ordered)
        first.update(kept)
        if len(ordered) == len(keys) and not known:
            return  # no key given twice: nothing to place
        later = map(operator.ne, map(first.__getitem__, keys), itertools.count(base))
        for at in itertools.compress(itertools.count(base), later):  # found in C
            self._place(at, keys[at - base])

    def _place(self, at: int, key: str) -> None:
        """The record at `at`, of a key given before: later than the key's latest, or not."""
        self._counts[key] = self._counts.get(key, 1) + 1
        top = self._top.get(key, self._first[key])
        place, latest = (
            (self._created[at], self._updated[at]),
            (
                self._created[top],
                self._updated[top],
            ),
        )
        if place > latest:
            self._top[key] = at
        else:
            self._later.append((self._lines[at], key))
            if place == latest:
                self._top[key] = at  # equal: the later line is the latest view

    def not_later(self) -> Iterator[tuple[int, str]]:
        """(line, key) of each record whose key had a record at an equal or later place before
        it, in line order."""
        yield from self._later

    def against(self, index: sqlite3.Connection) -> Iterator[tuple[int, str]]:
        """(line, key) of the first record of each key whose run the sidecar `index` already
        has at an equal or later place."""
        self.new_keys = 0
        self.known = set()
        if index.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None:
            self.new_keys = len(self._first)  # an empty index has none of them
            return
        keys = iter(self._first.items())
        while part := list(itertools.islice(keys, 500)):
            marks = ", ".join("?" * len(part))
            latest = {
                key: (first, second)
                for key, first, second in index.execute(
                    f"SELECT key, last_t, last_c FROM runs WHERE key IN ({marks})",
                    [key for key, _at in part],
                )
            }
            self.known.update(latest)
            for key, at in part:
                if key not in latest:
                    self.new_keys += 1
                elif (self._created[at], self._updated[at]) <= latest[key]:
                    yield self._lines[at], key

    def line_at(self, position: int) -> int | None:
        """The input line of the record at `position` (0: the first) in the order given."""
        return self._lines[position] if 0 <= position < self.count else None

    def first(self) -> tuple[int, str, tuple[int, int]]:
        """(line, key, place) of the first record given (after `add`)."""
        key = next(iter(self._first))
        return self._lines[0], key, (self._created[0], self._updated[0])

    def latest_lines(self) -> set[int]:
        """The line of each key's latest record (the greatest place; ties: the later line)."""
        return {self._lines[self._top.get(key, at)] for key, at in self._first.items()}

    def places(self) -> tuple[array[int], array[int]]:
        """(created, updated) of each record (`times`), by position."""
        return self._created, self._updated

    def new_runs(self) -> tuple[list[str], array[int], array[int], list[int]]:
        """Of each key the index did not have (`against`), in the order first given: the key,
        the positions of its first and of its latest record, and its record count."""
        if self.known:
            keys = [key for key in self._first if key not in self.known]
            firsts = array("q", map(self._first.__getitem__, keys))
        else:
            keys, firsts = list(self._first), array("q", self._first.values())
        latests = array("q", map(self._top.get, keys, firsts))
        return keys, firsts, latests, list(map(self._counts.get, keys, itertools.repeat(1)))

    def close(self) -> None:
        """Drop what is held."""
        self._first.clear()
        self._top.clear()
        self._counts.clear()
