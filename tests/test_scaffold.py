"""new-plugin writes a package that is discovered and passes the kit against its fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tradingagents_brokers import BrokerConfigurationError
from tradingagents_brokers.broker import Broker
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.scaffold import INSTALL_AND_TEST, next_step, write_plugin

ROOT = Path(__file__).resolve().parents[1]

FILES = [
    "README.md",
    "pyproject.toml",
    "src/tradingagents_brokers_mybroker/__init__.py",
    "src/tradingagents_brokers_mybroker/broker.py",
    "src/tradingagents_brokers_mybroker/plugin.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/fake_server.py",
    "tests/test_conformance.py",
]


def test_the_scaffold_writes_every_file(tmp_path, capsys):
    assert main(["new-plugin", "mybroker", "--path", str(tmp_path), "--json"]) == 0
    root = Path(json.loads(capsys.readouterr().out)["path"])
    assert root == tmp_path / "tradingagents-brokers-mybroker"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == FILES
    broker = (root / "src/tradingagents_brokers_mybroker/broker.py").read_text()
    assert "class MybrokerBroker" in broker
    assert "NotImplementedError" not in broker
    for method in {m for m in dir(Broker) if not m.startswith("_")}:
        assert f"def {method}(" in broker or method == "capabilities", method
    pyproject = (root / "pyproject.toml").read_text()
    assert 'mybroker = "tradingagents_brokers_mybroker.plugin"' in pyproject
    assert "canary_credential_variables" not in pyproject  # derived from credential_env
    assert main(["new-plugin", "mybroker", "--path", str(tmp_path)]) == 2


def test_the_printed_next_step_installs_pytest_with_the_plugin(tmp_path, capsys):
    assert main(["new-plugin", "otherbroker", "--path", str(tmp_path)]) == 0
    printed = capsys.readouterr()
    root = tmp_path / "tradingagents-brokers-otherbroker"
    assert next_step(root) in printed.out + printed.err
    assert '[test]"' in INSTALL_AND_TEST
    assert "python -m pytest" in INSTALL_AND_TEST
    readme = (root / "README.md").read_text()
    assert INSTALL_AND_TEST in readme
    assert INSTALL_AND_TEST.split(" && ")[0] in (ROOT / "docs" / "writing-plugins.md").read_text()


@pytest.mark.parametrize("name", ["My Broker", "MyBroker", "class", "1broker", ""])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(BrokerConfigurationError, match="lower-case Python identifier"):
        write_plugin(name, tmp_path, "0.1.0")


def test_the_name_of_a_built_in_broker_is_refused(tmp_path, capsys):
    with pytest.raises(BrokerConfigurationError, match="'sim' is a broker built into"):
        write_plugin("sim", tmp_path, "0.1.0")
    assert main(["new-plugin", "sim", "--path", str(tmp_path)]) == 2
    assert not (tmp_path / "tradingagents-brokers-sim").exists()


def _discoverable(root: Path, name: str, site: Path) -> None:
    """What pip install -e would give: the package importable and its entry point listed."""
    info = site / f"tradingagents_brokers_{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: tradingagents-brokers-{name}\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[tradingagents_brokers]\n{name} = tradingagents_brokers_{name}.plugin\n"
    )
    (site / f"_{name}.pth").write_text(str(root / "src") + "\n")


def _run_kit(root, tmp_path, *args):
    site = tmp_path / "site"
    _discoverable(root, root.name.removeprefix("tradingagents-brokers-"), site)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(root / "src")]),
        "HOME": str(tmp_path),
        "TRADINGAGENTS_BROKERS_HOME": str(tmp_path / "state"),
    }
    env.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return run


def test_a_fresh_plugin_passes_the_kit_at_both_levels_against_its_fake(tmp_path):
    root = write_plugin("freshbroker", tmp_path, "0.1.0")
    run = _run_kit(root, tmp_path, "-rs")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    summary = run.stdout.strip().splitlines()[-1]
    assert "failed" not in summary, summary
    assert "xfail" not in summary, summary
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 15, summary
    # Skipped: what the scaffold declares absent (replace twice, notional) and the streams.
    assert int(summary.split(" skipped")[0].split()[-1]) <= 6, summary
    assert "lose_the_answer" not in out, "the lost-answer test must run, not skip"


def test_the_lost_answer_test_catches_a_plugin_that_calls_a_lost_order_unsent(tmp_path):
    root = write_plugin("mutantbroker", tmp_path, "0.1.0")
    broker = root / "src" / "tradingagents_brokers_mutantbroker" / "broker.py"
    text = broker.read_text()
    lost = "            raise _lost(method, path, exc, sends_order) from None\n"
    assert text.count(lost) == 1
    broker.write_text(
        text.replace(lost, '            raise BrokerUnavailableError("no") from None\n')
    )
    run = _run_kit(root, tmp_path, "-k", "lost_answer")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "which tells the core nothing was sent" in run.stdout


@pytest.mark.slow
def test_a_fresh_plugin_installs_and_passes_the_kit(tmp_path):
    root = write_plugin("freshbroker", tmp_path, "0.1.0")
    where = tmp_path / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{ROOT}[testing]", f"{root}[test]"],
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
    assert " failed" not in kit.stdout
