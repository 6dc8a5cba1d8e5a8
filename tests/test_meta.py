"""Meta-tests: the public surface is pinned, hooks are documented and tested, modules are small."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import tradingagents_brokers

ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_hooks", ROOT / "docs" / "gen_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_names_are_pinned():
    assert sorted(tradingagents_brokers.__all__) == sorted(
        [
            "BROKER_TOOL_CATEGORIES",
            "DEFAULT_CONFIG",
            "Account",
            "Approval",
            "Asset",
            "Broker",
            "BrokerAPIError",
            "BrokerAuthenticationError",
            "BrokerCapabilities",
            "BrokerConfigurationError",
            "BrokerError",
            "BrokerRateLimitError",
            "BrokerSettings",
            "BrokerType",
            "BrokerUnavailableError",
            "CheckContext",
            "Clock",
            "ClosePositionResult",
            "Decision",
            "DuplicateClientOrderIdError",
            "GatedBroker",
            "Instrument",
            "InsufficientFundsError",
            "InvalidOrderError",
            "JournalDamagedError",
            "NotFoundError",
            "NotSupportedError",
            "Order",
            "OrderBlockedError",
            "OrderChanges",
            "OrderClass",
            "OrderContext",
            "OrderEvent",
            "OrderOutcomeUnknownError",
            "OrderPreview",
            "OrderQuery",
            "OrderRejectedError",
            "OrderRequest",
            "OrderSide",
            "OrderStatus",
            "OrderType",
            "PluginHost",
            "PluginLoadError",
            "PortfolioHistory",
            "Position",
            "PositionSide",
            "Quote",
            "Reason",
            "RequestBudgetExhaustedError",
            "StopLoss",
            "StoreUnavailableError",
            "TakeProfit",
            "TimeInForce",
            "TradingMode",
            "__version__",
            "get_broker",
            "get_config",
            "hookimpl",
            "load_config",
            "make_plugin_manager",
            "reset_config",
            "route_to_broker",
            "set_config",
        ]
    )
    for name in tradingagents_brokers.__all__:
        assert hasattr(tradingagents_brokers, name), name


def test_the_spec_marker_stays_internal():
    assert "hookspec" not in tradingagents_brokers.__all__


def test_hook_reference_is_generated_from_the_specs():
    generator = _load_generator()
    committed = (ROOT / "docs" / "hooks.md").read_text()
    assert committed == generator.render(), "run: python docs/gen_hooks.py"
    for name in generator.hook_names():
        assert f"## `{name}`" in committed


def _hook_tests() -> set[str]:
    tree = ast.parse((ROOT / "tests" / "test_hooks.py").read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_")
    }


def test_every_hook_has_a_test_named_after_it():
    hooks = _load_generator().hook_names()
    covered = set()
    for test in _hook_tests():
        rest = test.removeprefix("test_hook_")
        matches = [h for h in hooks if rest == h or rest.startswith(f"{h}_")]
        if matches:
            covered.add(max(matches, key=len))
    assert sorted(set(hooks) - covered) == []


def test_no_module_is_longer_than_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in [*ROOT.glob("src/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")]
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert long == {}


def test_the_package_is_typed():
    assert (Path(tradingagents_brokers.__file__).parent / "py.typed").exists()


def test_the_suite_cannot_reach_the_network():
    import socket

    from pytest_socket import SocketConnectBlockedError

    with (
        pytest.warns(UserWarning, match=r"192\.0\.2\.1"),
        pytest.raises(SocketConnectBlockedError, match=r"allowed: \"127\.0\.0\.1"),
    ):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
