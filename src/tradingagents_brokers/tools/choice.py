"""Which tools an agent gets: the read-only switch and the ``agent_tools`` allow-list.

Two settings decide, and both must allow a tool:

* ``auto_execute_trades``: off (the default), no tool that changes orders is offered
  (``execute_trade``, ``cancel_order``, ``close_position``, and plugin tools whose
  ``metadata["read_only"]`` is not ``True``);
* ``agent_tools``: a list of tool names (unset: every tool). A name that is no
  tool's is a configuration error listing the tools there are.

A tool left out is not offered at all: it is in no tool list, and a call naming it
is refused (:attr:`~tradingagents_brokers.tools.BrokerToolkit.withheld` says why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._numbers import clip
from ..errors import BrokerConfigurationError

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "allowed_tools", "why_withheld"]

#: Offered unless ``agent_tools`` leaves them out.
READ_TOOLS = (
    "get_account_status",
    "get_buying_power",
    "get_current_positions",
    "check_order_status",
    "get_orders",
    "get_portfolio_history",
    "get_quote",
    "preview_order",
    "halt_trading",
)
#: Offered only with ``auto_execute_trades`` (and when ``agent_tools`` lists them).
WRITE_TOOLS = ("execute_trade", "cancel_order", "close_position")

READ_ONLY = "it changes orders and auto_execute_trades is off"
NOT_LISTED = "the configuration's agent_tools does not list it"


def allowed_tools(config: Mapping[str, Any], known: Sequence[str]) -> frozenset[str] | None:
    """The names ``agent_tools`` allows (None: every tool); each must be one of ``known``."""
    chosen = config.get("agent_tools")
    if chosen is None:
        return None
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise BrokerConfigurationError(
            "configuration key 'agent_tools' names no tool called "
            f"{', '.join(clip(name) for name in unknown[:5])}; the tools are: "
            f"{', '.join(known)}. Fix the list, or leave the key unset for every tool",
            details={"key": "agent_tools"},
        )
    return frozenset(chosen)


def why_withheld(
    name: str, *, writes: bool, writable: bool, allowed: frozenset[str] | None
) -> str | None:
    """Why the tool ``name`` is not offered, or None when it is."""
    if writes and not writable:
        return READ_ONLY
    if allowed is not None and name not in allowed:
        return NOT_LISTED
    return None
