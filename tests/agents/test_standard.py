"""langchain-tests' standard suites for every tool of a toolkit, against the sim broker.

One unit and one integration class per tool, generated below. Each test gets a
fresh sim account in its own directory, prepared so that the example call can
succeed (an open order to cancel, a position to close).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from tradingagents_brokers import GatedBroker, OrderContext
from tradingagents_brokers.tools import READ_TOOLS, WRITE_TOOLS, BrokerToolkit

from .conftest import by_name, sim_settings

AGAIN = OrderContext(allow_repeat=True)


def _order(gated: GatedBroker, **fields: Any) -> str:
    return gated.place_order(context=AGAIN, **fields).order_id


#: Per tool: how to prepare the account, returning the example call's arguments.
EXAMPLES: dict[str, Callable[[GatedBroker], dict[str, Any]]] = {
    "get_account_status": lambda g: {},
    "get_buying_power": lambda g: {},
    "get_current_positions": lambda g: (
        _order(g, symbol="AAPL", side="buy", qty=3) and {"symbol": "AAPL"}
    ),
    "check_order_status": lambda g: {"order_id": _order(g, symbol="MSFT", side="buy", qty=1)},
    "get_orders": lambda g: {"status": "all", "limit": 5},
    "get_portfolio_history": lambda g: {"period": "1M", "timeframe": "1D"},
    "get_quote": lambda g: {"symbol": "MSFT"},
    "preview_order": lambda g: {"symbol": "AAPL", "action": "buy", "quantity": "2"},
    "halt_trading": lambda g: {"reason": "standard tests"},
    "execute_trade": lambda g: {"symbol": "AAPL", "action": "buy", "quantity": "1"},
    "cancel_order": lambda g: {
        "order_id": _order(g, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=95)
    },
    "close_position": lambda g: (
        _order(g, symbol="SPY", side="buy", qty=4) and {"symbol": "SPY", "quantity": "1"}
    ),
}


class _OnSim:
    tool_name: str

    @pytest.fixture(autouse=True)
    def _sim_account(self, tmp_path: Path) -> Iterator[None]:
        self._toolkit = BrokerToolkit.from_config(sim_settings(tmp_path))
        self._example = EXAMPLES[self.tool_name](self._toolkit.broker)
        yield
        self._toolkit.close()

    @property
    def tool_constructor(self) -> Any:
        return by_name(self._toolkit)[self.tool_name]

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return self._example


for _name in (*READ_TOOLS, *WRITE_TOOLS):
    _title = "".join(part.title() for part in _name.split("_"))
    for _kind, _base in (("Unit", ToolsUnitTests), ("Integration", ToolsIntegrationTests)):
        _cls = type(f"Test{_title}{_kind}", (_OnSim, _base), {"tool_name": _name})
        _cls.__module__ = __name__
        globals()[_cls.__name__] = _cls


def test_every_tool_has_a_standard_suite() -> None:
    generated = {n for n in globals() if n.startswith("Test")}
    assert len(generated) == 2 * len(EXAMPLES) == 2 * len(READ_TOOLS + WRITE_TOOLS)
