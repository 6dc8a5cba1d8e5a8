"""The order journal: a durable, append-only, hash-chained record of every order decision.

Storage is SQLite in WAL mode with ``synchronous=FULL`` (a commit survives power
loss, not only a crash). ``events`` is append-only - triggers make UPDATE and
DELETE fail - and each event's ``hash`` is ``sha256(prev_hash + canonical event)``,
so :meth:`Journal.verify` finds the first edited, inserted or removed event.

``intents`` is a projection of the events (the current state of each order
intent) kept in the same transactions, so risk checks can count orders in flight
with one indexed query. The intent id determines the ``client_order_id``
(``tab-<journal id>-<intent id>``): retries of an intent reuse it, a new intent
never does.

Every decision that must be atomic across processes (risk checks plus the
intent they admit) runs in one :meth:`Journal.transaction` (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._sqlite import connect, immediate
from ..errors import BrokerConfigurationError
from .records import (
    FINAL_STATUSES,
    GENESIS,
    OPEN_STATUSES,
    UNRESOLVED,
    IntentRecord,
    VerifyResult,
    advances,
    canonical,
    chain_hash,
    progress,
    record_from_row,
    stamp,
    walk_chain,
)
from .schema import create

# The record types are re-exported: callers import them from here.
__all__ = ["OPEN_STATUSES", "UNRESOLVED", "IntentRecord", "Journal", "VerifyResult"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _observation(was: str, now: str, order: Any, event: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an observation of an intent's order records (its projection is added after)."""
    return {
        "from": was,
        "to": now,
        "order_id": order.order_id,
        "filled_qty": str(order.filled_qty),
        **(event or {}),
    }


class Journal:
    """One journal file. Safe to share between threads; several processes may open one file."""

    def __init__(self, path: str | Path, *, now: Callable[[], dt.datetime] = _utcnow) -> None:
        self.path = Path(path)
        self.now = now
        #: Commits, and those that waited for the disk (``synchronous=FULL``).
        self.commits = 0
        self.durable_commits = 0
        self._lock = threading.RLock()
        #: The chain's last (seq, hash), known inside the current transaction only.
        self._head: tuple[int, str] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise BrokerConfigurationError(
                f"cannot open the order journal at {self.path} ({exc}); fix 'journal_path'"
            ) from None
        with self.transaction():
            create(self._db)
            if self._meta("journal_id") is None:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('journal_id', ?)",
                    (secrets.token_hex(4),),
                )
            self.journal_id: str = self._meta("journal_id") or ""
            # The journal's identity, bound to the chain (the first event of a new journal;
            # journals written before identities were chained get theirs now).
            if not self._db.execute(
                "SELECT 1 FROM events WHERE kind = 'journal' LIMIT 1"
            ).fetchone():
                self.append("journal", {"journal_id": self.journal_id})

    def __repr__(self) -> str:
        return f"<Journal {self.path} id={self.journal_id}>"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def pragma(self, name: str) -> Any:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def transaction(self, *, durable: bool = True) -> AbstractContextManager[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: one atomic unit; nested calls join it.

        Durable (``synchronous=FULL``) unless ``durable=False``, for records that
        reconciliation can rebuild from the broker (its answers and updates): those
        survive a crash of the process, and a power loss at worst takes them back
        to what the broker is asked again at start-up.
        """
        on_commit = self._committed_durably if durable else self._committed
        return immediate(
            self._db, self._lock, on_commit, on_begin=self._forget_head, durable=durable
        )

    def _committed(self) -> None:
        self.commits += 1

    def _committed_durably(self) -> None:
        self.commits += 1
        self.durable_commits += 1

    def _forget_head(self) -> None:
        self._head = None

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
            if self._head is None:  # first event of this transaction: read the chain's end
                last = self._db.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                self._head = (0, GENESIS) if last is None else (last["seq"], last["hash"])
            seq, prev = self._head[0] + 1, self._head[1]
            at = stamp(self.now())
            body = canonical(payload)
            digest = chain_hash(prev, seq, at, kind, intent_id, broker, body)
            self._db.execute(
                "INSERT INTO events (seq, at, kind, intent_id, broker, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, at, kind, intent_id, broker, body, prev, digest),
            )
            self._head = (seq, digest)
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
        rows = [dict(row) for row in self._db.execute(sql, params).fetchall()[::-1]]
        return [{**row, "payload": json.loads(row["payload"])} for row in rows]

    def verify(self) -> VerifyResult:
        """Walk the chain from the first event; report the first broken link."""
        try:
            query = "SELECT * FROM events ORDER BY seq"  # pragma: no mutate
            rows = [dict(row) for row in self._db.execute(query).fetchall()]
        except sqlite3.DatabaseError as exc:
            return VerifyResult(False, 0, None, f"the journal file is damaged: {exc}")
        return walk_chain(rows)

    def head(self) -> tuple[int, str] | None:
        """The chain's last event as (seq, hash): an anchor to keep outside the file."""
        row = self._db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row["seq"]), str(row["hash"]))

    def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of one of the journal's tables (``meta``, ``intents``), for audits."""
        if name not in ("meta", "intents"):
            raise ValueError(f"not a journal table: {name!r}")
        return [dict(row) for row in self._db.execute(f"SELECT * FROM {name}").fetchall()]

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- intents ---------------------------------------------------------------------

    def new_intent(self, values: Mapping[str, Any], payload: Mapping[str, Any]) -> IntentRecord:
        """Record an intent (status ``values["status"]``) and its ``intent`` event."""
        with self.transaction():
            row = self._db.execute("SELECT COALESCE(MAX(intent_id), 0) + 1 FROM intents").fetchone()
            intent_id = int(row[0])
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
            self._db.execute(
                f"INSERT INTO intents ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )
            # The row as written goes into the chain: `audit` rebuilds the table from it.
            self.append(
                "intent",
                {
                    **payload,
                    "client_order_id": record["client_order_id"],
                    "projection": {k: v for k, v in row.items() if k != "intent_id"},
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
            self._db.execute(
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

    def observe(
        self,
        intent_id: int,
        order: Any,
        *,
        kind: str,
        event: Mapping[str, Any] | None = None,
        record_unchanged: bool = False,
        current: IntentRecord | None = None,
    ) -> str | None:
        """Record what the broker says of an intent's order; the new status when it was news.

        The projection only moves forward (see :func:`advances`): a duplicate or
        an observation that arrived out of order changes nothing (None), and its
        event is appended only with ``record_unchanged`` (a submission's answer is
        always kept). A final status is never left, though a larger filled
        quantity is still taken. The record is not durable on its own
        (``transaction(durable=False)``): reconciliation can ask the broker again.
        ``current``, the intent as the caller just read it, saves a look-up when
        the observation turns out to be no news.
        """
        if not record_unchanged:
            seen = current if current is not None else self.intent(intent_id)
            if self._change(seen, order) is None:
                return None  # no news: no write transaction, no lock taken from the gate
        with self.transaction(durable=False):
            current = self.intent(intent_id)
            change = self._change(current, order)
            record = _observation(current.status, change or current.status, order, event)
            if change is not None:
                filled = max(Decimal(order.filled_qty), current.filled_qty)
                record["projection"] = self._move(intent_id, change, order.order_id, filled)
            self.append(kind, record, intent_id=intent_id, broker=current.broker)
        return change

    def record_answer(
        self, intent: IntentRecord, order: Any, *, kind: str, event: Mapping[str, Any]
    ) -> str:
        """Record the broker's answer to a submission (as :meth:`observe` would); its status.

        The intent is normally still as the gate wrote it: an UPDATE that requires
        that state saves reading it back. When something recorded news first, this
        is :meth:`observe`.
        """
        status, filled = str(order.status.value), Decimal(order.filled_qty)
        with self.transaction(durable=False):
            if advances("submitting", Decimal(0), status, filled):
                moved = self._move(intent.intent_id, status, order.order_id, filled, fresh=True)
                if moved is not None:
                    record = _observation("submitting", status, order, event)
                    record["projection"] = moved
                    self.append(kind, record, intent_id=intent.intent_id, broker=intent.broker)
                    return status
            change = self.observe(
                intent.intent_id, order, kind=kind, event=event, record_unchanged=True
            )
            return change or self.intent(intent.intent_id).status

    def _move(
        self, intent_id: int, status: str, order_id: str, filled: Decimal, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """Write an observation into the intent's row; the columns written (its projection).

        ``fresh``: only if the row is still as the gate wrote it (else None, nothing written).
        """
        projection = {
            "status": status,
            "order_id": order_id,
            "filled_qty": str(filled),
            "updated_at": stamp(self.now()),
        }
        sql = (
            "UPDATE intents SET status = ?, order_id = ?, filled_qty = ?, updated_at = ? "
            "WHERE intent_id = ?"
        )
        if fresh:
            sql += " AND status = 'submitting' AND order_id IS NULL AND filled_qty IS NULL"
        moved = self._db.execute(sql, (*projection.values(), intent_id)).rowcount
        return projection if moved == 1 else None

    @classmethod
    def is_news(cls, current: IntentRecord, order: Any) -> bool:
        """Whether :meth:`observe` would change ``current`` for ``order`` (no journal access)."""
        return cls._change(current, order) is not None

    @staticmethod
    def _change(current: IntentRecord, order: Any) -> str | None:
        """The status ``order`` moves ``current`` to, or None when it is no news."""
        status, filled = str(order.status.value), Decimal(order.filled_qty)
        forward = advances(current.status, current.filled_qty, status, filled)
        moved = current.order_id is not None and order.order_id != current.order_id
        if current.status == "denied" or not (forward or moved):
            return None
        if forward and not (current.status in FINAL_STATUSES and progress(status) < 4):
            return status
        return current.status

    def max_intent_id(self) -> int:
        """The newest intent's id (0 in an empty journal)."""
        return int(
            self._db.execute("SELECT COALESCE(MAX(intent_id), 0) FROM intents").fetchone()[0]
        )

    def intents_after(self, intent_id: int, broker: str) -> list[IntentRecord]:
        """Intents of ``broker`` newer than ``intent_id``, oldest first."""
        # ``+broker``: walk the key range from ``intent_id``; an index on broker would
        # visit (and sort) every intent the broker ever had, on each order.
        rows = self._db.execute(
            "SELECT * FROM intents WHERE intent_id > ? AND +broker = ? ORDER BY intent_id",
            (intent_id, broker),
        ).fetchall()
        return [record_from_row(row) for row in rows]

    def intents_by_id(self, intent_ids: Iterable[int]) -> list[IntentRecord]:
        """The intents with these ids (those that exist)."""
        wanted = list(intent_ids)
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = self._db.execute(f"SELECT * FROM intents WHERE intent_id IN ({marks})", wanted)
        return [record_from_row(row) for row in rows.fetchall()]

    def count_admitted(self, broker: str, since: dt.datetime) -> int:
        """How many intents of ``broker`` were admitted (not denied) since ``since``."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM intents WHERE broker = ? AND created_at >= ? "
            "AND status != 'denied'",
            (broker, stamp(since)),
        ).fetchone()
        return int(row[0])

    def admitted_stamps(self, broker: str, since: str, up_to: int) -> list[str]:
        """When each intent of ``broker`` admitted since ``since``, up to id ``up_to``, was made."""
        rows = self._db.execute(
            "SELECT created_at FROM intents WHERE broker = ? AND created_at >= ? "
            "AND status != 'denied' AND intent_id <= ? ORDER BY created_at",
            (broker, since, up_to),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def admitted_with_key(
        self, broker: str, since: dt.datetime, dedupe_key: str
    ) -> IntentRecord | None:
        """The newest admitted intent of ``broker`` since ``since`` with ``dedupe_key``."""
        row = self._db.execute(
            "SELECT * FROM intents WHERE broker = ? AND created_at >= ? AND status != 'denied' "
            "AND dedupe_key = ? ORDER BY intent_id DESC LIMIT 1",
            (broker, stamp(since), dedupe_key),
        ).fetchone()
        return None if row is None else record_from_row(row)

    def intent(self, key: int | str) -> IntentRecord:
        column = "intent_id" if isinstance(key, int) else "client_order_id"
        row = self._db.execute(f"SELECT * FROM intents WHERE {column} = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no intent {key!r} in the journal {self.path}")
        return record_from_row(row)

    def intents(
        self,
        *,
        broker: str | None = None,
        statuses: Iterable[str] | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
        updated_since: dt.datetime | None = None,
    ) -> list[IntentRecord]:
        """Intents, newest first, filtered by broker, statuses, creation and update time."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if broker is not None:
            where.append("broker = ?")
            params.append(broker)
        if statuses is not None:
            wanted = sorted(statuses)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if since is not None:
            where.append("created_at >= ?")
            params.append(stamp(since))
        if updated_since is not None:
            where.append("updated_at >= ?")
            params.append(stamp(updated_since))
        sql = f"SELECT * FROM intents WHERE {' AND '.join(where)} ORDER BY intent_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [record_from_row(row) for row in self._db.execute(sql, params).fetchall()]

    # -- trading state ---------------------------------------------------------------

    def trading_state(self) -> dict[str, Any]:
        """The last trading-state event's payload; ACTIVE when there is none."""
        row = self._db.execute(
            "SELECT payload, at FROM events WHERE kind = 'trading_state' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
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
