"""The tradingagents-brokers command line, called in-process through main()."""

from __future__ import annotations

import json

import pytest

from tradingagents_brokers.cli.main import main


def test_plugins_lists_sim_with_version_and_capabilities(cli):
    code, out, _ = cli("plugins", "--json")
    assert code == 0
    records = {r["plugin"]: r for r in json.loads(out)}
    assert records["sim"]["brokers"] == "sim"
    assert records["sim"]["distribution"] == "tradingagents-brokers"
    assert "market" in records["sim"]["capabilities"]["sim"]["order_types"]
    code, out, _ = cli("plugins")
    assert "sim" in out
    assert "order types" in out


def test_account_positions_orders_after_a_buy(cli):
    code, out, _ = cli("order", "buy", "aapl", "--qty", "10", "--yes", "--json")
    assert code == 0
    order = json.loads(out)
    assert (order["symbol"], order["status"], order["qty"]) == ("AAPL", "filled", "10")
    code, out, _ = cli("positions", "--json")
    assert json.loads(out)[0]["market_value"] == "1000"
    code, out, _ = cli("account", "--json")
    assert json.loads(out)["cash"] == "99000"
    code, out, _ = cli("orders", "--json")
    assert [o["order_id"] for o in json.loads(out)] == [order["order_id"]]
    for command in ("positions", "account", "orders", "history"):
        code, out, _ = cli(command)
        assert code == 0
        assert "AAPL" in out or "99000" in out or "equity" in out


def test_an_order_without_a_terminal_and_without_yes_is_refused(cli):
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1")
    assert code == 3
    assert "pass --yes" in err
    _, out, _ = cli("orders", "--json")
    assert json.loads(out) == []


def test_a_price_the_broker_cannot_take_is_refused_before_anyone_is_asked(cli):
    code, _, err = cli(
        "order", "buy", "AAPL", "--qty", "1", "--type", "limit", "--limit-price", "99.00001"
    )
    assert "--limit-price 99.00001 has more than 4 decimal places" in err
    assert "pass --yes" not in err
    assert code != 0


def test_the_terminal_prompt_sends_on_yes_and_not_on_no(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1")
    assert code == 3
    assert "not confirmed" in err
    code, out, _ = cli("order", "buy", "AAPL", "--qty", "1")
    assert code == 0
    assert "filled" in out


def test_the_cli_approval_answers_the_confirmation_hook_for_live_orders(cli, monkeypatch):
    code, out, _ = cli("order", "buy", "AAPL", "--qty", "1", "--yes", "--mode", "live", "--json")
    assert code == 3
    assert json.loads(out)["status"] == "blocked"
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_AUTO_EXECUTE_TRADES", "true")
    code, out, _ = cli("order", "buy", "AAPL", "--qty", "1", "--yes", "--mode", "live", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "filled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("order", "buy", "AAPL", "--qty", "-5", "--yes"), "qty must be greater than zero"),
        (("order", "buy", "AAPL", "--qty", "0", "--yes"), "qty must be greater than zero"),
        (("order", "buy", "AAPL", "--qty", "NaN", "--yes"), "finite"),
        (("order", "buy", "AAPL", "--qty", "ten", "--yes"), "qty must be a number"),
        (
            ("order", "buy", "AAPL", "--qty", "1", "--type", "teleport", "--yes"),
            "--type 'teleport'",
        ),
        (("order", "buy", "AAPL", "--qty", "1", "--tif", "forever", "--yes"), "--tif 'forever'"),
        (("order", "buy", "AAPL", "--qty", "1", "--type", "limit", "--yes"), "needs --limit-price"),
        (("order", "buy", "AAPL", "--qty", "1", "--broker", "nosuch", "--yes"), "no broker named"),
        (("close", "AAPL", "--percentage", "150", "--yes"), "at most 100"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_reason_and_sends_nothing(cli, args, message):
    code, _, err = cli(*args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    _, out, _ = cli("orders", "--json")
    assert json.loads(out) == []


def test_argument_errors_exit_2(cli):
    with pytest.raises(SystemExit) as raised:
        cli("order", "buy", "AAPL", "--qty", "1", "--notional", "5")
    assert raised.value.code == 2


def test_a_broker_refusal_exits_4(cli):
    code, out, err = cli("order", "sell", "AAPL", "--qty", "5", "--yes", "--json")
    assert code == 4
    assert json.loads(out)["code"] == "insufficient_funds"
    assert "does not sell short" in err


def test_a_gate_refusal_exits_3_with_the_reason_codes(cli):
    code, out, _ = cli("order", "buy", "AAPL", "--qty", "100000", "--yes", "--json")
    assert code == 3
    codes = [r["code"] for r in json.loads(out)["details"]["reasons"]]
    assert "ORDER_VALUE_EXCEEDS_MAX" in codes
    assert "INSUFFICIENT_BUYING_POWER" in codes


def test_cancel_close_and_history(cli):
    _, out, _ = cli(
        "order",
        "buy",
        "MSFT",
        "--qty",
        "1",
        "--type",
        "limit",
        "--limit-price",
        "190",
        "--tif",
        "gtc",
        "--yes",
        "--json",
    )
    resting = json.loads(out)
    assert resting["status"] == "new"
    code, out, _ = cli("cancel", resting["order_id"], "--json")
    assert json.loads(out) == {"status": "cancel_requested", "order_id": resting["order_id"]}
    cli("order", "buy", "AAPL", "--qty", "4", "--yes")
    code, out, _ = cli("close", "AAPL", "--qty", "1", "--yes", "--json")
    assert (code, json.loads(out)["qty"]) == (0, "1")
    code, out, _ = cli("close", "AAPL", "--percentage", "50", "--yes")
    assert code == 0
    code, out, _ = cli("close", "--all", "--yes", "--json")
    assert [r["symbol"] for r in json.loads(out)] == ["AAPL"]
    code, out, _ = cli("cancel", "--all", "--json")
    assert json.loads(out)["order_ids"] == []
    code, out, _ = cli("cancel", "--all")
    assert "0 open order" in out
    code, out, _ = cli("history", "--json")
    assert len(json.loads(out)["equity"]) >= 4
    code, out, _ = cli("quote", "AAPL", "--json")
    assert json.loads(out)["price"] == "100"


def test_doctor_reports_configuration_and_paths_without_secret_values(cli, monkeypatch, sim_config):
    code, out, _ = cli("doctor", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["trading_broker"] == "sim"
    assert report["state_dir"] == sim_config["state_dir"]
    assert report["problems"] == []
    assert report["order_stream"] is True
    assert report["journal_path"] == f"{sim_config['state_dir']}/journal.db"
    assert report["sim_account_file"] == f"{sim_config['state_dir']}/sim.db"
    assert report["brokers"]["sim"]["order_updates"] is True
    code, out, _ = cli("doctor", "--broker", "alpaca", "--json")
    assert code == 1
    assert "not installed" in json.loads(out)["problems"][0]
    code, out, _ = cli("doctor", "--mode", "live")
    assert code == 1
    assert "orders will be blocked" in out
    assert "every symbol may be traded" in out
    _, out, _ = cli("doctor", "--json")
    assert json.loads(out)["warnings"] == []


def test_doctor_lists_credential_variables_as_set_or_missing(cli, monkeypatch, canary):
    from tradingagents_brokers import plugins

    from .fakes import FakePlugin

    real = plugins.make_plugin_manager

    def with_fake(**kwargs):
        pm = real(**kwargs)
        pm.register(FakePlugin(), name="fake-plugin")
        return pm

    monkeypatch.setattr("tradingagents_brokers.host.make_plugin_manager", with_fake)
    monkeypatch.setenv("FAKE_LIVE_KEY", canary)
    monkeypatch.delenv("FAKE_PASSPHRASE", raising=False)
    _, out, _ = cli("doctor", "--json")
    assert json.loads(out)["brokers"]["fake"]["credentials"] == {
        "FAKE_LIVE_KEY": "set",
        "FAKE_PASSPHRASE": "not set (optional)",
    }
    _, out, _ = cli("doctor")
    assert "FAKE_LIVE_KEY: set" in out
    assert canary not in out
    monkeypatch.delenv("FAKE_LIVE_KEY")
    _, out, _ = cli("doctor", "--broker", "fake", "--mode", "live", "--json")
    assert "fake (live) needs FAKE_LIVE_KEY" in json.loads(out)["problems"]
    assert not [p for p in json.loads(out)["problems"] if "FAKE_PASSPHRASE" in p]
    monkeypatch.setenv("FAKE_LIVE_KEY", canary)
    monkeypatch.setenv("FAKE_PASSPHRASE", canary)
    _, out, _ = cli("doctor", "--json")
    assert json.loads(out)["brokers"]["fake"]["credentials"]["FAKE_PASSPHRASE"] == "set"
    assert canary not in out


def test_demo_runs_offline_on_its_own_sim_account(cli):
    code, out, _ = cli("demo", "--json")
    assert code == 0
    steps = json.loads(out)
    assert steps["market_buy"]["status"] == "filled"
    assert steps["resting_limit"]["status"] == "new"
    assert [p["symbol"] for p in steps["positions"]] == ["AAPL"]
    assert [i["status"] for i in steps["journal"]] == ["new", "filled"]
    assert steps["journal_verified"] is True
    assert steps["order_stream"]["live"] is True  # the demo shows the sim's stream at work
    assert steps["order_stream"]["snapshots"] == 1
    _, out, _ = cli("orders", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("demo")
    assert code == 0
    assert "Market buy of 10 AAPL" in out
    assert "order stream is live" in out


def test_one_shot_commands_take_no_order_stream(cli, monkeypatch):
    from tradingagents_brokers.sim.broker import SimBroker

    subscribed = []
    real = SimBroker.subscribe_order_updates

    def spy(self, listener):
        subscribed.append(listener)
        return real(self, listener)

    monkeypatch.setattr(SimBroker, "subscribe_order_updates", spy)
    assert cli("order", "buy", "AAPL", "--qty", "1", "--yes")[0] == 0
    assert cli("reconcile")[0] == 0
    assert subscribed == []


def test_version(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert "tradingagents-brokers 0.1.0" in capsys.readouterr().out


def test_malformed_configuration_exits_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('broker_mode = "sideways"\n')
    assert main(["account", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "'broker_mode'" in err
    assert "'paper' or 'live'" in err


def test_an_unknown_symbol_is_refused_by_the_gate_for_want_of_a_price(cli):
    code, _, err = cli("order", "buy", "ZZZZ", "--qty", "1", "--yes")
    assert code == 3
    assert "REFERENCE_PRICE_MISSING" in err
    _, out, _ = cli("orders", "--json")
    assert json.loads(out) == []
