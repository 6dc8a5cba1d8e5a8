"""'sim reset': one explicit, confirmed command; resting orders end canceled, not missing."""

from __future__ import annotations

import json

import pytest

from tradingagents_brokers.cli.main import build_parser


def test_no_command_takes_reset_any_more():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["positions", "--reset"])


def test_sim_reset_asks_and_without_a_terminal_needs_yes(cli):
    cli("order", "buy", "AAPL", "--qty", "1", "--yes")
    code, _, err = cli("sim", "reset")
    assert (code, "pass --yes" in err) == (3, True)
    _, out, _ = cli("positions", "--json")
    assert [p["symbol"] for p in json.loads(out)] == ["AAPL"]  # nothing was reset


def test_sim_reset_on_no_at_the_prompt_keeps_the_account(cli, monkeypatch):
    cli("order", "buy", "AAPL", "--qty", "1", "--yes")
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    assert cli("sim", "reset")[0] == 3
    assert "1 position(s) go; its 0 resting order(s) are canceled first" in asked[0]
    _, out, _ = cli("positions", "--json")
    assert len(json.loads(out)) == 1


def test_resting_orders_are_canceled_and_journaled_canceled_then_the_account_is_fresh(cli):
    cli("order", "buy", "AAPL", "--qty", "3", "--yes")
    _, out, _ = cli(
        "order", "buy", "MSFT", "--qty", "1", "--type", "limit", "--limit-price", "190",
        "--tif", "gtc", "--yes", "--json",
    )  # fmt: skip
    resting = json.loads(out)
    code, out, _ = cli("sim", "reset", "--yes", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["canceled"] == [resting["order_id"]]
    assert (summary["positions"], summary["cash"]) == (1, "100000")
    _, out, _ = cli("journal", "list", "--json")
    statuses = {i["client_order_id"]: i["status"] for i in json.loads(out)}
    assert statuses[resting["client_order_id"]] == "canceled"  # not "missing"
    _, out, _ = cli("positions", "--json")
    assert json.loads(out) == []
    _, out, _ = cli("orders", "--json")
    assert json.loads(out) == []
    # Later passes find nothing to change: the journal agrees with the fresh account.
    _, out, _ = cli("reconcile", "--json")
    assert json.loads(out)["changed"] == []
    code, out, _ = cli("sim", "reset", "--yes")
    assert "0 resting order(s) canceled" in out
    assert cli("journal", "verify")[0] == 0


def test_sim_reset_is_for_the_sim_only(cli):
    code, _, err = cli("sim", "reset", "--yes", "--broker", "alpaca")
    assert (code, "leave out --broker" in err) == (2, True)
