"""--log-level and --log-file, and the trades log record's fields as attributes of their own."""

from __future__ import annotations

import json
import logging

from tradingagents_brokers.cli.logs import JsonLines


def test_log_file_gets_the_trade_lines_and_jsonl_gets_their_fields(cli, tmp_path):
    text_log, json_log = tmp_path / "trades.log", tmp_path / "trades.jsonl"
    assert cli("order", "buy", "AAPL", "--qty", "2", "--yes", "--log-file", str(text_log))[0] == 0
    line = text_log.read_text().splitlines()[-1]
    assert "INFO tradingagents.broker.trades filled broker=sim" in line
    assert cli("order", "buy", "AAPL", "--qty", "3", "--yes", "--log-file", str(json_log))[0] == 0
    records = [json.loads(line) for line in json_log.read_text().splitlines()]
    trade = next(r for r in records if r["logger"] == "tradingagents.broker.trades")
    assert (trade["event"], trade["symbol"], trade["qty"], trade["status"]) == (
        "filled",
        "AAPL",
        "3",
        "filled",
    )
    assert trade["broker"] == "sim"
    assert trade["client_order_id"].startswith("tab-")
    # The handler is gone once the command returns: nothing more is written.
    size = json_log.stat().st_size
    cli("order", "buy", "AAPL", "--qty", "4", "--yes")
    assert json_log.stat().st_size == size
    assert logging.getLogger("tradingagents").handlers == []


def test_log_level_alone_logs_to_stderr_at_that_level(cli):
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1", "--yes", "--log-level", "info")
    assert code == 0
    assert "tradingagents.broker.trades filled" in err
    code, _, err = cli("order", "buy", "AAPL", "--qty", "2", "--yes", "--log-level", "error")
    assert "tradingagents.broker.trades" not in err


def test_an_unwritable_log_file_is_a_configuration_error(cli, tmp_path):
    code, _, err = cli("account", "--log-file", str(tmp_path / "no" / "such" / "dir" / "x.log"))
    assert code == 2
    assert "--log-file" in err
    assert "a directory you can write to" in err


def test_the_json_formatter_keeps_extra_fields_and_exceptions():
    record = logging.makeLogRecord({"msg": "hi %s", "args": ("there",), "name": "x", "foo": 1})
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    data = json.loads(JsonLines().format(record))
    assert (data["message"], data["foo"]) == ("hi there", 1)
    assert "ValueError: boom" in data["exception"]
