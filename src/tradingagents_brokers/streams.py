"""Order update streams: how a broker tells the core about its orders as they change.

A broker that can push the changes of its orders (Alpaca's ``trade_updates``
websocket, the sim broker's update log) declares
``BrokerCapabilities(order_updates=True)`` and offers
``subscribe_order_updates(listener)``, returning an :class:`OrderStream`. The
core's listener keeps the gate's state cache current with what arrives, journals
every change and tells ``on_order_event``; while the stream is live, risk checks
read that cache instead of asking the broker (see ``docs/order-path.md``).

The listener's contract, for plugin authors:

* call :meth:`OrderUpdateListener.on_connected` each time the subscription is
  (re)established: from then on every change must be delivered. Changes made
  while disconnected are not expected: the core reconciles after each connect;
* call the methods one at a time, in the order things happened, from any one
  thread; they may block (they read from the broker and write the journal), so
  do not call them from an event loop that must keep serving the connection;
* call :meth:`~OrderUpdateListener.on_alive` now and then (a heartbeat) to say
  the connection is known to be up; the core stops trusting a stream it has not
  heard from for ``state_max_age_seconds``;
* call :meth:`~OrderUpdateListener.on_disconnected` when the connection drops
  (reconnect with backoff, then ``on_connected`` again).

One shortcut is allowed, and optional: before parsing an update, a push-based
stream may offer it to the listener's ``on_own_update``, when it has one
(:class:`OwnUpdateListener`; the core's does), with the order's
client order id, status and filled quantity and a function that parses it. The
listener takes it (True) when this process is submitting that order right now:
the broker's answer usually says the same, and the update is parsed only if it
turns out to say more. That call does not block and may come from the stream's
own thread (an event loop); an update not taken goes to ``on_update`` as usual.
It keeps the broker's echo of an order off the order's own path.

A pull-based stream (one that reads a local log rather than a socket) delivers
in :meth:`OrderStream.poll`, which the gate calls before it decides an order;
push-based streams make ``poll`` do nothing.

A broker that can neither push nor keep a local log (a REST API alone) can
return the core's :class:`~tradingagents_brokers.polling.PolledOrderStream`,
which reads the broker's orders on an interval and delivers what changed. Two
optional attributes of a stream serve it, and any stream may have them: a number
``freshness_seconds`` (the cache is then trusted only that long after the
stream was last heard from, when that is shorter than ``state_max_age_seconds``)
and a ``status()`` returning a dict, shown as ``order_stream_status()["stream"]``.

Quote streams
-------------

A broker that can push trades (Alpaca's market-data websocket) declares
``BrokerCapabilities(quote_updates=True)`` and offers ``subscribe_quotes(listener)``,
returning a :class:`QuoteStream`. The gate asks it, with :meth:`QuoteStream.want`,
for each symbol whose quote it had to read; once the stream confirms a symbol
(and one more read, begun after the confirmation, anchors it), the gate takes
that symbol's price from the stream instead of reading it before each order (see
:mod:`tradingagents_brokers.safety.quotes`). The contract:

* :meth:`QuoteStream.want` is called from the order path: it must not block and
  must not raise. Asking for a symbol already wanted is allowed. A stream may
  limit how many symbols it follows and drop the ones wanted longest ago;
* call :meth:`QuoteListener.on_subscribed` with the complete set of symbols whose
  trades will be delivered from now on, each time that set changes: after the
  broker confirms a subscription, and *before* asking the broker to drop one;
* call :meth:`QuoteListener.on_quote` for each trade of those symbols, in the
  order they arrive, and :meth:`QuoteListener.on_alive` at least every
  ``listener.heartbeat_seconds`` while connected, when the connection is known to
  have delivered everything sent before (an answered ping does);
* call :meth:`QuoteListener.on_disconnected` when the connection drops; after
  reconnecting, subscribe again and call ``on_subscribed``.

The listener's methods do not block and may be called from an event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from ._numbers import broker_decimal, parse_datetime
from ._serialize import to_json
from .models import Quote
from .orders import Order

__all__ = [
    "OrderStream",
    "OrderUpdate",
    "OrderUpdateListener",
    "OwnUpdateListener",
    "QuoteListener",
    "QuoteStream",
    "QuoteStreamingBroker",
    "StreamingBroker",
]


def _opt_num(value: Any) -> Decimal | None:
    return None if value is None or value == "" else broker_decimal(value, "a stream number")


def _time(value: Any) -> dt.datetime | None:
    return parse_datetime(value, "a stream timestamp")


def _event(value: Any) -> str:
    return str(value or "unknown").strip().lower()


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """One change of one order, as the broker's stream reported it.

    ``order`` is the order's state after the change (its status is what counts;
    ``event`` names what happened: ``new``, ``fill``, ``partial_fill``,
    ``canceled``, ``expired``, ``replaced``, ``rejected``, ...). For fills,
    ``qty`` and ``price`` are this execution's, and ``position_qty`` the
    position after it when the broker says so.
    """

    event: str = attrs.field(converter=_event)
    order: Order
    at: dt.datetime | None = attrs.field(default=None, converter=_time)
    execution_id: str | None = None
    qty: Decimal | None = attrs.field(default=None, converter=_opt_num)
    price: Decimal | None = attrs.field(default=None, converter=_opt_num)
    position_qty: Decimal | None = attrs.field(default=None, converter=_opt_num)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, with the order in its contract form (DESIGN §4)."""
        return {
            "event": self.event,
            "at": to_json(self.at),
            "execution_id": self.execution_id,
            "qty": to_json(self.qty),
            "price": to_json(self.price),
            "position_qty": to_json(self.position_qty),
            "order": self.order.to_dict(),
        }


class OrderUpdateListener(Protocol):
    """What the core gives a broker's stream. See the module docstring for the contract."""

    def on_connected(self) -> None:
        """The subscription is (re)established; every change from now on will be delivered."""

    def on_update(self, update: OrderUpdate) -> None:
        """One order changed."""

    def on_alive(self) -> None:
        """The connection is known to be up right now (a heartbeat)."""

    def on_disconnected(self, reason: str) -> None:
        """The connection dropped; changes may be missed until ``on_connected``."""


class OwnUpdateListener(Protocol):
    """The optional shortcut a listener may offer (the core's does); see the module docstring."""

    def on_own_update(
        self,
        client_order_id: str,
        status: str,
        filled_qty: Decimal,
        parse: Callable[[], OrderUpdate],
    ) -> bool:
        """Take an unparsed update of an order being submitted here (True), or decline it."""
        ...


@runtime_checkable
class OrderStream(Protocol):
    """A running subscription, returned by ``subscribe_order_updates``."""

    def poll(self) -> None:
        """Deliver what is waiting (pull-based streams); push-based streams do nothing."""
        ...

    def close(self) -> None:
        """Stop delivering and release the connection. Called once."""
        ...


@runtime_checkable
class StreamingBroker(Protocol):
    """A broker that can stream its order updates (optional beside :class:`~.broker.Broker`)."""

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> OrderStream:
        """Start delivering this account's order updates to ``listener``."""
        ...


class QuoteListener(Protocol):
    """What the core gives a broker's quote stream. See the module docstring for the contract."""

    #: Call :meth:`on_alive` at least this often (seconds) while connected.
    heartbeat_seconds: float

    def on_subscribed(self, symbols: Collection[str]) -> None:
        """From now on, every trade of exactly these symbols will be delivered."""

    def on_quote(self, quote: Quote) -> None:
        """A trade of a subscribed symbol (its price and market time)."""

    def on_alive(self) -> None:
        """Everything the broker sent before now has been delivered."""

    def on_disconnected(self, reason: str) -> None:
        """The connection dropped; no symbol is subscribed until ``on_subscribed``."""


@runtime_checkable
class QuoteStream(Protocol):
    """A running quote subscription, returned by ``subscribe_quotes``."""

    def want(self, symbol: str) -> None:
        """Follow ``symbol`` from now on; never blocks, never raises."""
        ...

    def close(self) -> None:
        """Stop delivering and release the connection. Called once."""
        ...


@runtime_checkable
class QuoteStreamingBroker(Protocol):
    """A broker that can stream trades as quotes (optional beside :class:`~.broker.Broker`)."""

    def subscribe_quotes(self, listener: QuoteListener) -> QuoteStream:
        """Start delivering the trades of the symbols ``listener`` asks for."""
        ...
