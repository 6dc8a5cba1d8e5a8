"""The tools take the origin design's arguments: execute_trade(symbol, action, quantity, ...).

``execute_trade("AAPL", "buy", quantity=10)``, ``execute_trade("TSLA", "buy",
dollar_amount=1000)`` and a limit order in the same words run through a
LangGraph ToolNode and through a model bound to the tools; errors name the
arguments as the model wrote them; the order model's own names are not a
second spelling.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from tradingagents_brokers.testing.agents import ScriptedChatModel, say, tool_call
from tradingagents_brokers.tools import BrokerToolkit

from .conftest import by_name, call, sim_settings
from .test_graph import tool_graph

ORIGIN_EXAMPLES = [
    {"symbol": "AAPL", "action": "buy", "quantity": 10},
    {"symbol": "TSLA", "action": "buy", "dollar_amount": 1000},
    {"symbol": "MSFT", "action": "buy", "quantity": 5, "order_type": "limit", "limit_price": 195},
]


@pytest.fixture
def origin_toolkit(tmp_path):
    prices = {"AAPL": "100", "MSFT": "200", "TSLA": "250"}
    settings = sim_settings(tmp_path, broker_options={"sim": {"prices": prices}})
    with BrokerToolkit.from_config(settings, agent_id="origin") as toolkit:
        yield toolkit


def _check(replies: dict[str, ToolMessage]) -> None:
    aapl, tsla, msft = (replies[f"o-{n}"] for n in range(3))
    assert (aapl.artifact["status"], aapl.artifact["qty"], aapl.artifact["side"]) == (
        "filled",
        "10",
        "buy",
    )
    assert (tsla.artifact["status"], tsla.artifact["notional"]) == ("filled", "1000")
    assert (msft.artifact["order_type"], msft.artifact["limit_price"]) == ("limit", "195")
    assert aapl.content.startswith("Order sent. Order ")
    assert "BUY 10 shares of AAPL, market, day. Status: filled" in aapl.content


def test_the_origin_examples_run_through_a_tool_node(origin_toolkit):
    tools = by_name(origin_toolkit)
    replies = {
        f"o-{n}": call(tools["execute_trade"], args, id=f"o-{n}")
        for n, args in enumerate(ORIGIN_EXAMPLES)
    }
    _check(replies)


def test_the_origin_examples_run_as_a_bound_models_tool_calls(origin_toolkit):
    model = ScriptedChatModel(
        script=[
            *(tool_call("execute_trade", a, id=f"o-{n}") for n, a in enumerate(ORIGIN_EXAMPLES)),
            say("three orders placed"),
        ]
    )
    app = tool_graph(model, origin_toolkit.get_tools())
    out = app.invoke({"messages": [HumanMessage("Trade as the design says.")]})
    replies = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    _check(replies)
    assert {i.source for i in origin_toolkit.broker.journal.intents()} == {"agent"}


def test_the_model_sees_one_schema_in_the_origin_words(origin_toolkit):
    tools = by_name(origin_toolkit)
    trade = convert_to_openai_tool(tools["execute_trade"])["function"]["parameters"]
    assert list(trade["properties"])[:6] == [
        "symbol",
        "action",
        "quantity",
        "dollar_amount",
        "order_type",
        "limit_price",
    ]
    assert sorted(trade["required"]) == ["action", "symbol"]
    assert not {"side", "qty", "notional"} & set(trade["properties"])
    preview = convert_to_openai_tool(tools["preview_order"])["function"]["parameters"]
    assert preview["properties"] == trade["properties"]
    close = convert_to_openai_tool(tools["close_position"])["function"]["parameters"]
    assert list(close["properties"]) == ["symbol", "quantity", "percentage"]
    status = convert_to_openai_tool(tools["check_order_status"])["function"]["parameters"]
    assert "order_id" in status["properties"]
    assert (
        convert_to_openai_tool(tools["get_account_status"])["function"]["parameters"]["properties"]
        == {}
    )


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        (
            "execute_trade",
            {"symbol": "AAPL", "action": "buy", "quantity": 1, "dollar_amount": 100},
            "give either quantity or dollar_amount, not both",
        ),
        ("execute_trade", {"symbol": "AAPL", "action": "buy"}, "quantity (shares) or"),
        ("execute_trade", {"symbol": "AAPL", "action": "buy", "quantity": -1}, "quantity: "),
        ("execute_trade", {"symbol": "AAPL", "action": "hold", "quantity": 1}, "action: "),
        (
            "preview_order",
            {"symbol": "AAPL", "action": "buy", "dollar_amount": "10.001"},
            "dollar_amount 10.001 has more than 2 decimal places",
        ),
        ("close_position", {"symbol": "AAPL", "quantity": 1, "percentage": 5}, "quantity or "),
        ("execute_trade", {"symbol": "AAPL", "side": "buy", "qty": 1}, "side: Extra inputs"),
        ("close_position", {"symbol": "AAPL", "qty": 1}, "qty: Extra inputs"),
    ],
)
def test_errors_name_the_arguments_as_the_model_wrote_them(origin_toolkit, tool, args, says):
    reply: Any = call(by_name(origin_toolkit)[tool], args)
    assert reply.status == "error"
    assert says in reply.content
    if tool != "close_position" and "Extra inputs" not in says:
        assert " qty" not in reply.content
        assert "notional" not in reply.content
