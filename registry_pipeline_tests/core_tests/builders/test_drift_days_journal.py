"""A day's drift is read from the journal at that day's end; a bad line is JOURNAL_CORRUPT."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from registry_pipeline.core.builders.drift_days import build_drift_for_day
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.seal.gitstate import JOURNAL_NAME
from registry_pipeline.core.workspace.layout import Workspace


def test_an_unreadable_journal_line_is_journal_corrupt(tmp_path: Path) -> None:
    journal = tmp_path / ".codex" / JOURNAL_NAME
    journal.parent.mkdir()
    journal.write_text('{"seq": 1, "action": "promoted"}\n')
    with pytest.raises(RegistryError) as caught:
        build_drift_for_day(Workspace(tmp_path), date(2026, 11, 20))
    assert (caught.value.code, caught.value.path) == ("JOURNAL_CORRUPT", str(journal))
    assert "line 1" in caught.value.message
