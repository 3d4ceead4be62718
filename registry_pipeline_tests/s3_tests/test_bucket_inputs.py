"""What the bucket holds and how the client is set up are input from outside (issue 40): a lease
or folder object of a shape no release writes, or a malformed S3 setting, ends every command
with a reason code naming the object or the variable, never INTERNAL, a Rust panic or a
traceback, and nothing is taken over or half-written because of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline.core.objstore import ObjectStore
from registry_pipeline.core.objstore.folders import folder_key
from registry_pipeline.core.objstore.lease import KEY
from registry_pipeline_tests._helpers import registry
from registry_pipeline_tests.s3_tests._server import SeaweedServer

RUN = "2026-11-24__091500__rolepack"
HEX = "ab" * 32


def _refused(capfd: pytest.CaptureFixture[str], exit_code: int, *args: str) -> dict[str, object]:
    """`registry ARGS --json`, which must exit `exit_code` with one clean error (nothing on the
    process's own stderr either, where a Rust panic writes): its error object."""
    code, out, err = registry(*args, "--json")
    raw = capfd.readouterr()
    everything = out + err + raw.out + raw.err
    assert code == exit_code, everything
    assert "Traceback" not in everything and "panicked" not in everything, everything
    error = json.loads(out).get("error")
    assert isinstance(error, dict), out
    return error


UNREADABLE_LEASE = b'{"holder": "a", "epoch": 1, "term": 1e300, "until": 1, "released": false}'
"""A lease whose term would wedge the slot (every shape: `core_tests/objstore/test_lease.py`)."""


def test_a_build_stops_at_a_lease_object_it_cannot_read(
    machines: tuple[Path, Path], store: ObjectStore, capfd: pytest.CaptureFixture[str]
) -> None:
    """`registry build` (a term of 1e300 s: every build was BUILD_IN_PROGRESS, the slot never
    to be taken over): exit 1, the run's failure naming the lease object, left as found."""
    machine, _ = machines
    store.put(KEY, UNREADABLE_LEASE)
    code, out, err = registry("build", "--wait", "0", "--in-process", "--json",
                              "--workspace", str(machine))  # fmt: skip
    raw = capfd.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err + raw.out + raw.err
    problems = json.loads(out)["problems"]
    assert [p["code"] for p in problems] == ["RUN_FAILED"], problems
    assert f"{store.url}/{KEY} is not a lease this release wrote" in problems[0]["message"]
    assert "registry pointers repair" in problems[0]["message"]
    found = store.get(KEY)
    assert found is not None and found.data == UNREADABLE_LEASE
    code, out, err = registry("pointers", "repair", "--reason", "a lease no release writes",
                              "--workspace", str(machine))  # fmt: skip
    assert code == 0 and "set aside" in out, out + err
    (kept,) = [key for key in store.keys("quarantine/") if key.endswith(KEY)]
    assert store.get(kept).data == UNREADABLE_LEASE  # type: ignore[union-attr]
    code, out, err = registry("build", "--wait", "0", "--in-process", "--workspace", str(machine))
    assert code == 0, out + err  # the slot is taken anew


def _folder_object(path: str) -> bytes:
    files = [{"path": path, "size": 1, "sha256": HEX}]
    return json.dumps(
        {"format": "registry-remote-folder-1", "run_id": RUN, "files": files}
    ).encode()


UNSAFE_PATHS = ["registry\x00.json", "../escape"]  # all of them: objstore/test_folders.py


def test_a_folder_object_listing_an_unsafe_path_is_refused_on_every_command(
    built_machines: tuple[Path, Path], store: ObjectStore, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every command of a machine lacking the folder: REMOTE_STATE_INVALID naming the folder
    object (a NUL was INTERNAL), nothing fetched or left half-written."""
    machine, _ = built_machines  # a bucket with a history, and a machine with all of it
    runs = machine / ".codex" / "RUNS"
    before = sorted(p.name for p in runs.iterdir())
    for path in UNSAFE_PATHS:
        store.put(folder_key("RUNS", RUN), _folder_object(path))
        for command in (["pointers", "show"], ["pointers", "verify"], ["validate", "--active"],
                        ["runs", "list"]):  # fmt: skip
            error = _refused(capfd, 1, *command, "--workspace", str(machine))
            assert error["code"] == "REMOTE_STATE_INVALID", (path, command, error)
            assert error["path"] == f"{store.url}/{folder_key('RUNS', RUN)}", (command, error)
        assert sorted(p.name for p in runs.iterdir()) == before  # no folder, no `.RUN.*` left
    assert not (machine.parent / "escape").exists()
    assert "registry pointers repair" in error["message"]
    code, out, err = registry("pointers", "repair", "--reason", "a folder object no release "
                              "writes", "--workspace", str(machine))  # fmt: skip
    assert code == 0 and "set aside" in out, out + err  # as the refusal says
    assert store.get(folder_key("RUNS", RUN)) is None
    assert [key for key in store.keys("quarantine/") if key.endswith(folder_key("RUNS", RUN))]
    code, out, err = registry("pointers", "verify", "--workspace", str(machine))
    assert code == 0, out + err  # every command works again


SETTINGS = {  # every malformed setting: `core_tests/objstore/test_store_settings.py`
    "a space in the endpoint": ("AWS_ENDPOINT_URL", "http://local host:{port}"),
    "a newline in the secret": ("AWS_SECRET_ACCESS_KEY", "{secret}\n"),
    "a newline inside REGISTRY_STORE": ("REGISTRY_STORE", "{url}\ns"),  # was read without it
}


@pytest.mark.parametrize(("name", "value"), SETTINGS.values(), ids=SETTINGS)
def test_a_malformed_s3_setting_is_refused_naming_it_before_any_request(
    machines: tuple[Path, Path],
    s3_server: SeaweedServer,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    """Exit 2 STORE_URL_INVALID naming the variable (the client panicked: a Rust panic and a
    traceback on every command); a credential's value is never printed."""
    machine, _ = machines
    env = s3_server.env()
    port = env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
    value = value.format(port=port, secret=env["AWS_SECRET_ACCESS_KEY"], url=store_url[:-1])
    monkeypatch.setenv(name, value)
    for command in (["pointers", "show"], ["runs", "list"]):
        error = _refused(capfd, 2, *command, "--workspace", str(machine))
        assert (error["code"], error["field"]) == ("STORE_URL_INVALID", name), error
        if name == "AWS_SECRET_ACCESS_KEY":
            assert value.split("\n")[0] not in json.dumps(error)
