"""The stream tests of the conformance kit, for brokers that declare a stream capability."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import ClassVar

import pytest

from .. import GatedBroker
from ..models import Quote
from ..streams import OrderStream, OrderUpdate
from ._base import TradingBase

__all__ = ["StreamTests"]


class StreamTests(TradingBase):
    """Order-stream and quote-stream tests; each skips unless the broker declares the stream."""

    # -- the order stream (brokers that declare order_updates) -----------------------

    #: How long to wait for an update to arrive.
    stream_timeout: ClassVar[float] = 10.0

    @pytest.fixture
    def streaming(self, gated: GatedBroker) -> GatedBroker:
        if not gated.capabilities.order_updates:
            pytest.skip("the broker declares no order_updates")
        assert gated.stream.stream is not None, (
            "the broker declares order_updates but subscribe_order_updates returned nothing"
        )
        _until(
            lambda: bool(gated.order_stream_status()["live"]),
            [gated.stream.stream],
            self.stream_timeout,
            "the order stream never went live: call on_connected once subscribed, and "
            "on_alive now and then",
        )
        return gated

    def test_order_updates_report_every_state_change(self, streaming: GatedBroker) -> None:
        """The order stream reports a new order, its cancel, and a fill, each with the gate's id.

        Runs for brokers that declare ``order_updates``. The plugin proves on its own:
        partial fills, replaces and expiries on its stream, and what it does with an
        update it cannot parse.
        """
        recorder = _Recorder()
        stream = streaming.host.subscribe_order_updates(streaming.name, streaming.broker, recorder)
        try:
            polled = [stream, streaming.stream.stream]
            _until(lambda: recorder.connected > 0, polled, self.stream_timeout, "no on_connected")
            resting = self._resting(streaming)
            _until(
                lambda: any(
                    s not in ("canceled", "filled")
                    for s in recorder.statuses(resting.client_order_id)
                ),
                polled,
                self.stream_timeout,
                "no update for a new order (its client_order_id must be the gate's)",
            )
            streaming.cancel_order(resting.order_id)
            _until(
                lambda: "canceled" in recorder.statuses(resting.client_order_id),
                polled,
                self.stream_timeout,
                "no 'canceled' update after a cancel",
            )
            market = streaming.place_order(symbol=self.symbol, side="buy", qty=self.quantity)
            _until(
                lambda: "filled" in recorder.statuses(market.client_order_id),
                polled,
                self.stream_timeout,
                "no 'filled' update for a marketable order",
            )
            fills = [
                u for u in recorder.updates if u.order.client_order_id == market.client_order_id
            ]
            assert fills[-1].order.filled_qty == self.quantity, (
                "a fill's order carries its filled_qty"
            )
        finally:
            if stream is not None:
                stream.close()

    def test_nothing_is_missed_once_a_dropped_stream_is_back(self, streaming: GatedBroker) -> None:
        """After the stream drops and comes back, the cache and the journal match the broker.

        The kit drops the stream by closing it, not by breaking its connection. The
        plugin proves on its own: that its stream notices a real drop (a reset, a silent
        peer) and calls ``on_disconnected``, and that it reconnects.
        """
        streaming.stream.close()  # the connection drops; what happens now is not streamed
        first = self._resting(streaming)
        streaming.cancel_order(first.order_id)
        second = self._resting(streaming, qty=self.qty(2))
        assert streaming.restart_order_stream()
        _until(
            lambda: bool(streaming.order_stream_status()["live"]),
            [streaming.stream.stream],
            self.stream_timeout,
            "the stream did not come back after a restart",
        )
        book = {o.order_id for o in streaming.get_orders("open")}
        assert second.order_id in book
        assert {o.order_id for o in streaming.cache.open_orders()} == book, (
            "after a reconnect the cache must hold the broker's open orders"
        )
        for position in streaming.get_positions():
            assert streaming.cache.position_qty(position.symbol) == position.qty
        for intent in streaming.journal.intents():
            status = streaming.get_order_by_client_id(intent.client_order_id).status.value
            assert intent.status == status, (
                f"the journal says {intent.status} for {intent.client_order_id}, the broker "
                f"{status}: reconcile on every connect"
            )
        streaming.cancel_order(second.order_id)

    # -- the quote stream (brokers that declare quote_updates) ------------------------

    def test_a_wanted_symbol_is_confirmed_and_kept_alive(self, gated: GatedBroker) -> None:
        """A wanted symbol is confirmed, heartbeats come as often as asked, nothing after close.

        Runs for brokers that declare ``quote_updates``. The plugin proves on its own:
        that the prices it delivers are the broker's trades of that symbol, and what
        happens when the broker refuses a subscription.
        """
        if not gated.capabilities.quote_updates:
            pytest.skip("the broker declares no quote_updates")
        own = gated.cache.quotes.detach("the kit subscribes on its own")
        if own is not None:  # a broker may allow one connection (Alpaca does)
            own.close()
        recorder = _QuoteRecorder(heartbeat_seconds=0.2)
        stream = gated.host.subscribe_quotes(gated.name, gated.broker, recorder)
        assert stream is not None, (
            "the broker declares quote_updates but subscribe_quotes returned nothing"
        )
        try:
            stream.want(self.symbol)
            stream.want(self.symbol)  # asking twice is allowed
            _until(
                lambda: self.symbol in recorder.subscribed,
                [],
                self.stream_timeout,
                f"{self.symbol} was never confirmed: call on_subscribed with the whole set",
            )
            seen = recorder.alive
            _until(
                lambda: recorder.alive >= seen + 2,
                [],
                self.stream_timeout,
                "no heartbeats: call on_alive every listener.heartbeat_seconds",
            )
            assert all(q.symbol in recorder.subscribed for q in recorder.quotes), (
                "a quote of a symbol that is not confirmed"
            )
        finally:
            stream.close()
        calls = recorder.calls
        time.sleep(recorder.heartbeat_seconds * 3)
        assert recorder.calls == calls, "the quote stream called its listener after close()"


class _QuoteRecorder:
    """A quote listener that keeps what a broker's quote stream delivers."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.subscribed: set[str] = set()
        self.quotes: list[Quote] = []
        self.alive = 0
        self.calls = 0

    def on_subscribed(self, symbols: Collection[str]) -> None:
        self.calls += 1
        self.subscribed = set(symbols)

    def on_quote(self, quote: Quote) -> None:
        self.calls += 1
        self.quotes.append(quote)

    def on_alive(self) -> None:
        self.calls += 1
        self.alive += 1

    def on_disconnected(self, reason: str) -> None:
        self.calls += 1
        self.subscribed = set()


class _Recorder:
    """A listener that keeps what a broker's stream delivers."""

    def __init__(self) -> None:
        self.connected = 0
        self.updates: list[OrderUpdate] = []

    def on_connected(self) -> None:
        self.connected += 1

    def on_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_alive(self) -> None:
        return None

    def on_disconnected(self, reason: str) -> None:
        return None

    def statuses(self, client_order_id: str) -> list[str]:
        return [
            u.order.status.value for u in self.updates if u.order.client_order_id == client_order_id
        ]


def _until(
    condition: Callable[[], bool], streams: list[OrderStream | None], timeout: float, what: str
) -> None:
    """Poll pull-based streams and wait until ``condition`` holds, or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        for stream in streams:
            if stream is not None:
                stream.poll()
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (waited {timeout:g}s)", pytrace=False)
        time.sleep(0.01)
