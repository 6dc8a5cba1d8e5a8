"""Streamable HTTP on loopback, behind a bearer token.

Anything on the machine can reach a loopback port, so the HTTP transport takes a
token: every request must carry ``Authorization: Bearer <token>``. The token
comes from ``TRADINGAGENTS_BROKERS_MCP_TOKEN`` or is made at start-up and printed
once on stderr for the person to put in the client's configuration. The MCP SDK's
DNS-rebinding protection (Host and Origin must be loopback) stays on. A request
body nested too deep for the SDK to parse is cut first (see :mod:`.wire`), so the
tool answers it with a refusal.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..environment import MCP_TOKEN_ENV
from ..errors import BrokerConfigurationError
from .server import BrokerMCPServer
from .wire import CuttingBody

__all__ = ["TOKEN_ENV", "BearerToken", "http_app", "loopback", "run_http", "token_from_env"]

TOKEN_ENV = MCP_TOKEN_ENV
#: A token shorter than this is refused: it could be guessed.
MIN_TOKEN = 24


def loopback(host: str) -> str:
    """``host`` if it is a loopback address; anything else is refused."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise BrokerConfigurationError(
        f"the MCP server listens on loopback only (127.0.0.1, ::1 or localhost), not {host!r}; "
        "reach it from elsewhere through an SSH tunnel"
    )


def token_from_env() -> tuple[str, bool]:
    """The bearer token, and whether it was made here (so the person must be told it)."""
    given = os.environ.get(TOKEN_ENV, "")
    if not given:
        return secrets.token_urlsafe(32), True
    if len(given) < MIN_TOKEN:
        raise BrokerConfigurationError(
            f"{TOKEN_ENV} is shorter than {MIN_TOKEN} characters; use a long random value, "
            "for example: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return given, False


class BearerToken:
    """ASGI middleware: HTTP requests without the right bearer token get 401 and go no further."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"text/plain"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"missing or wrong bearer token (see " + TOKEN_ENV.encode() + b")",
                    }
                )
                return
        await self.app(scope, receive, send)


def http_app(server: BrokerMCPServer, *, token: str, host: str = "127.0.0.1") -> Any:
    """The ASGI app serving ``server`` at ``/mcp``."""
    app = server.server.streamable_http_app(host=loopback(host))
    return BearerToken(CuttingBody(app), token)


def run_http(server: BrokerMCPServer, *, port: int, token: str, host: str = "127.0.0.1") -> None:
    """Serve ``server`` over streamable HTTP at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    uvicorn.run(http_app(server, token=token, host=host), host=host, port=port, log_level="warning")
