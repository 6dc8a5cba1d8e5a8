"""P1: a gated Alpaca order against raw alpaca-py, on one loopback Alpaca emulator.

Both send ``POST /v2/orders`` (a resting limit buy) to the same emulator
(``plugins/alpaca/tests/fake_alpaca.py``, HTTP and the trade_updates websocket;
``fake_data.py``, the market-data websocket, on which each symbol trades every
``TRADE_EVERY`` seconds),
which runs in a process of its own as a real server would, in one run,
interleaved in rounds so both see the same machine. Where the machine has two
CPUs or more, the emulator is pinned to one of them and the benchmark to the
others: a broker's servers do not run on its client's cores, and unpinned the
emulator's own work (streaming the gated orders, which the raw client's orders
are not) lands on the cores the gated client is measured on. The gated broker runs with
the default configuration (but for the client-side rate limit, which would
throttle the raw client just the same at Alpaca), its order stream live and its
quote stream following the symbols:
the figure is the ratio of medians, at 0 and at 1,000 open orders, and the HTTP
requests each gated order cost (counted at the gated broker's HTTP session).
The gated order's HTTP is the plugin's (urllib3's pools
under alpaca-py's client), the raw order's is alpaca-py's own (requests): the
benchmark prints the gate's own steps apart from the plugin's request, so what
the gate adds can be read without that difference.

It also reports what a fresh gated broker's ``reconcile()`` costs with 1,000 open
intents resting at the emulator: the HTTP requests (budget: three, Alpaca's open
orders 500 a page) and the seconds.

Run with ``nox -s bench`` (which installs the Alpaca plugin), or
``python benchmarks/alpaca_loopback.py`` from the repository root.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "alpaca"))

RATIO_BUDGET = 1.5
#: A round trip to Alpaca from a host near it (its servers are in the US east).
DISTANCE = 0.02
RATIO_STRETCH = 1.25
ORDERS = 300
#: A fresh broker reconciling 1,000 open intents: Alpaca's open orders, 500 a page.
RECONCILE_REQUESTS_BUDGET = 3
#: How often each symbol trades on the emulator's market-data stream (seconds).
TRADE_EVERY = 0.2
SYMBOLS = [f"S{n}" for n in range(20)]
#: A RAM file system: the journal there shows what the disk's fsync adds (a comparison only).
TMPFS = Path("/dev") / "shm"


def _raw_client(url: str) -> Any:
    from alpaca.trading.client import TradingClient

    return TradingClient("BENCH-KEY-ID", "BENCH-SECRET-KEY", paper=True, url_override=url)


def _raw_order(client: Any, symbol: str) -> None:
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import LimitOrderRequest

    client.submit_order(
        LimitOrderRequest(
            symbol=symbol,
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=180,
            client_order_id=f"raw-{uuid.uuid4().hex}",
        )
    )


def _gated(fake: Any, state: str, quote_stream: bool = True, order_stream: bool = True) -> Any:
    from tradingagents_brokers import get_broker

    config = {
        "trading_broker": "alpaca",
        "state_dir": state,
        "duplicate_window_seconds": 0,
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "max_open_orders": "off",
        "order_stream": order_stream,
        "broker_options": {
            "alpaca": {
                "base_url": fake.url,
                "data_url": fake.url,
                "stream_url": fake.stream_url,
                "quote_stream_url": fake.market_url if quote_stream else "",
                # no rate limit on loopback; the real 200 a minute applies to raw clients too
                # (each request is still drawn from the store's budgets, as in production)
                "max_requests_per_minute": 10**6,
                "max_data_requests_per_minute": 10**6,
            }
        },
    }
    gated = get_broker("alpaca", config=config)
    if order_stream:
        _until(lambda: gated.order_stream_status()["live"], "the order stream never went live")
    return gated


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(what)
        time.sleep(0.01)


def _warm(gated: Any, symbols: list[str]) -> None:
    """An order on each symbol (its asset, its quote), until the quote stream follows them all.

    Once the stream has confirmed a symbol, the next order on it reads its price
    once more: that read anchors the stream (``safety/quotes.py``).
    """
    for symbol in symbols:
        _gated_order(gated, symbol)
    if gated.quote_stream_status()["subscribed"]:
        _until(
            lambda: set(symbols) <= set(gated.quote_stream_status()["symbols"]),
            f"the quote stream never followed the symbols: {gated.quote_stream_status()}",
        )
        for symbol in symbols:
            _gated_order(gated, symbol)


def _gated_order(gated: Any, symbol: str) -> None:
    gated.place_order(
        symbol=symbol, side="buy", qty=1, order_type="limit", limit_price=180, time_in_force="gtc"
    )


def _serve(
    conn: Any, open_orders: int, cpus: set[int] | None, latency: float = 0.0
) -> None:  # pragma: no cover
    from tests.fake_alpaca import FakeAlpaca
    from tests.fake_data import FakeMarketData

    if cpus:
        os.sched_setaffinity(0, cpus)

    market = FakeMarketData()
    done = threading.Event()

    def tape() -> None:  # the market trades: each symbol every TRADE_EVERY seconds
        n = 0
        while not done.wait(TRADE_EVERY / len(SYMBOLS)):
            market.trade(SYMBOLS[n % len(SYMBOLS)], "180.5")
            n += 1

    ticker = threading.Thread(target=tape, daemon=True)
    ticker.start()
    with FakeAlpaca() as fake:
        fake.latency = latency
        fake.unstreamed = ("raw-",)  # raw orders stand for another account's: not streamed
        for n in range(open_orders):
            body = {"symbol": f"Q{n % 50}", "side": "buy", "type": "limit", "time_in_force": "gtc"}
            fake.new_order({**body, "qty": "1", "limit_price": "1", "client_order_id": f"seed-{n}"})
        conn.send((fake.url, fake.stream_url, market.url))
        conn.recv()  # until the benchmark is done
    done.set()
    ticker.join()
    market.close()


class _Server:
    """The emulator in a child process; ``url`` and ``stream_url`` to reach it."""

    def __init__(self, open_orders: int, latency: float = 0.0) -> None:
        self.client_cpus, server_cpus = _split_cpus()
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, open_orders, server_cpus, latency), daemon=True
        )
        self._process.start()
        self.url, self.stream_url, self.market_url = self._conn.recv()
        self._cpus_before = None
        if self.client_cpus:
            self._cpus_before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, self.client_cpus)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._cpus_before:
            os.sched_setaffinity(0, self._cpus_before)


def _split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """The benchmark's CPUs and the emulator's (one), or None where they cannot be split."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def _count_requests(gated: Any) -> list[int]:
    """A counter of the HTTP requests the gated broker's session sends."""
    session = gated.broker._http._client._session
    sent = [0]
    real = session.request

    def counting(method: str, url: str, **kwargs: Any) -> Any:
        sent[0] += 1
        return real(method, url, **kwargs)

    session.request = counting
    return sent


def _time_the_send(gated: Any) -> list[float]:
    """When the gated broker's last order went to the plugin and came back (perf_counter)."""
    marks = [0.0, 0.0]
    host, real = gated.host, gated.host.place_order

    def place_order(*args: Any) -> Any:
        marks[0] = time.perf_counter()
        try:
            return real(*args)
        finally:
            marks[1] = time.perf_counter()

    host.place_order = place_order
    return marks


def measure(
    open_orders: int, journal_dir: str | None = None, latency: float = 0.0
) -> dict[str, float]:
    """Median seconds per order, raw and gated, and the requests per gated order."""
    with (
        _Server(open_orders, latency) as fake,
        tempfile.TemporaryDirectory(dir=journal_dir) as state,
    ):
        raw = _raw_client(fake.url)
        gated = _gated(fake, state)
        sent = _count_requests(gated)
        marks = _time_the_send(gated)
        for symbol in SYMBOLS:  # warm: each symbol's asset (and quote, for the raw side)
            _raw_order(raw, symbol)
        _warm(gated, SYMBOLS)
        raw_times: list[float] = []
        gated_times: list[float] = []
        costs: list[int] = []
        phases: dict[str, list[float]] = {"before": [], "send": [], "after": []}
        for n in range(ORDERS):  # one of each in turn: both see the machine as it is
            start = time.perf_counter()
            _raw_order(raw, SYMBOLS[n % len(SYMBOLS)])
            raw_times.append(time.perf_counter() - start)
            before = sent[0]
            start = time.perf_counter()
            _gated_order(gated, SYMBOLS[n % len(SYMBOLS)])
            end = time.perf_counter()
            gated_times.append(end - start)
            costs.append(sent[0] - before)
            phases["before"].append(marks[0] - start)
            phases["send"].append(marks[1] - marks[0])
            phases["after"].append(end - marks[1])
        status = gated.order_stream_status()
        gated.close()
    return {
        "raw_ms": statistics.median(raw_times) * 1000,
        "gated_ms": statistics.median(gated_times) * 1000,
        "requests_per_order": sum(costs) / len(costs),
        "one_request": sum(1 for c in costs if c == 1) / len(costs),
        "orders": len(costs),
        "live": bool(status["live"]),
        **{f"{phase}_ms": statistics.median(times) * 1000 for phase, times in phases.items()},
    }


def sparse(quote_stream: bool, orders: int = 3) -> float:
    """HTTP requests per order when each symbol is traded less often than its quote is kept."""
    from tradingagents_brokers.config import DEFAULT_CONFIG

    gap = float(DEFAULT_CONFIG["quote_cache_seconds"]) + 0.1
    with _Server(0) as fake, tempfile.TemporaryDirectory() as state:
        gated = _gated(fake, state, quote_stream)
        sent = _count_requests(gated)
        _warm(gated, SYMBOLS[:1])
        before = sent[0]
        for _ in range(orders):
            time.sleep(gap)
            _gated_order(gated, SYMBOLS[0])
        gated.close()
    return (sent[0] - before) / orders


def reconcile_cost(intents: int = 1000) -> tuple[int, float, int]:
    """A fresh gated broker reconciles ``intents`` open intents, each resting at the emulator.

    The emulator's seeded orders (``seed-<n>``) get an open intent each in a new
    journal; a second gated broker (the order stream off, so nothing else runs)
    then reconciles. Returns the HTTP requests it sent, the seconds it took and
    the intents it checked.
    """
    with _Server(intents) as fake, tempfile.TemporaryDirectory() as state:
        writer = _gated(fake, state, quote_stream=False, order_stream=False)
        journal = writer.journal
        with journal.transaction():
            for n in range(intents):
                coid = f"seed-{n}"
                values = {"broker": "alpaca", "symbol": f"Q{n % 50}", "side": "buy", "qty": 1}
                journal.new_intent(
                    {
                        **values,
                        "notional": None,
                        "value": 1,
                        "dedupe_key": coid,
                        "status": "accepted",
                        "source": "python",
                        "client_order_id": coid,
                    },
                    {"request": {}},
                )
        writer.close()
        fresh = _gated(fake, state, quote_stream=False, order_stream=False)
        sent = _count_requests(fresh)
        start = time.perf_counter()
        report = fresh.reconcile()
        elapsed = time.perf_counter() - start
        fresh.close()
    if not report.ok or report.deferred:
        raise SystemExit(f"the reconciliation did not answer every intent: {report.to_dict()}")
    return sent[0], elapsed, report.checked


def _report(label: str, figures: dict[str, float]) -> float:
    ratio = figures["gated_ms"] / figures["raw_ms"]
    print(
        f"  {label}: raw {figures['raw_ms']:.2f} ms, gated {figures['gated_ms']:.2f} ms median "
        f"-> {ratio:.2f}x; {figures['requests_per_order']:.3f} HTTP requests per gated order, "
        f"{figures['one_request']:.1%} of {figures['orders']:.0f} cost exactly one; "
        f"stream live: {figures['live']}"
    )
    print(
        f"    gated, median of each step: checks and the durable intent "
        f"{figures['before_ms']:.2f} ms, the plugin's request {figures['send_ms']:.2f} ms, "
        f"the answer journaled and reported {figures['after_ms']:.2f} ms"
    )
    # The ratio compares whole orders; this separates what the gate adds from the
    # HTTP each side uses (the plugin's is leaner than alpaca-py's requests).
    print(
        f"    the gate's own steps {figures['before_ms'] + figures['after_ms']:.2f} ms; "
        f"the plugin's request {figures['send_ms']:.2f} ms where alpaca-py's whole order "
        f"takes {figures['raw_ms']:.2f} ms"
    )
    return ratio


def main() -> int:
    os.environ.setdefault("ALPACA_PAPER_API_KEY", "BENCH-KEY-ID")
    os.environ.setdefault("ALPACA_PAPER_SECRET_KEY", "BENCH-SECRET-KEY")
    over = []
    print(
        "P1: gated Alpaca order vs raw alpaca-py, one loopback emulator, warm cache "
        f"(budget {RATIO_BUDGET}x, stretch {RATIO_STRETCH}x)"
    )
    client, server = _split_cpus()
    if client and server:
        print(f"  CPUs: benchmark {sorted(client)}, emulator {sorted(server)}")
    else:
        print("  CPUs: shared (fewer than two, or no affinity on this system)")
    for open_orders in (0, 1000):
        figures = measure(open_orders)
        ratio = _report(f"{open_orders:>5} open orders, journal on disk", figures)
        if ratio > RATIO_BUDGET:
            over.append(f"P1 ratio at {open_orders} open orders")
        if not figures["live"]:
            over.append("the stream was not live at the end")
    if TMPFS.is_dir():  # what the journal's fsync costs on this machine's disk
        _report("    0 open orders, journal on tmpfs (no fsync cost)", measure(0, str(TMPFS)))
    # Alpaca is some milliseconds away, not on loopback: the same with that round trip
    _report(
        f"    0 open orders, {DISTANCE * 1000:.0f} ms from Alpaca",
        measure(0, latency=DISTANCE),
    )
    print(
        "  one order every quote_cache_seconds + 0.1 s on a symbol: "
        f"{sparse(quote_stream=True):.2f} HTTP requests per order with the quote stream, "
        f"{sparse(quote_stream=False):.2f} without it (the quote is read again)"
    )
    requests, seconds, checked = reconcile_cost(1000)
    print(
        f"  reconcile {checked:,} open intents: {requests} requests, {seconds:.2f} seconds "
        f"(a fresh gated broker; budget {RECONCILE_REQUESTS_BUDGET} requests)"
    )
    if requests > RECONCILE_REQUESTS_BUDGET:
        over.append(f"reconciling 1,000 intents took {requests} requests")
    print("over budget: " + ", ".join(over) if over else "P1 within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
