"""Where the Dagster UI shows a run: $DAGSTER_WEBSERVER_URL, else Dagster's default address."""

from __future__ import annotations

import os

WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
"""The UI's base URL (`http://HOST:PORT[/path-prefix]`) when it is not Dagster's default."""
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
"""Where `dagster dev` and `dagster-webserver` serve the UI unless told otherwise."""


def run_url(run_id: str) -> str:
    """The run's UI page under $DAGSTER_WEBSERVER_URL (never guessed), else the default address."""
    base = os.environ.get(WEBSERVER_URL_ENV, "").strip() or DEFAULT_WEBSERVER_URL
    return f"{base.rstrip('/')}/runs/{run_id}"
