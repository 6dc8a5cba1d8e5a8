"""The fake TWS's messages are what ib_async reads, field for field (its own decoder is the judge).

If a layout were off by one field, ib_async's decoder would log an error and
drop the message, or read a price into the wrong attribute; these tests decode
each message the fake sends with ib_async's ``Decoder`` and check the values,
and read back a ``placeOrder`` that ib_async's ``Client`` wrote.
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import LimitOrder, Order, Stock

from .fake_tws import wire
from .fake_tws.book import Execution, FakeOrder
from .fake_tws.book import Stock as FakeStock

AAPL = FakeStock("AAPL", 265598, "NASDAQ", "APPLE INC")


def fake_order(**fields: Any) -> FakeOrder:
    values: dict[str, Any] = {
        "client_id": 7,
        "order_id": 12,
        "stock": AAPL,
        "action": "SELL",
        "qty": Decimal(3),
        "order_type": "STP LMT",
        "tif": "GTC",
        "order_ref": "coid-1",
        "account": "DU1234567",
        "lmt": Decimal("189.25"),
        "aux": Decimal("189.50"),
        "perm_id": 900_123,
        "status": "PreSubmitted",
        "parent_id": 11,
        "oca_group": "g1",
        "oca_type": 1,
        "outside_rth": True,
        "good_till_date": "20270115-20:00:00",
    }
    values.update(fields)
    return FakeOrder(**values)


class Recorder:
    """A stand-in for ib_async's wrapper: keeps every call the decoder makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.ib = SimpleNamespace(TimezoneTWS=None)
        self.defaultTimezone = dt.UTC

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def decode(fields: list[Any], version: int = wire.SERVER_VERSION) -> tuple[str, tuple[Any, ...]]:
    from ib_async.decoder import Decoder

    recorder = Recorder()
    decoder = Decoder(recorder, version)  # type: ignore[arg-type]
    decoder.interpret(wire.split(wire.frame(fields)[4:]))
    assert len(recorder.calls) == 1, f"ib_async could not decode {fields[:3]}..."
    return recorder.calls[0]


@pytest.mark.parametrize("version", [176, 178])
def test_open_order_decodes_into_every_field_the_plugin_reads(version):
    name, (order_id, contract, order, state) = decode(
        wire.open_order(fake_order(), version), version
    )
    assert name == "openOrder"
    assert (order_id, order.orderId, order.clientId, order.permId) == (12, 12, 7, 900_123)
    assert (contract.symbol, contract.conId, contract.secType) == ("AAPL", 265598, "STK")
    assert (order.action, order.totalQuantity, order.orderType) == ("SELL", 3.0, "STP LMT")
    assert (order.lmtPrice, order.auxPrice, order.tif) == (189.25, 189.5, "GTC")
    assert (order.goodTillDate, order.rule80A) == ("20270115-20:00:00", "")
    assert (order.orderRef, order.parentId, order.ocaGroup, order.ocaType) == (
        "coid-1",
        11,
        "g1",
        1,
    )
    assert order.outsideRth is True
    assert order.whatIf is False
    assert state.status == "PreSubmitted"


def test_completed_order_decodes_with_its_filled_quantity():
    order = fake_order(status="Filled", filled=Decimal(3), completed_time="20250102 15:00:00 UTC")
    name, (_contract, decoded, state) = decode(wire.completed_order(order))
    assert name == "completedOrder"
    assert (decoded.permId, decoded.orderRef, decoded.filledQuantity) == (900_123, "coid-1", 3.0)
    assert (decoded.goodTillDate, decoded.ocaType) == ("20270115-20:00:00", 1)
    assert state.status == "Filled"
    assert state.completedTime == "20250102 15:00:00 UTC"


def test_order_status_and_fills_decode():
    order = fake_order(filled=Decimal(1), avg_price=Decimal("189.4"), last_price=Decimal("189.4"))
    name, args = decode(wire.order_status(order))
    assert name == "orderStatus"
    assert args[:7] == (12, "PreSubmitted", 1.0, 2.0, 189.4, 900_123, 11)
    execution = Execution(
        "e1", wire.tws_time(), Decimal(1), Decimal("189.4"), Decimal(1), Decimal(1)
    )
    recorder_name, (req_id, _contract, decoded) = decode(wire.exec_details(-1, order, execution))
    assert recorder_name == "execDetails"
    assert (req_id, decoded.execId, decoded.shares, decoded.price) == (-1, "e1", 1.0, 189.4)
    assert (decoded.side, decoded.orderRef, decoded.permId, decoded.cumQty) == (
        "SLD",
        "coid-1",
        900_123,
        1.0,
    )


def test_account_positions_and_contract_details_decode():
    assert decode(wire.position("DU1", AAPL, Decimal(5), Decimal("190.1")))[0] == "position"
    name, args = decode(wire.portfolio("DU1", AAPL, Decimal(5), Decimal("191"), Decimal("190")))
    assert name == "updatePortfolio"
    assert args[1:5] == (5.0, 191.0, 955.0, 190.0)
    assert decode(wire.account_value("NetLiquidation", "1000", "USD", "DU1")) == (
        "updateAccountValue",
        ("NetLiquidation", "1000", "USD", "DU1"),
    )
    name, (req_id, details) = decode(
        wire.contract_details(4, AAPL, "20250102:0930-20250102:1600", "US/Eastern")
    )
    assert (name, req_id, details.contract.conId, details.contract.primaryExchange) == (
        "contractDetails",
        4,
        265598,
        "NASDAQ",
    )
    assert details.liquidHours == "20250102:0930-20250102:1600"
    assert details.timeZoneId == "US/Eastern"


def test_ticks_and_errors_decode():
    assert decode(wire.tick_price(3, 4, Decimal("190.5")))[1][:3] == (3, 4, 190.5)
    assert decode(wire.tick_string(3, 45, "1700000000")) == ("tickString", (3, 45, "1700000000"))
    assert decode(wire.error(12, 201, "Order rejected"))[1][:3] == (12, 201, "Order rejected")


def test_a_place_order_written_by_ib_async_reads_back_by_name():
    from ib_async.client import Client

    sent: list[bytes] = []
    client = Client(Recorder())
    client._serverVersion = wire.SERVER_VERSION
    client.connState = Client.CONNECTED
    client.conn.sendMsg = sent.append  # type: ignore[method-assign]
    order = LimitOrder("BUY", 5, Decimal("190.12"), orderRef="c-9", tif="GTD", outsideRth=True)
    order.goodTillDate = "20270115-20:00:00"
    order.parentId, order.transmit, order.ocaGroup, order.ocaType = 3, False, "grp", 1
    order.trailingPercent = Decimal("1.5")
    client.placeOrder(4, Stock("BRK B", "SMART", "USD"), order)
    body = sent[0]
    fields = wire.split(body[4 : 4 + struct.unpack(">I", body[:4])[0]])
    read = wire.read_place_order(fields)
    assert (read["orderId"], read["symbol"], read["action"], read["totalQuantity"]) == (
        "4",
        "BRK B",
        "BUY",
        "5",
    )
    assert (read["orderType"], read["lmtPrice"], read["auxPrice"], read["tif"]) == (
        "LMT",
        "190.12",
        "",
        "GTD",
    )
    assert read["goodTillDate"] == "20270115-20:00:00"
    assert (read["orderRef"], read["transmit"], read["parentId"], read["outsideRth"]) == (
        "c-9",
        "0",
        "3",
        "1",
    )
    assert (read["ocaGroup"], read["ocaType"], read["trailingPercent"]) == ("grp", "1", "1.5")


def test_a_market_order_keeps_its_blank_prices():
    read = wire.read_place_order(
        [
            "3",
            "1",
            "0",
            "AAPL",
            "STK",
            "",
            "0.0",
            "",
            "",
            "SMART",
            "",
            "USD",
            "",
            "",
            "",
            "",
            "BUY",
            "1",
            "MKT",
            "",
            "",
        ]
    )
    assert read["lmtPrice"] == ""
    assert wire.decimal_or_none(read["lmtPrice"]) is None
    assert isinstance(Order(), Order)


def test_the_fake_answers_an_account_summary_as_ib_async_reads_it(ibkr):
    async def summary():
        return await ibkr.session.ib.accountSummaryAsync("DU1234567")

    values = {v.tag: v.value for v in ibkr.session.call(summary, 2, what="the summary")}
    assert values["NetLiquidation"] == "100000"
    assert values["BuyingPower"] == "200000"
