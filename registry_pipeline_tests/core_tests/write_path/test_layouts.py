"""Unusual but valid file layouts are spliced, rewritten round-trip or refused: never corrupted."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.write_path.content import EntryType, ParsedFile
from registry_pipeline.core.write_path.splice import new_text
from registry_pipeline.core.yaml_io import loads_yaml_strict
from registry_pipeline_tests._helpers import any_member_name, copy_demo
from registry_pipeline_tests.core_tests.write_path._support import copy_example

TYPES = "modules/overview/type_registry.yaml"
VERSIONS = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"


def _type(key: str, **extra: object) -> dict[str, object]:
    return {"type_id": key, "name": key, "description": "x.", "status": "active", **extra}


def _keys(root: Path) -> list[str]:
    document = loads_yaml_strict((root / TYPES).read_bytes())
    return [entry["type_id"] for entry in document["module_types"]]


@pytest.mark.parametrize("key", ["a_first", "delivery_channel", "zz_last"])
def test_a_comment_on_the_dash_line_is_never_spliced_around(tmp_path: Path, key: str) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    text = path.read_text().replace(
        "  - type_id: delivery_channel", "  - # split pending\n    type_id: delivery_channel"
    )
    path.write_text(text)
    before = _keys(root)
    add_entry(Workspace(root), "module_type", _type(key))
    document = loads_yaml_strict(path.read_bytes())
    assert isinstance(document, dict) and "module_types" in document
    assert sorted(set(before) | {key}) == sorted(_keys(root))
    assert "# Module types" in path.read_text()  # the header stays


def test_a_keep_block_scalar_at_the_end_of_an_entry_keeps_its_trailing_lines(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    workspace = Workspace(root)
    add_entry(workspace, "module_type", _type("m_block", description="one\ntwo\n\n"))
    add_entry(workspace, "module_type", _type("n_next"))
    document = loads_yaml_strict((root / TYPES).read_bytes())
    entry = next(e for e in document["module_types"] if e["type_id"] == "m_block")
    assert entry["description"] == "one\ntwo\n\n"
    path = root / TYPES  # a hand-written |+ scalar ending the entry: round-trip, exact
    path.write_text(
        path.read_text().replace(
            "    status: active\n    # tags left out",
            "    status: active\n    notes: |+\n      kept\n\n    # tags left out",
        )
    )
    assert add_entry(workspace, "module_type", _type("zz")).written
    written = loads_yaml_strict(path.read_bytes())["module_types"]
    assert next(e for e in written if "notes" in e)["notes"] == "kept\n\n"
    assert written[-1]["type_id"] == "zz"


def test_keys_a_yaml_11_reader_would_misread_are_quoted(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    entry = {
        "route_id": "odd_keys", "owner_module": "article_service", "scope": ["content/odd/"],
        "topics": [], "description": "x", "status": "active",
    }  # fmt: skip
    add_entry(Workspace(root), "route", entry)
    written = (root / "modules/routes/odd_keys.yaml").read_bytes()
    assert loads_yaml_strict(written) == entry
    from registry_pipeline.core.write_path.splice import _dump, _quoted, _yaml

    text = _dump(_yaml(), _quoted({"yes": 1, "on": 2, "12:30": 3, "\x85": 4}))
    assert "'yes'" in text and "'on'" in text and "'12:30'" in text
    assert loads_yaml_strict(text) == {"yes": 1, "on": 2, "12:30": 3, "\x85": 4}


@pytest.mark.parametrize("value", [".5e3", "-.5e3", ".INf", "+.nan", "-.nAn", "<<", "0o17", "~"])
def test_strings_our_reader_would_misread_are_quoted(value: str) -> None:
    """Strings our strict reader reads as another type are written quoted, so they read back."""
    from registry_pipeline.core.write_path.splice import _dump, _quoted, _yaml

    text = _dump(_yaml(), _quoted({"note": value}))
    assert loads_yaml_strict(text) == {"note": value}


NAMES = ["plain", "with space", "ünï", 'q"uote', "back\\slash", "tab\tkey", "a/b", "t~x", "t~1x"]


@pytest.mark.parametrize("name", NAMES)
def test_a_json_map_key_of_any_spelling_is_inserted_then_updated_in_place(
    tmp_path: Path, name: str
) -> None:
    """Spliced exactly, under a schema that takes any key (the demo's names registries); a name
    a JSON pointer escapes (`/`, `~`) too."""
    root = copy_demo(tmp_path)
    any_member_name(root)
    workspace = Workspace(root)
    add_entry(workspace, "expected_versions", {name: "0.1.0"})
    count = len(json.loads((root / VERSIONS).read_text())["expected"]["builder_versions"])
    result = add_entry(workspace, "expected_versions", {name: "0.2.0"})
    assert result.action == "updated"
    add_entry(workspace, "expected_versions", {"zz_after": "1.0.0"})
    members = json.loads((root / VERSIONS).read_text())["expected"]["builder_versions"]
    assert members[name] == "0.2.0" and members["zz_after"] == "1.0.0"
    assert len(members) == count + 1


def test_a_missing_container_is_a_broken_file_not_an_empty_registry(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/overview/interfaces.yaml"
    path.write_text(path.read_text().replace("interfaces:\n", "interface:\n", 1))
    before = path.read_bytes()
    entry = {
        "interface_id": "user_store.admin", "module_id": "user_store", "kind": "cli",
        "description": "x", "status": "active",
    }  # fmt: skip
    with pytest.raises(RegistryError) as caught:
        add_entry(Workspace(root), "module_interface", entry)
    assert caught.value.code == "REGISTRY_FILE_INVALID"
    assert [d.code for d in caught.value.problems] == ["CONTAINER_MISSING"]
    assert path.read_bytes() == before


def test_crlf_and_a_byte_order_mark_are_kept(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    workspace = Workspace(root)
    path = root / TYPES
    text = path.read_text().replace("    name: Data store", "    name: Data store  # c")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    add_entry(workspace, "module_type", _type("data_store", name="Changed"))
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\r" not in data and data.count(b"\n") == data.count(b"\r\n")
    route = root / "modules/routes/blog_articles.yaml"
    route.write_bytes(route.read_bytes().replace(b"\n", b"\r\n"))
    document = loads_yaml_strict(route.read_bytes())
    add_entry(workspace, "route", {**document, "description": "Changed."})
    data = route.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    demo = copy_demo(tmp_path)
    versions = demo / VERSIONS
    versions.write_bytes(versions.read_bytes().replace(b"\n", b"\r\n"))
    add_entry(Workspace(demo), "expected_versions", {"drift_signals": "0.1.0"})
    data = versions.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")


def test_a_compact_json_file_gets_its_new_entry_at_its_line_indentation(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    path = root / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    path.write_text(json.dumps(json.loads(path.read_text())))  # one line
    entry = {"operation_id": "OP-Z01", "name": "Z", "option": "Z", "builder": None,
             "enforcement_level": "C2", "threshold_pack": "freshness_default_pack_v1"}  # fmt: skip
    add_entry(Workspace(root), "allowed_operations", entry)
    text = path.read_text()
    assert max(len(line) - len(line.lstrip(" ")) for line in text.splitlines()) <= 4
    assert entry in json.loads(text)["operations"]


@pytest.mark.parametrize("spacing", ["indented", "compact"])
def test_a_json_list_that_is_null_gets_its_first_entry(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, spacing: str
) -> None:
    """`null` where the list is: the new entry makes the list; the rest of the file is unchanged."""
    root = copy_demo(tmp_path)
    path = root / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = {**json.loads(path.read_text()), "operations": None}
    before = json.dumps(document, indent=2 if spacing == "indented" else None) + "\n"
    path.write_text(before)
    entry = {"operation_id": "OP-Z01", "name": "Z", "option": "Z", "builder": None,
             "enforcement_level": "C2", "threshold_pack": "freshness_default_pack_v1"}  # fmt: skip
    code, out, err = cli("add-entry", "--workspace", str(root), "--type", "allowed_operations",
                         "--entry-json", json.dumps(entry), "--json")  # fmt: skip
    assert code == 0, out + err
    assert json.loads(path.read_text()) == {**document, "operations": [entry]}
    start, end = before.index("null"), before.index("null") + len("null")
    text = path.read_text()
    assert text.startswith(before[:start]) and text.endswith(before[end:])


def test_a_json_file_that_is_null_where_its_list_is_the_document_gets_its_first_entry() -> None:
    """The same when the catalog's container is the document itself ("")."""
    entry_type = EntryType(
        name="op", registry_id="ops", layout="list", source="ops.json", container="",
        key="id", order="key", schema=None, purpose="", schema_id="ops",
    )  # fmt: skip
    written = new_text(entry_type, ParsedFile(b"null\r\n", None), None, "a", {"id": "a"})
    assert written.data == b'[\r\n  {\r\n    "id": "a"\r\n  }\r\n]\r\n'
    assert written.document == [{"id": "a"}]


def test_the_dry_run_diff_applies_with_patch_when_the_file_has_no_final_newline(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    result = add_entry(Workspace(root), "module_type", _type("zz_end"), dry_run=True)
    assert "\\ No newline at end of file" in result.diff
    applied = subprocess.run(
        ["patch", "-p1", "--dry-run", "-s"], cwd=root, input=result.diff, text=True,
        capture_output=True, check=False,
    )  # fmt: skip
    if applied.returncode == 127:
        pytest.skip("patch is not installed")
    assert applied.returncode == 0, applied.stdout + applied.stderr


def test_an_entry_schema_whose_ref_does_not_resolve_is_schema_invalid(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    schema = root / ".system/registry/schemas/module_type.schema.yaml"
    schema.write_text(schema.read_text() + '$ref: "#/nowhere"\n')
    with pytest.raises(UsageError) as caught:
        add_entry(Workspace(root), "module_type", _type("q"))
    assert caught.value.code == "SCHEMA_INVALID"


def test_an_entry_schema_that_refers_to_a_url_fetches_nothing(tmp_path: Path) -> None:
    """A `$ref` to a server is SCHEMA_INVALID and the server is never asked (nothing is fetched)."""
    import http.server
    import threading

    asked: list[str] = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b'{"type": "object"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = copy_example(tmp_path)
        schema = root / ".system/registry/schemas/module_type.schema.yaml"
        url = f"http://127.0.0.1:{server.server_address[1]}/elsewhere.json"
        schema.write_text(schema.read_text() + f'$ref: "{url}"\n')
        with pytest.raises(UsageError) as caught:
            add_entry(Workspace(root), "module_type", _type("q"))
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.code == "SCHEMA_INVALID"
    assert "nothing is fetched" in caught.value.message
    assert asked == []


def test_an_entry_schema_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    catalog = root / "registries/REGISTRY_CATALOG_v0_2.json"
    text = catalog.read_text().replace(
        '".system/registry/schemas/hook.schema.yaml"', '"../../etc/passwd"'
    )
    catalog.write_text(text)
    with pytest.raises(UsageError) as caught:
        add_entry(Workspace(root), "module_type", _type("q"))
    assert caught.value.code == "CATALOG_INVALID"
    assert "../../etc/passwd" in "\n".join(caught.value.details)


def test_an_unchanged_entry_that_breaks_a_rule_is_reported_not_passed(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/routes/blog_articles.yaml"
    document = loads_yaml_strict(path.read_bytes())
    path.write_text(path.read_text().replace(document["owner_module"], "gone_module"))
    document["owner_module"] = "gone_module"
    result = add_entry(Workspace(root), "route", document)
    assert result.action == "unchanged" and result.blocked
    assert [f.code for f in result.findings if f.severity == "error"] == ["route-owner-exists"]


def test_a_broken_file_blocks_only_the_types_whose_rules_read_it(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "modules/overview/interfaces.yaml"
    path.write_text(path.read_text() + "  - interface_id: [unterminated\n")
    assert add_entry(Workspace(root), "module_type", _type("a_new")).written
    with pytest.raises(RegistryError):
        add_entry(Workspace(root), "module_instance", {
            "module_id": "x_new", "type_id": "content_service", "name": "X",
            "description": "x", "owner": "t", "status": "active",
        })  # fmt: skip


def test_a_list_file_holding_only_comments_keeps_them_above_its_first_entry(
    tmp_path: Path,
) -> None:
    root = copy_example(tmp_path)
    path = root / TYPES
    header = "# Module types: none yet.\n# Add them with registry add-entry.\n"
    path.write_text(header)
    add_entry(Workspace(root), "module_type", _type("first"))
    text = path.read_text()
    assert text.startswith(header)
    assert _keys(root) == ["first"]


def test_entry_schema_violations_are_all_listed_in_document_order(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    tags: list[object] = [f"t{i}" for i in range(11)]
    tags[2], tags[10] = 2, 10
    with pytest.raises(UsageError) as caught:
        add_entry(Workspace(root), "module_type", _type("q", name="", tags=tags, extra=1))
    assert caught.value.code == "SCHEMA_VIOLATION"
    fields = [problem.field for problem in caught.value.problems]
    assert fields == ["", "/name", "/tags/2", "/tags/10"]  # as the seal's schema check orders


def test_a_map_key_the_files_schema_forbids_is_refused_not_written(tmp_path: Path) -> None:
    """A container rule (propertyNames) is the entry's: add-entry refuses what a build refuses."""
    root = copy_demo(tmp_path)
    before = (root / VERSIONS).read_bytes()
    with pytest.raises(UsageError) as caught:
        add_entry(Workspace(root), "expected_versions", {"Bad-Key": "1.0.0"})
    assert caught.value.code == "SCHEMA_VIOLATION"
    assert "Bad-Key" in str(caught.value.diagnostics())
    assert (root / VERSIONS).read_bytes() == before


@pytest.mark.parametrize("index", [0, -1], ids=["first", "last"])
def test_a_container_rule_the_file_broke_before_is_not_the_entrys_doing(
    tmp_path: Path, index: int
) -> None:
    """A list over its maxItems already: updating one entry is not charged with that violation."""
    root = copy_demo(tmp_path)
    schema = root / "schemas/allowed_operations.schema.json"
    document = json.loads(schema.read_text())
    document["properties"]["operations"]["maxItems"] = 5
    schema.write_text(json.dumps(document, indent=2) + "\n")
    path = root / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    operation = json.loads(path.read_text())["operations"][index]
    workspace = Workspace(root)
    assert add_entry(workspace, "allowed_operations", dict(operation)).action == "unchanged"
    changed = {**operation, "name": operation["name"] + " (renamed)"}
    assert add_entry(workspace, "allowed_operations", changed).action == "updated"
