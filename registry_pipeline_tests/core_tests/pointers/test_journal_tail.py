"""Reading the journal from its end: correct for lines of any length across block boundaries,
and each byte read once (a 50 MB last line once took 40 s: the tail was re-read per block)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_pipeline.core import jsonl
from registry_pipeline.core.pointers import journal
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME


class CountingReader(io.BytesIO):
    """A binary file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


@settings(max_examples=2 * settings().max_examples, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=12),
    block=st.integers(min_value=1, max_value=16),
    trailing=st.booleans(),
)
def test_lines_backwards_matches_a_plain_split(
    lines: list[bytes], block: int, trailing: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    original = jsonl.TAIL_BLOCK
    jsonl.TAIL_BLOCK = block
    try:
        found = list(jsonl.lines_backwards(io.BytesIO(data)))
    finally:
        jsonl.TAIL_BLOCK = original
    assert found == [line for line in reversed(data.split(b"\n")) if line]


@pytest.mark.parametrize("size", [10, 70_000, 3_000_000])
def test_a_long_last_line_is_read_once(size: int) -> None:
    data = b'{"first": 1}\n' + b"x" * size + b"\n"
    handle = CountingReader(data)
    assert next(jsonl.lines_backwards(handle)) == b"x" * size
    assert handle.read_bytes <= size + jsonl.TAIL_BLOCK + 1


def test_last_record_with_a_record_longer_than_many_blocks(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    from registry_pipeline.core.seal.envelope import SealedRef

    ref = SealedRef("alpha", "2026-01-01__000000__alpha_build", "a" * 64)
    beta = SealedRef("beta", ref.run_id, ref.manifest_sha256)  # a record's refs are its own
    actor = {"kind": "cli_user", "id": "u"}
    first = journal.JournalRecord(
        1, "alpha", None, ref, "promote", "r", actor, {}, "2026-01-01T00:00:00Z", None
    ).hashed()
    big = {"seal_valid": {"passed": True, "source": "s" * (5 * jsonl.TAIL_BLOCK)}}
    second = journal.JournalRecord(
        2, "beta", beta, beta, "hold", "r", actor, big, "2026-01-01T00:00:01Z", first.sha256
    ).hashed()
    journal.append_record(path, first)
    journal.append_record(path, second)
    assert journal.last_record(path) == second
    assert journal.last_record_of(path, "alpha") == first
    assert journal.last_record_of(path, "beta") == second
