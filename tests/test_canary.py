"""The planted-canary guard itself: it must notice a leak, or it proves nothing."""

from __future__ import annotations

import logging
import traceback

from tradingagents_brokers import get_broker
from tradingagents_brokers.testing import canary as guard


def test_the_canary_is_planted_in_the_credential_variables(canary, monkeypatch):
    import os

    assert all(os.environ[var] == canary for var in guard.DEFAULT_VARIABLES)


def test_the_log_handler_catches_a_leaking_record():
    # A handler of its own with a stand-in needle: the real canary is never logged here.
    found: list[str] = []
    spy = guard.CanaryHandler("STAND-IN-SECRET", found)
    leaky = logging.getLogger("tradingagents.test.leaky")
    leaky.propagate = False
    leaky.addHandler(spy)
    leaky.warning("key=%s", "STAND-IN-SECRET")
    leaky.warning("nothing to see")
    leaky.removeHandler(spy)
    assert found == ["log record from tradingagents.test.leaky: key=STAND-IN-SECRET"]
    assert guard.handler.needle == guard.CANARY
    assert guard.handler in logging.getLogger().handlers


def test_the_file_scan_finds_a_leaking_state_file(tmp_path):
    (tmp_path / "state.db").write_bytes(b"x" + b"STAND-IN-SECRET" + b"y")
    (tmp_path / "ignored.bin").write_bytes(b"STAND-IN-SECRET")
    assert guard.scan_files([tmp_path], "STAND-IN-SECRET") == [str(tmp_path / "state.db")]


def _failure_with_locals(gated, qty):
    """The formatted traceback, locals included, of an order the gate refuses."""
    try:
        gated.place_order(symbol="AAPL", side="buy", qty=qty)
    except Exception as exc:
        formatted = traceback.TracebackException.from_exception(exc, capture_locals=True)
        return "".join(formatted.format())
    raise AssertionError("the order should have been refused")


def test_live_gate_errors_and_reprs_name_variables_not_values(canary, monkeypatch, fake_host):
    from .conftest import make_gated

    monkeypatch.setenv("FAKE_LIVE_KEY", canary)
    gated = make_gated(fake_host, broker_mode="live", auto_execute_trades=True)
    texts = [repr(gated), repr(gated.config), repr(gated.broker_type), repr(gated.journal)]
    texts.append(_failure_with_locals(gated, 1))  # refused: no approver for a live order
    monkeypatch.delenv("FAKE_LIVE_KEY")
    texts.append(_failure_with_locals(gated, 2))  # blocked: the live key is missing
    assert "FAKE_LIVE_KEY" in texts[-1]
    assert not any(canary in text for text in texts)


def test_the_sim_and_journal_never_store_credentials(canary, tmp_path):
    with get_broker("sim", config={"state_dir": str(tmp_path)}) as gated:
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert guard.scan_files([tmp_path]) == []


def test_the_canary_follows_the_installed_broker_types_credential_env(request, monkeypatch):
    from tradingagents_brokers import BrokerType, PluginHost, hookimpl

    class Declares:
        @hookimpl
        def register_brokers(self):
            return [
                BrokerType(
                    name="declares",
                    factory=lambda settings: None,
                    credential_env={"paper": ("DECLARES_KEY",), "live": ("DECLARES_LIVE_KEY",)},
                    optional_credential_env={"live": ("DECLARES_PASSPHRASE",)},
                )
            ]

    real = PluginHost.__init__

    def with_declares(self, pm, *args, **kwargs):
        pm.register(Declares(), name="declares")
        real(self, pm, *args, **kwargs)

    monkeypatch.setattr(PluginHost, "__init__", with_declares)
    assert guard.declared_variables() == [
        "DECLARES_KEY",
        "DECLARES_LIVE_KEY",
        "DECLARES_PASSPHRASE",
    ]
    planted = guard.planted_variables(request.config)
    assert set(guard.DEFAULT_VARIABLES) <= set(planted)


def test_a_plugin_that_fails_to_load_leaves_the_listed_variables(monkeypatch):
    from tradingagents_brokers import PluginLoadError, testing

    def broken(*args, **kwargs):
        raise PluginLoadError("broken on purpose")

    monkeypatch.setattr("tradingagents_brokers.make_plugin_manager", broken)
    assert testing.canary.declared_variables() == []
