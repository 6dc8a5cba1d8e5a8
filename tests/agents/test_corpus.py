"""The adversarial corpus (``corpus.py``), over three paths a model's call takes:
``tool.invoke``, a ``ToolNode`` in a compiled LangGraph ``StateGraph``, and the MCP
server over stdio in a subprocess started by the project's command, spoken to by the
official MCP client.

Each path plays every call of the corpus (more than 300) one at a time, and each
call is judged on the account's real state and the journal after it
(:func:`corpus.judge`): no order or position outside the policy, no new order after
a refusal, no crash and no hang, no answer over 4 KB, the halt never lifted, every
refusal of an acting tool journaled, and at most ``MAX_REFUSAL_BYTES`` of journal
per refused call. Then forty orders at once, and the rate limit judged.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tradingagents_brokers.tools import BrokerToolkit

from .conftest import MAX_ANSWER, play, sim_settings, size, tool_node
from .corpus import (
    ENDING,
    MAX_REFUSAL_BYTES,
    MAX_SECONDS,
    POLICY,
    PRICES,
    Reply,
    World,
    corpus,
    judge,
    out_of_policy,
    rate_problems,
)
from .test_adversarial import FLOOD
from .test_mcp_transports import CLI

#: Every call of the corpus goes over each path; this many at least.
MIN_CALLS = 300
#: Each of these reasons refused some call of the corpus.
EXPECTED_CODES = {
    "INVALID_ARGUMENTS",
    "INVALID_ORDER",
    "SYMBOL_NOT_ALLOWED",
    "SYMBOL_DENIED",
    "ORDER_VALUE_EXCEEDS_MAX",
    "POSITION_EXCEEDS_MAX",
    "PRICE_OUTSIDE_COLLAR",
    "DUPLICATE_ORDER",
    "TRADING_HALTED",
}

Send = Callable[[str, dict[str, Any], str], Awaitable[Reply | None]]


def _settings(tmp_path: Path) -> dict[str, Any]:
    return sim_settings(tmp_path, **POLICY, broker_options={"sim": {"prices": PRICES}})


async def _play(world: World, send: Send, offered: set[str]) -> dict[str, Any]:
    """Every call of the corpus through ``send``, each judged; what was found."""
    calls = corpus()
    body, ending = calls[: -len(ENDING)], calls[-len(ENDING) :]
    problems: list[str] = []
    refusals: list[int] = []
    seen: set[str] = set()
    sent = 0
    before = world.snapshot()
    for n, (name, args, call_id) in enumerate(calls):
        if n == len(body):
            before = await _flood(world, send, problems)
        reply = await send(name, args, call_id or f"corpus-{n}")
        if reply is None:  # no such tool on this path (tool.invoke needs a tool)
            continue
        sent += 1
        found, before, growth = judge(world, name, name in offered, reply, before)
        problems += [f"#{n} {name}: {problem}" for problem in found if problem not in seen]
        seen.update(found)  # a lasting breach is reported at the call that caused it
        if reply.error:
            refusals.append(growth)
    assert len(ending) == len(ENDING)
    problems += rate_problems(world)
    codes = {
        code
        for kind, payload in world.events_after(0)
        if kind == "tool_refused"
        for code in payload.get("codes", [])
    }
    return {"problems": problems, "sent": sent, "refusals": refusals, "codes": codes}


async def _flood(world: World, send: Send, problems: list[str]) -> Any:
    """Forty orders at once (a model's parallel tool calls); judged as a whole."""
    replies: list[Reply | None] = []

    async def one(name: str, args: dict[str, Any], call_id: str) -> None:
        replies.append(await send(name, args, call_id))

    async with anyio.create_task_group() as group:
        for name, args, call_id in FLOOD:
            group.start_soon(one, name, args, call_id)
    problems += [
        f"flood: answer of {size(r.text)} bytes" for r in replies if r and size(r.text) > MAX_ANSWER
    ]
    problems += [f"flood: {p}" for p in out_of_policy(world)]
    return world.snapshot()


def _verdict(found: dict[str, Any]) -> None:
    assert found["problems"] == [], "\n".join(found["problems"][:40])
    assert found["sent"] >= MIN_CALLS
    refusals = found["refusals"]
    assert len(refusals) >= 250  # most of the corpus is refused ...
    assert max(refusals) <= MAX_REFUSAL_BYTES  # ... each within the journal's budget
    assert found["codes"] >= EXPECTED_CODES
    print(
        f"\n{found['sent']} calls, {len(refusals)} refused: journal bytes per refused call "
        f"mean {statistics.mean(refusals):.0f}, max {max(refusals)}"
    )


# -- the three paths ---------------------------------------------------------------------------


async def test_the_corpus_over_tool_invoke(tmp_path):
    with BrokerToolkit.from_config(_settings(tmp_path), agent_id="corpus") as toolkit:
        tools = {tool.name: tool for tool in toolkit.get_tools()}
        world = World(tmp_path / "state")

        async def send(name: str, args: dict[str, Any], call_id: str) -> Reply | None:
            if name not in tools:
                return None
            started = time.monotonic()
            call = {"type": "tool_call", "id": call_id, "name": name, "args": args}
            message = tools[name].invoke(call)
            return Reply(
                str(message.content), message.status == "error", time.monotonic() - started
            )

        try:
            _verdict(await _play(world, send, set(tools)))
        finally:
            world.close()


async def test_the_corpus_through_a_toolnode_in_a_compiled_graph(tmp_path):
    with BrokerToolkit.from_config(_settings(tmp_path), agent_id="corpus") as toolkit:
        graph = tool_node(toolkit.get_tools())
        world = World(tmp_path / "state")

        async def send(name: str, args: dict[str, Any], call_id: str) -> Reply | None:
            started = time.monotonic()
            (message,) = play(graph, [(name, args, call_id)])  # it answered: the graph goes on
            assert message.tool_call_id == call_id
            return Reply(
                str(message.content), message.status == "error", time.monotonic() - started
            )

        try:
            _verdict(await _play(world, send, {tool.name for tool in toolkit.get_tools()}))
        finally:
            world.close()


def _config_file(tmp_path: Path) -> Path:
    def toml(value: Any) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(toml(v) for v in value) + "]"
        return str(value) if isinstance(value, int) else f'"{value}"'

    lines = [
        'trading_broker = "sim"',
        f'state_dir = "{tmp_path / "state"}"',
        "auto_execute_trades = true",
        *[f"{key} = {toml(value)}" for key, value in POLICY.items()],
        "[broker_options.sim.prices]",
        *[f'"{symbol}" = "{price}"' for symbol, price in PRICES.items()],
    ]
    path = tmp_path / "brokers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
async def test_the_corpus_over_mcp_stdio_in_a_subprocess(tmp_path):
    params = StdioServerParameters(
        command=sys.executable, args=["-c", CLI, "mcp", "--config", str(_config_file(tmp_path))]
    )
    info = types.Implementation(name="corpus", version="1")
    async with Client(params, client_info=info) as mcp:  # one server for the whole corpus
        offered = {tool.name for tool in (await mcp.list_tools()).tools}
        world = World(tmp_path / "state")

        async def send(name: str, args: dict[str, Any], call_id: str) -> Reply | None:
            started = time.monotonic()
            with anyio.fail_after(2 * MAX_SECONDS):  # no answer in time: a hang
                result = await mcp.call_tool(name, args)
            text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
            return Reply(
                text, bool(result.is_error), time.monotonic() - started, result.structured_content
            )

        try:
            found = await _play(world, send, offered)
            alive = await mcp.call_tool("get_account_status", {})  # and it still serves
        finally:
            world.close()
    assert not alive.is_error
    _verdict(found)
    refused = [p for k, p in World(tmp_path / "state").events_after(0) if k == "tool_refused"]
    assert {p.get("client") for p in refused} == {"corpus"}
