"""Real LangGraph loops driven by a scripted model: trading, vetoes, and approvals."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

from tradingagents_brokers import Approval, OrderRequest
from tradingagents_brokers.approvals import answered
from tradingagents_brokers.testing.agents import ScriptedChatModel, say, tool_call
from tradingagents_brokers.tools import ApprovalRequest, BrokerToolkit

from .conftest import by_name, call

THREAD = {"configurable": {"thread_id": "thread-1"}}


def tool_graph(model: ScriptedChatModel, tools: list[Any], checkpointer: Any = None) -> Any:
    """The TradingAgents shape: an LLM node bound to tools, a ToolNode, a conditional edge."""

    def analyst(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.bind_tools(tools).invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("analyst", analyst)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "analyst")
    graph.add_conditional_edges("analyst", tools_condition, ["tools", END])
    graph.add_edge("tools", "analyst")
    return graph.compile(checkpointer=checkpointer)


def agent_graph(model: ScriptedChatModel, tools: list[Any], checkpointer: Any = None) -> Any:
    return create_agent(model, tools=tools, checkpointer=checkpointer)


def _last_tool_text(messages: list[BaseMessage]) -> str:
    last = messages[-1]
    assert isinstance(last, ToolMessage)
    return str(last.content)


def _corrected(messages: list[BaseMessage]) -> Any:
    """Read the veto, find the order-value limit in it, and buy what fits under it."""
    veto = _last_tool_text(messages)
    assert "[ORDER_VALUE_EXCEEDS_MAX]" in veto
    limit = Decimal(re.search(r"exceeds max_order_value (\d+)", veto).group(1))
    qty = int(limit / 2 / 100)  # half the limit at $100 a share
    args = {"symbol": "AAPL", "action": "buy", "quantity": qty}
    return tool_call("execute_trade", args, id="t-fix")


@pytest.mark.parametrize("build", [tool_graph, agent_graph], ids=["ToolNode", "create_agent"])
def test_an_agent_checks_buys_reads_a_veto_corrects_and_closes(toolkit, build):
    model = ScriptedChatModel(
        script=[
            tool_call("get_account_status", id="t-acct"),
            tool_call(
                "execute_trade", {"symbol": "AAPL", "action": "buy", "quantity": 500}, id="t-big"
            ),
            _corrected,
            tool_call("close_position", {"symbol": "AAPL"}, id="t-close"),
            say("Bought 50 AAPL within the limits and closed the position."),
        ]
    )
    app = build(model, toolkit.get_tools())
    out = app.invoke({"messages": [HumanMessage("Buy Apple, then close it.")]})
    assert model.remaining == 0
    assert out["messages"][-1].content.startswith("Bought 50 AAPL")
    replies = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert replies["t-acct"].content.startswith("Account SIM-")
    assert replies["t-big"].status == "error"
    assert replies["t-fix"].artifact["status"] == "filled"
    assert replies["t-fix"].artifact["qty"] == "50"
    assert replies["t-close"].artifact["side"] == "sell"
    assert toolkit.broker.get_positions() == []
    journal = toolkit.broker.journal
    oldest_first = journal.intents()[::-1]
    assert [(i.status, i.qty) for i in oldest_first] == [("denied", 500), ("filled", 50)]
    contexts = [
        e["payload"]["context"]["tool_call_id"] for e in journal.events() if e["kind"] == "intent"
    ]
    assert contexts == ["t-big", "t-fix"]
    kinds = [
        (e["kind"], e["payload"].get("tool_call_id"))
        for e in journal.events()
        if e["kind"] in ("tool_refused", "close")
    ]
    assert kinds == [("tool_refused", "t-big"), ("close", "t-close")]


# -- approvals -----------------------------------------------------------------------

BUY = {"symbol": "AAPL", "action": "buy", "quantity": 3}


def _live(make_toolkit, **options: Any) -> BrokerToolkit:
    return make_toolkit(broker_mode="live", options=options)


def _paused(toolkit: BrokerToolkit, build=tool_graph) -> tuple[Any, dict[str, Any]]:
    model = ScriptedChatModel(
        script=[tool_call("execute_trade", BUY, id="t-live"), say("finished")]
    )
    app = build(model, toolkit.get_tools(), InMemorySaver())
    out = app.invoke({"messages": [HumanMessage("buy 3 AAPL")]}, THREAD)
    (pause,) = out["__interrupt__"]
    return app, pause.value


@pytest.mark.parametrize("build", [tool_graph, agent_graph], ids=["ToolNode", "create_agent"])
def test_a_live_order_waits_for_approval_then_goes_out(make_toolkit, build):
    toolkit = _live(make_toolkit)
    app, asked = _paused(toolkit, build)
    assert asked["type"] == "order_approval"
    assert asked["summary"] == "BUY 3 shares of AAPL (market, day)"
    assert (asked["mode"], asked["tool_call_id"]) == ("live", "t-live")
    assert toolkit.broker.get_orders("all") == []
    assert toolkit.broker.journal.intents() == []
    out = app.invoke(Command(resume={"type": "approve", "message": "ok by Dana"}), THREAD)
    reply = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert reply.artifact["status"] == "filled"
    (intent,) = [e["payload"] for e in toolkit.broker.journal.events() if e["kind"] == "intent"]
    assert intent["approval"] == {
        "approved": True,
        "approver": "human (LangGraph interrupt)",
        "reason": "ok by Dana",
    }


def test_a_rejected_live_order_is_journaled_and_never_sent(make_toolkit):
    toolkit = _live(make_toolkit)
    app, _ = _paused(toolkit)
    out = app.invoke(Command(resume={"type": "reject", "message": "too early"}), THREAD)
    reply = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert reply.status == "error"
    assert "[CONFIRMATION_DENIED] too early" in reply.content
    assert toolkit.broker.get_orders("all") == []
    (intent,) = toolkit.broker.journal.intents()
    assert intent.status == "denied"


@pytest.mark.parametrize("answer", ["maybe", {"type": "edit"}, 1, {"decision": "approve"}])
def test_an_unreadable_answer_refuses(make_toolkit, answer):
    toolkit = _live(make_toolkit)
    app, _ = _paused(toolkit)
    out = app.invoke(Command(resume=answer), THREAD)
    reply = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert "neither approve nor reject" in reply.content
    assert toolkit.broker.get_orders("all") == []


def test_a_live_order_outside_a_graph_is_not_sent(make_toolkit):
    toolkit = _live(make_toolkit)
    reply = call(by_name(toolkit)["execute_trade"], BUY)
    assert reply.status == "error"
    assert "needs a person's approval" in reply.content
    assert toolkit.broker.get_orders("all") == []


def test_a_risk_veto_is_not_put_to_a_person(make_toolkit):
    asked: list[ApprovalRequest] = []
    toolkit = _live(make_toolkit, approval=asked.append)
    reply = call(by_name(toolkit)["execute_trade"], {**BUY, "quantity": 500})
    assert "[ORDER_VALUE_EXCEEDS_MAX]" in reply.content
    assert asked == []


@pytest.mark.parametrize(
    ("answer", "sent", "approver"),
    [
        (True, True, "approve"),
        (Approval(True, "risk-desk", "fine"), True, "risk-desk"),
        (False, False, "approve"),
        ("approve", True, "approve"),
        (RuntimeError("approver down"), False, "approve"),
    ],
)
def test_a_callback_approves_for_scripts(make_toolkit, answer, sent, approver):
    def approve(request: ApprovalRequest) -> Any:
        assert request.summary == "BUY 3 shares of AAPL (market, day)"
        assert request.details["request"]["qty"] == "3"
        if isinstance(answer, Exception):
            raise answer
        return answer

    toolkit = _live(make_toolkit, approval=approve)
    reply = call(by_name(toolkit)["execute_trade"], BUY)
    assert (reply.status != "error") is sent
    assert len(toolkit.broker.get_orders("all")) == int(sent)
    (intent,) = [e["payload"] for e in toolkit.broker.journal.events() if e["kind"] == "intent"]
    assert intent["approval"]["approver"] == approver


def test_paper_orders_ask_only_when_told_to(make_toolkit):
    asked: list[ApprovalRequest] = []
    plain = make_toolkit(options={"approval": asked.append})
    call(by_name(plain)["execute_trade"], BUY, id="p1")
    assert asked == []
    careful = make_toolkit(options={"approval": asked.append, "confirm_paper_orders": True})
    reply = call(by_name(careful)["execute_trade"], {**BUY, "quantity": 4}, id="p2")
    assert len(asked) == 1
    assert "did not approve" in reply.content or "refused" in reply.content


def test_a_live_close_asks_first_and_a_refusal_is_journaled(make_toolkit):
    answers = iter([False, True])
    toolkit = _live(make_toolkit, approval=lambda request: next(answers))
    bought = OrderRequest(symbol="AAPL", side="buy", qty=4)
    with answered(bought, Approval(True, "dana")):  # a person's own live order
        toolkit.broker.submit(bought)
    tools = by_name(toolkit)
    refused = call(tools["close_position"], {"symbol": "AAPL"}, id="c1")
    assert "[CONFIRMATION_DENIED]" in refused.content
    assert toolkit.broker.get_position("AAPL").qty == 4
    closed = call(tools["close_position"], {"symbol": "AAPL"}, id="c2")
    assert closed.artifact["qty"] == "4"
    answers_logged = [
        (e["payload"]["approved"], e["payload"]["tool_call_id"])
        for e in toolkit.broker.journal.events()
        if e["kind"] == "confirmation" and e["payload"].get("action") == "close"
    ]
    assert answers_logged == [(False, "c1"), (True, "c2")]


def test_human_in_the_loop_middleware_reviews_tool_calls_of_create_agent(toolkit):
    model = ScriptedChatModel(script=[tool_call("execute_trade", BUY, id="m1"), say("done")])
    agent = create_agent(
        model,
        tools=toolkit.get_tools(),
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={"execute_trade": {"allowed_decisions": ["approve", "reject"]}}
            )
        ],
        checkpointer=InMemorySaver(),
    )
    out = agent.invoke({"messages": [HumanMessage("buy")]}, THREAD)
    (pause,) = out["__interrupt__"]
    assert pause.value["action_requests"][0]["args"] == BUY
    assert toolkit.broker.get_orders("all") == []
    agent.invoke(Command(resume={"decisions": [{"type": "reject", "message": "no"}]}), THREAD)
    assert toolkit.broker.get_orders("all") == []


def test_a_halt_and_a_cancel_never_wait_for_an_order_a_person_is_asked_about(make_toolkit):
    import threading

    asking = threading.Event()
    answer = threading.Event()

    def slow_person(request: ApprovalRequest) -> bool:
        asking.set()
        assert answer.wait(20), "never answered"
        return True

    toolkit = _live(make_toolkit, approval=slow_person)
    tools = by_name(toolkit)
    replies: list[Any] = []
    order = threading.Thread(
        target=lambda: replies.append(call(tools["execute_trade"], BUY, id="asked")), daemon=True
    )
    order.start()
    assert asking.wait(5), "the person was never asked"
    done = threading.Event()

    def halt() -> None:
        call(tools["halt_trading"], {"reason": "stop now"}, id="halt")
        call(tools["cancel_order"], {"order_id": "none-such"}, id="cancel")
        done.set()

    threading.Thread(target=halt, daemon=True).start()
    assert done.wait(5), "the halt waited for the person's answer"
    assert not answer.is_set()
    answer.set()  # approved after the halt: decided again, and refused
    order.join(10)
    assert "TRADING_HALTED" in replies[0].content
    assert toolkit.broker.get_orders("all") == []
