"""The records given judged a block at a time, alone: in this process, or in a second one.

`Judge` gives what the intake keeps of each record of a block (`Judged`): its problems, place,
marks, its view's warnings and whether the rules can say anything about it. A record judged
alone needs nothing of the others, so a large import hands blocks to a `Second` process running
the very same `Judge` while this one judges others, and takes the answers back in order. The
second process is started from this one's interpreter (not forked), reads its blocks on a pipe
and ends at the pipe's end: when this process exits or is killed, it ends too, and this one
waits for it. Whatever it does not answer (a block with a problem, its death) this process
judges itself, so both give the same answers, errors included."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.json_strict import gc_paused
from registry_pipeline.core.run_index.records import (
    MAX_LISTED,
    Batch,
    Item,
    Warnings,
    encode,
    judged,
    parsed,
)
from registry_pipeline.core.run_index.rules import relevant
from registry_pipeline.core.run_index.sidecar import Held, lane_value
from registry_pipeline.core.run_index.spec import IndexSpec, named_override
from registry_pipeline.core.seal.schemas import SchemaCatalog

START_AFTER = 1
"""Blocks judged here before a second process is started (an import of one block needs none);
it is given blocks once it says it is ready, so none waits while it starts."""
PENDING = 8
"""Blocks judged ahead at most, waiting for the second process's answer to an earlier one."""
IN_FLIGHT = 3
"""Blocks the second process holds at most (one judged, one waiting): this one judges the rest."""
CLOSE_SECONDS = 10.0
"""How long it may take to end once its pipe ends (a block in hand) before it is killed."""
_FRAME = struct.Struct("<Q")
"""Each message on the pipes: its length, then a pickle."""


@dataclass
class Judged:
    """A block's records judged alone: their problems, or what the intake keeps of each."""

    numbers: list[int]
    """Each record's input line."""
    invalid: list[Problem] = field(default_factory=list)
    """The records' own problems (the first MAX_LISTED); nothing else is kept when any."""
    invalid_count: int = 0
    created: array[int] = field(default_factory=lambda: array("q"))
    updated: array[int] = field(default_factory=lambda: array("q"))
    keys: list[str] = field(default_factory=list)
    lines: list[bytes] | None = None
    """Each record's line as appended; None from a second process when the block's own lines."""
    marks: list[tuple[Any, ...]] = field(default_factory=list)
    """The `marks` this judge had not given before, in the order it numbered them."""
    ids: array[int] = field(default_factory=lambda: array("q"))
    """Each record's `marks`, numbered by the judge that judged it."""
    overrides: list[str | None] = field(default_factory=list)
    lanes: list[list[str | None]] = field(default_factory=list)
    warning_count: int = 0
    warnings: list[Problem] = field(default_factory=list)
    """The view's warnings (the first MAX_LISTED)."""
    relevant: array[int] = field(default_factory=lambda: array("q"))
    """Positions of the records the rules can say anything about (`rules.relevant`)."""
    records: list[Any] | None = None
    """The relevant records, parsed (None from a second process: read again from their lines)."""


class Judge:
    """Judges blocks of records alone, in order, the same in either process."""

    def __init__(self, spec: IndexSpec, schemas: SchemaCatalog, heads: frozenset[str] | None):
        self.spec, self.schemas, self.heads = spec, schemas, heads
        schema = schemas.for_artifact(spec.artifact)
        self.schema_id = None if schema is None else schema.schema_id
        self.view = Warnings(spec)
        self.held = Held(spec)
        self.given = 0
        """The `marks` given out so far."""
        self.values: dict[str | None, str | None] = {}
        """Each lane value, held once."""

    def __call__(self, batch: Batch) -> Judged:
        """Each record of `batch` judged alone (`records.judged`), then what is kept of it."""
        spec, schemas, values = self.spec, self.schemas, batch.values
        valid = self.schema_id is None or schemas.is_all_valid(self.schema_id, values)
        held, marks, view, heads = self.held, self.held.marks, self.view, self.heads
        out = Judged(batch.numbers)
        made, written, ids, warnings = out.created, out.updated, out.ids, out.warnings
        for at, (line, record) in enumerate(zip(batch.numbers, values, strict=True)):
            problems, created, updated = judged(spec, schemas, line, record, schema_valid=valid)
            if problems:
                out.invalid_count += len(problems)
                out.invalid.extend(problems[: max(0, MAX_LISTED - len(out.invalid))])
            if out.invalid_count:
                continue  # refused anyway: only the records' own problems count
            ids.append(number := held(record))
            found = marks[number]
            warned = view.warned(record, bool(found[0]))
            if warned:
                out.warning_count += len(warned)
                for name, code in warned[: MAX_LISTED - len(warnings)]:
                    warnings.append(view.warning(line, record, name, code))
            if relevant(heads, record, overridden=bool(found[0] and found[2])):
                out.relevant.append(at)
            made.append(created)
            written.append(updated)
        if out.invalid_count:
            return out
        out.keys = [record[spec.key] for record in values]
        out.overrides = list(map(named_override, values))
        same = self.values.setdefault  # each value once: a million runs name a few lanes
        out.lanes = [
            [same(v, v) if type(v := r.get(lane)) is str else lane_value(v) for r in values]
            for lane in spec.lanes
        ]
        out.lines = list(map(encode, values)) if batch.lines is None else batch.lines
        out.records = [values[at] for at in out.relevant]
        out.marks, self.given = marks[self.given :], len(marks)
        return out


def judged_blocks(judge: Judge, given: Iterable[Item], origin: str) -> Iterator[Judged]:
    """Each item of `given` judged (`judge`), in order: after START_AFTER blocks of lines,
    some by a `Second` process once it is ready, their `marks` numbered as `judge` numbers
    them. The first error in the input's order is raised, after the blocks before it."""
    helper: Second | None = None
    pending: deque[Callable[[], Judged]] = deque()
    """The blocks judged or being judged, in order, each given by calling it."""
    mine: list[int] = []
    """The number `judge` gives each `marks` the second process numbered, in its order."""

    def answer() -> Judged:
        assert helper is not None
        (first, block), judged = helper.receive()
        if judged is None:  # a problem, or it died: judged here, said here
            return judge(parsed((first, block), origin))
        mine.extend(map(judge.held.number, judged.marks))
        judged.ids = array("q", [mine[number] for number in judged.ids])
        return judged

    items = iter(given)
    try:
        for count in itertools.count():
            try:
                item = next(items, None)
                if item is None:
                    break
                if count == START_AFTER and isinstance(item, tuple):
                    with contextlib.suppress(OSError):  # none: all are judged here
                        helper = Second(judge.spec, judge.schemas, judge.heads)
                if helper is not None and helper.room and isinstance(item, tuple):
                    helper.send(*item)
                    pending.append(answer)
                else:
                    pending.append(functools.partial(_given, judge(parsed(item, origin))))
            except RegistryError as exc:  # raised after the blocks before it, in order
                pending.append(functools.partial(_raise, exc))
                break
            while pending and (
                len(pending) > PENDING
                or pending[0] is not answer
                or (helper is not None and helper.ready())
            ):
                yield pending.popleft()()
        while pending:
            yield pending.popleft()()
    except BaseException:
        if helper is not None:
            helper.close(kill=True)
        raise
    if helper is not None:
        helper.close()


def _given(judged: Judged) -> Judged:
    return judged


def _raise(error: RegistryError) -> Judged:
    raise error


# --- the second process ----------------------------------------------------------------------


class Second:
    """A second process judging the blocks `send` gives it, answering in order (`receive`)."""

    def __init__(self, spec: IndexSpec, schemas: SchemaCatalog, heads: frozenset[str] | None):
        setup = pickle.dumps((spec, schemas, heads), protocol=pickle.HIGHEST_PROTOCOL)
        self.process = subprocess.Popen(
            # -P: not the working directory first on its path, whose modules it would run
            [sys.executable, "-P", "-c", f"import {__name__} as m; m.main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.sent: deque[tuple[int, bytes]] = deque()
        """The blocks sent and not yet answered, in order."""
        self.dead = False
        """Whether it stopped answering (the blocks it holds are judged here)."""
        self.started = threading.Event()
        """Set once it is ready for blocks (its first message)."""
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        # two threads move the messages: neither process ever waits for the other's pipe
        self.threads = [
            threading.Thread(target=self._write, name="second-judge-in", daemon=True),
            threading.Thread(target=self._read, name="second-judge-out", daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        self.outbox.put(setup)

    @property
    def room(self) -> bool:
        """Whether it may take another block now (it is ready, and not too far behind)."""
        return self.started.is_set() and not self.dead and len(self.sent) < IN_FLIGHT

    def send(self, first: int, block: bytes) -> None:
        """Give it the block of lines `block`, whose first line is number `first`."""
        self.sent.append((first, block))
        self.outbox.put(pickle.dumps((first, block), protocol=pickle.HIGHEST_PROTOCOL))

    def ready(self) -> bool:
        """Whether its next answer is in."""
        return not self.inbox.empty()

    def receive(self) -> tuple[tuple[int, bytes], Judged | None]:
        """The oldest block sent (first line, lines) and its answer (None: judge it here),
        waiting for it."""
        sent = self.sent.popleft()
        message = None if self.dead else self.inbox.get()
        if message is None:
            self.dead = True
            return sent, None
        judged: Judged | None = pickle.loads(message)
        if judged is not None and judged.lines is None:
            judged.lines = sent[1].split(b"\n")[: len(judged.numbers)]
        return sent, judged

    def close(self, *, kill: bool = False) -> None:
        """End it at the end of its pipe (`kill`: at once) and wait for it; killed when it does
        not end in CLOSE_SECONDS."""
        self.outbox.put(None)
        if kill:
            self.process.kill()
        try:
            self.process.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for thread in self.threads:
            thread.join()  # its pipes are closed: each ends

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):  # it died: `receive` judges here what it did not
            while (message := self.outbox.get()) is not None:
                _send(stdin, message)
        with contextlib.suppress(OSError):
            stdin.close()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with contextlib.suppress(OSError, EOFError):
            _message(stdout)  # ready
            self.started.set()
            while True:
                self.inbox.put(_message(stdout))
        self.inbox.put(None)  # its end: what it did not answer is judged here
        stdout.close()


def _send(stream: IO[bytes], message: bytes) -> None:
    stream.write(_FRAME.pack(len(message)))
    stream.write(message)
    stream.flush()


def _message(stream: IO[bytes]) -> bytes:
    """The next message of `stream`; EOFError at its end."""
    head = stream.read(_FRAME.size)
    (size,) = _FRAME.unpack(head) if len(head) == _FRAME.size else (-1,)
    body = stream.read(size) if size >= 0 else b""
    if len(body) != size:
        raise EOFError
    return body


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The second process: judge each block read until the pipe ends, answering each."""
    spec, schemas, heads = pickle.loads(_message(stdin))
    judge = Judge(spec, schemas, heads)
    judge(Batch([], []))  # the schema compiled before the first block
    _send(stdout, b"")  # ready
    with gc_paused():
        while True:
            try:
                first, block = pickle.loads(_message(stdin))
            except EOFError:
                return
            try:
                judged: Judged | None = judge(parsed((first, block), ""))
            except Exception:  # the first process judges it again, and says why
                judged = None
            if judged is not None and judged.invalid_count:
                judged = None  # the first process judges it again, and says what is wrong
            if judged is not None:
                judged.records = None
                if b"\n".join(judged.lines or ()) + b"\n" == block:
                    judged.lines = None  # the first process has them
            _send(stdout, pickle.dumps(judged, protocol=pickle.HIGHEST_PROTOCOL))


def main() -> None:
    """The second process's entry (`Second`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the first process's to handle
    with contextlib.suppress(BrokenPipeError, EOFError):  # the first process is gone: so are we
        _serve(sys.stdin.buffer, sys.stdout.buffer)
    os._exit(0)  # no flush of a broken pipe at exit
