"""The records of one `registry runs append`, taken in order as they were checked alone
(`checked`, here or in workers), before the lock.

Taken one batch after the other: the problems of the records alone, then for the valid ones their
place among their run's records (`Order`), the warnings of their latest views, and every CHUNK
records the overrides' and coordination rules' findings about those of them the rules can judge
(`RecordRules.relevant`). The valid records are spooled as they will be appended and noted as the
sidecar will index them (`appended.Rows`). Once one record is invalid the others are only
counted: the append is refused anyway, every problem is counted and the first MAX_LISTED listed.
"""

from __future__ import annotations

import bisect
from typing import IO, Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.run_index.appended import Rows
from registry_pipeline.core.run_index.checked import Checked
from registry_pipeline.core.run_index.order import Order
from registry_pipeline.core.run_index.records import MAX_LISTED, RecordProblem, RecordsError
from registry_pipeline.core.run_index.rules import CHUNK, RecordRules


class Intake:
    """Takes checked batches in order (`take`), then says what refuses them (`finish`)."""

    def __init__(self, spec: Any, rules: RecordRules, order: Order, spool: IO[bytes]) -> None:
        self.spec = spec
        self.rules = rules
        self.order = order
        self.spool = spool
        self.rows = Rows(spec)
        self.keys: list[str] = []
        """The first MAX_LISTED keys given."""
        self.warnings: list[RecordProblem] = []
        """The first MAX_LISTED warnings."""
        self.warning_count = 0
        self.notes: list[RecordProblem] = []
        """Findings of severity record (appended to the notes log after the commit)."""
        self._invalid: list[RecordProblem] = []
        self._invalid_count = 0
        self._refused: list[RecordProblem] = []
        self._chunk: list[tuple[int, dict[str, Any]]] = []
        """The relevant records among the current CHUNK valid ones."""
        self._in_chunk = 0

    def take(self, checked: Checked, block: bytes | None = None) -> None:
        """The next batch, as `checked` found it (`block`: the input lines, appended as given
        when `checked.data` is None)."""
        if checked.error is not None:
            raise checked.error
        if checked.invalid_count:
            self._invalid_count += checked.invalid_count
            self._invalid.extend(checked.invalid[: max(0, MAX_LISTED - len(self._invalid))])
        if self._invalid_count:
            return  # refused anyway: only the remaining records' own problems count
        data = block if checked.data is None else checked.data
        assert data is not None
        self.spool.write(data)
        self.order.add_many(checked.lines, checked.keys, checked.created, checked.updated)
        self.rows.extend(checked)
        self.keys.extend(checked.keys[: max(0, MAX_LISTED - len(self.keys))])
        self._chunks(checked)

    def _chunks(self, checked: Checked) -> None:
        """The warnings and relevant records of `checked`, CHUNK valid records at a time, in
        the order a record-by-record pass meets them (its warnings, then the rules' findings
        about its chunk)."""
        count, at = len(checked.keys), 0
        warned = [index for index, _problem in checked.warnings]
        relevant = [index for index, _line, _record in checked.relevant]
        while at < count:
            end = min(count, at + CHUNK - self._in_chunk)
            self.warning_count += sum(checked.warned[at:end])
            low, high = bisect.bisect_left(warned, at), bisect.bisect_left(warned, end)
            for _index, problem in checked.warnings[low:high]:
                if len(self.warnings) >= MAX_LISTED:
                    break
                self.warnings.append(problem)
            low, high = bisect.bisect_left(relevant, at), bisect.bisect_left(relevant, end)
            self._chunk.extend((line, record) for _i, line, record in checked.relevant[low:high])
            self._in_chunk += end - at
            at = end
            if self._in_chunk >= CHUNK:
                self._judge()

    def _judge(self) -> None:
        """The overrides' and coordination rules' findings about the current CHUNK."""
        for problem in self.rules.problems(self._chunk):
            if problem.severity == "warning":
                self.warning_count += 1
                if len(self.warnings) < MAX_LISTED:
                    self.warnings.append(problem)
            else:
                (self._refused if problem.severity == "error" else self.notes).append(problem)
        self._chunk = []
        self._in_chunk = 0

    def finish(self) -> None:
        """Refuse the records when any is invalid, none was given, a run's records are out of
        order, or the overrides or coordination rules refuse one (RecordsError, UsageError)."""
        if self._invalid:
            codes = {problem.code for problem in self._invalid}
            code = codes.pop() if len(codes) == 1 else "RECORD_INVALID"
            raise RecordsError(self._invalid, self._invalid_count, code=code)
        self._judge()
        if self.order.count == 0:
            raise UsageError("no records given (empty input)", code="NO_RECORDS")
        spec = self.spec
        later = [
            RecordProblem(line, f"/{spec.time}", "AUGMENT_NOT_LATER", _earlier(spec), key)
            for line, key in self.order.not_later()
        ]
        if later:
            raise RecordsError(later, len(later), code="AUGMENT_NOT_LATER")
        if self._refused:
            raise RecordsError(
                self._refused, len(self._refused), code="RECORD_REFUSED", refused=True
            )


def _earlier(spec: Any) -> str:
    return (
        f"an earlier record given has the same {spec.key}, written at the same time or later "
        f"({spec.updated}, else {spec.time}; then {spec.time}): a record augmenting a run must "
        "come after its previous one"
    )
