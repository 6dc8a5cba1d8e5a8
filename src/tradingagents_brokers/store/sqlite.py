"""The SQLite backend: one file, every process on one host, WAL and ``synchronous=FULL``.

One connection per store object, shared by its threads under a lock: a thread
inside a transaction holds the lock until it commits, so another thread never
reads the first one's uncommitted rows. Across processes, ``BEGIN IMMEDIATE``
takes SQLite's write lock at the start of the transaction: the write section.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._sqlite import connect
from ..errors import StoreUnavailableError
from .backend import Row

__all__ = ["SqliteBackend"]


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteBackend:
    """A store in one SQLite file (see the module docstring)."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.location = str(path)
        self.connection = connect(path, timeout=busy_timeout)
        self.connection.row_factory = _dict_row
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._depth = 0

    def __repr__(self) -> str:
        return f"<SqliteBackend {self.location}>"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            rows: list[Row] = self.connection.execute(sql, params).fetchall()
            return rows

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock:
            row: Row | None = self.connection.execute(sql, params).fetchone()
            return row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self.connection.execute(sql, params).rowcount

    def script(self, statements: Sequence[str]) -> None:
        with self._lock:
            for statement in statements:
                self.connection.execute(statement)

    @contextmanager
    def transaction(self, *, lock: bool = True, durable: bool = True) -> Iterator[bool]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``lock`` makes no difference on SQLite."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield False
                finally:
                    self._depth -= 1
                return
            db = self.connection
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._begin()
                self._depth = 1
                try:
                    yield True
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
                db.execute("COMMIT")
            finally:
                if not durable:
                    db.execute("PRAGMA synchronous=FULL")

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
