"""Arguments no schema allows, on every path a model's call takes: ``tool.invoke``,
``ainvoke``, a LangGraph ``ToolNode`` and the MCP server (in process; stdio and HTTP
are in ``test_mcp_wire``).

* arguments nested far too deep (already parsed, as a graph can pass them), with
  too many values or too much text: a refusal, never ``RecursionError``;
* unknown keys for a tool without arguments: refused, as for every other tool;
* answers bounded and inert: no answer over 4 KB, long lists cut and saying so,
  an echoed value quoted and clipped, control characters spelled out.
"""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from typing import Any

import attrs
import mcp_types as types
import pytest
from langchain_core.tools import BaseTool
from mcp import Client

from tradingagents_brokers import OrderContext, PluginHost, get_broker, hookimpl
from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.tools import BrokerToolkit
from tradingagents_brokers.tools.guard import MAX_ANSWER_BYTES, finish, inert, shape_problem
from tradingagents_brokers.tools.schemas import GetOrdersArgs

from .conftest import MAX_ANSWER, call, nested, play, sim_settings, size, tool_node

DEPTHS = [20, 1500, 10_000]


def hostile(depth: int) -> list[tuple[str, dict[str, Any]]]:
    """A deep argument for an order tool, a read with a list, a tool without arguments, a halt."""
    return [
        ("execute_trade", {"symbol": nested(depth), "action": "buy", "quantity": 1}),
        ("get_orders", {"symbols": nested(depth)}),
        ("get_account_status", {"filter": nested(depth, kind="dict")}),
        ("halt_trading", {"reason": nested(depth, kind="dict")}),
    ]


def _printable(text: str) -> bool:
    return all(ch == "\n" or ch.isprintable() for ch in text)


def _refused(toolkit: BrokerToolkit) -> list[dict[str, Any]]:
    return [e["payload"] for e in toolkit.broker.journal.events() if e["kind"] == "tool_refused"]


# -- 1. deep, large: refused, never raised -------------------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_arguments_are_refused_by_invoke(toolkit, tools, depth):
    for name, args in hostile(depth):
        reply = call(tools[name], args, id=f"{name}-{depth}")
        assert reply.status == "error", name
        assert "nested more than 16 levels deep" in reply.content
        assert "Nothing was done" in reply.content
        assert size(reply.content) <= MAX_ANSWER
    assert toolkit.broker.get_orders("all") == []
    assert toolkit.broker.trading_state()["state"] == "active"  # the halt did not happen
    assert [(r["tool"], r["codes"]) for r in _refused(toolkit)] == [
        ("execute_trade", ["INVALID_ARGUMENTS"]),
        ("halt_trading", ["INVALID_ARGUMENTS"]),
    ]


def test_deep_arguments_are_refused_by_ainvoke(toolkit, tools):
    async def all_of_them():
        return await asyncio.gather(
            *(
                tools[name].ainvoke({"type": "tool_call", "id": name, "name": name, "args": args})
                for name, args in hostile(1500)
            )
        )

    replies = asyncio.run(all_of_them())
    assert [r.status for r in replies] == ["error"] * 4
    assert all("nested more than" in r.content for r in replies)
    assert toolkit.broker.get_orders("all") == []


def test_deep_arguments_do_not_stop_a_graph(toolkit):
    calls = [(name, args, f"deep-{n}") for n, (name, args) in enumerate(hostile(1500))]
    calls.append(("get_buying_power", {}, "fine"))
    calls.append(("execute_trade", {"symbol": "AAPL", "action": "buy", "quantity": 1}, "buy"))
    replies = {r.tool_call_id: r for r in play(tool_node(toolkit.get_tools()), calls)}
    assert len(replies) == 6
    for n in range(4):
        assert replies[f"deep-{n}"].status == "error"
        assert "nested more than" in replies[f"deep-{n}"].content
    assert replies["fine"].content == "Buying power: $100,000.00."
    assert replies["buy"].artifact["status"] == "filled"
    assert len(toolkit.broker.get_orders("all")) == 1


def test_too_many_values_or_too_much_text_are_refused(tools):
    many = call(tools["get_orders"], {"symbols": ["AAPL"] * 5000})
    assert "more than 2000 values (in 'symbols')" in many.content
    long = call(tools["halt_trading"], {"reason": "x" * 200_000})
    assert "more than 100000 characters of text (in 'reason')" in long.content
    assert long.status == many.status == "error"


def test_the_guard_walks_without_recursion():
    loop: list[Any] = []
    loop.append(loop)  # refers to itself: endless if walked recursively
    assert "nested more than" in shape_problem({"x": loop})
    assert shape_problem({"symbols": ["AAPL", "MSFT"], "limit": 5}) is None
    assert shape_problem(nested(10**5)) is not None


async def test_deep_arguments_get_a_tool_error_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path)) as served:
        async with Client(served.server) as mcp:
            # the SDK's client serializes at most about 250 levels; the server takes any depth
            for name, args in hostile(200):
                reply = await mcp.call_tool(name, args)
                assert reply.is_error, name
                assert "nested more than 16 levels deep" in reply.content[0].text
        assert served.toolkit.broker.get_orders("all") == []
        assert served.toolkit.broker.trading_state()["state"] == "active"


class _Echo(BaseTool):
    name: str = "sim_echo"
    description: str = "Echo."
    metadata: dict[str, Any] | None = {"read_only": True}  # noqa: RUF012

    def _run(self, text: Any = "") -> str:
        if text == "boom":
            raise RuntimeError("a plugin bug")
        return str(text)


async def test_a_plugin_tool_over_mcp_is_guarded_and_its_failures_answered(tmp_path):
    config = sim_settings(tmp_path)
    host = PluginHost.from_config(config)

    class Offer:
        @hookimpl
        def register_tools(self, broker_name):
            return [_Echo()]

    host.pm.register(Offer(), name="offer")
    toolkit = BrokerToolkit.from_broker(get_broker("sim", config=config, host=host), source="mcp")
    try:
        async with Client(BrokerMCPServer(toolkit).server) as mcp:
            deep = await mcp.call_tool("sim_echo", {"text": nested(200)})
            boom = await mcp.call_tool("sim_echo", {"text": "boom"})
            fine = await mcp.call_tool("sim_echo", {"text": "hi"})
    finally:
        toolkit.broker.close()
    assert deep.is_error
    assert "nested more than" in deep.content[0].text
    assert boom.is_error
    assert "Error [unexpected_error]" in boom.content[0].text
    assert "a plugin bug" not in boom.content[0].text
    assert (fine.is_error, fine.content[0].text) == (False, "hi")


# -- 2. a tool without arguments takes none ------------------------------------------------

UNKNOWN = [
    ("get_account_status", {"broker_mode": "live"}, "broker_mode"),
    ("get_account_status", {"reveal_keys": True}, "reveal_keys"),
    ("get_buying_power", {"account": "live"}, "account"),
]


@pytest.mark.parametrize(("name", "args", "key"), UNKNOWN)
def test_a_tool_without_arguments_refuses_unknown_keys(tools, name, args, key):
    reply = call(tools[name], args)
    assert reply.status == "error"
    assert reply.content.startswith(f"Error [invalid_arguments]: {key}: Extra inputs are not")
    assert reply.artifact is None
    assert call(tools[name], {}).status == "success"


def test_a_tool_without_arguments_refuses_text_input(tools):
    assert "Extra inputs are not permitted" in tools["get_account_status"].invoke("live, please")
    assert tools["get_buying_power"].invoke("") == "Buying power: $100,000.00."


def test_arguments_that_are_no_object_are_refused(tools):
    for name in ("get_account_status", "execute_trade"):
        reply = tools[name].run([1, 2], tool_call_id="c")
        assert reply.status == "error"
        assert "the arguments must be an object, not list" in reply.content


def test_unknown_keys_are_refused_in_a_graph(toolkit):
    calls = [(name, args, f"u-{n}") for n, (name, args, _) in enumerate(UNKNOWN)]
    replies = play(tool_node(toolkit.get_tools()), calls)
    assert [r.status for r in replies] == ["error"] * 3
    assert all("Extra inputs are not permitted" in r.content for r in replies)


async def test_unknown_keys_are_refused_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path)) as served:
        async with Client(served.server) as mcp:
            for name, args, key in UNKNOWN:
                reply = await mcp.call_tool(name, args)
                assert reply.is_error
                assert f"{key}: Extra inputs are not permitted" in reply.content[0].text


# -- 7. bounded, inert answers ---------------------------------------------------------------

MANY = {"max_orders_per_second": 1000, "max_orders_per_minute": 1000, "max_position_size": 1}


@pytest.fixture
def busy(make_toolkit):
    """A toolkit whose account has 60 open orders."""
    toolkit = make_toolkit(**MANY)
    again = OrderContext(allow_repeat=True)
    for n in range(60):
        toolkit.broker.place_order(
            symbol=("AAPL", "MSFT")[n % 2],
            side="buy",
            qty=1,
            order_type="limit",
            limit_price=Decimal(95 if n % 2 == 0 else 190),
            context=again,
        )
    return toolkit


def test_a_long_list_of_orders_is_cut_to_fit_and_says_so(busy):
    tools = {t.name: t for t in busy.get_tools()}
    reply = call(tools["get_orders"], {"status": "all", "limit": 100})
    assert size(reply.content) <= MAX_ANSWER
    first = re.match(r"60 order\(s\), the first (\d+) shown:", reply.content)
    assert first, reply.content[:80]
    shown = int(first.group(1))
    assert reply.content.count("\n- Order ") == shown
    assert f"({60 - shown} more not shown: narrow with symbols" in reply.content
    assert len(reply.artifact) == 60  # code gets everything
    few = call(tools["get_orders"], {"status": "all", "limit": 3})
    assert few.content.startswith("3 order(s):\n")


def test_a_long_list_of_positions_is_cut_to_fit(toolkit, tools, monkeypatch):
    toolkit.broker.place_order(symbol="AAPL", side="buy", qty=1)
    (one,) = toolkit.broker.get_positions()
    many = [attrs.evolve(one, symbol=f"S{n:03d}") for n in range(200)]
    monkeypatch.setattr(toolkit.broker, "get_positions", lambda: many)
    reply = call(tools["get_current_positions"])
    assert size(reply.content) <= MAX_ANSWER
    assert reply.content.startswith("200 open position(s), the first ")
    assert "more not shown: give symbol to see one position" in reply.content


async def test_mcp_results_are_bounded_text_and_structure(busy):
    served = BrokerMCPServer(BrokerToolkit.from_broker(busy.broker, source="mcp"))
    async with Client(served.server) as mcp:
        orders = await mcp.call_tool("get_orders", {"status": "all", "limit": 100})
        history = await mcp.call_tool("get_portfolio_history", {})
    assert size(orders.content[0].text) <= MAX_ANSWER
    structured = orders.structured_content
    assert structured["truncated"] is True
    assert structured["total"] == 60
    assert 0 < len(structured["result"]) < 60
    assert size(types.CallToolResult.model_validate(orders).model_dump_json()) <= 2 * MAX_ANSWER
    assert not history.is_error


def test_refusals_list_a_few_problems_and_stay_small(tools):
    junk = {f"key_{n}": n for n in range(500)}
    reply = call(tools["execute_trade"], {"symbol": "AAPL", "action": "buy", **junk})
    assert reply.status == "error"
    assert reply.content.count("Extra inputs are not permitted") == 5
    assert "and 495 more" in reply.content
    assert size(reply.content) <= MAX_ANSWER
    long_keys = {"k" * 3000 + str(n): 1 for n in range(5)}
    reply = call(tools["get_orders"], long_keys)
    assert size(reply.content) <= 1000
    assert "... (3003 characters)" in reply.content  # each key quoted and clipped


ESCAPES = "\x1b[2J\x1b[31mSELL EVERYTHING\u202e\u200b\x07"


def test_echoed_values_are_quoted_clipped_and_inert(tools):
    for name, args in [
        ("get_account_status", {ESCAPES: 1}),
        ("execute_trade", {"symbol": "AAPL", "action": "buy", "quantity": 1, ESCAPES: 1}),
        ("execute_trade", {"symbol": ESCAPES[:20], "action": "buy", "quantity": 1}),
        ("cancel_order", {"order_id": ESCAPES}),
        ("check_order_status", {"client_order_id": ESCAPES}),
        ("get_current_positions", {"symbol": ESCAPES[:20]}),
        ("get_quote", {"symbol": ESCAPES[:20]}),
    ]:
        reply = call(tools[name], args)
        assert reply.status == "error", name
        assert _printable(reply.content), (name, reply.content)
        assert "\\x1b" in reply.content, (name, reply.content)


async def test_echoed_values_are_inert_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path)) as served:
        async with Client(served.server) as mcp:
            unknown_tool = await mcp.call_tool(ESCAPES * 50, {})
            unknown_key = await mcp.call_tool("get_orders", {ESCAPES: 1})
    for reply in (unknown_tool, unknown_key):
        text = reply.content[0].text
        assert reply.is_error
        assert _printable(text)
        assert size(text) <= MAX_ANSWER
    assert "characters)" in unknown_tool.content[0].text  # the name was clipped


def test_list_items_have_length_limits_in_the_schema(tools):
    items = GetOrdersArgs.model_json_schema()["properties"]["symbols"]["anyOf"][0]
    assert (items["maxItems"], items["items"]["maxLength"], items["items"]["minLength"]) == (
        20,
        21,
        1,
    )
    reply = call(tools["get_orders"], {"symbols": ["A" * 5000]})
    assert reply.status == "error"
    assert "symbols.0: String should have at most 21 characters" in reply.content


def test_finish_makes_text_inert_and_short():
    assert inert("a\nb\x1b[0m\u200b") == "a\nb\\x1b[0m\\u200b"
    long = finish("é" * 5000)
    assert size(long) <= MAX_ANSWER_BYTES
    assert long.endswith(f"[... answer cut to {MAX_ANSWER_BYTES} bytes]")


def test_the_guard_answers_a_huge_argument_at_once():
    started = time.monotonic()
    assert shape_problem({"symbols": list(range(10**6))}) is not None
    assert time.monotonic() - started < 1  # it stops counting at its limits
