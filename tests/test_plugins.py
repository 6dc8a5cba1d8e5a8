"""The plugin-manager factory: specs, default plugins, entry points, blocking, discovery."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pluggy
import pytest

from tradingagents_brokers import (
    BrokerType,
    PluginHost,
    PluginLoadError,
    hookimpl,
    make_plugin_manager,
)
from tradingagents_brokers import plugins as plugins_module

from .fakes import FakePlugin


class _Dist:
    def __init__(self, name: str, version: str = "1.2.3") -> None:
        self.name = name
        self.version = version


def _entry_point(name: str, module: str, dist: str) -> EntryPoint:
    ep = EntryPoint(name=name, value=module, group="tradingagents_brokers")
    return ep._for(_Dist(dist))  # type: ignore[attr-defined]


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Replace entry-point discovery with a list the test controls."""
    found: list[EntryPoint] = []
    monkeypatch.setattr(plugins_module, "_entry_points", lambda: list(found))
    return found


def _module(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_each_call_builds_a_fresh_manager_with_the_default_plugins():
    first = make_plugin_manager(load_entrypoints=False)
    second = make_plugin_manager(load_entrypoints=False)
    assert first is not second
    for pm in (first, second):
        assert {"operations", "confirmation", "sim"} <= {n for n, _ in pm.list_name_plugin()}
        assert pm.info["sim"].builtin


def test_importing_the_package_builds_no_manager():
    import tradingagents_brokers

    managers = [
        v for v in vars(tradingagents_brokers).values() if isinstance(v, pluggy.PluginManager)
    ]
    assert managers == []


def test_entry_point_plugin_is_discovered_with_its_distribution(monkeypatch, fake_entry_points):
    plugin = FakePlugin()
    _module(monkeypatch, "tab_fake_plugin", register_brokers=plugin.register_brokers)
    fake_entry_points.append(_entry_point("fake", "tab_fake_plugin", "tradingagents-brokers-fake"))
    host = PluginHost(make_plugin_manager())
    assert "fake" in host.broker_types
    info = host.plugins["fake"]
    assert (info.distribution, info.version, info.builtin) == (
        "tradingagents-brokers-fake",
        "1.2.3",
        False,
    )
    assert host.broker_owner("fake") == "fake"


def test_plugin_that_fails_to_import_is_named_with_its_distribution(fake_entry_points):
    fake_entry_points.append(
        _entry_point("broken", "tab_module_that_does_not_exist", "tradingagents-brokers-broken")
    )
    with pytest.raises(PluginLoadError) as raised:
        make_plugin_manager()
    message = raised.value.message
    assert "'broken'" in message
    assert "tradingagents-brokers-broken 1.2.3" in message
    assert "TRADINGAGENTS_BROKERS_BLOCK=broken" in message


def test_a_blocked_plugin_is_not_imported(fake_entry_points, monkeypatch):
    fake_entry_points.append(
        _entry_point("broken", "tab_module_that_does_not_exist", "tradingagents-brokers-broken")
    )
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_BLOCK", "broken, other")
    pm = make_plugin_manager()
    assert pm.is_blocked("broken")
    assert "broken" not in pm.info


def test_config_blocks_default_plugins_by_name():
    host = PluginHost.from_config({"blocked_plugins": ["sim"]})
    assert "sim" not in host.broker_types


@pytest.mark.parametrize("name", ["operations", "confirmation", "approvals"])
def test_core_plugins_cannot_be_blocked(name):
    with pytest.raises(PluginLoadError, match="cannot be blocked"):
        make_plugin_manager(blocked=[name])


def test_two_distributions_with_one_plugin_name_is_an_error(monkeypatch, fake_entry_points):
    _module(monkeypatch, "tab_sim_clone")
    fake_entry_points.append(_entry_point("sim", "tab_sim_clone", "tradingagents-brokers-simclone"))
    with pytest.raises(PluginLoadError, match="two plugins are named 'sim'"):
        make_plugin_manager()


def test_two_plugins_offering_one_broker_name_name_both(monkeypatch, fake_entry_points):
    for plugin_name in ("first", "second"):
        module = f"tab_{plugin_name}_plugin"
        _module(monkeypatch, module, register_brokers=FakePlugin().register_brokers)
        fake_entry_points.append(_entry_point(plugin_name, module, f"dist-{plugin_name}"))
    with pytest.raises(PluginLoadError) as raised:
        PluginHost(make_plugin_manager()).broker_types  # noqa: B018
    assert "'first'" in raised.value.message
    assert "'second'" in raised.value.message
    assert "'fake'" in raised.value.message


def test_mistyped_hook_name_is_caught_by_check_pending(monkeypatch, fake_entry_points):
    @hookimpl
    def register_broker():  # missing the final "s"
        return []

    _module(monkeypatch, "tab_typo_plugin", register_broker=register_broker)
    fake_entry_points.append(_entry_point("typo", "tab_typo_plugin", "dist-typo"))
    with pytest.raises(pluggy.PluginValidationError, match="register_broker"):
        make_plugin_manager()


def test_plugin_with_a_hook_of_the_wrong_signature_is_a_load_error(monkeypatch, fake_entry_points):
    @hookimpl
    def get_account(broker, surprise):
        return None

    _module(monkeypatch, "tab_badsig_plugin", get_account=get_account)
    fake_entry_points.append(_entry_point("badsig", "tab_badsig_plugin", "dist-badsig"))
    with pytest.raises(PluginLoadError, match="could not be registered"):
        make_plugin_manager()


def test_register_brokers_must_yield_broker_types():
    class Wrong:
        @hookimpl
        def register_brokers(self):
            return ["not a broker type"]

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Wrong(), name="wrong")
    with pytest.raises(PluginLoadError, match="not a BrokerType"):
        PluginHost(pm).broker_types  # noqa: B018


def test_broker_type_names_must_be_lowercase_identifiers():
    with pytest.raises(ValueError, match="lower-case identifier"):
        BrokerType(name="My Broker", factory=lambda s: None)


def test_discovery_does_not_import_the_brokers_sdk(monkeypatch, fake_entry_points):
    """The factory imports the SDK; registering the broker type must not."""

    def factory(settings):
        import tab_heavy_sdk  # noqa: F401  (imported only when a broker is built)

        raise AssertionError("not reached in this test")

    @hookimpl
    def register_brokers():
        return [BrokerType(name="heavy", factory=factory)]

    _module(monkeypatch, "tab_heavy_plugin", register_brokers=register_brokers)
    fake_entry_points.append(_entry_point("heavy", "tab_heavy_plugin", "dist-heavy"))
    monkeypatch.delitem(sys.modules, "tab_heavy_sdk", raising=False)
    host = PluginHost(make_plugin_manager())
    assert "heavy" in host.broker_types
    assert "tab_heavy_sdk" not in sys.modules


def test_unknown_broker_names_installed_ones_and_the_package_to_install():
    from tradingagents_brokers import BrokerConfigurationError

    host = PluginHost(make_plugin_manager(load_entrypoints=False))
    with pytest.raises(BrokerConfigurationError) as raised:
        host.broker_type("alpaca")
    assert "installed: sim" in raised.value.message
    assert "python3 -m pip install ./plugins/alpaca" in raised.value.message
    assert "tradingagents-brokers init --broker sim" in raised.value.message
    with pytest.raises(BrokerConfigurationError) as raised:
        host.broker_type("someone_elses")
    assert "install the plugin that provides 'someone_elses'" in raised.value.message
    assert raised.value.details["install"] is None


def test_factory_returning_a_non_broker_is_refused(tmp_path):
    class Half:
        def place_order(self, request):
            return None

    @hookimpl
    def register_brokers():
        return [BrokerType(name="half", factory=lambda settings: Half())]

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(types.SimpleNamespace(register_brokers=register_brokers), name="half")
    host = PluginHost(pm)
    config = {"broker_mode": "paper", "state_dir": str(tmp_path), "broker_options": {}}
    with pytest.raises(PluginLoadError, match=r"lacks .*get_account"):
        host.build_broker("half", config)
