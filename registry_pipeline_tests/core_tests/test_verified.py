"""The one verified-cache (`core.verified`): a fingerprint's passed checks and payload survive a
reload; another version, another format or a torn file are an empty cache; a place that is or
goes through a symlink is refused (UNSAFE_PATH), never read or written through."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.verified import Verified

REL = ".codex/cache/v.json"


def test_what_passed_is_kept_by_fingerprint(tmp_path: Path) -> None:
    cache = Verified(tmp_path, REL, version="t-1")
    assert cache.get("sha256:a") is None and cache.last() is None
    cache.put("sha256:a", ["schemas", "seal"], {"records": 3})
    cache.put("sha256:b", ["seal"])
    cache.save()
    again = Verified(tmp_path, REL, version="t-1")
    entry, other = again.get("sha256:a"), again.get("sha256:b")
    assert entry is not None and entry.checks == {"schemas", "seal"}
    assert other is not None and other.checks == {"seal"}  # "schemas" did not pass for b
    assert entry.payload == {"records": 3}
    assert again.last() is not None and again.last()[0] == "sha256:b"  # type: ignore[index]
    assert Verified(tmp_path, REL, version="t-2").get("sha256:a") is None  # another version: empty


def test_latest_keeps_one_entry(tmp_path: Path) -> None:
    cache = Verified(tmp_path, "v.json", version="t-1", latest=True)
    cache.put("a", ["build"])
    cache.put("b", ["build"])
    cache.save()
    assert list(Verified(tmp_path, "v.json", version="t-1").entries) == ["b"]


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": "x"}', "null"])
def test_an_unreadable_file_is_an_empty_cache(tmp_path: Path, text: str) -> None:
    (tmp_path / "v.json").write_text(text)
    assert Verified(tmp_path, "v.json", version="t-1").entries == {}


def test_a_symlink_is_never_read(tmp_path: Path) -> None:
    cache = Verified(tmp_path, "real.json", version="t-1")
    cache.put("a", ["seal"])
    cache.save()
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(UsageError) as raised:
        Verified(tmp_path, "link.json", version="t-1")
    assert raised.value.code == "UNSAFE_PATH"


def test_a_symlinked_cache_folder_is_refused_and_never_written_through(tmp_path: Path) -> None:
    """A hostile `.codex/cache -> elsewhere` would have verdicts read from and written to a place
    outside the workspace: refused when opened, and when it is planted after the open."""
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / ".codex").mkdir(parents=True)
    outside.mkdir()
    (root / ".codex" / "cache").symlink_to(outside)
    with pytest.raises(UsageError) as raised:
        Verified(root, REL, version="t-1")
    assert raised.value.code == "UNSAFE_PATH"
    assert raised.value.path == str(root / ".codex" / "cache")
    (root / ".codex" / "cache").unlink()
    cache = Verified(root, REL, version="t-1")
    cache.put("a", ["seal"])
    (root / ".codex" / "cache").symlink_to(outside)
    with pytest.raises(UsageError) as raised:
        cache.save()
    assert raised.value.code == "UNSAFE_PATH"
    assert list(outside.iterdir()) == []
