"""Broker methods grouped by category, for routing (``broker_vendors`` is per category).

Shaped like TradingAgents' ``TOOLS_CATEGORIES``: category -> description and method names.
"""

from __future__ import annotations

from typing import Final, TypedDict

__all__ = [
    "BROKER_METHODS",
    "BROKER_TOOL_CATEGORIES",
    "METHOD_ALIASES",
    "ORDER_METHODS",
    "canonical_method",
    "category_for_method",
]


class Category(TypedDict):
    description: str
    tools: list[str]


BROKER_TOOL_CATEGORIES: Final[dict[str, Category]] = {
    "order_execution": {
        "description": "Place, replace and cancel orders; close positions",
        "tools": [
            "place_order",
            "replace_order",
            "cancel_order",
            "cancel_all_orders",
            "close_position",
            "close_all_positions",
        ],
    },
    "order_data": {
        "description": "Look up orders by id or client order id, list orders",
        "tools": ["get_order", "get_order_by_client_id", "get_orders"],
    },
    "portfolio_data": {
        "description": "Positions and portfolio history",
        "tools": ["get_positions", "get_position", "get_portfolio_history"],
    },
    "account_data": {
        "description": "Account balances and buying power",
        "tools": ["get_account", "get_buying_power"],
    },
    "market_data": {
        "description": "Market clock, asset attributes and reference prices",
        "tools": ["get_clock", "get_asset", "get_quote"],
    },
}

#: Every routable method name.
BROKER_METHODS: Final[frozenset[str]] = frozenset(
    name for category in BROKER_TOOL_CATEGORIES.values() for name in category["tools"]
)

#: The origin design's names for methods that are called something else here.
METHOD_ALIASES: Final[dict[str, str]] = {
    "get_order_status": "get_order",
    "modify_order": "replace_order",
}

#: Methods that create or change orders: they never fall through to a second broker.
ORDER_METHODS: Final[frozenset[str]] = frozenset(BROKER_TOOL_CATEGORIES["order_execution"]["tools"])


def canonical_method(method: str) -> str:
    """The method ``method`` names: itself, or what an alias of the origin design stands for.

    >>> canonical_method("get_order_status"), canonical_method("get_orders")
    ('get_order', 'get_orders')
    """
    return METHOD_ALIASES.get(method, method)


def category_for_method(method: str) -> str:
    """The category of ``method`` (or of the method an alias names).

    ``ValueError`` naming the known methods if there is none.
    """
    wanted = canonical_method(method)
    for name, category in BROKER_TOOL_CATEGORIES.items():
        if wanted in category["tools"]:
            return name
    known = ", ".join(sorted(BROKER_METHODS | METHOD_ALIASES.keys()))
    raise ValueError(f"unknown broker method {method!r}; known methods: {known}")
