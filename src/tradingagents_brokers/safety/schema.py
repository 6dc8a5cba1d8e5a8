"""The journal's tables: created, or brought up to date, when a journal is opened."""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA", "create"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    intent_id INTEGER,
    broker TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq);
CREATE INDEX IF NOT EXISTS events_intent ON events (intent_id, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END;
CREATE TABLE IF NOT EXISTS intents (
    intent_id INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    broker TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT,
    notional TEXT,
    value TEXT,
    dedupe_key TEXT NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_recent ON intents (broker, created_at);
CREATE INDEX IF NOT EXISTS intents_window ON intents (broker, created_at, status, dedupe_key);
CREATE INDEX IF NOT EXISTS intents_status ON intents (broker, status);
"""


def create(db: sqlite3.Connection) -> None:
    """Create the tables (inside the caller's transaction) and add columns older files lack."""
    for statement in statements(SCHEMA):
        db.execute(statement)
    columns = {row[1] for row in db.execute("PRAGMA table_info(intents)")}
    if "filled_qty" not in columns:  # journals written before fills were recorded
        db.execute("ALTER TABLE intents ADD COLUMN filled_qty TEXT")


def statements(script: str) -> list[str]:
    """Split the schema into statements (triggers contain ';' inside BEGIN ... END)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if text.rstrip().endswith(";") and (
            not text.lstrip().startswith("CREATE TRIGGER") or text.rstrip().endswith("END;")
        ):
            statements.append(text)
            current = []
    return statements
