"""REST-only test brokers: no push stream, every request counted, a polled order stream.

* :class:`RestBook` - the scripted :class:`~tests.fakes.BookBroker` without its
  push stream: ``get_orders`` pages like a REST API (open, or the ``limit`` newest
  closed ones), and its order stream is a
  :class:`~tradingagents_brokers.polling.PolledOrderStream` the test ticks by
  hand (no thread), so every request is attributable.
* :class:`RestSim` - the sim broker behind a wrapper that hides the sim's own
  stream and polls instead, on a thread; the ``restsim`` broker type
  (``register_brokers`` below) lets the conformance kit build it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any

import attrs

from tradingagents_brokers import BrokerType, hookimpl
from tradingagents_brokers.errors import BrokerError
from tradingagents_brokers.orders import Order
from tradingagents_brokers.polling import PolledOrderStream
from tradingagents_brokers.sim.broker import SIM_CAPABILITIES
from tradingagents_brokers.sim.plugin import build_sim

from .fakes import FAKE_CAPABILITIES, BookBroker

#: Every operation of the broker contract that is a request to the broker.
REQUESTS = (
    "place_order",
    "cancel_order",
    "replace_order",
    "get_order",
    "get_order_by_client_id",
    "get_orders",
    "get_positions",
    "get_position",
    "close_position",
    "close_all_positions",
    "get_account",
    "get_portfolio_history",
    "get_clock",
    "get_asset",
    "get_quote",
)
POLLER = "tradingagents-order-poller"


class RestBook(BookBroker):
    """A book broker with a REST API only: see the module docstring.

    ``requests`` counts every request by operation; ``fail_reads`` makes
    ``get_orders`` and ``get_order`` raise it (the poll fails).
    """

    def __init__(self, **poller: Any) -> None:
        super().__init__()
        self._capabilities = attrs.evolve(FAKE_CAPABILITIES, order_updates=True)
        self.requests: collections.Counter[str] = collections.Counter()
        self.fail_reads: BrokerError | None = None
        self.pollers: list[PolledOrderStream] = []
        self.poller = {"interval": 1.0, "thread": False, **poller}

    def subscribe_order_updates(self, listener: Any) -> PolledOrderStream:  # type: ignore[override]
        stream = PolledOrderStream(self, listener, **self.poller)
        self.pollers.append(stream)
        return stream

    subscribe_quotes = None  # type: ignore[assignment]

    def take(self) -> list[str]:
        """The requests since the last take, sorted."""
        names = sorted(self.requests.elements())
        self.requests.clear()
        return names

    def tick(self) -> bool:
        """One poll of the newest stream, now."""
        return self.pollers[-1].tick()

    def place_order(self, request: Any) -> Order:
        self.requests["place_order"] += 1
        return super().place_order(request)

    def cancel_order(self, order_id: str) -> None:
        self.requests["cancel_order"] += 1
        self.cancel_calls.append(order_id)
        order = self.orders[order_id]
        if not order.status.is_terminal:
            self.orders[order_id] = attrs.evolve(order, status="canceled")

    def replace_order(self, order_id: str, changes: Any) -> Order:
        self.requests["replace_order"] += 1
        return super().replace_order(order_id, changes)

    def get_order(self, order_id: str) -> Order:
        self.requests["get_order"] += 1
        if self.fail_reads is not None:
            raise self.fail_reads
        return super().get_order(order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        self.requests["get_order_by_client_id"] += 1
        return super().get_order_by_client_id(client_order_id)

    def get_orders(
        self, status: str = "open", limit: int | None = None, symbols: Sequence[str] | None = None
    ) -> list[Order]:
        self.requests["get_orders"] += 1
        if self.fail_reads is not None:
            raise self.fail_reads
        newest_first = list(reversed(self.orders.values()))
        if status == "open":
            found = [o for o in newest_first if not o.status.is_terminal]
        elif status == "closed":
            found = [o for o in newest_first if o.status.is_terminal]
        else:
            found = newest_first
        return found if limit is None else found[:limit]

    def get_positions(self) -> list[Any]:
        self.requests["get_positions"] += 1
        return super().get_positions()

    def get_account(self) -> Any:
        self.requests["get_account"] += 1
        return super().get_account()

    def get_quote(self, symbol: str) -> Any:
        self.requests["get_quote"] += 1
        return super().get_quote(symbol)

    def set_status(self, order_id: str, status: str) -> Order:
        """Move an order to ``status`` at the broker (nothing is streamed: it is polled)."""
        order = attrs.evolve(self.orders[order_id], status=status)
        self.orders[order_id] = order
        return order


class RestSim:
    """The sim broker as a REST-only broker: its own stream hidden, a polled one instead.

    Every request is counted in ``requests`` as (thread name, operation); the
    poller's thread is named :data:`POLLER`.
    """

    interval = 0.05

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.polled: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        for name in REQUESTS:
            setattr(self, name, self._counted(name, getattr(sim, name)))

    def _counted(self, name: str, call: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.requests.append((threading.current_thread().name, name))
            return call(*args, **kwargs)

        return counted

    @property
    def capabilities(self) -> Any:
        return SIM_CAPABILITIES

    def subscribe_order_updates(self, listener: Any) -> PolledOrderStream:
        return PolledOrderStream(self, listener, interval=self.interval)  # type: ignore[arg-type]

    def take(self) -> list[str]:
        """The requests made since the last take outside the poller's thread, sorted.

        The poller's are added up in ``polled``.
        """
        with self._lock:
            taken, self.requests = self.requests, []
        self.polled.update(op for thread, op in taken if thread == POLLER)
        return sorted(op for thread, op in taken if thread != POLLER)

    def set_price(self, symbol: str, price: Any) -> None:
        self.sim.set_price(symbol, price)

    def close(self) -> None:
        self.sim.close()


def build_rest_sim(settings: Any) -> RestSim:
    return RestSim(build_sim(settings))


@hookimpl
def register_brokers() -> list[BrokerType]:
    return [
        BrokerType(
            name="restsim",
            factory=build_rest_sim,  # type: ignore[arg-type]
            description="the sim behind a REST-only wrapper, with a polled order stream (tests)",
            capabilities=SIM_CAPABILITIES,
        )
    ]
