"""Every example in the README and docs/ runs, and every module's doctests pass.

Fenced blocks: ``python`` blocks are executed; ``console`` blocks run each
``$ tradingagents-brokers ...`` line through the CLI and expect exit code 0;
``toml`` blocks must load as configuration. ``bash`` blocks (installation
commands) are checked by the README test below and by CI itself.
"""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tradingagents_brokers import load_config
from tradingagents_brokers.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(kind):
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == kind:
                line = text[: match.start()].count("\n") + 2
                found.append(pytest.param(match.group(2), id=f"{path.relative_to(ROOT)}:{line}"))
    return found


@pytest.mark.parametrize("code", _blocks("python"))
def test_python_examples_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<doc example>", "exec"), {"__name__": "__doc_example__"})  # noqa: S102


@pytest.mark.parametrize("block", _blocks("console"))
def test_console_examples_run(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    assert commands
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "tradingagents-brokers"
        assert main(argv[1:]) == 0, command


@pytest.mark.parametrize("block", _blocks("toml"))
def test_toml_examples_are_valid(block, tmp_path):
    data = tomllib.loads(block)
    if "project" in data:
        assert "tradingagents_brokers" in data["project"]["entry-points"]
        return
    path = tmp_path / "config.toml"
    path.write_text(block)
    assert load_config(path=path, environ={})


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m pip install . && tradingagents-brokers demo" in readme
    assert "python3 -m pip install nox && nox" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^nox$", ci, re.M)


MODULES_WITH_EXAMPLES = [
    "tradingagents_brokers",
    "tradingagents_brokers.orders",
    "tradingagents_brokers.decisions",
    "tradingagents_brokers.routing",
    "tradingagents_brokers.sim.matching",
    "tradingagents_brokers.approvals",
    "tradingagents_brokers._numbers",
    "tradingagents_brokers.testing.agents",
    "tradingagents_brokers.integrations.tradingagents",
]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_doctests(name, tmp_path):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"doctest_tmp": str(tmp_path)}, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
