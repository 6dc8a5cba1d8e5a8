"""The MCP server as a client meets it: ``tradingagents-brokers mcp`` on stdio in a
subprocess, streamable HTTP on loopback behind its bearer token, and the command's
refusals (a non-loopback address, a short token, the extra not installed)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tradingagents_brokers.cli.main import main
from tradingagents_brokers.errors import BrokerConfigurationError
from tradingagents_brokers.mcp_server import TOKEN_ENV, BrokerMCPServer
from tradingagents_brokers.mcp_server.http import http_app, loopback, token_from_env

from .conftest import import_error_without, sim_settings

BUY = {"symbol": "AAPL", "action": "buy", "quantity": 2}
TOKEN = "a-long-enough-token-for-the-tests-0123456789"


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "brokers.toml"
    path.write_text(
        f'trading_broker = "sim"\nstate_dir = "{tmp_path / "state"}"\n'
        "auto_execute_trades = true\n"
        '[broker_options.sim.prices]\nAAPL = "100"\n'
    )
    return path


CLI = "from tradingagents_brokers.cli.main import main; raise SystemExit(main())"


@pytest.mark.slow
async def test_the_stdio_server_answers_a_client_in_another_process(tmp_path):
    config = _config_file(tmp_path)
    params = StdioServerParameters(
        command=sys.executable, args=["-c", CLI, "mcp", "--config", str(config)]
    )
    info = types.Implementation(name="stdio-test", version="1")
    async with Client(params, client_info=info) as mcp:
        names = [tool.name for tool in (await mcp.list_tools()).tools]
        bought = await mcp.call_tool("execute_trade", BUY)
        orders = await mcp.call_tool("get_orders", {"status": "all"})
    assert "execute_trade" in names
    assert "resume_trading" not in names
    assert not bought.is_error, bought.content[0].text
    assert bought.structured_content["result"]["status"] == "filled"
    assert [o["qty"] for o in orders.structured_content["result"]] == ["2"]

    # the order is in the journal on disk, as the MCP client's
    with BrokerMCPServer.from_config(
        sim_settings(tmp_path, state_dir=str(tmp_path / "state"))
    ) as again:
        (intent,) = again.toolkit.broker.journal.intents()
        contexts = [
            e["payload"]["context"]
            for e in again.toolkit.broker.journal.events()
            if e["kind"] == "intent"
        ]
    assert (intent.source, contexts[0]["client"]) == ("mcp", "stdio-test")


# -- streamable HTTP -------------------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    served = BrokerMCPServer.from_config(sim_settings(tmp_path))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(http_app(served, token=TOKEN), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
        served.close()


async def test_http_serves_a_client_with_the_token(http_server):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        Client(streamable_http_client(http_server, http_client=http)) as mcp,
    ):
        names = [tool.name for tool in (await mcp.list_tools()).tools]
        bought = await mcp.call_tool("execute_trade", BUY)
    assert "get_account_status" in names
    assert bought.structured_content["result"]["status"] == "filled"


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
async def test_http_refuses_a_request_without_the_right_token(http_server, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers) as http:
        answer = await http.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert answer.status_code == 401
    assert TOKEN_ENV in answer.text


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses_are_accepted(host):
    assert loopback(host) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_other_addresses_are_refused(host):
    with pytest.raises(BrokerConfigurationError, match="loopback only"):
        loopback(host)


def test_the_token_comes_from_the_environment_or_is_made(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    made, fresh = token_from_env()
    assert fresh
    assert len(made) >= 32
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert token_from_env() == (TOKEN, False)
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(BrokerConfigurationError, match="shorter than 24"):
        token_from_env()


# -- the command -----------------------------------------------------------------------------


def test_the_command_refuses_a_non_loopback_address(tmp_path, capsys):
    code = main(["mcp", "--http", "--host", "0.0.0.0", "--config", str(_config_file(tmp_path))])
    assert code == 2
    assert "loopback only" in capsys.readouterr().err


def test_the_command_serves_stdio_or_http_and_prints_only_to_stderr(tmp_path, capsys, monkeypatch):
    served: list[tuple[str, Any]] = []
    monkeypatch.setattr(BrokerMCPServer, "run_stdio", lambda self: served.append(("stdio", self)))
    monkeypatch.setattr(
        "tradingagents_brokers.mcp_server.run_http",
        lambda server, **kw: served.append(("http", kw)),
    )
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    config = str(_config_file(tmp_path))
    assert main(["mcp", "--config", config, "--confirm-timeout", "9"]) == 0
    assert main(["mcp", "--http", "--port", "9999", "--config", config]) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "MCP server on stdio: sim (paper)" in out.err
    assert "MCP server at http://127.0.0.1:9999/mcp" in out.err
    (kind, server), (http, options) = served
    assert (kind, server.confirmer.timeout, server.toolkit.source) == ("stdio", 9.0, "mcp")
    assert http == "http"
    assert options["port"] == 9999
    assert f"bearer token (set {TOKEN_ENV} to choose your own): {options['token']}" in out.err


def test_the_package_explains_a_missing_extra():
    out = import_error_without("mcp", "tradingagents_brokers.mcp_server")
    assert "python3 -m pip install '.[mcp]'" in out


def test_the_client_configuration_in_the_docs_starts_this_command():
    import json
    import re

    from tradingagents_brokers.cli.main import build_parser

    page = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    (block,) = re.findall(r"^```json\n(.*?)^```", page, re.S | re.M)
    (server,) = json.loads(block)["mcpServers"].values()
    assert server["command"] == "tradingagents-brokers"
    args = build_parser().parse_args(server["args"])
    assert (args.command, args.broker, args.mode, args.http) == ("mcp", "alpaca", "paper", False)
    assert set(server["env"]) == {"ALPACA_PAPER_API_KEY", "ALPACA_PAPER_SECRET_KEY"}
