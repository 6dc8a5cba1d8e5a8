"""The agent toolkit's adversarial corpus, replayed through the MCP server.

The same calls as ``test_adversarial`` (broken quantities, look-alike symbols,
far prices, escalation attempts, over-limit orders, repeats and a flood sent
concurrently) arrive as MCP tool calls. The result must be the same: no order
outside the policy reaches the broker, the configuration is unchanged, the
halt stands, and every refusal by an acting tool is journaled with its codes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import anyio
import mcp_types as types
from mcp import Client

from tradingagents_brokers.config import risk_limits_hash
from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.tools import WRITE_TOOLS

from .conftest import MAX_ANSWER, sim_settings, size
from .test_adversarial import (
    EXPECTED_CODES,
    FLOOD,
    POLICY,
    _corpus,
    _within_policy,
    buy,
    hostile_calls,
)


async def _replay(served: BrokerMCPServer) -> list[tuple[str, types.CallToolResult]]:
    replies: list[tuple[str, types.CallToolResult]] = []
    info = types.Implementation(name="adversary", version="0")
    async with Client(served.server, client_info=info) as mcp:
        for name, args, _ in _corpus():  # one at a time
            replies.append((name, await mcp.call_tool(name, args)))

        async def flood(name: str, args: dict[str, Any]) -> None:
            replies.append((name, await mcp.call_tool(name, args)))

        async with anyio.create_task_group() as group:  # forty orders at once
            for name, args, _ in FLOOD:
                group.start_soon(flood, name, args)
        for name, args in [
            ("halt_trading", {"reason": "corpus done, stopping"}),
            ("resume_trading", {"reason": "resume"}),
            buy(quantity=1),
        ]:
            replies.append((name, await mcp.call_tool(name, args)))
    return replies


async def test_the_adversarial_corpus_through_mcp_sends_nothing_out_of_policy(tmp_path):
    served = BrokerMCPServer.from_config(sim_settings(tmp_path, **POLICY))
    gated = served.toolkit.broker
    config_before = dict(gated.config)
    limits_before = risk_limits_hash(gated.config)
    try:
        replies = await _replay(served)

        # 0 out-of-policy orders at the broker, and every order it has was admitted by the gate
        orders = [o.to_dict() for o in gated.get_orders("all")]
        assert [
            (o["client_order_id"], _within_policy(o)) for o in orders if _within_policy(o)
        ] == []
        admitted = {i.client_order_id for i in gated.journal.intents() if i.status != "denied"}
        assert {o["client_order_id"] for o in orders} <= admitted
        assert {i.source for i in gated.journal.intents()} == {"mcp"}
        times = sorted(o.submitted_at for o in gated.get_orders("all"))
        for start in times:
            window = [t for t in times if start <= t < start + dt.timedelta(seconds=1)]
            assert len(window) <= POLICY["max_orders_per_second"]
        assert len(orders) <= POLICY["max_orders_per_minute"]
        # MCP has no tool call ids: the repeated call is refused as a duplicate order
        assert sum(o["symbol"] == "MSFT" for o in orders) == 1

        # nothing changed the configuration, and the halt stands
        assert dict(gated.config) == config_before
        assert risk_limits_hash(gated.config) == limits_before
        assert gated.mode.value == "paper"
        assert gated.trading_state()["state"] == "halted"
        after = replies[-1][1]
        assert after.is_error
        assert "[TRADING_HALTED]" in after.content[0].text

        # every refusal by an acting tool is journaled with its reason codes
        refused = [e["payload"] for e in gated.journal.events() if e["kind"] == "tool_refused"]
        errors = [(name, r) for name, r in replies if r.is_error]
        acting = sum(name in WRITE_TOOLS and name in served.tool_names for name, _ in errors)
        assert len(refused) == acting
        assert {p["client"] for p in refused} == {"adversary"}
        for name, reply in errors:
            if name not in served.tool_names:
                assert "[unknown_tool]" in reply.content[0].text
        codes = {code for p in refused for code in p["codes"]}
        assert codes >= EXPECTED_CODES
        assert len(errors) >= 100
        assert max(size(r.content[0].text) for _, r in replies) <= MAX_ANSWER
    finally:
        served.close()


async def test_each_hostile_call_through_mcp_is_judged_on_the_brokers_state(tmp_path):
    served = BrokerMCPServer.from_config(sim_settings(tmp_path, **POLICY))
    gated = served.toolkit.broker
    try:
        async with Client(served.server) as mcp:
            # the SDK's client serializes about 250 levels at most (stdio: test_mcp_wire)
            for name, args in [*hostile_calls(200), buy(quantity=1)]:
                reply = await mcp.call_tool(name, args)
                text = reply.content[0].text
                assert size(text) <= MAX_ANSWER, name
                assert all(ch == "\n" or ch.isprintable() for ch in text), name
                structured = reply.structured_content
                assert structured is None or size(json.dumps(structured)) <= MAX_ANSWER
                orders = [o.to_dict() for o in gated.get_orders("all")]
                assert [o for o in orders if _within_policy(o)] == []
                assert len(orders) == (0 if reply.is_error or name != "execute_trade" else 1)
        assert gated.trading_state()["state"] == "active"
    finally:
        served.close()
