"""route_to_broker and get_broker: the origin design's examples, against the sim broker."""

from __future__ import annotations

import pytest

from tradingagents_brokers import (
    BrokerConfigurationError,
    BrokerError,
    get_broker,
    hookimpl,
    route_to_broker,
    set_config,
)
from tradingagents_brokers.errors import BrokerAuthenticationError
from tradingagents_brokers.models import ACCOUNT_FIELDS, POSITION_FIELDS
from tradingagents_brokers.orders import ORDER_FIELDS
from tradingagents_brokers.routing import broker_for_method


@pytest.fixture
def routed(sim_config):
    set_config(sim_config)
    return sim_config


def test_origin_design_place_order_example_returns_the_order_contract(routed):
    result = route_to_broker("place_order", symbol="AAPL", qty=10, side="buy", order_type="market")
    assert tuple(result) == ORDER_FIELDS
    assert result["status"] == "filled"
    assert result["qty"] == "10"
    assert result["filled_avg_price"] == "100"


def test_positions_and_account_carry_their_contract_fields(routed):
    route_to_broker("place_order", symbol="AAPL", qty=10, side="buy")
    positions = route_to_broker("get_positions")
    assert [tuple(p) for p in positions] == [POSITION_FIELDS]
    account = route_to_broker("get_account")
    assert tuple(account) == ACCOUNT_FIELDS
    assert account["cash"] == "99000"
    assert route_to_broker("get_buying_power") == {"buying_power": "99000"}


def test_live_mode_without_auto_execute_returns_blocked_and_sends_nothing(routed):
    set_config({"broker_mode": "live"})
    result = route_to_broker("place_order", symbol="AAPL", qty=10, side="buy")
    assert result["status"] == "blocked"
    assert "auto_execute_trades: True" in result["message"]
    set_config({"broker_mode": "paper"})
    assert route_to_broker("get_orders", status="all") == []


def test_insufficient_funds_and_invalid_orders_return_the_error_dict(routed):
    poor = route_to_broker("place_order", symbol="SPY", qty=10, side="sell")
    assert poor["code"] == "insufficient_funds"
    assert set(poor) == {"error", "message", "code", "details"}
    vetoed = route_to_broker("place_order", symbol="SPY", qty=1000, side="buy")
    assert vetoed["code"] == "order_rejected"
    assert "ORDER_VALUE_EXCEEDS_MAX" in vetoed["message"]
    invalid = route_to_broker("place_order", symbol="AAPL", qty=-1, side="buy")
    assert invalid["error"] == "InvalidOrderError"
    assert "greater than zero" in invalid["message"]
    unknown = route_to_broker("place_order", symbol="ZZZZ", qty=1, side="buy")
    assert "REFERENCE_PRICE_MISSING" in unknown["message"]
    assert route_to_broker("get_orders", status="all") == []


def test_unknown_method_is_a_value_error(routed):
    with pytest.raises(ValueError, match="unknown broker method 'buy_the_dip'"):
        route_to_broker("buy_the_dip")


def test_wrong_arguments_are_an_invalid_order_error(routed):
    from tradingagents_brokers import InvalidOrderError

    with pytest.raises(InvalidOrderError, match="check the argument names"):
        route_to_broker("get_positions", symbol="AAPL")


def test_unknown_broker_is_a_configuration_error(routed):
    set_config({"trading_broker": "nosuchbroker"})
    with pytest.raises(BrokerConfigurationError, match="no broker named 'nosuchbroker'"):
        route_to_broker("get_account")


def test_routing_precedence_method_over_category_over_trading_broker():
    config = {
        "trading_broker": "alpaca",
        "broker_vendors": {"order_execution": "sim", "account_data": "default"},
        "broker_tool_vendors": {"cancel_order": "other"},
    }
    assert broker_for_method("place_order", config) == "sim"
    assert broker_for_method("cancel_order", config) == "other"
    assert broker_for_method("get_account", config) == "alpaca"
    assert broker_for_method("get_positions", config) == "alpaca"


def test_an_order_never_falls_through_to_a_second_broker(routed):
    set_config({"broker_tool_vendors": {"place_order": "alpaca"}})
    with pytest.raises(BrokerConfigurationError, match="'alpaca'"):
        route_to_broker("place_order", symbol="AAPL", qty=1, side="buy")
    set_config({"broker_tool_vendors": {"place_order": "sim"}})
    assert route_to_broker("get_orders", status="all") == []


def test_cancel_results_are_json(routed):
    order = route_to_broker(
        "place_order", symbol="AAPL", qty=1, side="buy", order_type="limit", limit_price=90
    )
    assert route_to_broker("cancel_order", order_id=order["order_id"]) == {
        "status": "cancel_requested",
        "order_id": order["order_id"],
    }
    assert route_to_broker("cancel_all_orders") == {"status": "cancel_requested", "order_ids": []}


class Failing:
    def __init__(self, error):
        self.error = error

    @hookimpl(tryfirst=True)
    def get_account(self):
        raise self.error


def _with_failing_plugin(monkeypatch, error):
    from tradingagents_brokers import plugins

    real = plugins.make_plugin_manager

    def patched(**kwargs):
        pm = real(**kwargs)
        pm.register(Failing(error), name="failing")
        return pm

    monkeypatch.setattr("tradingagents_brokers.host.make_plugin_manager", patched)


def test_authentication_failure_raises_configuration_error(routed, monkeypatch):
    _with_failing_plugin(monkeypatch, BrokerAuthenticationError("request is not authorized"))
    with pytest.raises(BrokerConfigurationError, match="refused the credentials"):
        route_to_broker("get_account")


def test_unexpected_errors_are_wrapped_in_broker_error(routed, monkeypatch):
    _with_failing_plugin(monkeypatch, KeyError("surprise"))
    with pytest.raises(BrokerError, match="unexpected error in get_account") as raised:
        route_to_broker("get_account")
    assert type(raised.value) is BrokerError


def test_other_broker_errors_are_raised_as_they_are(routed, monkeypatch):
    from tradingagents_brokers import BrokerRateLimitError

    _with_failing_plugin(monkeypatch, BrokerRateLimitError("slow down"))
    with pytest.raises(BrokerRateLimitError):
        route_to_broker("get_account")


def test_route_reuses_the_broker_until_the_configuration_changes(routed):
    route_to_broker("get_account")
    from tradingagents_brokers import routing

    first = routing._cache["sim"][1]
    route_to_broker("get_account")
    assert routing._cache["sim"][1] is first
    set_config({"max_order_value": 5})
    route_to_broker("get_account")
    assert routing._cache["sim"][1] is not first


def test_get_broker_defaults_to_trading_broker(routed):
    with get_broker() as gated:
        assert gated.name == "sim"
        assert gated.get_account().status == "ACTIVE"


def test_the_origin_designs_method_names_are_aliases(routed):
    resting = route_to_broker(
        "place_order", symbol="AAPL", qty=1, side="buy", order_type="limit", limit_price=95
    )
    status = route_to_broker("get_order_status", order_id=resting["order_id"])
    assert (tuple(status), status["status"]) == (ORDER_FIELDS, "new")
    moved = route_to_broker("modify_order", order_id=resting["order_id"], limit_price=96)
    assert moved["limit_price"] == "96"
    assert route_to_broker("get_order_status", order_id=resting["order_id"])["status"] == (
        "replaced"
    )
    with pytest.raises(ValueError, match=r"known methods: .*get_order_status.*modify_order"):
        route_to_broker("get_order_state")


def test_aliases_route_where_their_methods_route(routed):
    from tradingagents_brokers.categories import METHOD_ALIASES, category_for_method
    from tradingagents_brokers.config import get_config

    set_config({"broker_tool_vendors": {"get_order_status": "other", "modify_order": "third"}})
    config = get_config()
    assert config["broker_tool_vendors"] == {"get_order": "other", "replace_order": "third"}
    assert broker_for_method("get_order", config) == "other"
    assert broker_for_method("get_order_status", config) == "other"
    assert broker_for_method("modify_order", config) == "third"
    for alias, method in METHOD_ALIASES.items():
        assert category_for_method(alias) == category_for_method(method)
    with pytest.raises(BrokerConfigurationError, match="one broker for 'get_order'"):
        set_config({"broker_tool_vendors": {"get_order_status": "a", "get_order": "b"}})
