"""The fake TWS's account: stocks, prices, orders, executions, positions and cash.

Orders behave as IB's do, simply: a market order fills at the price (when
``fill_market_orders``), a marketable limit fills at the price, other orders
rest (``Submitted``; stops ``PreSubmitted``). Orders sent with ``transmit`` off
wait for the leg that transmits their group (a bracket's children are
``PreSubmitted`` until the parent fills); a fill of one order of an OCA group,
or of one child of a bracket, cancels the others.

Faults for the next ``placeOrder`` (``faults``): ``drop_after`` (TWS takes the
order, then the connection drops before any answer), ``drop_before`` (it drops
and TWS never sees the order), ``silent`` (TWS takes it and never answers:
PendingSubmit forever), ``reject`` and ``reject_margin`` (error 201), and
``partial`` (half of a marketable order fills, the rest stays open); for a change of
an order, ``refuse_change`` (error 105) and ``reject_margin`` (error 201: the order
stays as it was), and ``drop_after`` / ``silent`` as for a new one (the change is
made, the answer is lost); ``none`` changes nothing (to aim at a
later leg).

A change (``placeOrder`` under a live order's id) takes the new quantity, prices,
time in force, ``goodTillDate``, trail percent and ``orderRef``, as TWS does. A
``GTD`` order's ``goodTillDate`` must be in a form IB's API takes (``YYYYMMDD-HH:MM:SS``
in UTC, or a date-time and a time zone): another is a problem the test sees.
"""

from __future__ import annotations

import collections
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import wire

DONE = {"Filled", "Cancelled", "Inactive", "ApiCancelled"}
#: The goodTillDate forms IB's API documents: UTC with a dash, or a time and a zone.
GOOD_TILL = re.compile(r"\d{8}-\d{2}:\d{2}:\d{2}|\d{8}[- ]\d{2}:\d{2}:\d{2} [\w/+-]+")


@dataclass
class Stock:
    symbol: str
    con_id: int
    primary: str = "NASDAQ"
    name: str = "A Fake Company"


@dataclass
class Execution:
    exec_id: str
    time: str
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal


@dataclass
class FakeOrder:
    client_id: int
    order_id: int
    stock: Stock
    action: str
    qty: Decimal
    order_type: str
    tif: str
    order_ref: str
    account: str
    lmt: Decimal | None = None
    aux: Decimal | None = None
    trailing_percent: Decimal | None = None
    good_till_date: str = ""
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0
    outside_rth: bool = False
    transmit: bool = True
    perm_id: int = 0
    status: str = "PendingSubmit"
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    completed_time: str = ""
    partial: bool = False
    executions: list[Execution] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1


class Book:
    """The account behind the fake TWS. Runs on the fake's loop thread only."""

    def __init__(self, out: Any, problems: list[str] | None = None) -> None:
        self.out = out
        self.problems = problems if problems is not None else []
        self.accounts = ["DU1234567"]
        self.stocks = {
            "AAPL": Stock("AAPL", 265598, "NASDAQ", "APPLE INC"),
            "MSFT": Stock("MSFT", 272093, "NASDAQ", "MICROSOFT CORP"),
            "BRK B": Stock("BRK B", 72063691, "NYSE", "BERKSHIRE HATHAWAY INC-CL B"),
            "SPY": Stock("SPY", 756733, "ARCA", "SPDR S&P 500 ETF TRUST"),
        }
        self.prices = {"AAPL": Decimal("190.50"), "MSFT": Decimal("410.25")}
        self.prices.update({"BRK B": Decimal("455.10"), "SPY": Decimal("560.00")})
        self.cash = Decimal(100_000)
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, avg cost)
        self.orders: dict[tuple[int, int], FakeOrder] = {}
        self.faults: collections.deque[str] = collections.deque()
        self.fill_market_orders = True
        self.received: list[dict[str, str]] = []  # every placeOrder, by field name
        self._perm = itertools.count(900_001)
        self._exec = itertools.count(1)
        self.next_ids: dict[int, int] = {}

    @property
    def account(self) -> str:
        return self.accounts[0]

    def by_ref(self, ref: str) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.order_ref == ref]

    # -- placing and changing -----------------------------------------------------------

    def place(self, client: Any, fields: list[str]) -> None:
        p = wire.read_place_order(fields)
        self.received.append(p)
        fault = self.faults.popleft() if self.faults else None
        if fault == "drop_before":
            self.out.drop_client(client)
            return
        order_id = int(p["orderId"])
        key = (client.client_id, order_id)
        self.next_ids[client.client_id] = max(self.next_ids.get(client.client_id, 1), order_id + 1)
        if p["tif"] == "GTD" and not GOOD_TILL.fullmatch(p["goodTillDate"]):
            self.problems.append(f"a GTD order with goodTillDate {p['goodTillDate']!r}")
        existing = self.orders.get(key)
        if existing is not None:
            if existing.done:
                self._error(client.client_id, order_id, 103, f"Duplicate order id {order_id}")
            elif fault == "refuse_change":
                text = "Order being modified does not match original order"
                self._error(client.client_id, order_id, 105, text)
            elif fault == "reject_margin":  # the change is refused; the order stays as it was
                why = "Your Equity with Loan Value of [1000 USD] is insufficient for the margin"
                self._error(client.client_id, order_id, 201, f"Order rejected - reason:{why}")
            else:
                if fault == "drop_after":
                    self.out.drop_client(client)
                if fault == "silent":
                    self.out.mute(existing.client_id, existing.order_id)
                self.modify(existing, p)
            return
        stock = self.stocks.get(p["symbol"])
        if stock is None:
            self._error(client.client_id, order_id, 200, "No security definition has been found")
            return
        order = FakeOrder(
            client_id=client.client_id,
            order_id=order_id,
            stock=stock,
            action=p["action"],
            qty=Decimal(p["totalQuantity"]),
            order_type=p["orderType"],
            tif=p["tif"],
            order_ref=p["orderRef"],
            account=p["account"] or self.account,
            lmt=wire.decimal_or_none(p["lmtPrice"]),
            aux=wire.decimal_or_none(p["auxPrice"]),
            trailing_percent=wire.decimal_or_none(p.get("trailingPercent")),
            good_till_date=p["goodTillDate"],
            oca_group=p["ocaGroup"],
            oca_type=int(p["ocaType"] or 0),
            parent_id=int(p["parentId"] or 0),
            outside_rth=p["outsideRth"] == "1",
            transmit=p["transmit"] == "1",
            perm_id=next(self._perm),
            partial=fault == "partial",
        )
        self.orders[key] = order
        if fault in ("reject", "reject_margin"):
            why = "YOUR ORDER IS NOT ACCEPTED. THE FAKE REFUSES IT"
            if fault == "reject_margin":
                why = "Your Equity with Loan Value of [1000 USD] is insufficient for the margin"
            order.status = "Inactive"
            self._error(client.client_id, order_id, 201, f"Order rejected - reason:{why}")
            self.out.to(order.client_id, wire.order_status(order))
            return
        if not order.transmit:
            order.status = "Staged"
            return
        if fault == "drop_after":
            self.out.drop_client(client)
        if fault == "silent":
            self.out.mute(order.client_id, order.order_id)
        self._transmit(order)

    def _transmit(self, order: FakeOrder) -> None:
        group = [order]
        if order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            siblings = [
                o
                for o in self.orders.values()
                if o.client_id == order.client_id
                and o.parent_id == order.parent_id
                and o.status == "Staged"
            ]
            group = [p for p in (parent,) if p is not None and p.status == "Staged"] + siblings
            group += [order] if order not in group else []
        for each in group:
            each.status = "PreSubmitted" if self._waits(each) else "Submitted"
            self._announce(each)
        for each in group:
            self.try_fill(each)

    def _waits(self, order: FakeOrder) -> bool:
        if order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            if parent is not None and parent.status != "Filled":
                return True
        return order.order_type in ("STP", "TRAIL")

    def _announce(self, order: FakeOrder) -> None:
        self.out.to(order.client_id, wire.open_order(order))
        self.out.to(order.client_id, wire.order_status(order))

    def modify(self, order: FakeOrder, p: dict[str, str]) -> None:
        order.qty = Decimal(p["totalQuantity"])
        order.lmt = wire.decimal_or_none(p["lmtPrice"])
        order.aux = wire.decimal_or_none(p["auxPrice"])
        order.trailing_percent = wire.decimal_or_none(p.get("trailingPercent"))
        order.tif = p["tif"]
        order.good_till_date = p["goodTillDate"]
        order.order_ref = p["orderRef"]
        self._announce(order)
        self.try_fill(order)

    def cancel(self, client_id: int, order_id: int) -> None:
        order = self.orders.get((client_id, order_id))
        if order is None:
            message = f"OrderId {order_id} that needs to be cancelled is not found."
            self._error(client_id, order_id, 10147, message)
        elif order.done:
            message = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
            self._error(client_id, order_id, 10148, f"{message}state: {order.status}.")
        else:
            self._cancel(order)

    def _cancel(self, order: FakeOrder) -> None:
        order.status = "Cancelled"
        order.completed_time = wire.tws_time()
        self.out.to(order.client_id, wire.order_status(order))
        self._error(order.client_id, order.order_id, 202, "Order Canceled - reason:")
        for child in self._children(order):
            if not child.done:
                self._cancel(child)

    def cancel_all(self) -> None:
        for order in list(self.orders.values()):
            if not order.done and order.status != "Staged":
                self._cancel(order)

    def _children(self, order: FakeOrder) -> list[FakeOrder]:
        return [
            o
            for o in self.orders.values()
            if o.parent_id == order.order_id and o.client_id == order.client_id
        ]

    def _error(self, client_id: int, req_id: int, code: int, message: str) -> None:
        self.out.to(client_id, wire.error(req_id, code, message))

    # -- fills ----------------------------------------------------------------------------

    def try_fill(self, order: FakeOrder) -> None:
        if order.done or order.status in ("Staged", "PreSubmitted"):
            return
        price = self.prices[order.stock.symbol]
        kind = order.order_type
        buying = order.action == "BUY"
        if kind in ("MKT", "MOC"):
            marketable = self.fill_market_orders
        elif kind in ("LMT", "LOC") and order.lmt is not None:
            marketable = order.lmt >= price if buying else order.lmt <= price
        else:
            marketable = False
        if not marketable:
            return
        qty = order.qty - order.filled
        if order.partial:
            order.partial = False
            qty = max(Decimal(1), (qty / 2).to_integral_value())
        self.execute(order, qty, price)

    def execute(self, order: FakeOrder, qty: Decimal, price: Decimal) -> None:
        before = order.filled * order.avg_price
        order.filled += qty
        order.avg_price = (before + qty * price) / order.filled
        order.last_price = price
        execution = Execution(
            exec_id=f"0000e0d5.{next(self._exec):08d}.01.01",
            time=wire.tws_time(),
            shares=qty,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_price,
        )
        order.executions.append(execution)
        self._move_position(order, qty, price)
        if order.filled >= order.qty:
            order.status = "Filled"
            order.completed_time = execution.time
        self.out.to(order.client_id, wire.exec_details(-1, order, execution))
        self.out.to(order.client_id, wire.order_status(order))
        self.out.to(order.client_id, wire.commission_report(execution.exec_id))
        self.publish_account()
        if order.status == "Filled":
            self._after_fill(order)

    def _after_fill(self, order: FakeOrder) -> None:
        for child in self._children(order):
            if child.status == "PreSubmitted" and child.order_type not in ("STP", "TRAIL"):
                child.status = "Submitted"
                self.out.to(child.client_id, wire.order_status(child))
                self.try_fill(child)
        others: list[FakeOrder] = []
        if order.oca_group:
            others = [o for o in self.orders.values() if o.oca_group == order.oca_group]
        elif order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            others = self._children(parent) if parent is not None else []
        for other in others:
            if other is not order and not other.done:
                self._cancel(other)

    def _move_position(self, order: FakeOrder, qty: Decimal, price: Decimal) -> None:
        symbol = order.stock.symbol
        held, avg = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        delta = order.sign * qty
        new = held + delta
        if new == 0:
            avg = Decimal(0)
        elif held == 0 or (held > 0) == (delta > 0):
            avg = (held * avg + delta * price) / new
        self.positions[symbol] = (new, avg)
        self.cash -= delta * price
        self.out.to_positions(wire.position(self.account, order.stock, new, avg))

    # -- the account --------------------------------------------------------------------

    def account_values(self) -> list[list[Any]]:
        gross = sum((abs(q) * self.prices[s] for s, (q, _) in self.positions.items()), Decimal(0))
        net = self.cash + sum(
            (q * self.prices[s] for s, (q, _) in self.positions.items()), Decimal(0)
        )
        values = {
            "NetLiquidation": net,
            "TotalCashValue": self.cash,
            "BuyingPower": net * 2,
            "EquityWithLoanValue": net,
            "PreviousDayEquityWithLoanValue": Decimal(100_000),
            "GrossPositionValue": gross,
            "InitMarginReq": gross / 4,
            "MaintMarginReq": gross / 4,
        }
        rows = [wire.account_value(tag, v, "USD", self.account) for tag, v in values.items()]
        rows.append(wire.account_value("NetLiquidationByCurrency", net, "BASE", self.account))
        rows.append(wire.account_value("AccountType", "INDIVIDUAL", "", self.account))
        return rows

    def portfolio_rows(self) -> list[list[Any]]:
        return [
            wire.portfolio(self.account, self.stocks[s], q, self.prices[s], avg)
            for s, (q, avg) in self.positions.items()
        ]

    def publish_account(self) -> None:
        for row in [*self.account_values(), *self.portfolio_rows()]:
            self.out.to_account(row)

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.prices[symbol] = price
        for order in list(self.orders.values()):
            if order.stock.symbol == symbol:
                self.try_fill(order)
        self.out.ticks(symbol)
        self.publish_account()

    def open_orders(self, client_id: int | None = None) -> list[FakeOrder]:
        return [
            o
            for o in self.orders.values()
            if not o.done and o.status != "Staged" and client_id in (None, o.client_id)
        ]

    def next_id(self, client_id: int) -> int:
        return self.next_ids.setdefault(client_id, 1)
