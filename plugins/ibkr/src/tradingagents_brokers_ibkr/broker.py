"""The IBKR broker: every operation of the core's Broker protocol over TWS or IB Gateway.

Each method runs a coroutine on the session's loop (:mod:`.session`) and waits
for it with a finite timeout. Requests that reach TWS are drawn from the
account's request budget first (``max_requests_per_minute``); reads of what
TWS pushes anyway (account values, portfolio prices) cost none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from tradingagents_brokers import (
    BrokerError,
    BrokerSettings,
    ClosePositionResult,
    InvalidOrderError,
    NotFoundError,
    NotSupportedError,
    Order,
    OrderChanges,
    OrderOutcomeUnknownError,
    OrderRequest,
)
from tradingagents_brokers.broker import OrderQuery
from tradingagents_brokers.models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    PortfolioHistory,
    Position,
    Quote,
)
from tradingagents_brokers.streams import OrderStream, OrderUpdateListener

from .mapping import core_symbol, to_account, to_position
from .market import Market
from .options import read_options
from .ordering import validate
from .plugin import CAPABILITIES
from .session import Session
from .trading import OrderDesk, matcher

if TYPE_CHECKING:
    from tradingagents_brokers.store.budget import SlidingBudget

__all__ = ["IBKRBroker", "build_ibkr"]

T = TypeVar("T")


def build_ibkr(settings: BrokerSettings) -> IBKRBroker:
    """Connect to TWS or IB Gateway as ``settings.options`` say, and check the account's mode."""
    options = read_options(settings.options, settings.mode)
    budget = settings.request_budget(options.max_requests_per_minute)
    session = Session(options)
    try:
        session.start()
    except BaseException:
        session.close()
        raise
    return IBKRBroker(session, budget)


class IBKRBroker:
    """IB behind the core's Broker protocol. Build with :func:`build_ibkr`."""

    def __init__(self, session: Session, budget: SlidingBudget | None = None) -> None:
        self.session = session
        self.market = Market(session)
        self.desk = OrderDesk(session, self.market)
        self._budget = budget

    def __repr__(self) -> str:
        return f"<IBKRBroker {self.session.options.where} account {self.session.account}>"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return CAPABILITIES

    def close(self) -> None:
        self.session.close()

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> OrderStream:
        """Stream this client's order events (see :mod:`.stream`)."""
        from .stream import IBKROrderStream

        return IBKROrderStream(self.session, self.desk, listener)

    def _run(
        self,
        make: Callable[[], Awaitable[T]],
        what: str,
        *,
        requests: int = 1,
        timeout: float | None = -1.0,
        late: Callable[[], BrokerError] | None = None,
    ) -> T:
        for _ in range(requests):
            if self._budget is not None:
                self._budget.acquire()
        bound = self.session.options.request_timeout if timeout == -1.0 else timeout
        return self.session.call(make, bound, what=what, late=late)

    # -- orders ----------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> Order:
        """Send one order and wait for TWS's answer (never resent here: the core owns retries)."""
        validate(request)
        coid = request.client_order_id
        if not coid:
            raise InvalidOrderError("an order for IB needs a client_order_id (its orderRef)")
        legs = 1 + (request.take_profit is not None) + (request.stop_loss is not None)
        return self._run(
            lambda: self.desk.place(request),
            f"order {coid}",
            requests=legs,
            timeout=None,
            late=lambda: OrderOutcomeUnknownError(
                f"order {coid} got no answer in time; it is looked up by its client order id",
                details={"client_order_id": coid},
            ),
        )

    def cancel_order(self, order_id: str) -> None:
        self._run(lambda: self.desk.cancel(order_id), f"the cancel of {order_id}", timeout=None)

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        """IB modifies an order in place: the same order, under the same id, with new terms.

        It takes ``changes.client_order_id`` (the core's id of the replacement) as
        its ``orderRef``; once the change is written, a drop or no answer in time is
        ``OrderOutcomeUnknownError`` (never sent twice: the core looks it up by that id).
        """
        coid = changes.client_order_id

        def late() -> BrokerError:
            return OrderOutcomeUnknownError(
                f"the change of order {order_id} got no answer in time; look it up by its "
                f"client order id {coid}",
                details={"client_order_id": coid, "order_id": order_id},
            )

        return self._run(
            lambda: self.desk.modify(order_id, changes),
            f"the change of {order_id}",
            timeout=None,
            late=late,
        )

    def _find(self, match: Callable[[Any], bool], what: str) -> Order:
        async def find() -> Order:
            trade = await self.desk.find(match)
            if trade is None:
                raise NotFoundError(f"IB has no {what} among its open and today's orders")
            return self.desk.order(trade)

        return self._run(find, what, requests=2)

    def get_order(self, order_id: str) -> Order:
        return self._find(matcher(order_id), f"order {order_id}")

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        return self._find(
            lambda t: t.order.orderRef == client_order_id, f"order with client id {client_order_id}"
        )

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        """Newest first: open orders of every client, and the orders completed today."""
        return self._run(
            lambda: self.desk.listing(status, limit, symbols, after, until),
            f"the {status} orders",
            requests=2 if status == "all" else 1,
        )

    # -- positions and account -------------------------------------------------------

    async def _positions(self) -> list[Position]:
        session = self.session
        ib, account = session.ib, session.account
        async with self.desk._lock("positions"):
            held = await session.request(ib.reqPositionsAsync(), "the positions")
        items = {item.contract.conId: item for item in ib.portfolio(account)}
        return [
            to_position(p, items.get(p.contract.conId))
            for p in held
            if p.account == account and p.contract.secType == "STK" and p.position
        ]

    def get_positions(self) -> list[Position]:
        return self._run(self._positions, "the positions")

    def get_position(self, symbol: str) -> Position:
        for position in self.get_positions():
            if position.symbol == symbol:
                return position
        raise NotFoundError(f"there is no open position in {symbol} at IB")

    def close_position(self, symbol: str, qty: Any = None, percentage: Any = None) -> Order:
        """A market order on the other side for all, ``qty`` or ``percentage`` (whole shares)."""
        held = self.get_position(core_symbol(symbol)).qty
        amount = abs(held)
        if qty is not None:
            amount = Decimal(str(qty))
        elif percentage is not None:
            amount = (abs(held) * Decimal(str(percentage)) / 100).to_integral_value(ROUND_DOWN)
        if amount <= 0 or amount > abs(held):
            raise InvalidOrderError(
                f"cannot close {amount} of {symbol}: the position holds {held} (IB trades "
                "whole shares: a percentage is rounded down)"
            )
        request = OrderRequest(
            symbol=symbol,
            side="sell" if held > 0 else "buy",
            qty=amount,
            client_order_id=f"close-{uuid.uuid4().hex}",
        )
        return self.place_order(request)

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResult]:
        if cancel_orders:
            self._run(self._cancel_everything, "the cancel of every order")
        results = []
        for position in self.get_positions():
            try:
                order = self.close_position(position.symbol)
            except BrokerError as exc:
                results.append(
                    ClosePositionResult(symbol=position.symbol, ok=False, error=exc.to_dict())
                )
            else:
                results.append(ClosePositionResult(symbol=position.symbol, ok=True, order=order))
        return results

    async def _cancel_everything(self) -> None:
        """IB's global cancel (every open order of the account, from any client or TWS)."""
        self.session.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
        await asyncio.sleep(0)

    def get_account(self) -> Account:
        async def account() -> Account:
            ib, number = self.session.ib, self.session.account
            return to_account(number, ib.accountValues(number), ib.portfolio(number))

        return self._run(account, "the account", requests=0)

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        raise NotSupportedError(
            "IB's TWS API has no history of the account's equity (IB keeps it in Portfolio "
            "Analyst and Flex reports, outside the API); this broker cannot give one",
            details={"broker": "ibkr"},
        )

    def get_clock(self) -> Clock:
        return self._run(self.market.clock, "the market hours")

    def get_asset(self, symbol: str) -> Asset:
        return self._run(lambda: self.market.asset(symbol), f"the contract of {symbol}")

    def get_quote(self, symbol: str) -> Quote:
        options = self.session.options
        return self._run(
            lambda: self.market.quote(symbol),
            f"a price of {symbol}",
            timeout=options.quote_timeout + options.request_timeout,
        )
