"""The order journal: a durable, append-only, hash-chained record of every order decision.

It lives in a store (:mod:`tradingagents_brokers.store`): a SQLite file in WAL
mode with ``synchronous=FULL`` (one host, many processes; the default) or a
PostgreSQL database (many hosts). A commit survives power loss, not only a
crash. ``events`` is append-only - triggers make UPDATE and DELETE fail - and
each event's ``hash`` is ``sha256(previous hash + canonical event)``, so
:meth:`Journal.verify` finds the first edited, inserted or removed event.

``intents`` is a projection of the events (the current state of each order
intent) kept in the same transactions, so risk checks can count orders in flight
with one indexed query. The intent id determines the ``client_order_id``
(``tab-<journal id>-<intent id>``): retries of an intent reuse it, a new intent
never does. Each intent records its ``owner``, the gated broker sending it (see
:mod:`tradingagents_brokers.store.registry`).

Every decision that must be atomic across processes (risk checks plus the
intent they admit) runs in one :meth:`Journal.transaction`: the store's write
section, one writer at a time across every process and host of the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import BrokerConfigurationError, BrokerError, JournalDamagedError
from ..store.backend import Backend
from ..store.schema import migrate
from ..store.sqlite import SqliteBackend
from .guard import (
    ANCHOR_SECONDS,
    RECOVERY,
    TAIL,
    anchor_path,
    anchor_problem,
    check_before_open,
    check_schema,
    read_anchor,
    tail_problem,
    write_anchor,
)
from .observations import Observations
from .queries import IntentQueries
from .records import (
    GENESIS,
    OPEN_STATUSES,
    UNRESOLVED,
    IntentRecord,
    VerifyResult,
    canonical,
    chain_hash,
    record_from_row,
    stamp,
    walk_chain,
)

# The record types are re-exported: callers import them from here.
__all__ = ["OPEN_STATUSES", "UNRESOLVED", "IntentRecord", "Journal", "VerifyResult"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_EVENTS_AFTER = "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
#: An event's columns as SQLite stores them: its text as bytes, so damage is readable.
_RAW_COLUMNS = (
    "seq, CAST(at AS BLOB) AS at, CAST(kind AS BLOB) AS kind, intent_id, "
    "CAST(broker AS BLOB) AS broker, CAST(payload AS BLOB) AS payload, "
    "CAST(prev_hash AS BLOB) AS prev_hash, CAST(hash AS BLOB) AS hash"
)
_RAW_EVENTS = f"SELECT {_RAW_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


def _open_sqlite(path: Path) -> SqliteBackend:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteBackend(path)
    except sqlite3.DatabaseError as exc:  # the file is there, and not a database
        raise JournalDamagedError(
            f"the journal at {path} is not a readable SQLite database ({exc}): {RECOVERY}"
        ) from None
    except (OSError, sqlite3.Error) as exc:
        raise BrokerConfigurationError(
            f"cannot open the order journal at {path} ({exc}); fix 'journal_path'"
        ) from None


class Journal(IntentQueries, Observations):
    """The order journal of one store. Safe to share between threads and processes.

    ``location`` is a SQLite file (a path) or a store backend (PostgreSQL:
    :func:`tradingagents_brokers.store.open_journal` builds one from ``store_url``).
    """

    def __init__(
        self,
        location: str | Path | Backend,
        *,
        now: Callable[[], dt.datetime] = _utcnow,
        anchor: Path | None = None,
    ) -> None:
        self.now = now
        #: Commits, and those that waited for the disk (``synchronous=FULL``).
        self.commits = 0
        self.durable_commits = 0
        #: The chain's last (seq, hash) inside the current thread's transaction.
        self._tx = threading.local()
        #: Where the anchor is kept (``safety/guard.py``): beside a SQLite journal.
        self.anchor = anchor
        if isinstance(location, str | Path):
            self.path: Path | None = Path(location)
            self.anchor = anchor or anchor_path(self.path)
            check_before_open(self.path, self.anchor)
            self.backend: Backend = _open_sqlite(self.path)
        else:
            self.path, self.backend = getattr(location, "path", None), location
        self.location = self.backend.location
        try:
            self._open()
        except BaseException:
            self.backend.close()
            raise
        #: Why this journal takes no orders (None: it does); see ``safety/guard.py``.
        self.damage: str | None = self._inspect()
        self._anchored = self._checked = 0.0
        self.record_head(force=True)

    def _open(self) -> None:
        try:
            check_schema(self.backend, self.location)
        except sqlite3.DatabaseError as exc:
            raise JournalDamagedError(
                f"the journal at {self.location} is not a readable SQLite database ({exc}): "
                f"{RECOVERY}"
            ) from None
        with self.transaction():
            migrate(self.backend)
            if self._meta("journal_id") is None:
                self.backend.execute(
                    "INSERT INTO meta (key, value) VALUES ('journal_id', ?)",
                    (secrets.token_hex(4),),
                )
            self.journal_id: str = self._meta("journal_id") or ""
            # The journal's identity, bound to the chain (the first event of a new journal;
            # journals written before identities were chained get theirs now).
            if not self.backend.query_one("SELECT 1 AS found FROM events WHERE kind = 'journal'"):
                self.append("journal", {"journal_id": self.journal_id})

    def __repr__(self) -> str:
        return f"<Journal {self.location} id={self.journal_id}>"

    def close(self) -> None:
        """Bring the anchor up to date and release the store (a second call does nothing)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        with contextlib.suppress(OSError, BrokerError, sqlite3.Error):
            self.record_head(force=True)
        self.backend.close()

    # -- the anchor (safety/guard.py) -------------------------------------------------

    def _inspect(self) -> str | None:
        """What keeps this journal from taking orders, if anything."""
        last = self.backend.query_one("SELECT MAX(seq) AS last FROM events")
        end = int(last["last"] or 0) if last else 0
        # One event before the tail: its hash is what the tail's first event links to.
        tail = list(self.raw_events(after=max(0, end - TAIL - 1), chunk=TAIL + 1))
        problem = tail_problem(tail)
        anchor = read_anchor(self.anchor) if self.anchor else None
        if problem is None and anchor is not None:
            event = next(self.raw_events_where("seq = ?", (int(anchor["seq"]),)), None)
            problem = anchor_problem(anchor, self.journal_id, event) or None
        return problem

    def record_head(self, *, force: bool = False) -> None:
        """Bring the anchor up to the chain's end (at most once a second unless ``force``)."""
        if self.anchor is None or self.damage is not None:
            return
        moment = time.monotonic()
        if not force and moment - self._anchored < ANCHOR_SECONDS:
            return
        self._anchored = moment
        head = self.head()
        if head is not None:
            write_anchor(
                self.anchor,
                {"journal_id": self.journal_id, "seq": head[0], "hash": head[1]},
            )

    def refresh_damage(self) -> str | None:
        """Re-read the anchor (at most once a second): damage another process found counts."""
        if self.anchor is None or self.damage is not None:
            return self.damage
        moment = time.monotonic()
        if moment - self._checked >= ANCHOR_SECONDS:
            self._checked = moment
            anchor = read_anchor(self.anchor)
            if anchor is not None and anchor.get("damaged"):
                self.damage = f"journal verify found it damaged: {anchor['damaged']}"
        return self.damage

    def mark_damaged(self, problem: str) -> None:
        """Record in the anchor that the journal is damaged: no process sends orders on it."""
        self.damage = problem
        if self.anchor is not None:
            anchor = read_anchor(self.anchor) or {
                "journal_id": self.journal_id,
                "seq": 0,
                "hash": "",
            }
            write_anchor(self.anchor, {**anchor, "damaged": problem})

    def pragma(self, name: str) -> Any:
        """A SQLite pragma of the journal's file (SQLite stores only)."""
        if not isinstance(self.backend, SqliteBackend):
            raise TypeError(f"{self.location} is not a SQLite journal")
        return self.backend.pragma(name)

    def _meta(self, key: str) -> str | None:
        row = self.backend.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def transaction(self, *, durable: bool = True) -> AbstractContextManager[None]:
        """The store's write section: one atomic unit; nested calls join it.

        Durable (``synchronous=FULL``) unless ``durable=False``, for records that
        reconciliation can rebuild from the broker (its answers and updates): those
        survive a crash of the process, and a power loss at worst takes them back
        to what the broker is asked again at start-up.
        """
        return _WriteSection(self, durable)

    # -- events ----------------------------------------------------------------------

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        intent_id: int | None = None,
        broker: str | None = None,
    ) -> int:
        """Append one event to the chain (inside the current transaction, or its own)."""
        with self.transaction():
            head = getattr(self._tx, "head", None)
            if head is None:  # first event of this transaction: read the chain's end
                last = self.backend.query_one(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                )
                # an empty table: a new chain, or one whose every event was archived
                head = self.sealed()[:2] if last is None else (int(last["seq"]), str(last["hash"]))
            seq, prev = head[0] + 1, head[1]
            at = stamp(self.now())
            body = canonical(payload)
            digest = chain_hash(prev, seq, at, kind, intent_id, broker, body)
            # The link is in the hash (it is computed over the previous one): the
            # prev_hash column, which older events fill, is left empty.
            self.backend.execute(
                "INSERT INTO events (seq, at, kind, intent_id, broker, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, '', ?)",
                (seq, at, kind, intent_id, broker, body, digest),
            )
            self._tx.head = (seq, digest)
            return seq

    def events(
        self, intent_id: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Events in order; ``limit`` keeps the newest ones."""
        sql = "SELECT * FROM events"  # pragma: no mutate (SQL is case-insensitive)
        params: list[Any] = []
        if intent_id is not None:
            sql += " WHERE intent_id = ?"  # pragma: no mutate
            params.append(intent_id)
        sql += " ORDER BY seq DESC"  # pragma: no mutate
        if limit is not None:
            sql += " LIMIT ?"  # pragma: no mutate
            params.append(limit)
        rows = self.backend.query(sql, params)[::-1]
        return [{**row, "payload": json.loads(row["payload"])} for row in rows]

    def raw_events_where(
        self, where: str, params: tuple[Any, ...] = (), order: str = "seq", *, chunk: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Events matching ``where``, as stored (see :meth:`raw_events`), a chunk at a time."""
        columns = _RAW_COLUMNS if self.backend.dialect == "sqlite" else "*"
        offset = 0
        while True:
            rows = self.backend.query(
                f"SELECT {columns} FROM events WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, chunk, offset),
            )
            yield from rows
            if len(rows) < chunk:
                return
            offset += chunk

    def raw_events(self, *, after: int = 0, chunk: int = 2000) -> Iterator[dict[str, Any]]:
        """Every event after ``after`` in order, as stored, read ``chunk`` at a time.

        Memory stays flat however long the journal. On SQLite the text columns come
        back as bytes (see :func:`~.records.as_text`), so a damaged byte is reported,
        not raised.
        """
        sql = _RAW_EVENTS if self.backend.dialect == "sqlite" else _EVENTS_AFTER
        while True:
            rows = self.backend.query(sql, (after, chunk))
            if not rows:
                return
            yield from rows
            after = int(rows[-1]["seq"])

    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyResult:
        """Walk the chain from the first event; report the first broken link.

        It reads the chain a chunk at a time, so its memory does not grow with the
        journal; ``progress`` is told how many events were walked, now and then.
        """
        try:
            start = self.sealed()
            return walk_chain(self.raw_events(after=start[0]), progress, start[:2])
        except sqlite3.DatabaseError as exc:
            return VerifyResult(False, 0, None, f"the journal file is damaged: {exc}")

    def sealed(self) -> tuple[int, str, int]:
        """Where the live chain begins: the last archived ``(seq, hash, max intent id)``."""
        row = self.backend.query_one(
            "SELECT last_seq, last_hash, max_intent_id FROM archives ORDER BY last_seq DESC LIMIT 1"
        )
        if row is None:
            return 0, GENESIS, 0
        return int(row["last_seq"]), str(row["last_hash"]), int(row["max_intent_id"])

    def head(self) -> tuple[int, str] | None:
        """The chain's last event as (seq, hash): an anchor to keep outside the file."""
        row = self.backend.query_one("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return None if row is None else (int(row["seq"]), str(row["hash"]))

    def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of one of the journal's tables (``meta``, ``intents``), for audits."""
        if name not in ("meta", "intents"):
            raise ValueError(f"not a journal table: {name!r}")
        return self.backend.query(f"SELECT * FROM {name}")

    def integrity_check(self) -> str:
        return self.backend.integrity_check()

    # -- intents ---------------------------------------------------------------------

    def new_intent(self, values: Mapping[str, Any], payload: Mapping[str, Any]) -> IntentRecord:
        """Record an intent (status ``values["status"]``) and its ``intent`` event."""
        with self.transaction():
            row = self.backend.query_one(
                "SELECT COALESCE(MAX(n), 0) + 1 AS next FROM (SELECT MAX(intent_id) AS n "
                "FROM intents UNION ALL SELECT MAX(max_intent_id) AS n FROM archives) AS ids"
            )
            intent_id = int(row["next"]) if row else 1
            at = stamp(self.now())
            record = {
                **values,
                "intent_id": intent_id,
                "client_order_id": values.get("client_order_id")
                or f"tab-{self.journal_id}-{intent_id}",
                "created_at": at,
                "updated_at": at,
                "order_id": None,
                "filled_qty": None,
            }
            row = {
                k: None if v is None else str(v) if isinstance(v, Decimal) else v
                for k, v in record.items()
            }
            self.backend.execute(
                f"INSERT INTO intents ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )
            # The row as written goes into the chain: `audit` rebuilds the table from it.
            self.append(
                "intent",
                {
                    **payload,
                    "client_order_id": record["client_order_id"],
                    # The row as written, less what the payload and its own columns say:
                    # its id, the client order id above, an updated_at that is created_at.
                    "projection": {
                        k: v
                        for k, v in row.items()
                        if v is not None
                        and k not in ("intent_id", "client_order_id")
                        and not (k == "updated_at" and v == row["created_at"])
                    },
                },
                intent_id=intent_id,
                broker=str(values["broker"]),
            )
        return record_from_row(row)  # as it will read back

    def set_status(
        self,
        intent_id: int,
        status: str,
        *,
        order_id: str | None = None,
        event: Mapping[str, Any] | None = None,
        kind: str = "status",
    ) -> None:
        """Move an intent to ``status`` and append the event that says why."""
        with self.transaction():
            current = self.intent(intent_id)
            at = stamp(self.now())
            self.backend.execute(
                "UPDATE intents SET status = ?, order_id = COALESCE(?, order_id), updated_at = ? "
                "WHERE intent_id = ?",
                (status, order_id, at, intent_id),
            )
            projection = {"status": status, "updated_at": at}
            if order_id is not None:
                projection["order_id"] = order_id
            self.append(
                kind,
                {
                    "from": current.status,
                    "to": status,
                    "order_id": order_id,
                    **(event or {}),
                    "projection": projection,
                },
                intent_id=intent_id,
                broker=current.broker,
            )

    # -- trading state ---------------------------------------------------------------

    def trading_state(self) -> dict[str, Any]:
        """The last trading-state event's payload; ACTIVE when there is none."""
        row = self.backend.query_one(
            "SELECT payload, at FROM events WHERE kind = 'trading_state' ORDER BY seq DESC LIMIT 1"
        )
        if row is None:
            return {"state": "active", "reason": "", "by": "", "at": None}
        return {**json.loads(row["payload"]), "at": row["at"]}

    def set_trading_state(
        self, state: str, reason: str, by: str, context: Mapping[str, Any] | None = None
    ) -> None:
        payload: dict[str, Any] = {"state": state, "reason": reason, "by": by}
        if context:
            payload["context"] = dict(context)
        self.append("trading_state", payload)


class _WriteSection:
    """:meth:`Journal.transaction`: the backend's write section, plus the journal's books.

    A class rather than a generator: it runs twice per order on the hot path.
    """

    __slots__ = ("durable", "inner", "journal", "outermost")

    def __init__(self, journal: Journal, durable: bool) -> None:
        self.journal = journal
        self.durable = durable
        self.inner = journal.backend.transaction(lock=True, durable=durable)
        self.outermost = False

    def __enter__(self) -> None:
        self.outermost = self.inner.__enter__()
        if self.outermost:
            self.journal._tx.head = None

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        self.inner.__exit__(kind, *rest)
        if self.outermost and kind is None:
            journal = self.journal
            journal.commits += 1
            if self.durable:
                journal.durable_commits += 1
                if journal.anchor is not None and hasattr(journal, "damage"):
                    journal.record_head()
