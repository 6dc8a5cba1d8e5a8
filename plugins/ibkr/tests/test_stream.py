"""IB's order events as the core's order stream: updates, fills, heartbeats, drops and returns."""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace

import pytest

from .conftest import wait_until
from .test_orders import request


class Recorder:
    """A listener that keeps what the stream delivers, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_connected(self) -> None:
        self.calls.append(("connected", None))

    def on_update(self, update) -> None:
        self.calls.append(("update", update))

    def on_alive(self) -> None:
        self.calls.append(("alive", None))

    def on_disconnected(self, reason: str) -> None:
        self.calls.append(("disconnected", reason))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def updates(self, coid: str | None = None) -> list:
        found = [u for kind, u in self.calls if kind == "update"]
        return [u for u in found if coid is None or u.order.client_order_id == coid]

    def statuses(self, coid: str) -> list[str]:
        return [u.order.status.value for u in self.updates(coid)]


@pytest.fixture
def recorded(ibkr):
    recorder = Recorder()
    stream = ibkr.subscribe_order_updates(recorder)
    wait_until(lambda: recorder.kinds()[:1] == ["connected"])
    yield recorder
    stream.close()


def test_a_resting_order_and_its_cancel_are_streamed(ibkr, recorded):
    order = ibkr.place_order(request(order_type="limit", limit_price="180"))
    wait_until(lambda: "new" in recorded.statuses("c-1"))
    ibkr.cancel_order(order.order_id)
    wait_until(lambda: "canceled" in recorded.statuses("c-1"))
    events = [u.event for u in recorded.updates("c-1")]
    assert events[0] == "new"
    assert events[-1] == "canceled"
    assert all(u.order.order_id == order.order_id for u in recorded.updates("c-1"))


def test_a_fill_carries_its_execution(ibkr, recorded):
    ibkr.place_order(request(qty=2))
    wait_until(lambda: "filled" in recorded.statuses("c-1"))
    fill = next(u for u in recorded.updates("c-1") if u.execution_id)
    assert (fill.event, fill.qty, fill.price) == ("fill", 2, Decimal("190.5"))
    assert fill.order.filled_qty == 2
    assert fill.order.status.value == "filled"
    assert fill.at is not None
    assert recorded.updates("c-1")[-1].order.filled_qty == 2


def test_a_partial_fill_is_a_partial_fill(ibkr, fake, recorded):
    fake.book.faults.append("partial")
    ibkr.place_order(request(qty=4))
    wait_until(lambda: "partially_filled" in recorded.statuses("c-1"))
    partial = next(u for u in recorded.updates("c-1") if u.execution_id)
    assert (partial.event, partial.qty, partial.order.filled_qty) == ("partial_fill", 2, 2)


def test_heartbeats_say_the_connection_is_up(recorded):
    wait_until(lambda: recorded.kinds().count("alive") >= 2)


def test_a_drop_is_reported_and_the_return_is_a_new_connect(fake, recorded):
    fake.drop()
    wait_until(lambda: "disconnected" in recorded.kinds())
    wait_until(lambda: recorded.kinds().count("connected") == 2)
    kinds = recorded.kinds()
    assert kinds.index("disconnected") < len(kinds) - 1 - kinds[::-1].index("connected")


def test_tws_losing_ib_is_a_drop_and_its_return_a_connect(fake, recorded):
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    wait_until(lambda: "disconnected" in recorded.kinds())
    reason = next(r for kind, r in recorded.calls if kind == "disconnected")
    assert "TWS lost its connection to IB (1100" in str(reason)
    fake.send_error(1101, "Connectivity restored - data lost.")
    wait_until(lambda: recorded.kinds().count("connected") == 2)


def test_the_echo_of_an_order_being_submitted_goes_to_on_own_update(ibkr):
    class Own(Recorder):
        def __init__(self, takes: str) -> None:
            super().__init__()
            self.takes = takes
            self.offered: list[tuple[str, str, Decimal]] = []

        def on_own_update(self, client_order_id, status, filled_qty, parse) -> bool:
            self.offered.append((client_order_id, status, filled_qty))
            if client_order_id == "boom":
                raise RuntimeError("listener bug")
            return client_order_id == self.takes and parse().order.client_order_id == self.takes

    listener = Own(takes="mine")
    stream = ibkr.subscribe_order_updates(listener)
    try:
        ibkr.place_order(request(coid="mine", order_type="limit", limit_price="180"))
        ibkr.place_order(request(coid="other", order_type="limit", limit_price="180"))
        ibkr.place_order(request(coid="boom", order_type="limit", limit_price="180"))
        wait_until(lambda: listener.statuses("other") and listener.statuses("boom"))
        assert ("mine", "new", Decimal(0)) in listener.offered
        assert listener.statuses("mine") == [], "taken by on_own_update: not delivered again"
    finally:
        stream.close()


def test_an_unreadable_update_resynchronises_the_listener(ibkr, recorded):
    stream_sink = ibkr.session._sinks[-1]
    broken = SimpleNamespace(
        contract=SimpleNamespace(secType="STK", symbol="AAPL"),
        order=SimpleNamespace(
            permId=5,
            clientId=7,
            orderId=5,
            orderRef="x",
            totalQuantity=float("inf"),
            filledQuantity=None,
            orderType="LMT",
            lmtPrice=1.0,
            auxPrice=None,
            action="BUY",
            tif="DAY",
            trailingPercent=None,
            outsideRth=False,
        ),
        orderStatus=SimpleNamespace(status="Submitted", filled=0.0, permId=5, avgFillPrice=0.0),
        fills=[],
        log=[],
    )
    stream_sink.trade_changed(broken, None)
    wait_until(lambda: recorded.kinds()[-2:] == ["disconnected", "connected"])
    assert "unreadable order update" in str(recorded.calls[-2][1])


def test_other_kinds_of_contract_and_repeats_are_not_streamed(ibkr, recorded):
    sink = ibkr.session._sinks[-1]
    option = SimpleNamespace(contract=SimpleNamespace(secType="OPT"))
    sink.trade_changed(option, None)
    ibkr.place_order(request(order_type="limit", limit_price="180"))
    wait_until(lambda: recorded.statuses("c-1"))
    trade = ibkr.desk.local(lambda t: t.order.orderRef == "c-1")
    before = len(recorded.updates())
    ibkr.session.loop.call_soon_threadsafe(sink.trade_changed, trade, None)
    ibkr.get_account()  # a round trip through the loop: the repeat has been handled
    assert len(recorded.updates()) == before


def test_a_failing_listener_does_not_stop_the_stream(ibkr, caplog):
    class Failing(Recorder):
        def on_update(self, update) -> None:
            super().on_update(update)
            raise RuntimeError("listener bug")

    listener = Failing()
    stream = ibkr.subscribe_order_updates(listener)
    try:
        ibkr.place_order(request(coid="a", order_type="limit", limit_price="180"))
        ibkr.place_order(request(coid="b", order_type="limit", limit_price="180"))
        wait_until(lambda: listener.statuses("a") and listener.statuses("b"))
    finally:
        stream.close()
    assert "listener failed on update" in caplog.text


def test_nothing_arrives_after_close(ibkr, fake):
    recorder = Recorder()
    stream = ibkr.subscribe_order_updates(recorder)
    wait_until(lambda: recorder.kinds() == ["connected"])
    stream.close()
    stream.close()
    stream.poll()
    ibkr.place_order(request(order_type="limit", limit_price="180"))
    fake.drop()
    wait_until(lambda: ibkr.session.connected and fake.connections == 2)
    assert recorder.kinds() == ["connected"]
    assert "IBKROrderStream" in repr(stream)


def test_through_the_gate_a_fill_missed_while_dropped_is_reconciled(gated, fake, caplog):
    caplog.set_level(logging.INFO)
    order = gated.place_order(
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price="180",
        time_in_force="gtc",
    )
    fake.refuse = 2
    fake.drop()
    wait_until(lambda: not gated.order_stream_status()["live"])
    fake.set_price("AAPL", "179")  # the order fills while nobody listens
    wait_until(lambda: gated.order_stream_status()["live"])
    intent = gated.journal.intent(order.client_order_id)
    assert intent.status == "filled", "reconciled on reconnect"
    assert gated.cache.position_qty("AAPL") == 1
    assert gated.cache.open_orders() == []
