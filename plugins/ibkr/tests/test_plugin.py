"""The plugin as users meet it: discovery, options, connecting, and paper versus live."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerSettings,
    PluginHost,
    TradingMode,
    make_plugin_manager,
)
from tradingagents_brokers.cli.main import main
from tradingagents_brokers_ibkr.broker import build_ibkr
from tradingagents_brokers_ibkr.options import read_options

from .conftest import settings, wait_until


def test_the_entry_point_registers_ibkr_with_honest_capabilities():
    host = PluginHost(make_plugin_manager())
    ibkr = host.broker_types["ibkr"]
    assert host.plugins["ibkr"].distribution == "tradingagents-brokers-ibkr"
    caps = ibkr.capabilities
    assert not caps.fractional
    assert not caps.notional
    assert caps.extended_hours
    assert caps.short_selling
    assert caps.order_updates
    assert caps.replace, "IB modifies in place; the core follows the order under its new id"
    assert "gtd" in {t.value for t in caps.time_in_force}
    assert {c.value for c in caps.order_classes} == {"simple", "bracket", "oco", "oto"}
    assert ibkr.credential_env == {}, "the API socket takes no keys: TWS logs in by itself"


def test_discovery_does_not_import_ib_async():
    code = (
        "import sys\n"
        "from tradingagents_brokers import PluginHost, make_plugin_manager\n"
        "assert 'ibkr' in PluginHost(make_plugin_manager()).broker_types\n"
        "heavy = ('ib_async', 'eventkit', 'nest_asyncio')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plugins_command_lists_ibkr(capsys):
    assert main(["plugins", "--json"]) == 0
    records = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["ibkr"]["version"] == "0.1.0"
    assert "trailing_stop" in records["ibkr"]["capabilities"]["ibkr"]["order_types"]


def test_paper_is_the_default_with_tws_paper_port():
    paper = read_options({}, TradingMode.PAPER)
    assert (paper.host, paper.port, paper.client_id) == ("127.0.0.1", 7497, 1)
    assert read_options({}, TradingMode.LIVE).port == 7496


@pytest.mark.parametrize(
    ("mode", "port", "message"),
    [
        (TradingMode.PAPER, 7496, "live-trading port"),
        (TradingMode.PAPER, 4001, "live-trading port"),
        (TradingMode.LIVE, 7497, "paper-trading port"),
        (TradingMode.LIVE, 4002, "paper-trading port"),
    ],
)
def test_a_port_of_the_other_mode_is_refused_before_connecting(mode, port, message):
    with pytest.raises(BrokerConfigurationError, match=message):
        build_ibkr(BrokerSettings(name="ibkr", mode=mode, options={"port": port}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown broker_options.ibkr key"),
        ({"port": "soon"}, "port must be a int"),
        ({"port": 7497.5}, "port must be a int"),
        ({"client_id": True}, "client_id must be a int"),
        ({"port": 70000}, "is not a TCP port"),
        ({"connect_timeout": 0}, "must be above 0"),
        ({"order_timeout": -1}, "must not be negative"),
        ({"request_timeout": float("nan")}, "must not be negative"),
        ({"market_data_type": 5}, "market_data_type must be 1"),
        ({"host": "  "}, "host is empty"),
    ],
)
def test_bad_options_are_configuration_errors(options, message):
    with pytest.raises(BrokerConfigurationError, match=message):
        read_options(options, TradingMode.PAPER)


def test_a_gateway_that_is_not_running_is_a_clear_error(fake):
    fake.close()
    with pytest.raises(BrokerAPIError, match="cannot connect to TWS/IB Gateway") as raised:
        build_ibkr(settings(fake))
    assert "enable its API" in raised.value.message


def test_a_gateway_that_closes_at_once_is_a_clear_error(fake):
    fake.refuse = 1
    with pytest.raises(BrokerAPIError, match="cannot connect"):
        build_ibkr(settings(fake, connect_timeout=0.5))


def test_a_client_id_in_use_is_refused_with_advice(fake, ibkr):
    with pytest.raises(BrokerConfigurationError, match=r"its own broker_options\.ibkr\.client_id"):
        build_ibkr(settings(fake))
    other = build_ibkr(settings(fake, client_id=8))  # another id is fine
    other.close()


def test_paper_mode_refuses_a_live_login(fake):
    fake.book.accounts = ["U7654321"]
    with pytest.raises(BrokerConfigurationError, match="live account U7654321") as raised:
        build_ibkr(settings(fake))
    assert "paper-trading user" in raised.value.message
    wait_until(lambda: fake.clients == {})  # the plugin hangs up on a login of the wrong kind


def test_live_mode_refuses_a_paper_login(fake):
    with pytest.raises(BrokerConfigurationError, match="paper account DU1234567"):
        build_ibkr(settings(fake, mode=TradingMode.LIVE))


def test_live_mode_trades_a_live_login(fake):
    fake.book.accounts = ["U7654321"]
    broker = build_ibkr(settings(fake, mode=TradingMode.LIVE))
    try:
        assert broker.session.account == "U7654321"
        assert broker.get_account().account_number == "U7654321"
    finally:
        broker.close()


def test_several_accounts_need_one_named(fake):
    fake.book.accounts = ["DU111", "DU222"]
    with pytest.raises(BrokerConfigurationError, match="manages 2 accounts"):
        build_ibkr(settings(fake))
    with pytest.raises(BrokerConfigurationError, match="'DU333' is not managed"):
        build_ibkr(settings(fake, account="DU333"))
    broker = build_ibkr(settings(fake, account="DU111"))
    assert broker.session.account == "DU111"
    broker.close()


def test_the_repr_names_the_gateway_and_account_and_a_closed_broker_says_so(ibkr):
    assert "client id 7" in repr(ibkr)
    assert "DU1234567" in repr(ibkr)
    assert "connected" in repr(ibkr.session)
    ibkr.close()
    ibkr.close()  # twice is harmless
    with pytest.raises(BrokerAPIError, match="closed"):
        ibkr.get_account()


def test_the_session_refuses_to_be_called_from_its_own_loop(ibkr):
    async def inner():
        ibkr.session.call(lambda: None, 1, what="nested")

    with pytest.raises(RuntimeError, match="would deadlock"):
        ibkr.session.call(inner, 1, what="a nested call", connected=False)


def test_every_option_is_documented():
    from pathlib import Path

    from tradingagents_brokers_ibkr.options import OPTIONS

    here = Path(__file__).resolve().parents[1]
    for page in (here / "README.md", here.parents[1] / "docs" / "ibkr.md"):
        if not page.exists():  # the docs live in the repository, not in the distribution
            continue
        text = page.read_text()
        assert [o for o in OPTIONS if f"`{o}`" not in text] == [], page.name


def test_requests_to_tws_are_drawn_from_the_accounts_budget(fake):
    from tradingagents_brokers import OrderRequest, RequestBudgetExhaustedError

    taken: list[int] = []

    class Budget:
        refuse = False

        def acquire(self) -> None:
            if self.refuse:
                raise RequestBudgetExhaustedError("spent (test)", retry_after=1.5)
            taken.append(1)

    budget = Budget()
    made = []

    def request_budget(per_minute, scope=None):
        made.append((per_minute, scope))
        return budget

    broker = build_ibkr(
        BrokerSettings(
            name="ibkr",
            mode=TradingMode.PAPER,
            options={"port": fake.port, "max_requests_per_minute": 600},
            request_budget=request_budget,
        )
    )
    try:
        assert made == [(600, None)]
        broker.get_account()
        assert taken == [], "account values are pushed by TWS: no request"
        broker.get_orders("all")
        assert len(taken) == 2
        broker.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="b-1"))
        assert len(taken) == 3
        budget.refuse = True
        with pytest.raises(RequestBudgetExhaustedError):
            broker.place_order(
                OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="b-2")
            )
        assert [p["orderRef"] for p in fake.book.received] == ["b-1"], "refused before sending"
    finally:
        broker.close()


def test_ib_async_still_has_the_attributes_the_plugin_relies_on(ibkr):
    ib = ibkr.session.ib
    assert isinstance(ib.wrapper.trades, dict)
    assert isinstance(ib.wrapper.ticker2ReqId, dict)
    assert ib.client.RequestsInterval == 1
    assert callable(ib.client.getReqId)
    assert callable(ib.client.getAccounts)
    for event in (ib.client.apiError, ib.client.conn.disconnected, ib.errorEvent):
        assert hasattr(event, "emit")
