"""BrokerToolkit: which tools it holds, what they say, and what they journal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from tradingagents_brokers import OrderContext, hookimpl
from tradingagents_brokers.errors import (
    BrokerAPIError,
    BrokerAuthenticationError,
    BrokerRateLimitError,
    InsufficientFundsError,
    NotFoundError,
    OrderOutcomeUnknownError,
)
from tradingagents_brokers.safety.state import NotPermittedError
from tradingagents_brokers.tools import READ_TOOLS, WRITE_TOOLS, BrokerToolkit, explain
from tradingagents_brokers.tools.schemas import OrderArgs

from .conftest import by_name, call, import_error_without


def _events(toolkit: BrokerToolkit, kind: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in toolkit.broker.journal.events() if e["kind"] == kind]


# -- what a toolkit holds ------------------------------------------------------------


def test_the_default_toolkit_is_read_only_plus_preview_and_halt(make_toolkit):
    toolkit = make_toolkit(auto_execute_trades=False)
    assert [t.name for t in toolkit.get_tools()] == list(READ_TOOLS)
    assert not toolkit.writable
    for tool in toolkit.get_tools():
        assert tool.metadata["destructive"] is False
        assert tool.metadata["sends_orders"] is False


def test_every_tool_has_a_short_repr_without_configuration_or_credentials(toolkit, canary):
    import logging

    for tool in toolkit.get_tools():
        text = repr(tool)
        assert text == str(tool)
        kind = "read-only" if tool.metadata["read_only"] else "acting"
        assert text == f"<BrokerTool {tool.name} ({kind})>"
        assert canary not in text
        assert "state_dir" not in text
        logging.getLogger("test").warning("tool %r", tool)  # a logger can show it


def test_write_tools_come_only_with_auto_execute_trades(toolkit):
    names = [t.name for t in toolkit.get_tools()]
    assert names == [*READ_TOOLS, *WRITE_TOOLS]
    meta = {t.name: t.metadata for t in toolkit.get_tools()}
    assert meta["execute_trade"] == {
        "broker": "sim",
        "read_only": False,
        "destructive": True,
        "sends_orders": True,
        "idempotent": False,
    }
    assert meta["get_orders"]["read_only"] is True
    assert meta["halt_trading"]["read_only"] is False
    assert meta["halt_trading"]["destructive"] is False


def test_no_tool_can_resume_change_limits_switch_mode_or_read_credentials(toolkit):
    names = " ".join(t.name for t in toolkit.get_tools())
    for word in ("resume", "config", "limit", "mode", "credential", "key", "secret"):
        assert word not in names
    for tool in toolkit.get_tools():
        fields = set(tool.get_input_schema().model_fields)
        assert not fields & {"broker_mode", "auto_execute_trades", "max_order_value", "config"}


def test_every_tool_follows_the_naming_and_schema_rules(toolkit):
    for tool in toolkit.get_tools():
        assert isinstance(tool, BaseTool)
        assert tool.response_format == "content_and_artifact"
        assert tool.handle_tool_error is True
        assert len(tool.description) > 150, tool.name
        assert tool.args_schema.model_config["extra"] == "forbid"
        with pytest.raises(ValidationError):
            tool.get_input_schema()(unexpected=1)


def test_a_prefix_is_put_before_every_name_and_checked(make_toolkit):
    toolkit = make_toolkit(options={"prefix": "paper_"})
    assert all(t.name.startswith("paper_") for t in toolkit.get_tools())
    with pytest.raises(ValueError, match="not valid"):
        make_toolkit(options={"prefix": "my broker."})


def test_an_unknown_approval_mode_is_refused(make_toolkit):
    with pytest.raises(ValueError, match="'interrupt' or a callable"):
        make_toolkit(options={"approval": "yes please"})


def test_the_toolkit_closes_the_broker_it_built(make_toolkit):
    with make_toolkit() as toolkit:
        journal = toolkit.broker.journal
    with pytest.raises(Exception, match="closed"):
        journal.events()


def test_from_broker_keeps_the_callers_broker_open(sim):
    toolkit = BrokerToolkit.from_broker(sim, agent_id="a")
    toolkit.close()
    assert sim.get_account().cash == Decimal("100000")


# -- plugin tools --------------------------------------------------------------------


class _Echo(BaseTool):
    name: str = "sim_echo"
    description: str = "Echo."

    def _run(self, text: str = "") -> str:
        return text


def _offer(toolkit_host: Any, *tools: BaseTool) -> None:
    class Offer:
        @hookimpl
        def register_tools(self, broker_name):
            return list(tools) if broker_name == "sim" else []

    toolkit_host.pm.register(Offer(), name="offer")


def test_plugin_tools_join_a_read_only_toolkit_only_when_marked_read_only(tmp_path):
    from tradingagents_brokers import PluginHost, get_broker

    from .conftest import sim_settings

    for writable, read_only, expected in [
        (False, True, True),
        (False, None, False),
        (True, None, True),
    ]:
        config = sim_settings(tmp_path / str(writable) / str(read_only))
        config["auto_execute_trades"] = writable
        host = PluginHost.from_config(config)
        tool = _Echo(metadata={"read_only": read_only} if read_only else None)
        _offer(host, tool)
        with BrokerToolkit.from_broker(get_broker("sim", config=config, host=host)) as toolkit:
            assert ("sim_echo" in by_name(toolkit)) is expected
            toolkit.broker.close()


def test_a_plugin_tool_may_not_shadow_a_core_tool(sim):
    _offer(sim.host, _Echo(name="get_orders", metadata={"read_only": True}))
    with pytest.raises(Exception, match="two tools are named 'get_orders'"):
        BrokerToolkit.from_broker(sim)


# -- read-only tools -----------------------------------------------------------------


def test_reads_answer_in_words_with_units_and_data_in_the_artifact(toolkit, tools):
    toolkit.broker.place_order(symbol="AAPL", side="buy", qty=10)
    account = call(tools["get_account_status"])
    assert "cash $99,000.00" in account.content
    assert "The broker's account status: ACTIVE." in account.content
    assert "This account's trading state (the safety gate): ACTIVE (" in account.content
    assert Decimal(account.artifact["cash"]) == 99000
    power = call(tools["get_buying_power"])
    assert power.content == "Buying power: $99,000.00."
    assert Decimal(power.artifact["buying_power"]) == 99000
    positions = call(tools["get_current_positions"])
    assert "- AAPL: 10 shares (long), average entry $100.00" in positions.content
    assert [p["symbol"] for p in positions.artifact] == ["AAPL"]
    none = call(tools["get_current_positions"], {"symbol": "msft"})
    assert (none.content, none.artifact) == ("No open position in MSFT.", [])
    orders = call(tools["get_orders"], {"status": "closed"})
    assert orders.content.startswith("1 order(s):")
    assert "Status: filled; filled 10 at $100.00 average." in orders.content
    empty = call(tools["get_orders"], {"status": "open"})
    assert empty.content == "No open orders."
    history = call(tools["get_portfolio_history"])
    assert history.content.startswith("Portfolio history (")
    assert history.artifact["base_value"] == "100000"


def test_order_status_by_either_id_and_not_both(toolkit, tools):
    order = toolkit.broker.place_order(
        symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=95
    )
    by_id = call(tools["check_order_status"], {"order_id": order.order_id})
    by_client = call(tools["check_order_status"], {"client_order_id": order.client_order_id})
    assert by_id.artifact == by_client.artifact == order.to_dict()
    assert "Not (fully) filled yet" in by_id.content
    both = call(tools["check_order_status"], {})
    assert both.status == "error"
    assert "give order_id or client_order_id" in both.content
    missing = call(tools["check_order_status"], {"order_id": "nope"})
    assert missing.status == "error"
    assert "Check the id or symbol with get_orders" in missing.content


def test_preview_runs_every_check_and_sends_nothing(toolkit, tools):
    ok = call(tools["preview_order"], {"symbol": "AAPL", "action": "buy", "quantity": 5})
    assert "would pass every risk check" in ok.content
    assert ok.artifact["allowed"] is True
    big = call(tools["preview_order"], {"symbol": "AAPL", "action": "buy", "quantity": 500})
    assert "would be REFUSED" in big.content
    assert "[ORDER_VALUE_EXCEEDS_MAX]" in big.content
    assert {r["code"] for r in big.artifact["reasons"]} >= {"ORDER_VALUE_EXCEEDS_MAX"}
    assert toolkit.broker.get_orders("all") == []
    assert toolkit.broker.journal.intents() == []


# -- order tools ---------------------------------------------------------------------


def test_an_agent_order_records_the_tool_call_agent_and_run(toolkit, tools):
    message = call(
        tools["execute_trade"], {"symbol": "AAPL", "action": "buy", "quantity": "2"}, id="call-abc"
    )
    assert message.content.startswith("Order sent. Order ")
    assert message.artifact["status"] == "filled"
    (intent,) = toolkit.broker.journal.intents()
    assert intent.client_order_id == message.artifact["client_order_id"]
    assert intent.client_order_id.startswith("tab-tc-")
    (payload,) = _events(toolkit, "intent")
    given = {k: v for k, v in payload["context"].items() if v is not None and v is not False}
    assert given == {  # the journal may leave out what is None or False
        "source": "agent",
        "agent_id": "agent-7",
        "run_id": "run-1",
        "tool_call_id": "call-abc",
    }


def test_the_same_tool_call_replayed_is_carried_out_once(toolkit, tools):
    args = {"symbol": "AAPL", "action": "buy", "quantity": "2"}
    first = call(tools["execute_trade"], args, id="call-x")
    again = call(tools["execute_trade"], args, id="call-x")
    assert again.content.startswith("This tool call was already carried out")
    assert again.artifact == first.artifact
    assert len(toolkit.broker.get_orders("all")) == 1
    other = call(tools["execute_trade"], args, id="call-y")
    assert other.status == "error"
    assert "[DUPLICATE_ORDER]" in other.content


def test_brackets_and_stop_losses_become_attached_orders(toolkit):
    args = OrderArgs(symbol="AAPL", action="buy", quantity=Decimal(1), stop_loss_price=Decimal(90))
    assert toolkit._request(args, None).order_class.value == "oto"
    both = args.model_copy(update={"take_profit_price": Decimal(120)})
    request = toolkit._request(both, None)
    assert request.order_class.value == "bracket"
    assert (request.stop_loss.stop_price, request.take_profit.limit_price) == (90, 120)


def test_an_attached_order_the_broker_cannot_take_is_explained(tools):
    message = call(
        tools["execute_trade"],
        {"symbol": "AAPL", "action": "buy", "quantity": 1, "stop_loss_price": 90},
    )
    assert message.status == "error"
    assert "does not support order class 'oto'" in message.content
    assert "Nothing was sent. Fix the arguments" in message.content


def test_cancel_and_close(toolkit, tools):
    resting = toolkit.broker.place_order(
        symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=95
    )
    canceled = call(tools["cancel_order"], {"order_id": resting.order_id}, id="call-c")
    assert canceled.artifact["status"] == "canceled"
    assert "Cancel requested." in canceled.content
    (cancel,) = _events(toolkit, "cancel_requested")
    assert cancel["tool_call_id"] == "call-c"
    toolkit.broker.place_order(symbol="MSFT", side="buy", qty=4)
    half = call(tools["close_position"], {"symbol": "MSFT", "percentage": 50}, id="call-h")
    assert half.content.startswith("Closing order sent.")
    assert toolkit.broker.get_position("MSFT").qty == 2
    (close,) = _events(toolkit, "close")
    assert (close["source"], close["tool_call_id"], close["agent_id"]) == (
        "agent",
        "call-h",
        "agent-7",
    )


def test_halt_is_final_for_the_agent(toolkit, tools):
    halted = call(tools["halt_trading"], {"reason": "prices look wrong"}, id="call-h")
    assert "HALTED" in halted.content
    assert halted.artifact["state"] == "halted"
    (state,) = _events(toolkit, "trading_state")
    assert state["context"] == {"agent_id": "agent-7", "run_id": "run-1", "tool_call_id": "call-h"}
    refused = call(tools["execute_trade"], {"symbol": "AAPL", "action": "buy", "quantity": 1})
    assert "[TRADING_HALTED]" in refused.content
    with pytest.raises(NotPermittedError):
        toolkit.broker.resume("agent wants back in", context=OrderContext(source="agent"))


def test_refused_calls_of_acting_tools_are_journaled_with_codes(toolkit, tools):
    call(tools["execute_trade"], {"symbol": "AAPL", "action": "buy", "quantity": -1}, id="c1")
    call(tools["execute_trade"], {"symbol": "AAPL", "action": "buy", "quantity": 500}, id="c2")
    call(tools["get_orders"], {"status": "pending"}, id="c3")  # a read: not journaled
    refused = _events(toolkit, "tool_refused")
    assert [(r["tool_call_id"], r["codes"]) for r in refused] == [
        ("c1", ["INVALID_ARGUMENTS"]),
        ("c2", ["ORDER_VALUE_EXCEEDS_MAX", "POSITION_EXCEEDS_MAX"]),
    ]
    assert refused[1]["arguments"]["quantity"] == "500"


def test_the_async_path_gives_the_same_answers(toolkit, tools):
    async def both():
        return await asyncio.gather(
            tools["get_buying_power"].ainvoke(
                {"type": "tool_call", "id": "a1", "name": "get_buying_power", "args": {}}
            ),
            tools["execute_trade"].ainvoke(
                {
                    "type": "tool_call",
                    "id": "a2",
                    "name": "execute_trade",
                    "args": {"symbol": "AAPL", "action": "buy", "quantity": "1"},
                }
            ),
        )

    power, order = asyncio.run(both())
    # the two calls race; the read sees the account before or after the buy
    assert Decimal(power.artifact["buying_power"]) in {Decimal(100000), Decimal(99900)}
    assert order.artifact["status"] == "filled"
    (payload,) = _events(toolkit, "intent")
    assert payload["context"]["tool_call_id"] == "a2"


def test_an_unexpected_failure_names_only_its_class(toolkit, tools, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("Authorization: Bearer sk-should-not-show")

    monkeypatch.setattr(toolkit.broker, "get_orders", boom)
    message = call(tools["get_orders"])
    assert message.status == "error"
    assert "RuntimeError" in message.content
    assert "Bearer" not in message.content
    assert "tool get_orders failed" in caplog.text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InsufficientFundsError("need $5,000"), "Check get_buying_power"),
        (NotFoundError("no order x"), "Check the id or symbol"),
        (BrokerRateLimitError("slow down", retry_after=3), "wait 3 seconds"),
        (BrokerRateLimitError("slow down"), "wait 60 seconds"),
        (BrokerAuthenticationError("401"), "A person must fix the broker setup"),
        (NotPermittedError("no"), "Only a person can do this"),
        (
            OrderOutcomeUnknownError("timeout", details={"client_order_id": "tab-1-2"}),
            "Do NOT place it again: call check_order_status with client_order_id=tab-1-2",
        ),
        (BrokerAPIError("503"), "Retrying later may help"),
    ],
)
def test_every_error_says_what_to_do_next(error, expected):
    text = explain(error)
    assert text.startswith(f"Error [{error.code}]: {error.message}")
    assert expected in text


def test_the_tools_module_explains_a_missing_extra():
    out = import_error_without("langchain_core", "tradingagents_brokers.tools")
    assert "python3 -m pip install '.[langchain]'" in out


def test_importing_the_core_loads_no_langchain():
    code = (
        "import sys, json, tradingagents_brokers\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('langchain', "
        "'langgraph', 'pydantic')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []
