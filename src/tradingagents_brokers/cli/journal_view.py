"""What ``journal list`` and ``journal show`` print: intents, and the closes beside them.

A close is journaled as events (``close_requested``, then ``close`` or
``close_all`` with the broker's answer), not as an intent, because it is sent
for a position rather than decided as an order. People still look for it in
``journal list``, so the listing reads those events too and shows each closing
order as a row of kind ``close`` (no intent id; ``journal show`` finds it by its
client order id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidOrderError
from ..listing import check_window
from ..safety.journal import Journal
from ..safety.records import IntentRecord, stamp
from .render import SHORT_ID

__all__ = ["close_event", "close_rows", "find_intent", "listing"]

_CLOSES = "SELECT seq, at, kind, broker, payload FROM events WHERE kind IN ('close', 'close_all')"


def _rows_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    payload = event["payload"]
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    if not isinstance(payload, dict):
        return []
    if event["kind"] == "close":
        answers = [payload.get("order")]
    else:
        answers = [r.get("order") for r in payload.get("results") or [] if isinstance(r, dict)]
    rows = []
    for order in answers:
        if not isinstance(order, dict):
            continue
        rows.append(
            {
                "kind": "close",
                "intent_id": None,
                "created_at": event["at"],
                "source": payload.get("source"),
                "broker": event.get("broker"),
                "symbol": order.get("symbol"),
                "side": order.get("side"),
                "qty": order.get("qty"),
                "notional": order.get("notional"),
                "status": order.get("status"),
                "client_order_id": order.get("client_order_id"),
                "order_id": order.get("order_id"),
                "event": event["seq"],
            }
        )
    return rows


def close_rows(
    journal: Journal,
    limit: int | None,
    after: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest closing orders in the journal, newest first (between ``after`` and
    ``until``, both left out, when given)."""
    sql = _CLOSES
    params: list[Any] = []
    for bound, op in ((after, ">"), (until, "<")):
        if bound is not None:
            sql += f" AND at {op} ?"
            params.append(stamp(bound))
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row for event in journal.backend.query(sql, params) for row in _rows_of(event)]


def listing(
    journal: Journal,
    statuses: Iterable[str] | None,
    limit: int | None,
    after: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Intents and closes, newest first, at most ``limit`` of them, made strictly between
    ``after`` and ``until`` when given."""
    check_window(after, until)
    wanted = set(statuses) if statuses else None
    found = journal.intents(statuses=wanted, limit=limit, after=after, until=until)
    intents = [{"kind": "intent", **i.to_dict()} for i in found]
    closes = [
        r
        for r in close_rows(journal, limit, after, until)
        if wanted is None or r["status"] in wanted
    ]
    merged = sorted(intents + closes, key=lambda r: str(r["created_at"]), reverse=True)
    kept = merged[:limit] if limit is not None else merged
    keys = list(dict.fromkeys(k for r in intents + closes for k in r))
    return [{k: r.get(k) for k in keys} for r in kept]  # one set of fields, for exports


def close_event(journal: Journal, client_order_id: str) -> dict[str, Any] | None:
    """The journal event of the close that sent ``client_order_id`` (or the one order whose
    client order id starts with it), if one did."""
    rows = journal.backend.query(
        _CLOSES + " AND payload LIKE ? ORDER BY seq DESC", (f"%{client_order_id}%",)
    )
    found = [
        event
        for event in rows
        if any(str(r["client_order_id"]).startswith(client_order_id) for r in _rows_of(event))
    ]
    if not found:
        return None
    if len(found) > 1:
        raise InvalidOrderError(
            f"{client_order_id!r} starts {len(found)} closes' client order ids; type more of it"
        )
    event = found[0]
    payload = event["payload"]
    parsed = json.loads(payload) if isinstance(payload, str) else payload
    return {**event, "payload": parsed}


def find_intent(journal: Journal, given: str) -> IntentRecord | None:
    """The intent with id or client order id ``given``, or whose client order id starts
    with it (the short form ``journal list`` shows)."""
    key: int | str = int(given) if given.isdigit() else given
    try:
        return journal.intent(key)
    except KeyError:
        pass
    if isinstance(key, int) or len(given) < SHORT_ID:
        return None
    pattern = given.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    rows = journal.backend.query(
        "SELECT client_order_id FROM intents WHERE client_order_id LIKE ? ESCAPE '!' LIMIT 2",
        (pattern,),
    )
    if len(rows) > 1:
        raise InvalidOrderError(f"{given!r} starts more than one intent's client order id")
    return journal.intent(str(rows[0]["client_order_id"])) if rows else None
