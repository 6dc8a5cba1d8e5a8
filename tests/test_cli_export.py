"""Exports (--format csv / jsonl), the history chart, and to_pandas()."""

from __future__ import annotations

import csv
import doctest
import io
import json
from decimal import Decimal

import pytest
from rich.console import Console

import tradingagents_brokers.frames
from tradingagents_brokers.cli.charts import chart, sparkline
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.errors import BrokerConfigurationError
from tradingagents_brokers.frames import to_pandas


@pytest.fixture
def traded(cli):
    cli("order", "buy", "AAPL", "--qty", "5", "--yes")
    cli("close", "AAPL", "--qty", "2", "--yes")
    return cli


def test_orders_export_as_csv_with_every_field(traded):
    code, out, _ = traded("orders", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["side"], r["qty"], r["status"]) for r in rows] == [
        ("sell", "2", "filled"),
        ("buy", "5", "filled"),
    ]
    assert {"order_id", "client_order_id", "time_in_force", "filled_avg_price"} <= set(rows[0])


def test_positions_history_and_journal_export_as_json_lines(traded):
    _, out, _ = traded("positions", "--format", "jsonl")
    assert [json.loads(line)["qty"] for line in out.splitlines()] == ["3"]
    _, out, _ = traded("history", "--format", "jsonl")
    points = [json.loads(line) for line in out.splitlines()]
    assert len(points) >= 3
    assert set(points[0]) == {"timestamp", "equity", "profit_loss", "profit_loss_pct"}
    _, out, _ = traded("journal", "list", "--format", "jsonl")
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert kinds == ["close", "intent"]
    _, out, _ = traded("journal", "list", "--format", "csv")
    header = out.splitlines()[0].split(",")
    assert header[:3] == ["kind", "intent_id", "client_order_id"]


def test_an_export_takes_every_row_unless_limited(cli):
    for qty in ("1", "2", "3"):
        cli("order", "buy", "AAPL", "--qty", qty, "--yes")
    _, out, _ = cli("orders", "--format", "jsonl", "--limit", "2")
    assert len(out.splitlines()) == 2
    _, out, err = cli("orders", "--format", "jsonl")
    assert (len(out.splitlines()), err) == (3, "")


def test_history_draws_the_portfolio_value_on_a_terminal(traded, tmp_path):
    console = Console(file=io.StringIO(), width=80, force_terminal=True, record=True)
    config = next(tmp_path.glob("brokers.toml"))
    assert main(["history", "--config", str(config)], console=console) == 0
    text = console.export_text()
    assert "Portfolio value" in text
    assert "█" in text
    _, out, _ = traded("history")  # a pipe: numbers only
    assert "█" not in out


def test_the_chart_spans_the_width_with_its_highs_and_lows():
    values = [Decimal(v) for v in ("100", "104", "102", "110")]
    lines = [t.plain for t in chart(values, "12-01 10:00", "12-03 22:00", width=60, height=4)]
    assert lines[0].endswith(" 110.00")
    assert lines[3].endswith(" 100.00")
    assert lines[-1].startswith("12-01 10:00")
    assert lines[-1].endswith("12-03 22:00")
    assert max(len(line) for line in lines) <= 60
    assert lines[0].startswith(" ")  # the first point, the lowest, has no top block
    assert lines[3].startswith("▁")  # the lowest is a sliver, not nothing
    assert lines[3].split(" 100.00")[0].endswith("█")
    assert sparkline(values, 4) == "▁▃▂█"
    assert sparkline([Decimal(1)] * 3, 3) == "▄▄▄"
    assert len(sparkline([Decimal(i) for i in range(1000)], 40)) == 40
    assert chart([], "", "", width=40) == []


def test_to_pandas_keeps_money_as_decimal_and_times_as_timestamps(sim):
    sim.place_order(symbol="AAPL", side="buy", qty=3)
    frame = to_pandas(sim.get_orders("all"))
    assert frame.loc[0, "qty"] == Decimal("3")
    assert isinstance(frame.loc[0, "filled_avg_price"], Decimal)
    assert str(frame["submitted_at"].dtype).startswith("datetime64")
    positions = to_pandas(sim.get_positions())
    assert positions.loc[0, "market_value"] == Decimal("300")
    history = to_pandas(sim.get_portfolio_history())
    assert history.index.name == "timestamp"
    assert isinstance(history["equity"].iloc[-1], Decimal)
    intents = to_pandas(sim.journal.intents())
    assert list(intents["status"]) == ["filled"]
    assert to_pandas([{"qty": "1e3", "side": "buy"}]).loc[0, "qty"] == Decimal("1000")
    with pytest.raises(TypeError, match="to_dict"):
        to_pandas([object()])


def test_to_pandas_says_how_to_install_pandas_when_it_is_missing(monkeypatch):
    import builtins
    import importlib

    real = importlib.import_module

    def without_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_pandas)
    with pytest.raises(BrokerConfigurationError, match="pip install pandas"):
        to_pandas([])
    assert builtins  # the module itself imports without pandas


def test_the_frames_module_example_runs(tmp_path):
    result = doctest.testmod(
        tradingagents_brokers.frames, extraglobs={"doctest_tmp": str(tmp_path)}
    )
    assert (result.attempted > 0, result.failed) == (True, 0)
