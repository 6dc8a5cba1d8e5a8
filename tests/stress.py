"""Many processes on one account, for a bounded time: the limits hold across all of them.

``run()`` starts worker processes that trade one sim account as fast as the
gate lets them (market orders of random size and side on two symbols, one in
five a repeat of the last), each with its own gated broker on the shared store:
the SQLite journal, or a PostgreSQL schema with every worker playing a host of
its own (``TRADINGAGENTS_BROKERS_HOST``). The sim takes ``LATENCY`` seconds to
take each order, so orders are in flight while others decide. Meanwhile the
controller SIGKILLs workers at random and starts replacements, starts one-shot
CLI ``order`` processes (each reconciles before its order), halts trading from
the CLI and later resumes it.

Afterwards a fresh gated broker reconciles what the killed left, and the run is
judged on the sim's book and the journal alone (a kill picks, when it can, a
worker with an order in flight, so verdicts on orphaned orders are put to the test):

* the position never went over ``max_position_size`` of the portfolio (per symbol);
* no order over ``max_order_value``; no more admitted orders in any second or
  minute than the rate limits allow; no repeat within the duplicate window of an
  order that may be at the broker (one it refused, or never placed, may be retried);
* no intent judged ``not_placed`` that the sim holds (a wrong verdict);
* no intent with two orders at the sim, no sim order without its intent;
* no order admitted between the halt's commit and the resume's;
* every intent resolved, and the journal's audit (the hash chain and every
  table rebuilt from it) clean.

Run ``python -m tests.stress [--postgresql URL] [--seconds N]`` from the
repository root to print the figures; ``tests/test_stress.py`` runs it in CI
and ``nox -s bench`` prints it.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRICES = {"AAPL": Decimal(100), "MSFT": Decimal(200)}
LATENCY = 0.3
LIMITS: dict[str, Any] = {
    "max_position_size": "0.10",  # of 100,000: 100 AAPL, 50 MSFT
    "max_order_value": 2500,
    "max_orders_per_second": 4,
    "max_orders_per_minute": 150,
    "duplicate_window_seconds": 3,
}


def _config(workdir: Path, store_url: str | None, owner_timeout: float) -> dict[str, Any]:
    config: dict[str, Any] = {
        "trading_broker": "sim",
        "state_dir": str(workdir / "state"),
        "submit_timeout_seconds": 5,
        "owner_timeout_seconds": owner_timeout,
        "broker_options": {
            "sim": {
                "prices": {k: str(v) for k, v in PRICES.items()},
                "order_latency_seconds": LATENCY,
            }
        },
        **LIMITS,
    }
    if store_url:
        config["store_url"] = store_url
    return config


def _toml(config: dict[str, Any]) -> str:
    lines = []
    for key, value in config.items():
        if key != "broker_options":
            lines.append(f"{key} = {json.dumps(value)}")
    sim = config["broker_options"]["sim"]
    lines.append("[broker_options.sim]")
    lines.append(f"order_latency_seconds = {sim['order_latency_seconds']}")
    lines.append("[broker_options.sim.prices]")
    lines.extend(f'{k} = "{v}"' for k, v in sim["prices"].items())
    return "\n".join(lines) + "\n"


# -- the worker ----------------------------------------------------------------------


def worker(config_path: str, seed: int, stop_path: str) -> None:  # pragma: no cover - child
    from tradingagents_brokers import BrokerError, get_broker

    config = json.loads(Path(config_path).read_text())
    rng = random.Random(seed)
    config["order_stream"] = rng.random() < 0.5  # both ways of reading state, in the mix
    stop = Path(stop_path)
    with get_broker("sim", config=config) as gated:
        last: dict[str, Any] | None = None
        while not stop.exists():
            if last is not None and rng.random() < 0.2:
                order = last  # the same order again
            else:
                order = {
                    "symbol": rng.choice(sorted(PRICES)),
                    "side": rng.choices(["buy", "sell"], [0.7, 0.3])[0],
                    "qty": rng.randint(1, 30),
                }
            with contextlib.suppress(BrokerError):  # refusals are judged from the journal
                gated.place_order(**order)
            last = order
            time.sleep(rng.uniform(0, 0.15))


# -- the controller ------------------------------------------------------------------


class _Run:
    def __init__(self, workdir: Path, config: dict[str, Any], several_hosts: bool, seed: int):
        self.workdir = workdir
        self.config = config
        self.several_hosts = several_hosts
        self.rng = random.Random(seed)
        self.config_json = workdir / "config.json"
        self.config_json.write_text(json.dumps(config))
        self.config_toml = workdir / "config.toml"
        self.config_toml.write_text(_toml(config))
        self.stop = workdir / "stop"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.others: list[subprocess.Popen[bytes]] = []
        self.started = self.killed = self.killed_sending = self.cli_orders = 0
        self.journal: Any = None
        self.hosts = 0
        self.halt_seconds: float | None = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADINGAGENTS_BROKER")}
        if self.several_hosts:
            self.hosts += 1
            env["TRADINGAGENTS_BROKERS_HOST"] = f"stress-host-{self.hosts}"
        return env

    def _log(self, name: str) -> Any:
        return (self.workdir / f"{name}.log").open("ab")

    def start_worker(self) -> None:
        self.started += 1
        seed = self.rng.randrange(2**31)
        command = [sys.executable, "-m", "tests.stress", "worker", str(self.config_json)]
        command += [str(seed), str(self.stop)]
        with self._log(f"worker-{self.started}") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                command, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(process)

    def cli(self, *args: str, wait: bool = False) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", "from tradingagents_brokers.cli.main import main;"]
        command[-1] += "raise SystemExit(main())"
        command += [*args, "--config", str(self.config_toml)]
        with self._log("cli") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT
            )
        if wait:
            process.wait(60)
        else:
            self.others.append(process)
        return process

    def in_flight_pids(self) -> set[int]:
        """The workers with an order being sent right now (from the shared store)."""
        from tradingagents_brokers.store import open_journal

        if self.journal is None:
            self.journal = open_journal(self.config)
        rows = self.journal.backend.query(
            "SELECT p.pid FROM intents i JOIN processes p ON p.owner = i.owner "
            "WHERE i.status = 'submitting'"
        )
        return {int(row["pid"]) for row in rows}

    def kill_one(self) -> None:
        alive = [p for p in self.workers if p.poll() is None]
        sending = [p for p in alive if p.pid in self.in_flight_pids()]
        if sending:
            self.killed_sending += 1
        if alive:
            victim = self.rng.choice(sending or alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            self.workers.remove(victim)
            self.killed += 1
            self.start_worker()

    def halt(self) -> None:
        began = time.monotonic()
        process = self.cli("halt", "--reason", "stress: halted mid-run", wait=True)
        self.halt_seconds = time.monotonic() - began
        if process.returncode != 0:
            raise RuntimeError(f"the halt failed with exit code {process.returncode}")

    def finish(self) -> None:
        if self.journal is not None:
            self.journal.close()
        self.stop.write_text("stop")
        for process in self.workers + self.others:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def run(
    workdir: Path,
    *,
    store_url: str | None = None,
    workers: int = 4,
    seconds: float = 20.0,
    seed: int = 1,
    several_hosts: bool = False,
) -> dict[str, Any]:
    """One stress run in ``workdir``; returns the figures (see the module docstring)."""
    owner_timeout = 5.0 if several_hosts else 30.0
    config = _config(workdir, store_url, owner_timeout)
    stress = _Run(workdir, config, several_hosts, seed)
    began = time.monotonic()
    for _ in range(workers):
        stress.start_worker()
    halted = resumed = False
    while (elapsed := time.monotonic() - began) < seconds:
        time.sleep(stress.rng.uniform(0.2, 0.6))
        roll = stress.rng.random()
        if roll < 0.15:
            stress.kill_one()
        elif roll < 0.35:
            stress.cli_orders += 1
            stress.cli("order", "buy", stress.rng.choice(sorted(PRICES)), "--qty", "7", "--yes")
        if not halted and elapsed > seconds * 0.55:
            stress.halt()
            halted = True
        if halted and not resumed and elapsed > seconds * 0.75:
            stress.cli("resume", "--yes", "--reason", "stress: resumed", wait=True)
            resumed = True
    stress.finish()
    report = judge(config)
    report.update(
        processes=stress.started + stress.cli_orders + 2,
        workers_started=stress.started,
        killed=stress.killed,
        killed_while_sending=stress.killed_sending,
        cli_orders=stress.cli_orders,
        halt_seconds=round(stress.halt_seconds or 0, 3),
        backend="postgresql" if store_url else "sqlite",
        hosts=stress.hosts if several_hosts else 1,
        seconds=round(time.monotonic() - began, 1),
    )
    return report


# -- the judgement -------------------------------------------------------------------


def _at(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _over_window(times: list[float], seconds: float, limit: int) -> int:
    """How far the busiest window of ``seconds`` (ending at an order) went over ``limit``."""
    worst = 0
    for n, at in enumerate(times):
        inside = n + 1 - bisect.bisect_left(times, at - seconds)
        worst = max(worst, inside - limit)
    return worst


def judge(config: dict[str, Any]) -> dict[str, Any]:
    """Settle what the run left, then measure every limit on the book and the journal."""
    import sqlite3

    from tradingagents_brokers import get_broker
    from tradingagents_brokers.safety.audit import audit

    with get_broker("sim", config={**config, "order_stream": False}) as gated:
        for _ in range(100):  # the killed left intents in flight: settle every one
            report = gated.reconcile()
            if report.ok and not report.deferred and not report.in_flight:
                break
            time.sleep(0.2)
        journal = gated.journal
        intents = journal.intents()
        events = journal.events()
        checked = audit(journal)
    sim = sqlite3.connect(Path(config["state_dir"]) / "sim.db")
    sim.row_factory = sqlite3.Row
    orders = {r["client_order_id"]: r for r in sim.execute("SELECT * FROM orders")}
    positions: dict[str, Decimal] = defaultdict(Decimal)
    peak: dict[str, Decimal] = defaultdict(Decimal)
    for row in sim.execute(
        "SELECT o.symbol, u.position_qty FROM order_updates u JOIN orders o USING (order_id) "
        "WHERE u.event IN ('fill', 'partial_fill') ORDER BY u.seq"
    ):
        positions[row["symbol"]] = Decimal(row["position_qty"])
        peak[row["symbol"]] = max(peak[row["symbol"]], positions[row["symbol"]])
    sim.close()

    admitted = sorted((i for i in intents if i.status != "denied"), key=lambda i: i.created_at)
    times = [_at(i.created_at) for i in admitted]
    room = Decimal(LIMITS["max_position_size"]) * 100_000
    duplicates = 0
    last_seen: dict[str, float] = {}
    for intent, at in zip(admitted, times, strict=True):
        before = last_seen.get(intent.dedupe_key)
        if before is not None and at - before < LIMITS["duplicate_window_seconds"]:
            duplicates += 1
        if intent.status not in ("rejected", "not_placed"):  # no order there to repeat
            last_seen[intent.dedupe_key] = at
    verdicts = {
        e["intent_id"]
        for e in events
        if e["kind"] == "reconcile" and e["payload"].get("to") == "not_placed"
    }
    by_id = {i.intent_id: i for i in intents}
    states = [(e["seq"], e["payload"]["state"]) for e in events if e["kind"] == "trading_state"]
    decided = {e["intent_id"]: e["seq"] for e in events if e["kind"] == "intent"}
    after_halt = 0
    for seq, state in states:
        if state != "halted":
            continue
        resumed = next((s for s, st in states if s > seq and st != "halted"), 10**12)
        after_halt += sum(1 for i in admitted if seq < decided[i.intent_id] < resumed)
    coids = {i.client_order_id for i in intents}
    return {
        "intents": len(intents),
        "admitted": len(admitted),
        "denied": dict(Counter(_codes(events, by_id))),
        "filled_at_sim": sum(1 for r in orders.values() if r["status"] == "filled"),
        "overshoot": {
            **{f"position_{s}": max(0, int(peak[s] - room / PRICES[s])) for s in sorted(PRICES)},
            "order_value": sum(
                1 for i in admitted if (i.value or 0) > Decimal(LIMITS["max_order_value"])
            ),
            "orders_per_second": _over_window(times, 1.0, LIMITS["max_orders_per_second"]),
            "orders_per_minute": _over_window(times, 60.0, LIMITS["max_orders_per_minute"]),
            "duplicates": duplicates,
        },
        "peak_position": {s: str(peak[s]) for s in sorted(PRICES)},
        "wrong_not_placed": sum(1 for i in verdicts if by_id[i].client_order_id in orders),
        "not_placed": len(verdicts),
        "orders_without_intent": sum(1 for c in orders if c not in coids),
        "admitted_after_halt": after_halt,
        "unresolved": sum(1 for i in intents if i.unresolved),
        "audit_ok": checked.ok,
        "audit_problems": list(checked.problems[:3]),
    }


def _codes(events: list[dict[str, Any]], by_id: dict[int, Any]) -> list[str]:
    codes = []
    for event in events:
        if event["kind"] == "intent" and by_id[event["intent_id"]].status == "denied":
            for decision in event["payload"].get("decisions", []):
                if not decision["allowed"]:
                    codes.append(decision["code"])
    return codes


def failures(report: dict[str, Any]) -> list[str]:
    """What a run broke (empty when every limit held)."""
    broken = [f"{k} over by {v}" for k, v in report["overshoot"].items() if v]
    for key in ("wrong_not_placed", "orders_without_intent", "admitted_after_halt", "unresolved"):
        if report[key]:
            broken.append(f"{key}: {report[key]}")
    if not report["audit_ok"]:
        broken.append(f"audit: {report['audit_problems']}")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "worker":  # pragma: no cover - child
        worker(args[1], int(args[2]), args[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", metavar="URL", help="a PostgreSQL store (several hosts)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="tab-stress-") as tmp:
        report = run(
            Path(tmp),
            store_url=options.postgresql,
            workers=options.workers,
            seconds=options.seconds,
            seed=options.seed,
            several_hosts=bool(options.postgresql),
        )
    print(json.dumps(report, indent=2))
    return 1 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
