"""Reconciliation costs a listing, not a look-up per intent, and every verdict is final in time."""

from __future__ import annotations

import datetime as dt

import attrs

from tradingagents_brokers import GatedBroker, Order, PluginHost, make_plugin_manager
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.safety.reconcile import RECENT_PAGE

from ..fakes import NOW, Calls, FakeBroker, FakePlugin, ManualClock


class PagedBroker(FakeBroker):
    """A fake broker whose listings honour ``limit``, newest first, as Alpaca's do."""

    def get_orders(self, status="open", limit=None, symbols=None):  # type: ignore[no-untyped-def]
        found = [o for o in reversed(self.orders.values()) if status == "all" or o.status.is_open]
        return found[:limit] if limit else found


def _setup(tmp_path, intents: int, status: str, *, clock=None, lookups=20):  # type: ignore[no-untyped-def]
    broker, counted = PagedBroker(), Calls()
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    pm.register(counted, name="counted")
    host = PluginHost(pm)
    journal = Journal(tmp_path / "journal.db", **({"now": clock} if clock else {}))
    with journal.transaction():
        for n in range(intents):
            coid = f"c-{n}"
            journal.new_intent(
                {
                    "broker": "fake",
                    "symbol": "AAPL",
                    "side": "buy",
                    "qty": 1,
                    "notional": None,
                    "value": 100,
                    "dedupe_key": coid,
                    "status": "new",
                    "source": "python",
                    "client_order_id": coid,
                },
                {"request": {}},
            )
            broker.orders[coid] = Order(
                order_id=coid,
                client_order_id=coid,
                symbol="AAPL",
                side="buy",
                order_type="market",
                time_in_force="day",
                status=status,
                qty=1,
                filled_qty=1 if status == "filled" else 0,
                submitted_at=NOW,
            )
    config = effective_config(
        {"trading_broker": "fake", "order_stream": False, "reconcile_lookups": lookups}
    )
    gated = GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)
    return gated, broker, counted


def test_a_thousand_open_intents_cost_one_listing(tmp_path):
    gated, _, counted = _setup(tmp_path, 1000, "new")
    report = gated.reconcile()
    assert (report.ok, report.checked, report.changed, report.deferred) == (True, 1000, (), 0)
    assert counted.names == ["get_orders"]
    assert report.requests == 1


def test_intents_that_ended_lately_are_answered_by_one_page_of_recent_orders(tmp_path):
    gated, _, counted = _setup(tmp_path, 1000, "filled", lookups=20)
    report = gated.reconcile()
    assert counted.names[:2] == ["get_orders", "get_orders"]  # open orders, then recent ones
    looked_up = counted.names[2:]
    assert len(looked_up) == 20  # the older half, up to reconcile_lookups of it
    assert report.deferred == 1000 - RECENT_PAGE - 20
    assert len(report.changed) == RECENT_PAGE + 20
    assert report.requests == len(counted.names)
    assert gated.reconciler.needed  # the rest wait for the next pass ...
    counted.names.clear()
    second = gated.reconcile()
    assert second.deferred == report.deferred - 20  # ... and are answered, oldest first
    third = gated.reconcile()
    assert third.deferred == second.deferred - 20


def test_each_pass_reports_what_earlier_unreported_passes_changed(tmp_path):
    gated, broker, _ = _setup(tmp_path, 2, "new")
    broker.orders["c-0"] = attrs.evolve(broker.orders["c-0"], status="filled", filled_qty=1)
    gated.place_order(symbol="AAPL", side="buy", qty=1)  # its first order reconciles first
    assert gated.journal.intent("c-0").status == "filled"
    report = gated.reconcile()
    assert [(c["client_order_id"], c["to"]) for c in report.changed] == [("c-0", "filled")]
    assert gated.reconcile().changed == ()  # reported once


def test_a_missing_verdict_is_final_after_a_day(tmp_path):
    clock = ManualClock()
    gated, broker, counted = _setup(tmp_path, 1, "new", clock=clock)
    broker.orders.clear()  # acknowledged once, then forgotten by the broker
    first = gated.reconcile()
    assert [c["to"] for c in first.changed] == ["missing"]
    counted.names.clear()
    clock.advance(dt.timedelta(hours=23).total_seconds())
    assert gated.reconcile().rechecked == 1  # still looked for
    assert "get_order_by_client_id" in counted.names
    counted.names.clear()
    clock.advance(dt.timedelta(hours=2).total_seconds())
    last = gated.reconcile()
    assert (last.rechecked, last.requests, counted.names) == (0, 0, [])
    assert gated.journal.intent("c-0").status == "missing"
