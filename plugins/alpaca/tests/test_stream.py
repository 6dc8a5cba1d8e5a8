"""The trade_updates stream (the plugin's websocket client) against the loopback websocket.

The gate's checks read the state cache while the stream is live, so an order is
one HTTP request; the stream's faults (a dropped connection, duplicates, messages
out of order, orders nobody journaled, refused keys, a server that stops
answering) leave the journal and the cache agreeing with the emulator's book.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from typing import ClassVar

import pytest

from tradingagents_brokers import get_broker, hookimpl

from .conftest import CANARY_KEY, gated_config, wait_until
from .fake_alpaca import fixture

HOT = {"quote_cache_seconds": 600, "state_max_age_seconds": 600}


def _config(fake, tmp_path, **options):
    core = {
        "max_orders_per_second": 1000,
        "max_orders_per_minute": 1000,
        "max_position_size": 1,
        "max_open_orders": "off",  # a thousand rest at the broker in one test
        **{k: options.pop(k) for k in list(options) if k in HOT},
    }
    return gated_config(fake, tmp_path, core, **options)


@pytest.fixture
def live(fake, tmp_path):
    """A gated Alpaca broker whose stream is live, reconnecting fast."""
    gated = get_broker("alpaca", config=_config(fake, tmp_path, **HOT))
    wait_until(lambda: gated.order_stream_status()["live"])
    gated.stream.stream._stream.min_backoff = 0.05
    gated.stream.stream._stream.max_backoff = 0.1
    gated.stream.refresh_interval = 0
    yield gated
    gated.close()


def _buy(gated, n=1, price="180"):
    return gated.place_order(
        symbol="AAPL",
        side="buy",
        qty=n,
        order_type="limit",
        limit_price=price,
        time_in_force="gtc",
    )


def _requests_since(fake, mark):
    return [(method, path) for method, path, _ in fake.requests[mark:]]


def _book_agrees(gated, fake):
    """The cache and the journal say what the emulator's book says."""
    cache = gated.cache
    book_open = {o["id"] for o in fake.open_orders()}
    if {o.order_id for o in cache.open_orders()} != book_open:
        return False
    for symbol, position in fake.positions.items():
        if cache.position_qty(symbol) != Decimal(position["qty"]):
            return False
    for intent in gated.journal.intents():
        order = fake.orders.get(intent.client_order_id)
        if order is not None and (intent.status, intent.filled_qty) != (
            order["status"],
            Decimal(order["filled_qty"] or 0),
        ):
            return False
    return True


def test_the_stream_logs_in_with_the_accounts_key_and_goes_live(live, fake):
    assert fake.stream.logins == [CANARY_KEY]
    # small messages, read at once: no per-message compression to pay for on either side
    assert fake.stream.extensions == [None]
    status = live.order_stream_status()
    assert (status["live"], status["snapshots"]) == (True, 1)


def test_a_warm_order_is_one_http_request(live, fake):
    _buy(live)  # the first quote and asset look-ups
    mark = len(fake.requests)
    for _ in range(20):
        _buy(live)
    assert _requests_since(fake, mark) == [("POST", "/v2/orders")] * 20


def test_a_thousand_open_orders_cost_nothing_per_order(fake, tmp_path):
    for n in range(1000):
        body = {"symbol": f"S{n % 40}", "side": "buy", "type": "limit", "time_in_force": "gtc"}
        fake.new_order({**body, "qty": "1", "limit_price": "1", "client_order_id": f"seed-{n}"})
    with get_broker("alpaca", config=_config(fake, tmp_path, **HOT)) as gated:
        wait_until(lambda: gated.order_stream_status()["live"])
        assert len(gated.cache.open_orders()) == 1000
        _buy(gated)
        mark = len(fake.requests)
        for _ in range(10):
            _buy(gated)
        assert _requests_since(fake, mark) == [("POST", "/v2/orders")] * 10


def test_fills_reach_the_journal_the_cache_and_the_event_hook(live, fake):
    seen = []

    class Observer:
        @hookimpl
        def on_order_event(self, event):
            seen.append((event.kind, event.update.qty if event.update else None))

    live.host.pm.register(Observer(), name="observer")
    order = _buy(live, 3)
    fake.fill(order.order_id, qty=1, price=Decimal("179.5"))
    fake.fill(order.order_id)
    # the journal records an update first, then the cache takes it
    wait_until(lambda: live.cache.position_qty("AAPL") == 5 + 3)
    assert live.journal.intent(1).status == "filled"
    assert live.journal.intent(1).filled_qty == 3
    updates = [
        e["payload"]["update"]
        for e in live.journal.events(intent_id=1)
        if e["kind"] == "order_update"
    ]
    fills = [(u["event"], u["qty"], u["price"]) for u in updates if u["event"] != "new"]
    assert fills == [("partial_fill", "1", "179.5"), ("fill", "2", "190.5")]
    assert seen[-2:] == [("partially_filled", Decimal(1)), ("filled", Decimal(2))]


def test_a_dropped_connection_loses_a_fill_and_the_reconnect_recovers_it(live, fake):
    order = _buy(live, 2)
    fake.stream.faults.append("drop")
    fake.fill(order.order_id)  # the connection closes instead of carrying the fill
    wait_until(lambda: live.order_stream_status()["snapshots"] >= 2)
    wait_until(lambda: live.order_stream_status()["live"])
    assert live.journal.intent(1).status == "filled"
    assert _book_agrees(live, fake)
    assert any(e["kind"] == "reconcile" for e in live.journal.events(intent_id=1))


def test_duplicates_and_messages_out_of_order_change_nothing(live, fake):
    order = _buy(live, 4)
    fake.stream.faults.extend(["hold", "duplicate"])
    fake.fill(order.order_id, qty=1)  # held back...
    fake.fill(order.order_id)  # ...and sent after this one, which is sent twice
    wait_until(lambda: live.stream.updates >= 4)  # new, fill, fill again, the late partial
    assert live.journal.intent(1).filled_qty == 4
    assert live.cache.position_qty("AAPL") == 9
    kinds = [e["kind"] for e in live.journal.events(intent_id=1)]
    assert kinds.count("order_update") <= 2  # the new, the fill to 4; the late partial is no news
    assert live.order_stream_status()["live"]
    assert _book_agrees(live, fake)


def test_a_foreign_order_is_journaled_and_the_cache_read_again(live, fake):
    foreign = fake.foreign_order(qty="7")
    fake.fill(foreign["id"])
    wait_until(lambda: any(e["kind"] == "foreign_order_update" for e in live.journal.events()))
    wait_until(lambda: live.cache.position_qty("AAPL") == 12 and live.order_stream_status()["live"])
    assert live.journal.intents() == []  # never an intent of ours
    assert _book_agrees(live, fake)


def test_refused_keys_leave_the_checks_on_fresh_reads(fake, tmp_path):
    fake.stream.reject_auth = True
    with get_broker("alpaca", config=_config(fake, tmp_path)) as gated:
        wait_until(lambda: "refused" in (gated.order_stream_status()["reason"] or ""))
        mark = len(fake.requests)
        _buy(gated)
        paths = [path for _, path in _requests_since(fake, mark)]
        assert {"/v2/account", "/v2/positions", "/v2/orders"} <= set(paths)
        event = next(e for e in gated.journal.events(intent_id=1) if e["kind"] == "intent")
        assert event["payload"]["state"]["source"] == "broker"


def test_a_server_that_stops_answering_is_not_trusted(fake, tmp_path):
    config = _config(fake, tmp_path, stream_heartbeat_seconds=0.1, state_max_age_seconds=1)
    with get_broker("alpaca", config=config) as gated:
        wait_until(lambda: gated.order_stream_status()["live"])
        fake.stream.loop.call_soon_threadsafe(time.sleep, 2)  # the server freezes
        wait_until(lambda: not gated.order_stream_status()["live"])
        _buy(gated)
        decided = next(e for e in gated.journal.events(intent_id=1) if e["kind"] == "intent")
        assert decided["payload"]["state"]["source"] == "broker"
        wait_until(lambda: gated.order_stream_status()["live"], timeout=10)
        _buy(gated, price="181")  # the stream is back: its state is younger than the limit
        decided = next(e for e in gated.journal.events(intent_id=2) if e["kind"] == "intent")
    state = decided["payload"]["state"]
    at = dt.datetime.fromisoformat(decided["at"].replace("Z", "+00:00"))
    assert state["source"] == "stream"
    assert at - dt.datetime.fromisoformat(state["orders_as_of"]) <= dt.timedelta(seconds=1)


def test_closing_stops_the_stream_thread(fake, tmp_path):
    gated = get_broker("alpaca", config=_config(fake, tmp_path))
    wait_until(lambda: gated.order_stream_status()["live"])
    thread = gated.stream.stream._thread
    gated.close()
    assert not thread.is_alive()
    wait_until(lambda: not fake.stream.clients)


def test_a_stop_that_came_while_connecting_ends_the_stream_once_connected(monkeypatch):
    """Stopping closes the socket; before there is one, the session sees the stop."""
    from tradingagents_brokers_alpaca import stream as module

    told = []

    class Owner:
        connect_timeout = 1.0
        heartbeat = 1.0
        reason = "the connection closed"

        def deliver(self, kind, data=None):
            told.append((kind, data))

    stream = module._TradeUpdates("KEY", "SECRET", "ws://127.0.0.1:9/stream", Owner())

    class Socket:
        closed = False

        async def send(self, message):
            raise AssertionError("a stopped stream must not log in")

        async def close(self):
            Socket.closed = True

    async def connect(*args, **kwargs):
        stream.request_stop()  # the stop arrives while the socket is being opened
        return Socket()  # then the connection is made

    monkeypatch.setattr(module, "connect", connect)
    stream.run()  # returns: no reconnect after a stop
    assert Socket.closed
    assert told == [("disconnected", "stopped")]


def test_a_dropped_connection_is_retried_with_backoff_and_refused_keys_are_not(fake, caplog):
    from tradingagents_brokers_alpaca import stream as module

    class Owner:
        connect_timeout = 1.0
        heartbeat = 10.0
        reason = "the connection closed"
        told: ClassVar[list] = []

        def deliver(self, kind, data=None):
            self.told.append(kind)

        def offer_own(self, data):
            return False

    owner = Owner()
    client = module._TradeUpdates("KEY", "SECRET", fake.stream.url, owner)
    client.min_backoff = client.max_backoff = 0.01
    thread = __import__("threading").Thread(target=client.run)
    thread.start()
    wait_until(lambda: owner.told.count("connected") == 1)
    for ws in list(fake.stream.clients):  # the server drops it
        fake.stream.loop.call_soon_threadsafe(lambda ws=ws: ws.transport.close())
    wait_until(lambda: owner.told.count("connected") == 2)
    assert owner.told[:3] == ["connected", "disconnected", "connected"]
    fake.stream.reject_auth = True
    for ws in list(fake.stream.clients):
        fake.stream.loop.call_soon_threadsafe(lambda ws=ws: ws.transport.close())
    thread.join(timeout=5)
    assert not thread.is_alive()  # refused keys: no more tries
    assert owner.told[-1] == "disconnected"
    assert any("refused the order stream's keys" in r.getMessage() for r in caplog.records)


def test_an_update_is_offered_unparsed_to_a_listener_that_takes_its_own():
    from decimal import Decimal
    from types import SimpleNamespace

    from tradingagents_brokers_alpaca.stream import AlpacaOrderStream

    data = fixture("trade_update_fill.assembled.json")["data"]
    offered = []

    def take(coid, status, filled, parse):
        offered.append((coid, status, filled, parse))
        return True

    owner = SimpleNamespace(_take_own=take)
    assert AlpacaOrderStream.offer_own(owner, data) is True
    ((coid, status, filled, parse),) = offered
    order = data["order"]
    assert (coid, status, filled) == (
        order["client_order_id"],
        order["status"],
        Decimal(str(order["filled_qty"])),
    )
    assert parse().order.client_order_id == coid  # parsed only when asked
    for unusable in ({}, {"order": {"status": "new"}}, {"order": {**order, "filled_qty": "x"}}):
        assert AlpacaOrderStream.offer_own(owner, unusable) is False
    assert AlpacaOrderStream.offer_own(SimpleNamespace(_take_own=None), data) is False


def test_closing_the_broker_stops_the_stream_without_a_warning(fake, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        gated = get_broker("alpaca", config=_config(fake, tmp_path))
        wait_until(lambda: gated.order_stream_status()["live"])
        caplog.clear()
        gated.close()
    ours = [r for r in caplog.records if r.name.startswith("tradingagents")]
    assert [r for r in ours if r.levelno >= logging.WARNING] == []
    assert not any("dropped" in r.getMessage() for r in ours)


def test_the_order_streams_keys_reach_no_debug_log(fake, tmp_path, caplog):
    from .test_quotes import client_logs_hold_no_key

    with caplog.at_level(logging.DEBUG):
        gated = get_broker("alpaca", config=_config(fake, tmp_path))
        wait_until(lambda: gated.order_stream_status()["live"])
        gated.close()
    assert any(r.name == "websockets.server" for r in caplog.records)  # DEBUG was on
    assert client_logs_hold_no_key(caplog.records)
