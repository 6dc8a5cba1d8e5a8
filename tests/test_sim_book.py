"""The sim's book of resting orders: flat in its size, and the same answers as walking it.

Flatness is counted, not timed: the SQLite virtual-machine steps an order costs
(a progress handler counts them) and the orders the market works on each pass.
Sameness is checked against a sim that walks every open order on every pass (the
previous release's way), over random sequences of orders, prices and days, and
the running figures against sums over the open orders.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderRequest,
)
from tradingagents_brokers.orders import OrderChanges
from tradingagents_brokers.sim import market
from tradingagents_brokers.sim.broker import SimBroker
from tradingagents_brokers.sim.prices import StaticPrices
from tradingagents_brokers.sim.store import SimStore

T0 = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, at=T0):
        self.at = at

    def __call__(self):
        return self.at


def _sim(path, clock, cash=10**9):
    prices = StaticPrices({"AAPL": 100, "MSFT": 200})
    return SimBroker(SimStore(path), prices, initial_cash=Decimal(cash), now=clock)


def _rest(sim, count, *, symbol="AAPL", tif="gtc"):
    """``count`` buy limits that rest, at 90.00, 90.01, ... (one transaction)."""
    with sim.store.transaction():
        for n in range(count):
            sim.place_order(
                OrderRequest(
                    symbol=symbol,
                    side="buy",
                    qty=1,
                    order_type="limit",
                    limit_price=Decimal(90) + Decimal(n % 900) / 100,
                    time_in_force=tif,
                    client_order_id=f"rest-{symbol}-{tif}-{n}",
                )
            )


def _steps(sim, action):
    """SQLite virtual-machine steps (in tens) that ``action`` costs."""
    count = [0]

    def tick():
        count[0] += 1
        return 0

    sim.store._db.set_progress_handler(tick, 10)
    try:
        action()
    finally:
        sim.store._db.set_progress_handler(None, 0)
    return count[0]


def _order_and_poll(sim, n=[0]):  # noqa: B006 - a counter for unique ids
    def action():
        n[0] += 1
        sim.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"m{n[0]}"))
        sim.process()

    return action


def test_an_order_costs_the_same_steps_with_a_thousand_resting_orders(tmp_path):
    sim = _sim(tmp_path / "sim.db", Clock())
    _order_and_poll(sim)()  # warm
    empty = _steps(sim, _order_and_poll(sim))
    _rest(sim, 1000)
    _rest(sim, 200, symbol="MSFT", tif="day")
    full = _steps(sim, _order_and_poll(sim))
    assert full <= empty * 1.25 + 20, (empty, full)
    sim.close()


def test_get_account_costs_the_same_steps_with_thousands_of_fills(tmp_path):
    clock = Clock()
    sim = _sim(tmp_path / "sim.db", clock)
    with sim.store.transaction():
        for n in range(5):
            sim.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"a{n}"))
    clock.at += dt.timedelta(days=1)
    few = _steps(sim, sim.get_account)
    with sim.store.transaction():
        for n in range(3000):
            sim.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"b{n}"))
    many = _steps(sim, sim.get_account)
    assert many <= few * 1.25 + 20, (few, many)
    clock.at += dt.timedelta(days=1)
    assert sim.get_account().last_equity == sim.store.equity_points()[-1][1]
    sim.close()


def test_a_price_move_works_only_the_orders_it_crosses(tmp_path, monkeypatch):
    clock = Clock()
    sim = _sim(tmp_path / "sim.db", clock)
    _rest(sim, 500)  # buy limits at 90.00 .. 94.99
    _rest(sim, 300, symbol="MSFT", tif="day")  # below MSFT's 200: they rest
    worked = []
    real_work = market.work

    def counting(broker, order_id, **kwargs):
        worked.append(order_id)
        real_work(broker, order_id, **kwargs)

    monkeypatch.setattr(market, "work", counting)
    sim.process()
    assert worked == []
    sim.set_price("AAPL", "94.50")  # crosses the limits at 94.50 .. 94.99
    assert len(worked) == 50
    assert {sim.get_order(o).status.value for o in worked} == {"filled"}
    assert len(sim.get_orders("open")) == 750
    worked.clear()
    clock.at += dt.timedelta(days=1)  # the MSFT day orders expire, the gtc ones stay
    sim.process()
    assert len(worked) == 300
    assert len(sim.get_orders("open")) == 450
    sim.close()


def test_two_sims_on_one_file_share_the_book_and_what_it_reserves(tmp_path):
    clock = Clock()
    first = _sim(tmp_path / "sim.db", clock, cash=10_000)
    second = _sim(tmp_path / "sim.db", clock)  # another process on the same account
    first.place_order(OrderRequest(symbol="AAPL", side="buy", qty=20, client_order_id="own"))
    first.place_order(
        OrderRequest(
            symbol="AAPL",
            side="buy",
            qty=40,
            order_type="limit",
            limit_price=95,
            time_in_force="gtc",
            client_order_id="rests",
        )
    )
    second.place_order(
        OrderRequest(
            symbol="AAPL",
            side="sell",
            qty=15,
            order_type="limit",
            limit_price=120,
            time_in_force="gtc",
            client_order_id="sells",
        )
    )
    assert second.get_account().buying_power == Decimal(4200)  # 10,000 - 2,000 - 40 x 95
    with pytest.raises(InsufficientFundsError, match="available: 5"):
        first.place_order(OrderRequest(symbol="AAPL", side="sell", qty=6, client_order_id="x"))
    second.set_price("AAPL", 95)  # the other process's price fills the first's order
    assert first.get_order_by_client_id("rests").status.value == "filled"
    assert first.get_account().buying_power == Decimal(4200)
    first.close()
    second.close()


# -- the same answers as walking every open order -----------------------------------------


class WalkingSim(SimBroker):
    """The previous release's pass: every open order, newest first, its price read anew."""

    def _process(self) -> None:
        with self.store.transaction():
            for row in self.store.orders("open", None, None):
                market.work(self, row["order_id"], first=False)


def _figures(sim):
    """The running figures, and the same summed over the open orders."""
    open_rows = sim.store.orders("open", None, None)
    reserved = sum(
        (
            Decimal(r["qty"]) * (Decimal(r["limit_price"] or 0) or Decimal(r["stop_price"] or 0))
            for r in open_rows
            if r["side"] == "buy"
        ),
        Decimal(0),
    )
    held = {
        symbol: sum(
            (Decimal(r["qty"]) for r in open_rows if r["side"] == "sell" and r["symbol"] == symbol),
            Decimal(0),
        )
        for symbol in ("AAPL", "MSFT")
    }
    resting = {r[0] for r in sim.store._db.execute("SELECT order_id FROM resting")}
    points = sim.store.equity_points()
    today = sim.now().date().isoformat()
    earlier = [value for at, value in points if at[:10] < today]
    return {
        "reserved": (sim.store.reserved_cash(), reserved),
        "held": ({s: sim.store.held_for_sale(s) for s in held}, held),
        "resting": (resting, {r["order_id"] for r in open_rows}),
        "last_equity": (sim.get_account().last_equity, earlier[-1] if earlier else points[0][1]),
    }


def _state(sim):
    """What a client sees, with order ids replaced by client order ids."""
    orders = sim.get_orders("all")
    names = {o.order_id: o.client_order_id for o in orders}
    updates = sim.store.updates_after(0)
    return {
        "orders": [
            (
                o.client_order_id,
                o.status.value,
                o.filled_qty,
                o.filled_avg_price,
                names.get(o.replaced_by or ""),
                names.get(o.replaces or ""),
            )
            for o in orders
        ],
        "account": attrs.evolve(sim.get_account(), account_number=""),
        "positions": [(p.symbol, p.qty, p.cost_basis) for p in sim.get_positions()],
        "updates": [(names[u["order_id"]], u["event"], u["update_status"]) for u in updates],
        "equity": sim.store.equity_points(),
    }


def _random_step(rng, sims, clock, n):
    """One random action on every sim alike; the outcome (or error type) of each."""
    symbol = rng.choice(["AAPL", "MSFT"])
    base = {"AAPL": 100, "MSFT": 200}[symbol]
    price = Decimal(rng.randint(base * 90, base * 110)) / 100
    kind = rng.random()
    outcomes = []
    if kind < 0.5:
        order_type = rng.choice(["market", "limit", "limit", "stop", "stop_limit"])
        fields = {
            "symbol": symbol,
            "side": rng.choice(["buy", "buy", "sell"]),
            "qty": rng.choice([1, 2, 5, 12, Decimal("0.5")]),
            "order_type": order_type,
            "time_in_force": rng.choice(["day", "gtc", "gtc", "ioc", "fok"]),
            "client_order_id": f"c{n}",
        }
        if order_type in ("limit", "stop_limit"):
            fields["limit_price"] = price
        if order_type in ("stop", "stop_limit"):
            fields["stop_price"] = Decimal(rng.randint(base * 90, base * 110)) / 100
        for sim in sims:
            try:
                outcomes.append(sim.place_order(OrderRequest(**fields)).status)
            except (InsufficientFundsError, InvalidOrderError) as exc:
                outcomes.append(type(exc))
    elif kind < 0.75:
        for sim in sims:
            sim.set_price(symbol, price)
    elif kind < 0.87:
        opened = [o.client_order_id for o in sims[0].get_orders("open")]
        if opened:
            target = rng.choice(opened)
            changes = OrderChanges(qty=rng.choice([1, 2]), client_order_id=f"r{n}")
            cancel = rng.random() < 0.5
            for sim in sims:
                order_id = sim.get_order_by_client_id(target).order_id
                try:
                    if cancel:
                        sim.cancel_order(order_id)
                    else:
                        sim.replace_order(order_id, changes)
                    outcomes.append("ok")
                except (InsufficientFundsError, InvalidOrderError) as exc:
                    outcomes.append(type(exc))
    elif kind < 0.97:
        clock.at += dt.timedelta(hours=rng.choice([1, 5, 13, 30]))
    else:
        clock.at -= dt.timedelta(days=1)  # a clock set back: equity days out of order
    return outcomes


@pytest.mark.parametrize("seed", range(12))
def test_random_trading_answers_as_walking_every_open_order(tmp_path, seed):
    rng = random.Random(seed)
    clock = Clock()
    indexed = _sim(tmp_path / "indexed.db", clock, cash=8_000)
    walking = WalkingSim(
        SimStore(tmp_path / "walking.db"),
        StaticPrices({"AAPL": 100, "MSFT": 200}),
        initial_cash=Decimal(8_000),
        now=clock,
    )
    for sim in (indexed, walking):
        sim.place_order(OrderRequest(symbol="AAPL", side="buy", qty=20, client_order_id="seed-a"))
        sim.place_order(OrderRequest(symbol="MSFT", side="buy", qty=10, client_order_id="seed-m"))
    for n in range(120):
        outcomes = _random_step(rng, (indexed, walking), clock, n)
        assert len(set(outcomes)) <= 1, (n, outcomes)
        assert _state(indexed) == _state(walking), n
        for name, (running, summed) in _figures(indexed).items():
            assert running == summed, (n, name)
    indexed.close()
    walking.close()
