from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradingagents_brokers import GatedBroker, PluginHost, get_broker, hookimpl, make_plugin_manager
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.journal import Journal

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


STORE_ENV = "TAB_TEST_STORE"


def on_postgres() -> bool:
    """Whether this run keeps every gated broker's store in PostgreSQL (``nox -s postgres``)."""
    return os.environ.get(STORE_ENV) == "postgresql"


@pytest.fixture(autouse=True)
def _store_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``TAB_TEST_STORE=postgresql``, every configuration's store is a fresh schema."""
    if on_postgres():
        from .pg import schema_url

        monkeypatch.setenv("TRADINGAGENTS_BROKERS_STORE_URL", schema_url())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    kind: str = request.param
    return kind


@pytest.fixture
def store_config(store_kind: str, tmp_path: Path) -> dict[str, Any]:
    """Configuration keys that put the store on ``store_kind``, state in this test's directory."""
    config: dict[str, Any] = {"state_dir": str(tmp_path / "state")}
    if store_kind == "postgresql":
        from .pg import schema_url

        config["store_url"] = schema_url()
    return config


def open_test_journal(path: Path, **kwargs: Any) -> Journal:
    """A journal at ``path``, or in a fresh PostgreSQL schema when the run says so."""
    if on_postgres():
        from tradingagents_brokers.store.postgres import PostgresBackend

        from .pg import schema_url

        return Journal(PostgresBackend(schema_url()), **kwargs)
    return Journal(path, **kwargs)
