"""A fresh virtual environment: install the core and a third-party plugin, then use both.

This builds real distributions (the core from this tree, ``tests/data/tiny_plugin``)
and installs them with pip into a new environment, so it takes some seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_plugin"

ROUTE = """
import json, sys
from tradingagents_brokers import get_broker, route_to_broker, set_config
set_config({"trading_broker": "sim", "state_dir": sys.argv[1],
            "broker_tool_vendors": {"place_order": "tiny"}})
order = route_to_broker("place_order", symbol="AAPL", qty=2, side="buy", order_type="market")
with get_broker("tiny") as tiny, get_broker("sim") as sim:
    print(json.dumps({"order": order,
                      "tiny_orders": [o.order_id for o in tiny.get_orders("all")],
                      "sim_orders": [o.order_id for o in sim.get_orders("all")]}))
"""


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    where = tmp_path_factory.mktemp("venv")
    venv.create(where, with_pip=True, clear=True)
    bindir = where / "bin"
    subprocess.run(
        [bindir / "python", "-m", "pip", "install", "--quiet", str(ROOT), str(TINY)],
        check=True,
        timeout=600,
    )
    return bindir


def _run(bindir, *args, env_extra=None, home):
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "TRADINGAGENTS_BROKERS_HOME": str(home / "state"),
        **(env_extra or {}),
    }
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_plugins_lists_sim_and_the_installed_third_party_plugin(fresh_env, tmp_path):
    out = _run(fresh_env, "tradingagents-brokers", "plugins", "--json", home=tmp_path).stdout
    plugins = {p["plugin"]: p for p in json.loads(out)}
    assert plugins["sim"]["brokers"] == "sim"
    assert plugins["tiny"]["distribution"] == "tradingagents-brokers-tiny"
    assert plugins["tiny"]["version"] == "0.0.1"
    assert plugins["tiny"]["brokers"] == "tiny"


@pytest.mark.slow
def test_the_plugin_is_routable_through_broker_tool_vendors(fresh_env, tmp_path):
    out = _run(
        fresh_env, fresh_env / "python", "-c", ROUTE, str(tmp_path / "state"), home=tmp_path
    ).stdout
    result = json.loads(out)
    assert result["order"]["status"] == "filled"
    assert result["order"]["filled_avg_price"] == "50"
    assert result["tiny_orders"] == [result["order"]["order_id"]]
    assert result["sim_orders"] == []


@pytest.mark.slow
def test_the_plugin_can_be_blocked_by_name(fresh_env, tmp_path):
    out = _run(
        fresh_env,
        "tradingagents-brokers",
        "plugins",
        "--json",
        env_extra={"TRADINGAGENTS_BROKERS_BLOCK": "tiny"},
        home=tmp_path,
    ).stdout
    assert "tiny" not in {p["plugin"] for p in json.loads(out)}
    blocked = subprocess.run(
        [fresh_env / "tradingagents-brokers", "account", "--broker", "tiny"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "TRADINGAGENTS_BROKERS_BLOCK": "tiny",
            "HOME": str(tmp_path),
            "TRADINGAGENTS_BROKERS_HOME": str(tmp_path / "state"),
        },
    )
    assert blocked.returncode == 2
    assert "no broker named 'tiny'" in blocked.stderr


def test_this_suite_runs_without_any_broker_plugin_installed():
    """The core's own session installs no plugin: only the built-in brokers are there."""
    from tradingagents_brokers import PluginHost, make_plugin_manager

    assert set(PluginHost(make_plugin_manager()).broker_types) == {"sim"}
    assert sys.modules.get("tradingagents_brokers_tiny") is None
