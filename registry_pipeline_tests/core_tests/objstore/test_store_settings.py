"""The S3 settings a workspace is given (`REGISTRY_STORE`, the catalog's `store`, the standard
AWS variables) are checked before the client sees them: the client (obstore, in Rust) panics on
what it cannot put in a request, a `BaseException` that would end every command in a traceback.
No request is sent here: every refusal comes before one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.objstore import ObjectStore, parse_store_url
from registry_pipeline.core.workspace import remote
from registry_pipeline.core.workspace.layout import Workspace

URL = parse_store_url("s3://bucket-x/ws")
KEYS = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret"}
"""With credentials set the client signs its requests, and panics on a malformed endpoint (with
none it asks the instance metadata service first and fails more quietly)."""

MALFORMED = {
    "a space in the endpoint": ("AWS_ENDPOINT_URL", "http://local host:8333"),
    "a port out of range": ("AWS_ENDPOINT_URL", "http://127.0.0.1:99999"),
    "port 0": ("AWS_ENDPOINT_URL", "http://127.0.0.1:0"),
    "a port not a number": ("AWS_ENDPOINT_URL", "http://127.0.0.1:x"),
    "no scheme": ("AWS_ENDPOINT_URL", "127.0.0.1:8333"),
    "another scheme": ("AWS_ENDPOINT_URL", "ftp://127.0.0.1:8333"),
    "an empty endpoint": ("AWS_ENDPOINT_URL", ""),
    "a blank endpoint": ("AWS_ENDPOINT_URL", " "),
    "no host": ("AWS_ENDPOINT_URL", "http://:8333"),
    "a trailing newline": ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333\n"),
    "a broken IPv6 host": ("AWS_ENDPOINT_URL", "http://[::1:8333"),
    "a query": ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333/?x=1"),
    "credentials in the URL": ("AWS_ENDPOINT_URL", "http://key:secret@127.0.0.1:8333"),
    "a non-ASCII host": ("AWS_ENDPOINT_URL", "http://bücher.example:8333"),
    "a percent in the host": ("AWS_ENDPOINT_URL", "http://a%zz:8333"),
    "an IPv6 zone": ("AWS_ENDPOINT_URL", "http://[::1%25eth0]:8333"),
    "a path the client cannot send": ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333/<>"),
    "a newline in the key id": ("AWS_ACCESS_KEY_ID", "key\nid"),
    "a newline in the secret": ("AWS_SECRET_ACCESS_KEY", "sec\nret"),
    "a space in the secret": ("AWS_SECRET_ACCESS_KEY", "sec ret"),
    "a newline in the session token": ("AWS_SESSION_TOKEN", "tok\nen"),
    "a control character in the key id": ("AWS_ACCESS_KEY_ID", "key\x00"),
    "a newline in the region": ("AWS_DEFAULT_REGION", "us-east-1\n"),
    "a space in the other region": ("AWS_REGION", "us east"),
}


@pytest.mark.parametrize(("name", "value"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_setting_is_refused_naming_its_variable(name: str, value: str) -> None:
    env = {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:1", name: value}
    with pytest.raises(UsageError) as caught:
        ObjectStore.open(URL, env, retry_for=timedelta(0))
    assert (caught.value.code, caught.value.field) == ("STORE_URL_INVALID", name)
    assert caught.value.exit_code == 2
    assert name in caught.value.message
    if name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        assert value not in caught.value.message  # a credential is never printed


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8333",
        "https://s3.example.com",
        "https://s3.example.com/",
        "http://localhost:8333/storage",
        "http://[::1]:8333",
    ],
)
def test_a_well_formed_endpoint_is_taken(endpoint: str) -> None:
    store = ObjectStore.open(URL, {**KEYS, "AWS_ENDPOINT_URL": endpoint})
    assert store.url == "s3://bucket-x/ws"


def test_empty_credentials_are_unset_as_before() -> None:
    """Tools often export an empty `AWS_SESSION_TOKEN`: it means none, as it did."""
    env = {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_SESSION_TOKEN": ""}
    ObjectStore.open(URL, env)


def test_a_client_panic_is_a_settings_error_not_a_traceback(tmp_path: Path) -> None:
    """What no check foresaw: the client's panic (pyo3's PanicException, a BaseException) is
    STORE_URL_INVALID naming the object, for every call the client makes."""
    from obstore.store import S3Store

    config = {"endpoint": "http://:1", "region": "x", "access_key_id": "key",
              "secret_access_key": "secret"}  # fmt: skip
    backend = S3Store("bucket-x", config=config, client_options={"allow_http": True})
    store = ObjectStore(backend, "s3://bucket-x", retry_for=timedelta(0))
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: store.get("k"),
        "put": lambda: store.put("k", b"x"),
        "create": lambda: store.create("k", b"x"),
        "replace": lambda: store.replace("k", b"x", '"0"'),
        "keys": lambda: list(store.keys("RUNS/")),
        "delete": lambda: store.delete("k"),
        "download": lambda: store.download("k", tmp_path / "file"),
    }
    for call in calls.values():
        with pytest.raises(RegistryError) as caught:
            call()
        assert caught.value.code == "STORE_URL_INVALID"
        assert "AWS_ENDPOINT_URL" in caught.value.message


def test_an_interrupt_is_never_taken_for_a_panic(monkeypatch: pytest.MonkeyPatch) -> None:
    import obstore

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(obstore, "get", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ObjectStore.in_memory().get("k")


@pytest.mark.parametrize(
    "raw",
    ["file:///tmp/x", "s3://", "s3://A_B/x", "s3://ab/x", "s3://bucket/a//b", "s3://bucket/../x",
     "s3://bucket/x?versionId=1",
     # Python's URL parser drops a newline or a tab anywhere in a URL: never silently (a space
     # inside a prefix is a key S3 takes; around the URL it is a slip)
     "s3://bucket-x/w\ns", "s3://bucket-x/ws\n", "s3://buck\net-x/ws", "s3://bucket-x/ws ",
     "\ts3://bucket-x/ws", "s3://bucket-x/w\rs", "s3://bucket-x/w\x00s", "s3://bucket-x/w\u2028s"],
)  # fmt: skip
def test_a_bad_store_url_is_refused_naming_the_field_not_cleaned(raw: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_store_url(raw)
    assert (caught.value.code, caught.value.field) == ("STORE_URL_INVALID", "REGISTRY_STORE")


def test_store_url_round_trips() -> None:
    url = parse_store_url("s3://my-bucket/teams/governance/")
    assert (url.bucket, url.prefix, str(url)) == ("my-bucket", "teams/governance",
                                                  "s3://my-bucket/teams/governance")  # fmt: skip
    assert str(parse_store_url("s3://my-bucket")) == "s3://my-bucket"


def test_the_settings_are_checked_on_every_command_not_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process keeps one client per bucket: a setting changed since must still be checked
    (and a good client never serves a malformed secret); REGISTRY_STORE is read as the URL
    parser reads it, empty meaning unset (the local filesystem)."""
    workspace = Workspace(tmp_path)
    for key, value in {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("REGISTRY_STORE", "s3://bucket-x/ws")
    assert remote.remote_for(workspace) is not None
    broken = {"AWS_SECRET_ACCESS_KEY": "sec\nret", "REGISTRY_STORE": "s3://bucket-x/w\ns"}
    for name, value in broken.items():
        monkeypatch.setenv(name, value)
        with pytest.raises(UsageError) as caught:
            remote.remote_for(workspace)
        assert (caught.value.code, caught.value.field) == ("STORE_URL_INVALID", name)
    monkeypatch.setenv("REGISTRY_STORE", "")
    assert remote.store_url(workspace) is None
