"""A replace takes the path of a new order: its own intent, decided in the write section.

Every process counts a replacement in flight until the broker answers, so two
processes cannot each raise an order and a new one past a limit. Brokers that
modify an order in place (IB) keep its id; the core follows the new terms.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    GatedBroker,
    OrderContext,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    PluginHost,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.audit import audit
from tradingagents_brokers.safety.journal import Journal

from ..fakes import FakeBroker, FakePlugin


class Flat(FakeBroker):
    """Holds nothing; ``replace_order`` can be made to wait until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False
        self.waiting = threading.Event()
        self.release = threading.Event()
        self.replace_calls = 0

    def get_positions(self):  # type: ignore[no-untyped-def]
        return []

    def replace_order(self, order_id, changes):  # type: ignore[no-untyped-def]
        self.replace_calls += 1
        if self.hang:
            self.waiting.set()
            assert self.release.wait(20), "never released"
        return super().replace_order(order_id, changes)


def _gated(broker: FakeBroker, journal: Journal, **overrides) -> GatedBroker:  # type: ignore[no-untyped-def]
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    host = PluginHost(pm)
    config = effective_config(
        {
            "trading_broker": "fake",
            "max_orders_per_second": 100,
            "max_orders_per_minute": 1000,
            "duplicate_window_seconds": 0,
            **overrides,
        }
    )
    return GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)


def _limit_buy(gated: GatedBroker, qty: int) -> object:
    return gated.place_order(
        symbol="AAPL", side="buy", qty=qty, order_type="limit", limit_price=99, time_in_force="gtc"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_replace_in_flight_in_one_process_counts_in_another(tmp_path, stream):
    """Equity 100,000 and a 10% position limit: 100 shares of a $100 stock.

    A raises its 10-share order to 60 and the broker has not answered; B's 40 would
    make 100 with the old order but 100 plus a replaced 60 do not fit. Counted
    without the replacement (as before), B's order was admitted.
    """
    broker = Flat()
    path = tmp_path / "journal.db"
    a = _gated(broker, Journal(path), order_stream=stream)
    b = _gated(broker, Journal(path), order_stream=stream)
    order = _limit_buy(a, 10)
    broker.hang = True
    failures: list[BaseException] = []

    def replace() -> None:
        try:
            a.replace_order(order.order_id, qty=60)  # type: ignore[attr-defined]
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=replace, daemon=True)
    thread.start()
    assert broker.waiting.wait(5), "the replace never reached the broker"
    with pytest.raises(OrderRejectedError) as refused:
        _limit_buy(b, 40)
    assert refused.value.reason_codes == ("POSITION_EXCEEDS_MAX",)
    broker.release.set()
    thread.join(5)
    assert failures == []
    # Answered: the replaced order no longer counts beside its replacement.
    assert _limit_buy(b, 40).qty == 40  # type: ignore[attr-defined]  # 60 + 40: at the limit
    with pytest.raises(OrderRejectedError):
        _limit_buy(b, 1)


def test_a_replace_is_an_intent_of_its_own_and_the_old_one_is_replaced(tmp_path):
    broker = Flat()
    gated = _gated(broker, Journal(tmp_path / "journal.db"))
    order = _limit_buy(gated, 1)
    with pytest.raises(OrderRejectedError, match="PRICE_OUTSIDE_COLLAR"):
        gated.replace_order(order.order_id, limit_price=150)  # type: ignore[attr-defined]
    assert broker.replace_calls == 0
    denied = gated.journal.intents()[0]  # newest first
    assert denied.status == "denied"
    event = gated.journal.events(intent_id=denied.intent_id)[0]
    assert event["payload"]["replaces"] == order.order_id  # type: ignore[attr-defined]
    assert event["payload"]["changes"]["limit_price"] == "150"
    assert event["payload"]["limits_hash"] == gated.limits_hash

    new = gated.replace_order(order.order_id, qty=2, context=OrderContext(source="cli"))  # type: ignore[attr-defined]
    replacement, _, first = gated.journal.intents()
    assert (first.status, replacement.status) == ("replaced", "new")
    assert replacement.client_order_id == new.client_order_id
    assert replacement.order_id == new.order_id
    assert replacement.source == "cli"
    assert gated.journal.events(intent_id=first.intent_id)[-1]["kind"] == "replaced"
    assert [o.order_id for o in gated.get_orders("open")] == [new.order_id]
    assert audit(gated.journal).ok, audit(gated.journal).problems


def test_a_replace_resent_with_its_client_order_id_is_not_sent_twice(tmp_path):
    broker = Flat()
    gated = _gated(broker, Journal(tmp_path / "journal.db"))
    order = _limit_buy(gated, 1)
    first = gated.replace_order(order.order_id, qty=2, client_order_id="mine-1")  # type: ignore[attr-defined]
    again = gated.replace_order(order.order_id, qty=2, client_order_id="mine-1")  # type: ignore[attr-defined]
    assert again.order_id == first.order_id
    assert broker.replace_calls == 1


def test_a_refused_replace_leaves_the_order_as_it_was(tmp_path):
    broker = Flat()
    gated = _gated(broker, Journal(tmp_path / "journal.db"))
    order = _limit_buy(gated, 1)
    broker.fail_next = BrokerAPIError("order is not replaceable", status_code=422)
    with pytest.raises(BrokerAPIError):
        gated.replace_order(order.order_id, qty=2)  # type: ignore[attr-defined]
    replacement, first = gated.journal.intents()
    assert (first.status, replacement.status) == ("new", "rejected")
    assert [o.qty for o in gated.get_orders("open")] == [Decimal(1)]


def test_an_ambiguous_replace_is_looked_up_never_sent_again(tmp_path):
    broker = Flat()
    gated = _gated(broker, Journal(tmp_path / "journal.db"))
    order = _limit_buy(gated, 1)
    # The broker took it, then the answer was lost: found by its new client order id.
    broker.fail_next = BrokerAPIError("bad gateway", status_code=502)
    broker.accept_before_failing = True
    new = gated.replace_order(order.order_id, qty=2)  # type: ignore[attr-defined]
    assert new.qty == Decimal(2)
    assert gated.journal.intents()[0].status == "new"
    # Lost before it arrived: unknown, counted, left for reconciliation - not sent again.
    broker.fail_next = BrokerAPIError("bad gateway", status_code=502)
    broker.accept_before_failing = False
    with pytest.raises(OrderOutcomeUnknownError):
        gated.replace_order(new.order_id, qty=3)
    assert broker.replace_calls == 2
    assert gated.journal.intents()[0].status == "unknown"


@pytest.mark.parametrize("stream", [False, True])
def test_an_order_modified_in_place_keeps_its_id_and_takes_the_new_terms(tmp_path, stream):
    broker = Flat()
    broker.in_place = True
    gated = _gated(broker, Journal(tmp_path / "journal.db"), order_stream=stream)
    order = _limit_buy(gated, 10)
    new = gated.replace_order(order.order_id, qty=60)  # type: ignore[attr-defined]
    assert new.order_id == order.order_id  # type: ignore[attr-defined]
    replacement, first = gated.journal.intents()
    assert (first.status, replacement.status) == ("replaced", "new")
    assert first.order_id == replacement.order_id == new.order_id
    assert gated.journal.events()[-1]["payload"]["in_place"] is True
    # The order counts once, with its new quantity: 60 + 40 of 100 fit, one more does not.
    assert _limit_buy(gated, 40).qty == 40  # type: ignore[attr-defined]
    with pytest.raises(OrderRejectedError):
        _limit_buy(gated, 1)
