"""What the journal records: order statuses, intent rows and the hash chain's arithmetic.

Kept apart from :mod:`~tradingagents_brokers.safety.journal` (the storage) so the
risk checks, the state cache and the stream can read these without the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

__all__ = [
    "FINAL_STATUSES",
    "GENESIS",
    "OPEN_STATUSES",
    "UNRESOLVED",
    "IntentRecord",
    "VerifyResult",
    "advances",
    "as_text",
    "canonical",
    "chain_hash",
    "compact",
    "order_record",
    "progress",
    "record_from_row",
    "stamp",
    "walk_chain",
]

GENESIS = "0" * 64
#: How many events a verification walks between two progress reports.
PROGRESS_EVERY = 5000
#: Intents whose outcome at the broker is not known yet: they count against every limit.
UNRESOLVED = frozenset({"submitting", "unknown"})
#: Statuses of intents that may still fill.
OPEN_STATUSES = UNRESOLVED | frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "partially_filled",
        "done_for_day",
        "pending_cancel",
        "pending_replace",
        "pending_review",
        "held",
        "suspended",
        "calculated",
        "stopped",
    }
)

#: Statuses after which an order can no longer change (and ``denied``: it never existed).
FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "replaced", "rejected", "denied"})


def progress(status: str) -> int:
    """How far along its life an order with ``status`` is, for ordering observations.

    Unresolved and reconciliation verdicts (``not_placed``, ``missing``) are 0: any
    word from the broker is news. Then open, partly filled, pending a cancel or
    replace, and final.
    """
    if status in UNRESOLVED or status in ("not_placed", "missing"):
        return 0
    if status == "partially_filled":
        return 2
    if status in ("pending_cancel", "pending_replace"):
        return 3
    if status in FINAL_STATUSES:
        return 4
    return 1


def advances(status: str, filled: Decimal, new_status: str, new_filled: Decimal) -> bool:
    """Whether an observation (``new_status``, ``new_filled``) is news over the current state.

    More filled quantity is always news; otherwise only a later stage of the
    order's life is. Duplicates and observations that arrive out of order are not.
    """
    if new_filled != filled:
        return new_filled > filled
    return progress(new_status) > progress(status)


def stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without what goes without saying in a record: None, False and "".

    Journal payloads are written this way; a reader takes a missing key as that.
    """
    return {k: v for k, v in values.items() if v is not None and v is not False and v != ""}


#: The order fields an answer repeats from its request: recorded only when they differ.
_ASKED = (
    "client_order_id",
    "symbol",
    "side",
    "qty",
    "notional",
    "order_type",
    "time_in_force",
    "limit_price",
    "stop_price",
    "extended_hours",
)


def order_record(
    order: Mapping[str, Any], asked: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An order for the journal: what the broker said, less what ``asked`` (the request) said."""
    record = compact(order)
    if asked:
        for key in _ASKED:
            if key in record and record[key] == asked.get(key):
                del record[key]
    return record


def canonical(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, Decimals and others as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)


def chain_hash(
    prev_hash: str, seq: int, at: str, kind: str, intent_id: Any, broker: Any, payload: str
) -> str:
    body = canonical([seq, at, kind, intent_id, broker, payload])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@attrs.frozen
class IntentRecord:
    """The current state of one order intent (a row of the ``intents`` projection)."""

    intent_id: int
    client_order_id: str
    broker: str
    symbol: str
    side: str
    qty: Decimal | None
    notional: Decimal | None
    value: Decimal | None
    dedupe_key: str
    status: str
    order_id: str | None
    source: str
    created_at: str
    updated_at: str
    #: Quantity filled, as last observed from the broker.
    filled_qty: Decimal = Decimal(0)
    #: The gated broker that journaled it, and sends it (``store.registry``).
    owner: str | None = None

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in attrs.asdict(self).items()}


@attrs.frozen
class VerifyResult:
    """The outcome of walking the hash chain."""

    ok: bool
    events: int
    broken_at: int | None = None
    problem: str = ""


_COLUMNS = ("at", "kind", "broker", "payload", "prev_hash", "hash")


def as_text(row: Mapping[str, Any]) -> dict[str, Any] | str:
    """An event row with its text columns decoded, or the name of a column that is not text.

    SQLite hands back a damaged column as bytes (the chain is read with its text
    cast to bytes, so a flipped byte cannot stop the walk).
    """
    decoded = dict(row)
    for column in _COLUMNS:
        value = decoded.get(column)
        if isinstance(value, bytes | memoryview):
            try:
                decoded[column] = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return column
    return decoded


def walk_chain(
    rows: Iterable[Mapping[str, Any]],
    progress: Callable[[int], None] | None = None,
    start: tuple[int, str] = (0, GENESIS),
) -> VerifyResult:
    """Check every event's link and hash, from the first; report the first broken one.

    ``rows`` may be any iterable (a stream read a chunk at a time): nothing is kept
    but the previous hash. ``progress`` is told how many events were walked, now and then.
    ``start`` is the event the rows go on from, as ``(seq, hash)``: the chain's
    beginning, or the last event an archive sealed.
    """
    prev = start[1]
    count = 0
    for expected, raw in enumerate(rows, start=start[0] + 1):
        count += 1
        seq = raw["seq"]
        if seq != expected:
            return VerifyResult(False, count, expected, f"event {expected} is missing")
        row = as_text(raw)
        if isinstance(row, str):
            return VerifyResult(
                False, count, seq, f"event {seq} is damaged: its {row} is not readable text"
            )
        if row["prev_hash"] not in ("", prev):  # empty: the link is in the hash alone
            return VerifyResult(False, count, seq, f"event {seq} does not link to event {seq - 1}")
        digest = chain_hash(
            prev, seq, row["at"], row["kind"], row["intent_id"], row["broker"], row["payload"]
        )
        if digest != row["hash"]:
            return VerifyResult(False, count, seq, f"event {seq} was altered (hash mismatch)")
        prev = row["hash"]
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return VerifyResult(True, count)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def record_from_row(row: Mapping[str, Any]) -> IntentRecord:
    return IntentRecord(
        intent_id=row["intent_id"],
        client_order_id=row["client_order_id"],
        broker=row["broker"],
        symbol=row["symbol"],
        side=row["side"],
        qty=_dec(row["qty"]),
        notional=_dec(row["notional"]),
        value=_dec(row["value"]),
        dedupe_key=row["dedupe_key"],
        status=row["status"],
        order_id=row["order_id"],
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        filled_qty=Decimal(row["filled_qty"] or 0),
        owner=row.get("owner"),
    )
