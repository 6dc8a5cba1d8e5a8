"""Per-symbol rules, one currency and the broker's time in force, against ``cryptosim``.

``tests/crypto_broker.py`` is the sim as a crypto exchange: BTC/USDT (tick 0.01,
lot 0.00001, worth at least 5), SHIB/USDT (tick 0.00000001, whole lots, at least
1000), ETH/BTC (quoted in BTC) on a USDT account; gtc by default, no day.
"""

from __future__ import annotations

import importlib.metadata as md
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    BrokerUnavailableError,
    Instrument,
    InvalidOrderError,
    NotFoundError,
    get_broker,
    plugins,
)
from tradingagents_brokers.operations import accepts
from tradingagents_brokers.orders import OrderRequest
from tradingagents_brokers.safety.instruments import InstrumentRules, check_instrument

from . import crypto_broker


@pytest.fixture(autouse=True)
def _entry_point(monkeypatch):
    ep = md.EntryPoint(name="cryptosim", value="tests.crypto_broker", group="tradingagents_brokers")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])


@pytest.fixture
def crypto(tmp_path):
    config = {
        "trading_broker": "cryptosim",
        "state_dir": str(tmp_path),
        "duplicate_window_seconds": 0,
        "max_order_value": 100_000,
        "price_collar_pct": "0.5",
    }
    with get_broker("cryptosim", config=config) as gated:
        yield gated


@pytest.fixture
def sim(tmp_path):
    config = {"trading_broker": "sim", "state_dir": str(tmp_path), "duplicate_window_seconds": 0}
    with get_broker("sim", config=config) as gated:
        gated.broker.set_price("AAPL", 100)
        yield gated


def _refused(gated, match, **fields):
    before = len(gated.journal.events())
    with pytest.raises(InvalidOrderError, match=match):
        gated.place_order(**fields)
    assert len(gated.journal.events()) == before, "a refused order must not be journaled"


def _btc(**fields):
    return {
        "symbol": "BTC/USDT",
        "side": "buy",
        "qty": "0.001",
        "order_type": "limit",
        "limit_price": "50000",
        **fields,
    }


def test_a_price_on_the_tick_is_taken_and_one_off_it_is_refused_with_the_ticks_either_side(crypto):
    assert crypto.place_order(**_btc(limit_price="50000.01")).limit_price == Decimal("50000.01")
    _refused(
        crypto,
        r"limit_price 50000.005 is not a whole number of ticks of 0.01 for BTC/USDT; "
        r"use 50000 or 50000.01",
        **_btc(limit_price="50000.005"),
    )


def test_a_tick_of_one_hundred_millionth_takes_eight_places(crypto):
    order = crypto.place_order(
        symbol="SHIB/USDT", side="buy", qty=1_000_000, order_type="limit", limit_price="0.00001200"
    )
    assert order.limit_price == Decimal("0.000012")
    _refused(
        crypto,
        "use 0.00001234 or 0.00001235",
        symbol="SHIB/USDT",
        side="buy",
        qty=1_000_000,
        order_type="limit",
        limit_price="0.000012345",
    )


def test_a_quantity_off_the_lot_or_under_the_least_is_refused(crypto):
    assert crypto.place_order(**_btc(qty="0.00011")).qty == Decimal("0.00011")
    _refused(crypto, "use 0.00011 or 0.00012", **_btc(qty="0.000115"))
    shib = {"symbol": "SHIB/USDT", "side": "buy", "order_type": "limit", "limit_price": "0.000012"}
    _refused(crypto, "not a whole number of lots of 1", qty="1000.5", **shib)
    _refused(
        crypto, "qty 999 is under the least SHIB/USDT takes; order at least 1000", qty=999, **shib
    )
    assert crypto.place_order(qty=1000, **shib).qty == 1000


def test_the_least_value_is_taken_and_a_cent_under_it_is_refused(crypto):
    at_least = crypto.place_order(**_btc(qty="0.0001", limit_price="50000"))
    assert at_least.qty * at_least.limit_price == 5
    _refused(
        crypto,
        r"value 4.999999 is under the least BTC/USDT takes \(5\)",
        **_btc(qty="0.0001", limit_price="49999.99"),
    )
    assert crypto.place_order(symbol="BTC/USDT", side="buy", notional=5).notional == 5
    _refused(crypto, r"value 4.99 is under", symbol="BTC/USDT", side="buy", notional="4.99")


def test_a_market_order_is_valued_at_the_reference_price(crypto):
    _refused(crypto, r"value 4.8 is under", symbol="BTC/USDT", side="buy", qty="0.00008")
    order = crypto.place_order(symbol="BTC/USDT", side="buy", qty="0.0001")
    assert order.status.value == "filled"


def test_a_symbol_the_broker_does_not_list_is_refused_not_guessed(crypto):
    _refused(
        crypto, "the broker has no instrument DOGE/USDT", symbol="DOGE/USDT", side="buy", qty=1
    )


def test_a_failed_look_up_refuses_the_order(crypto):
    def down(symbol):
        raise BrokerUnavailableError("the exchange is down")

    crypto.broker.get_instrument = down
    before = len(crypto.journal.events())
    with pytest.raises(BrokerUnavailableError):
        crypto.place_order(**_btc())
    assert len(crypto.journal.events()) == before


def test_a_symbol_quoted_in_another_currency_is_refused(crypto):
    _refused(
        crypto,
        "ETH/BTC is priced in BTC and the account's limits and buying power are in USDT; "
        "the core converts no currency",
        symbol="ETH/BTC",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price="0.05",
    )


def test_an_order_without_a_time_in_force_gets_the_brokers_default(crypto, sim):
    assert crypto.place_order(**_btc()).time_in_force.value == "gtc"
    assert sim.place_order(symbol="AAPL", side="buy", qty=1).time_in_force.value == "day"


def test_a_time_in_force_the_order_type_does_not_take_is_refused(crypto):
    _refused(crypto, "does not support time in force 'day'", **_btc(time_in_force="day"))
    _refused(
        crypto,
        "time in force 'fok' for a market order; it supports: gtc, ioc",
        symbol="BTC/USDT",
        side="buy",
        qty="0.001",
        time_in_force="fok",
    )
    assert crypto.place_order(**_btc(time_in_force="fok", limit_price="70000")).qty


def test_a_broker_without_instruments_keeps_four_places_for_a_price(sim):
    _refused(
        sim,
        "limit_price 10.00001 has more than 4 decimal places; round it",
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price="10.00001",
    )
    _refused(
        sim,
        "stop_price 101.00001 has more than 4",
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="stop",
        stop_price="101.00001",
    )


def test_rules_are_kept_for_a_while_then_read_again():
    calls = []
    now = [0.0]

    def look_up(symbol):
        calls.append(symbol)
        return Instrument(symbol=symbol, tick_size="0.01")

    rules = InstrumentRules(look_up, seconds=60, clock=lambda: now[0])
    rules.get("BTC/USDT")
    now[0] = 59
    rules.get("BTC/USDT")
    assert calls == ["BTC/USDT"]
    now[0] = 61
    rules.get("BTC/USDT")
    assert calls == ["BTC/USDT", "BTC/USDT"]


def test_rules_for_another_symbol_are_refused():
    rules = InstrumentRules(lambda symbol: Instrument(symbol="ETH/USDT"))
    with pytest.raises(InvalidOrderError, match="answered for another symbol"):
        rules.get("BTC/USDT")


def test_an_instruments_steps_must_be_positive():
    with pytest.raises(ValueError, match="must be positive"):
        Instrument(symbol="X", tick_size=0)


@pytest.mark.parametrize("currency", ["\x1b]0;pwned\x07", "U" * 13, "US DT", "€"])
def test_a_quote_currency_must_be_a_short_code_and_malformed_rules_refuse_the_order(currency):
    with pytest.raises(ValueError, match="1 to 12 letters or digits"):
        Instrument(symbol="X", quote_currency=currency)

    def look_up(symbol):
        return Instrument(symbol=symbol, quote_currency=currency)  # the plugin's own model

    with pytest.raises(InvalidOrderError, match="rules for BTC/USDT are malformed") as refused:
        InstrumentRules(look_up).get("BTC/USDT")
    assert "\x1b" not in refused.value.message
    assert Instrument(symbol="X", quote_currency=" usdt ").quote_currency == "USDT"


def test_a_default_time_in_force_must_be_one_the_broker_takes():
    from tradingagents_brokers import BrokerCapabilities

    with pytest.raises(ValueError, match="default_time_in_force 'day' is not one of"):
        BrokerCapabilities(time_in_force={"gtc"}, default_time_in_force="day")


def test_a_position_without_an_entry_price_is_shown_and_closed(crypto):
    crypto.place_order(symbol="BTC/USDT", side="buy", qty="0.001")
    (position,) = crypto.get_positions()
    assert position.avg_entry_price is None
    assert position.to_dict()["avg_entry_price"] is None
    assert crypto.close_position("BTC/USDT").side.value == "sell"


def test_the_crypto_account_is_in_usdt_and_the_clock_never_closes(crypto):
    account = crypto.get_account()
    assert account.currency == "USDT"
    assert account.to_dict()["last_equity"] is None
    clock = crypto.get_clock()
    assert clock.is_open
    assert clock.next_close is None
    assert crypto.capabilities.always_open
    assert crypto_broker.CRYPTO_CAPABILITIES.to_dict()["time_in_force_by_type"] == {
        "market": ["gtc", "ioc"]
    }


def test_the_orders_symbol_reaches_a_broker_whose_methods_take_one(crypto):
    order = crypto.place_order(**_btc())
    crypto.get_order(order.order_id)
    crypto.get_order_by_client_id(order.client_order_id)
    crypto.cancel_order(order.order_id)
    assert crypto.broker.symbols_seen[-3:] == [
        ("get_order", "BTC/USDT"),
        ("get_order_by_client_id", "BTC/USDT"),
        ("cancel_order", "BTC/USDT"),
    ]
    crypto.broker.symbols_seen.clear()
    with pytest.raises(NotFoundError):
        crypto.get_order("not-placed-here")
    assert crypto.broker.symbols_seen == [("get_order", None)]


def test_a_close_is_shown_with_the_brokers_time_in_force(crypto):
    crypto.place_order(symbol="BTC/USDT", side="buy", qty="0.002")
    shown = crypto.close_request("BTC/USDT", qty="0.001")
    assert (shown.qty, shown.time_in_force.value) == (Decimal("0.001"), "gtc")


def test_the_legs_prices_fall_on_the_tick_too():
    request = OrderRequest(
        symbol="BTC/USDT",
        side="buy",
        qty="0.001",
        order_type="limit",
        limit_price="60000",
        order_class="bracket",
        take_profit={"limit_price": "66000"},
        stop_loss={"stop_price": "57000", "limit_price": "56999.995"},
    )
    rules = crypto_broker.INSTRUMENTS["BTC/USDT"]
    with pytest.raises(InvalidOrderError, match=r"stop_loss.limit_price 56999.995 is not a whole"):
        check_instrument(request, rules, lambda: Decimal(60000), lambda: "USDT")
    fixed = attrs.evolve(request, stop_loss={"stop_price": "57000", "limit_price": "56999.99"})
    check_instrument(fixed, rules, lambda: Decimal(60000), lambda: "USDT")


def test_a_method_whose_signature_cannot_be_read_is_called_without_a_symbol():
    assert not accepts(object(), "symbol")
    assert accepts(crypto_broker.CryptoSim.get_order, "symbol")
