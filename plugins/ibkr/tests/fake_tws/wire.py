"""TWS's socket API on the wire: framing, the messages the fake sends, and placeOrder read back.

Every message is a 4-byte big-endian length and NUL-terminated text fields; the
first field is the message id, often followed by a version. The client opens
with ``API\\0`` and a framed ``v<min>..<max>``; the server answers with its
version and time. The layouts below are those ib_async's decoder reads for
server version :data:`SERVER_VERSION` (``tests/test_fake_wire.py`` decodes each
with ib_async itself).
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal
from typing import Any

SERVER_VERSION = 176


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value)


def frame(fields: list[Any]) -> bytes:
    body = "".join(f"{text(f)}\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


def split(body: bytes) -> list[str]:
    fields = body.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def tws_time(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y%m%d %H:%M:%S UTC")


# -- contracts: the 11 fields most messages carry ---------------------------------------


def contract(stock: Any, *, primary: bool = False) -> list[Any]:
    """conId, symbol, secType, expiry, strike, right, multiplier, exchange (or primary
    exchange), currency, localSymbol, tradingClass."""
    exchange = stock.primary if primary else "SMART"
    return [stock.con_id, stock.symbol, "STK", "", 0, "", "", exchange, "USD", stock.symbol, "NMS"]


# -- orders --------------------------------------------------------------------------------


def _price(value: Decimal | None) -> Any:
    return "" if value is None else value


def open_order(o: Any, version: int = SERVER_VERSION) -> list[Any]:
    fields = [5, o.order_id, *contract(o.stock)]
    fields += [o.action, o.qty, o.order_type, _price(o.lmt), _price(o.aux), o.tif, o.oca_group]
    fields += [o.account, "O", 0, o.order_ref, o.client_id, o.perm_id, o.outside_rth, False]
    fields += [0, "", "", "", "", ""]  # discretionaryAmt, goodAfterTime, shares, FA group/method/%
    if version < 177:
        fields += [""]  # faProfile
    fields += ["", o.good_till_date]  # modelCode, goodTillDate
    fields += ["", "", "", 0, "", -1, 0, "", "", "", "", ""]  # rule80A..stockRangeUpper
    fields += [0, False, False, False, "", o.oca_type, False, False, "", o.parent_id, 0]
    fields += ["", 0, "", ""]  # volatility, volatilityType, deltaNeutralOrderType, aux
    fields += [0, 0, "", _price(o.trailing_percent), "", "", ""]  # ..trailStop, %, basis, combo
    fields += [0, 0, 0]  # combo legs, order combo legs, smart combo params
    fields += ["", "", ""]  # scale init/subs sizes, price increment
    fields += [""]  # hedgeType
    fields += [False, "", "", False, False]  # optOutSmartRouting .. notHeld, no delta neutral
    fields += [""]  # algoStrategy
    fields += [False, False, o.status] + [""] * 14 + [False, False]  # .. warningText, randomize
    fields += [0]  # conditions
    fields += ["", "", "", "", "", "", "", 0, "", "", "", "", False, False, "", False]
    fields += ["", False, False]  # duration, postToAts, autoCancelParent
    fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return fields


def completed_order(o: Any, version: int = SERVER_VERSION) -> list[Any]:
    fields = [101, *contract(o.stock)]
    fields += [o.action, o.qty, o.order_type, _price(o.lmt), _price(o.aux), o.tif, o.oca_group]
    fields += [o.account, "O", 0, o.order_ref, o.perm_id, o.outside_rth, False, 0, "", "", "", ""]
    if version < 177:
        fields += [""]
    fields += ["", o.good_till_date, "", "", "", 0, "", -1, "", "", "", "", "", 0, False, False]
    fields += ["", o.oca_type]  # minQty, ocaType
    fields += [0, "", 0, "", ""]  # triggerMethod, volatility, type, delta neutral type, aux
    fields += [0, 0, "", _price(o.trailing_percent), ""]
    fields += [0, 0, 0, "", "", "", ""]  # combo legs/params, scale, hedgeType
    fields += ["", "", False, False, ""]  # clearing account/intent, notHeld, dnc, algo
    fields += [False, o.status, False, False, 0]  # solicited, status, randomize, conditions
    fields += ["", "", "", False, False, "", o.filled, 0, False, "", False, False, 0]
    fields += [o.completed_time, o.status]  # completedTime, completedStatus
    fields += ["", "", "", "", ""]
    return fields


def order_status(o: Any) -> list[Any]:
    remaining = o.qty - o.filled
    return [
        3,
        o.order_id,
        o.status,
        o.filled,
        remaining,
        o.avg_price,
        o.perm_id,
        o.parent_id,
        o.last_price,
        o.client_id,
        "",
        0,
    ]


def exec_details(req_id: int, o: Any, execution: Any) -> list[Any]:
    side = "BOT" if o.action == "BUY" else "SLD"
    fields = [11, req_id, o.order_id, *contract(o.stock), execution.exec_id, execution.time]
    fields += [o.account, "ISLAND", side, execution.shares, execution.price, o.perm_id]
    fields += [o.client_id, 0, execution.cum_qty, execution.avg_price, o.order_ref, "", "", "", 1]
    return fields


def commission_report(exec_id: str) -> list[Any]:
    return [59, 1, exec_id, Decimal("1.00"), "USD", "", "", ""]


def error(req_id: int, code: int, message: str) -> list[Any]:
    return [4, 2, req_id, code, message, ""]


# -- account and positions -------------------------------------------------------------------


def position(account: str, stock: Any, qty: Decimal, avg: Decimal) -> list[Any]:
    return [61, 3, account, *contract(stock), qty, avg]


def portfolio(account: str, stock: Any, qty: Decimal, price: Decimal, avg: Decimal) -> list[Any]:
    value = qty * price
    upnl = value - qty * avg
    return [7, 8, *contract(stock, primary=True), qty, price, value, avg, upnl, 0, account]


def account_value(tag: str, value: Any, currency: str, account: str) -> list[Any]:
    return [6, 2, tag, value, currency, account]


# -- contracts and market data -------------------------------------------------------------


def contract_details(req_id: int, stock: Any, hours: str, zone: str) -> list[Any]:
    fields = [10, req_id, stock.symbol, "STK", "", 0, "", "SMART", "USD", stock.symbol]
    fields += ["NMS", "NMS", stock.con_id, Decimal("0.01")]
    fields += ["", "LMT,MKT,STP,STP LMT,TRAIL", "SMART,NASDAQ,NYSE", 1, 0, stock.name]
    fields += [stock.primary, "", "", "", "", zone, hours, hours, "", "", 0]
    fields += [1, "", "", "26", "", "COMMON", 1, 1, 100]
    return fields


def tick_price(req_id: int, tick_type: int, price: Decimal) -> list[Any]:
    return [1, 6, req_id, tick_type, price, 100, 0]


def tick_string(req_id: int, tick_type: int, value: str) -> list[Any]:
    return [46, 6, req_id, tick_type, value]


# -- reading placeOrder -----------------------------------------------------------------------

_CONTRACT = ["conId", "symbol", "secType", "expiry", "strike", "right", "multiplier"]
_CONTRACT += ["exchange", "primaryExchange", "currency", "localSymbol", "tradingClass"]
_HEAD = ["msgId", "orderId", *_CONTRACT, "secIdType", "secId", "action", "totalQuantity"]
_HEAD += ["orderType", "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose"]
_HEAD += ["origin", "orderRef", "transmit", "parentId", "blockOrder", "sweepToFill"]
_HEAD += ["displaySize", "triggerMethod", "outsideRth", "hidden", "shares", "discretionaryAmt"]
_HEAD += ["goodAfterTime", "goodTillDate", "faGroup", "faMethod", "faPercentage"]
_MIDDLE = ["modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType"]
_MIDDLE += ["rule80A", "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly"]
_MIDDLE += ["firmQuoteOnly", "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice"]
_MIDDLE += ["delta", "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints"]
_MIDDLE += ["volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice"]
_TAIL = ["continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent"]


def read_place_order(fields: list[str], version: int = SERVER_VERSION) -> dict[str, str]:
    """The fields of a placeOrder message, by name, up to ``trailingPercent``."""
    names = [*_HEAD, *(["faProfile"] if version < 177 else []), *_MIDDLE]
    values = dict(zip(names, fields, strict=False))
    rest = fields[len(names) :]
    if values.get("deltaNeutralOrderType"):
        rest = rest[8:]
    values.update(zip(_TAIL, rest, strict=False))
    return values


def decimal_or_none(value: str | None) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None
