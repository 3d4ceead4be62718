"""The relpath rules of the seal contract, on `relpath_problem`, in manifests, on disk, as sources.

A relpath is relative POSIX, NFC, without `.`, `..` or empty segments, without backslash, NUL or
control characters, and unique after case folding. Each corpus entry is tried where it can occur:
in `manifest.json`, in `MANIFEST.sha256`, as a file name in a sealed folder, and as a source file
given to `registry seal` (which must refuse before anything is written).
"""

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
from registry_pipeline.core.errors import Problem, ReasonCode, RegistryError, UsageError
from registry_pipeline.core.seal.manifest import ManifestEntry, render_manifest_json
from registry_pipeline.core.seal.paths import (
    _relpath_rules,
    fold_key,
    relpath_problem,
    safe_fold_key,
    sort_key,
)
from registry_pipeline.core.seal.run_store import RunStore, SealedRun
from registry_pipeline.core.seal.validate import FolderReport, inspect_run_folder
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

SAFE = [
    "a",
    "a/b/c.txt",
    f"caf{NFC_E}.txt",
    f"{NFC_E}/{NFC_E}",
    "README",
    "readme",
    "a..b",
    "..a",
    "a..",
    "...",
    ".hidden",
    "a b.txt",
    "日本/データ.csv",
    "x/.git/config",
    "a.",
    "-rf",
    "name with ~ and $ and *",
]

# Names that the filesystem lets us create: they can really appear in a folder or a source tree.
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


def unsafe_problems(report: FolderReport) -> list[Problem]:
    return [p for p in report.problems if p.code == ReasonCode.UNSAFE_PATH]


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


@pytest.fixture
def run(make_run: MakeRun) -> SealedRun:
    sealed = make_run()
    unseal(sealed.path)
    return sealed


# --------------------------------------------------------------------------------------------
# relpath_problem, fold_key, sort_key
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", list(UNSAFE.values()), ids=list(UNSAFE))
def test_relpath_problem_rejects(relpath: str) -> None:
    reason = relpath_problem(relpath)
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("relpath", SAFE)
def test_relpath_problem_accepts(relpath: str) -> None:
    assert relpath_problem(relpath) is None


def test_nfc_and_nfd_twins_differ_as_strings_and_only_nfc_is_safe() -> None:
    assert NFC_E != NFD_E
    assert unicodedata.normalize("NFC", NFD_E) == NFC_E
    assert relpath_problem(f"{NFC_E}.txt") is None
    assert relpath_problem(f"{NFD_E}.txt") is not None


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
    assert sorted(names, key=sort_key) == [
        "B",
        "Z",
        "a/b",
        "b",
        "sub-x",
        "sub.txt",
        "sub/x",
        "~",
        "é.txt",
    ]


PATHISH_CHARS = "aBz0-_ ./\\\x00\t\x1f\x7f\x85\x9f\u00e9\u0301\u00df\u212a\ud800\udcff"
PATHISH = st.text(alphabet=st.sampled_from(list(PATHISH_CHARS)), max_size=12)
"""Paths built from the characters each rule is about: separators, dots, controls (C0, DEL,
C1), a backslash, a combining accent, letters that fold specially, lone surrogates."""


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


# --------------------------------------------------------------------------------------------
# in the manifests: UNSAFE_PATH on validate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", list(UNSAFE.values()), ids=list(UNSAFE))
def test_unsafe_relpath_in_manifest_json(run: SealedRun, relpath: str) -> None:
    rows = json.loads((run.path / "manifest.json").read_bytes())
    rows.append({"relpath": relpath, "bytes": 2, "sha256": sha(b"x\n")})
    write_rows(run.path, rows)
    report = inspect_run_folder(run.path)
    for problem in report.problems:  # every report is printable as JSON, whatever the name
        json.dumps(problem.as_json(), ensure_ascii=False).encode("utf-8")
    if "\udcff" in relpath:  # a lone surrogate escape: the manifest is not strict JSON at all
        assert [p.code for p in report.problems] == [ReasonCode.MALFORMED_MANIFEST]
        assert "lone surrogate" in report.problems[0].message
        return
    problems = unsafe_problems(report)
    assert problems, report.problems
    assert printable(relpath) in {p.path for p in problems}


LINE_SAFE = {k: v for k, v in UNSAFE.items() if not set(v) & {"\n", "\r", "\udcff"}}


@pytest.mark.parametrize("relpath", list(LINE_SAFE.values()), ids=list(LINE_SAFE))
def test_unsafe_relpath_in_manifest_sha256(run: SealedRun, relpath: str) -> None:
    write_hash_lines(run.path, [*hash_lines(run.path), f"{sha(b'x')}  {relpath}"])
    report = inspect_run_folder(run.path)
    assert relpath in {p.path for p in unsafe_problems(report)}, report.problems


def test_non_utf8_relpath_in_manifest_sha256_is_reported(run: SealedRun) -> None:
    write_hash_lines(run.path, [*hash_lines(run.path), f"{sha(b'x')}  \udcff.txt"])
    report = inspect_run_folder(run.path)
    assert not report.ok
    assert {p.code for p in report.problems} & {
        ReasonCode.UNSAFE_PATH,
        ReasonCode.MALFORMED_MANIFEST,
    }


def test_case_twins_in_manifest_json(make_run: MakeRun) -> None:
    sealed = make_run({"README": b"upper\n"})
    unseal(sealed.path)
    rows = json.loads((sealed.path / "manifest.json").read_bytes())
    rows.append({"relpath": "readme", "bytes": 6, "sha256": sha(b"lower\n")})
    write_rows(sealed.path, rows)
    report = inspect_run_folder(sealed.path)
    assert "readme" in {p.path for p in unsafe_problems(report)}, report.problems


def test_case_twins_in_manifest_sha256(make_run: MakeRun) -> None:
    sealed = make_run({"README": b"upper\n"})
    unseal(sealed.path)
    write_hash_lines(sealed.path, [*hash_lines(sealed.path), f"{sha(b'lower')}  readme"])
    report = inspect_run_folder(sealed.path)
    assert "readme" in {p.path for p in unsafe_problems(report)}, report.problems


def test_nfc_nfd_twins_in_manifest_json(make_run: MakeRun) -> None:
    sealed = make_run({f"caf{NFC_E}.txt": b"nfc\n"})
    unseal(sealed.path)
    rows = json.loads((sealed.path / "manifest.json").read_bytes())
    rows.append({"relpath": f"caf{NFD_E}.txt", "bytes": 4, "sha256": sha(b"nfd\n")})
    write_rows(sealed.path, rows)
    report = inspect_run_folder(sealed.path)
    assert f"caf{NFD_E}.txt" in {p.path for p in unsafe_problems(report)}


def test_case_twins_listed_and_present_in_both_manifests(make_run: MakeRun) -> None:
    sealed = make_run({"README": b"upper\n"})
    unseal(sealed.path)
    if not distinct_on_disk(sealed.path, "X", "x"):
        pytest.skip("case-insensitive filesystem")
    (sealed.path / "readme").write_bytes(b"lower\n")
    reseal_from_disk(sealed.path)  # both manifests list both twins, hashes all correct
    report = inspect_run_folder(sealed.path)
    assert not report.ok
    assert {p.path for p in unsafe_problems(report)} & {"README", "readme"}


# --------------------------------------------------------------------------------------------
# on disk, in a sealed folder
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ON_DISK)
def test_unsafe_name_on_disk(run: SealedRun, key: str) -> None:
    name = UNSAFE[key]
    create_or_skip(run.path / "data" / name)
    report = inspect_run_folder(run.path)
    assert f"data/{name}" in {p.path for p in unsafe_problems(report)}, report.problems


def test_non_utf8_name_on_disk(run: SealedRun) -> None:
    try:
        fd = os.open(os.path.join(os.fsencode(run.path), b"bad\xff.txt"), os.O_CREAT | os.O_WRONLY)
    except OSError as exc:
        pytest.skip(f"this filesystem refuses non-UTF-8 names: {exc}")
    os.close(fd)
    report = inspect_run_folder(run.path)
    problems = unsafe_problems(report)
    assert len(problems) == 1
    assert problems[0].path is not None and "bad" in problems[0].path
    json.dumps(report.as_json(), ensure_ascii=False).encode("utf-8")


def test_case_twins_on_disk(make_run: MakeRun) -> None:
    sealed = make_run({"README": b"upper\n"})
    unseal(sealed.path)
    if not distinct_on_disk(sealed.path, "README", "readme"):
        pytest.skip("case-insensitive filesystem")
    (sealed.path / "readme").write_bytes(b"lower\n")
    report = inspect_run_folder(sealed.path)
    assert {p.path for p in unsafe_problems(report)} & {"README", "readme"}
    assert (ReasonCode.UNLISTED_FILE, "readme") in {(p.code, p.path) for p in report.problems}


def test_nfc_nfd_twins_on_disk(make_run: MakeRun) -> None:
    nfc, nfd = f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"
    sealed = make_run({nfc: b"nfc\n"})
    unseal(sealed.path)
    if not distinct_on_disk(sealed.path, nfc, nfd):
        pytest.skip("normalizing filesystem")
    (sealed.path / nfd).write_bytes(b"nfd\n")
    report = inspect_run_folder(sealed.path)
    assert nfd in {p.path for p in unsafe_problems(report)}


def test_file_sealed_nfc_now_nfd_on_disk(make_run: MakeRun) -> None:
    """What a normalizing copy (e.g. through an old macOS volume) does to a sealed name."""
    nfc, nfd = f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"
    sealed = make_run({nfc: b"nfc\n"})
    unseal(sealed.path)
    if not distinct_on_disk(sealed.path, nfc, nfd):
        pytest.skip("normalizing filesystem")
    (sealed.path / nfc).rename(sealed.path / nfd)
    report = inspect_run_folder(sealed.path)
    assert nfd in {p.path for p in unsafe_problems(report)}
    assert (ReasonCode.MISSING_FILE, nfc) in {(p.code, p.path) for p in report.problems}


# --------------------------------------------------------------------------------------------
# the store refuses what the validator would reject
# --------------------------------------------------------------------------------------------


def _runs_and_staging(workspace: Workspace) -> tuple[list[str], list[str]]:
    runs = sorted(name for name in os.listdir(workspace.runs_dir) if name != ".gitkeep")
    staging = sorted(os.listdir(workspace.staging_dir)) if workspace.staging_dir.exists() else []
    return runs, staging


@pytest.mark.parametrize("relpath", list(UNSAFE.values()), ids=list(UNSAFE))
def test_store_refuses_unsafe_relpath(
    make_run: MakeRun, workspace: Workspace, relpath: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        make_run({"ok.txt": b"ok\n", relpath: b"x\n"})
    assert caught.value.code == "UNSAFE_PATH"
    assert _runs_and_staging(workspace) == ([], [])


@pytest.mark.parametrize(
    ("first", "second"),
    [("README", "readme"), ("Data/x.txt", "data/x.txt"), ("a/B.txt", "a/b.txt")],
)
def test_store_refuses_case_twins(
    make_run: MakeRun, workspace: Workspace, first: str, second: str
) -> None:
    """A folder sealed with twins would fail its own validation (and break on macOS/Windows)."""
    with pytest.raises(RegistryError):
        make_run({first: b"1\n", second: b"2\n"})
    assert _runs_and_staging(workspace) == ([], [])


@pytest.mark.parametrize("name", ["RUN.JSON", "Run.json", "Manifest.json", "manifest.SHA256"])
def test_store_refuses_case_variants_of_seal_files(
    make_run: MakeRun, workspace: Workspace, name: str
) -> None:
    """On a case-insensitive filesystem such a file and the seal file would be one file."""
    with pytest.raises(RegistryError):
        make_run({"ok.txt": b"ok\n", name: b"{}\n"})
    assert _runs_and_staging(workspace) == ([], [])


def test_store_refuses_a_path_that_is_both_a_file_and_a_folder(
    make_run: MakeRun, workspace: Workspace
) -> None:
    with pytest.raises(RegistryError):
        make_run({"a": b"file\n", "a/b": b"inside\n"})
    assert _runs_and_staging(workspace) == ([], [])


# --------------------------------------------------------------------------------------------
# as sources given to `registry seal`: BAD_SOURCE with details, nothing written
# --------------------------------------------------------------------------------------------


def assert_refused(
    workspace: Workspace, sources: list[Path], codes: set[ReasonCode], paths: set[str]
) -> UsageError:
    """plan_sources raises BAD_SOURCE naming one of `paths`; `registry seal` writes nothing."""
    with pytest.raises(UsageError) as caught:
        plan_sources(sources)
    assert caught.value.code == "BAD_SOURCE"
    details = caught.value.problems
    assert details
    assert {(p.code, p.path) for p in details} & {(c, p) for c in codes for p in paths}, details
    rc = registry_main(
        ["seal", *map(str, sources), "--registry-id", "demo", "--workspace", str(workspace.root)]
    )
    assert rc != 0
    assert _runs_and_staging(workspace) == ([], [])
    return caught.value


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.txt").write_bytes(b"good\n")
    return folder


@pytest.mark.parametrize("key", ON_DISK)
def test_source_with_unsafe_name(
    src: Path, workspace: Workspace, store: RunStore, key: str
) -> None:
    name = UNSAFE[key]
    create_or_skip(src / "sub" / name)
    assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH}, {f"sub/{name}"})


def test_source_with_non_utf8_name(src: Path, workspace: Workspace, store: RunStore) -> None:
    try:
        fd = os.open(os.path.join(os.fsencode(src), b"bad\xff.txt"), os.O_CREAT | os.O_WRONLY)
    except OSError as exc:
        pytest.skip(f"this filesystem refuses non-UTF-8 names: {exc}")
    os.close(fd)
    with pytest.raises(UsageError) as caught:
        plan_sources([src])
    assert caught.value.code == "BAD_SOURCE"
    (problem,) = caught.value.problems
    assert problem.code == ReasonCode.UNSAFE_PATH
    assert problem.path is not None and problem.path.startswith("bad")
    bad_name = os.fsdecode(b"bad\xff.txt")
    assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH}, {problem.path})
    assert bad_name != problem.path  # a lone surrogate never reaches a report
    for problem in caught.value.problems:
        json.dumps(problem.as_json(), ensure_ascii=False).encode("utf-8")


def test_source_folder_with_case_twins(src: Path, workspace: Workspace, store: RunStore) -> None:
    if not distinct_on_disk(src, "README", "readme"):
        pytest.skip("case-insensitive filesystem")
    (src / "README").write_bytes(b"upper\n")
    (src / "readme").write_bytes(b"lower\n")
    assert_refused(
        workspace,
        [src],
        {ReasonCode.UNSAFE_PATH, ReasonCode.DUPLICATE_ENTRY},
        {"README", "readme"},
    )


def test_source_folder_with_nfc_nfd_twins(src: Path, workspace: Workspace, store: RunStore) -> None:
    nfc, nfd = f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"
    if not distinct_on_disk(src, nfc, nfd):
        pytest.skip("normalizing filesystem")
    (src / nfc).write_bytes(b"nfc\n")
    (src / nfd).write_bytes(b"nfd\n")
    assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH}, {nfd})


def test_separate_sources_with_case_twin_names(
    tmp_path: Path, workspace: Workspace, store: RunStore
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "README").write_bytes(b"upper\n")
    (tmp_path / "b" / "readme").write_bytes(b"lower\n")
    assert_refused(
        workspace,
        [tmp_path / "a" / "README", tmp_path / "b" / "readme"],
        {ReasonCode.UNSAFE_PATH, ReasonCode.DUPLICATE_ENTRY},
        {"README", "readme"},
    )


def test_separate_sources_with_nfc_nfd_twin_names(
    tmp_path: Path, workspace: Workspace, store: RunStore
) -> None:
    nfc, nfd = f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / nfc).write_bytes(b"nfc\n")
    create_or_skip(tmp_path / "b" / nfd, b"nfd\n")
    if nfd not in os.listdir(tmp_path / "b"):
        pytest.skip("normalizing filesystem")
    assert_refused(
        workspace, [tmp_path / "a" / nfc, tmp_path / "b" / nfd], {ReasonCode.UNSAFE_PATH}, {nfd}
    )


def test_separate_sources_with_the_same_name(
    tmp_path: Path, workspace: Workspace, store: RunStore
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_bytes(folder.encode())
    assert_refused(
        workspace,
        [tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"],
        {ReasonCode.UNSAFE_PATH, ReasonCode.DUPLICATE_ENTRY},
        {"x.txt"},
    )


@pytest.mark.parametrize("name", ["run.json", "manifest.json", "MANIFEST.sha256"])
def test_source_named_like_a_seal_file(
    src: Path, workspace: Workspace, store: RunStore, name: str
) -> None:
    (src / name).write_bytes(b"{}\n")
    assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH}, {name})


@pytest.mark.parametrize("name", ["RUN.JSON", "Manifest.json", "manifest.SHA256"])
def test_source_named_like_a_seal_file_in_another_case(
    src: Path, workspace: Workspace, store: RunStore, name: str
) -> None:
    (src / name).write_bytes(b"{}\n")
    assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH, ReasonCode.DUPLICATE_ENTRY}, {name})


def test_source_with_dotdot_component(
    src: Path, tmp_path: Path, workspace: Workspace, store: RunStore
) -> None:
    """`registry seal src/sub/..` as one of several sources: its name `..` must not escape."""
    other = tmp_path / "other.txt"
    other.write_bytes(b"other\n")
    with pytest.raises(UsageError) as caught:
        plan_sources([src / "sub" / "..", other])
    assert caught.value.code == "BAD_SOURCE"
    assert {p.code for p in caught.value.problems} == {ReasonCode.UNSAFE_PATH}


def test_source_symlinks_and_fifos(
    src: Path, tmp_path: Path, workspace: Workspace, store: RunStore
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret\n")
    os.symlink(outside / "secret.txt", src / "link.txt")
    os.symlink(outside, src / "linked_dir", target_is_directory=True)
    paths = {"link.txt", "linked_dir"}
    if hasattr(os, "mkfifo"):
        os.mkfifo(src / "sub" / "pipe")
        paths.add("sub/pipe")
    error = assert_refused(workspace, [src], {ReasonCode.NOT_A_REGULAR_FILE}, paths)
    assert {p.path for p in error.problems if p.code == ReasonCode.NOT_A_REGULAR_FILE} == paths


def test_source_given_as_a_symlink(tmp_path: Path, workspace: Workspace, store: RunStore) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"t\n")
    os.symlink(target, tmp_path / "link.txt")
    assert_refused(
        workspace,
        [tmp_path / "link.txt", target],
        {ReasonCode.NOT_A_REGULAR_FILE},
        {str(tmp_path / "link.txt"), "link.txt"},
    )


def test_every_bad_source_is_reported_at_once(
    src: Path, workspace: Workspace, store: RunStore
) -> None:
    create_or_skip(src / "a\\b")
    create_or_skip(src / "sub" / "tab\there")
    (src / "run.json").write_bytes(b"{}\n")
    os.symlink("good.txt", src / "alias.txt")
    error = assert_refused(workspace, [src], {ReasonCode.UNSAFE_PATH}, {"a\\b"})
    assert {(p.code, p.path) for p in error.problems} >= {
        (ReasonCode.UNSAFE_PATH, "a\\b"),
        (ReasonCode.UNSAFE_PATH, "sub/tab\there"),
        (ReasonCode.UNSAFE_PATH, "run.json"),
        (ReasonCode.NOT_A_REGULAR_FILE, "alias.txt"),
    }


def test_safe_sources_are_planned_sorted(src: Path) -> None:
    (src / "sub" / f"caf{NFC_E}.txt").write_bytes(b"x")
    (src / "Z.txt").write_bytes(b"z")
    pairs = plan_sources([src])
    assert [relpath for relpath, _path in pairs] == [
        "Z.txt",
        "good.txt",
        f"sub/caf{NFC_E}.txt",
    ]
