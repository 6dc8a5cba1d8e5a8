"""The TradingAgents bridge: decisions to orders, through the gate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradingagents_brokers import Approval, BrokerCapabilities
from tradingagents_brokers.integrations.tradingagents import (
    TradeDecision,
    execute_decision,
    parse_rating,
    plan_order,
    portfolio_context,
)

SIMPLE = BrokerCapabilities()
OTO = BrokerCapabilities(order_classes={"simple", "oto"})
BRACKET = BrokerCapabilities(order_classes={"simple", "oto", "bracket"})

D = Decimal


def _plan(rating: str, held: Any = 0, caps: BrokerCapabilities = SIMPLE, **proposal: Any):
    decision = TradeDecision(symbol="AAPL", rating=rating, **proposal)
    return plan_order(
        decision, portfolio_value=D(100000), held=D(held), price=D(100), capabilities=caps
    )


def _order(plan) -> Any:
    r = plan.request
    if r is None:
        return None
    legs = {}
    if r.stop_loss is not None:
        legs["stop"] = r.stop_loss.stop_price
    if r.take_profit is not None:
        legs["take"] = r.take_profit.limit_price
    return (r.side.value, r.qty, r.order_type.value, r.limit_price, r.order_class.value, legs)


TABLE = [
    # rating, held, caps, proposal -> (side, qty, type, limit, class, legs) or None
    ("Buy", 0, SIMPLE, {}, ("buy", 50, "market", None, "simple", {})),
    (
        "Buy",
        0,
        SIMPLE,
        {"position_sizing": "8% of portfolio"},
        ("buy", 80, "market", None, "simple", {}),
    ),
    ("Buy", 0, SIMPLE, {"position_sizing": "$2,550"}, ("buy", 25, "market", None, "simple", {})),
    ("Buy", 0, SIMPLE, {"position_sizing": "30 shares"}, ("buy", 30, "market", None, "simple", {})),
    ("Buy", 0, SIMPLE, {"entry_price": 95}, ("buy", 52, "limit", 95, "simple", {})),
    ("Buy", 20, SIMPLE, {}, ("buy", 30, "market", None, "simple", {})),
    ("Buy", 50, SIMPLE, {}, None),
    ("Buy", 0, OTO, {"stop_loss": 90}, ("buy", 50, "market", None, "oto", {"stop": 90})),
    (
        "Buy",
        0,
        BRACKET,
        {"stop_loss": 90, "take_profit": 120, "entry_price": 98},
        ("buy", 51, "limit", 98, "bracket", {"stop": 90, "take": 120}),
    ),
    (
        "Buy",
        0,
        OTO,
        {"stop_loss": 90, "take_profit": 120},
        ("buy", 50, "market", None, "oto", {"stop": 90}),
    ),
    ("Buy", 0, SIMPLE, {"stop_loss": 90}, ("buy", 50, "market", None, "simple", {})),
    ("Buy", 0, OTO, {"stop_loss": 100}, None),  # a stop at the price protects nothing
    ("Buy", 0, SIMPLE, {"position_sizing": "as much as you like"}, None),
    ("Overweight", 0, SIMPLE, {}, ("buy", 25, "market", None, "simple", {})),
    (
        "Overweight",
        0,
        SIMPLE,
        {"entry_price": 99, "position_sizing": "10%"},
        ("buy", 50, "limit", 99, "simple", {}),
    ),
    ("Overweight", 30, SIMPLE, {}, None),
    ("Hold", 0, SIMPLE, {}, None),
    ("Hold", 40, BRACKET, {"entry_price": 95, "stop_loss": 90, "position_sizing": "5%"}, None),
    ("Underweight", 40, SIMPLE, {}, ("sell", 20, "market", None, "simple", {})),
    ("Underweight", 41, SIMPLE, {"entry_price": 104}, ("sell", 20, "limit", 104, "simple", {})),
    ("Underweight", 1, SIMPLE, {}, None),
    ("Underweight", 0, SIMPLE, {}, None),
    ("Sell", 40, SIMPLE, {}, ("sell", 40, "market", None, "simple", {})),
    (
        "Sell",
        40,
        BRACKET,
        {"entry_price": 105, "stop_loss": 90},
        ("sell", 40, "limit", 105, "simple", {}),
    ),
    ("Sell", 0, SIMPLE, {}, None),
    ("Sell", -5, SIMPLE, {}, None),  # short: the bridge never trades shorts
]


@pytest.mark.parametrize(("rating", "held", "caps", "proposal", "expected"), TABLE)
def test_the_decision_table(rating, held, caps, proposal, expected):
    plan = _plan(rating, held, caps, **proposal)
    assert _order(plan) == expected, plan.reason
    assert plan.reason


def test_a_stop_the_broker_cannot_attach_follows_the_fill():
    plan = _plan("Buy", stop_loss=90)
    assert plan.protective_stop == 90
    assert "protective stop at 90 follows the fill" in plan.reason
    assert _plan("Buy", caps=OTO, stop_loss=90).protective_stop is None


def test_every_rating_is_covered_by_the_table():
    assert {row[0] for row in TABLE} == {"Buy", "Overweight", "Hold", "Underweight", "Sell"}


PM_TEXT = """**Rating**: Overweight

**Executive Summary**: Add on weakness.

**Price Target**: 230.5
"""
TRADER_TEXT = """**Action**: Buy

**Reasoning**: Strong quarter.

**Entry Price**: 190.25

**Stop Loss**: 180.0

**Position Sizing**: 4% of portfolio

FINAL TRANSACTION PROPOSAL: **BUY**"""


def test_decisions_are_read_from_tradingagents_markdown():
    decision = TradeDecision.from_state(
        "NVDA", {"final_trade_decision": PM_TEXT, "trader_investment_plan": TRADER_TEXT}
    )
    assert decision == TradeDecision(
        symbol="NVDA",
        rating="Overweight",
        entry_price=D("190.25"),
        stop_loss=D("180.0"),
        take_profit=D("230.5"),
        position_sizing="4% of portfolio",
    )
    assert TradeDecision.from_texts("NVDA", "nothing decided").rating == "Hold"


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("Rating: Buy", "Buy"),
        ("rating: underweight", "Underweight"),
        ("**Rating**: **Sell**", "Sell"),
        ("FINAL TRANSACTION PROPOSAL: **SELL**", "Sell"),
        ("Rating: Strong Buy", "Hold"),
        ("", "Hold"),
    ],
)
def test_ratings_are_parsed_like_tradingagents(text, rating):
    assert parse_rating(text) == rating


def test_an_unknown_rating_is_an_error():
    with pytest.raises(ValueError, match="not one of Buy, Overweight"):
        TradeDecision(symbol="AAPL", rating="Strong Buy")


# -- through the gate ------------------------------------------------------------------


def test_a_buy_goes_through_the_gate_with_its_approval(sim):
    seen = []

    def approve(plan):
        seen.append(plan.request.qty)
        return Approval(True, "dana", "fits the plan")

    result = execute_decision(sim, TradeDecision(symbol="AAPL", rating="Buy"), approve=approve)
    assert (result.status, result.order.filled_qty, seen) == ("sent", 50, [50])
    (intent,) = [e["payload"] for e in sim.journal.events() if e["kind"] == "intent"]
    assert intent["context"]["agent_id"] == "tradingagents"
    assert intent["approval"] == {"approved": True, "approver": "dana", "reason": "fits the plan"}


@pytest.mark.parametrize("answer", [False, None, "yes", RuntimeError("down")])
def test_anything_but_an_approval_refuses(sim, answer):
    def approve(plan):
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = execute_decision(sim, TradeDecision(symbol="AAPL", rating="Buy"), approve=approve)
    assert result.status == "refused"
    assert result.error["code"] == "order_rejected"
    assert sim.get_orders("all") == []


def test_hold_sends_nothing(sim):
    result = execute_decision(
        sim, TradeDecision(symbol="AAPL", rating="Hold", entry_price=95, stop_loss=90)
    )
    assert (result.status, result.order) == ("no_order", None)
    assert sim.get_orders("all") == []
    assert sim.journal.intents() == []


def test_the_gate_still_decides(sim):
    result = execute_decision(
        sim, TradeDecision(symbol="AAPL", rating="Buy", position_sizing="50% of portfolio")
    )
    assert result.status == "refused"
    codes = [r["code"] for r in result.error["details"]["reasons"]]
    assert "ORDER_VALUE_EXCEEDS_MAX" in codes


def test_a_stop_loss_on_the_sim_becomes_a_resting_stop_after_the_fill(sim):
    result = execute_decision(sim, TradeDecision(symbol="AAPL", rating="Buy", stop_loss=D("95")))
    assert result.order.status.value == "filled"
    stop = result.protective_stop
    assert (stop.side.value, stop.qty, stop.stop_price, stop.status.value) == (
        "sell",
        50,
        95,
        "new",
    )


def test_sell_and_underweight_reduce_what_is_held(sim):
    sim.place_order(symbol="MSFT", side="buy", qty=41)
    half = execute_decision(sim, TradeDecision(symbol="MSFT", rating="Underweight"))
    assert half.order.qty == 20
    rest = execute_decision(sim, TradeDecision(symbol="MSFT", rating="Sell"))
    assert rest.order.qty == 21
    assert sim.get_positions() == []


def test_portfolio_context_reads_like_a_briefing(sim):
    assert "No open positions." in portfolio_context(sim)
    sim.place_order(symbol="AAPL", side="buy", qty=10)
    text = portfolio_context(sim)
    assert text.startswith("Portfolio on sim (paper trading): equity $100,000.00")
    assert "- AAPL: 10 shares, average entry $100.00, market value $1,000.00 (1.0% of the" in text
