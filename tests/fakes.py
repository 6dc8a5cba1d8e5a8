"""A scriptable in-memory broker for tests of the gate and the hooks."""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from tradingagents_brokers import hookimpl
from tradingagents_brokers.broker import BrokerSettings, BrokerType
from tradingagents_brokers.errors import BrokerError, DuplicateClientOrderIdError, NotFoundError
from tradingagents_brokers.models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    ClosePositionResult,
    PortfolioHistory,
    Position,
    Quote,
)
from tradingagents_brokers.orders import Order, OrderChanges, OrderRequest
from tradingagents_brokers.streams import OrderUpdate

NOW = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)


class ManualClock:
    """A clock tests move by hand (``advance``), for journals, caches and quotes."""

    def __init__(self, at: dt.datetime = START) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


FAKE_CAPABILITIES = BrokerCapabilities(
    order_types={"market", "limit", "stop", "stop_limit", "trailing_stop"},
    time_in_force={"day", "gtc", "ioc", "fok", "opg", "cls"},
    order_classes={"simple", "bracket", "oco", "oto"},
    fractional=True,
    notional=True,
    short_selling=True,
    extended_hours=True,
)


class FakeBroker:
    """Records every call; ``fail_next`` makes the next place_order raise.

    With ``accept_before_failing`` the order is kept first, like a timeout after acceptance.
    """

    def __init__(self, capabilities: BrokerCapabilities = FAKE_CAPABILITIES) -> None:
        self._capabilities = capabilities
        self.orders: dict[str, Order] = {}
        self.place_calls: list[OrderRequest] = []
        self.cancel_calls: list[str] = []
        self.fail_next: BrokerError | None = None
        self.fail_always: BrokerError | None = None
        self.accept_before_failing = False
        self.in_place = False
        self.lookup_error: BrokerError | None = None
        self.closed = False
        self.price = Decimal("100")

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self._capabilities

    def place_order(self, request: OrderRequest) -> Order:
        self.place_calls.append(request)
        if any(o.client_order_id == request.client_order_id for o in self.orders.values()):
            raise DuplicateClientOrderIdError(f"{request.client_order_id} is already used")
        error, self.fail_next = self.fail_next or self.fail_always, None
        if error is not None and not self.accept_before_failing:
            raise error
        order = Order(
            order_id=str(uuid.uuid4()),
            client_order_id=request.client_order_id or "",
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            status="new",
            qty=request.qty,
            notional=request.notional,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            submitted_at=NOW,
        )
        self.orders[order.order_id] = order
        if error is not None:
            raise error
        return order

    def cancel_order(self, order_id: str) -> None:
        self.cancel_calls.append(order_id)

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        """A new order for the old one; with ``in_place`` the old one keeps its id (as IB)."""
        old = self.get_order(order_id)
        error, self.fail_next = self.fail_next or self.fail_always, None
        if error is not None and not self.accept_before_failing:
            raise error
        new = attrs.evolve(
            old,
            order_id=order_id if self.in_place else str(uuid.uuid4()),
            client_order_id=changes.client_order_id or f"{old.client_order_id}-r",
            time_in_force=changes.time_in_force or old.time_in_force,
            qty=changes.qty or old.qty,
            limit_price=changes.limit_price or old.limit_price,
            replaces=None if self.in_place else order_id,
        )
        if not self.in_place:
            self.orders[order_id] = attrs.evolve(old, status="replaced", replaced_by=new.order_id)
        self.orders[new.order_id] = new
        if error is not None:
            raise error
        return new

    def get_order(self, order_id: str) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise NotFoundError(f"no order {order_id}") from None

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        if self.lookup_error is not None:
            raise self.lookup_error
        for order in self.orders.values():
            if order.client_order_id == client_order_id:
                return order
        raise NotFoundError(f"no order with client id {client_order_id}")

    def get_orders(
        self, status: str = "open", limit: int | None = None, symbols: Sequence[str] | None = None
    ) -> list[Order]:
        return [o for o in self.orders.values() if status == "all" or o.status.is_open]

    def get_positions(self) -> list[Position]:
        return [self.get_position("AAPL")]

    def get_position(self, symbol: str) -> Position:
        return Position(
            symbol=symbol,
            qty=5,
            avg_entry_price=90,
            current_price=100,
            market_value=500,
            cost_basis=450,
            unrealized_pl=50,
            unrealized_plpc="0.1111",
            exchange="FAKE",
        )

    def close_position(self, symbol: str, qty: Any = None, percentage: Any = None) -> Order:
        return self.place_order(
            OrderRequest(
                symbol=symbol,
                side="sell",
                qty=qty or 5,
                client_order_id=f"close-{uuid.uuid4().hex}",
            )
        )

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResult]:
        return [ClosePositionResult(symbol="AAPL", ok=True, order=self.close_position("AAPL"))]

    def get_account(self) -> Account:
        return Account(
            account_number="FAKE-1",
            status="ACTIVE",
            buying_power=50000,
            cash=50000,
            portfolio_value=100000,
            equity=100000,
            last_equity=99000,
        )

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        return PortfolioHistory(
            timestamps=[NOW],
            equity=[100000],
            profit_loss=[0],
            profit_loss_pct=[0],
            base_value=100000,
        )

    def get_clock(self) -> Clock:
        return Clock(timestamp=NOW, is_open=True)

    def get_asset(self, symbol: str) -> Asset:
        return Asset(symbol=symbol, tradable=True, fractionable=True, shortable=True)

    def get_quote(self, symbol: str) -> Quote:
        return Quote(symbol=symbol, price=self.price, as_of=dt.datetime.now(dt.UTC), source="fake")

    def close(self) -> None:
        self.closed = True


class FakePlugin:
    """Registers broker type ``fake`` building ``self.broker``; credentials in FAKE_LIVE_KEY."""

    def __init__(self, broker: FakeBroker | None = None) -> None:
        self.broker = broker or FakeBroker()

    @hookimpl
    def register_brokers(self) -> list[BrokerType]:
        return [
            BrokerType(
                name="fake",
                factory=self.build,
                description="in-memory test broker",
                capabilities=self.broker.capabilities,
                credential_env={"paper": (), "live": ("FAKE_LIVE_KEY",)},
                optional_credential_env={"live": ("FAKE_PASSPHRASE",)},
            )
        ]

    def build(self, settings: BrokerSettings) -> FakeBroker:
        self.settings = settings
        return self.broker


class FakeOrderStream:
    """A pull-based order stream over :class:`BookBroker`'s update log, with faults.

    ``drop()`` loses what is waiting and reconnects at the next poll; ``duplicate``
    and ``reorder`` change how the next poll delivers; ``foreign(order)`` slips in
    an update for an order nobody journaled.
    """

    def __init__(self, broker: BookBroker, listener: Any) -> None:
        self.broker = broker
        self.listener = listener
        self.seen = len(broker.updates)
        self.connected = False
        self.closed = False
        self.duplicate = False
        self.reorder = False
        self.extra: list[OrderUpdate] = []
        self.silent = False
        self.down = False

    def drop(self, *, stay_down: bool = False) -> None:
        """The connection dies: the listener hears of it, and what was waiting is lost.

        It reconnects at the next poll, unless ``stay_down`` (until ``down`` is cleared).
        """
        self.listener.on_disconnected("dropped by the test")
        self.connected = False
        self.down = stay_down
        self.seen = len(self.broker.updates)

    def poll(self) -> None:
        if self.closed or self.down:
            return
        if not self.connected:
            self.connected = True
            self.seen = len(self.broker.updates)
            self.listener.on_connected()
        waiting = [*self.broker.updates[self.seen :], *self.extra]
        self.seen, self.extra = len(self.broker.updates), []
        if self.reorder:
            waiting.reverse()
        if self.duplicate:
            waiting = [u for update in waiting for u in (update, update)]
        for update in waiting:
            self.listener.on_update(update)
        if not self.silent:
            self.listener.on_alive()

    def close(self) -> None:
        self.closed = True


class FakeQuoteStream:
    """A quote stream the test drives: ``confirm``, ``trade``, ``alive``, ``drop``.

    ``want`` only records what the gate asked for, as a real stream would before
    the broker confirms; ``broken`` makes it raise. The quote board's own tests
    give it no broker (they call ``want`` only).
    """

    def __init__(self, broker: BookBroker | None, listener: Any) -> None:
        self.broker = broker
        self.listener = listener
        self.wanted: list[str] = []
        self.broken = False
        self.closed = False

    def want(self, symbol: str) -> None:
        if self.broken:
            raise RuntimeError("the quote stream is broken")
        self.wanted.append(symbol)

    def confirm(self, *symbols: str) -> None:
        """The broker confirms ``symbols`` (default: everything wanted so far)."""
        self.listener.on_subscribed(set(symbols or self.wanted))

    def trade(self, symbol: str, price: Any, at: dt.datetime | None = None) -> None:
        when = at or self.broker.now()
        self.listener.on_quote(Quote(symbol=symbol, price=price, as_of=when, source="stream"))

    def alive(self) -> None:
        self.listener.on_alive()

    def drop(self) -> None:
        self.listener.on_disconnected("dropped by the test")

    def close(self) -> None:
        self.closed = True


class BookBroker(FakeBroker):
    """A fake broker with a book: orders rest until :meth:`fill`, positions follow the fills.

    It logs every change as an :class:`OrderUpdate` and streams them
    (``subscribe_order_updates``); its quote stream is the test's to drive
    (``subscribe_quotes``). ``reads`` counts the read calls risk checks make.
    """

    def __init__(self) -> None:
        super().__init__(attrs.evolve(FAKE_CAPABILITIES, order_updates=True, quote_updates=True))
        self.positions: dict[str, Decimal] = {}
        self.updates: list[OrderUpdate] = []
        self.streams: list[FakeOrderStream] = []
        self.quote_streams: list[FakeQuoteStream] = []
        self.reads: collections.Counter[str] = collections.Counter()
        #: The clock quotes are stamped with (tests that move time replace it).
        self.now = lambda: dt.datetime.now(dt.UTC)

    def _log(self, event: str, order: Order, **fill: Any) -> None:
        self.updates.append(OrderUpdate(event=event, order=order, at=NOW, **fill))

    def subscribe_order_updates(self, listener: Any) -> FakeOrderStream:
        stream = FakeOrderStream(self, listener)
        self.streams.append(stream)
        return stream

    def subscribe_quotes(self, listener: Any) -> FakeQuoteStream:
        stream = FakeQuoteStream(self, listener)
        self.quote_streams.append(stream)
        return stream

    def place_order(self, request: OrderRequest) -> Order:
        before = set(self.orders)
        try:
            return super().place_order(request)
        finally:  # an accepted order is streamed even when its answer is lost
            for order_id in set(self.orders) - before:
                self._log("new", self.orders[order_id])

    def fill(
        self, order_id: str, qty: Decimal | None = None, price: Decimal | None = None
    ) -> Order:
        """Fill ``qty`` (default: the rest) of an open order at ``price`` (default: 100)."""
        order = self.orders[order_id]
        rest = (order.qty or Decimal(0)) - order.filled_qty
        amount = rest if qty is None else Decimal(qty)
        filled = order.filled_qty + amount
        done = filled >= (order.qty or Decimal(0))
        order = attrs.evolve(
            order,
            filled_qty=filled,
            status="filled" if done else "partially_filled",
            filled_avg_price=price or self.price,
        )
        self.orders[order_id] = order
        sign = 1 if order.side.value == "buy" else -1
        held = self.positions.get(order.symbol, Decimal(0)) + sign * amount
        self.positions[order.symbol] = held
        self._log(
            "fill" if done else "partial_fill",
            order,
            qty=amount,
            price=price or self.price,
            position_qty=held,
        )
        return order

    def cancel_order(self, order_id: str) -> None:
        super().cancel_order(order_id)
        order = self.get_order(order_id)
        if order.status.is_open:
            order = attrs.evolve(order, status="canceled")
            self.orders[order_id] = order
            self._log("canceled", order)

    def get_orders(
        self, status: str = "open", limit: int | None = None, symbols: Sequence[str] | None = None
    ) -> list[Order]:
        self.reads["get_orders"] += 1
        return [o for o in self.orders.values() if status == "all" or o.status.is_open]

    def get_positions(self) -> list[Position]:
        self.reads["get_positions"] += 1
        return [
            Position(symbol=s, qty=q, avg_entry_price=100, cost_basis=q * 100)
            for s, q in sorted(self.positions.items())
            if q
        ]

    def get_position(self, symbol: str) -> Position:
        for position in self.get_positions():
            if position.symbol == symbol:
                return position
        raise NotFoundError(f"no position in {symbol}")

    def get_account(self) -> Account:
        self.reads["get_account"] += 1
        return super().get_account()

    def get_quote(self, symbol: str) -> Quote:
        self.reads["get_quote"] += 1
        return Quote(symbol=symbol, price=self.price, as_of=self.now(), source="book")


#: A pid no process has (above Linux's pid_max of 2**22).
DEAD_PID = 2**30


def die_in_place(gated: Any) -> None:
    """What a killed process leaves behind, without killing this one.

    Its heartbeat stops and its registry row stays, naming a pid that no longer
    exists; its in-flight intents are then another process's to judge.
    """
    heartbeat, owner = gated._heartbeat, gated._owner
    if heartbeat is not None:
        heartbeat.stop()
    if owner is not None:
        gated.registry.backend.execute(
            "UPDATE processes SET pid = ? WHERE owner = ?", (DEAD_PID, owner.owner)
        )


class Calls:
    """A plugin that records every broker operation reaching the broker object.

    ``names`` lists the operations in order; with ``note`` (a callable), ``notes``
    pairs each with what ``note()`` said at that moment (whether the store's write
    section was held, say).
    """

    def __init__(self, note: Callable[[], Any] | None = None) -> None:
        self.names: list[str] = []
        self.notes: list[tuple[str, Any]] = []
        self.note = note

    def _count(self, name: str) -> Any:
        self.names.append(name)
        if self.note is not None:
            self.notes.append((name, self.note()))
        return (yield)

    @hookimpl(wrapper=True)
    def place_order(self) -> Any:
        return (yield from self._count("place_order"))

    @hookimpl(wrapper=True)
    def get_account(self) -> Any:
        return (yield from self._count("get_account"))

    @hookimpl(wrapper=True)
    def get_positions(self) -> Any:
        return (yield from self._count("get_positions"))

    @hookimpl(wrapper=True)
    def get_orders(self) -> Any:
        return (yield from self._count("get_orders"))

    @hookimpl(wrapper=True)
    def get_order(self) -> Any:
        return (yield from self._count("get_order"))

    @hookimpl(wrapper=True)
    def get_quote(self) -> Any:
        return (yield from self._count("get_quote"))

    @hookimpl(wrapper=True)
    def get_order_by_client_id(self) -> Any:
        return (yield from self._count("get_order_by_client_id"))

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


def journal_intent(journal: Any, **overrides: Any) -> Any:
    """Write an intent straight into ``journal`` (as a crashed or another process left it)."""
    values = {
        "broker": "fake",
        "symbol": "AAPL",
        "side": "buy",
        "qty": 1,
        "notional": None,
        "value": 100,
        "dedupe_key": "k",
        "status": "submitting",
        "source": "python",
        "client_order_id": None,
        **overrides,
    }
    return journal.new_intent(values, {"request": {}})
