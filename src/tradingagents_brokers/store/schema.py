"""The store's tables, per dialect, and the numbered migrations that bring a store up to date.

A store records the version it was written to (``meta.schema_version``, and on
SQLite also ``PRAGMA user_version``). Opening an older store runs the missing
migrations inside the write section; opening a store newer than this release is
refused, since this code cannot know what it would break.

1. the events chain, the intents projection and ``meta`` (the first release);
2. ``intents.filled_qty``;
3. ownership of in-flight work and what many processes share: ``intents.owner``,
   the ``processes`` registry and the ``request_log`` of the broker request budget;
4. one index fewer (``intents_recent``, a prefix of ``intents_window``);
5. ``archives``, the ranges ``journal archive`` sealed; events so sealed may be deleted;
6. an index on ``events (kind, broker, at)``: the rate limits count recent closes.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import BrokerConfigurationError
from .backend import Backend

__all__ = ["SCHEMA_VERSION", "migrate"]

_EVENTS_SQLITE = [
    """CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    intent_id INTEGER,
    broker TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END""",
]

_EVENTS_POSTGRES = [
    """CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    intent_id BIGINT,
    broker TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
    """CREATE OR REPLACE FUNCTION tab_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'journal events are append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION tab_events_append_only()""",
]


def _first(id_type: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq)",
        "CREATE INDEX IF NOT EXISTS events_intent ON events (intent_id, seq)",
        f"""CREATE TABLE IF NOT EXISTS intents (
    intent_id {id_type} PRIMARY KEY,
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
)""",
        "CREATE INDEX IF NOT EXISTS intents_recent ON intents (broker, created_at)",
        "CREATE INDEX IF NOT EXISTS intents_window "
        "ON intents (broker, created_at, status, dedupe_key)",
        "CREATE INDEX IF NOT EXISTS intents_status ON intents (broker, status)",
    ]


_FILLED = ["ALTER TABLE intents ADD COLUMN filled_qty TEXT"]

_SHARED = [
    "ALTER TABLE intents ADD COLUMN owner TEXT",
    """CREATE TABLE IF NOT EXISTS processes (
    owner TEXT PRIMARY KEY,
    broker TEXT NOT NULL,
    host TEXT NOT NULL,
    host_key TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS request_log (
    budget TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS request_log_window ON request_log (budget, at)",
]


def _columns(backend: Backend, table: str) -> set[str]:
    if backend.dialect == "sqlite":
        return {row["name"] for row in backend.query(f"PRAGMA table_info({table})")}
    rows = backend.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {row["column_name"] for row in rows}


def _version_1(backend: Backend) -> None:
    id_type = "INTEGER" if backend.dialect == "sqlite" else "BIGINT"
    events = _EVENTS_SQLITE if backend.dialect == "sqlite" else _EVENTS_POSTGRES
    backend.script([*events, *_first(id_type)])


def _version_2(backend: Backend) -> None:
    if "filled_qty" not in _columns(backend, "intents"):  # older releases added it by hand
        backend.script(_FILLED)


def _version_3(backend: Backend) -> None:
    backend.script(_SHARED)


def _version_4(backend: Backend) -> None:
    # intents_window begins with the same columns: this one only cost bytes per order.
    backend.script(["DROP INDEX IF EXISTS intents_recent"])


#: What ``journal archive`` sealed: each range of events moved to a file, with the hash
#: the live chain goes on from and the highest intent id it took (ids are never reused).
_ARCHIVES = """CREATE TABLE IF NOT EXISTS archives (
    last_seq {big} PRIMARY KEY,
    first_seq {big} NOT NULL,
    last_hash TEXT NOT NULL,
    max_intent_id {big} NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL
)"""

_SEALED_SQLITE = [
    "DROP TRIGGER IF EXISTS events_no_delete",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.seq > (SELECT COALESCE(MAX(last_seq), 0) FROM archives)
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END""",
]

_SEALED_POSTGRES = [
    "DROP TRIGGER IF EXISTS events_no_change ON events",
    """CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION tab_events_append_only()""",
    """CREATE OR REPLACE FUNCTION tab_events_sealed_only() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
IF OLD.seq <= (SELECT COALESCE(MAX(last_seq), 0) FROM archives) THEN RETURN OLD; END IF;
RAISE EXCEPTION 'journal events are append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER events_no_delete BEFORE DELETE ON events
FOR EACH ROW EXECUTE FUNCTION tab_events_sealed_only()""",
]


def _version_5(backend: Backend) -> None:
    # Events may be deleted once sealed in an archive, and only then.
    if backend.dialect == "sqlite":
        backend.script([_ARCHIVES.format(big="INTEGER"), *_SEALED_SQLITE])
    else:
        backend.script([_ARCHIVES.format(big="BIGINT"), *_SEALED_POSTGRES])


def _version_6(backend: Backend) -> None:
    # The rate limits count the closes sent in the last second and minute, on each order.
    backend.script(["CREATE INDEX IF NOT EXISTS events_kind_at ON events (kind, broker, at)"])


_MIGRATIONS: list[Callable[[Backend], None]] = [
    _version_1,
    _version_2,
    _version_3,
    _version_4,
    _version_5,
    _version_6,
]
#: The version this release writes.
SCHEMA_VERSION = len(_MIGRATIONS)


def stored_version(backend: Backend) -> int:
    """The schema version the store says it has (0 for a new store)."""
    if backend.dialect == "sqlite":
        found = backend.query_one("PRAGMA user_version")
        version = int(next(iter(found.values()))) if found else 0
        if version:
            return version
    if "meta" not in _tables(backend):
        return 0
    row = backend.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
    if row is not None:
        return int(row["value"])
    # Written before versions were recorded: the first release, with or without fills.
    return 2 if "filled_qty" in _columns(backend, "intents") else 1


def _tables(backend: Backend) -> set[str]:
    if backend.dialect == "sqlite":
        rows = backend.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row["name"] for row in rows}
    rows = backend.query(
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = current_schema()"
    )
    return {row["name"] for row in rows}


def migrate(backend: Backend) -> int:
    """Bring the store to :data:`SCHEMA_VERSION` (inside the caller's write section).

    Returns the version it found. A store newer than this release is refused.
    """
    found = stored_version(backend)
    if found > SCHEMA_VERSION:
        raise BrokerConfigurationError(
            f"the journal at {backend.location} was written by a newer release "
            f"(schema {found}, this release knows {SCHEMA_VERSION}); upgrade "
            "tradingagents-brokers before using it"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        _MIGRATIONS[version - 1](backend)
    if found != SCHEMA_VERSION:
        backend.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        if backend.dialect == "sqlite":
            backend.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return found
