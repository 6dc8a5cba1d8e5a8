"""The journal over months: bytes per order, and ``journal verify`` at 10k and 100k orders.

Bytes per order: 2,000 orders placed through the gate on the sim (each an intent
event and the broker's answer, as the gate writes them), the journal file's size
after ``VACUUM`` divided by the orders (budget 2,300 bytes; the few pages any
journal has, whatever its length, come to some 40 bytes an order here).

Verify: journals of 10,000 and 100,000 orders, written with the payloads the gate
wrote for those orders (an intent and an answer each), are audited end to end in
a fresh interpreter - the hash chain, every intents row rebuilt from it, the
identity - and its peak memory and time are printed. Memory must stay flat (the
100k figure at most 1.5 times the 10k one) and time linear.

Archive: the larger journal's orders are archived (``journal archive``) as JSON
Lines in a fresh interpreter, then the live journal and the archive are audited
together; time and peak memory of each (memory flat: at most 1.5 times the 10k
verify's).

Run with ``nox -s bench`` or ``python benchmarks/journal_scale.py [--quick]``.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BYTES_PER_ORDER_BUDGET = 2300
MEMORY_RATIO_BUDGET = 1.5

AUDIT = """
import resource, sys, time
from tradingagents_brokers.safety.audit import audit
from tradingagents_brokers.safety.journal import Journal
started = time.perf_counter()
report = audit(Journal(sys.argv[1]))
took = time.perf_counter() - started
assert report.ok, report.problems
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(report.events, took, peak)
"""


def _gated(state: str) -> Any:
    from tradingagents_brokers import get_broker

    return get_broker(
        config={
            "trading_broker": "sim",
            "state_dir": state,
            "require_confirmation": False,
            "max_orders_per_second": 10**6,
            "max_orders_per_minute": 10**6,
            "duplicate_window_seconds": 0,
            "max_position_size": 1,
            "max_order_value": 10**9,
            "max_open_orders": "off",
            "broker_options": {"sim": {"prices": {"AAPL": 100}, "initial_cash": 10**9}},
        }
    )


def bytes_per_order(orders: int = 2000) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """The file's bytes per gated order, and the last order's two payloads (templates)."""
    with tempfile.TemporaryDirectory() as state:
        gated = _gated(state)
        for _ in range(orders):
            gated.place_order(symbol="AAPL", side="buy", qty=1)
        journal = gated.journal
        intent_id = journal.last_intent_id()
        events = journal.events(intent_id=intent_id)
        gated.close()
        path = Path(state) / "journal.db"
        db = sqlite3.connect(path)
        db.execute("VACUUM")
        db.close()
        size = path.stat().st_size
    return size / orders, events[0]["payload"], events[-1]["payload"]


def build(path: Path, orders: int, intent: dict[str, Any], answer: dict[str, Any]) -> None:
    """A journal of ``orders`` orders with the gate's payloads, written as the gate writes."""
    from tradingagents_brokers.safety.journal import Journal

    journal = Journal(path)
    request = intent["request"]
    projection = intent["projection"]
    for start in range(0, orders, 1000):
        with journal.transaction():
            for n in range(start, min(orders, start + 1000)):
                payload = copy.deepcopy(intent)
                payload.pop("client_order_id", None)
                payload.pop("projection", None)
                record = journal.new_intent(
                    {
                        **{k: projection.get(k) for k in _VALUES},
                        "client_order_id": f"bench-{n}",
                        "status": "submitting",
                    },
                    {**payload, "request": request},
                )
                event = {k: v for k, v in answer.items() if k not in _ANSWERED}
                journal.set_status(
                    record.intent_id,
                    "filled",
                    order_id=f"order-{n}",
                    event=event,
                    kind="broker_answer",
                )
    journal.close()


#: The intents columns an intent event's projection sets (the rest the journal sets).
_VALUES = ("broker", "symbol", "side", "qty", "notional", "value", "dedupe_key", "source", "owner")
_ANSWERED = ("from", "to", "order_id", "projection")


ARCHIVE = """
import datetime as dt, resource, sys, time
from pathlib import Path
from tradingagents_brokers.safety.archive import archive
from tradingagents_brokers.safety.audit import audit
from tradingagents_brokers.safety.journal import Journal
journal = Journal(sys.argv[1])
later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
started = time.perf_counter()
if sys.argv[3] == "archive":
    report = archive(journal, later - dt.timedelta(days=1), Path(sys.argv[2]), now=later)
    assert report.events, report
    count = report.events
else:
    result = audit(journal, archives=Path(sys.argv[2]))
    assert result.ok, result.problems
    count = result.events
took = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(count, took, peak)
"""


def _fresh(script: str, *args: str) -> tuple[int, float, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    count, took, peak_kb = done.stdout.split()
    return int(count), float(took), int(peak_kb) / 1024


def verify(path: Path) -> tuple[int, float, float]:
    """(events, seconds, peak MB) of an audit in a fresh interpreter."""
    return _fresh(AUDIT, str(path))


def main() -> int:
    quick = "--quick" in sys.argv
    over = []
    size, intent, answer = bytes_per_order()
    print("the journal over months")
    print(
        f"  bytes per order (2,000 gated sim orders, file after VACUUM): {size:,.0f} "
        f"(budget {BYTES_PER_ORDER_BUDGET:,}; 4,738 before the records were made compact)"
    )
    if size > BYTES_PER_ORDER_BUDGET:
        over.append("bytes per order")
    figures = []
    with tempfile.TemporaryDirectory() as work:
        for orders in (1_000, 10_000) if quick else (10_000, 100_000):
            path = Path(work) / f"journal-{orders}.db"
            started = time.perf_counter()
            build(path, orders, intent, answer)
            built = time.perf_counter() - started
            events, took, peak = verify(path)
            figures.append((orders, took, peak))
            print(
                f"  journal verify at {orders:>7,} orders ({events:,} events, "
                f"{path.stat().st_size / 2**20:,.0f} MB, built in {built:.0f} s): "
                f"{took:.1f} s, peak memory {peak:.0f} MB"
            )
        folder = Path(work) / "archive"
        moved, took, peak = _fresh(ARCHIVE, str(path), str(folder), "archive")
        files = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(
            f"  journal archive of those {orders:,} orders ({moved:,} events to {files:,.0f} MB "
            f"of JSON Lines): {took:.1f} s, peak memory {peak:.0f} MB"
        )
        _, took, peak_both = _fresh(ARCHIVE, str(path), str(folder), "verify")
        print(
            f"  journal verify, live journal and archive together: {took:.1f} s, "
            f"peak memory {peak_both:.0f} MB"
        )
        if max(peak, peak_both) > MEMORY_RATIO_BUDGET * figures[0][2]:
            over.append("archive memory")
    (small, t_small, m_small), (large, t_large, m_large) = figures
    ratio = m_large / m_small
    print(
        f"  {large // small}x the orders: {t_large / t_small:.1f}x the time, "
        f"{ratio:.2f}x the memory (budget {MEMORY_RATIO_BUDGET}x)"
    )
    if ratio > MEMORY_RATIO_BUDGET:
        over.append("verify memory")
    print("over budget: " + ", ".join(over) if over else "all figures within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
