"""The columns each table shows on an 80-column terminal (``--wide`` shows every field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .render import SHORT_ID, Col, plain_number, side_style, sign_style, status_style

__all__ = ["CLOSED", "HISTORY", "INTENTS", "ORDERS", "PLUGINS", "POSITIONS", "when"]


def when(record: Mapping[str, Any], key: str) -> str | None:
    """An ISO 8601 time as ``MM-DD HH:MM:SS`` (the date's year and the zone left to --wide)."""
    value = record.get(key)
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "T ":
        return value
    return f"{value[5:10]} {value[11:19]}"


def _size(record: Mapping[str, Any]) -> Any:
    """Shares, or an amount of money for a notional order."""
    if record.get("qty") is not None:
        return plain_number(record["qty"])
    if record.get("notional") is not None:
        return f"${plain_number(record['notional'])}"
    return None


def _price(record: Mapping[str, Any]) -> str | None:
    parts = []
    if record.get("limit_price") is not None:
        parts.append(str(plain_number(record["limit_price"])))
    if record.get("stop_price") is not None:
        parts.append(f"stop {plain_number(record['stop_price'])}")
    return " ".join(parts) or None


def _filled(record: Mapping[str, Any]) -> str | None:
    qty = record.get("filled_qty")
    if qty in (None, "0"):
        return None
    price = record.get("filled_avg_price")
    return f"{plain_number(qty)} @ {plain_number(price)}" if price else str(plain_number(qty))


ORDERS = (
    Col("order_id", "id", keep=True, short=SHORT_ID),
    Col("submitted_at", "when", value=lambda r: when(r, "submitted_at")),
    Col("symbol", "symbol", keep=True),
    Col("side", "side", style=side_style),
    Col("qty", "qty", number=True, value=_size),
    Col("order_type", "type"),
    Col("limit_price", "price", number=True, value=_price),
    Col("status", "status", keep=True, style=status_style),
    Col("filled_qty", "filled", value=_filled),
)

POSITIONS = (
    Col("symbol", "symbol", keep=True),
    Col("qty", "qty", number=True, keep=True),
    Col("avg_entry_price", "avg price", number=True),
    Col("current_price", "price", number=True),
    Col("market_value", "value", number=True),
    Col("unrealized_pl", "p/l", number=True, style=sign_style),
    Col("unrealized_plpc", "p/l %", number=True, style=sign_style),
)

INTENTS = (
    Col("intent_id", "id", keep=True, number=True),
    Col("created_at", "when", value=lambda r: when(r, "created_at")),
    Col("source", "source"),
    Col("symbol", "symbol", keep=True),
    Col("side", "side", style=side_style),
    Col("qty", "qty", number=True, value=_size),
    Col("status", "status", keep=True, style=status_style),
    Col("client_order_id", "client order id", keep=True, short=14),
)

HISTORY = (
    Col("timestamp", "time", value=lambda r: when(r, "timestamp")),
    Col("equity", "equity", number=True),
    Col("profit_loss", "p/l", number=True, style=sign_style),
    Col("profit_loss_pct", "p/l %", number=True, style=sign_style),
)

PLUGINS = (
    Col("plugin", "plugin", keep=True),
    Col("distribution", "distribution"),
    Col("version", "version", keep=True),
    Col("brokers", "brokers", keep=True),
    Col("description", "description"),
)

CLOSED = (
    Col("symbol", "symbol", keep=True),
    Col("ok", "ok"),
    Col("order_id", "id", keep=True, short=SHORT_ID),
    Col("qty", "qty", number=True),
    Col("status", "status", keep=True, style=status_style),
    Col("error", "error", value=lambda r: (r.get("error") or {}).get("message")),
)
