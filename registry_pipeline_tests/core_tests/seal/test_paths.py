"""The seal contract's relpath rules wherever a name occurs: manifests, disk, store, sources."""

from __future__ import annotations

import json
import os
import posixpath
import unicodedata
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_pipeline.cli.main import main as registry_main
from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.seal.manifest import ManifestEntry, render_manifest_json
from registry_pipeline.core.seal.paths import (
    _relpath_rules,
    fold_key,
    relpath_problem,
    safe_fold_key,
    sort_key,
)
from registry_pipeline.core.seal.run_store import RunStore, SealedRun
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import plan_sources
from registry_pipeline_tests._helpers import unseal
from registry_pipeline_tests.core_tests.seal.tampering import (
    hash_lines,
    sha,
    write_hash_lines,
    write_manifest_json,
)

MakeRun = Callable[..., SealedRun]

NFC_E = "\u00e9"  # é, composed
NFD_E = "e\u0301"  # é, decomposed

UNSAFE: dict[str, str] = {
    "dotdot-prefix": "../x",
    "dotdot-escape": "a/../../x",
    "dotdot-inner": "a/../b",
    "dotdot-suffix": "a/..",
    "dotdot-alone": "..",
    "absolute": "/etc/passwd",
    "absolute-root": "/",
    "backslash": "a\\b",
    "backslash-dotdot": "..\\x",
    "windows-drive": "C:\\x",
    "nul": "a\x00b",
    "control-soh": "a\x01b",
    "newline": "a\nb",
    "carriage-return": "a\rb",
    "tab": "a\tb",
    "escape": "a\x1bb",
    "del": "a\x7fb",
    "c1-nel": "a\x85b",
    "nfd": f"caf{NFD_E}.txt",
    "nfd-in-folder": f"caf{NFD_E}/x.txt",
    "empty": "",
    "dot": ".",
    "dot-prefix": "./a",
    "dot-inner": "a/./b",
    "dot-suffix": "a/.",
    "double-slash": "a//b",
    "trailing-slash": "a/",
    "leading-double-slash": "//a",
    "not-utf8": "\udcff.txt",
}

SAFE = ["a", "a/b/c.txt", f"caf{NFC_E}.txt", f"{NFC_E}/{NFC_E}", "README", "readme", "a..b"]
SAFE += ["..a", "a..", "...", ".hidden", "a b.txt", "日本/データ.csv", "x/.git/config", "a.", "-rf"]
SAFE += ["name with ~ and $ and *"]

ON_DISK = ["backslash", "control-soh", "newline", "tab", "escape", "del", "c1-nel", "nfd"]


def printable(relpath: str) -> str:
    """How problems show a relpath: undecodable bytes as \\xNN escapes."""
    return os.fsencode(relpath).decode("utf-8", "backslashreplace")


def write_rows(folder: Path, rows: list[dict[str, object]]) -> None:
    """Write manifest.json (ASCII-escaped, so any str can be written) and re-seal its line."""
    rows = sorted(rows, key=lambda row: str(row["relpath"]).encode("utf-8", "surrogateescape"))
    write_manifest_json(folder, (json.dumps(rows, indent=2) + "\n").encode("ascii"))


def reseal_from_disk(folder: Path) -> None:
    """Both manifests recomputed from every regular file on disk, whatever its name."""
    entries = []
    for directory, _subdirs, files in os.walk(folder):
        for name in files:
            path = Path(directory) / name
            relpath = path.relative_to(folder).as_posix()
            if relpath not in ("manifest.json", "MANIFEST.sha256"):
                data = path.read_bytes()
                entries.append(ManifestEntry(relpath, len(data), sha(data)))
    manifest = render_manifest_json(entries)
    (folder / "manifest.json").write_bytes(manifest)
    write_hash_lines(folder, [e.line() for e in entries] + [f"{sha(manifest)}  manifest.json"])


def create_or_skip(path: Path, data: bytes = b"x\n") -> None:
    try:
        path.write_bytes(data)
    except (OSError, UnicodeEncodeError) as exc:
        pytest.skip(f"this filesystem refuses the name {path.name!r}: {exc}")


def distinct_on_disk(folder: Path, first: str, second: str) -> bool:
    """Whether the filesystem keeps `first` and `second` as two files (no case/NFC folding)."""
    probe = folder / ".probe"
    probe.mkdir()
    try:
        (probe / first).write_bytes(b"1")
        (probe / second).write_bytes(b"2")
        return len(os.listdir(probe)) == 2
    finally:
        for name in os.listdir(probe):
            (probe / name).unlink()
        probe.rmdir()


# relpath_problem, fold_key, sort_key


@pytest.mark.parametrize(
    ("relpath", "safe"),
    [(relpath, False) for relpath in UNSAFE.values()] + [(relpath, True) for relpath in SAFE],
    ids=[*UNSAFE, *SAFE],
)
def test_relpath_problem(relpath: str, safe: bool) -> None:
    reason = relpath_problem(relpath)
    assert reason is None if safe else isinstance(reason, str) and reason


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("README", "readme"),
        ("Data/Rows.CSV", "data/rows.csv"),
        (f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"),
        (f"CAF{NFC_E.upper()}.TXT", f"caf{NFD_E}.txt"),
        ("STRASSE.txt", "straße.txt"),
    ],
)
def test_fold_key_makes_twins_collide(first: str, second: str) -> None:
    assert first != second
    assert fold_key(first) == fold_key(second)


def test_fold_key_keeps_distinct_names_apart() -> None:
    names = ["a", "b", "a/b", "a.b", "ab", f"{NFC_E}", "e"]
    assert len({fold_key(name) for name in names}) == len(names)


def test_sort_key_is_utf8_byte_order() -> None:
    names = ["é.txt", "sub/x", "b", "sub.txt", "B", "sub-x", "a/b", "~", "Z"]
    expected = ["B", "Z", "a/b", "b", "sub-x", "sub.txt", "sub/x", "~", "é.txt"]
    assert sorted(names, key=sort_key) == expected


PATHISH_CHARS = "aBz0-_ ./\\\x00\t\x1f\x7f\x85\x9f\u00e9\u0301\u00df\u212a\ud800\udcff"
PATHISH = st.text(alphabet=st.sampled_from(list(PATHISH_CHARS)), max_size=12)
"""Paths of the characters each rule is about: separators, dots, controls, accents, surrogates."""


@given(st.one_of(PATHISH, st.text(max_size=20)))
def test_the_ascii_shortcut_answers_what_the_rules_answer(relpath: str) -> None:
    """`relpath_problem` answers ASCII paths with one regex; the rules one by one agree."""
    assert relpath_problem(relpath) == _relpath_rules(relpath)


@given(st.one_of(PATHISH, st.text(max_size=20)))
def test_safe_fold_key_is_both_rules_in_one(relpath: str) -> None:
    assert fold_key(relpath) == unicodedata.normalize("NFC", relpath).casefold()
    expected = None if relpath_problem(relpath) else fold_key(relpath)
    assert safe_fold_key(relpath) == expected


@given(st.text(max_size=40))
def test_a_path_said_safe_really_is_safe(relpath: str) -> None:
    if relpath_problem(relpath) is not None:
        return
    relpath.encode("utf-8")  # no lone surrogates
    assert relpath and not relpath.startswith("/")
    assert "\\" not in relpath
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in relpath)
    assert all(segment not in ("", ".", "..") for segment in relpath.split("/"))
    assert unicodedata.is_normalized("NFC", relpath)
    assert posixpath.normpath(relpath) == relpath
    assert str(PurePosixPath(relpath)) == relpath
    assert not posixpath.normpath(posixpath.join("root", relpath)).startswith("..")


SEGMENT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="/\\\x7f",
        max_codepoint=0x2FFF,
    ),
    min_size=1,
    max_size=12,
).map(lambda s: unicodedata.normalize("NFC", s))


@given(st.lists(SEGMENT.filter(lambda s: s not in (".", "..")), min_size=1, max_size=5))
def test_joined_safe_segments_are_safe(segments: list[str]) -> None:
    relpath = "/".join(segments)
    assert unicodedata.is_normalized("NFC", relpath)
    assert relpath_problem(relpath) is None


# in a sealed folder: UNSAFE_PATH on validate, wherever the name is


def place(site: str, folder: Path, relpath: str, data: bytes = b"x\n") -> None:
    """`relpath` listed in one manifest of `folder` (`site`), or written as a file (`disk`)."""
    if site == "manifest.json":
        rows = json.loads((folder / "manifest.json").read_bytes())
        rows.append({"relpath": relpath, "bytes": len(data), "sha256": sha(data)})
        write_rows(folder, rows)
    elif site == "MANIFEST.sha256":
        write_hash_lines(folder, [*hash_lines(folder), f"{sha(data)}  {relpath}"])
    else:
        create_or_skip(folder / relpath, data)


def problems(folder: Path) -> set[tuple[str, str | None]]:
    """(code, path) of each problem validation finds; every report is printable as JSON."""
    report = inspect_run_folder(folder)
    json.dumps(report.as_json(), ensure_ascii=False).encode("utf-8")
    return {(p.code, p.path) for p in report.problems}


LINE_SAFE = [k for k, v in UNSAFE.items() if not set(v) & {"\n", "\r", "\udcff"}]
UNSAFE_AT = [("manifest.json", key) for key in UNSAFE if key != "not-utf8"]
UNSAFE_AT += [("MANIFEST.sha256", key) for key in LINE_SAFE] + [("disk", key) for key in ON_DISK]


@pytest.mark.parametrize(("site", "key"), UNSAFE_AT, ids=[f"{s}-{k}" for s, k in UNSAFE_AT])
def test_an_unsafe_relpath_is_reported(run: SealedRun, site: str, key: str) -> None:
    relpath = f"data/{UNSAFE[key]}" if site == "disk" else UNSAFE[key]
    place(site, run.path, relpath)
    assert ("UNSAFE_PATH", printable(relpath)) in problems(run.path)


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("manifest.json", {("MALFORMED_MANIFEST", "manifest.json")}),  # no strict JSON
        ("MANIFEST.sha256", {("MALFORMED_MANIFEST", "MANIFEST.sha256")}),
        ("disk", {("UNSAFE_PATH", "bad\\xff.txt")}),
    ],
)
def test_a_name_that_is_not_utf8_is_reported_printably(
    run: SealedRun, site: str, expected: set[tuple[str, str]]
) -> None:
    place(site, run.path, "bad\udcff.txt")
    assert expected <= problems(run.path)


TWINS = {"case": ("README", "readme"), "nfc-nfd": (f"caf{NFC_E}.txt", f"caf{NFD_E}.txt")}


@pytest.mark.parametrize("site", ["manifest.json", "MANIFEST.sha256", "disk", "both manifests"])
@pytest.mark.parametrize("twins", TWINS)
def test_the_second_of_twins_is_reported(make_run: MakeRun, site: str, twins: str) -> None:
    first, second = TWINS[twins]
    sealed = make_run({first: b"1\n"})
    unseal(sealed.path)
    if site in ("disk", "both manifests") and not distinct_on_disk(sealed.path, first, second):
        pytest.skip("a case-insensitive or normalizing filesystem")
    place("disk" if site == "both manifests" else site, sealed.path, second, b"2\n")
    if site == "both manifests":
        reseal_from_disk(sealed.path)  # both manifests list both twins, hashes all correct
    found = problems(sealed.path)  # which case twin is named follows the listing's order
    named = {first, second} if twins == "case" else {second}
    assert {("UNSAFE_PATH", name) for name in named} & found
    assert site != "disk" or ("UNLISTED_FILE", second) in found


def test_file_sealed_nfc_now_nfd_on_disk(make_run: MakeRun) -> None:
    """What a normalizing copy (e.g. through an old macOS volume) does to a sealed name."""
    nfc, nfd = TWINS["nfc-nfd"]
    sealed = make_run({nfc: b"nfc\n"})
    unseal(sealed.path)
    if not distinct_on_disk(sealed.path, nfc, nfd):
        pytest.skip("normalizing filesystem")
    (sealed.path / nfc).rename(sealed.path / nfd)
    found = problems(sealed.path)
    assert {("UNSAFE_PATH", nfd), ("MISSING_FILE", nfc)} <= found


# the store refuses what the validator would reject, and leaves nothing behind


def _runs_and_staging(workspace: Workspace) -> tuple[list[str], list[str]]:
    runs = sorted(name for name in os.listdir(workspace.runs_dir) if name != ".gitkeep")
    staging = sorted(os.listdir(workspace.staging_dir)) if workspace.staging_dir.exists() else []
    return runs, staging


CASE_TWINS = [("README", "readme"), ("Data/x.txt", "data/x.txt"), ("a/B.txt", "a/b.txt")]
STORE_REFUSES = [({"ok.txt": b"", relpath: b"x"}, "UNSAFE_PATH") for relpath in UNSAFE.values()]
STORE_REFUSES += [({a: b"1", b: b"2"}, "UNSAFE_PATH") for a, b in CASE_TWINS]  # breaks on macOS
STORE_REFUSES += [  # on a case-insensitive filesystem such a file would be the seal file
    ({"ok.txt": b"ok\n", name: b"{}\n"}, "RESERVED_NAME")
    for name in ["RUN.JSON", "Run.json", "Manifest.json", "manifest.SHA256"]
]
STORE_REFUSES += [({"a": b"file\n", "a/b": b"inside\n"}, "UNSAFE_PATH")]


@pytest.mark.parametrize(("files", "code"), STORE_REFUSES, ids=lambda v: repr(v)[:40])
def test_the_store_refuses(
    make_run: MakeRun, workspace: Workspace, files: dict[str, bytes], code: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        make_run(files)
    assert caught.value.code == code
    assert _runs_and_staging(workspace) == ([], [])


# as sources given to `registry seal`: BAD_SOURCE with a problem per source, nothing written


def refused(sources: list[Path]) -> set[tuple[str, str | None]]:
    """(code, path) of the problems `plan_sources` raises BAD_SOURCE with."""
    with pytest.raises(UsageError) as caught:
        plan_sources(sources)
    assert caught.value.code == "BAD_SOURCE"
    for problem in caught.value.problems:  # a lone surrogate never reaches a report
        json.dumps(problem.as_json(), ensure_ascii=False).encode("utf-8")
    return {(p.code, p.path) for p in caught.value.problems}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.txt").write_bytes(b"good\n")
    return folder


SEAL_NAMES = ["run.json", "manifest.json", "MANIFEST.sha256", "RUN.JSON", "Manifest.json"]
SEAL_NAMES += ["manifest.SHA256"]
SOURCE_NAMES = [f"sub/{UNSAFE[key]}" for key in ON_DISK] + [*SEAL_NAMES, "bad\udcff.txt"]


@pytest.mark.parametrize("relpath", SOURCE_NAMES)
def test_a_source_with_an_unsafe_name_is_refused(src: Path, relpath: str) -> None:
    create_or_skip(src / relpath)
    assert refused([src]) == {("UNSAFE_PATH", printable(relpath))}


@pytest.mark.parametrize(
    ("twins", "separate"),
    [("case", False), ("nfc-nfd", False), ("case", True), ("nfc-nfd", True), ("same", True)],
)
def test_twin_sources_are_refused(tmp_path: Path, twins: str, separate: bool) -> None:
    first, second = TWINS.get(twins, ("x.txt", "x.txt"))
    folders = [tmp_path / "a", tmp_path / "b"] if separate else [tmp_path / "a"] * 2
    for folder, name, data in zip(folders, (first, second), (b"1\n", b"2\n"), strict=True):
        folder.mkdir(exist_ok=True)
        create_or_skip(folder / name, data)
    if sum(1 for folder in set(folders) for _file in folder.iterdir()) < 2:
        pytest.skip("a case-insensitive or normalizing filesystem")
    sources = [folders[0] / first, folders[1] / second] if separate else [folders[0]]
    found = refused(sources)  # which twin is the duplicate follows the listing's order
    assert {("DUPLICATE_ENTRY", first), ("DUPLICATE_ENTRY", second)} & found
    assert twins != "nfc-nfd" or ("UNSAFE_PATH", second) in found


def test_source_with_dotdot_component(src: Path, tmp_path: Path) -> None:
    """`registry seal src/sub/..` as one of several sources: its name `..` must not escape."""
    other = tmp_path / "other.txt"
    other.write_bytes(b"other\n")
    assert refused([src / "sub" / "..", other]) == {("UNSAFE_PATH", "../good.txt")}


def test_source_symlinks_and_fifos(src: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret\n")
    os.symlink(outside / "secret.txt", src / "link.txt")
    os.symlink(outside, src / "linked_dir", target_is_directory=True)
    os.mkfifo(src / "sub" / "pipe")
    paths = {"link.txt", "linked_dir", "sub/pipe"}
    assert refused([src]) == {("NOT_A_REGULAR_FILE", path) for path in paths}


def test_source_given_as_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"t\n")
    os.symlink(target, tmp_path / "link.txt")
    found = refused([tmp_path / "link.txt", target])
    assert {code for code, _path in found} == {"NOT_A_REGULAR_FILE"}


def test_every_bad_source_is_reported_at_once_and_registry_seal_writes_nothing(
    src: Path, workspace: Workspace, store: RunStore
) -> None:
    create_or_skip(src / "a\\b")
    create_or_skip(src / "sub" / "tab\there")
    (src / "run.json").write_bytes(b"{}\n")
    os.symlink("good.txt", src / "alias.txt")
    assert refused([src]) >= {
        ("UNSAFE_PATH", "a\\b"),
        ("UNSAFE_PATH", "sub/tab\there"),
        ("UNSAFE_PATH", "run.json"),
        ("NOT_A_REGULAR_FILE", "alias.txt"),
    }
    argv = ["seal", str(src), "--registry-id", "demo", "--workspace", str(workspace.root)]
    assert registry_main(argv) == 2
    assert _runs_and_staging(workspace) == ([], [])


def test_safe_sources_are_planned_sorted(src: Path) -> None:
    (src / "sub" / f"caf{NFC_E}.txt").write_bytes(b"x")
    (src / "Z.txt").write_bytes(b"z")
    pairs = plan_sources([src])
    assert [relpath for relpath, _path in pairs] == ["Z.txt", "good.txt", f"sub/caf{NFC_E}.txt"]
