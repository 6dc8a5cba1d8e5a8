"""``agent_tools``: the configuration chooses which tools an agent gets, for the
toolkit and the MCP server alike, and composes with the read-only switch
(``auto_execute_trades``). A tool left out is in no tool list; calling it anyway
does nothing and, over MCP, says why."""

from __future__ import annotations

import sys
from typing import Any

import mcp_types as types
import pytest
from langchain_core.tools import BaseTool
from mcp import Client, StdioServerParameters

from tradingagents_brokers import PluginHost, get_broker, hookimpl
from tradingagents_brokers.config import load_config
from tradingagents_brokers.environment import PREFIX
from tradingagents_brokers.errors import BrokerConfigurationError
from tradingagents_brokers.mcp_server import INSTRUCTIONS, BrokerMCPServer
from tradingagents_brokers.tools import READ_TOOLS, WRITE_TOOLS, BrokerToolkit

from .conftest import by_name, call, play, sim_settings, tool_node
from .test_mcp_transports import CLI

BUY = {"symbol": "AAPL", "action": "buy", "quantity": 2}
#: A risk desk's agent: it may look, cancel and close, never open.
DESK = ["get_orders", "get_current_positions", "cancel_order", "close_position", "halt_trading"]


# -- the key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("all", None),
        (" ALL ", None),
        ("", None),
        (["get_orders", "cancel_order"], ["get_orders", "cancel_order"]),
        ("get_orders, cancel_order", ["get_orders", "cancel_order"]),
        (["get_orders", " get_orders"], ["get_orders"]),
    ],
)
def test_the_key_takes_a_list_of_names_or_all(given, expected):
    assert load_config({"agent_tools": given}, environ={})["agent_tools"] == expected


@pytest.mark.parametrize("given", [[], [""], [1], {"get_orders": True}, 5, ","])
def test_the_key_refuses_what_is_no_list_of_names(given):
    with pytest.raises(BrokerConfigurationError, match="list of tool names") as caught:
        load_config({"agent_tools": given}, environ={})
    assert caught.value.details["key"] == "agent_tools"


def test_the_key_comes_from_the_environment_too():
    env = {f"{PREFIX}AGENT_TOOLS": "get_orders,close_position"}
    assert load_config(environ=env)["agent_tools"] == ["get_orders", "close_position"]
    assert load_config(environ={})["agent_tools"] is None  # the default: every tool


# -- the toolkit ---------------------------------------------------------------------------


def test_the_toolkit_offers_only_the_listed_tools(make_toolkit):
    toolkit = make_toolkit(agent_tools=DESK)
    assert list(by_name(toolkit)) == [
        "get_current_positions",
        "get_orders",
        "halt_trading",
        "cancel_order",
        "close_position",
    ]
    withheld = toolkit.withheld
    assert set(withheld) == set(READ_TOOLS + WRITE_TOOLS) - set(DESK)
    assert withheld["execute_trade"] == "the configuration's agent_tools does not list it"


def test_unset_means_every_tool(make_toolkit):
    toolkit = make_toolkit()
    assert list(by_name(toolkit)) == [*READ_TOOLS, *WRITE_TOOLS]
    assert toolkit.withheld == {}


def test_the_read_only_switch_still_wins(make_toolkit):
    toolkit = make_toolkit(auto_execute_trades=False, agent_tools=["get_orders", "execute_trade"])
    assert list(by_name(toolkit)) == ["get_orders"]
    assert toolkit.withheld["execute_trade"] == "it changes orders and auto_execute_trades is off"
    assert toolkit.withheld["cancel_order"] == "it changes orders and auto_execute_trades is off"
    assert toolkit.withheld["get_quote"] == "the configuration's agent_tools does not list it"


def test_halt_trading_may_be_left_out(make_toolkit):
    toolkit = make_toolkit(agent_tools=["get_quote", "preview_order"])
    assert list(by_name(toolkit)) == ["get_quote", "preview_order"]


def test_names_are_the_unprefixed_ones(tmp_path):
    config = sim_settings(tmp_path, agent_tools=["get_orders", "cancel_order"])
    with BrokerToolkit.from_config(config, prefix="sim_") as toolkit:
        assert list(by_name(toolkit)) == ["sim_get_orders", "sim_cancel_order"]
        assert "sim_execute_trade" in toolkit.withheld


def test_an_unknown_name_is_a_configuration_error_listing_the_tools(tmp_path, monkeypatch):
    closed: list[bool] = []
    from tradingagents_brokers.gateway import GatedBroker

    close = GatedBroker.close
    monkeypatch.setattr(GatedBroker, "close", lambda self: (closed.append(True), close(self)))
    config = sim_settings(tmp_path, agent_tools=["get_orders", "execute_trades", "\x1b[2Jx"])
    with pytest.raises(BrokerConfigurationError) as caught:
        BrokerToolkit.from_config(config)
    message = caught.value.message
    assert message.startswith(
        "configuration key 'agent_tools' names no tool called 'execute_trades', '\\x1b[2Jx'; "
        "the tools are: get_account_status, get_buying_power,"
    )
    for name in READ_TOOLS + WRITE_TOOLS:
        assert name in message
    assert closed == [True]  # the broker the toolkit opened is closed again


class _Echo(BaseTool):
    name: str = "sim_echo"
    description: str = "Echo."

    def _run(self, text: str = "") -> str:
        return text


def _with_plugin_tool(tmp_path: Any, **config: Any) -> BrokerToolkit:
    settings = sim_settings(tmp_path, **config)
    host = PluginHost.from_config(settings)

    class Offer:
        @hookimpl
        def register_tools(self, broker_name):
            return [_Echo(metadata={"read_only": True})]

    host.pm.register(Offer(), name="offer")
    return BrokerToolkit.from_broker(get_broker("sim", config=settings, host=host))


@pytest.mark.parametrize(
    ("listed", "offered"),
    [
        (None, True),
        (["get_orders"], False),
        (["get_orders", "sim_echo"], True),
    ],
)
def test_a_plugin_tool_is_a_tool_the_list_may_name(tmp_path, listed, offered):
    toolkit = _with_plugin_tool(tmp_path, agent_tools=listed)
    try:
        assert ("sim_echo" in by_name(toolkit)) is offered
        assert ("sim_echo" in toolkit.withheld) is not offered
    finally:
        toolkit.broker.close()


def test_a_graph_calling_a_tool_left_out_gets_an_error_and_nothing_happens(make_toolkit):
    toolkit = make_toolkit(agent_tools=DESK)
    assert "execute_trade" not in by_name(toolkit)
    replies = play(
        tool_node(toolkit.get_tools()),
        [("execute_trade", BUY, "c-1"), ("get_orders", {"status": "all"}, "c-2")],
    )
    assert [r.status for r in replies] == ["error", "success"]
    assert "execute_trade is not a valid tool" in replies[0].content
    assert toolkit.broker.get_orders("all") == []


def test_the_listed_tools_still_work(make_toolkit):
    toolkit = make_toolkit(agent_tools=DESK)
    toolkit.broker.place_order(symbol="AAPL", side="buy", qty=3)
    tools = by_name(toolkit)
    closed = call(tools["close_position"], {"symbol": "AAPL"})
    assert closed.status == "success", closed.content
    assert toolkit.broker.get_positions() == []


# -- the MCP server ------------------------------------------------------------------------


async def test_the_mcp_server_lists_only_the_listed_tools_and_refuses_the_others(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path, agent_tools=DESK)) as served:
        async with Client(served.server) as mcp:
            listed = [tool.name for tool in (await mcp.list_tools()).tools]
            refused = await mcp.call_tool("execute_trade", BUY)
            unknown = await mcp.call_tool("resume_trading", {})
            orders = await mcp.call_tool("get_orders", {"status": "all"})
        assert listed == served.tool_names == list(by_name(served.toolkit))
        assert "execute_trade" not in listed
        text = refused.content[0].text
        assert refused.is_error
        assert text.startswith(
            "Error [tool_not_offered]: the tool execute_trade is not offered on this server (the "
            "configuration's agent_tools does not list it). Nothing was done."
        )
        assert f"The tools you have are: {', '.join(listed)}." in text
        assert unknown.content[0].text.startswith("Error [unknown_tool]")
        assert not orders.is_error
        assert served.toolkit.broker.get_orders("all") == []
        assert served.toolkit.broker.journal.intents() == []


async def test_the_mcp_instructions_name_only_tools_offered(tmp_path):
    config = sim_settings(tmp_path, agent_tools=["get_orders", "get_quote"])
    with BrokerMCPServer.from_config(config) as served:
        async with Client(served.server) as mcp:
            said = mcp.instructions
    assert "get_quote shows the reference price" in said
    assert "halt_trading" not in said
    assert "preview_order" not in said
    assert "halt_trading stops all new orders" in INSTRUCTIONS


@pytest.mark.slow
async def test_the_stdio_server_started_by_the_command_keeps_the_list(tmp_path):
    config = tmp_path / "brokers.toml"
    config.write_text(
        f'trading_broker = "sim"\nstate_dir = "{tmp_path / "state"}"\n'
        'auto_execute_trades = true\nagent_tools = ["get_orders", "cancel_order"]\n'
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-c", CLI, "mcp", "--config", str(config)]
    )
    info = types.Implementation(name="desk", version="1")
    async with Client(params, client_info=info) as mcp:
        listed = [tool.name for tool in (await mcp.list_tools()).tools]
        refused = await mcp.call_tool("execute_trade", BUY)
    assert listed == ["get_orders", "cancel_order"]
    assert refused.is_error
    assert "[tool_not_offered]" in refused.content[0].text
