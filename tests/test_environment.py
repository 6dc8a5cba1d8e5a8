"""One environment prefix, TRADINGAGENTS_BROKERS_: keys, settings, and every other name refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tradingagents_brokers import BrokerConfigurationError, load_config
from tradingagents_brokers.environment import OLD_PREFIX, PREFIX, SETTINGS, key_variables
from tradingagents_brokers.mcp_server.http import TOKEN_ENV
from tradingagents_brokers.plugins import BLOCK_ENV
from tradingagents_brokers.store.registry import HOST_ENV

ROOT = Path(__file__).resolve().parents[1]


def test_a_key_is_set_under_the_one_prefix():
    config = load_config(environ={"TRADINGAGENTS_BROKERS_TRADING_BROKER": "sim"})
    assert config["trading_broker"] == "sim"


def test_every_variable_the_package_reads_shares_the_prefix():
    for name in (BLOCK_ENV, HOST_ENV, TOKEN_ENV, *SETTINGS):
        assert name.startswith(PREFIX)
    assert {BLOCK_ENV, HOST_ENV, TOKEN_ENV} <= set(SETTINGS)


def test_settings_are_not_taken_for_keys():
    env = dict.fromkeys(SETTINGS, "x")
    assert key_variables(env, ["trading_broker"]) == {}


def test_a_misspelt_key_is_an_error_naming_the_right_one():
    with pytest.raises(BrokerConfigurationError) as caught:
        load_config(environ={"TRADINGAGENTS_BROKERS_TRADING_BROKR": "sim"})
    message = caught.value.message
    assert "unknown environment variable TRADINGAGENTS_BROKERS_TRADING_BROKR" in message
    assert "did you mean TRADINGAGENTS_BROKERS_TRADING_BROKER?" in message
    assert caught.value.details["did_you_mean"] == "TRADINGAGENTS_BROKERS_TRADING_BROKER"


def test_a_misspelt_setting_is_an_error_naming_the_setting():
    with pytest.raises(BrokerConfigurationError, match="did you mean TRADINGAGENTS_BROKERS_HOME"):
        load_config(environ={"TRADINGAGENTS_BROKERS_HOEM": "/tmp/x"})


def test_a_name_far_from_any_gives_no_guess_but_the_rule():
    with pytest.raises(BrokerConfigurationError) as caught:
        load_config(environ={"TRADINGAGENTS_BROKERS_ZZZZZZZZZZZZZZZZZZZZZZZZ": "1"})
    assert "did you mean" not in caught.value.message
    assert "configuration keys in capitals" in caught.value.message
    assert caught.value.details["did_you_mean"] is None


def test_the_old_prefix_is_refused_with_the_new_name():
    with pytest.raises(BrokerConfigurationError) as caught:
        load_config(environ={"TRADINGAGENTS_BROKER_MAX_ORDER_VALUE": "3000"})
    message = caught.value.message
    assert f"uses the old prefix {OLD_PREFIX}" in message
    assert "rename it TRADINGAGENTS_BROKERS_MAX_ORDER_VALUE" in message


def test_the_old_prefix_with_a_misspelt_key_names_the_closest_new_one():
    with pytest.raises(BrokerConfigurationError, match="rename it TRADINGAGENTS_BROKERS_STORE_URL"):
        load_config(environ={"TRADINGAGENTS_BROKER_STORE_URLL": "x"})
    with pytest.raises(BrokerConfigurationError, match="use a name under TRADINGAGENTS_BROKERS_"):
        load_config(environ={"TRADINGAGENTS_BROKER_QQQQQQQQQQQQQQQQQQQQQQQQ": "x"})


def test_a_hostile_name_is_shown_bounded_and_inert():
    name = "TRADINGAGENTS_BROKERS_" + "\x1b[31m" + "A" * 500
    with pytest.raises(BrokerConfigurationError) as caught:
        load_config(environ={name: "1"})
    assert "\x1b" not in caught.value.message
    assert "\\x1b[31m" in caught.value.message
    assert len(caught.value.message) < 600


def test_other_variables_are_left_alone():
    env = {"TRADINGAGENTS_HOME": "/x", "ALPACA_PAPER_API_KEY": "k", "PATH": "/bin"}
    assert key_variables(env, ["trading_broker"]) == {}


def test_no_file_in_the_repository_names_the_old_prefix():
    pattern = re.compile(r"TRADINGAGENTS_BROKER_(?!S)")
    # the module that refuses it, this test, and the pages that tell people to rename it
    allowed = {
        Path("src/tradingagents_brokers/environment.py"),
        Path(__file__).relative_to(ROOT),
        Path("docs/configuration.md"),
        Path("CHANGELOG.md"),
    }
    files = [*ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"), *ROOT.glob("plugins/*/*.md")]
    for folder in ("src", "tests", "plugins"):
        files += [p for p in (ROOT / folder).rglob("*.py") if "site-packages" not in p.parts]
    offenders = [
        str(path.relative_to(ROOT))
        for path in files
        if path.relative_to(ROOT) not in allowed and pattern.search(path.read_text())
    ]
    assert offenders == []
