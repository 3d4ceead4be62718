"""The one JSONL log: append all or nothing with fsync, torn tails found and repaired."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import RegistryError

LINE = st.binary(max_size=40).map(lambda raw: raw.replace(b"\n", b"") + b"\n")


@given(st.lists(st.lists(LINE, max_size=4), max_size=5))
def test_appends_concatenate_and_each_returns_the_size_before_it(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    expected = b""
    for batch in batches:
        assert jsonl.append(path, batch) == len(expected)
        expected += b"".join(batch)
    assert (path.read_bytes() if path.exists() else b"") == expected
    assert jsonl.ends_cleanly(path)


def test_a_torn_tail_refuses_the_append_and_leaves_the_log_alone(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b"')
    with pytest.raises(RegistryError) as caught:
        jsonl.append(path, [b'{"c": 3}\n'])
    assert caught.value.code == "LOG_TORN" and caught.value.path == str(path)
    assert path.read_bytes() == b'{"a": 1}\n{"b"'
    assert not jsonl.ends_cleanly(path) and not jsonl.ends_cleanly(path.read_bytes())


@pytest.mark.parametrize("planted", ["folder", "link"])
def test_a_folder_or_a_link_in_the_log_s_place_is_refused(tmp_path: Path, planted: str) -> None:
    target, log = tmp_path / "elsewhere", tmp_path / "log.jsonl"
    target.write_bytes(b"")
    log.mkdir() if planted == "folder" else log.symlink_to(target)
    with pytest.raises(OSError):
        jsonl.append(log, [b"{}\n"])
    assert target.read_bytes() == b""  # a link is not followed


def test_an_append_whose_chunks_fail_midway_is_cut_back(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    jsonl.append(path, [b"1\n"])

    def chunks():
        yield b"2\n"
        raise OSError("the spool could not be read")

    with pytest.raises(OSError, match="spool"):
        jsonl.append(path, chunks())
    assert path.read_bytes() == b"1\n"
    assert jsonl.append(path, iter([b"2\n", b"3\n"])) == 2
    assert path.read_bytes() == b"1\n2\n3\n"


def test_take_back_cuts_what_an_append_wrote(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    jsonl.append(path, [b"1\n"])
    size = jsonl.append(path, [b"2\n", b"3\n"])
    assert jsonl.take_back(path, size)
    assert path.read_bytes() == b"1\n"
    assert not jsonl.take_back(tmp_path / "absent", 0)


@pytest.mark.parametrize(
    ("content", "complete", "after"),
    [
        (b"1\n2", True, b"1\n2\n"),  # a complete last line lost its newline
        (b"1\n2", False, b"1\n"),  # a cut-off last line goes
        (b"1\n", False, b"1\n"),  # nothing torn: nothing changes
        (b"x" * (3 * jsonl.TAIL_BLOCK), False, b""),  # one long line, scanned back in blocks
    ],
)
def test_repair_tail_completes_or_cuts_the_last_line_only(
    tmp_path: Path, content: bytes, complete: bool, after: bytes
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(content)
    seen: list[tuple[bytes, bytes | None]] = []

    def judge(tail: bytes, before: bytes | None) -> bool:
        seen.append((tail, before))
        return complete

    assert jsonl.repair_tail(path, judge) is (content != after)
    assert path.read_bytes() == after
    if content == b"1\n2":
        assert seen == [(b"2", b"1")]


@pytest.mark.parametrize("source", ["path", "handle", "bytes"])
def test_lines_stream_with_numbers_and_each_policy_meets_a_torn_tail(
    tmp_path: Path, source: str
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"a\n\nb\nc")
    given = {"path": lambda: path, "handle": lambda: path.open("rb"), "bytes": path.read_bytes}
    assert list(jsonl.Lines(given[source]())) == [(1, b"a"), (2, b""), (3, b"b"), (4, b"c")]
    for policy in (jsonl.TornTail.REPAIR, jsonl.TornTail.QUARANTINE):
        lines = jsonl.Lines(given[source](), policy)
        assert list(lines) == [(1, b"a"), (2, b""), (3, b"b")] and lines.torn_at == 4
    refused = jsonl.Lines(given[source](), jsonl.TornTail.REFUSE, path=path)
    read: list[tuple[int, bytes]] = []
    with pytest.raises(RegistryError) as caught:
        read.extend(refused)
    assert read == [(1, b"a"), (2, b""), (3, b"b")]  # streamed: the lines before it, then LOG_TORN
    assert (caught.value.code, caught.value.path, caught.value.line) == ("LOG_TORN", str(path), 4)


def test_a_line_longer_than_the_bound_is_refused_naming_it(tmp_path: Path) -> None:
    data = b"ok\n" + b"x" * 11 + b"\n"
    assert list(jsonl.Lines(data, max_line=11))[-1] == (2, b"x" * 11)
    with pytest.raises(RegistryError) as caught:
        list(jsonl.Lines(data, max_line=10, path="log.jsonl"))
    assert (caught.value.code, caught.value.path, caught.value.line) == (
        "INPUT_TOO_LARGE",
        "log.jsonl",
        2,
    )


def test_a_fifo_is_refused_by_the_line_reader_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as caught:
        list(jsonl.Lines(fifo, jsonl.TornTail.REFUSE))
    assert getattr(caught.value, "code", None) == "NOT_A_REGULAR_FILE"


@given(st.binary(max_size=60), st.binary(max_size=60))
def test_the_prefix_check_agrees_with_startswith(old: bytes, new: bytes) -> None:
    broken = jsonl.bytes_break(old, new)
    assert (broken is None) == new.startswith(old)
    if broken is not None:
        assert old[: broken.offset] == new[: broken.offset]
        assert broken.line == old.count(b"\n", 0, broken.offset) + 1


@given(st.binary(max_size=64), st.binary(max_size=64), st.binary(max_size=8))
def test_common_length_is_the_length_of_the_shared_start(a: bytes, b: bytes, start: bytes) -> None:
    """The one prefix measure (the journal's prefix check, a retried append's overlap)."""
    a, b = start + a, start + b
    expected = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    assert jsonl.common_length(a, b) == expected
