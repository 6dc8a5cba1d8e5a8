"""Orders over one session: sending, waiting for TWS's answer, looking orders up.

Coroutines on the session's loop. The rules that keep an order single:

* The core's ``client_order_id`` is the order's ``orderRef``. IB does not keep
  references unique, so the plugin refuses a second order with one it already
  holds (``DuplicateClientOrderIdError``), and one whose earlier send has no
  answer yet (``OrderOutcomeUnknownError``: it is never sent blind).
* Each client order id keeps the IB order ids it was first sent under, across
  reconnects: sent again (after the core found nothing), it goes under the same
  ids, so TWS itself refuses it (error 103) if the first send arrived after all.
* After ``placeOrder`` is written the plugin waits for TWS's answer, at most
  ``order_timeout``. A drop of the connection (or of TWS's link to IB) or no
  answer in time (an order stuck in ``PendingSubmit``) is an unknown outcome:
  ``OrderOutcomeUnknownError``, and the core looks the order up by client id.
* Orders are named by IB's permanent id (``permId``): unique in the account and
  kept across sessions and client ids, unlike the per-client ``orderId``.
* A replace changes the order in place (``placeOrder`` under its own id) and gives
  it the replacement's client order id as its ``orderRef``; once written, a drop or
  no echo in time is ``OrderOutcomeUnknownError``, and it is never sent twice.

IB's API knows open orders and the orders completed today (``reqCompletedOrders``);
an order completed before that is no longer found.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradingagents_brokers import (
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InvalidOrderError,
    NotFoundError,
    Order,
    OrderChanges,
    OrderOutcomeUnknownError,
    OrderRequest,
    OrderStatus,
)
from tradingagents_brokers.listing import in_window

from .errors import map_error
from .mapping import core_status, ib_status, order_id_of, rejection, to_order
from .market import Market
from .ordering import legs, link, modification
from .session import Session

if TYPE_CHECKING:
    from ib_async import Trade

__all__ = ["OrderDesk", "matcher"]

log = logging.getLogger("tradingagents.broker.ibkr")
Match = Callable[[Any], bool]
_UNANSWERED = ("PendingSubmit", "ApiPending")
#: How many client order ids the desk remembers (their IB ids and order classes).
REMEMBERED = 100_000


def matcher(order_id: str) -> Match:
    """A test for trades with the core's ``order_id`` (a permId, or ``client/order`` ids)."""
    if order_id.isdigit():
        perm = int(order_id)
        return lambda t: perm in (t.order.permId, t.orderStatus.permId)
    client, _, number = order_id.partition("/")
    if not (client.isdigit() and number.isdigit()):
        raise NotFoundError(f"{order_id!r} is not an IB order id (IB's ids are numbers)")
    ids = (int(client), int(number))
    return lambda t: not t.order.permId and (t.order.clientId, t.order.orderId) == ids


def answered(trade: Any) -> bool:
    """Whether TWS has answered ``trade``: it gave it a permanent id and a status, or refused it."""
    if rejection(trade) is not None:
        return True
    return bool(trade.order.permId) and ib_status(trade) not in _UNANSWERED


def _newest(trades: Iterable[Any]) -> Any | None:
    """The trade TWS knows best among ``trades``: answered first, then the newest permId."""
    ranked = sorted(trades, key=lambda t: (answered(t), t.order.permId), reverse=True)
    return ranked[0] if ranked else None


class OrderDesk:
    """Places, changes, cancels and finds the orders of one session."""

    def __init__(self, session: Session, market: Market) -> None:
        self.session = session
        self.market = market
        #: client order id -> the IB order ids it was sent under (survives reconnects).
        self.sent: collections.OrderedDict[str, list[int]] = collections.OrderedDict()
        #: orderRef -> order class, for the orders placed here.
        self.classes: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        #: (client id, order id) -> the IB order a change is making of it, until TWS answers.
        self._amending: dict[tuple[int, int], Any] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        # ib_async keeps one future per kind of listing: two at once would lose one.
        return self._locks.setdefault(key, asyncio.Lock())

    def _own(self, trade: Any) -> bool:
        return int(trade.order.clientId) == self.session.options.client_id

    def order(self, trade: Any) -> Order:
        if self._amending:
            self._settle(trade)  # TWS may have just echoed a change (the stream reads it first)
        return to_order(trade, order_class=self.classes.get(trade.order.orderRef, "simple"))

    # -- placing ----------------------------------------------------------------------

    async def place(self, request: OrderRequest) -> Order:
        session, ib = self.session, self.session.ib
        coid = str(request.client_order_id)
        contract = await self.market.qualified(request.symbol)
        earlier = self.local(lambda t: t.order.orderRef == coid)
        if earlier is not None and answered(earlier):
            raise DuplicateClientOrderIdError(
                f"IB already holds an order with client order id {coid} "
                f"({order_id_of(earlier)}, {core_status(earlier)})",
                details={"client_order_id": coid, "order_id": order_id_of(earlier)},
            )
        if earlier is not None:
            raise OrderOutcomeUnknownError(
                f"order {coid} was sent before and TWS has not answered it yet; it is not "
                "sent again - the core looks it up by its client order id",
                details={"client_order_id": coid},
            )
        orders = legs(request, session.account)
        ids = self.sent.get(coid) or [ib.client.getReqId() for _ in orders]
        link(orders, ids, request.order_class.value)
        self.sent[coid] = ids
        self.classes[coid] = request.order_class.value
        self._forget()
        generation = session.generation
        trades: list[Trade] = []
        held = ib.wrapper.trades
        if any((session.options.client_id, i) in held for i in ids):
            # ib_async would take it for a change of the order it holds under that id
            raise DuplicateClientOrderIdError(
                f"the IB order ids {ids} of {coid} are already used by orders here",
                details={"client_order_id": coid},
            )
        try:
            for order in orders:
                trades.append(ib.placeOrder(contract, order))
        except ConnectionError:
            if not trades:
                raise BrokerUnavailableError(
                    f"the connection to TWS dropped before order {coid} was written; "
                    "nothing was sent"
                ) from None
            raise self._unknown(coid, "the connection dropped between its legs") from None
        return await self._answer(trades, generation, coid)

    def _forget(self) -> None:
        for memory in (self.sent, self.classes):
            while len(memory) > REMEMBERED:
                memory.popitem(last=False)

    def _unknown(self, coid: str, why: str) -> OrderOutcomeUnknownError:
        return OrderOutcomeUnknownError(
            f"order {coid} was sent to TWS but {why}; it may or may not be at IB. It is not "
            "sent again: the core looks it up by client order id (its orderRef)",
            details={"client_order_id": coid},
        )

    async def _answer(self, trades: list[Any], generation: int, coid: str) -> Order:
        """Wait for TWS's answer to the first leg (then, briefly, to the others)."""
        session = self.session
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.options.order_timeout
        first = trades[0]
        while not answered(first):
            if session.generation != generation:
                raise self._unknown(coid, f"the connection dropped ({session.last_error})")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._unknown(
                    coid,
                    f"TWS did not answer within {session.options.order_timeout:g}s "
                    "(left in PendingSubmit)",
                )
            await session.changes(remaining)
        refused = rejection(first)
        if refused is not None:
            code, text = refused
            raise map_error(code, text, client_order_id=coid)
        while not all(answered(t) for t in trades[1:]):
            remaining = deadline - loop.time()
            if remaining <= 0 or session.generation != generation:
                log.warning("order %s: TWS has not answered every leg yet", coid)
                break
            await session.changes(remaining)
        for leg in trades[1:]:
            if (refused := rejection(leg)) is not None:
                ref = leg.order.orderRef
                log.error("IB refused leg %s of order %s: %s %s", ref, coid, *refused)
        return self.order(first)

    # -- changing and cancelling ------------------------------------------------------

    async def _open_own(self, order_id: str, what: str) -> Any:
        trade = await self.find(matcher(order_id))
        if trade is None:
            raise NotFoundError(f"IB has no open order {order_id}")
        status = core_status(trade)
        if OrderStatus(status).is_terminal:
            raise InvalidOrderError(f"order {order_id} is {status} and can no longer be {what}")
        if not self._own(trade):
            raise InvalidOrderError(
                f"order {order_id} was placed by API client {trade.order.clientId}; IB lets only "
                f"that client (or TWS itself) change it - this is client "
                f"{self.session.options.client_id}"
            )
        return trade

    async def cancel(self, order_id: str) -> None:
        session = self.session
        trade = await self._open_own(order_id, "canceled")
        mark = len(trade.log)
        session.ib.cancelOrder(trade.order)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.options.order_timeout
        while ib_status(trade) not in ("Cancelled", "ApiCancelled", "Filled", "Inactive"):
            for entry in trade.log[mark:]:
                if entry.errorCode and entry.errorCode != 202:
                    raise map_error(int(entry.errorCode), entry.message, order_id=order_id)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return  # pending_cancel: a cancel can still lose the race to a fill
            await session.changes(remaining)

    async def modify(self, order_id: str, changes: OrderChanges) -> Order:
        """IB's replace: the order placed again under its own id with new terms.

        ``changes.client_order_id`` becomes its ``orderRef``: from TWS's echo on,
        the order is found (and streamed) under the replacement's client order id.
        Once the change is written, a drop or no echo in time is an unknown outcome.
        """
        session = self.session
        trade = await self._open_own(order_id, "replaced")
        new = modification(trade.order, changes)
        coid = str(new.orderRef)
        other = self.local(lambda t: t.order.orderRef == coid and t is not trade)
        if other is not None:
            raise DuplicateClientOrderIdError(
                f"IB already holds another order with client order id {coid} "
                f"({order_id_of(other)}); order {order_id} was not changed",
                details={"client_order_id": coid, "order_id": order_id_of(other)},
            )
        self.classes[coid] = self.classes.get(trade.order.orderRef, "simple")
        self._forget()
        key = (int(trade.order.clientId), int(trade.order.orderId))
        mark, generation = len(trade.log), session.generation
        self._amending[key] = new
        try:
            try:
                session.ib.placeOrder(trade.contract, new)
            except ConnectionError:
                raise BrokerUnavailableError(
                    f"the connection to TWS dropped before the change of order {order_id} "
                    "was written; nothing was sent"
                ) from None
            except AssertionError:
                # ib_async wrote the change, then refused to track it: it holds the order
                # as done (a refused cancel looks so to it). TWS's answer still comes.
                log.warning("order %s: ib_async holds it as done; waiting for TWS", order_id)
            await self._changed(trade, new, (mark, generation), order_id)
            self._settle(trade)
        finally:
            self._amending.pop(key, None)
        return self.order(trade)

    async def _changed(self, trade: Any, new: Any, since: tuple[int, int], order_id: str) -> None:
        """Wait until TWS's echo of ``trade`` carries ``new``; raise what it said instead."""
        session = self.session
        mark, generation = since
        coid = str(new.orderRef)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.options.order_timeout
        while not _shows(trade.order, new):
            status = core_status(trade)  # reads past ib_async's "Cancelled" for a refused change
            if OrderStatus(status).is_terminal:
                raise InvalidOrderError(f"order {order_id} was {status} before IB could change it")
            errors = [e for e in trade.log[mark:] if e.errorCode]
            if errors:  # TWS refused the change; the order keeps its old terms and reference
                await self.open_orders()  # ib_async marked the live order cancelled: re-read it
                raise map_error(int(errors[-1].errorCode), errors[-1].message, order_id=order_id)
            if session.generation != generation:
                why = f"the connection dropped ({session.last_error})"
                raise self._unknown_change(order_id, coid, why)
            remaining = deadline - loop.time()
            if remaining <= 0:
                why = f"TWS did not confirm it within {session.options.order_timeout:g}s"
                raise self._unknown_change(order_id, coid, why)
            await session.changes(remaining)

    def _unknown_change(self, order_id: str, coid: str, why: str) -> OrderOutcomeUnknownError:
        return OrderOutcomeUnknownError(
            f"the change of order {order_id} was sent to TWS but {why}; it may or may not "
            f"have been made. It is not sent again: look the order up by client order id {coid}",
            details={"client_order_id": coid, "order_id": order_id},
        )

    def _settle(self, trade: Any) -> None:
        """Give ``trade`` the terms TWS's echo leaves out, once the echo shows a change.

        ib_async copies the quantity, prices, type and ``orderRef`` of an echo into
        the order it holds, not the time in force, ``goodTillDate`` or trail percent.
        """
        key = (int(trade.order.clientId), int(trade.order.orderId))
        new = self._amending.get(key)
        if new is not None and _shows(trade.order, new):
            order = trade.order
            order.tif, order.goodTillDate = new.tif, new.goodTillDate
            order.trailingPercent = new.trailingPercent

    # -- finding ------------------------------------------------------------------------

    def local(self, match: Match) -> Any | None:
        """The best trade ib_async holds that ``match`` accepts and that TWS keeps current.

        This client's orders are updated as they change; other clients' open orders
        are a snapshot, trusted only once final.
        """
        trades = [t for t in self.session.ib.trades() if match(t)]
        trusted = [t for t in trades if self._own(t) or not OrderStatus(core_status(t)).is_open]
        return _newest(trusted)

    async def find(self, match: Match) -> Any | None:
        """The trade ``match`` accepts: held here, else among TWS's open and today's orders."""
        held = self.local(match)
        if held is not None and answered(held):
            return held
        for listing in (self.open_orders, self.completed_orders):
            found = _newest(t for t in await listing() if match(t))
            if found is not None:
                return found
        return None

    async def open_orders(self) -> list[Any]:
        async with self._lock("open"):
            ib = self.session.ib
            return list(await self.session.request(ib.reqAllOpenOrdersAsync(), "the open orders"))

    async def completed_orders(self) -> list[Any]:
        async with self._lock("completed"):
            ib = self.session.ib
            completed = ib.reqCompletedOrdersAsync(False)
            return list(await self.session.request(completed, "today's orders"))

    async def listing(
        self,
        status: str,
        limit: int | None,
        symbols: Sequence[str] | None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        """Stock orders, newest first (by permId): ``open``, ``closed`` (today's) or ``all``.

        TWS lists no window: ``after``/``until`` are applied here to its log times.
        """
        found: dict[str, Any] = {}
        if status in ("closed", "all"):
            for trade in await self.completed_orders():
                found[order_id_of(trade)] = trade
            for trade in self.session.ib.trades():
                if self._own(trade) and not OrderStatus(core_status(trade)).is_open:
                    found[order_id_of(trade)] = trade
        if status in ("open", "all"):
            for trade in await self.open_orders():
                found[order_id_of(trade)] = trade
        wanted = set(symbols or ())
        orders = []
        for trade in sorted(found.values(), key=lambda t: t.order.permId, reverse=True):
            if trade.contract.secType != "STK" or not trade.order.permId:
                continue
            order = self.order(trade)
            if wanted and order.symbol not in wanted:
                continue
            if status == "open" and order.status.is_terminal:
                continue
            if status == "closed" and order.status.is_open:
                continue
            if in_window(order, after, until):
                orders.append(order)
        return orders[:limit] if limit else orders


def _shows(current: Any, wanted: Any) -> bool:
    """Whether TWS's echo of a modified order carries the new terms and reference."""
    if str(current.orderRef or "") != str(wanted.orderRef or ""):
        return False
    pairs = [
        (current.totalQuantity, wanted.totalQuantity),
        (current.lmtPrice, wanted.lmtPrice),
        (current.auxPrice, wanted.auxPrice),
    ]
    return all(_same(a, b) for a, b in pairs)


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except (TypeError, ValueError):
        return bool(a == b)
