"""Deliberately broken plugins fail the conformance kit with a message that says what to fix.

Each case writes a plugin module and a kit subclass into a scratch project and
runs pytest on it (pytester); the plugin is found through a patched entry point.
"""

from __future__ import annotations

import pytest

CONFTEST = """
import importlib.metadata as md
import pytest
from tradingagents_brokers import plugins

@pytest.fixture(autouse=True)
def _entry_point(monkeypatch, tmp_path):
    ep = md.EntryPoint(name="broken", value="broken_plugin", group="tradingagents_brokers")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path))
"""

KIT_TEST = """
from tradingagents_brokers.testing.kit import {level}

class TestBroken({level}):
    broker_name = "{name}"

    def broker_options(self):
        return {options}
"""

SIM_BASED = """
from tradingagents_brokers import BrokerType, hookimpl
from tradingagents_brokers.sim.plugin import build_sim, SIM_CAPABILITIES

def build(settings):
    broker = build_sim(settings)
{patch}
    return broker

@hookimpl
def register_brokers():
    return [BrokerType(name="broken", factory=build, description="broken on purpose",
                       capabilities=SIM_CAPABILITIES)]
"""


def _run(pytester, plugin, *, level="BrokerConformanceTests", name="broken", options="{}"):
    pytester.syspathinsert()
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        broken_plugin=plugin, test_kit=KIT_TEST.format(level=level, name=name, options=options)
    )
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-q")


def test_a_plugin_that_fails_to_import(pytester):
    result = _run(pytester, "raise ImportError('the SDK is missing')")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*plugin 'broken'*failed to import*the SDK is missing*"])
    result.stdout.fnmatch_lines(["*block it with TRADINGAGENTS_BROKERS_BLOCK=broken*"])


def test_a_plugin_that_registers_a_name_already_taken(pytester):
    plugin = SIM_BASED.format(patch="").replace('name="broken"', 'name="sim"')
    result = _run(pytester, plugin, name="sim")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*broker type 'sim' is registered by two plugins*"])


def test_a_plugin_that_drops_the_client_order_id(pytester):
    patch = """
    place = broker.place_order
    def place_order(request):
        return place(request.with_client_order_id("my-own-id-" + request.symbol))
    broker.place_order = place_order"""
    result = _run(
        pytester,
        SIM_BASED.format(patch=patch),
        level="BrokerTradingTests",
        options='{"prices": {"AAPL": 100}}',
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*FAILED*test_place_look_up_and_cancel*"])
    result.stdout.fnmatch_lines(["*answered with client_order_id 'my-own-id-AAPL'*instead of*"])


def test_a_broker_that_accepts_a_reused_client_order_id(pytester):
    patch = """
    from tradingagents_brokers import DuplicateClientOrderIdError
    place = broker.place_order
    def place_order(request):
        try:
            return place(request)
        except DuplicateClientOrderIdError:
            return place(request.with_client_order_id(request.client_order_id + "-again"))
    broker.place_order = place_order"""
    result = _run(
        pytester,
        SIM_BASED.format(patch=patch),
        level="BrokerTradingTests",
        options='{"prices": {"AAPL": 100}}',
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*FAILED*test_a_duplicate_client_order_id_is_refused_by_the_broker*"]
    )


@pytest.mark.parametrize("level", ["BrokerConformanceTests", "BrokerTradingTests"])
def test_the_sim_based_plugin_passes_when_nothing_is_broken(pytester, level):
    result = _run(
        pytester, SIM_BASED.format(patch=""), level=level, options='{"prices": {"AAPL": 100}}'
    )
    assert result.ret == 0, result.stdout.str()


def test_a_plugin_that_returns_float_quantities(pytester):
    patch = """
    from tradingagents_brokers import Position
    broker.get_positions = lambda: [Position(symbol="AAPL", qty=1.5, avg_entry_price="100",
                                             cost_basis="150")]"""
    result = _run(
        pytester,
        SIM_BASED.format(patch=patch),
        level="BrokerTradingTests",
        options='{"prices": {"AAPL": 100}}',
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*FAILED*test_positions_have_the_contract_fields*"])
    result.stdout.fnmatch_lines(["*is a float (1.5); a broker plugin must return Decimal*"])


def test_a_plugin_that_crashes_on_an_unknown_status(pytester):
    patch = """
    get = broker.get_order
    def get_order(order_id):
        order = get(order_id)
        raise ValueError(f"{order.status.value!r} is not a status I know")
    broker.get_order = get_order"""
    result = _run(
        pytester,
        SIM_BASED.format(patch=patch),
        level="BrokerTradingTests",
        options='{"prices": {"AAPL": 100}}',
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*the broker raised ValueError: 'new' is not a status I know*"])
    result.stdout.fnmatch_lines(["*an unknown status becomes OrderStatus(value)*"])


QUOTING = """
import threading
import attrs
from tradingagents_brokers import BrokerType, hookimpl
from tradingagents_brokers.sim.plugin import build_sim, SIM_CAPABILITIES

class Quotes:
    def __init__(self, listener):
        self.listener = listener
        self.symbols = set()
        self.stop = threading.Event()
        threading.Thread(target=self.beat, daemon=True).start()

    def want(self, symbol):
        if {confirm}:
            self.symbols.add(symbol)
            self.listener.on_subscribed(set(self.symbols))

    def beat(self):
        for _ in range(60):
            if {stop}:
                return
            self.listener.on_alive()

    def close(self):
        self.stop.set()

def build(settings):
    broker = build_sim(settings)
    broker.subscribe_quotes = Quotes
    return broker

@hookimpl
def register_brokers():
    capabilities = attrs.evolve(SIM_CAPABILITIES, quote_updates=True)
    return [BrokerType(name="broken", factory=build, description="quotes",
                       capabilities=capabilities)]
"""

QUOTE_KIT_TEST = """
from tradingagents_brokers.testing.kit import BrokerTradingTests

class TestQuotes(BrokerTradingTests):
    broker_name = "broken"
    stream_timeout = 1.0

    def broker_options(self):
        return {"prices": {"AAPL": 100}}
"""

HEARTBEAT = "self.stop.wait(self.listener.heartbeat_seconds / 2)"


@pytest.mark.parametrize(
    ("confirm", "stop", "failure"),
    [
        ("True", HEARTBEAT, None),
        ("False", HEARTBEAT, "*AAPL was never confirmed*"),
        ("True", "self.stop.wait(60) or True", "*no heartbeats*"),
        ("True", "__import__('time').sleep(0.05)", "*called its listener after close()*"),
    ],
    ids=["sound", "never-confirms", "no-heartbeat", "calls-after-close"],
)
def test_a_quote_stream_is_held_to_its_contract(pytester, confirm, stop, failure):
    pytester.syspathinsert()
    pytester.makeconftest(CONFTEST)
    plugin = QUOTING.format(confirm=confirm, stop=stop)
    pytester.makepyfile(broken_plugin=plugin, test_kit=QUOTE_KIT_TEST)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-q", "-k", "wanted_symbol"
    )
    if failure is None:
        result.assert_outcomes(passed=1)
    else:
        assert result.ret != 0
        result.stdout.fnmatch_lines([failure])


def test_a_broker_that_replaces_only_prices_is_tested_on_prices(pytester):
    plugin = SIM_BASED.format(patch="").replace(
        "capabilities=SIM_CAPABILITIES",
        'capabilities=attrs.evolve(SIM_CAPABILITIES, replace_fields={"limit_price"})',
    )
    result = _run(
        pytester,
        "import attrs\n" + plugin,
        level="BrokerTradingTests",
        options='{"prices": {"AAPL": 100}}',
    )
    assert result.ret == 0, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert "xfailed" not in outcomes
    # Skipped: the quote stream and the lost answer on the wire, not either replace test.
    assert outcomes["skipped"] == 2, outcomes
