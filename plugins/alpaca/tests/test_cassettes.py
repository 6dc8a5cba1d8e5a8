"""Recorded HTTP, replayed offline (record_mode="none"): every operation's real wire shape.

The cassettes come from ``python -m tests.record`` (the fake server with Alpaca's
documented bodies) or, with paper keys, ``nox -s record`` against a paper account.
Replay points the broker at the real paper URL; nothing leaves the machine.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from tradingagents_brokers import (
    BrokerSettings,
    DuplicateClientOrderIdError,
    NotFoundError,
    Order,
    TradingMode,
)

from .record import CASSETTES, FILTERED, recorder, scenarios


@pytest.fixture
def replayed():
    from tradingagents_brokers_alpaca.broker import build_alpaca

    broker = build_alpaca(BrokerSettings(name="alpaca", mode=TradingMode.PAPER))
    broker._http.sleep = lambda seconds: None
    yield broker
    broker.close()


def _replay(broker, name):
    with recorder("none").use_cassette(f"{name}.yaml") as cassette:
        result = scenarios(broker)[name]()
    assert cassette.all_played, f"{name}: some recorded requests were not made"
    return result


def test_order_lifecycle(replayed):
    placed, by_id, by_client, new = _replay(replayed, "order_lifecycle")
    assert isinstance(placed, Order)
    assert by_id.order_id == by_client.order_id == placed.order_id
    assert new.replaces == placed.order_id
    assert new.order_id != placed.order_id
    assert placed.limit_price == Decimal(1)


def test_duplicate_ids_and_missing_orders(replayed):
    first, errors = _replay(replayed, "duplicate_and_not_found")
    assert first.client_order_id.startswith("dup-")
    assert [type(e) for e in errors] == [DuplicateClientOrderIdError, NotFoundError]


def test_orders_list(replayed):
    orders = _replay(replayed, "orders_list")
    assert orders
    assert all(isinstance(o.order_id, str) and o.status for o in orders)


def test_account_and_market_data(replayed):
    account, history, clock, asset, quote = _replay(replayed, "account_and_market")
    assert account.buying_power >= 0
    assert len(history.equity) == len(history.timestamps)
    assert clock.timestamp.tzinfo is not None
    assert asset.symbol == "AAPL"
    assert quote.price > 0


def test_positions(replayed):
    positions = _replay(replayed, "positions")
    assert all(p.symbol and isinstance(p.qty, Decimal) for p in positions)


def test_there_is_a_cassette_for_each_scenario():
    names = {p.stem for p in CASSETTES.glob("*.yaml")}
    assert names == set(scenarios(None))


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_cassette_holds_a_key(path: Path):
    text = path.read_text()
    for header in FILTERED:
        assert header.lower() not in text.lower(), f"{path.name} holds {header}"
    assert not re.search(r"\b(PK|AK)[A-Z0-9]{16,}\b", text), f"{path.name} holds a key id"
