"""One tool call id, one order, over ``tool.invoke``, a LangGraph ``ToolNode`` and MCP.

Models do not choose their tool call ids, so a reused id must never cost the model
an order it cannot place, nor hand it another order's answer:

* same id, same order: the order placed the first time (the call is replayed);
* same id, another order: refused, naming the reuse; nothing sent;
* same id, same order, after a refusal: decided again (never "use a new id").
"""

from __future__ import annotations

from typing import Any

from mcp import Client

from tradingagents_brokers import OrderContext
from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.tools.calls import MAX_DECISIONS_PER_CALL

from .conftest import call, play, sim_settings, tool_node

BUY = {"symbol": "AAPL", "action": "buy", "quantity": 2}
SELL = {"symbol": "AAPL", "action": "sell", "quantity": 1}
PERSON = OrderContext(source="python")


def _orders(toolkit: Any) -> list[Any]:
    return toolkit.broker.get_orders("all")


def test_the_same_call_with_another_order_is_refused_and_named(toolkit, tools):
    first = call(tools["execute_trade"], BUY, id="call-1")
    other = call(tools["execute_trade"], SELL, id="call-1")
    assert other.status == "error"
    assert other.content.startswith("Error [tool_call_reused]: tool call id 'call-1' was")
    assert "already used for another order (BUY 2 shares of AAPL" in other.content
    assert "Nothing was sent" in other.content
    assert "already carried out" not in other.content
    assert other.artifact is None  # never the other order
    assert [o.order_id for o in _orders(toolkit)] == [first.artifact["order_id"]]
    refused = [e["payload"] for e in toolkit.broker.journal.events() if e["kind"] == "tool_refused"]
    assert [(r["tool_call_id"], r["codes"]) for r in refused] == [("call-1", ["TOOL_CALL_REUSED"])]


def test_the_same_call_with_the_same_order_in_other_words_is_a_replay(toolkit, tools):
    first = call(tools["execute_trade"], BUY, id="call-2")
    again = call(tools["execute_trade"], {**BUY, "quantity": "2.0", "symbol": "aapl"}, id="call-2")
    assert again.content.startswith("This tool call was already carried out")
    assert again.artifact["order_id"] == first.artifact["order_id"]
    assert len(_orders(toolkit)) == 1


def test_the_same_call_after_a_refusal_is_decided_again(toolkit, tools):
    toolkit.broker.halt("a person is looking")
    refused = call(tools["execute_trade"], BUY, id="call-3")
    assert "[TRADING_HALTED]" in refused.content
    again = call(tools["execute_trade"], BUY, id="call-3")
    assert "[TRADING_HALTED]" in again.content  # the same answer, decided again
    for text in (refused.content, again.content):
        assert "new id" not in text
        assert "Retrying later may help" not in text
    toolkit.broker.resume("all clear", context=PERSON)
    placed = call(tools["execute_trade"], BUY, id="call-3")
    assert placed.content.startswith("Order sent.")
    replayed = call(tools["execute_trade"], BUY, id="call-3")
    assert replayed.content.startswith("This tool call was already carried out")
    assert replayed.artifact["order_id"] == placed.artifact["order_id"]
    assert len(_orders(toolkit)) == 1
    ids = [i.client_order_id for i in toolkit.broker.journal.intents()]
    assert len(set(ids)) == 3  # two refusals and the order, one id each


def test_a_call_refused_again_and_again_keeps_its_last_refusal(toolkit, tools):
    toolkit.broker.halt("stop")
    for _ in range(MAX_DECISIONS_PER_CALL + 2):
        reply = call(tools["execute_trade"], BUY, id="call-4")
        assert "[TRADING_HALTED]" in reply.content
        assert "stop placing orders" in reply.content
    assert len(toolkit.broker.journal.intents()) == MAX_DECISIONS_PER_CALL


def test_another_order_under_a_refused_calls_id_is_refused_too(toolkit, tools):
    call(tools["execute_trade"], {**BUY, "quantity": 500}, id="call-5")  # too large
    other = call(tools["execute_trade"], SELL, id="call-5")
    assert "[tool_call_reused]" in other.content
    assert "BUY 500 shares of AAPL" in other.content
    assert _orders(toolkit) == []


def test_reused_ids_in_a_graph(toolkit):
    app = tool_node(toolkit.get_tools())
    (first,) = play(app, [("execute_trade", BUY, "g-1")])
    replay, reuse = play(
        app, [("execute_trade", BUY, "g-1"), ("execute_trade", {**BUY, "quantity": 3}, "g-1")]
    )
    assert first.artifact["status"] == "filled"
    assert replay.artifact["order_id"] == first.artifact["order_id"]
    assert reuse.status == "error"
    assert "[tool_call_reused]" in reuse.content
    assert len(_orders(toolkit)) == 1


async def test_mcp_has_no_call_ids_and_a_repeat_is_a_duplicate(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path)) as served:
        async with Client(served.server) as mcp:
            first = await mcp.call_tool("execute_trade", BUY)
            again = await mcp.call_tool("execute_trade", BUY)
        assert not first.is_error
        assert again.is_error
        text = again.content[0].text
        assert "[DUPLICATE_ORDER]" in text
        assert "new id" not in text
        assert "intended repeat" not in text
        assert len(served.toolkit.broker.get_orders("all")) == 1
