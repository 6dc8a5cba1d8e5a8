"""The plugin as users meet it: discovery, configuration, credentials, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tradingagents_brokers import (
    BrokerConfigurationError,
    BrokerSettings,
    PluginHost,
    TradingMode,
    make_plugin_manager,
)
from tradingagents_brokers.cli.main import main
from tradingagents_brokers_alpaca.broker import LIVE_URL, PAPER_URL, build_alpaca

from .conftest import CANARY_KEY, CANARY_SECRET, settings


def test_the_entry_point_registers_alpaca_with_its_capabilities():
    host = PluginHost(make_plugin_manager())
    alpaca = host.broker_types["alpaca"]
    assert host.plugins["alpaca"].distribution == "tradingagents-brokers-alpaca"
    assert alpaca.capabilities.notional
    assert alpaca.capabilities.short_selling
    assert alpaca.credential_env["live"] == ("ALPACA_LIVE_API_KEY", "ALPACA_LIVE_SECRET_KEY")


def test_discovery_does_not_import_alpaca_py():
    code = (
        "import sys\n"
        "from tradingagents_brokers import PluginHost, make_plugin_manager\n"
        "assert 'alpaca' in PluginHost(make_plugin_manager()).broker_types\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alpaca', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugins_command_lists_alpaca_with_version_and_capabilities(capsys):
    assert main(["plugins", "--json"]) == 0
    records = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["alpaca"]["version"] == "0.1.0"
    assert "trailing_stop" in records["alpaca"]["capabilities"]["alpaca"]["order_types"]


def test_doctor_names_missing_variables_never_values(capsys, monkeypatch):
    monkeypatch.delenv("ALPACA_LIVE_API_KEY")
    assert main(["doctor", "--broker", "alpaca", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["brokers"]["alpaca"]["credentials"]["ALPACA_PAPER_API_KEY"] == "set"
    assert report["brokers"]["alpaca"]["credentials"]["ALPACA_LIVE_API_KEY"] == "missing"
    monkeypatch.delenv("ALPACA_PAPER_SECRET_KEY")
    assert main(["doctor", "--broker", "alpaca"]) == 1
    out = capsys.readouterr().out
    assert "ALPACA_PAPER_SECRET_KEY" in out
    assert CANARY_KEY not in out


def test_missing_keys_name_the_variables(monkeypatch, fake):
    monkeypatch.delenv("ALPACA_PAPER_SECRET_KEY")
    monkeypatch.delenv("ALPACA_LIVE_API_KEY")
    monkeypatch.delenv("ALPACA_LIVE_SECRET_KEY")
    with pytest.raises(BrokerConfigurationError, match="ALPACA_PAPER_SECRET_KEY") as raised:
        build_alpaca(settings(fake.url))
    assert CANARY_KEY not in raised.value.message
    # live keys are read at the first request: the core's opt-in answers before that
    live = build_alpaca(BrokerSettings(name="alpaca", mode=TradingMode.LIVE, options={}))
    assert live.subscribe_order_updates(listener=None) is None  # no keys: no stream
    with pytest.raises(
        BrokerConfigurationError, match="ALPACA_LIVE_API_KEY, ALPACA_LIVE_SECRET_KEY"
    ):
        live.get_account()
    live.close()


@pytest.mark.parametrize("bad", [" PKWITHSPACE123", "PK12", "PK\x07CONTROL1234"])
def test_malformed_keys_are_refused_without_echoing_them(monkeypatch, fake, bad):
    monkeypatch.setenv("ALPACA_PAPER_API_KEY", bad)
    with pytest.raises(
        BrokerConfigurationError, match="ALPACA_PAPER_API_KEY is malformed"
    ) as raised:
        build_alpaca(settings(fake.url))
    assert bad.strip() not in raised.value.message


def test_paper_is_the_default_and_hosts_cannot_cross_modes(monkeypatch):
    broker = build_alpaca(BrokerSettings(name="alpaca", mode=TradingMode.PAPER))
    assert broker.base_url == PAPER_URL
    broker.close()
    with pytest.raises(BrokerConfigurationError, match="live host in paper mode"):
        build_alpaca(
            BrokerSettings(name="alpaca", mode=TradingMode.PAPER, options={"base_url": LIVE_URL})
        )
    monkeypatch.setenv("ALPACA_LIVE_API_KEY", CANARY_KEY)
    monkeypatch.setenv("ALPACA_LIVE_SECRET_KEY", CANARY_SECRET)
    with pytest.raises(BrokerConfigurationError, match="paper host"):
        build_alpaca(
            BrokerSettings(name="alpaca", mode=TradingMode.LIVE, options={"base_url": PAPER_URL})
        )
    live = build_alpaca(BrokerSettings(name="alpaca", mode=TradingMode.LIVE))
    assert live.base_url == LIVE_URL
    live.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown broker_options.alpaca key"),
        ({"read_timeout": "soon"}, "read_timeout must be a float"),
        ({"read_timeout": 0}, "must be above 0"),
        ({"connect_timeout": -1}, "must not be negative"),
        ({"max_requests_per_minute": 0}, "must be above 0"),
        ({"read_retries": "many"}, "read_retries must be a int"),
    ],
)
def test_bad_options_are_configuration_errors(fake, options, message):
    with pytest.raises(BrokerConfigurationError, match=message):
        build_alpaca(settings(fake.url, **options))


def test_alpaca_py_still_has_the_private_attributes_the_plugin_relies_on(alpaca):
    client = alpaca._http._client
    assert client._retry == 0
    assert client._retry_codes == []
    assert callable(client._session.request)
    assert hasattr(client, "_request")
