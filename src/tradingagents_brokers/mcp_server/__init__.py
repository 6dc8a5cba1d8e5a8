"""The agent tools as an MCP server (extra ``mcp``): ``tradingagents-brokers mcp``.

>>> from tradingagents_brokers.mcp_server import BrokerMCPServer
>>> with BrokerMCPServer.from_config({"trading_broker": "sim"}) as served:  # doctest: +SKIP
...     served.run_stdio()

See ``docs/mcp.md``.
"""

from __future__ import annotations

try:
    import mcp  # noqa: F401
    import mcp_types  # noqa: F401

    from ..tools import BrokerToolkit  # noqa: F401 - the tools need the langchain extra
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tradingagents_brokers.mcp_server needs the MCP SDK and the agent tools; install the "
        "extra from a checkout of the source tree: python3 -m pip install '.[mcp]'"
    ) from exc

from .confirm import Confirmer
from .http import TOKEN_ENV, run_http
from .server import INSTRUCTIONS, BrokerMCPServer

__all__ = ["INSTRUCTIONS", "TOKEN_ENV", "BrokerMCPServer", "Confirmer", "run_http"]
