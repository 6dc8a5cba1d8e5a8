"""LangChain tools for agents, built from the plugin registry (extra ``langchain``).

>>> from tradingagents_brokers.tools import BrokerToolkit
>>> toolkit = BrokerToolkit.from_config({"trading_broker": "sim"})  # doctest: +SKIP
>>> [tool.name for tool in toolkit.get_tools()]  # doctest: +SKIP
['get_account_status', 'get_buying_power', ...]

See ``docs/agents.md``.
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
    import langgraph  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tradingagents_brokers.tools needs langchain-core and langgraph; install the extra "
        "from a checkout of the source tree: python3 -m pip install '.[langchain]'"
    ) from exc

from .approval import ApprovalMode, ApprovalRequest
from .base import BrokerTool, ToolCallInfo, explain
from .choice import READ_TOOLS, WRITE_TOOLS
from .toolkit import BrokerToolkit

__all__ = [
    "READ_TOOLS",
    "WRITE_TOOLS",
    "ApprovalMode",
    "ApprovalRequest",
    "BrokerTool",
    "BrokerToolkit",
    "ToolCallInfo",
    "explain",
]
