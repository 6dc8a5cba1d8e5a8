"""The simulated broker: a cash account that fills orders against a price source.

Rules (the reference behaviour for the conformance kit):

* The simulated market is always open. Market orders fill at once, in full, at
  the source's price.
* Limit, stop and stop-limit orders rest until a price update crosses them:
  a buy limit fills when the price is at or below the limit, a buy stop triggers
  at or above the stop (sells mirror this), a stop-limit becomes a limit once
  triggered. ``ioc`` and ``fok`` orders that cannot fill at once are canceled;
  ``day`` orders expire when the UTC date changes.
* Prices are re-read on every call; :meth:`SimBroker.set_price` overrides one.
* Cash account, long only: buys need buying power (cash minus what open buy
  orders reserve), sells need shares not already held by open sells.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from .._numbers import format_decimal
from ..broker import OrderQuery
from ..enums import OrderSide, OrderStatus, OrderType, PositionSide, TimeInForce
from ..errors import (
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
)
from ..models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    ClosePositionResult,
    PortfolioHistory,
    Position,
    Quote,
)
from ..orders import Order, OrderChanges, OrderRequest
from ..streams import OrderUpdateListener
from .market import settle, work
from .matching import reserve_price
from .prices import PriceSource
from .store import SimStore, row_to_order
from .stream import SimOrderStream

__all__ = ["SIM_CAPABILITIES", "SimBroker"]

CENT = Decimal("0.01")
QTY_STEP = Decimal("0.000000001")

SIM_CAPABILITIES = BrokerCapabilities(
    order_types={OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT},
    time_in_force={TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK},
    fractional=True,
    notional=True,
    order_updates=True,
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


class SimBroker:
    """A local simulated broker persisted in SQLite. See the module docstring for its rules."""

    def __init__(
        self,
        store: SimStore,
        prices: PriceSource,
        *,
        initial_cash: Decimal = Decimal(100_000),
        now: Callable[[], dt.datetime] = _utcnow,
        order_latency: float = 0.0,
    ) -> None:
        self.store = store
        self.prices = prices
        self.now = now
        self.order_latency = order_latency
        self._overrides: dict[str, Decimal] = {}
        with store.transaction():
            if store.get_meta("cash") is None:
                store.set_meta("cash", _money(initial_cash))
                store.set_meta("initial_cash", _money(initial_cash))
                store.set_meta("account_number", f"SIM-{uuid.uuid4().hex[:8].upper()}")
                store.set_meta("created_at", now())
                store.add_equity_point(now(), _money(initial_cash))

    def __repr__(self) -> str:
        return f"<SimBroker {self.store.path} prices={self.prices.name}>"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return SIM_CAPABILITIES

    def close(self) -> None:
        self.store.close()

    # -- prices ----------------------------------------------------------------------

    def set_price(self, symbol: str, price: Any) -> None:
        """Move ``symbol``'s price (in this process) and fill whatever it crosses."""
        self._overrides[symbol.upper()] = Decimal(str(price))
        self._process()

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> SimOrderStream:
        """The sim's order stream: its update log, delivered when the gate polls."""
        return SimOrderStream(self, listener)

    def process(self) -> None:
        """Expire stale day orders and fill whatever the current prices cross."""
        self._process()

    def get_quote(self, symbol: str) -> Quote:
        quote = self._quote(symbol)
        if quote is None:
            raise NotFoundError(
                f"the sim price source ({self.prices.name}) has no price for {symbol!r}; "
                "add it with broker_options.sim.prices"
            )
        return quote

    def _quote(self, symbol: str) -> Quote | None:
        now = self.now()
        if symbol in self._overrides:
            return Quote(
                symbol=symbol, price=self._overrides[symbol], as_of=now, source="set_price"
            )
        return self.prices.quote(symbol, now)

    # -- orders ----------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> Order:
        if request.client_order_id is None:
            raise InvalidOrderError("the sim broker needs a client_order_id")
        if self.order_latency:  # a slow broker: the order is in flight meanwhile
            time.sleep(self.order_latency)
        quote = self._quote(request.symbol)
        if quote is None:
            raise InvalidOrderError(
                f"unknown symbol {request.symbol!r}: the sim price source ({self.prices.name}) "
                "has no price for it; add one with broker_options.sim.prices",
                details={"symbol": request.symbol},
            )
        with self.store.transaction():
            if self.store.order_by_client_id(request.client_order_id) is not None:
                raise DuplicateClientOrderIdError(
                    f"client_order_id {request.client_order_id!r} is already used",
                    details={"client_order_id": request.client_order_id},
                )
            qty = request.qty
            if qty is None:
                assert request.notional is not None
                qty = (request.notional / quote.price).quantize(QTY_STEP, rounding=ROUND_DOWN)
                if qty <= 0:
                    raise InvalidOrderError(
                        f"notional {request.notional} buys less than 1e-9 shares"
                    )
            self._require_funds(
                request.symbol, request.side, qty, reserve_price(request, quote.price)
            )
            order_id = str(uuid.uuid4())
            self.store.insert_order(
                {
                    "order_id": order_id,
                    "client_order_id": request.client_order_id,
                    "symbol": request.symbol,
                    "side": request.side.value,
                    "order_type": request.order_type.value,
                    "time_in_force": request.time_in_force.value,
                    "qty": qty,
                    "notional": request.notional,
                    "limit_price": request.limit_price,
                    "stop_price": request.stop_price,
                    "status": OrderStatus.NEW.value,
                    "submitted_at": self.now(),
                    "extended_hours": int(request.extended_hours),
                }
            )
            self.store.add_update(order_id, "new", self.now())
            work(self, order_id, first=True)
            return self._order(order_id)

    def cancel_order(self, order_id: str) -> None:
        with self.store.transaction():
            self._process()
            row = self._row(order_id)
            if row["status"] not in ("new", "accepted"):
                raise InvalidOrderError(
                    f"order {order_id} is {row['status']} and can no longer be canceled"
                )
            self.store.update_order(order_id, status="canceled", canceled_at=self.now())
            self.store.add_update(order_id, "canceled", self.now())

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        with self.store.transaction():
            self._process()
            old = self._order(order_id)
            if old.status not in (OrderStatus.NEW, OrderStatus.ACCEPTED):
                raise InvalidOrderError(
                    f"order {order_id} is {old.status.value} and can no longer be replaced"
                )
            request = OrderRequest(
                symbol=old.symbol,
                side=old.side,
                qty=changes.qty or old.qty,
                order_type=old.order_type,
                time_in_force=changes.time_in_force or old.time_in_force,
                limit_price=changes.limit_price or old.limit_price,
                stop_price=changes.stop_price or old.stop_price,
                client_order_id=changes.client_order_id or f"sim-{uuid.uuid4().hex}",
            )
            # Release the old order's reservation; if placing fails, the transaction rolls back.
            self.store.update_order(order_id, status="canceled")
            new = self.place_order(request)
            self.store.update_order(order_id, status="replaced", replaced_by=new.order_id)
            self.store.update_order(new.order_id, replaces=order_id)
            self.store.add_update(order_id, "replaced", self.now())
            return self._order(new.order_id)

    def get_order(self, order_id: str) -> Order:
        with self.store.transaction():
            self._process()
            return self._order(order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        with self.store.transaction():
            self._process()
            row = self.store.order_by_client_id(client_order_id)
            if row is None:
                raise NotFoundError(f"no order with client_order_id {client_order_id!r}")
            return row_to_order(row)

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Order]:
        with self.store.transaction():
            self._process()
            wanted = list(symbols) if symbols else None
            rows = self.store.orders(status, limit, wanted, after=after, until=until)
            return [row_to_order(row) for row in rows]

    # -- positions and account -------------------------------------------------------

    def get_positions(self) -> list[Position]:
        with self.store.transaction():
            self._process()
            return [self._position(s, q, c) for s, q, c in self.store.positions()]

    def get_position(self, symbol: str) -> Position:
        with self.store.transaction():
            self._process()
            held = self.store.position(symbol)
            if held is None:
                raise NotFoundError(f"there is no open position in {symbol!r}")
            return self._position(symbol, *held)

    def close_position(self, symbol: str, qty: Any = None, percentage: Any = None) -> Order:
        with self.store.transaction():
            self._process()
            held = self.store.position(symbol)
            if held is None:
                raise NotFoundError(f"there is no open position in {symbol!r} to close")
            amount = held[0]
            if qty is not None:
                amount = Decimal(qty)
            elif percentage is not None:
                amount = (held[0] * Decimal(percentage) / 100).quantize(QTY_STEP, ROUND_DOWN)
            if amount <= 0 or amount > held[0]:
                raise InvalidOrderError(
                    f"cannot close {format_decimal(amount)} of {symbol}: "
                    f"the position holds {format_decimal(held[0])}"
                )
            request = OrderRequest(
                symbol=symbol,
                side="sell",
                qty=amount,
                client_order_id=f"sim-close-{uuid.uuid4().hex}",
            )
            return self.place_order(request)

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResult]:
        if cancel_orders:
            for order in self.get_orders("open"):
                self.cancel_order(order.order_id)
        results = []
        for position in self.get_positions():
            try:
                order = self.close_position(position.symbol)
            except (InvalidOrderError, InsufficientFundsError, NotFoundError) as exc:
                results.append(
                    ClosePositionResult(symbol=position.symbol, ok=False, error=exc.to_dict())
                )
            else:
                results.append(ClosePositionResult(symbol=position.symbol, ok=True, order=order))
        return results

    def get_account(self) -> Account:
        with self.store.transaction():
            self._process()
            cash = Decimal(self.store.get_meta("cash") or 0)
            long_value = sum(
                (
                    self._position(s, q, c).market_value or Decimal(0)
                    for s, q, c in self.store.positions()
                ),
                Decimal(0),
            )
            equity = _money(cash + long_value)
            # the newest equity point before today, else the first: from each day's last point
            last_equity = self.store.equity_before(self.now().date().isoformat())
            return Account(
                account_number=self.store.get_meta("account_number") or "SIM",
                status="ACTIVE",
                currency="USD",
                buying_power=_money(cash - self._reserved_cash()),
                cash=cash,
                portfolio_value=equity,
                equity=equity,
                last_equity=equity if last_equity is None else last_equity,
                long_market_value=_money(long_value),
                short_market_value=Decimal(0),
            )

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        account = self.get_account()
        points = [*self.store.equity_points(), (self.now().isoformat(), account.equity)]
        base = Decimal(self.store.get_meta("initial_cash") or 0)
        return PortfolioHistory(
            timestamps=[dt.datetime.fromisoformat(at) for at, _ in points],
            equity=[value for _, value in points],
            profit_loss=[value - base for _, value in points],
            profit_loss_pct=[
                ((value - base) / base).quantize(Decimal("0.0001")) for _, value in points
            ],
            base_value=base,
            timeframe=timeframe or "fill",
        )

    def get_clock(self) -> Clock:
        return Clock(timestamp=self.now(), is_open=True)

    def get_asset(self, symbol: str) -> Asset:
        if self._quote(symbol) is None:
            raise NotFoundError(f"the sim broker does not know {symbol!r}")
        return Asset(
            symbol=symbol, tradable=True, fractionable=True, shortable=False, exchange="SIM"
        )

    # -- internals -------------------------------------------------------------------

    def _row(self, order_id: str) -> sqlite3.Row:
        row = self.store.order(order_id)
        if row is None:
            raise NotFoundError(f"no order with id {order_id!r}")
        return row

    def _order(self, order_id: str) -> Order:
        return row_to_order(self._row(order_id))

    def _position(self, symbol: str, qty: Decimal, cost_basis: Decimal) -> Position:
        quote = self._quote(symbol)
        avg = (cost_basis / qty).quantize(Decimal("0.0001"))
        price = quote.price if quote else None
        value = _money(price * qty) if price is not None else None
        pl = value - cost_basis if value is not None else None
        plpc = (
            (pl / cost_basis).quantize(Decimal("0.0001")) if pl is not None and cost_basis else None
        )
        return Position(
            symbol=symbol,
            qty=qty,
            avg_entry_price=avg,
            current_price=price,
            market_value=value,
            cost_basis=cost_basis,
            unrealized_pl=pl,
            unrealized_plpc=plpc,
            side=PositionSide.LONG,
            exchange="SIM",
        )

    def _reserved_cash(self) -> Decimal:  # a running figure of the book (book.py)
        return _money(self.store.reserved_cash())

    def _require_funds(self, symbol: str, side: OrderSide, qty: Decimal, price: Decimal) -> None:
        if side is OrderSide.BUY:
            cash = Decimal(self.store.get_meta("cash") or 0)
            available = cash - self._reserved_cash()
            cost = _money(qty * price)
            if cost > available:
                raise InsufficientFundsError(
                    f"insufficient buying power: the order needs about {cost}, "
                    f"{_money(available)} is available; buy less or cancel open buys",
                    details={"required": str(cost), "buying_power": str(_money(available))},
                )
            return
        held = self.store.position(symbol)
        available = (held[0] if held else Decimal(0)) - self.store.held_for_sale(symbol)
        if qty > available:
            raise InsufficientFundsError(
                f"insufficient qty available for order (requested: {format_decimal(qty)}, "
                f"available: {format_decimal(available)}); the sim broker does not sell short",
                details={"requested": str(qty), "available": str(available)},
            )

    def _process(self) -> None:  # see process()
        settle(self)
