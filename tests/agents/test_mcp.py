"""The MCP server, through the SDK's in-process client: the tools, their answers,
provenance in the journal, and asking a person before a live order (elicitation).

Every test runs on both protocol eras the SDK speaks: ``"auto"`` settles on
2026-07-28 (a live order's question travels as an ``InputRequiredResult``) and
``"legacy"`` on the 2025-11-25 handshake (the server asks while the call waits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tradingagents_brokers.mcp_server import BrokerMCPServer, Confirmer
from tradingagents_brokers.mcp_server.confirm import FORM, KEY, read_form
from tradingagents_brokers.tools import READ_TOOLS, WRITE_TOOLS, BrokerToolkit

from .conftest import sim_settings

ERAS = ["auto", "legacy"]
BUY = {"symbol": "AAPL", "action": "buy", "quantity": 3}

Answer = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult]]


def answering(action: str = "accept", **content: Any) -> tuple[Answer, list[str]]:
    """An elicitation callback that answers every form the same way, and what it was asked."""
    asked: list[str] = []

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        assert params.requested_schema == FORM
        return types.ElicitResult(action=action, content=content or None)

    return answer, asked


@pytest.fixture
def make_server(tmp_path: Path):
    made: list[BrokerMCPServer] = []

    def make(*, confirm_paper_orders: bool = False, timeout: float = 300.0, **config: Any):
        served = BrokerMCPServer.from_config(
            sim_settings(tmp_path, **config),
            confirm_paper_orders=confirm_paper_orders,
            confirm_timeout=timeout,
        )
        made.append(served)
        return served

    yield make
    for served in made:
        served.close()


def client(
    served: BrokerMCPServer, era: str = "auto", *, elicit: Answer | None = None, name: str = "desk"
) -> Client:
    return Client(
        served.server,
        mode=era,
        elicitation_callback=elicit,
        client_info=types.Implementation(name=name, version="1.0"),
    )


def intents(served: BrokerMCPServer) -> list[Any]:
    return served.toolkit.broker.journal.intents()


def events(served: BrokerMCPServer, kind: str) -> list[dict[str, Any]]:
    return [e for e in served.toolkit.broker.journal.events() if e["kind"] == kind]


# -- the tools -----------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_the_tools_are_the_toolkits_with_what_they_do_as_hints(make_server, era):
    served = make_server()
    async with client(served, era) as mcp:
        listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    assert list(listed) == list(READ_TOOLS + WRITE_TOOLS)
    for name in READ_TOOLS:
        hints = listed[name].annotations
        assert hints.destructive_hint is False
        assert hints.read_only_hint is (name != "halt_trading")
    for name in WRITE_TOOLS:
        hints = listed[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint) == (False, True)
    trade = listed["execute_trade"].input_schema
    assert trade["additionalProperties"] is False
    assert {"symbol", "action", "quantity", "dollar_amount", "limit_price"} <= set(
        trade["properties"]
    )
    assert trade["required"] == ["symbol", "action"]


async def test_without_auto_execute_only_reading_previewing_and_halting_are_served(make_server):
    served = make_server(auto_execute_trades=False)
    async with client(served) as mcp:
        names = [tool.name for tool in (await mcp.list_tools()).tools]
        refused = await mcp.call_tool("execute_trade", BUY)
    assert names == list(READ_TOOLS)
    assert refused.is_error
    assert refused.content[0].text.startswith(
        "Error [tool_not_offered]: the tool execute_trade is not offered on this server (it "
        "changes orders and auto_execute_trades is off). Nothing was done."
    )
    assert served.toolkit.broker.get_orders("all") == []


def test_a_toolkit_journals_its_orders_as_an_agents_or_as_mcp(tmp_path):
    with pytest.raises(ValueError, match="'agent' or 'mcp', got 'cli'"):
        BrokerToolkit.from_config(sim_settings(tmp_path), source="cli")  # type: ignore[arg-type]


def test_the_server_refuses_a_toolkit_that_would_journal_orders_as_an_agents(tmp_path):
    with (
        BrokerToolkit.from_config(sim_settings(tmp_path)) as toolkit,
        pytest.raises(ValueError, match="source='mcp'"),
    ):
        BrokerMCPServer(toolkit)


@pytest.mark.parametrize("era", ERAS)
async def test_a_result_is_the_models_text_and_the_structured_result(make_server, era):
    served = make_server()
    async with client(served, era) as mcp:
        account = await mcp.call_tool("get_account_status", {})
        bought = await mcp.call_tool("execute_trade", BUY)
        held = await mcp.call_tool("get_current_positions", {})
    assert not account.is_error
    assert account.content[0].text.startswith("Account SIM-")
    assert Decimal(account.structured_content["result"]["buying_power"]) == Decimal(100000)
    assert bought.content[0].text.startswith("Order sent. ")
    order = bought.structured_content["result"]
    assert (order["symbol"], order["qty"], order["status"]) == ("AAPL", "3", "filled")
    (position,) = held.structured_content["result"]
    assert (position["symbol"], position["qty"]) == ("AAPL", "3")


@pytest.mark.parametrize("era", ERAS)
async def test_orders_are_journaled_as_mcp_with_the_client_and_request_id(make_server, era):
    served = make_server()
    async with client(served, era, name="claude-desktop") as mcp:
        await mcp.call_tool("execute_trade", BUY)
        await mcp.call_tool("execute_trade", {**BUY, "quantity": 500})  # over the limits
        await mcp.call_tool("halt_trading", {"reason": "enough for today"})
    sent, refused = sorted(intents(served), key=lambda i: i.status != "filled")
    assert (sent.source, sent.status, refused.status) == ("mcp", "filled", "denied")
    contexts = [e["payload"]["context"] for e in events(served, "intent")]
    assert {c["source"] for c in contexts} == {"mcp"}
    assert {c["client"] for c in contexts} == {"claude-desktop"}
    ids = [c["request_id"] for c in contexts]
    assert len(set(ids)) == 2
    assert all(i.isdigit() for i in ids)
    (audit,) = events(served, "tool_refused")
    assert audit["payload"]["source"] == "mcp"
    assert audit["payload"]["client"] == "claude-desktop"
    assert audit["payload"]["codes"] == ["ORDER_VALUE_EXCEEDS_MAX", "POSITION_EXCEEDS_MAX"]
    (state,) = events(served, "trading_state")
    assert state["payload"]["by"] == "mcp"
    assert state["payload"]["context"]["client"] == "claude-desktop"


@pytest.mark.parametrize("era", ERAS)
async def test_errors_come_back_as_tool_errors_the_model_can_act_on(make_server, era):
    served = make_server()
    async with client(served, era) as mcp:
        extra = await mcp.call_tool("execute_trade", {**BUY, "broker_mode": "live"})
        negative = await mcp.call_tool("execute_trade", {**BUY, "quantity": -1})
        both = await mcp.call_tool("execute_trade", {**BUY, "dollar_amount": 100})
        missing = await mcp.call_tool("check_order_status", {"order_id": "no-such-order"})
        unknown = await mcp.call_tool("resume_trading", {"reason": "all good"})
    assert all(r.is_error for r in (extra, negative, both, missing, unknown))
    assert "broker_mode: Extra inputs are not permitted" in extra.content[0].text
    assert "quantity" in negative.content[0].text
    assert "quantity or dollar_amount" in both.content[0].text
    assert "Check the id or symbol" in missing.content[0].text
    listed = unknown.content[0].text.split("The tools are: ")[1]
    assert "halt_trading" in listed
    assert "resume" not in listed
    assert served.toolkit.broker.get_orders("all") == []
    assert served.toolkit.broker.mode.value == "paper"
    codes = [e["payload"]["codes"] for e in events(served, "tool_refused")]
    assert codes[:2] == [["INVALID_ARGUMENTS"], ["INVALID_ARGUMENTS"]]


# -- asking a person before a live order ----------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_a_live_order_is_sent_once_the_person_approves_in_the_form(make_server, era):
    served = make_server(broker_mode="live")
    answer, asked = answering(approve=True)
    async with client(served, era, elicit=answer) as mcp:
        sent = await mcp.call_tool("execute_trade", BUY)
    assert not sent.is_error, sent.content[0].text
    (question,) = asked
    assert "desk asks to send a LIVE order through sim" in question
    assert "BUY 3 shares of AAPL (market, day)" in question
    (intent,) = intents(served)
    assert intent.status == "filled"
    (recorded,) = events(served, "intent")
    assert recorded["payload"]["approval"] == {
        "approved": True,
        "approver": "person at MCP client 'desk'",
        "reason": "confirmed in the MCP client's form",
    }


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    ("action", "content", "why"),
    [
        ("decline", {}, "chose 'decline'"),
        ("cancel", {}, "chose 'cancel'"),
        ("accept", {"approve": False}, "did not tick"),
        ("accept", {"approve": "yes"}, "did not tick"),
    ],
)
async def test_anything_but_a_ticked_form_refuses(make_server, era, action, content, why):
    served = make_server(broker_mode="live")
    answer, asked = answering(action, **content)
    async with client(served, era, elicit=answer) as mcp:
        refused = await mcp.call_tool("execute_trade", BUY)
    assert refused.is_error
    assert "[CONFIRMATION_DENIED]" in refused.content[0].text
    assert why in refused.content[0].text
    assert "do not send it again unasked" in refused.content[0].text
    assert len(asked) == 1
    assert served.toolkit.broker.get_orders("all") == []
    assert [i.status for i in intents(served)] == ["denied"]


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_that_cannot_ask_gets_a_refusal_that_says_why(make_server, era):
    served = make_server(broker_mode="live")
    async with client(served, era, elicit=None, name="headless") as mcp:
        refused = await mcp.call_tool("execute_trade", BUY)
        paper_ok = await mcp.call_tool("preview_order", BUY)
    assert refused.is_error
    text = refused.content[0].text
    assert "MCP client 'headless' cannot ask one (it declared no elicitation support)" in text
    assert "nothing was sent" in text
    assert not paper_ok.is_error  # previews need no one
    assert served.toolkit.broker.get_orders("all") == []


async def test_paper_orders_are_asked_about_only_when_configured(make_server):
    quiet = make_server()
    careful = make_server(
        confirm_paper_orders=True,
        state_dir=str(Path(quiet.toolkit.broker.config["state_dir"]).parent / "careful"),
    )
    answer, asked = answering(approve=True)
    async with client(quiet, elicit=answer) as mcp:
        assert not (await mcp.call_tool("execute_trade", BUY)).is_error
    assert asked == []
    async with client(careful, elicit=answer) as mcp:
        assert not (await mcp.call_tool("execute_trade", BUY)).is_error
    assert len(asked) == 1
    assert "PAPER order" in asked[0]


async def test_nobody_answering_in_time_refuses(make_server):
    served = make_server(broker_mode="live", timeout=0.2)

    async def never(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        await anyio.sleep(30)
        raise AssertionError("not reached")

    async with client(served, "legacy", elicit=never) as mcp:
        refused = await mcp.call_tool("execute_trade", BUY)
    assert "nobody answered within 0.2 seconds" in refused.content[0].text
    assert served.toolkit.broker.get_orders("all") == []


async def test_a_client_failing_to_ask_refuses(make_server):
    served = make_server(broker_mode="live")

    async def broken(context: Any, params: types.ElicitRequestParams) -> types.ErrorData:
        return types.ErrorData(code=-32603, message="no window to show it in")

    async with client(served, "legacy", elicit=broken) as mcp:
        refused = await mcp.call_tool("execute_trade", BUY)
    assert "the client could not ask the person (MCPError)" in refused.content[0].text
    assert served.toolkit.broker.get_orders("all") == []


# -- the round trip's ticket (2026-07-28) ---------------------------------------------------


async def _ask(mcp: Client, args: dict[str, Any]) -> types.InputRequiredResult:
    first = await mcp.session.call_tool("execute_trade", args, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult)
    assert first.input_requests[KEY].params.requested_schema == FORM
    return first


def _yes() -> dict[str, Any]:
    return {KEY: types.ElicitResult(action="accept", content={"approve": True})}


async def _retry(mcp: Client, args: dict[str, Any], ticket: str | None) -> types.CallToolResult:
    result = await mcp.session.call_tool(
        "execute_trade",
        args,
        input_responses=_yes(),
        request_state=ticket,
        allow_input_required=True,
    )
    assert isinstance(result, types.CallToolResult)
    return result


async def test_a_ticket_answers_one_question_about_one_order(make_server):
    served = make_server(broker_mode="live")
    answer, _ = answering(approve=True)
    async with client(served, elicit=answer) as mcp:
        asked = await _ask(mcp, BUY)
        assert served.toolkit.broker.get_orders("all") == []  # asking sends nothing
        other = await _retry(mcp, {**BUY, "quantity": 4}, asked.request_state)
        again = await _ask(mcp, BUY)
        forged = await _retry(mcp, BUY, "made-up-ticket")
        sent = await _retry(mcp, BUY, again.request_state)
        reused = await _retry(mcp, {**BUY, "quantity": 2}, again.request_state)
    assert "the answer is for another order" in other.content[0].text
    assert "unknown or expired" in forged.content[0].text
    assert not sent.is_error
    assert "unknown or expired" in reused.content[0].text
    assert [o.qty for o in served.toolkit.broker.get_orders("all")] == [Decimal(3)]


async def test_an_answer_after_the_timeout_refuses(make_server):
    served = make_server(broker_mode="live")
    now = [1000.0]
    served.confirmer._clock = lambda: now[0]
    answer, _ = answering(approve=True)
    async with client(served, elicit=answer) as mcp:
        asked = await _ask(mcp, BUY)
        now[0] += served.confirmer.timeout
        late = await _retry(mcp, BUY, asked.request_state)
    assert "unknown or expired" in late.content[0].text
    assert served.toolkit.broker.get_orders("all") == []


def test_questions_waiting_are_bounded(make_server):
    from tradingagents_brokers.mcp_server import confirm
    from tradingagents_brokers.mcp_server.confirm import Exchange, serving
    from tradingagents_brokers.tools.approval import ApprovalPending, ApprovalRequest

    now = [0.0]
    confirmer = Confirmer(timeout=60, clock=lambda: now[0])
    request = ApprovalRequest(
        action="execute_trade", summary="BUY 1", broker="sim", mode="live", details={}
    )
    tickets = []
    for n in range(confirm.MAX_WAITING + 5):
        exchange = Exchange(tool="execute_trade", arguments={"n": n}, client="c", can_ask=True)
        with serving(exchange), pytest.raises(ApprovalPending) as pending:
            confirmer(request)
        tickets.append(pending.value.ticket.request_state)
    assert len(confirmer._waiting) == confirm.MAX_WAITING
    assert set(confirmer._waiting) == set(tickets[5:])
    now[0] = 60.0  # every question so far expires
    with serving(exchange), pytest.raises(ApprovalPending) as pending:
        confirmer(request)
    assert list(confirmer._waiting) == [pending.value.ticket.request_state]


def test_the_approver_refuses_outside_a_call_and_reads_only_a_ticked_form():
    request_args = {"action": "execute_trade", "summary": "BUY 1", "broker": "sim", "mode": "live"}
    from tradingagents_brokers.tools.approval import ApprovalRequest

    outside = Confirmer()(ApprovalRequest(**request_args, details={}))
    assert not outside.approved
    assert "nobody to ask" in outside.reason
    assert read_form({"action": "accept", "content": {"approve": True}}, "p").approved
    assert not read_form({"action": "bogus"}, "p").approved
    assert not read_form(None, "p").approved
    with pytest.raises(ValueError, match="positive"):
        Confirmer(timeout=0)


# -- a plugin's own tools -------------------------------------------------------------------


async def test_a_plugins_tool_is_served_through_langchain(tmp_path):
    from langchain_core.tools import ToolException

    from tradingagents_brokers import PluginHost, get_broker

    from .test_toolkit import _Echo, _offer

    class _Broken(_Echo):
        name: str = "sim_broken"
        handle_tool_error: bool = True

        def _run(self, text: str = "") -> str:
            raise ToolException(f"cannot echo {text!r} today")

    config = sim_settings(tmp_path)
    host = PluginHost.from_config(config)
    _offer(host, _Echo(metadata={"read_only": True}), _Broken(metadata={"read_only": True}))
    gated = get_broker("sim", config=config, host=host)
    toolkit = BrokerToolkit.from_broker(gated, approval=Confirmer(), source="mcp")
    served = BrokerMCPServer(toolkit, toolkit.approval)
    try:
        async with client(served) as mcp:
            listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
            echoed = await mcp.call_tool("sim_echo", {"text": "hello"})
            broken = await mcp.call_tool("sim_broken", {"text": "hi"})
    finally:
        gated.close()
    assert listed["sim_echo"].input_schema["properties"]["text"]["type"] == "string"
    assert listed["sim_echo"].annotations.read_only_hint is True
    assert (echoed.is_error, echoed.content[0].text) == (False, "hello")
    assert (broken.is_error, broken.content[0].text) == (True, "cannot echo 'hi' today")
