"""new-plugin writes a package that installs, is discovered, and passes the offline kit."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from tradingagents_brokers import BrokerConfigurationError
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.scaffold import write_plugin

ROOT = Path(__file__).resolve().parents[1]


def test_the_scaffold_writes_every_file(tmp_path, capsys):
    assert main(["new-plugin", "mybroker", "--path", str(tmp_path), "--json"]) == 0
    root = Path(json.loads(capsys.readouterr().out)["path"])
    assert root == tmp_path / "tradingagents-brokers-mybroker"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "src/tradingagents_brokers_mybroker/__init__.py",
        "src/tradingagents_brokers_mybroker/broker.py",
        "src/tradingagents_brokers_mybroker/plugin.py",
        "tests/test_conformance.py",
    ]
    broker = (root / "src/tradingagents_brokers_mybroker/broker.py").read_text()
    assert "class MybrokerBroker" in broker
    assert broker.count("raise NotSupportedError") == 15
    assert "NotImplementedError" not in broker
    assert (
        'mybroker = "tradingagents_brokers_mybroker.plugin"'
        in (root / "pyproject.toml").read_text()
    )
    assert main(["new-plugin", "mybroker", "--path", str(tmp_path)]) == 2


@pytest.mark.parametrize("name", ["My Broker", "MyBroker", "class", "1broker", ""])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(BrokerConfigurationError, match="lower-case Python identifier"):
        write_plugin(name, tmp_path, "0.1.0")


@pytest.mark.slow
def test_a_fresh_plugin_installs_and_passes_the_offline_kit(tmp_path):
    root = write_plugin("freshbroker", tmp_path, "0.1.0")
    where = tmp_path / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{ROOT}[testing]", str(root), "pytest"],
        check=True,
        timeout=600,
    )
    env = {
        "PATH": f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TRADINGAGENTS_BROKERS_HOME": str(tmp_path / "state"),
    }
    listed = subprocess.run(
        [where / "bin" / "tradingagents-brokers", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert "freshbroker" in {p["plugin"] for p in json.loads(listed.stdout)}
    kit = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert "4 passed" in kit.stdout
