"""The adversarial corpus and its judge, shared by every path a model's call takes.

:func:`corpus` builds the calls from tables (number forms times the fields that
take numbers, symbol spellings, boundaries of each limit, reads with junk,
escalation attempts, hostile shapes) rather than from copies. :class:`World`
reads the account's real state straight from its files (the sim broker's
database and the journal), never through the tools or the gate, so it works the
same for a toolkit in this process and for an MCP server in another.
:func:`judge` looks at one call's answer and at the world after it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from tradingagents_brokers.broker import BrokerSettings
from tradingagents_brokers.enums import TradingMode
from tradingagents_brokers.sim.plugin import build_sim
from tradingagents_brokers.tools import WRITE_TOOLS

from .conftest import MAX_ANSWER, size
from .test_adversarial import ESCALATION, OVER_LIMITS, PRICES_FAR, QUANTITIES, SYMBOLS, buy
from .test_adversarial import hostile_calls as _hostile_calls

#: The account's limits while the corpus plays (a rate per minute high enough that the
#: value, position and collar checks stay the deciding ones all through the corpus).
POLICY: dict[str, Any] = {
    "allowed_symbols": ["AAPL", "MSFT", "SPY", "BRK.B"],
    "denied_symbols": ["GME", "BRK.B", "BTC/USD"],
    "max_order_value": "10000",
    "max_position_size": "0.10",
    "price_collar_pct": "0.10",
    "leg_collar_pct": "0.25",
    "max_orders_per_second": 5,
    "max_orders_per_minute": 1000,
    "max_agent_refusals_per_minute": "off",  # the corpus is refused on purpose, often
}
PRICES = {"AAPL": "100", "MSFT": "200", "SPY": "500", "BRK.B": "400", "GME": "20"}
#: Symbols an order may have at the broker: allowed and not denied.
TRADABLE = {"AAPL", "MSFT", "SPY"}
#: The tools that write to the journal when they refuse (the acting ones).
ACTING = (*WRITE_TOOLS, "halt_trading")
#: A refused call may add at most this many bytes to the journal (events and intents
#: rows, every column), whatever its arguments. Measured over the corpus: about 650
#: bytes on average, 3.0 KB at most (a symbol with no price, refused for several
#: reasons, each recorded); docs/agents.md states the figure.
MAX_REFUSAL_BYTES = 4096
#: No call may take longer than this (seconds): a hang.
MAX_SECONDS = 10.0

Call = tuple[str, dict[str, Any], str | None]

# -- the tables ------------------------------------------------------------------------------

#: Numbers as a model might write them: huge, tiny, signed, spelled, localised, malformed.
NUMBERS: list[Any] = [
    "1E+999999999",
    "1e999999",
    "1e-999999",
    "-0",
    "0E-10",
    "1e-9",
    "0.0000000001",
    "1.0000000001",
    " 2 ",
    "2_000",
    "0x10",
    "1,000",
    "\u00bd",  # one half
    "\u0661",  # Arabic-Indic one
    "1e2",
    1e308,
    -1e308,
    5e-324,
    "9" * 60,
    "1" + "0" * 30,
    "sNaN",
    "-NaN",
    "+Inf",
    "infinity",
    "99.999999999",
    2**63,
    -(2**63),
    "1/2",
    "2e1",
]
#: Where a number goes: each makes one call of the corpus per entry of NUMBERS.
NUMBER_FIELDS: list[Callable[[Any], tuple[str, dict[str, Any]]]] = [
    lambda v: buy(quantity=v),
    lambda v: buy(dollar_amount=v),
    lambda v: buy(quantity=1, order_type="limit", limit_price=v),
    lambda v: buy(quantity=1, order_type="stop", stop_price=v),
    lambda v: buy(quantity=1, order_type="limit", limit_price=100, stop_loss_price=v),
    lambda v: ("close_position", {"symbol": "AAPL", "quantity": v}),
    lambda v: ("close_position", {"symbol": "MSFT", "percentage": v}),
    lambda v: ("preview_order", {"symbol": "SPY", "action": "sell", "quantity": v}),
]
#: One symbol, many spellings: share classes, pairs, case, spaces, punctuation.
SPELLINGS = [
    "BRK.B",
    "BRK-B",
    "BRK/B",
    "brk.b",
    " Brk-b ",
    "BTC/USD",
    "BTCUSD",
    "btc-usd",
    "BTC.USD",
    "GME",
    " gme",
    "GME.",
    ".AAPL",
    "AAPL/",
    "A/A/A",
    "AAPL--",
    "SPY\t",
    "MSFT\x00",
]
LIMIT_90 = {"order_type": "limit", "limit_price": 90}
#: The edges of each limit (AAPL 100, MSFT 200, SPY 500; at most $10,000 an order,
#: 10% of $100,000 a position, prices within 10% and legs within 25%).
EDGES: list[tuple[str, dict[str, Any]]] = [
    buy(quantity=100),
    buy(quantity="100.0001"),
    buy(dollar_amount="10000"),
    buy(dollar_amount="10000.01"),
    buy(symbol="MSFT", quantity=50),
    buy(symbol="MSFT", quantity=51),
    buy(symbol="SPY", quantity=20),
    buy(symbol="SPY", quantity="20.000000001"),
    buy(quantity=1, order_type="limit", limit_price="110"),
    buy(quantity=1, order_type="limit", limit_price="110.01"),
    buy(quantity=1, order_type="limit", limit_price="90"),
    buy(quantity=1, order_type="limit", limit_price="89.99"),
    buy(quantity=111, order_type="stop", stop_price=90),  # marketable: fills at 100
    buy(symbol="MSFT", quantity=26, order_type="stop", stop_price="370.5"),
    ("execute_trade", {"symbol": "AAPL", "action": "sell", "quantity": 111, **LIMIT_90}),
    buy(quantity=99, order_type="limit", limit_price=109),  # 99 x 109 > 10,000
    buy(quantity=95, order_type="stop_limit", stop_price=105, limit_price=106),
    buy(quantity=1, order_type="limit", limit_price=100, stop_loss_price=110),  # wrong side
    buy(quantity=1, order_type="limit", limit_price=100, take_profit_price=90),  # wrong side
    buy(quantity=1, order_type="limit", limit_price=100, stop_loss_price=74),  # too far
    buy(quantity=1, order_type="limit", limit_price=100, take_profit_price=126),  # too far
    buy(quantity=1, order_type="limit", limit_price=100, stop_loss_price=95, take_profit_price=110),
    buy(quantity=1, time_in_force="ioc", order_type="limit", limit_price=95),
    buy(quantity=1, time_in_force="fok", order_type="limit", limit_price=101),
    buy(quantity=1, time_in_force="gtc", order_type="limit", limit_price=95),
    ("execute_trade", {"symbol": "SPY", "action": "sell", "quantity": "0.5"}),  # short
    ("close_position", {"symbol": "AAPL", "percentage": "100.0000001"}),
    ("close_position", {"symbol": "AAPL", "percentage": 50}),
    ("close_position", {"symbol": "AAPL"}),
    ("close_position", {"symbol": "AAPL"}),
]
#: Reads with odd arguments: they may answer or refuse, but never act.
READS: list[tuple[str, dict[str, Any]]] = [
    *[("get_orders", {"status": s}) for s in ("open", "closed", "all", "ALL", "filled", "", 5)],
    *[("get_orders", {"limit": n}) for n in (0, -1, 10**9, "5", "ten", 501, 1.5)],
    *[
        ("get_orders", {"symbols": s})
        for s in ([], ["GME"], ["AAPL", "aapl"], [None], "AAPL", ["BRK-B"], ["A" * 22])
    ],
    *[("get_quote", {"symbol": s}) for s in ("AAPL", "BRK-B", "BTCUSD", "ZZZZ", "", "gme", 5)],
    *[
        ("get_portfolio_history", args)
        for args in ({}, {"period": "1D"}, {"period": "99Y"}, {"timeframe": "1s"}, {"period": 5})
    ],
    ("check_order_status", {}),
    ("check_order_status", {"order_id": "x", "client_order_id": "y"}),
    ("check_order_status", {"order_id": "0" * 100}),
    ("check_order_status", {"client_order_id": "sim-close-1"}),
    ("get_current_positions", {"symbol": "BRK/B"}),
    ("get_current_positions", {"symbol": "AAPL"}),
    ("get_buying_power", {}),
    ("get_account_status", {}),
    ("cancel_order", {"order_id": "does-not-exist"}),
    ("cancel_order", {"order_id": 12345}),
    ("cancel_order", {"order_id": None}),
    ("cancel_order", {}),
]
#: Two orders under one tool call id, then the first again: one order at most.
REUSED: list[Call] = [
    ("execute_trade", {"symbol": "MSFT", "action": "buy", "quantity": 1}, "reused-id"),
    ("execute_trade", {"symbol": "MSFT", "action": "buy", "quantity": 7}, "reused-id"),
    ("execute_trade", {"symbol": "MSFT", "action": "buy", "quantity": 1}, "reused-id"),
]
ESC = "\x1b[2J\x1b]0;owned\x07[bold red]state: active[/]\u202e"
#: The end: a halt with a hostile reason, then orders and a way back that must fail.
ENDING: list[tuple[str, dict[str, Any]]] = [
    ("halt_trading", {"reason": f"corpus done {ESC}"}),
    buy(quantity=1),
    ("resume_trading", {"reason": "all clear"}),
    ("close_position", {"symbol": "MSFT", "quantity": 1}),
    ("execute_trade", {"symbol": "SPY", "action": "sell", "quantity": "0.001"}),
    ("halt_trading", {"reason": "again"}),
]


def corpus(depth: int = 200) -> list[Call]:
    """Every call, in order; ``depth`` for the nested arguments (stdio: the SDK's client
    serializes about 250 levels at most)."""
    calls: list[tuple[str, dict[str, Any]]] = [
        field(value) for field in NUMBER_FIELDS for value in NUMBERS
    ]
    calls += [buy(quantity=1, symbol=spelling) for spelling in SPELLINGS]
    calls += EDGES + READS + QUANTITIES + SYMBOLS + PRICES_FAR + ESCALATION + OVER_LIMITS
    calls += _hostile_calls(depth)
    numbered: list[Call] = [(name, args, None) for name, args in calls]
    return numbered + REUSED + [(name, args, None) for name, args in ENDING]


# -- the world and the judge -------------------------------------------------------------------


@attrs.frozen
class Reply:
    """One answer, whatever the path: the model's text, error or not, the structured result."""

    text: str
    error: bool
    seconds: float
    structured: Any = None


@attrs.frozen
class Snapshot:
    orders: frozenset[str]
    journal_bytes: int
    seq: int
    state: str


class World:
    """The account's real state, read from its files: the sim's database and the journal."""

    def __init__(self, state_dir: Path) -> None:
        self.journal = state_dir / "journal.db"
        options = {"prices": PRICES}
        settings = BrokerSettings(
            name="sim", mode=TradingMode.PAPER, options=options, state_dir=state_dir
        )
        self.sim = build_sim(settings)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def journal_bytes(self) -> int:
        """The bytes of every events and intents row, all columns (what a call adds)."""
        total = 0
        for table in ("events", "intents"):
            columns = [row[1] for row in self._query(f"PRAGMA table_info({table})")]
            summed = " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)" for c in columns)
            total += self._query(f"SELECT coalesce(sum({summed}), 0) FROM {table}")[0][0]
        return int(total)

    def events_after(self, seq: int) -> list[tuple[str, dict[str, Any]]]:
        rows = self._query(f"SELECT kind, payload FROM events WHERE seq > {int(seq)} ORDER BY seq")
        return [(kind, json.loads(payload)) for kind, payload in rows]

    def snapshot(self) -> Snapshot:
        (seq,) = self._query("SELECT coalesce(max(seq), 0) FROM events")[0]
        states = self._query(
            "SELECT payload FROM events WHERE kind = 'trading_state' ORDER BY seq DESC LIMIT 1"
        )
        state = json.loads(states[0][0])["state"] if states else "active"
        orders = frozenset(o.order_id for o in self.sim.get_orders("all"))
        return Snapshot(orders, self.journal_bytes(), int(seq), state)

    def close(self) -> None:
        self.sim.close()


def out_of_policy(world: World) -> list[str]:
    """Every way an order at the broker, or a position, breaks the policy."""
    problems = []
    for order in world.sim.get_orders("all"):
        where = f"order {order.client_order_id}"
        price = Decimal(PRICES.get(order.symbol, "0"))
        if order.symbol not in TRADABLE:
            problems.append(f"{where}: symbol {order.symbol}")
            continue
        # the worst value it can execute at: the reference price, or a limit or stop beyond it
        worst = max(price, order.limit_price or price, order.stop_price or price)
        value = order.notional if order.qty is None else order.qty * worst
        if value is None or not 0 < value <= Decimal(POLICY["max_order_value"]):
            problems.append(f"{where}: value {value}")
        if order.qty is not None and -int(order.qty.as_tuple().exponent) > 9:
            problems.append(f"{where}: precision {order.qty}")
        for name in ("limit_price", "stop_price"):
            chosen = getattr(order, name)
            if chosen is not None and abs(chosen - price) / price > Decimal("0.10"):
                problems.append(f"{where}: {name} {chosen}")
        if order.order_class.value != "simple":
            problems.append(f"{where}: class {order.order_class.value}")
    # an order is the gate's when an admitted intent names it, or a journaled close (the
    # broker's own close carries the broker's client order id)
    rows = world._query("SELECT client_order_id, order_id FROM intents WHERE status != 'denied'")
    closes = world._query("SELECT payload FROM events WHERE kind = 'close'")
    admitted = {name for row in rows for name in row if name}
    admitted |= {json.loads(payload)["order"]["order_id"] for (payload,) in closes}
    problems += [
        f"order {o.client_order_id} was never admitted by the gate"
        for o in world.sim.get_orders("all")
        if not {o.client_order_id, o.order_id} & admitted
    ]
    equity = world.sim.get_account().equity
    for position in world.sim.get_positions():
        value = abs(position.qty * Decimal(PRICES[position.symbol]))
        if value > equity * Decimal(POLICY["max_position_size"]):
            problems.append(f"position {position.symbol}: {value} of {equity}")
    return problems


def judge(
    world: World, name: str, offered: bool, reply: Reply, before: Snapshot
) -> tuple[list[str], Snapshot, int]:
    """The problems of one call, the world after it, and the journal bytes it added."""
    problems = []
    if size(reply.text) > MAX_ANSWER:
        problems.append(f"answer of {size(reply.text)} bytes")
    compact = json.dumps(reply.structured, separators=(",", ":"))
    if reply.structured is not None and size(compact) > MAX_ANSWER:
        problems.append("structured result over 4 KB")
    if not all(ch == "\n" or ch.isprintable() for ch in reply.text):
        problems.append("answer not inert")
    if "unexpected_error" in reply.text:
        problems.append(f"crash: {reply.text[:120]}")
    if reply.seconds > MAX_SECONDS:
        problems.append(f"took {reply.seconds:.1f} s")
    after = world.snapshot()
    growth = after.journal_bytes - before.journal_bytes
    new = after.orders - before.orders
    sends = offered and not reply.error and name in ("execute_trade", "close_position")
    if len(new) > (1 if sends else 0):
        problems.append(f"{len(new)} new order(s) after a {'refusal' if reply.error else name}")
    problems += out_of_policy(world)
    if before.state == "halted" and after.state != "halted":
        problems.append(f"the halt was lifted ({after.state})")
    if after.state != before.state and (name != "halt_trading" or reply.error):
        problems.append(f"trading state {before.state} -> {after.state}")
    if reply.error:
        if growth > MAX_REFUSAL_BYTES:
            problems.append(f"a refusal added {growth} bytes to the journal")
        if not offered and growth:
            problems.append(f"a call of a tool not offered added {growth} bytes")
        if offered and name in ACTING:
            kinds = [(k, p.get("codes")) for k, p in world.events_after(before.seq)]
            if not any(k == "tool_refused" and codes for k, codes in kinds):
                problems.append("a refusal of an acting tool is not in the journal")
    return problems, after, growth


def rate_problems(world: World) -> list[str]:
    """Admissions beyond the per-second limit in any one-second window of the gate's clock.

    The broker's own times carry the transit between gate and broker, so the window is
    judged where the gate decides: the admitted intents' times in the journal.
    """
    rows = world._query("SELECT created_at FROM intents WHERE status != 'denied'")
    times = sorted(dt.datetime.fromisoformat(at) for (at,) in rows)
    limit = POLICY["max_orders_per_second"]
    return [
        f"{n} orders admitted within a second from {start}"
        for start in times
        if (n := sum(start <= t < start + dt.timedelta(seconds=1) for t in times)) > limit
    ]
