"""The sim broker against its own book and its own history. Run with ``nox -s bench``.

* per order, with 0, 250, 1,000 and 2,000 resting orders (buy limits below the
  price, placed through the gate, or on the sim alone): the whole gate on the sim (durable journal,
  the state cache live, the default), and the sim alone (``place_order``, then
  ``process()`` as the order stream's poll does); the best of three medians of
  60 orders, and the ratio of the figure at 2,000 resting orders to the one at none;
* ``get_account`` at 1,000 and 40,000 fills: the sim alone, and through the gate
  with fresh reads (``order_stream`` off); the best of three medians of 30 reads,
  and the ratio 40k / 1k.

Both must be flat: exits 1 when a ratio is over its budget. Run it from the
repository root (``python benchmarks/sim_book.py``); ``--quick`` stops at 1,000
resting orders and 10,000 fills; ``--against TREE`` measures another source tree
too and prints its figures beside these, e.g. the previous release from a worktree
(``git worktree add /tmp/previous <commit>``; the book was quadratic there, so
this takes a minute or two more).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

#: per order at 2,000 resting orders over per order at none, at most
BOOK_RATIO_BUDGET = 1.5
#: get_account at 40k fills over get_account at 1k, at most
HISTORY_RATIO_BUDGET = 1.5

BOOK_SIZES = (0, 250, 1000, 2000)
FILLS = (1000, 40_000)


def _gate_config(state: str, *, stream: bool = True) -> dict[str, Any]:
    from tradingagents_brokers.config import effective_config

    config: dict[str, Any] = {
        "state_dir": state,
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "duplicate_window_seconds": 0,
        "max_position_size": 1,
        "max_order_value": 10**9,
        "order_stream": stream,
        "broker_options": {"sim": {"prices": {"AAPL": 100}, "initial_cash": 10**9}},
    }
    if "max_open_orders" in effective_config({}):  # a limit of the newer releases
        config["max_open_orders"] = None
    return config


def _median_us(call: Callable[[], object], times: int, rounds: int = 3) -> float:
    """Microseconds per call: the median of each round of ``times``, the best round.

    The best of the rounds' medians, so that a spell of someone else's disk writes
    on a shared machine does not pass for a cost of the book.
    """
    medians = []
    for _ in range(rounds):
        samples = []
        for _ in range(times):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        medians.append(statistics.median(samples))
    return min(medians) * 1e6


def _rest(place: Callable[..., object], count: int, first: int) -> None:
    """Place ``count`` buy limits that rest (the price is 100), numbered from ``first``."""
    for n in range(first, first + count):
        limit = Decimal(91) + Decimal(n % 800) / 100  # 91.00 .. 98.99
        place(n, limit)


def per_order(sizes: tuple[int, ...], orders: int = 60) -> dict[int, dict[str, float]]:
    """Median microseconds per market order, by the number of resting orders."""
    from tradingagents_brokers import OrderRequest, get_broker
    from tradingagents_brokers.sim.broker import SimBroker
    from tradingagents_brokers.sim.prices import StaticPrices
    from tradingagents_brokers.sim.store import SimStore

    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as state:
        gated = get_broker("sim", config=_gate_config(state))
        sim = SimBroker(
            SimStore(Path(state) / "alone.db"),
            StaticPrices({"AAPL": 100}),
            initial_cash=Decimal(10**9),
        )
        counter = iter(range(10**9))

        def through_gate() -> None:
            gated.place_order(symbol="AAPL", side="buy", qty=1)

        def alone() -> None:
            n = next(counter)
            sim.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"m{n}"))
            sim.process()

        def rest_gated(n: int, limit: Decimal) -> None:
            gated.place_order(
                symbol="AAPL",
                side="buy",
                qty=1,
                order_type="limit",
                limit_price=limit,
                time_in_force="gtc",
            )

        def rest_alone(n: int, limit: Decimal) -> None:
            sim.place_order(
                OrderRequest(
                    symbol="AAPL",
                    side="buy",
                    qty=1,
                    order_type="limit",
                    limit_price=limit,
                    time_in_force="gtc",
                    client_order_id=f"r{n}",
                )
            )

        for _ in range(30):  # warm: the first snapshot of the state cache, the caches
            through_gate()
            alone()
        resting = 0
        for size in sizes:
            _rest(rest_gated, size - resting, resting)
            with sim.store.transaction():
                _rest(rest_alone, size - resting, resting)
            resting = size
            assert len(sim.get_orders("open")) == size
            figures[size] = {
                "gate_us": _median_us(through_gate, orders),
                "sim_us": _median_us(alone, orders),
            }
        gated.close()
        sim.close()
    return figures


def get_account_times(fills: tuple[int, ...], reads: int = 30) -> dict[int, dict[str, float]]:
    """Median microseconds of ``get_account``, by the number of fills on the account."""
    from tradingagents_brokers import OrderRequest, get_broker

    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as state:
        gated = get_broker("sim", config=_gate_config(state, stream=False))
        sim: Any = gated.broker  # the SimBroker object: its store, for one transaction
        done = 0
        for count in fills:
            with sim.store.transaction():  # one commit for all of them
                for n in range(done, count):
                    sim.place_order(
                        OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=f"f{n}")
                    )
            done = count
            figures[count] = {
                "sim_us": _median_us(sim.get_account, reads),
                "gate_us": _median_us(gated.get_account, reads),
            }
        gated.close()
    return figures


def collect(quick: bool) -> dict[str, Any]:
    """Every figure, keyed for JSON: per order by resting orders, get_account by fills."""
    sizes = tuple(s for s in BOOK_SIZES if not quick or s <= 1000)
    fills = (1000, 10_000) if quick else FILLS
    return {"book": per_order(sizes), "history": get_account_times(fills)}


def previous_figures(tree: str, quick: bool) -> dict[str, Any]:
    """The same figures measured on another source tree (``tree/src``), in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve() / "src")}
    argv = [sys.executable, __file__, "--json", *(["--quick"] if quick else [])]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _ms(figure: dict[str, float], key: str, before: dict[str, float] | None) -> str:
    text = f"{figure[key] / 1000:.2f} ms"
    return text if before is None else f"{text} (previously {before[key] / 1000:.2f} ms)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 1,000 orders, 10,000 fills")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--against", metavar="TREE", help="also measure this source tree (a worktree of a release)"
    )
    args = parser.parse_args(argv)
    figures = collect(args.quick)
    if args.json:
        print(json.dumps(figures))
        return 0
    previous: dict[str, Any] = {"book": {}, "history": {}}
    if args.against:
        previous = previous_figures(args.against, args.quick)
    over = []
    book = figures["book"]
    print("sim per order, by resting orders on its book (best of 3 medians of 60 orders):")
    for size, figure in book.items():
        before = previous["book"].get(str(size))
        print(
            f"  {size:>5} resting: through the gate {_ms(figure, 'gate_us', before)}, "
            f"sim alone (place_order + process) {_ms(figure, 'sim_us', before)}"
        )
    last = max(book)
    gate_ratio = book[last]["gate_us"] / book[0]["gate_us"]
    sim_ratio = book[last]["sim_us"] / book[0]["sim_us"]
    print(
        f"  ratio {last:,} / 0 resting: through the gate {gate_ratio:.2f}, sim alone "
        f"{sim_ratio:.2f} (budget {BOOK_RATIO_BUDGET})"
    )
    if max(gate_ratio, sim_ratio) > BOOK_RATIO_BUDGET:
        over.append("per order by resting orders")
    history = figures["history"]
    print("get_account, by fills on the account (best of 3 medians of 30 reads):")
    for count, figure in history.items():
        before = previous["history"].get(str(count))
        print(
            f"  {count:>6,} fills: sim alone {_ms(figure, 'sim_us', before)}, through the gate "
            f"(order_stream off) {_ms(figure, 'gate_us', before)}"
        )
    low, high = min(history), max(history)
    sim_ratio = history[high]["sim_us"] / history[low]["sim_us"]
    gate_ratio = history[high]["gate_us"] / history[low]["gate_us"]
    print(
        f"  ratio {high:,} / {low:,} fills: sim alone {sim_ratio:.2f}, through the gate "
        f"{gate_ratio:.2f} (budget {HISTORY_RATIO_BUDGET})"
    )
    if max(sim_ratio, gate_ratio) > HISTORY_RATIO_BUDGET:
        over.append("get_account by fills")
    print("over budget: " + ", ".join(over) if over else "all figures within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
