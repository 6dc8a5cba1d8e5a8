"""Reads of the journal's ``intents`` projection: what the risk checks and reconciliation count.

Each is one indexed query, the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from ..store.backend import Backend
from .records import IntentRecord, record_from_row, stamp

__all__ = ["IntentQueries"]


class IntentQueries:
    """The intent reads of :class:`~tradingagents_brokers.safety.journal.Journal`."""

    backend: Backend
    location: str

    def max_intent_id(self) -> int:
        """The newest intent's id (0 in an empty journal)."""
        row = self.backend.query_one("SELECT COALESCE(MAX(intent_id), 0) AS last FROM intents")
        return int(row["last"]) if row else 0

    def intents_after(self, intent_id: int, broker: str) -> list[IntentRecord]:
        """Intents of ``broker`` newer than ``intent_id``, oldest first."""
        # ``+broker``: walk the key range from ``intent_id``; an index on broker would
        # visit (and sort) every intent the broker ever had, on each order.
        hint = "+" if self.backend.dialect == "sqlite" else ""
        rows = self.backend.query(
            f"SELECT * FROM intents WHERE intent_id > ? AND {hint}broker = ? ORDER BY intent_id",
            (intent_id, broker),
        )
        return [record_from_row(row) for row in rows]

    def payloads_since(self, kind: str, broker: str, since: dt.datetime) -> list[dict[str, Any]]:
        """The payloads of ``broker``'s ``kind`` events since ``since``, oldest first."""
        rows = self.backend.query(
            "SELECT payload FROM events WHERE kind = ? AND broker = ? AND at >= ? ORDER BY seq",
            (kind, broker, stamp(since)),
        )
        return [json.loads(row["payload"]) for row in rows]

    def decided(self, intent_id: int) -> dict[str, Any]:
        """What was recorded when the intent was decided (its ``intent`` event): the
        request, the context, the verdicts, the state; {} if there is none."""
        row = self.backend.query_one(
            "SELECT payload FROM events WHERE intent_id = ? AND kind = 'intent' ORDER BY seq",
            (intent_id,),
        )
        if row is None:
            return {}
        payload: dict[str, Any] = json.loads(row["payload"])
        return payload

    def intents_by_id(self, intent_ids: Iterable[int]) -> list[IntentRecord]:
        """The intents with these ids (those that exist)."""
        wanted = list(intent_ids)
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = self.backend.query(f"SELECT * FROM intents WHERE intent_id IN ({marks})", wanted)
        return [record_from_row(row) for row in rows]

    def count_admitted(self, broker: str, since: dt.datetime) -> int:
        """How many intents of ``broker`` were admitted (not denied) since ``since``."""
        row = self.backend.query_one(
            "SELECT COUNT(*) AS n FROM intents WHERE broker = ? AND created_at >= ? "
            "AND status != 'denied'",
            (broker, stamp(since)),
        )
        return int(row["n"]) if row else 0

    def count_closes(self, broker: str, since: dt.datetime) -> int:
        """How many closes of ``broker`` were sent (``close_requested``) since ``since``."""
        row = self.backend.query_one(
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'close_requested' AND broker = ? "
            "AND at >= ?",
            (broker, stamp(since)),
        )
        return int(row["n"]) if row else 0

    def count_refused(self, broker: str, since: dt.datetime, sources: Iterable[str]) -> int:
        """How many orders of ``broker`` from ``sources`` were refused since ``since``."""
        wanted = sorted(sources)
        row = self.backend.query_one(
            "SELECT COUNT(*) AS n FROM intents WHERE broker = ? AND created_at >= ? "
            f"AND status = 'denied' AND source IN ({', '.join('?' for _ in wanted)})",
            (broker, stamp(since), *wanted),
        )
        return int(row["n"]) if row else 0

    def admitted_stamps(self, broker: str, since: str, up_to: int) -> list[str]:
        """When each intent of ``broker`` admitted since ``since``, up to id ``up_to``, was made."""
        rows = self.backend.query(
            "SELECT created_at FROM intents WHERE broker = ? AND created_at >= ? "
            "AND status != 'denied' AND intent_id <= ? ORDER BY created_at",
            (broker, since, up_to),
        )
        return [str(row["created_at"]) for row in rows]

    def admitted_with_key(
        self, broker: str, since: dt.datetime, dedupe_key: str
    ) -> IntentRecord | None:
        """The newest intent of ``broker`` since ``since`` with ``dedupe_key`` that may be
        at the broker: not denied by the gate, refused by the broker or found never placed
        (those are no order to repeat; an identical retry of them is not a duplicate)."""
        row = self.backend.query_one(
            "SELECT * FROM intents WHERE broker = ? AND created_at >= ? "
            "AND status NOT IN ('denied', 'rejected', 'not_placed') "
            "AND dedupe_key = ? ORDER BY intent_id DESC LIMIT 1",
            (broker, stamp(since), dedupe_key),
        )
        return None if row is None else record_from_row(row)

    def intent(self, key: int | str) -> IntentRecord:
        column = "intent_id" if isinstance(key, int) else "client_order_id"
        row = self.backend.query_one(f"SELECT * FROM intents WHERE {column} = ?", (key,))
        if row is None:
            raise KeyError(f"no intent {key!r} in the journal {self.location}")
        return record_from_row(row)

    def symbol_of(
        self, broker: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> str | None:
        """The symbol of the order this journal placed with that id, or None if it has none."""
        column, key = (
            ("order_id", order_id) if order_id is not None else ("client_order_id", client_order_id)
        )
        row = self.backend.query_one(
            f"SELECT symbol FROM intents WHERE broker = ? AND {column} = ? LIMIT 1", (broker, key)
        )
        return None if row is None else str(row["symbol"])

    def intents(
        self,
        *,
        broker: str | None = None,
        statuses: Iterable[str] | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
        updated_since: dt.datetime | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[IntentRecord]:
        """Intents, newest first, filtered by broker, statuses, creation and update time
        (``since`` from that time on; ``after`` and ``until`` strictly between)."""
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
        for bound, op in ((after, ">"), (until, "<")):
            if bound is not None:
                where.append(f"created_at {op} ?")
                params.append(stamp(bound))
        sql = f"SELECT * FROM intents WHERE {' AND '.join(where)} ORDER BY intent_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [record_from_row(row) for row in self.backend.query(sql, params)]

    def last_intent_id(self) -> int:
        """The highest intent id in the table or the chain (0 for none)."""
        row = self.backend.query_one(
            "SELECT MAX(n) AS last FROM (SELECT MAX(intent_id) AS n FROM intents "
            "UNION ALL SELECT MAX(intent_id) AS n FROM events "
            "UNION ALL SELECT MAX(max_intent_id) AS n FROM archives) AS ids"
        )
        return int(row["last"] or 0) if row else 0

    def intents_between(self, low: int, high: int) -> list[dict[str, Any]]:
        """The rows of intents ``low`` to ``high`` as stored (for audits)."""
        return self.backend.query(
            "SELECT * FROM intents WHERE intent_id BETWEEN ? AND ? ORDER BY intent_id", (low, high)
        )
