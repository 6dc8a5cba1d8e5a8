"""SQLite as the package uses it: durable connections and ``BEGIN IMMEDIATE`` transactions.

Both the order journal and the sim broker's store open their files here, so both
run in WAL mode with ``synchronous=FULL`` (a commit survives a power loss) and
take the write lock at the start of a transaction, not at its first write.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "immediate"]


def connect(path: Path, *, timeout: float = 30) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode, WAL, ``synchronous=FULL``, rows by name."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


@contextmanager
def immediate(
    db: sqlite3.Connection,
    lock: threading.RLock,
    on_commit: Callable[[], None] | None = None,
    *,
    on_begin: Callable[[], None] | None = None,
    durable: bool = True,
) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); nested uses join the outer.

    ``durable=False`` commits with ``synchronous=NORMAL``: atomic, and durable
    across a crash of the process, but a power loss may take it back - until the
    next durable commit, which syncs everything before it too.
    """
    with lock:
        if db.in_transaction:
            yield
            return
        if not durable:
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            if on_begin is not None:
                on_begin()
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            if not durable:
                db.execute("PRAGMA synchronous=FULL")
        if on_commit is not None:
            on_commit()
