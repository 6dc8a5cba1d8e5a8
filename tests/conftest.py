from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradingagents_brokers import GatedBroker, PluginHost, get_broker, hookimpl, make_plugin_manager
from tradingagents_brokers.config import effective_config

from .fakes import FakeBroker, FakePlugin


@pytest.fixture
def sim_config(tmp_path: Path) -> dict[str, Any]:
    """A sim broker with fixed prices, state in this test's directory."""
    return {
        "trading_broker": "sim",
        "state_dir": str(tmp_path / "state"),
        "broker_options": {"sim": {"prices": {"AAPL": "100", "MSFT": "200", "SPY": "500"}}},
    }


@pytest.fixture
def sim(sim_config: dict[str, Any]) -> Iterator[GatedBroker]:
    gated = get_broker("sim", config=sim_config)
    yield gated
    gated.close()


@pytest.fixture
def fake_broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def fake_host(fake_broker: FakeBroker) -> PluginHost:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(fake_broker), name="fake-plugin")
    return PluginHost(pm)


@pytest.fixture
def order_events(fake_host: PluginHost) -> list[Any]:
    """Every OrderEvent the fake host's gate emits, in order."""
    seen: list[Any] = []

    class Observer:
        @hookimpl
        def on_order_event(self, event: Any) -> None:
            seen.append(event)

    fake_host.pm.register(Observer(), name="order-events")
    return seen


def make_gated(host: PluginHost, **overrides: Any) -> GatedBroker:
    """A gated ``fake`` broker on ``host`` with configuration ``overrides``."""
    config = effective_config({"trading_broker": "fake", **overrides})
    return GatedBroker(host, "fake", host.build_broker("fake", config), config)


@pytest.fixture
def fake(fake_host: PluginHost) -> GatedBroker:
    return make_gated(fake_host)


@pytest.fixture
def cli(sim_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the CLI on a sim broker with fixed prices; returns (exit code, stdout, stderr)."""
    from tradingagents_brokers.cli.main import main

    config = tmp_path / "brokers.toml"
    config.write_text(
        f'trading_broker = "sim"\nstate_dir = "{sim_config["state_dir"]}"\n'
        '[broker_options.sim.prices]\nAAPL = 100\nMSFT = "200"\n'
    )

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--config", str(config)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    run.state_dir = sim_config["state_dir"]  # type: ignore[attr-defined]
    return run
