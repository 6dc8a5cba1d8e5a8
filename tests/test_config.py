from __future__ import annotations

from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BROKER_TOOL_CATEGORIES,
    DEFAULT_CONFIG,
    BrokerConfigurationError,
    get_config,
    load_config,
    set_config,
)
from tradingagents_brokers.config import default_state_dir, effective_config


def test_defaults_keep_the_origin_designs_keys_and_values():
    assert DEFAULT_CONFIG["trading_broker"] == "alpaca"
    assert DEFAULT_CONFIG["broker_mode"] == "paper"
    assert DEFAULT_CONFIG["auto_execute_trades"] is False
    assert DEFAULT_CONFIG["max_position_size"] == Decimal("0.10")
    assert DEFAULT_CONFIG["max_order_value"] == Decimal("10000")
    assert DEFAULT_CONFIG["require_confirmation"] is True
    assert set(DEFAULT_CONFIG["broker_vendors"]) == set(BROKER_TOOL_CATEGORIES)
    assert DEFAULT_CONFIG["broker_tool_vendors"] == {}


def test_get_config_returns_a_copy():
    config = get_config()
    config["broker_vendors"]["order_execution"] = "mutated"
    assert get_config()["broker_vendors"]["order_execution"] == "default"


def test_set_config_merges_mappings_one_level_deep():
    set_config({"broker_vendors": {"order_execution": "sim"}})
    set_config({"broker_vendors": {"account_data": "sim"}})
    vendors = get_config()["broker_vendors"]
    assert vendors["order_execution"] == "sim"
    assert vendors["account_data"] == "sim"
    assert vendors["portfolio_data"] == "default"


def test_set_config_with_a_bad_value_changes_nothing():
    set_config({"max_order_value": 500})
    with pytest.raises(BrokerConfigurationError):
        set_config({"max_order_value": 1000, "broker_mode": "yolo"})
    assert get_config()["max_order_value"] == Decimal(500)


@pytest.mark.parametrize(
    ("key", "value", "accepts"),
    [
        ("broker_mode", "yolo", "'paper' or 'live'"),
        ("auto_execute_trades", "maybe", "true or false"),
        ("max_position_size", "1.5", "at most 1"),
        ("max_position_size", 0, "above 0"),
        ("max_position_size", "NaN", "above 0"),
        ("max_order_value", -1, "positive amount"),
        ("max_order_value", "lots", "positive amount"),
        ("trading_broker", "", "broker name"),
        ("broker_vendors", {"nonsense": "sim"}, "categories"),
        ("broker_vendors", "sim", "mapping"),
        ("broker_tool_vendors", {"buy_the_dip": "sim"}, "method names"),
        ("broker_options", {"sim": 3}, "a table per broker"),
        ("blocked_plugins", 7, "list of names"),
        ("state_dir", 7, "directory path"),
    ],
)
def test_malformed_values_name_the_key_and_what_it_accepts(key, value, accepts):
    with pytest.raises(BrokerConfigurationError) as raised:
        load_config({key: value}, environ={})
    assert repr(key) in raised.value.message
    assert accepts in raised.value.message
    assert raised.value.details["key"] == key


def test_unknown_key_is_an_error_listing_known_keys():
    with pytest.raises(
        BrokerConfigurationError, match="unknown configuration key 'max_ordr_value'"
    ):
        load_config({"max_ordr_value": 5}, environ={})


def test_toml_file_then_environment_then_code(tmp_path):
    path = tmp_path / "brokers.toml"
    path.write_text(
        'trading_broker = "sim"\nmax_order_value = 2500\n'
        "[broker_options.sim]\ninitial_cash = 5000\n"
    )
    env = {
        "TRADINGAGENTS_BROKERS_CONFIG": str(path),
        "TRADINGAGENTS_BROKERS_MAX_ORDER_VALUE": "3000",
    }
    config = load_config(environ=env)
    assert config["trading_broker"] == "sim"
    assert config["max_order_value"] == Decimal(3000)
    assert config["broker_options"] == {"sim": {"initial_cash": 5000}}
    config = load_config({"max_order_value": 4000}, environ=env)
    assert config["max_order_value"] == Decimal(4000)


def test_environment_mappings_are_json(tmp_path):
    env = {
        "TRADINGAGENTS_BROKERS_BROKER_TOOL_VENDORS": '{"place_order": "sim"}',
        "TRADINGAGENTS_BROKERS_AUTO_EXECUTE_TRADES": "true",
        "TRADINGAGENTS_BROKERS_BLOCKED_PLUGINS": "one, two",
    }
    config = load_config(environ=env)
    assert config["broker_tool_vendors"] == {"place_order": "sim"}
    assert config["auto_execute_trades"] is True
    assert config["blocked_plugins"] == ["one", "two"]
    with pytest.raises(BrokerConfigurationError, match="JSON object"):
        load_config(environ={"TRADINGAGENTS_BROKERS_BROKER_VENDORS": "{oops"})


def test_malformed_environment_value_names_the_variable():
    with pytest.raises(BrokerConfigurationError, match="TRADINGAGENTS_BROKERS_BROKER_MODE"):
        load_config(environ={"TRADINGAGENTS_BROKERS_BROKER_MODE": "sideways"})
    with pytest.raises(BrokerConfigurationError, match="unknown environment variable"):
        load_config(environ={"TRADINGAGENTS_BROKERS_COLOUR": "blue"})


def test_bad_or_missing_file_is_reported(tmp_path):
    with pytest.raises(BrokerConfigurationError, match="does not exist"):
        load_config(path=tmp_path / "missing.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("trading_broker = ")
    with pytest.raises(BrokerConfigurationError, match="not valid TOML"):
        load_config(path=broken, environ={})
    bad_value = tmp_path / "bad.toml"
    bad_value.write_text('broker_mode = "yolo"\n')
    with pytest.raises(BrokerConfigurationError, match=f"file {bad_value}"):
        load_config(path=bad_value, environ={})


def test_effective_config_applies_overrides_on_top_of_set_config():
    set_config({"max_order_value": 100})
    assert effective_config({"trading_broker": "sim"})["max_order_value"] == Decimal(100)
    assert effective_config({"max_order_value": 7})["max_order_value"] == Decimal(7)


def test_default_state_dir_prefers_home_then_xdg(tmp_path):
    assert default_state_dir({"TRADINGAGENTS_BROKERS_HOME": "/x"}).as_posix() == "/x"
    assert default_state_dir({"XDG_STATE_HOME": "/s"}).as_posix() == "/s/tradingagents-brokers"
    assert default_state_dir({}).name == "tradingagents-brokers"


@pytest.mark.parametrize("text", ['["AAPL", "tsla"]', "AAPL, tsla", ' ["AAPL","TSLA"] '])
def test_a_list_in_the_environment_is_comma_separated_or_json(text):
    config = load_config(environ={"TRADINGAGENTS_BROKERS_DENIED_SYMBOLS": text})
    assert config["denied_symbols"] == ["AAPL", "TSLA"]


def test_a_json_list_that_does_not_parse_says_what_is_accepted():
    with pytest.raises(BrokerConfigurationError, match="a JSON list of names, or names separated"):
        load_config(environ={"TRADINGAGENTS_BROKERS_DENIED_SYMBOLS": '["AAPL",'})
