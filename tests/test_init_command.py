"""`tradingagents-brokers init`: a config file for sim or alpaca, keys checked, none written."""

from __future__ import annotations

import tomllib

import pytest

from tradingagents_brokers import BrokerType, get_config, hookimpl, make_plugin_manager
from tradingagents_brokers.cli import init_command
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.environment import default_config_path

PAPER = ("ALPACA_PAPER_API_KEY", "ALPACA_PAPER_SECRET_KEY")


class FakeAlpaca:
    """Stands in for the alpaca plugin (not installed in the core's test environment)."""

    @hookimpl
    def register_brokers(self):
        return [
            BrokerType(
                name="alpaca",
                factory=lambda settings: None,
                credential_env={"paper": PAPER, "live": ("L1", "L2")},
            )
        ]


@pytest.fixture
def with_alpaca(monkeypatch):
    def manager():
        pm = make_plugin_manager()
        pm.register(FakeAlpaca(), name="fake-alpaca")
        return pm

    monkeypatch.setattr(init_command, "make_plugin_manager", manager)


def _run(capsys, *args):
    code = main(["init", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_without_init_the_default_broker_error_gives_the_line_that_fixes_it(capsys):
    code = main(["account"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no broker named 'alpaca' is installed" in err
    assert "tradingagents-brokers init --broker sim" in err
    assert "python3 -m pip install ./plugins/alpaca" in err
    assert "pip install tradingagents-brokers" not in err


def test_init_sim_makes_every_command_work_with_no_flags(capsys):
    code, out, _ = _run(capsys, "--broker", "sim")
    assert code == 0
    path = default_config_path()
    assert f"wrote {path}" in out
    assert tomllib.loads(path.read_text()) == {"trading_broker": "sim", "broker_mode": "paper"}
    assert get_config()["trading_broker"] == "sim"
    assert main(["account"]) == 0
    assert "SIM-" in capsys.readouterr().out


def test_init_without_a_choice_picks_sim_when_alpaca_is_not_there(capsys):
    code, out, _ = _run(capsys, "--json")
    assert code == 0
    assert '"trading_broker": "sim"' in out


def test_init_alpaca_without_its_plugin_names_the_install_line(capsys):
    code, _, err = _run(capsys, "--broker", "alpaca")
    assert code == 2
    assert "python3 -m pip install ./plugins/alpaca" in err
    assert not default_config_path().exists()


def test_init_alpaca_checks_the_paper_keys_and_writes_nothing_without_them(
    capsys, with_alpaca, monkeypatch
):
    monkeypatch.delenv(PAPER[0], raising=False)
    monkeypatch.setenv(PAPER[1], "present-but-alone")
    code, _, err = _run(capsys, "--broker", "alpaca")
    assert code == 2
    assert f"needs {PAPER[0]} in the environment" in err
    assert "nothing was written" in err
    assert not default_config_path().exists()


def test_init_alpaca_with_keys_writes_no_secret(capsys, with_alpaca, monkeypatch, tmp_path):
    monkeypatch.setenv(PAPER[0], "key-value-never-written")
    monkeypatch.setenv(PAPER[1], "secret-value-never-written")
    target = tmp_path / "elsewhere" / "brokers.toml"
    code, out, _ = _run(capsys, "--broker", "alpaca", "--config", str(target))
    assert code == 0
    text = target.read_text()
    assert tomllib.loads(text)["trading_broker"] == "alpaca"
    assert "never-written" not in text + out
    assert f"--config {target}" in out


def test_init_without_a_choice_picks_alpaca_when_ready(capsys, with_alpaca, monkeypatch):
    monkeypatch.setenv(PAPER[0], "k")
    monkeypatch.setenv(PAPER[1], "s")
    code, out, _ = _run(capsys)
    assert code == 0
    assert "trading_broker = 'alpaca'" in out


def test_init_keeps_a_file_that_is_there_unless_forced(capsys):
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text('trading_broker = "sim"\nmax_order_value = 123\n')
    code, _, err = _run(capsys, "--broker", "sim")
    assert code == 2
    assert "already exists" in err
    assert "--force" in err
    assert "123" in path.read_text()
    code, _, _ = _run(capsys, "--broker", "sim", "--force")
    assert code == 0
    assert "123" not in path.read_text()


def test_init_says_when_the_config_variable_names_another_file(capsys, monkeypatch, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('trading_broker = "sim"\n')
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_CONFIG", str(other))
    code, out, _ = _run(capsys, "--broker", "sim")
    assert code == 0
    assert f"names {other}: commands read that file, not this one" in out


def test_the_default_file_follows_xdg_without_the_home_variable(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert default_config_path(env) == tmp_path / "tradingagents-brokers" / "config.toml"


def test_doctor_names_the_file_init_wrote(capsys):
    assert main(["doctor", "--json"]) in (0, 1)
    assert '"config_file": null' in capsys.readouterr().out
    assert _run(capsys, "--broker", "sim")[0] == 0
    assert main(["doctor", "--json"]) == 0
    assert f'"config_file": "{default_config_path()}"' in capsys.readouterr().out
