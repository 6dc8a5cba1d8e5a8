"""The sim account's tables and the numbered migrations that bring an account up to date.

An account records the version it was written to (``PRAGMA user_version`` and
``meta.schema_version``), as the journal does (``store/schema.py``). Opening an
older account runs the missing migrations in one ``BEGIN IMMEDIATE`` transaction;
an account written by a newer release is refused.

1. account, orders, positions, the update log, equity points (the releases that
   recorded no version: their files open as version 1);
2. the book of resting orders and the running figures: ``resting``,
   ``held_for_sale``, ``meta.reserved_cash`` (see ``book.py``) and ``equity_days``,
   the last equity point of each day; filled in from the orders and points there;
3. an index on ``orders (submitted_at)``, for listing orders a page at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import BrokerConfigurationError
from .book import OPEN_STATUSES, book

__all__ = ["SCHEMA_VERSION", "migrate"]

_FIRST = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    qty TEXT,
    notional TEXT,
    limit_price TEXT,
    stop_price TEXT,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL DEFAULT '0',
    filled_avg_price TEXT,
    submitted_at TEXT NOT NULL,
    filled_at TEXT,
    canceled_at TEXT,
    extended_hours INTEGER NOT NULL DEFAULT 0,
    triggered INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT,
    replaces TEXT
)""",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
    """CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    cost_basis TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS order_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL,
    filled_avg_price TEXT,
    qty TEXT,
    price TEXT,
    position_qty TEXT
)""",
    """CREATE TABLE IF NOT EXISTS equity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    equity TEXT NOT NULL
)""",
]

_BOOK = [
    """CREATE TABLE IF NOT EXISTS resting (
    seq INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    below INTEGER NOT NULL,
    at REAL,
    day TEXT
)""",
    "CREATE INDEX IF NOT EXISTS resting_price ON resting (symbol, below, at)",
    "CREATE INDEX IF NOT EXISTS resting_day ON resting (day)",
    "CREATE TABLE IF NOT EXISTS held_for_sale (symbol TEXT PRIMARY KEY, qty TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS equity_days (
    day TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    equity TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS equity_days_last ON equity_days (last_seq)",
]


def _version_1(db: sqlite3.Connection) -> None:
    for statement in _FIRST:
        db.execute(statement)


def _version_2(db: sqlite3.Connection) -> None:
    for statement in _BOOK:
        db.execute(statement)
    marks = ", ".join("?" for _ in OPEN_STATUSES)
    for row in db.execute(
        f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY seq", OPEN_STATUSES
    ).fetchall():
        book(db, row)
    # SQLite takes a bare column of a MAX() aggregate from the row holding the maximum.
    db.execute(
        "INSERT INTO equity_days (day, last_seq, equity) "
        "SELECT substr(at, 1, 10), MAX(seq), equity FROM equity GROUP BY substr(at, 1, 10)"
    )


def _version_3(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS orders_submitted ON orders (submitted_at)")


_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_version_1, _version_2, _version_3]
#: The version this release writes.
SCHEMA_VERSION = len(_MIGRATIONS)


def stored_version(db: sqlite3.Connection) -> int:
    """The version the account says it has: 0 for a new file, 1 for one from before versions."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version:
        return version
    found = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'orders'")
    return 1 if found.fetchone() is not None else 0


def migrate(db: sqlite3.Connection, where: str) -> int:
    """Bring the account to :data:`SCHEMA_VERSION` (inside the caller's transaction).

    Returns the version found. An account newer than this release is refused.
    """
    found = stored_version(db)
    if found > SCHEMA_VERSION:
        raise BrokerConfigurationError(
            f"the sim account at {where} was written by a newer release (schema {found}, "
            f"this release knows {SCHEMA_VERSION}); upgrade tradingagents-brokers before using it"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        _MIGRATIONS[version - 1](db)
    if found != SCHEMA_VERSION:
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return found
