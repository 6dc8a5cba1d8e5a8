"""Answers a model can act on, over ``tool.invoke``, a LangGraph ``ToolNode`` and MCP.

* ``get_account_status`` says which status is the broker's (of the account) and
  which is the safety gate's trading state;
* ``get_quote``: the reference price the checks judge an order by, read-only;
* a refusal gives each reason its own next step: stop and tell the person when
  trading is halted, only reduce when the account is reducing, wait (for how long)
  after a rate limit, never "change the order" when no change helps, and no
  advice no tool argument can follow.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tradingagents_brokers import OrderContext
from tradingagents_brokers.errors import OrderRejectedError, Reason
from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.tools import READ_TOOLS, WRITE_TOOLS, explain
from tradingagents_brokers.tools.advice import NEXT_STEP, STOPS

from .conftest import MAX_ANSWER, by_name, call, play, sim_settings, size, tool_node

ROOT = Path(__file__).resolve().parents[2]
BUY = {"symbol": "AAPL", "action": "buy", "quantity": 1}
CHANGE = ("smaller", "nearer the market", "Change the order", "change the order")

# -- 3. the broker's account status and the gate's trading state --------------------------


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("active", "ACTIVE (new orders are checked against the risk limits)"),
        ("reducing", "REDUCING (only orders that shrink a position are accepted)"),
        ("halted", "HALTED (no new orders, cancels still work; only a person can resume)"),
    ],
)
def test_the_account_text_says_whose_status_is_which(toolkit, tools, state, said):
    if state == "halted":
        toolkit.broker.halt("test")
    elif state == "reducing":
        toolkit.broker.reduce_only("test")
    text = call(tools["get_account_status"]).content
    assert "The broker's account status: ACTIVE." in text
    assert f"This account's trading state (the safety gate): {said}." in text
    assert "Trading state:" not in text
    (graphed,) = play(tool_node(toolkit.get_tools()), [("get_account_status", {}, "g")])
    assert graphed.content == text


async def test_the_account_text_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path)) as served:
        served.toolkit.broker.halt("test")
        async with Client(served.server) as mcp:
            text = (await mcp.call_tool("get_account_status", {})).content[0].text
    assert "The broker's account status: ACTIVE." in text
    assert "trading state (the safety gate): HALTED (" in text


# -- 4. get_quote ----------------------------------------------------------------------------


def test_get_quote_is_a_read_only_tool_in_every_toolkit(make_toolkit):
    toolkit = make_toolkit(auto_execute_trades=False)
    quote = by_name(toolkit)["get_quote"]
    assert "get_quote" in READ_TOOLS
    assert quote.metadata["read_only"] is True
    assert quote.metadata["destructive"] is False
    assert set(quote.get_input_schema().model_fields) == {"symbol"}


def test_get_quote_answers_the_price_the_checks_judge_by(toolkit, tools):
    gated = toolkit.broker
    reply = call(tools["get_quote"], {"symbol": " aapl "})
    assert reply.status == "success"
    assert reply.content.startswith("AAPL: reference price $100.00 as of ")
    assert "limit and stop prices within 10% of it" in reply.content
    assert size(reply.content) < 400
    assert Decimal(reply.artifact["price"]) == gated.get_quote("AAPL").price
    # the collar the answer states is the one the gate applies
    edge = {**BUY, "order_type": "limit", "limit_price": "110"}
    over = {**BUY, "order_type": "limit", "limit_price": "110.01"}
    assert call(tools["preview_order"], edge).artifact["allowed"] is True
    assert "[PRICE_OUTSIDE_COLLAR]" in call(tools["preview_order"], over).content
    assert gated.get_orders("all") == []
    assert gated.journal.intents() == []


def test_get_quote_says_when_a_price_is_too_old(toolkit, tools, monkeypatch):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    monkeypatch.setattr(toolkit.broker.journal, "now", lambda: later)
    reply = call(tools["get_quote"], {"symbol": "MSFT"})
    assert "It is older than 120s: orders judged by it are refused" in reply.content


def test_get_quote_refuses_what_is_not_a_ticker(tools):
    unknown = call(tools["get_quote"], {"symbol": "ZZZZ"})
    assert unknown.status == "error"
    assert "no price for 'ZZZZ'" in unknown.content
    lookalike = call(tools["get_quote"], {"symbol": "\u0391APL"})
    assert lookalike.status == "error"
    assert "non-ASCII" in lookalike.content


def test_get_quote_in_a_graph(toolkit):
    calls = [("get_quote", {"symbol": "SPY"}, "q1"), ("get_quote", {"symbol": 5}, "q2")]
    good, bad = play(tool_node(toolkit.get_tools()), calls)
    assert good.content.startswith("SPY: reference price $500.00")
    assert bad.status == "error"


async def test_get_quote_over_mcp(tmp_path):
    with BrokerMCPServer.from_config(sim_settings(tmp_path, auto_execute_trades=False)) as served:
        async with Client(served.server) as mcp:
            listed = {t.name: t for t in (await mcp.list_tools()).tools}
            reply = await mcp.call_tool("get_quote", {"symbol": "MSFT"})
    assert listed["get_quote"].annotations.read_only_hint is True
    assert listed["get_quote"].input_schema["required"] == ["symbol"]
    assert not reply.is_error
    assert reply.structured_content["result"]["price"] == "200"


def test_the_docs_list_exactly_the_tools_there_are():
    page = (ROOT / "docs" / "agents.md").read_text()
    table = page.split("## The toolkit", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert listed == [*READ_TOOLS, *WRITE_TOOLS]
    assert "`get_quote`" in (ROOT / "docs" / "mcp.md").read_text()


# -- 5. a next step per reason ---------------------------------------------------------------

REASONS = {
    "TRADING_HALTED": "trading is halted; only cancels are accepted",
    "TRADING_STATE_REDUCING": "trading is reducing: only orders that shrink the AAPL position",
    "MODE_BLOCKED": "live trading is not enabled",
    "CONFIRMATION_DENIED": "Dana did not approve the order",
    "SYMBOL_DENIED": "GME is on denied_symbols",
    "SYMBOL_NOT_ALLOWED": "TSLA is not on allowed_symbols",
    "RATE_LIMIT_EXCEEDED": "30 orders in the last 60s; max_orders_per_minute=30; wait and retry",
    "DUPLICATE_ORDER": (
        "the same order (tab-1) was placed less than 10s ago; an identical order passes once "
        "10s have gone by"
    ),
    "ORDER_VALUE_EXCEEDS_MAX": "order value 50000 exceeds max_order_value 10000",
    "POSITION_EXCEEDS_MAX": "projected AAPL position 50000 exceeds max_position_size",
    "INSUFFICIENT_BUYING_POWER": "this order and in-flight buys need 5000; buying power is 10",
    "PRICE_OUTSIDE_COLLAR": "limit_price 200 is 100.00% from the reference price 100",
    "LEG_WRONG_SIDE": "stop_loss.stop_price must be below the entry 100",
    "REFERENCE_PRICE_MISSING": "no reference price for AAPL",
    "REFERENCE_PRICE_STALE": "the reference price of AAPL is 900s old",
    "ACCOUNT_DATA_MISSING": "the account could not be read",
    "OPEN_ORDERS_AT_MAX": "50 orders are open or in flight; max_open_orders=50",
    "DAILY_NOTIONAL_EXCEEDS_MAX": "today's orders 90000 and this one 20000 exceed ...",
    "DAILY_LOSS_LIMIT": "today's loss 5000 has reached max_daily_loss 5000",
}


def _refusal(*codes: str) -> str:
    reasons = [Reason(code, REASONS.get(code, "a plugin's own reason"), "x") for code in codes]
    return explain(OrderRejectedError("refused", reasons=reasons))


def _gate_codes() -> set[str]:
    """Every upper-case string in the safety package but the names it exports: its codes."""
    found: set[str] = set()
    for path in (ROOT / "src" / "tradingagents_brokers" / "safety").glob("*.py"):
        text = re.sub(r"__all__ = \[.*?\]", "", path.read_text(), flags=re.S)
        found |= set(re.findall(r'"([A-Z][A-Z_]{5,})"', text))
    return found


def test_every_reason_code_of_the_gate_has_its_own_next_step():
    codes = _gate_codes()
    assert {"TRADING_HALTED", "DUPLICATE_ORDER", "DAILY_LOSS_LIMIT"} <= codes
    assert codes <= set(NEXT_STEP), codes - set(NEXT_STEP)
    assert set(REASONS) == set(NEXT_STEP)
    assert len(set(NEXT_STEP.values())) == len(NEXT_STEP)


@pytest.mark.parametrize("code", sorted(REASONS))
def test_a_refusal_for_one_reason_says_what_to_do_about_it(code):
    text = _refusal(code)
    assert text.startswith("Error [order_rejected]: the order was refused and nothing was sent.")
    assert f"Next: [{code}] " in text
    assert "intended repeat" not in text  # no tool argument can mark one
    stop = code in STOPS or code in (
        "TRADING_STATE_REDUCING",
        "RATE_LIMIT_EXCEEDED",
        "DUPLICATE_ORDER",
        "DAILY_LOSS_LIMIT",
    )
    if stop:
        assert "Resending the same order gets the same answer" not in text
        assert not any(word in text.split("Next:")[1] for word in ("smaller", "nearer"))


def test_the_next_steps_of_the_reasons_that_need_more_than_a_change():
    assert "stop placing orders and tell the user" in _refusal("TRADING_HALTED")
    assert "you may sell shares held, or buy back a short" in _refusal("TRADING_STATE_REDUCING")
    assert "wait 60 seconds before the next order" in _refusal("RATE_LIMIT_EXCEEDED")
    assert "accepted only after 10 seconds" in _refusal("DUPLICATE_ORDER")
    assert "no change to the order helps" in _refusal("SYMBOL_NOT_ALLOWED")
    assert "a plugin's own reason. Next: [PLUGIN_CHECK] change the order" in _refusal(
        "PLUGIN_CHECK"
    )
    # a reason no change resolves hides the advice to change the order
    both = _refusal("TRADING_HALTED", "ORDER_VALUE_EXCEEDS_MAX")
    assert "[ORDER_VALUE_EXCEEDS_MAX] order value" in both  # still reported
    assert "smaller" not in both.split("Next:")[1]
    sizes = _refusal("ORDER_VALUE_EXCEEDS_MAX", "POSITION_EXCEEDS_MAX")
    assert sizes.count("Resending the same order gets the same answer") == 1


def _texts(replies: list[Any]) -> dict[str, str]:
    return {r.tool_call_id: r.content for r in replies}


def test_refusals_in_a_graph_say_what_to_do(make_toolkit):
    toolkit = make_toolkit(max_orders_per_minute=1, allowed_symbols=["AAPL", "MSFT", "SPY"])
    app = tool_node(toolkit.get_tools())
    texts = _texts(play(app, [("execute_trade", BUY, "first")]))
    texts |= _texts(
        play(
            app,
            [
                ("execute_trade", {**BUY, "symbol": "MSFT"}, "rate"),
                ("execute_trade", {**BUY, "symbol": "TSLA"}, "symbol"),
                ("preview_order", {**BUY, "symbol": "MSFT"}, "preview"),
            ],
        )
    )
    assert texts["first"].startswith("Order sent.")
    assert (
        "Next: [RATE_LIMIT_EXCEEDED] too many orders in a short time: wait 60 seconds"
        in (texts["rate"])
    )
    assert "Next: [SYMBOL_NOT_ALLOWED]" in texts["symbol"]
    assert not any(w in texts["symbol"] for w in CHANGE)
    assert "would be REFUSED" in texts["preview"]
    assert "wait 60 seconds" in texts["preview"]

    toolkit.broker.reduce_only("test")
    texts = _texts(play(app, [("execute_trade", BUY, "reduce")]))
    assert "the account only accepts orders that shrink a position" in texts["reduce"]
    toolkit.broker.halt("test")
    texts = _texts(play(app, [("execute_trade", {**BUY, "quantity": 500}, "halted")]))
    assert "stop placing orders and tell the user" in texts["halted"]
    assert not any(w in texts["halted"].split("Next:")[1] for w in CHANGE)
    assert all(size(t) <= MAX_ANSWER for t in texts.values())


def test_a_duplicate_gets_advice_a_model_can_follow(toolkit, tools):
    call(tools["execute_trade"], BUY, id="d1")
    again = call(tools["execute_trade"], BUY, id="d2")
    assert "[DUPLICATE_ORDER]" in again.content
    assert "intended repeat" not in again.content
    assert "it is already placed (see get_orders), so do not send it again" in again.content
    assert "accepted only after 10 seconds" in again.content
    # the repeat a person means is for Python callers, not a tool argument
    assert "allow_repeat" not in tools["execute_trade"].get_input_schema().model_fields
    toolkit.broker.place_order(
        symbol="AAPL", side="buy", qty=1, context=OrderContext(allow_repeat=True)
    )


async def test_refusals_over_mcp_say_what_to_do(tmp_path):
    settings = sim_settings(tmp_path, max_orders_per_minute=1)
    with BrokerMCPServer.from_config(settings) as served:
        async with Client(served.server) as mcp:
            first = await mcp.call_tool("execute_trade", BUY)
            again = await mcp.call_tool("execute_trade", BUY)
            served.toolkit.broker.halt("test")
            halted = await mcp.call_tool("execute_trade", {**BUY, "symbol": "MSFT"})
    assert not first.is_error
    assert again.is_error
    assert "wait 60 seconds" in again.content[0].text
    assert "intended repeat" not in again.content[0].text
    assert halted.is_error
    assert "stop placing orders and tell the user" in halted.content[0].text
    assert not any(w in halted.content[0].text.split("Next:")[1] for w in CHANGE)
