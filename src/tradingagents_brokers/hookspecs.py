"""Hook specifications: the contract between the core and its plugins.

Hooks are grouped by phase. Implement them with the public marker::

    from tradingagents_brokers import hookimpl

    @hookimpl
    def register_brokers():
        ...

Call conventions (for the core; plugins never call hooks): keyword arguments
only, through :class:`~tradingagents_brokers.host.PluginHost`, the one place that
owns ``pm.hook``. An implementation may accept any subset of a hook's arguments.

Groups:

* **discovery** - ``register_brokers``: every implementation runs.
* **operations** - ``place_order`` ... ``get_quote`` and
  ``subscribe_order_updates``: the first non-None result wins. The core's
  default implementation (``tradingagents_brokers.operations``, registered
  ``trylast``) delegates to the broker object, so a plugin can wrap an
  operation with a new-style ``@hookimpl(wrapper=True)`` for audit, metrics or
  dry-run, or answer it first.
* **safety** - ``check_order``: every implementation runs and each must return a
  :class:`~tradingagents_brokers.decisions.Decision`.
* **approval** - ``confirm_order``: the first non-None result wins.
* **events** - ``on_order_event``: every implementation runs; return values are ignored.
* **agents** - ``register_tools``: every implementation runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    from .broker import Broker, BrokerType, OrderQuery
    from .decisions import Approval, CheckContext, Decision, OrderContext
    from .events import OrderEvent
    from .gateway import GatedBroker
    from .models import (
        Account,
        Asset,
        Clock,
        ClosePositionResult,
        Instrument,
        PortfolioHistory,
        Position,
        Quote,
    )
    from .orders import Order, OrderChanges, OrderRequest
    from .streams import OrderStream, OrderUpdateListener, QuoteListener, QuoteStream


class BrokerHookSpecs:
    """Every hook of the ``tradingagents_brokers`` project."""

    # -- discovery -------------------------------------------------------------------

    @hookspec
    def register_brokers(self) -> Iterable[BrokerType]:
        """Offer broker types.

        Called once when the registry is built; every implementation runs. Return
        an iterable of :class:`~tradingagents_brokers.broker.BrokerType`. Two plugins
        offering the same name is an error naming both, never a silent override.
        Keep the module cheap to import: import the broker's SDK in the factory.

        Example::

            @hookimpl
            def register_brokers():
                return [BrokerType(name="mybroker", factory=_build, description="My broker")]
        """

    # -- operations (first result wins; the default delegates to ``broker``) -----------

    @hookspec(firstresult=True)
    def place_order(self, broker_name: str, broker: Broker, request: OrderRequest) -> Order:
        """Send one order that has passed the whole gate.

        Only the gate calls this, after validation, the mode gate, the risk checks
        and the confirmation. ``request.client_order_id`` is set; an implementation
        must send it unchanged. Return the broker's :class:`Order`.

        Example (a dry-run wrapper)::

            @hookimpl(wrapper=True)
            def place_order(request):
                log.info("sending %s", request.to_dict())
                return (yield)
        """

    @hookspec(firstresult=True)
    def cancel_order(
        self, broker_name: str, broker: Broker, order_id: str, symbol: str | None
    ) -> None:
        """Cancel one open order. Returns nothing; errors are raised.

        ``symbol`` is the order's symbol when the journal knows it (None otherwise); the
        default implementation passes it to a broker whose method names a ``symbol``.

        Example: ``@hookimpl(wrapper=True) def cancel_order(order_id): ...``
        """

    @hookspec(firstresult=True)
    def replace_order(
        self, broker_name: str, broker: Broker, order_id: str, changes: OrderChanges
    ) -> Order:
        """Replace an open order with ``changes``; return the new order.

        Example: ``@hookimpl(wrapper=True) def replace_order(order_id, changes): ...``
        """

    @hookspec(firstresult=True)
    def get_order(
        self, broker_name: str, broker: Broker, order_id: str, symbol: str | None
    ) -> Order:
        """Look up one order by the broker's id (``symbol`` as for ``cancel_order``).

        Example: ``@hookimpl def get_order(broker, order_id): return cache.get(order_id)``
        (returning None falls through to the broker).
        """

    @hookspec(firstresult=True)
    def get_order_by_client_id(
        self, broker_name: str, broker: Broker, client_order_id: str, symbol: str | None
    ) -> Order:
        """Look up one order by its client order id (used to resolve unknown outcomes).

        ``symbol`` as for ``cancel_order``.

        Example: ``@hookimpl(wrapper=True) def get_order_by_client_id(client_order_id): ...``
        """

    @hookspec(firstresult=True)
    def get_orders(
        self,
        broker_name: str,
        broker: Broker,
        status: OrderQuery,
        limit: int | None,
        symbols: Sequence[str] | None,
        after: datetime | None,
        until: datetime | None,
    ) -> list[Order]:
        """List orders (``status`` is "open", "closed" or "all"), newest first.

        ``after`` and ``until`` bound ``submitted_at``, both exclusive (``None``: no bound).

        Example: ``@hookimpl(wrapper=True) def get_orders(status): ...``
        """

    @hookspec(firstresult=True)
    def get_positions(self, broker_name: str, broker: Broker) -> list[Position]:
        """List open positions.

        Example: ``@hookimpl(wrapper=True) def get_positions(broker_name): ...``
        """

    @hookspec(firstresult=True)
    def get_position(self, broker_name: str, broker: Broker, symbol: str) -> Position:
        """One open position; raise ``NotFoundError`` if there is none.

        Example: ``@hookimpl(wrapper=True) def get_position(symbol): ...``
        """

    @hookspec(firstresult=True)
    def close_position(
        self, broker_name: str, broker: Broker, symbol: str, qty: Any, percentage: Any
    ) -> Order:
        """Close a position (all of it, ``qty`` shares, or ``percentage`` percent).

        Called only after the mode gate and trading-state checks.
        Example: ``@hookimpl(wrapper=True) def close_position(symbol): ...``
        """

    @hookspec(firstresult=True)
    def close_all_positions(
        self, broker_name: str, broker: Broker, cancel_orders: bool
    ) -> list[ClosePositionResult]:
        """Close every position; one result per symbol.

        Example: ``@hookimpl(wrapper=True) def close_all_positions(cancel_orders): ...``
        """

    @hookspec(firstresult=True)
    def get_account(self, broker_name: str, broker: Broker) -> Account:
        """The account's balances.

        Example: ``@hookimpl(wrapper=True) def get_account(broker_name): ...``
        """

    @hookspec(firstresult=True)
    def get_portfolio_history(
        self, broker_name: str, broker: Broker, period: str | None, timeframe: str | None
    ) -> PortfolioHistory:
        """Equity over time.

        Example: ``@hookimpl(wrapper=True) def get_portfolio_history(period): ...``
        """

    @hookspec(firstresult=True)
    def get_clock(self, broker_name: str, broker: Broker) -> Clock:
        """The market clock, for checks that care whether the market is open.

        Example: ``@hookimpl def get_clock(): return Clock(timestamp=now, is_open=True)``
        """

    @hookspec(firstresult=True)
    def get_asset(self, broker_name: str, broker: Broker, symbol: str) -> Asset:
        """Whether a symbol is tradable, fractionable and shortable.

        Example: ``@hookimpl(wrapper=True) def get_asset(symbol): ...``
        """

    @hookspec(firstresult=True)
    def get_instrument(self, broker_name: str, broker: Broker, symbol: str) -> Instrument:
        """A symbol's tick, lot step, minimums and quote currency (``instruments=True``).

        Example: ``@hookimpl(wrapper=True) def get_instrument(symbol): ...``
        """

    @hookspec(firstresult=True)
    def get_quote(self, broker_name: str, broker: Broker, symbol: str) -> Quote:
        """The reference price risk checks use (order value, price collar).

        A plugin may answer from another price feed than the broker's.
        Example: ``@hookimpl def get_quote(symbol): return my_feed.quote(symbol)``
        """

    @hookspec(firstresult=True)
    def subscribe_order_updates(
        self, broker_name: str, broker: Broker, listener: OrderUpdateListener
    ) -> OrderStream | None:
        """Start streaming the broker's order updates to ``listener``; return the stream.

        Called once per gated broker when ``order_stream`` is on and the broker
        type declares ``order_updates``. The default implementation calls
        ``broker.subscribe_order_updates(listener)`` when the broker has it, and
        returns None otherwise (no stream: the risk checks read the broker).
        ``tradingagents_brokers.streams`` has the listener's contract.

        Example (a stream from another source than the broker object)::

            @hookimpl
            def subscribe_order_updates(broker_name, listener):
                if broker_name == "mybroker":
                    return MyFeed(listener).start()
                return None
        """

    @hookspec(firstresult=True)
    def subscribe_quotes(
        self, broker_name: str, broker: Broker, listener: QuoteListener
    ) -> QuoteStream | None:
        """Start streaming the trades of the symbols ``listener`` asks for; return the stream.

        Called once per gated broker whose order stream is on, when ``quote_stream``
        is on and the broker type declares ``quote_updates``. The default
        implementation calls ``broker.subscribe_quotes(listener)`` when the broker
        has it, and returns None otherwise (quotes are read, and reused for
        ``quote_cache_seconds``). ``tradingagents_brokers.streams`` has the contract.

        Example (trades from another feed than the broker's)::

            @hookimpl
            def subscribe_quotes(broker_name, listener):
                return MyTradeFeed(listener) if broker_name == "mybroker" else None
        """

    # -- safety ----------------------------------------------------------------------

    @hookspec
    def check_order(self, request: OrderRequest, context: CheckContext) -> Decision:
        """Judge one order before it is sent. Every implementation runs.

        Return a :class:`~tradingagents_brokers.decisions.Decision`, allowing or
        denying with a stable reason code. The gate fails closed: returning
        ``None``, returning anything else, or raising counts as a denial, and so
        does lacking the data to decide (deny explicitly in that case). All denials
        are reported together.

        Example::

            @hookimpl
            def check_order(request):
                if request.symbol in {"GME"}:
                    return Decision.deny("no_meme", "SYMBOL_DENIED", "GME is not traded here")
                return Decision.allow("no_meme")
        """

    # -- approval --------------------------------------------------------------------

    @hookspec(firstresult=True)
    def confirm_order(
        self, request: OrderRequest, context: OrderContext, broker_name: str, mode: str
    ) -> Approval | None:
        """Approve or refuse an order that needs confirmation; the first answer wins.

        Called for every order that passed the risk checks when
        ``require_confirmation`` is on, and for each close (as the market order
        it amounts to, see ``GatedBroker.close_request``). Return None to leave
        the decision to the next implementation. The default policy (last) approves paper orders and
        refuses live orders, since no human was asked.

        Example::

            @hookimpl
            def confirm_order(request, mode):
                if mode == "live":
                    return Approval(ask_human(request), approver="desk")
                return None
        """

    # -- events ----------------------------------------------------------------------

    @hookspec
    def on_order_event(self, event: OrderEvent) -> None:
        """Observe a change of an order, once the journal has recorded it.

        ``event.kind`` is one of: ``denied`` (by the gate), ``accepted``,
        ``rejected``, ``unknown`` (the submission's outcome), ``cancel_requested``,
        ``replaced``, and - from the broker's order stream, with the stream's
        message in ``event.update`` - ``partially_filled``, ``filled``,
        ``canceled`` and ``expired``. Each recorded change is reported once per
        process: a duplicate or late stream message is not. Every implementation
        runs; an exception here is logged and does not undo anything.

        Example::

            @hookimpl
            def on_order_event(event):
                if event.kind == "rejected":
                    alert(event.to_dict())
        """

    # -- agents ----------------------------------------------------------------------

    @hookspec
    def register_tools(
        self, broker_name: str, gateway: GatedBroker, config: Mapping[str, Any]
    ) -> Iterable[Any]:
        """Offer extra LangChain tools for agents using ``broker_name``.

        Every implementation runs. Each tool needs a ``name`` matching
        ``^[a-zA-Z0-9_-]{1,64}$``; the registry refuses others, and a name already
        taken by another tool. Tools that place orders must do so through
        ``gateway`` (the gated broker), never directly. A ``BrokerToolkit`` includes
        a plugin tool in a read-only toolkit only when ``tool.metadata["read_only"]``
        is True; any other needs ``auto_execute_trades``.

        Example::

            @hookimpl
            def register_tools(broker_name):
                if broker_name == "alpaca":
                    return [get_news_tool]
                return []
        """
