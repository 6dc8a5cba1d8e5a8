"""Crash test: processes placing orders are killed with SIGKILL at random points, 200+ times.

Each child opens the gate on a shared journal and sim account (running start-up
reconciliation), places orders in a loop and reports every acknowledged order
through a pipe. The parent kills it at a random moment - during start-up, inside
a journal transaction, between the journal commit and the broker, or while the
answer is written. At the end a fresh gate reconciles, and then:

* every acknowledged order is in the journal, filled, and at the broker exactly once;
* no broker order lacks an intent, and no intent has more than one broker order;
* no intent is left unresolved; the hash chain verifies; ``PRAGMA integrity_check`` is ok.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time

from tradingagents_brokers import get_broker
from tradingagents_brokers.safety.journal import UNRESOLVED

KILLS = 200


def _config(state_dir):
    return {
        "trading_broker": "sim",
        "state_dir": str(state_dir),
        "max_order_value": 10**9,
        "max_position_size": 1,
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "duplicate_window_seconds": 0,
        "broker_options": {"sim": {"prices": {"AAPL": 100}, "initial_cash": 10**9}},
    }


def _child(state_dir, conn) -> None:  # pragma: no cover - runs in the killed process
    gated = get_broker("sim", config=_config(state_dir))
    order = gated.place_order(symbol="AAPL", side="buy", qty=1)  # the first connects the stream
    conn.send(order.client_order_id)
    conn.send("ready")
    while True:
        order = gated.place_order(symbol="AAPL", side="buy", qty=1)
        conn.send(order.client_order_id)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(7)
    ctx = multiprocessing.get_context("fork")
    acknowledged: list[str] = []
    ready = 0
    for cycle in range(KILLS):
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(tmp_path, writer), daemon=True)
        child.start()
        writer.close()
        if cycle % 4 == 0:
            time.sleep(rng.uniform(0, 0.02))  # often still starting up or reconciling
        else:
            while reader.poll(10):  # the first order's answer, then "ready"
                message = reader.recv()
                if message == "ready":
                    ready += 1
                    time.sleep(rng.uniform(0, 0.03))
                    break
                acknowledged.append(message)
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        while reader.poll():
            try:
                message = reader.recv()
            except EOFError:
                break
            if message == "ready":
                ready += 1
            else:
                acknowledged.append(message)
        reader.close()

    with get_broker("sim", config=_config(tmp_path)) as gated:
        report = gated.reconcile()
        assert report.ok
        journal = gated.journal
        intents = {i.client_order_id: i for i in journal.intents()}
        assert journal.intents(statuses=UNRESOLVED) == []
        assert journal.verify().ok
        assert journal.integrity_check() == "ok"
        orders = gated.get_orders("all")
    per_intent = {}
    for order in orders:
        per_intent[order.client_order_id] = per_intent.get(order.client_order_id, 0) + 1
    assert set(per_intent) <= set(intents), "a broker order without a journal intent"
    assert max(per_intent.values()) == 1
    for client_order_id in acknowledged:
        assert intents[client_order_id].status == "filled"
        assert per_intent[client_order_id] == 1
    for client_order_id, intent in intents.items():
        assert (client_order_id in per_intent) == (intent.status == "filled"), intent
    sim_db = sqlite3.connect(tmp_path / "sim.db")
    assert sim_db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sim_db.close()
    # the children did real work between kills: every child that said it was ready had
    # placed an order first (and most were killed while placing more)
    assert ready > KILLS // 2
    assert len(acknowledged) >= ready
    print(
        f"{KILLS} kills, {ready} after start-up, {len(acknowledged)} acknowledged orders, "
        f"{len(intents)} intents"
    )
