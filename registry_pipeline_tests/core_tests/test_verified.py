"""The one verified cache: kept by fingerprint; anything but a JSON file is set aside."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core import verified
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.verified import Verified, take_set_aside

REL = ".codex/cache/v.json"
QUARANTINE = ".codex/quarantine"


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


def _kept(root: Path) -> list[Path]:
    """What `.codex/quarantine/` holds."""
    folder = root / QUARANTINE
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_a_symlink_is_never_read(tmp_path: Path) -> None:
    """A linked cache: the link set aside unfollowed; its target never read nor written."""
    cache = Verified(tmp_path, "real.json", version="t-1")
    cache.put("a", ["seal"])
    cache.save()
    target = (tmp_path / "real.json").read_bytes()
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    linked = Verified(tmp_path, "link.json", version="t-1")
    assert linked.get("a") is None  # its target holds "a": never read through the link
    [kept] = _kept(tmp_path)
    assert kept.name.startswith("link-") and kept.name.endswith(".json")
    assert os.path.islink(kept) and os.readlink(kept) == str(tmp_path / "real.json")
    assert not os.path.lexists(tmp_path / "link.json")
    [aside] = linked.set_aside
    assert aside.path == "link.json" and aside.kept_at == kept.relative_to(tmp_path).as_posix()
    assert aside.found == f"a symlink (to {tmp_path / 'real.json'}), not a regular file"
    linked.put("b", ["seal"])
    linked.save()
    assert stat.S_ISREG(os.lstat(tmp_path / "link.json").st_mode)  # rebuilt in its place
    assert (tmp_path / "real.json").read_bytes() == target  # the target untouched
    assert Verified(tmp_path, "link.json", version="t-1").get("b") is not None


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "outside"])
def test_a_cache_linked_out_is_set_aside_target_untouched(tmp_path: Path, target: str) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside.json"
    outside.write_bytes(b'{"theirs": true}')
    (root / ".codex" / "cache").mkdir(parents=True)
    (root / REL).symlink_to(outside if target == "outside" else target)
    cache = Verified(root, REL, version="t-1")
    assert cache.entries == {}
    [kept] = _kept(root)
    assert kept.name.startswith("v-") and os.path.islink(kept)
    assert [aside.path for aside in cache.set_aside] == [REL]
    cache.put("a", ["seal"])
    cache.save()
    assert stat.S_ISREG(os.lstat(root / REL).st_mode)
    assert outside.read_bytes() == b'{"theirs": true}'


def test_a_link_planted_after_the_load_is_set_aside_never_written_through(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"theirs")
    cache = Verified(tmp_path, "v.json", version="t-1")
    assert cache.entries == {}
    (tmp_path / "v.json").symlink_to(outside)
    cache.put("a", ["seal"])
    cache.save()
    assert outside.read_bytes() == b"theirs"
    assert stat.S_ISREG(os.lstat(tmp_path / "v.json").st_mode)
    [kept] = _kept(tmp_path)
    assert os.readlink(kept) == str(outside)
    assert [aside.path for aside in cache.set_aside] == ["v.json"]


@pytest.mark.parametrize(
    ("planted", "found"),
    [
        (lambda path: path.mkdir(), "a folder, not a regular file"),
        (os.mkfifo, "a FIFO (named pipe), not a regular file"),
        (lambda path: path.write_bytes(b"[" * 200_000), "not JSON"),
        (lambda path: path.write_bytes(b"\xff\xfe" * 100), "not JSON"),
        (lambda path: path.write_bytes(b'{"format": '), "not JSON"),
    ],
    ids=["folder", "fifo", "deep", "binary", "torn"],
)
def test_a_cache_that_is_no_json_file_is_set_aside(
    tmp_path: Path, planted: Callable[[Path], object], found: str
) -> None:
    planted(tmp_path / "v.json")
    cache = Verified(tmp_path, "v.json", version="t-1")
    assert cache.entries == {}
    [aside] = cache.set_aside
    assert (aside.path, aside.found) == ("v.json", found)
    assert not os.path.lexists(tmp_path / "v.json") and len(_kept(tmp_path)) == 1
    cache.put("a", ["seal"])
    cache.save()
    assert Verified(tmp_path, "v.json", version="t-1").get("a") is not None


def test_a_cache_over_its_bound_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Verified(tmp_path, "v.json", version="t-1")
    cache.put("a", ["seal"])
    cache.save()
    size = (tmp_path / "v.json").stat().st_size
    monkeypatch.setattr(verified, "LIMIT", size - 1)
    again = Verified(tmp_path, "v.json", version="t-1")
    assert again.entries == {}
    assert [aside.found for aside in again.set_aside] == [f"larger than {size - 1} bytes"]
    [kept] = _kept(tmp_path)
    assert kept.stat().st_size == size


def test_another_version_or_an_empty_file_is_no_garbage(tmp_path: Path) -> None:
    """Another version, another format or an empty file is an empty cache, not set aside."""
    cache = Verified(tmp_path, "v.json", version="t-1")
    cache.put("a", ["seal"])
    cache.save()
    other = Verified(tmp_path, "v.json", version="t-2")
    assert other.entries == {} and other.set_aside == []
    (tmp_path / "w.json").write_bytes(b"")
    empty = Verified(tmp_path, "w.json", version="t-1")
    assert empty.entries == {} and empty.set_aside == [] and _kept(tmp_path) == []


def test_a_write_path_cache_is_set_aside_in_its_workspaces_quarantine(tmp_path: Path) -> None:
    """A cache under `.codex/` sets aside into the workspace's `.codex/quarantine/`."""
    folder = tmp_path / ".codex" / "cache" / "write_path"
    folder.mkdir(parents=True)
    (folder / "x.json").write_bytes(b"garbage")
    cache = Verified(folder, "x.json", version="t-1")
    assert cache.entries == {}
    [kept] = _kept(tmp_path)
    assert kept.name.startswith("x-") and kept.read_bytes() == b"garbage"
    [aside] = cache.set_aside
    assert aside.path == ".codex/cache/write_path/x.json"
    assert aside.kept_at == kept.relative_to(tmp_path).as_posix()


def test_every_set_aside_is_taken_once(tmp_path: Path) -> None:
    """What any cache of the process set aside, for a command to say once (`take_set_aside`)."""
    take_set_aside()
    (tmp_path / "v.json").write_bytes(b"garbage")
    assert Verified(tmp_path, "v.json", version="t-1").entries == {}
    [(root, aside)] = take_set_aside()
    assert (root, aside.path) == (tmp_path, "v.json")
    assert take_set_aside() == []


def test_a_symlinked_quarantine_is_never_moved_through_and_the_cache_is_only_empty(
    tmp_path: Path,
) -> None:
    """Never moved through a linked quarantine: the cache is only empty, never an error."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "ws"
    (root / ".codex").mkdir(parents=True)
    (root / ".codex" / "quarantine").symlink_to(outside)
    (root / "v.json").symlink_to("/dev/zero")
    assert Verified(root, "v.json", version="t-1").entries == {}
    assert list(outside.iterdir()) == [] and os.path.islink(root / "v.json")


def test_a_symlinked_cache_folder_is_refused_and_never_written_through(tmp_path: Path) -> None:
    """A linked `.codex/cache` is refused, when opened and when planted after the open."""
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
