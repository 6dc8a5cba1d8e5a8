"""Reconciling against Alpaca costs a paged listing of the open orders, not a look-up per intent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradingagents_brokers import get_broker
from tradingagents_brokers_alpaca import broker as module

from .conftest import gated_config

INTENTS = 1000


def open_intents(fake, journal, count, broker="alpaca"):
    """``count`` resting limit orders at the fake, each with its open intent in ``journal``."""
    with journal.transaction():
        for n in range(count):
            coid = f"rest-{n}"
            body = {"symbol": f"S{n % 40}", "side": "buy", "type": "limit", "qty": "1"}
            order = fake.new_order(
                {**body, "time_in_force": "gtc", "limit_price": "1", "client_order_id": coid}
            )
            journal.new_intent(
                {
                    "broker": broker,
                    "symbol": order["symbol"],
                    "side": "buy",
                    "qty": 1,
                    "notional": None,
                    "value": 1,
                    "dedupe_key": coid,
                    "status": "accepted",
                    "source": "python",
                    "client_order_id": coid,
                },
                {"request": {}},
            )


def _config(fake, tmp_path):
    return gated_config(fake, tmp_path, {"order_stream": False})


def test_a_thousand_open_intents_are_reconciled_in_three_requests(fake, tmp_path):
    with get_broker("alpaca", config=_config(fake, tmp_path)) as gated:
        open_intents(fake, gated.journal, INTENTS)
    # Ten of them moved at Alpaca meanwhile: the listing alone tells.
    for n in range(10):
        fake.fill(fake.orders[f"rest-{n}"]["id"], qty=Decimal("0.5"))
    mark = len(fake.requests)
    with get_broker("alpaca", config=_config(fake, tmp_path)) as fresh:
        report = fresh.reconcile()
        requests = fake.requests[mark:]
        statuses = {i.client_order_id: i.status for i in fresh.journal.intents()}
    assert (report.ok, report.checked, report.deferred, report.in_flight) == (True, INTENTS, 0, 0)
    assert report.requests == 1  # one get_orders("open") ...
    assert len(requests) <= 3  # ... of 500 orders a page: 500, 500, then an empty page
    assert {(method, path, query["status"]) for method, path, query in requests} == {
        ("GET", "/v2/orders", "open")
    }
    assert sorted(c["client_order_id"] for c in report.changed) == sorted(
        f"rest-{n}" for n in range(10)
    )
    assert {c["to"] for c in report.changed} == {"partially_filled"}
    assert sum(1 for s in statuses.values() if s == "accepted") == INTENTS - 10


@pytest.mark.parametrize(("orders", "pages"), [(0, 1), (499, 1), (500, 2), (1000, 3), (1001, 3)])
def test_the_listing_stops_at_the_first_page_shorter_than_asked(alpaca, fake, orders, pages):
    for n in range(orders):
        body = {"symbol": "AAPL", "side": "buy", "type": "limit", "time_in_force": "gtc"}
        fake.new_order({**body, "qty": "1", "limit_price": "1", "client_order_id": f"o-{n}"})
    listed = alpaca.get_orders("open")
    assert len({o.client_order_id for o in listed}) == orders
    assert [int(q["limit"]) for _, _, q in fake.requests] == [module.PAGE] * pages
