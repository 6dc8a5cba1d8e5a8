"""``RATE_LIMIT_EXCEEDED`` refusals say how long to wait, as ``retry_after`` (seconds)
a model can act on: waiting that long lets the next order through."""

from __future__ import annotations

import re
import time

from mcp import Client

from tradingagents_brokers.errors import Reason
from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.tools.pacing import retry_after

from .conftest import by_name, call, sim_settings

PER_SECOND = {"max_orders_per_second": 2, "max_orders_per_minute": 1000}


def _buy(quantity: int) -> dict[str, object]:
    return {"symbol": "AAPL", "action": "buy", "quantity": quantity}


def _wait(text: str) -> float:
    found = re.search(r"wait ([\d.]+) seconds \(retry_after=([\d.]+)\)", text)
    assert found, text
    assert found.group(1) == found.group(2)
    return float(found.group(2))


def test_waiting_retry_after_lets_the_next_order_through(make_toolkit):
    toolkit = make_toolkit(**PER_SECOND)
    tools = by_name(toolkit)
    started = time.monotonic()
    assert call(tools["execute_trade"], _buy(1), id="a").status == "success"
    time.sleep(0.4)
    assert call(tools["execute_trade"], _buy(2), id="b").status == "success"
    refused = call(tools["execute_trade"], _buy(3), id="c")
    assert refused.status == "error"
    assert "[RATE_LIMIT_EXCEEDED]" in refused.content
    wait = _wait(refused.content)
    # what is left of the first order's second, not the whole second
    assert 0.1 <= wait <= 1.0 - (time.monotonic() - started) + 0.1 <= 0.7
    time.sleep(wait)
    again = call(tools["execute_trade"], _buy(3), id="d")
    assert again.status == "success", again.content


def test_a_minute_window_counts_down_from_the_oldest_order(make_toolkit):
    toolkit = make_toolkit(max_orders_per_second=100, max_orders_per_minute=2)
    tools = by_name(toolkit)
    call(tools["execute_trade"], _buy(1), id="a")
    time.sleep(1.2)
    call(tools["execute_trade"], _buy(2), id="b")
    refused = call(tools["execute_trade"], _buy(3), id="c")
    assert 55 < _wait(refused.content) <= 58.9  # a minute from the first, 1.2 s ago
    preview = call(tools["preview_order"], _buy(3), id="p")
    assert "would be REFUSED" in preview.content
    assert 55 < _wait(preview.content) <= 58.9


def test_closes_that_hit_the_rate_limit_say_how_long_too(make_toolkit):
    toolkit = make_toolkit(**PER_SECOND, duplicate_window_seconds=0)
    toolkit.broker.place_order(symbol="AAPL", side="buy", qty=10)
    tools = by_name(toolkit)
    replies = [
        call(tools["close_position"], {"symbol": "AAPL", "quantity": 1}, id=f"c{n}")
        for n in range(3)
    ]
    refused = [r for r in replies if r.status == "error"]
    assert refused, [r.content for r in replies]
    assert "[RATE_LIMIT_EXCEEDED]" in refused[0].content
    assert 0.1 <= _wait(refused[0].content) <= 1.0


def test_retry_after_reads_only_the_rate_reason(make_toolkit):
    toolkit = make_toolkit()
    gated = toolkit.broker
    assert retry_after(gated, [Reason("ORDER_VALUE_EXCEEDS_MAX", "too big", "x")]) is None
    odd = Reason("RATE_LIMIT_EXCEEDED", "a plugin's own words", "x")
    assert retry_after(gated, [odd]) is None  # then the advice names the window, as before
    # counted orders the journal does not have (closes elsewhere): the whole window
    unknown = Reason("RATE_LIMIT_EXCEEDED", "7 orders in the last 60s; limit=5; wait", "x")
    assert retry_after(gated, [unknown]) == 60.0


async def test_retry_after_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path, **PER_SECOND)) as served:
        async with Client(served.server) as mcp:
            for quantity in (1, 2):
                assert not (await mcp.call_tool("execute_trade", _buy(quantity))).is_error
            refused = await mcp.call_tool("execute_trade", _buy(3))
    assert refused.is_error
    assert 0.1 <= _wait(refused.content[0].text) <= 1.0
