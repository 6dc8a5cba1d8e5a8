"""The PostgreSQL backend: one store for processes on many hosts (psycopg 3, psycopg_pool).

Importing this module imports psycopg; :func:`tradingagents_brokers.store.open_backend`
imports it only when ``store_url`` names a PostgreSQL server.

* Connections come from a small pool, in autocommit mode; a transaction binds
  one connection to the calling thread until it ends (inner ones join it).
* The write section (``transaction(lock=True)``) is a transaction that first
  takes ``pg_advisory_xact_lock`` on a key derived from the schema: one writer
  at a time per store, released by the commit or the rollback, never left
  behind by a process that dies (the server ends its session).
* ``durable=False`` sets ``synchronous_commit = off`` for that transaction.
* Every failure to reach the server becomes :class:`StoreUnavailableError`,
  whose message names the server (never the password) and what to check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from ..errors import BrokerConfigurationError, StoreUnavailableError
from .backend import Row, redact_url, scrub

__all__ = ["PostgresBackend"]

#: The advisory lock's key within the store's schema (any fixed text would do).
_LOCK_NAME = "tradingagents_brokers.write_section"


def _sql(statement: str) -> str:
    """The journal's ``?`` placeholders as psycopg's ``%s``."""
    assert "%" not in statement, "a literal % would need escaping"
    return statement.replace("?", "%s")


class PostgresBackend:
    """A store in a PostgreSQL database (see the module docstring)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout: float = 5.0, pool_size: int = 4) -> None:
        self.location = redact_url(url)
        self._url = url  # to scrub the driver's messages; never shown
        self._local = threading.local()
        self._sql_cache: dict[str, str] = {}
        self._timeout = connect_timeout
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise BrokerConfigurationError(
                f"store_url {self.location} cannot be read ({scrub(str(exc).strip(), url)}); "
                "write it as postgresql://user@host:5432/database"
            ) from None
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "tradingagents-brokers",
        }
        try:  # one connection first: a refusal is this error, not a pool retrying in the log
            psycopg.connect(url, **kwargs).close()
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        try:
            self._pool = psycopg_pool.ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs=kwargs,
                timeout=connect_timeout,
                open=False,
                name="tradingagents-brokers",
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self._pool.close()
            raise self._unavailable(exc) from None
        row = self.query_one(
            "SELECT hashtextextended(current_schema() || ?, 0) AS key", (":" + _LOCK_NAME,)
        )
        assert row is not None
        self._lock_key = int(row["key"])

    def __repr__(self) -> str:
        return f"<PostgresBackend {self.location}>"

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        what = type(exc).__name__
        text = scrub(str(exc).strip(), self._url)
        detail = text.splitlines()[0] if text else what
        return StoreUnavailableError(
            f"the journal's PostgreSQL server at {self.location} cannot be used ({detail}); "
            "nothing was sent - check that the server is up and reachable from this host, "
            "and the user, database and password in 'store_url'"
        )

    def _translate(self, statement: str) -> str:
        cached = self._sql_cache.get(statement)
        if cached is None:
            cached = self._sql_cache[statement] = _sql(statement)
        return cached

    def _require_open(self) -> None:
        if self._pool.closed:
            raise RuntimeError(f"the store at {self.location} was closed")

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Row]]:
        current: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        self._require_open()
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield cast("psycopg.Connection[Row]", conn)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as conn:
            return conn.execute(self._translate(sql), tuple(params)).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connection() as conn:
            return conn.execute(self._translate(sql), tuple(params)).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connection() as conn:
            return conn.execute(self._translate(sql), tuple(params)).rowcount

    def script(self, statements: Sequence[str]) -> None:
        with self._connection() as conn:
            for statement in statements:
                conn.execute(statement.encode())  # DDL: no placeholders

    @contextmanager
    def transaction(self, *, lock: bool = True, durable: bool = True) -> Iterator[bool]:
        if getattr(self._local, "conn", None) is not None:
            yield False
            return
        self._require_open()
        try:
            with self._pool.connection(timeout=self._timeout) as conn, conn.transaction():
                self._local.conn = conn
                try:
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit TO OFF")
                    if lock:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                    yield True
                finally:
                    self._local.conn = None
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    def serialize(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def integrity_check(self) -> str:
        # PostgreSQL checks its pages itself (and amcheck is an extension); the chain
        # and the audit are what this store can prove.
        self.query_one("SELECT 1 AS ok")
        return "ok"

    def server_time_skew(self, local_now: float) -> float:
        """Seconds by which the server's clock is ahead of ``local_now`` (epoch seconds)."""
        row = self.query_one("SELECT extract(epoch FROM clock_timestamp()) AS now")
        assert row is not None
        return float(row["now"]) - local_now

    def close(self) -> None:
        self._pool.close()
