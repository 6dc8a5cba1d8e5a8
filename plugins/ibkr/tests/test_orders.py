"""Orders through the plugin, as TWS receives them: types, legs, look-ups, cancels, changes."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    DuplicateClientOrderIdError,
    InvalidOrderError,
    NotFoundError,
    OrderChanges,
    OrderRequest,
)

from .conftest import wait_until


def request(coid: str = "c-1", **fields) -> OrderRequest:
    values = {"symbol": "AAPL", "side": "buy", "qty": 1, "client_order_id": coid, **fields}
    return OrderRequest(**values)


def sent(fake, ref: str) -> dict[str, str]:
    return next(p for p in fake.book.received if p["orderRef"] == ref)


@pytest.mark.parametrize(
    ("fields", "wire"),
    [
        ({}, {"orderType": "MKT", "lmtPrice": "", "auxPrice": "", "tif": "DAY"}),
        (
            {"order_type": "limit", "limit_price": "180.12", "time_in_force": "gtc"},
            {"orderType": "LMT", "lmtPrice": "180.12", "tif": "GTC"},
        ),
        (
            {"order_type": "stop", "stop_price": "200", "time_in_force": "ioc"},
            {"orderType": "STP", "auxPrice": "200", "tif": "IOC"},
        ),
        (
            {"order_type": "stop_limit", "stop_price": "0.5123", "limit_price": "0.51"},
            {"orderType": "STP LMT", "auxPrice": "0.5123", "lmtPrice": "0.51"},
        ),
        (
            {"order_type": "trailing_stop", "trail_price": "2.5", "side": "sell"},
            {"orderType": "TRAIL", "auxPrice": "2.5", "action": "SELL"},
        ),
        (
            {"order_type": "trailing_stop", "trail_percent": "1.25", "time_in_force": "fok"},
            {"orderType": "TRAIL", "trailingPercent": "1.25", "tif": "FOK"},
        ),
        ({"time_in_force": "cls"}, {"orderType": "MOC", "tif": "DAY"}),
        (
            {"time_in_force": "cls", "order_type": "limit", "limit_price": "150"},
            {"orderType": "LOC", "lmtPrice": "150"},
        ),
        ({"time_in_force": "opg"}, {"orderType": "MKT", "tif": "OPG"}),
        (
            {"order_type": "limit", "limit_price": "150", "extended_hours": True},
            {"outsideRth": "1"},
        ),
    ],
)
def test_each_order_type_reaches_tws_as_ib_writes_it(ibkr, fake, fields, wire):
    fake.book.fill_market_orders = False
    order = ibkr.place_order(request(**fields))
    got = sent(fake, "c-1")
    assert {k: got[k] for k in wire} == wire
    assert got["account"] == "DU1234567"
    assert got["transmit"] == "1"
    assert order.client_order_id == "c-1"
    assert order.order_type.value == fields.get("order_type", "market")
    assert order.time_in_force.value == fields.get("time_in_force", "day")
    assert order.extended_hours is bool(fields.get("extended_hours"))


def test_a_resting_limit_order_reads_back_with_decimal_money(ibkr):
    order = ibkr.place_order(request(order_type="limit", limit_price="180.12", qty=3))
    assert order.status.value == "new"
    assert order.order_id.isdigit()
    assert order.qty == Decimal(3)
    assert str(order.qty) == "3"
    assert order.limit_price == Decimal("180.12")
    assert order.stop_price is None
    assert order.filled_avg_price is None
    assert order.submitted_at is not None


def test_a_market_order_fills_and_reports_its_price(ibkr):
    placed = ibkr.place_order(request(qty=2))
    assert placed.status.value in ("new", "filled"), "TWS answers before or with the fill"
    wait_until(lambda: ibkr.get_order(placed.order_id).status.value == "filled")
    order = ibkr.get_order(placed.order_id)
    assert order.filled_qty == 2
    assert order.filled_avg_price == Decimal("190.5")
    assert order.filled_at is not None


def test_share_classes_travel_with_a_space_at_ib(ibkr, fake):
    order = ibkr.place_order(request(symbol="BRK.B"))
    assert sent(fake, "c-1")["symbol"] == "BRK B"
    assert order.symbol == "BRK.B"
    assert ibkr.get_position("BRK.B").qty == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qty": "1.5"}, "whole shares"),
        ({"order_type": "limit", "limit_price": "180.123"}, "more than 2 decimal places"),
        ({"order_type": "limit", "limit_price": "0.12345"}, "more than 4"),
        ({"extended_hours": True}, "outside regular trading hours"),
        ({"time_in_force": "cls", "order_type": "stop", "stop_price": "1"}, "market or limit"),
        (
            {
                "order_class": "bracket",
                "time_in_force": "ioc",
                "take_profit": {"limit_price": 200},
                "stop_loss": {"stop_price": 180},
            },
            "needs time in force day or gtc",
        ),
        (
            {
                "order_class": "oco",
                "side": "sell",
                "order_type": "limit",
                "limit_price": 201,
                "take_profit": {"limit_price": 200},
                "stop_loss": {"stop_price": 180},
            },
            "limit_price equal to take_profit",
        ),
    ],
)
def test_what_ib_would_refuse_is_refused_before_sending(ibkr, fake, fields, message):
    with pytest.raises(InvalidOrderError, match=message):
        ibkr.place_order(request(**fields))
    assert fake.book.received == [], "nothing reaches TWS"


def test_an_unknown_symbol_is_an_invalid_order(ibkr, fake):
    with pytest.raises(InvalidOrderError, match="IB knows no stock ZZZZ"):
        ibkr.place_order(request(symbol="ZZZZ"))
    assert fake.book.received == []


def test_an_order_needs_a_client_order_id(ibkr):
    with pytest.raises(InvalidOrderError, match="client_order_id"):
        ibkr.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1))


def test_a_bracket_is_a_parent_and_two_children_sent_together(ibkr, fake):
    order = ibkr.place_order(
        request(
            order_type="limit",
            limit_price="180",
            order_class="bracket",
            take_profit={"limit_price": "200"},
            stop_loss={"stop_price": "170", "limit_price": "169.5"},
        )
    )
    parent, tp, sl = (sent(fake, ref) for ref in ("c-1", "c-1.tp", "c-1.sl"))
    assert [parent["transmit"], tp["transmit"], sl["transmit"]] == ["0", "0", "1"]
    assert tp["parentId"] == sl["parentId"] == parent["orderId"]
    assert (tp["action"], tp["orderType"], tp["lmtPrice"]) == ("SELL", "LMT", "200")
    assert (sl["action"], sl["orderType"], sl["auxPrice"], sl["lmtPrice"]) == (
        "SELL",
        "STP LMT",
        "170",
        "169.5",
    )
    assert order.order_class.value == "bracket"
    assert order.status.value == "new"
    legs = {o.client_order_id: o.status.value for o in ibkr.get_orders("open")}
    assert legs == {"c-1": "new", "c-1.tp": "accepted", "c-1.sl": "accepted"}


def test_a_filled_bracket_parent_activates_its_children_and_one_fill_cancels_the_other(ibkr, fake):
    ibkr.place_order(
        request(
            order_class="bracket",
            take_profit={"limit_price": "200"},
            stop_loss={"stop_price": "170"},
        )
    )
    wait_until(lambda: ibkr.get_order_by_client_id("c-1.tp").status.value == "new")
    fake.set_price("AAPL", "201")
    wait_until(lambda: ibkr.get_order_by_client_id("c-1.tp").status.value == "filled")
    wait_until(lambda: ibkr.get_order_by_client_id("c-1.sl").status.value == "canceled")
    assert ibkr.get_positions() == []


def test_an_oto_has_one_child(ibkr, fake):
    ibkr.place_order(request(order_class="oto", stop_loss={"stop_price": "170"}))
    assert sent(fake, "c-1.sl")["parentId"] == sent(fake, "c-1")["orderId"]
    assert not [p for p in fake.book.received if p["orderRef"] == "c-1.tp"]


def test_an_oco_is_two_exit_orders_in_one_oca_group(ibkr, fake):
    fake.book.fill_market_orders = True
    ibkr.place_order(request(coid="entry", qty=2))
    order = ibkr.place_order(
        request(
            side="sell",
            qty=2,
            order_type="limit",
            limit_price="200",
            order_class="oco",
            take_profit={"limit_price": "200"},
            stop_loss={"stop_price": "170"},
        )
    )
    tp, sl = sent(fake, "c-1"), sent(fake, "c-1.sl")
    assert tp["ocaGroup"] == sl["ocaGroup"] == "oco-c-1"
    assert tp["ocaType"] == sl["ocaType"] == "1"
    assert (tp["action"], sl["action"], tp["transmit"], sl["transmit"]) == (
        "SELL",
        "SELL",
        "1",
        "1",
    )
    assert order.order_class.value == "oco"
    fake.set_price("AAPL", "200.5")
    wait_until(lambda: ibkr.get_order_by_client_id("c-1").status.value == "filled")
    wait_until(lambda: ibkr.get_order_by_client_id("c-1.sl").status.value == "canceled")


def test_a_second_order_with_a_client_order_id_is_refused(ibkr, fake):
    first = ibkr.place_order(request(order_type="limit", limit_price="180"))
    with pytest.raises(DuplicateClientOrderIdError) as raised:
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    assert raised.value.details["order_id"] == first.order_id
    assert len(fake.book.received) == 1


def test_look_ups_by_permanent_id_client_id_and_listings(ibkr):
    resting = ibkr.place_order(request(coid="rest", order_type="limit", limit_price="180"))
    filled = ibkr.place_order(request(coid="fill", symbol="MSFT"))
    assert ibkr.get_order(resting.order_id).client_order_id == "rest"
    assert ibkr.get_order_by_client_id("fill").order_id == filled.order_id
    assert [o.client_order_id for o in ibkr.get_orders("open")] == ["rest"]
    assert [o.client_order_id for o in ibkr.get_orders("closed")] == ["fill"]
    assert [o.client_order_id for o in ibkr.get_orders("all")] == ["fill", "rest"]
    assert [o.client_order_id for o in ibkr.get_orders("all", limit=1)] == ["fill"]
    assert [o.client_order_id for o in ibkr.get_orders("all", symbols=["AAPL"])] == ["rest"]
    with pytest.raises(NotFoundError):
        ibkr.get_order("123456789")
    with pytest.raises(NotFoundError):
        ibkr.get_order_by_client_id("never")
    with pytest.raises(NotFoundError, match="not an IB order id"):
        ibkr.get_order("abc")
    with pytest.raises(NotFoundError):
        ibkr.get_order("7/424242")


def test_another_clients_orders_are_listed_but_not_cancelled_here(ibkr, fake):
    from tradingagents_brokers_ibkr.broker import build_ibkr

    from .conftest import settings

    other = build_ibkr(settings(fake, client_id=9))
    try:
        theirs = other.place_order(request(coid="theirs", order_type="limit", limit_price="180"))
        assert ibkr.get_order(theirs.order_id).client_order_id == "theirs"
        assert "theirs" in {o.client_order_id for o in ibkr.get_orders("open")}
        with pytest.raises(InvalidOrderError, match="placed by API client 9"):
            ibkr.cancel_order(theirs.order_id)
        other.cancel_order(theirs.order_id)
        assert ibkr.get_order(theirs.order_id).status.value == "canceled"
    finally:
        other.close()


def test_cancel_a_resting_order_and_not_a_filled_one(ibkr):
    resting = ibkr.place_order(request(coid="rest", order_type="limit", limit_price="180"))
    ibkr.cancel_order(resting.order_id)
    canceled = ibkr.get_order(resting.order_id)
    assert canceled.status.value == "canceled"
    assert canceled.canceled_at is not None
    with pytest.raises(InvalidOrderError, match="is canceled and can no longer be canceled"):
        ibkr.cancel_order(resting.order_id)
    filled = ibkr.place_order(request(coid="fill"))
    wait_until(lambda: ibkr.get_order(filled.order_id).status.value == "filled")
    with pytest.raises(InvalidOrderError, match="is filled"):
        ibkr.cancel_order(filled.order_id)
    with pytest.raises(NotFoundError):
        ibkr.cancel_order("424242")


def test_a_cancel_tws_refuses_keeps_the_orders_real_status(ibkr, fake):
    resting = ibkr.place_order(request(coid="rest", order_type="limit", limit_price="180"))
    fake.call(
        lambda: setattr(
            fake.book.orders[(7, fake.book.by_ref("rest")[0].order_id)], "status", "Filled"
        )
    )
    with pytest.raises(InvalidOrderError, match="10148"):
        ibkr.cancel_order(resting.order_id)
    assert ibkr.get_order(resting.order_id).status.value != "rejected"


def test_replace_modifies_the_order_in_place_under_its_id(ibkr, fake):
    order = ibkr.place_order(request(order_type="limit", limit_price="180", time_in_force="day"))
    new = ibkr.replace_order(
        order.order_id, OrderChanges(qty=3, limit_price="181.5", time_in_force="gtc")
    )
    assert new.order_id == order.order_id, "IB keeps the id: it is the same order"
    assert (new.qty, new.limit_price, new.time_in_force.value) == (3, Decimal("181.5"), "gtc")
    again = fake.book.received[-1]
    assert (again["orderId"], again["totalQuantity"], again["lmtPrice"]) == (
        fake.book.received[0]["orderId"],
        "3.0",
        "181.5",
    )
    assert len(fake.book.orders) == 1


@pytest.mark.parametrize(
    ("fields", "changes", "message"),
    [
        ({}, {"limit_price": 1}, "no limit price"),
        ({"order_type": "limit", "limit_price": 180}, {"stop_price": 1}, "no stop price"),
        ({"order_type": "limit", "limit_price": 180}, {"trail": 1}, "no trail"),
        ({"order_type": "limit", "limit_price": 180}, {"qty": "1.5"}, "whole"),
        ({"order_type": "limit", "limit_price": 180}, {"time_in_force": "cls"}, "at-close"),
        ({"time_in_force": "cls"}, {"time_in_force": "day"}, "at-close"),
        ({"order_type": "limit", "limit_price": 180}, {"time_in_force": "gtd"}, "no expiry"),
    ],
)
def test_changes_ib_cannot_make_are_refused(ibkr, fake, fields, changes, message):
    fake.book.fill_market_orders = False
    order = ibkr.place_order(request(**fields))
    with pytest.raises(InvalidOrderError, match=message):
        ibkr.replace_order(order.order_id, OrderChanges(**changes))
    assert len(fake.book.received) == 1, "a change IB cannot make is not sent"


def test_stops_and_trails_change_their_own_prices(ibkr):
    stop = ibkr.place_order(request(coid="s", order_type="stop", stop_price="200"))
    assert ibkr.replace_order(stop.order_id, OrderChanges(stop_price="201")).stop_price == 201
    trail = ibkr.place_order(request(coid="t", order_type="trailing_stop", trail_price="2"))
    assert ibkr.replace_order(trail.order_id, OrderChanges(trail="3")).trail_price == 3
    pct = ibkr.place_order(request(coid="p", order_type="trailing_stop", trail_percent="1"))
    changed = ibkr.replace_order(pct.order_id, OrderChanges(trail="2", qty=2))
    assert changed.qty == 2


def test_a_filled_order_cannot_be_replaced(ibkr):
    order = ibkr.place_order(request())
    wait_until(lambda: ibkr.get_order(order.order_id).status.value == "filled")
    with pytest.raises(InvalidOrderError, match="can no longer be replaced"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=2))


def test_a_change_that_comes_after_the_fill_says_so(ibkr, fake):
    order = ibkr.place_order(request(order_type="limit", limit_price="180"))
    fake.set_price("AAPL", "179")  # fills, while the plugin may not have heard yet
    with pytest.raises(InvalidOrderError, match="filled"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=2))


def test_order_lists_take_a_window_of_submission_times(ibkr):
    placed = []
    for n in range(3):
        placed.append(
            ibkr.place_order(request(coid=f"win-{n}", order_type="limit", limit_price="180"))
        )
        time.sleep(0.01)
    times = {o.client_order_id: o.submitted_at for o in ibkr.get_orders("open")}
    assert all(times[f"win-{n}"] is not None for n in range(3))
    middle = ibkr.get_orders("open", after=times["win-0"], until=times["win-2"])
    assert [o.client_order_id for o in middle] == ["win-1"]
    assert ibkr.get_orders("open", after=times["win-2"]) == []
    for order in placed:
        ibkr.cancel_order(order.order_id)
