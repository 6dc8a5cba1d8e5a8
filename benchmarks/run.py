"""Speed figures of the core, with their budgets. Run with ``nox -s bench``.

* cold ``import tradingagents_brokers`` plus plugin discovery, in a fresh
  interpreter each time (median of several runs); no broker SDK may be imported;
* the gated broker's per-call overhead on a read, over calling the broker object
  directly: once on the sim broker (SQLite underneath) and once on a broker that
  returns a constant, which isolates the hook machinery;
* the whole gate per order on the sim broker with the durable journal (median
  over many orders), against the sim broker called directly: with the state
  cache live (the sim's order stream, the default) and with fresh reads
  (``order_stream`` off); journal commits and fsyncs (durable commits) per order,
  and broker calls per order (one, ``place_order``, while the cache is live);
* the risk chain alone (the seven built-in checks plus three more), per order,
  with the broker and journal data already fetched.

Exits 1 when a figure is over its budget.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

IMPORT_BUDGET_MS = 150.0
READ_OVERHEAD_BUDGET_US = 50.0
COMMITS_PER_ORDER_BUDGET = 2
FSYNCS_PER_ORDER_BUDGET = 1
#: One call, place_order, per order; the quote is fetched again every quote_cache_seconds.
BROKER_CALLS_PER_ORDER_BUDGET = 1.05
RISK_CHAIN_BUDGET_US = 30.0
SDK_MODULES = ("alpaca", "pandas", "numpy", "requests", "langchain_core", "pydantic", "psycopg")

COLD = f"""
import json, sys, time
start = time.perf_counter()
import tradingagents_brokers
from tradingagents_brokers import PluginHost, make_plugin_manager
types = PluginHost(make_plugin_manager()).broker_types
elapsed = time.perf_counter() - start
sdks = sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in {SDK_MODULES!r}}})
print(json.dumps({{"ms": elapsed * 1000, "brokers": sorted(types), "sdks": sdks}}))
"""


def cold_import(runs: int = 9) -> dict[str, object]:
    samples = []
    last: dict[str, object] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD], check=True, capture_output=True, text=True
        )
        last = json.loads(out.stdout)
        samples.append(float(last["ms"]))  # type: ignore[arg-type]
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), **last}


def overhead(direct, gated, number: int) -> float:
    """Per-call microseconds of ``gated()`` beyond ``direct()``, best of 5 repeats each."""
    direct_s = min(timeit.repeat(direct, number=number, repeat=5)) / number
    gated_s = min(timeit.repeat(gated, number=number, repeat=5)) / number
    return (gated_s - direct_s) * 1e6


def gate_overheads() -> dict[str, float]:
    from tradingagents_brokers import GatedBroker, PluginHost, get_broker, make_plugin_manager
    from tradingagents_brokers.config import effective_config

    with tempfile.TemporaryDirectory() as state:
        sim = get_broker("sim", config={"state_dir": state})
        sim.place_order(symbol="AAPL", side="buy", qty=1)
        on_sim = overhead(sim.broker.get_account, sim.get_account, 2000)
        sim.close()

    from tradingagents_brokers import hookimpl
    from tradingagents_brokers.broker import BrokerType
    from tradingagents_brokers.models import Account

    account = Account(
        account_number="B",
        status="ACTIVE",
        buying_power=1,
        cash=1,
        portfolio_value=1,
        equity=1,
        last_equity=1,
    )

    class ConstantBroker:
        capabilities = None

        def __getattr__(self, name):  # every other Broker method, unused here
            return lambda *a, **k: None

        def get_account(self) -> Account:
            return account

    class Plugin:
        @hookimpl
        def register_brokers(self):
            return [BrokerType(name="constant", factory=lambda settings: ConstantBroker())]

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="constant")
    host = PluginHost(pm)
    config = effective_config({"trading_broker": "constant"})
    broker = ConstantBroker()
    gated = GatedBroker(host, "constant", broker, config)
    on_constant = overhead(broker.get_account, gated.get_account, 50_000)
    return {"sim_us": on_sim, "constant_us": on_constant}


def gate_per_order(orders: int = 300, *, stream: bool = True) -> dict[str, float]:
    """Median microseconds per order: through the gate (durable journal) and the sim alone."""
    from tradingagents_brokers import OrderRequest, get_broker, hookimpl

    config = {
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "max_open_orders": "off",
        "duplicate_window_seconds": 0,
        "max_position_size": 1,
        "max_order_value": 10**9,
        "order_stream": stream,
        "broker_options": {"sim": {"prices": {"AAPL": 100}, "initial_cash": 10**9}},
    }
    calls = [0]

    class CountCalls:
        """Counts every operation hook call that reaches the broker object."""

        def __getattr__(self, name):
            raise AttributeError(name)

    for hook in ("place_order", "get_account", "get_positions", "get_orders", "get_quote"):

        def count(self, _hook=hook):
            calls[0] += 1
            return (yield)

        setattr(CountCalls, hook, hookimpl(wrapper=True)(count))

    with tempfile.TemporaryDirectory() as state:
        gated = get_broker("sim", config={"state_dir": state, **config})
        gated.host.pm.register(CountCalls(), name="count-calls")
        gated.place_order(symbol="AAPL", side="buy", qty=1)  # warm: the first snapshot
        commits, fsyncs, calls[0] = gated.journal.commits, gated.journal.durable_commits, 0
        gate_times = []
        for _ in range(orders):
            start = time.perf_counter()
            gated.place_order(symbol="AAPL", side="buy", qty=1)
            gate_times.append(time.perf_counter() - start)
        per_order = (gated.journal.commits - commits) / orders
        durable = (gated.journal.durable_commits - fsyncs) / orders
        broker_calls = calls[0] / orders
        direct_times = []
        for n in range(orders):
            request = OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"d-{n}")
            start = time.perf_counter()
            gated.broker.place_order(request)
            direct_times.append(time.perf_counter() - start)
        gated.close()
    return {
        "gate_us": statistics.median(gate_times) * 1e6,
        "direct_us": statistics.median(direct_times) * 1e6,
        "commits": per_order,
        "fsyncs": durable,
        "broker_calls": broker_calls,
    }


def risk_chain(number: int = 20_000) -> float:
    """Microseconds for the host to run ten checks on one order (data cached)."""
    import datetime as dt

    from tradingagents_brokers import (
        Account,
        Decision,
        OrderContext,
        OrderRequest,
        PluginHost,
        Quote,
        TradingMode,
        hookimpl,
        make_plugin_manager,
    )
    from tradingagents_brokers.config import effective_config
    from tradingagents_brokers.decisions import CheckContext

    class Extra:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def check_order(self, request):
            return Decision.allow(self.name)

    pm = make_plugin_manager(load_entrypoints=False)
    for n in range(3):
        pm.register(Extra(f"extra-{n}"), name=f"extra-{n}")
    host = PluginHost(pm)
    now = dt.datetime.now(dt.UTC)
    account = Account(
        account_number="B",
        status="ACTIVE",
        buying_power=10**6,
        cash=10**6,
        portfolio_value=10**6,
        equity=10**6,
        last_equity=10**6,
    )
    quote = Quote(symbol="AAPL", price=100, as_of=now)
    request = OrderRequest(symbol="AAPL", side="buy", qty=10, order_type="limit", limit_price=100)
    context = CheckContext(
        request=request,
        order=OrderContext(),
        broker_name="b",
        mode=TradingMode.PAPER,
        config=effective_config({}),
        fetch_account=lambda: account,
        fetch_positions=list,
        fetch_open_orders=list,
        fetch_quote=lambda symbol: quote,
        now=lambda: now,
    )
    decisions = host.check_order(request, context)
    assert len(decisions) == 10, decisions
    assert all(d.allowed for d in decisions), decisions
    seconds = min(
        timeit.repeat(lambda: host.check_order(request, context), number=number, repeat=5)
    )
    return seconds / number * 1e6


def main() -> int:
    cold = cold_import()
    gate = gate_overheads()
    over = []
    print("cold import + plugin discovery (fresh interpreter, 9 runs):")
    print(
        f"  median {cold['median_ms']:.1f} ms, best {cold['min_ms']:.1f} ms "
        f"(budget {IMPORT_BUDGET_MS:.0f} ms); brokers {cold['brokers']}; "
        f"SDKs imported: {cold['sdks'] or 'none'}"
    )
    if cold["median_ms"] > IMPORT_BUDGET_MS:  # type: ignore[operator]
        over.append("cold import")
    if cold["sdks"]:
        over.append("an SDK was imported at discovery")
    print("gated read overhead per call (get_account, best of 5 repeats):")
    budget = f"(budget {READ_OVERHEAD_BUDGET_US:.0f} us)"
    print(f"  over the sim broker object:   {gate['sim_us']:.1f} us {budget}")
    print(f"  over a constant broker:       {gate['constant_us']:.1f} us {budget}")
    if max(gate.values()) > READ_OVERHEAD_BUDGET_US:
        over.append("read overhead")
    for stream in (True, False):
        order = gate_per_order(stream=stream)
        how = "state cache live" if stream else "fresh reads (order_stream off)"
        print(f"whole gate per order on sim, durable journal, {how} (median of 300 orders):")
        print(
            f"  through the gate {order['gate_us']:.0f} us, sim alone {order['direct_us']:.0f} us, "
            f"gate overhead {order['gate_us'] - order['direct_us']:.0f} us; "
            f"{order['broker_calls']:.2f} broker calls, {order['commits']:.2f} journal commits "
            f"of which {order['fsyncs']:.2f} fsyncs, per order (budgets: "
            f"{COMMITS_PER_ORDER_BUDGET} commits, {FSYNCS_PER_ORDER_BUDGET} fsync"
            + (f", {BROKER_CALLS_PER_ORDER_BUDGET} broker calls)" if stream else ")")
        )
        if order["commits"] > COMMITS_PER_ORDER_BUDGET:
            over.append("commits per order")
        if order["fsyncs"] > FSYNCS_PER_ORDER_BUDGET:
            over.append("fsyncs per order")
        if stream and order["broker_calls"] > BROKER_CALLS_PER_ORDER_BUDGET:
            over.append("broker calls per order with the cache live")
    chain = risk_chain()
    chain_budget = f"(budget {RISK_CHAIN_BUDGET_US:.0f} us)"
    print(f"risk chain alone, ten checks: {chain:.1f} us per order {chain_budget}")
    if chain > RISK_CHAIN_BUDGET_US:
        over.append("risk chain")
    print("over budget: " + ", ".join(over) if over else "all figures within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
