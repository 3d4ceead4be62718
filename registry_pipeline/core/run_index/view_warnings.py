"""The catalog's warnings for a run's latest view: recommended fields absent at Final Save (seed
004: "Recommended required at Final Save") and files named in this machine's form that do not
exist here (what `fields` makes an error is not also a warning)."""

from __future__ import annotations

from typing import Any

from registry_pipeline.core.run_index.fields import is_native, path_problem, saved
from registry_pipeline.core.run_index.files import FileLookup
from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec


class ViewWarnings:
    """The warnings of the records of one index, for one check (an append, a build)."""

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self.files = FileLookup()

    def warnings(self, line: int, record: dict[str, Any]) -> list[RecordProblem]:
        """Every warning of `record` (at `line`), with its message."""
        found = self.warned(record, saved(self.spec, record))
        return [self.warning(line, record, field, code) for field, code in found]

    def warned(self, record: dict[str, Any], final: bool) -> list[tuple[str, str]]:
        """(field, code) of each of `warnings` (`final`: the record is a Final Save), without
        their messages (an append of a million records lists a hundred)."""
        file_fields = self.spec.file_fields
        found = [
            (field, "RECOMMENDED_MISSING")
            for field in (self.spec.recommended if final else ())
            if record.get(field) in (None, "", []) and field not in file_fields
        ]
        for field in file_fields:
            value = record.get(field)
            if (
                isinstance(value, str)
                and path_problem(value) is None
                and is_native(value)
                and not self.files.exists(value)
            ):
                found.append((field, "FILE_ABSENT"))
        return found

    def warning(self, line: int, record: dict[str, Any], field: str, code: str) -> RecordProblem:
        """The warning `code` (`warned`) about `field` of `record`, with its message."""
        if code == "FILE_ABSENT":
            message = f"{record.get(field)!r} does not exist on this machine"
        else:
            message = "is recommended at Final Save"
        return RecordProblem(line, f"/{field}", code, message, record.get(self.spec.key), "warning")
