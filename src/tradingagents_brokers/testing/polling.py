"""The conformance kit's tests for a broker whose order stream is polled.

A plugin whose ``subscribe_order_updates`` returns a
:class:`~tradingagents_brokers.polling.PolledOrderStream` subclasses
:class:`PolledStreamTests` instead of ``BrokerTradingTests``: it runs every
trading test (the order stream's among them) and these::

    from tradingagents_brokers.testing.polling import PolledStreamTests

    class TestMyRestBroker(PolledStreamTests):
        broker_name = "myrestbroker"

Each test says what it proves. What they do not prove, and the plugin must on
its own: that ``get_orders("closed", limit=n)`` returns the newest closed orders
first (the poller finds orders that opened and closed between two polls there),
and that a network failure inside ``get_orders`` is raised as a
:mod:`tradingagents_brokers.errors` class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from .. import BrokerAPIError, GatedBroker, OrderRejectedError, hookimpl
from ..polling import PolledOrderStream
from ..streams import OrderUpdate
from .kit import BrokerTradingTests

__all__ = ["PolledStreamTests"]

#: The operations whose requests an order may make through the core.
_COUNTED = (
    "place_order",
    "get_account",
    "get_positions",
    "get_orders",
    "get_order",
    "get_order_by_client_id",
    "get_quote",
)


class _Requests:
    """Counts the requests the core makes through the operation hooks (not the poller's)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return sorted(names)


def _counter(name: str) -> Any:
    def count(self: _Requests) -> Any:
        self.names.append(name)
        return (yield)

    count.__name__ = name
    return hookimpl(wrapper=True)(count)


for _name in _COUNTED:
    setattr(_Requests, _name, _counter(_name))


class PolledStreamTests(BrokerTradingTests):
    """Trading level, plus what a polled order stream must keep (see the module docstring)."""

    #: Requests an order may cost while the stream is live: the order and a price.
    max_requests_per_order: ClassVar[int] = 2

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {name for name in vars(PolledStreamTests) if name.startswith("test_")}
        for name in own & set(vars(cls)):
            if not _is_marked_xfail(vars(cls)[name]):
                raise TypeError(
                    f"{cls.__name__}.{name} overrides a conformance test; mark it "
                    "@pytest.mark.xfail(reason='why this broker cannot pass') instead"
                )

    @pytest.fixture
    def polled(self, streaming: GatedBroker) -> GatedBroker:
        stream = streaming.stream.stream
        assert isinstance(stream, PolledOrderStream), (
            "PolledStreamTests is for brokers whose subscribe_order_updates returns a "
            f"PolledOrderStream; this one returned {type(stream).__name__}"
        )
        return streaming

    def test_a_live_order_costs_at_most_two_requests(self, polled: GatedBroker) -> None:
        """While the poller keeps the cache live, an order costs at most two requests.

        The two are the order and a price older than ``quote_cache_seconds``
        (``max_requests_per_order``). Counted at the operation hooks, so the
        poller's own reads, on its thread, are not in the count; the account is
        read again once older than ``state_max_age_seconds``, which three quick
        orders do not reach.
        """
        requests = _Requests()
        polled.host.pm.register(requests, name="kit-request-counter")
        try:
            placed = []
            for _ in range(3):
                assert polled.order_stream_status()["live"], polled.order_stream_status()
                requests.take()
                placed.append(self._resting(polled))
                cost = requests.take()
                assert "place_order" in cost
                assert len(cost) <= self.max_requests_per_order, (
                    f"an order cost {cost} with the polled stream live"
                )
        finally:
            polled.host.pm.unregister(requests)
        for order in placed:
            polled.cancel_order(order.order_id)

    def test_a_failed_poll_stops_the_cache_until_a_poll_succeeds(self, polled: GatedBroker) -> None:
        """A failing poll stops the cache at once; the next good poll brings it back.

        Meanwhile the gate reads the broker, and refuses when it cannot. The
        failure is faked on the broker object's ``get_orders``: the plugin's own
        mapping of network errors is not exercised here.
        """
        broker: Any = polled.broker
        real = broker.get_orders

        def failing(*args: Any, **kwargs: Any) -> Any:
            raise BrokerAPIError("the kit made the poll fail")

        stream = polled.stream.stream
        broker.get_orders = failing
        try:
            _until(
                lambda: not polled.order_stream_status()["live"],
                [stream],
                self.stream_timeout,
                "the cache stayed live while every poll failed",
            )
            assert "polling failed" in (polled.order_stream_status()["reason"] or "")
            with pytest.raises(OrderRejectedError):
                self._resting(polled)  # the gate cannot read the open orders either
        finally:
            broker.get_orders = real
        _until(
            lambda: bool(polled.order_stream_status()["live"]),
            [stream],
            self.stream_timeout,
            "the cache did not come back after the polls succeeded again",
        )

    def test_a_closed_poller_calls_its_listener_no_more(self, polled: GatedBroker) -> None:
        """After ``close()`` the poller stops and its listener hears nothing more."""
        recorder = _Listener()
        stream = polled.host.subscribe_order_updates(polled.name, polled.broker, recorder)
        assert isinstance(stream, PolledOrderStream)
        _until(lambda: recorder.connected > 0, [stream], self.stream_timeout, "no on_connected")
        stream.close()
        heard, polls = recorder.calls, stream.polls
        time.sleep(stream.interval * 3)
        assert (recorder.calls, stream.polls) == (heard, polls), (
            "the poller polled or called its listener after close()"
        )


def _is_marked_xfail(function: Any) -> bool:
    marks = getattr(function, "pytestmark", [])
    return any(m.name == "xfail" and m.kwargs.get("reason") for m in marks)


class _Listener:
    """Counts what a stream delivers."""

    def __init__(self) -> None:
        self.connected = 0
        self.calls = 0

    def on_connected(self) -> None:
        self.connected += 1
        self.calls += 1

    def on_update(self, update: OrderUpdate) -> None:
        self.calls += 1

    def on_alive(self) -> None:
        self.calls += 1

    def on_disconnected(self, reason: str) -> None:
        self.calls += 1


def _until(condition: Callable[[], bool], streams: list[Any], timeout: float, what: str) -> None:
    """Wait until ``condition`` holds (polling pull-based streams), or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (waited {timeout:g}s)", pytrace=False)
        for stream in streams:
            if stream is not None:
                stream.poll()
        time.sleep(0.01)
