"""The MCP server answers every message, on the wire: JSON nested deeper than the SDK
parses (about 200 levels) gets the tool's refusal, a line that is no message a
JSON-RPC error, over stdio (a subprocess fed raw lines) and streamable HTTP."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pydantic_core
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tradingagents_brokers.mcp_server.wire import CUT_DEPTH, CuttingBody, cut_deep

from .conftest import MAX_ANSWER, nested, size
from .test_mcp_transports import CLI, TOKEN, _config_file, http_server  # noqa: F401


def _deep_text(depth: int) -> str:
    return "[" * depth + '"AAPL"' + "]" * depth


def _call_line(ident: int, name: str, arguments: str) -> str:
    return (
        f'{{"jsonrpc":"2.0","id":{ident},"method":"tools/call","params":{{"name":"{name}",'
        f'"arguments":{arguments}}}}}'
    )


class _Stdio:
    """The server in a subprocess, spoken to in raw JSON-RPC lines."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLI, "mcp", "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self, timeout: float = 10) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return json.loads(self.process.stdout.readline()) if ready else None

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if it hangs
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()


@pytest.mark.slow
def test_the_stdio_server_answers_every_line(tmp_path):
    server = _Stdio(_config_file(tmp_path))
    try:
        hello = {"name": "raw", "version": "1"}
        server.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": hello,
                    },
                }
            )
        )
        assert server.answer()["id"] == 1
        server.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        depths = [150, 250, 1500, 100_000]
        for ident, depth in enumerate(depths, start=2):
            arguments = f'{{"symbol":{_deep_text(depth)},"action":"buy","quantity":1}}'
            server.send(_call_line(ident, "execute_trade", arguments))
            reply = server.answer()
            assert reply is not None, f"no answer at depth {depth}"
            assert reply["id"] == ident
            assert reply["result"]["isError"] is True
            text = reply["result"]["content"][0]["text"]
            assert "nested more than 16 levels deep (in 'symbol')" in text
            assert size(json.dumps(reply)) <= MAX_ANSWER
        server.send(_call_line(9, "get_account_status", '{"broker_mode":"live"}'))
        extra = server.answer()
        assert extra["result"]["isError"] is True
        assert (
            "broker_mode: Extra inputs are not permitted" in extra["result"]["content"][0]["text"]
        )
        server.send("this is not JSON")
        assert server.answer()["error"]["code"] == types.PARSE_ERROR
        server.send('{"jsonrpc":"2.0","id":10,"method":5}')
        assert server.answer() == {
            "jsonrpc": "2.0",
            "id": 10,
            "error": {"code": -32600, "message": "Invalid request: not a JSON-RPC 2.0 request"},
        }
        server.send('{"jsonrpc":"2.0","id":11,"method":"tools/list"}')
        assert server.answer()["id"] == 11  # and it still serves
    finally:
        server.close()
    assert server.process.returncode == 0


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_http_answers_a_body_too_deep_to_parse_with_the_tools_refusal(http_server, era):  # noqa: F811
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        Client(streamable_http_client(http_server, http_client=http), mode=era) as mcp,
    ):
        # the client's serializer takes about 250 levels; the SDK's parser about 200
        reply = await mcp.call_tool(
            "execute_trade", {"symbol": nested(230), "action": "buy", "quantity": 1}
        )
        fine = await mcp.call_tool("get_quote", {"symbol": "AAPL"})
    assert reply.is_error
    assert "nested more than 16 levels deep" in reply.content[0].text
    assert not fine.is_error


# -- the cutting itself ------------------------------------------------------------------------


def test_cut_deep_empties_what_is_too_deep_and_keeps_the_rest():
    text = _call_line(1, "x", '{"symbol":' + _deep_text(5000) + ',"note":"[[[{{ \\" ]]"}')
    with pytest.raises(ValueError, match="recursion"):
        pydantic_core.from_json(text)
    cut = pydantic_core.from_json(cut_deep(text))
    assert cut["params"]["arguments"]["note"] == '[[[{{ " ]]'  # brackets in strings: text
    inner = cut["params"]["arguments"]["symbol"]
    depth = 3  # the message, params and arguments
    while inner:
        inner, depth = inner[0], depth + 1
    assert depth == CUT_DEPTH - 1  # and then the emptied list, at CUT_DEPTH
    assert cut_deep('{"a": [1, 2]}') == '{"a": [1, 2]}'
    assert cut_deep("[[[") == "[[["  # not JSON: left as it is
    assert cut_deep(_deep_text(100), depth=3) == "[[[]]]"


async def test_the_http_middleware_cuts_only_bodies_too_deep_to_parse():
    seen: list[bytes] = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append(message["body"])

    deep = _call_line(1, "x", '{"s":' + _deep_text(300) + "}").encode()
    plain = b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
    chunks = [
        {"type": "http.request", "body": deep[:100], "more_body": True},
        {"type": "http.request", "body": deep[100:], "more_body": False},
    ]

    async def receive():
        return chunks.pop(0)

    await CuttingBody(app)({"type": "http", "method": "POST"}, receive, None)
    assert pydantic_core.from_json(seen[0])["id"] == 1
    chunks = [{"type": "http.request", "body": plain, "more_body": False}]
    await CuttingBody(app)({"type": "http", "method": "POST"}, receive, None)
    assert seen[1] == plain
