"""`run_url` links a run under $DAGSTER_WEBSERVER_URL, else under Dagster's default address."""

from __future__ import annotations

import pytest

from registry_pipeline.lib.webserver import DEFAULT_WEBSERVER_URL, WEBSERVER_URL_ENV, run_url


def test_without_the_variable_the_link_is_dagsters_default_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(WEBSERVER_URL_ENV, raising=False)
    assert DEFAULT_WEBSERVER_URL == "http://127.0.0.1:3000"
    assert run_url("abc") == "http://127.0.0.1:3000/runs/abc"
    monkeypatch.setenv(WEBSERVER_URL_ENV, "  ")  # set but blank: as unset
    assert run_url("abc") == "http://127.0.0.1:3000/runs/abc"


@pytest.mark.parametrize(
    ("base", "link"),
    [
        ("https://dagster.example/", "https://dagster.example/runs/abc"),
        ("http://127.0.0.1:3001", "http://127.0.0.1:3001/runs/abc"),
        ("http://host:3000/dagster/", "http://host:3000/dagster/runs/abc"),  # --path-prefix
    ],
)
def test_the_variable_is_the_base_of_the_link(
    base: str, link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBSERVER_URL_ENV, base)
    assert run_url("abc") == link
