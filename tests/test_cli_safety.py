"""The safety commands of the CLI: journal, halt, reduce-only, resume, status, reconcile."""

from __future__ import annotations

import json
import os
import sqlite3


def test_journal_list_show_and_verify(cli):
    cli("order", "buy", "AAPL", "--qty", "2", "--yes")
    code, out, _ = cli("journal", "list", "--json")
    intents = json.loads(out)
    assert (code, [i["status"] for i in intents]) == (0, ["filled"])
    assert intents[0]["source"] == "cli"
    _, out, _ = cli("journal", "list", "--status", "denied", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("journal", "show", "1", "--json")
    shown = json.loads(out)
    assert [e["kind"] for e in shown["events"]] == [
        "intent",
        "broker_answer",
    ]
    code, out, _ = cli("journal", "show", intents[0]["client_order_id"])
    assert code == 0
    assert "broker_answer" in out
    code, _, err = cli("journal", "show", "99")
    assert (code, "no intent '99'" in err) == (1, True)
    code, out, _ = cli("journal", "verify", "--json")
    report = json.loads(out)
    # The journal's identity, the limits in force, the intent and the answer.
    assert (code, report["ok"], report["events"], report["integrity_check"]) == (0, True, 4, "ok")
    assert report["problems"] == []
    code, out, _ = cli("journal", "verify")
    assert "chain intact, tables match the chain" in out
    code, out, _ = cli("journal", "list")
    assert "AAPL" in out


def _tamper(cli, *statements):
    """Edit the CLI's journal file behind the package's back."""
    db = sqlite3.connect(f"{cli.state_dir}/journal.db")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def test_journal_verify_exits_1_and_names_the_broken_event(cli):
    cli("order", "buy", "AAPL", "--qty", "2", "--yes")
    _tamper(cli, "DROP TRIGGER events_no_update", "UPDATE events SET payload = '{}' WHERE seq = 2")
    code, _, err = cli("journal", "verify")
    assert code == 1
    assert "event 2 was altered" in err


def test_journal_verify_names_an_edited_projection_row(cli):
    cli("order", "buy", "AAPL", "--qty", "2", "--yes")
    _tamper(cli, "UPDATE intents SET status = 'canceled' WHERE intent_id = 1")
    code, _, err = cli("journal", "verify")
    assert code == 1
    assert "intent 1: status is 'canceled' in the intents table, 'filled' in the chain" in err
    code, out, _ = cli("journal", "verify", "--json")
    assert json.loads(out)["problems"] == [
        "intent 1: status is 'canceled' in the intents table, 'filled' in the chain"
    ]


def test_journal_verify_prints_and_checks_an_anchor(cli):
    cli("order", "buy", "AAPL", "--qty", "2", "--yes")
    code, out, _ = cli("journal", "verify", "--print-head")
    anchor = out.strip()
    seq, digest = anchor.split(":")
    assert (code, len(digest)) == (0, 64)
    assert cli("journal", "verify", "--expect-head", anchor)[0] == 0
    cli("halt", "--reason", "later")  # the journal grows past the anchor: still fine
    assert cli("journal", "verify", "--expect-head", anchor)[0] == 0
    _tamper(cli, "DROP TRIGGER events_no_delete", f"DELETE FROM events WHERE seq >= {int(seq)}")
    code, _, err = cli("journal", "verify", "--expect-head", anchor)
    assert code == 1
    assert f"the anchored event {seq} is gone" in err
    code, _, err = cli("journal", "verify", "--expect-head", "seven")
    assert (code, "SEQ:HASH" in err) == (2, True)


def test_halt_blocks_orders_until_a_person_resumes(cli, monkeypatch):
    code, out, _ = cli("halt", "--reason", "desk says stop", "--json")
    assert (code, json.loads(out)["state"], json.loads(out)["by"]) == (0, "halted", "cli")
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1", "--yes")
    assert (code, "TRADING_HALTED" in err) == (3, True)
    code, _, err = cli("resume")
    assert (code, "pass --yes" in err) == (3, True)
    _, out, _ = cli("status", "--json")
    assert json.loads(out)["state"] == "halted"
    code, out, _ = cli("resume", "--yes", "--json")
    assert json.loads(out)["state"] == "active"
    assert cli("order", "buy", "AAPL", "--qty", "1", "--yes")[0] == 0


def test_halt_with_cancel_all_and_reduce_only(cli):
    _, out, _ = cli(
        "order",
        "buy",
        "AAPL",
        "--qty",
        "1",
        "--type",
        "limit",
        "--limit-price",
        "95",
        "--tif",
        "gtc",
        "--yes",
        "--json",
    )
    resting = json.loads(out)
    code, out, _ = cli("halt", "--cancel-all")
    assert code == 0
    assert "asked to cancel 1 open order" in out
    _, out, _ = cli("orders", "--status", "open", "--json")
    assert json.loads(out) == []
    assert resting["status"] == "new"
    code, out, _ = cli("reduce-only", "--json")
    assert json.loads(out)["state"] == "reducing"
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1", "--yes")
    assert (code, "TRADING_STATE_REDUCING" in err) == (3, True)
    code, out, _ = cli("resume", "--yes")
    assert code == 0


def test_status_lists_orders_of_unknown_outcome(cli):
    from tradingagents_brokers.safety.journal import Journal

    journal = Journal(f"{cli.state_dir}/journal.db")
    journal.new_intent(
        {
            "broker": "sim",
            "symbol": "AAPL",
            "side": "buy",
            "qty": 1,
            "notional": None,
            "value": 100,
            "dedupe_key": "k",
            "status": "unknown",
            "source": "python",
            "client_order_id": None,
        },
        {"request": {}},
    )
    journal.close()
    _, out, _ = cli("status", "--json")
    assert len(json.loads(out)["unresolved_orders"]) == 1
    code, out, _ = cli("reconcile", "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["checked"]) == (0, True, 1)
    assert [(c["from"], c["to"]) for c in report["changed"]] == [("unknown", "not_placed")]
    _, out, _ = cli("status", "--json")
    assert json.loads(out)["unresolved_orders"] == []
    code, out, _ = cli("reconcile")
    assert "checked 0 open intent" in out


def test_reconcile_exits_1_when_a_look_up_fails(cli, monkeypatch):
    cli("order", "buy", "AAPL", "--qty", "1", "--type", "limit", "--limit-price", "95", "--yes")
    from tradingagents_brokers import BrokerAPIError
    from tradingagents_brokers.sim.broker import SimBroker

    def down(self, *args, **kwargs):
        raise BrokerAPIError("broker down")

    monkeypatch.setattr(SimBroker, "get_orders", down)  # the open orders are listed first
    code, _, err = cli("reconcile")
    assert code == 1
    assert "broker down" in err
    code, out, _ = cli("reconcile", "--json")
    assert json.loads(out)["failed"][0]["error"] == "broker down"


def test_status_names_the_store_and_the_processes_at_work_on_it(cli, sim_config):
    from tradingagents_brokers import get_broker

    _, out, _ = cli("status", "--json")
    report = json.loads(out)
    assert report["store"].endswith("journal.db")
    assert report["processes"] == []  # nothing trades, nothing registered
    with get_broker("sim", config=sim_config) as gated:
        gated.place_order(symbol="AAPL", side="buy", qty=1)  # registers before its order
        _, out, _ = cli("status", "--json")
        (working,) = json.loads(out)["processes"]
        assert working.startswith("sim on ")
        assert f"pid {os.getpid()}" in working
    _, out, _ = cli("status", "--json")
    assert json.loads(out)["processes"] == []  # closed: it left


def test_reconcile_says_what_it_left_to_live_senders_and_what_it_cost(cli, sim_config):
    from tradingagents_brokers.safety.journal import Journal
    from tradingagents_brokers.store.registry import Registry

    from .fakes import journal_intent

    journal = Journal(f"{cli.state_dir}/journal.db")
    owner = Registry(journal.backend, now=journal.now, owner_timeout=30).register("sim")
    # this test process: alive, and sending it
    journal_intent(journal, broker="sim", owner=owner.owner)
    journal.close()
    code, out, _ = cli("reconcile")
    assert code == 0
    assert "1 left to the live processes still sending them" in out
    assert "0 broker request(s)" in out  # nothing it may judge: the broker is not asked


def test_journal_verify_shows_progress_on_a_terminal_only(tmp_path):
    import io

    from rich.console import Console

    from tradingagents_brokers.cli.render import Output
    from tradingagents_brokers.cli.safety_commands import _progress
    from tradingagents_brokers.safety.journal import Journal
    from tradingagents_brokers.safety.records import PROGRESS_EVERY

    journal = Journal(tmp_path / "journal.db")
    with journal.transaction():
        for n in range(PROGRESS_EVERY + 1):
            journal.append("note", {"n": n})
    terminal = io.StringIO()
    out = Output(as_json=False)
    out.errors = Console(file=terminal, force_terminal=True, width=80)
    seen: list[int] = []
    with _progress(out, journal) as told:
        assert told is not None

        def tell(walked: int) -> None:
            seen.append(walked)
            told(walked)

        journal.verify(tell)
    assert seen == [PROGRESS_EVERY]
    assert "verifying the journal" in terminal.getvalue()
    piped = Output(as_json=False)
    piped.errors = Console(file=io.StringIO(), force_terminal=False)
    with _progress(piped, journal) as told:
        assert told is None
    with _progress(Output(as_json=True), journal) as told:
        assert told is None


def test_what_an_agent_wrote_is_shown_inert(cli, monkeypatch):
    from tradingagents_brokers import OrderContext
    from tradingagents_brokers.config import effective_config
    from tradingagents_brokers.safety.state import set_state
    from tradingagents_brokers.store import open_journal

    hostile = "\x1b[2J\x1b]0;pwned\x07[bold red]state: active[/bold red]\u202e"
    config = effective_config({"state_dir": cli.state_dir})
    journal = open_journal(config)
    set_state(journal, "halted", reason=hostile, by="agent", context=OrderContext(source="agent"))
    journal.close()
    monkeypatch.setenv("COLUMNS", "400")  # one line a row
    code, out, _ = cli("status")
    assert code == 0
    assert not {"\x1b", "\x07", "\u202e"} & set(out)
    assert "\\x1b[2J\\x1b]0;pwned\\x07[bold red]state: active[/bold red]\\u202e" in out
