"""Every operation of the Alpaca broker against the fake Alpaca server on loopback."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    DuplicateClientOrderIdError,
    NotFoundError,
    OrderChanges,
    OrderRequest,
)
from tradingagents_brokers.listing import iter_orders

from . import fake_alpaca
from .conftest import CANARY_KEY, CANARY_SECRET
from .fake_alpaca import fixture


def _request(n=1, **fields):
    values = {
        "symbol": "AAPL",
        "side": "buy",
        "qty": 2,
        "order_type": "limit",
        "limit_price": 150,
        "client_order_id": f"c-{n}",
    }
    values.update(fields)
    return OrderRequest(**values)


def test_place_look_up_replace_and_cancel(alpaca, fake):
    order = alpaca.place_order(_request())
    assert (order.client_order_id, order.qty, order.limit_price) == ("c-1", 2, 150)
    method, path, body = fake.requests[-1]
    assert (method, path) == ("POST", "/v2/orders")
    assert (body["qty"], body["limit_price"]) == ("2", "150")  # strings, not floats
    assert body["_headers"]["APCA-API-KEY-ID"] == CANARY_KEY
    assert alpaca.get_order(order.order_id) == order
    assert alpaca.get_order_by_client_id("c-1") == order
    new = alpaca.replace_order(
        order.order_id, OrderChanges(limit_price="151", client_order_id="c-1b")
    )
    assert (new.limit_price, new.replaces) == (Decimal(151), order.order_id)
    assert alpaca.get_order(order.order_id).status.value == "replaced"
    alpaca.cancel_order(new.order_id)
    assert alpaca.get_order(new.order_id).status.value == "canceled"


def test_a_second_order_with_one_client_order_id_is_a_duplicate(alpaca):
    alpaca.place_order(_request())
    with pytest.raises(DuplicateClientOrderIdError):
        alpaca.place_order(_request())


def test_missing_orders_and_positions_are_not_found(alpaca):
    with pytest.raises(NotFoundError):
        alpaca.get_order_by_client_id("never-sent")
    with pytest.raises(NotFoundError):
        alpaca.get_position("NONE")
    with pytest.raises(NotFoundError):
        alpaca.cancel_order("0d4a7b5e-0000-0000-0000-000000000000")


def _market_buy(fake, client_order_id):
    """An order the fake holds, placed at it directly (not through the plugin)."""
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}
    fake.new_order({**body, "qty": "1", "client_order_id": client_order_id})


def test_order_lists_take_a_window_with_both_edges_left_out(alpaca, fake):
    for n in range(5):
        _market_buy(fake, f"w-{n}")
        time.sleep(0.002)
    times = {o.client_order_id: o.submitted_at for o in alpaca.get_orders("all")}
    window = alpaca.get_orders("all", after=times["w-1"], until=times["w-4"])
    assert [o.client_order_id for o in window] == ["w-3", "w-2"]
    sent = [q for m, p, q in fake.requests if m == "GET" and p == "/v2/orders"][-1]
    assert sent["after"].endswith("Z")
    assert sent["until"].endswith("Z")
    # the core's pager walks back through them two at a time, each once
    paged = iter_orders(alpaca, status="all", page_size=2)
    assert [o.client_order_id for o in paged] == [f"w-{n}" for n in reversed(range(5))]


def test_order_lists_follow_pages_past_the_page_size(alpaca, fake, monkeypatch):
    from tradingagents_brokers_alpaca import broker as module

    monkeypatch.setattr(module, "PAGE", 3)
    for n in range(8):
        _market_buy(fake, f"p-{n}")
    orders = alpaca.get_orders("all")
    assert [o.client_order_id for o in orders] == [f"p-{n}" for n in reversed(range(8))]
    pages = [q for m, p, q in fake.requests if m == "GET" and p == "/v2/orders"]
    assert len(pages) == 3
    assert "until" in pages[1]
    assert [o.client_order_id for o in alpaca.get_orders("all", limit=4)] == [
        "p-7",
        "p-6",
        "p-5",
        "p-4",
    ]
    alpaca.get_orders("open", symbols=["AAPL", "MSFT"])
    assert fake.requests[-1][2]["symbols"] == "AAPL,MSFT"


def test_positions_account_history_clock_asset_quote(alpaca):
    assert [p.symbol for p in alpaca.get_positions()]
    assert alpaca.get_position("AAPL").symbol == "AAPL"
    assert alpaca.get_account().buying_power > 0
    assert alpaca.get_portfolio_history(period="1M", timeframe="1D").equity
    assert alpaca.get_clock().timestamp is not None
    assert alpaca.get_asset("AAPL").tradable
    assert alpaca.get_quote("AAPL").price == Decimal("190.5")


def test_closing_positions(alpaca, fake):
    order = alpaca.close_position("AAPL", qty=Decimal(100))
    assert fake.requests[-1][2]["qty"] == "100"
    assert order.symbol.startswith("AAPL")
    alpaca.close_position("AAPL", percentage=Decimal(50))
    assert fake.requests[-1][2]["percentage"] == "50"
    results = {r.symbol: r for r in alpaca.close_all_positions(cancel_orders=True)}
    assert fake.requests[-1][2]["cancel_orders"] == "true"
    assert results["BTCUSD"].ok
    assert results["BTCUSD"].order.status.value == "pending_new"
    assert results["SQQQ"].error["code"] == "insufficient_funds"
    assert results["NYC"].error["code"] == "order_rejected"


def test_crypto_symbols_lose_their_slash_in_paths(alpaca, fake):
    with pytest.raises(NotFoundError):
        alpaca.get_position("BTC/USD")
    assert fake.requests[-1][1] == "/v2/positions/BTCUSD"


def test_reprs_and_errors_hold_no_keys(alpaca):
    with pytest.raises(NotFoundError) as raised:
        alpaca.get_order_by_client_id("nope")
    texts = [
        repr(alpaca),
        repr(alpaca._http),
        str(raised.value),
        repr(raised.value),
        str(raised.value.to_dict()),
    ]
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None
    assert not any(CANARY_KEY in t or CANARY_SECRET in t for t in texts)


def test_the_asset_is_checked_before_an_order_and_cached(alpaca, fake, monkeypatch):
    from tradingagents_brokers import InvalidOrderError

    alpaca.place_order(_request(1))
    alpaca.place_order(_request(2))
    assert sum(1 for m, p, _ in fake.requests if p == "/v2/assets/AAPL") == 1
    asset = fixture("asset.json")
    for field, fields, message in (
        ("fractionable", {"qty": "0.5"}, "not fractionable"),
        (
            "fractionable",
            {"qty": None, "notional": 50, "order_type": "market", "limit_price": None},
            "not fractionable",
        ),
        ("tradable", {}, "not tradable"),
    ):
        monkeypatch.setattr(
            fake_alpaca,
            "fixture",
            lambda name, f=field: {**asset, f: False} if name == "asset.json" else fixture(name),
        )
        alpaca._assets.clear()
        with pytest.raises(InvalidOrderError, match=message):
            alpaca.place_order(_request(9, **fields))
    assert not any(b.get("client_order_id") == "c-9" for m, p, b in fake.requests if m == "POST")


def test_an_order_passes_on_a_day_old_look_but_is_refused_only_on_a_fresh_one(
    alpaca, fake, monkeypatch
):
    from tradingagents_brokers import InvalidOrderError
    from tradingagents_brokers_alpaca.broker import ASSET_REFUSAL_TTL, ASSET_TTL

    now = [1000.0]
    alpaca._clock = lambda: now[0]

    def looks():
        return sum(1 for m, p, _ in fake.requests if p == "/v2/assets/AAPL")

    def tradable(value):
        asset = {**fixture("asset.json"), "tradable": value}
        monkeypatch.setattr(
            fake_alpaca, "fixture", lambda name: asset if name == "asset.json" else fixture(name)
        )

    alpaca.place_order(_request(1))
    now[0] += ASSET_TTL - 0.001
    alpaca.place_order(_request(2))
    assert looks() == 1  # a pass rests on a look up to a day old
    now[0] += 0.001
    tradable(False)  # a day on, it is looked up again: halted
    with pytest.raises(InvalidOrderError, match="not tradable"):
        alpaca.place_order(_request(3))
    assert looks() == 2
    tradable(True)  # trading again
    now[0] += ASSET_REFUSAL_TTL - 0.001
    with pytest.raises(InvalidOrderError, match="not tradable"):
        alpaca.place_order(_request(4))  # refused on a look not yet a minute old
    assert looks() == 2
    now[0] += 0.001
    alpaca.place_order(_request(5))  # a minute: looked again, and it trades
    assert looks() == 3
    posted = [b.get("client_order_id") for m, p, b in fake.requests if m == "POST"]
    assert posted == ["c-1", "c-2", "c-5"]
