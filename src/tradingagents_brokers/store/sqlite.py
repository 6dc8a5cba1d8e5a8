"""The SQLite backend: one file, every process on one host, WAL and ``synchronous=FULL``.

One connection per store object, shared by its threads under a lock: a thread
inside a transaction holds the lock until it commits, so another thread never
reads the first one's uncommitted rows. Across processes, ``BEGIN IMMEDIATE``
takes SQLite's write lock at the start of the transaction: the write section.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._sqlite import connect
from ..errors import StoreUnavailableError
from .backend import Row

__all__ = ["SqliteBackend"]


class SqliteBackend:
    """A store in one SQLite file (see the module docstring)."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.location = str(path)
        self.connection = connect(path, timeout=busy_timeout)
        self.connection.row_factory = sqlite3.Row
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._depth = 0

    def __repr__(self) -> str:
        return f"<SqliteBackend {self.location}>"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            rows = self.connection.execute(sql, params).fetchall()
        return [dict(row) for row in rows]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock:
            row = self.connection.execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self.connection.execute(sql, params).rowcount

    def script(self, statements: Sequence[str]) -> None:
        with self._lock:
            for statement in statements:
                self.connection.execute(statement)

    def transaction(self, *, lock: bool = True, durable: bool = True) -> _Transaction:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``lock`` makes no difference on SQLite."""
        return _Transaction(self, durable)

    def _begin(self) -> None:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(
                f"the journal at {self.location} stayed locked by another process for "
                f"{self.busy_timeout:g}s ({exc}); nothing was sent - retry, and if it lasts, "
                "look for a process stuck while holding it"
            ) from None

    def serialize(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the file's one write lock."""

    def in_transaction(self) -> bool:
        # Only the thread holding the lock can be inside; others see 0 once they hold it.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            return self._depth > 0
        finally:
            self._lock.release()

    def pragma(self, name: str) -> Any:
        row = self.query_one(f"PRAGMA {name}")
        return None if row is None else next(iter(row.values()))

    def integrity_check(self) -> str:
        return str(self.pragma("integrity_check"))

    def close(self) -> None:
        with self._lock:
            self.connection.close()


class _Transaction:
    """One (possibly nested) transaction of a :class:`SqliteBackend`.

    A class rather than a generator: it runs twice per order on the hot path.
    """

    __slots__ = ("backend", "durable", "outermost")

    def __init__(self, backend: SqliteBackend, durable: bool) -> None:
        self.backend = backend
        self.durable = durable
        self.outermost = False

    def __enter__(self) -> bool:
        backend = self.backend
        backend._lock.acquire()
        if backend._depth:
            backend._depth += 1
            return False
        try:
            if not self.durable:
                backend.connection.execute("PRAGMA synchronous=NORMAL")
            backend._begin()
        except BaseException:
            self._settle()
            raise
        backend._depth = 1
        self.outermost = True
        return True

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        backend = self.backend
        try:
            if not self.outermost:
                backend._depth -= 1
                return
            backend._depth = 0
            if kind is not None:
                backend.connection.execute("ROLLBACK")
                return
            try:
                backend.connection.execute("COMMIT")
            except BaseException:  # a full disk, say: leave no transaction open behind
                with contextlib.suppress(sqlite3.Error):
                    backend.connection.execute("ROLLBACK")
                raise
        finally:
            if self.outermost:
                self._settle()
            else:
                backend._lock.release()

    def _settle(self) -> None:
        try:
            if not self.durable:
                self.backend.connection.execute("PRAGMA synchronous=FULL")
        finally:
            self.backend._lock.release()
