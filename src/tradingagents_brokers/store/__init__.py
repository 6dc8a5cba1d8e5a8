"""Where the journal and the shared risk state live: one store per account, two backends.

* SQLite (the default): ``journal.db`` in the state directory, or ``journal_path``;
  every process on one host shares it.
* PostgreSQL: ``store_url = "postgresql://user@host/db"``; processes on any number
  of hosts share it. psycopg is imported only when such a URL is configured.

Both hold the same tables (:mod:`.schema`) and the journal's SQL runs unchanged
on either (:mod:`.backend`). A password in ``store_url`` never appears in a
message, a repr or a log line (:func:`~.backend.redact_url`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import state_paths
from ..errors import BrokerConfigurationError
from .backend import Backend, redact_url

if TYPE_CHECKING:
    from ..safety.journal import Journal

__all__ = ["describe_store", "open_backend", "open_journal"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _is_postgres(url: str) -> bool:
    return url.startswith(_POSTGRES_SCHEMES)


def describe_store(config: Mapping[str, Any]) -> str:
    """Where ``config``'s store is, for people: a path, or a URL without its password."""
    url = config.get("store_url")
    return redact_url(url) if url else str(state_paths(config)[1])


def open_backend(config: Mapping[str, Any]) -> Backend:
    """The backend ``config`` names: PostgreSQL for a ``postgresql://`` ``store_url``."""
    url = config.get("store_url")
    if not url:
        from ..safety.journal import _open_sqlite

        return _open_sqlite(state_paths(config)[1])
    if not _is_postgres(url):
        raise BrokerConfigurationError(
            f"store_url {redact_url(url)!r} is not a PostgreSQL URL "
            "(postgresql://user@host:5432/database); leave it unset for the SQLite journal"
        )
    try:
        from .postgres import PostgresBackend
    except ImportError:
        raise BrokerConfigurationError(
            "store_url names a PostgreSQL server but psycopg is not installed; "
            "install the extra from a checkout of the source tree: "
            "python3 -m pip install '.[postgresql]'"
        ) from None
    backend = PostgresBackend(url, connect_timeout=float(config.get("store_timeout_seconds", 5)))
    skew = abs(backend.server_time_skew(time.time()))
    limit = float(config.get("max_clock_skew_seconds", 2))
    if skew > limit:
        backend.close()
        raise BrokerConfigurationError(
            f"this host's clock is {skew:.1f}s away from the journal server's "
            f"({backend.location}); rate windows and process heartbeats compare times written "
            f"by different hosts, so the gate refuses to start above max_clock_skew_seconds "
            f"({limit:g}): synchronise the clocks (NTP)"
        )
    return backend


def open_journal(
    config: Mapping[str, Any], *, now: Callable[[], dt.datetime] | None = None
) -> Journal:
    """The journal of ``config``'s store (see the module docstring)."""
    from ..safety.journal import Journal

    if not config.get("store_url"):
        path = state_paths(config)[1]
        return Journal(path) if now is None else Journal(path, now=now)
    backend = open_backend(config)
    # This host's anchor of the shared store (safety/guard.py), in its state directory.
    digest = hashlib.sha256(describe_store(config).encode()).hexdigest()[:12]
    anchor = state_paths(config)[0] / f"store-{digest}.anchor"
    anchor.parent.mkdir(parents=True, exist_ok=True)
    try:
        if now is None:
            return Journal(backend, anchor=anchor)
        return Journal(backend, now=now, anchor=anchor)
    except BaseException:
        backend.close()
        raise
