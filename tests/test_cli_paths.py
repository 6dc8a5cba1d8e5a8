"""Less travelled paths of the CLI's tables: close --all, stops, notional sizes, odd ids."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from rich.console import Console

from tradingagents_brokers.cli import options
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.cli.render import Col, Output
from tradingagents_brokers.cli.tables import ORDERS, when


def _terminal(cli, *args: str) -> str:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, record=True)
    config = cli.state_dir.rsplit("/", 1)[0] + "/brokers.toml"
    assert main([*args, "--config", config], console=console) == 0
    return console.export_text()


def test_close_all_shows_a_row_a_symbol_and_journal_list_lists_each_close(cli):
    cli("order", "buy", "AAPL", "--qty", "2", "--yes")
    cli("order", "buy", "MSFT", "--qty", "1", "--yes")
    code, out, _ = cli("close", "--all", "--yes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("\t")[:2] == ["symbol", "ok"]
    assert sorted(line.split("\t")[0] for line in lines[1:]) == ["AAPL", "MSFT"]
    _, out, _ = cli("journal", "list", "--json")
    closes = [r for r in json.loads(out) if r["kind"] == "close"]
    assert sorted(r["symbol"] for r in closes) == ["AAPL", "MSFT"]
    assert {r["side"] for r in closes} == {"sell"}
    code, out, _ = cli("journal", "show", closes[0]["client_order_id"][:14], "--json")
    assert (code, json.loads(out)["close"]["kind"]) == (0, "close_all")  # one event, both
    assert cli("order", "buy", "AAPL", "--qty", "3", "--yes")[0] == 0
    assert cli("close", "AAPL", "--qty", "1", "--yes")[0] == 0
    code, _, err = cli("journal", "show", "sim-close-")
    assert (code, "type more of it" in err) == (2, True)


def test_orders_show_stop_prices_notional_sizes_and_nothing_to_show(cli):
    assert "no orders" in _terminal(cli, "orders")
    cli("order", "buy", "AAPL", "--notional", "150", "--yes")
    cli(
        "order", "sell", "AAPL", "--qty", "1", "--type", "stop", "--stop-price", "90",
        "--tif", "gtc", "--yes",
    )  # fmt: skip
    text = _terminal(cli, "orders")
    assert "stop 90" in text
    console = Console(file=io.StringIO(), width=80, force_terminal=True, record=True)
    Output(as_json=False, console=console).rows(
        "t", [{"order_id": "o-1", "notional": "150", "status": "new"}], ORDERS, empty="-"
    )
    assert "$150" in console.export_text()


def test_the_prompt_names_the_stop_price(cli, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    cli("order", "buy", "AAPL", "--qty", "1", "--type", "stop", "--stop-price", "120")
    assert "BUY 1 AAPL stop (stop $120) day" in asked[0]


def test_plugins_on_a_terminal_name_the_capabilities(cli):
    text = _terminal(cli, "plugins")
    assert "sim: order types limit, market" in text


def test_cancel_of_an_id_nobody_knows_is_the_brokers_to_refuse(cli):
    code, _, err = cli("cancel", "no-such-order")
    assert code != 0
    assert "no-such-order" in err


def test_option_checks_say_what_they_take():
    with pytest.raises(argparse.ArgumentTypeError, match="not a whole number"):
        options.positive_int("ten")
    with pytest.raises(argparse.ArgumentTypeError, match="1Min, 5Min"):
        options.timeframe("2X")
    assert options.timeframe("5min") == "5Min"
    assert options.period("3m") == "3M"


def test_times_and_values_that_are_not_what_a_column_expects_pass_as_they_are():
    assert when({"t": "yesterday"}, "t") == "yesterday"
    assert when({"t": None}, "t") is None
    console = Console(file=io.StringIO(), width=80, force_terminal=True, record=True)
    out = Output(as_json=False, console=console)
    out.rows("t", [{"order_id": "x", "status": "new", "extra": {"a": 1}}], ORDERS, empty="-")
    out.rows("t", [{"extra": {"a": [1]}}], [Col("extra")], empty="-")
    text = console.export_text()
    assert '{"a": [1]}' in text


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path):
    import os
    import subprocess
    import sys

    run = "import sys; from tradingagents_brokers.cli.main import main; sys.exit(main())"
    env = {**os.environ, "TRADINGAGENTS_BROKERS_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", run, "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # as `| head -1` does, then it goes away
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    # 0 if the demo was done writing first; 1 when Rich met the closed pipe (it quiets it too)
    assert proc.returncode in (0, 1, 141), err
    assert b"Traceback" not in err
