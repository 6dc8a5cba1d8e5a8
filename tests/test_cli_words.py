"""The command line in its own words: flags in errors, prompts with a price, help for every
option, how an approval was given, and the demo pointing at its own journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tradingagents_brokers.cli.main import build_parser


def _approval(cli, intent: str = "1") -> dict:
    _, out, _ = cli("journal", "show", intent, "--json")
    return json.loads(out)["events"][0]["payload"]["approval"]


def test_the_journal_tells_a_typed_y_from_yes_on_the_command_line(cli, monkeypatch):
    assert cli("order", "buy", "AAPL", "--qty", "1", "--yes")[0] == 0
    scripted = _approval(cli, "1")
    assert scripted == {
        "approved": True,
        "approver": "cli --yes",
        "reason": "approved in advance by --yes on the command line",
    }
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert cli("order", "buy", "AAPL", "--qty", "2")[0] == 0
    typed = _approval(cli, "2")
    assert typed["approver"] == "cli-user"
    assert typed["reason"] == "typed 'y' at the terminal prompt"


def test_the_default_policy_says_nobody_was_asked(sim):
    sim.place_order(symbol="AAPL", side="buy", qty=1)
    intent = sim.journal.events(intent_id=1)[0]["payload"]
    assert intent["approval"]["approver"] == "default-policy"
    assert "no person was asked" in intent["approval"]["reason"]


def test_the_prompt_shows_the_price_and_the_estimated_value(cli, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    cli("order", "buy", "AAPL", "--qty", "3")
    cli("order", "buy", "MSFT", "--qty", "2", "--type", "limit", "--limit-price", "190")
    cli("order", "buy", "AAPL", "--notional", "250")
    assert asked[0] == (
        "Send BUY 3 AAPL market day on sim (paper): now about $100 a share, "
        "about $300.00 in all? [y/N] "
    )
    assert "limit $190 a share, about $380.00 in all" in asked[1]
    assert "about $250 in all" in asked[2]
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    cli("order", "buy", "AAPL", "--qty", "4")
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    code, _, err = cli("close", "AAPL", "--percentage", "50")
    assert (code, "not confirmed" in err) == (3, True)
    assert "SELL 2 AAPL market day on sim (paper): now about $100 a share" in asked[-1]


@pytest.mark.parametrize(
    ("args", "words", "not_words"),
    [
        (("--qty", "1", "--limit-price", "5"), "takes no --limit-price; use --type limit", "="),
        (("--qty", "1", "--stop-price", "5"), "use --type stop", "order_type"),
        (("--qty", "1", "--tif", "gtd"), "needs --expire-at", "expire_at"),
        (("--qty", "1", "--type", "trailing_stop"), "--trail-price or --trail-percent", "_"),
    ],
)
def test_order_errors_name_the_flags_not_the_python_arguments(cli, args, words, not_words):
    code, _, err = cli("order", "buy", "AAPL", *args, "--yes")
    assert code == 2
    assert words in err
    assert not_words not in err.split("error: ", 1)[1].replace("trailing_stop", "")


def test_live_trading_is_switched_on_in_shell_words(cli):
    code, _, err = cli("order", "buy", "AAPL", "--qty", "1", "--yes", "--mode", "live")
    assert code == 3
    assert "auto_execute_trades = true in the --config file" in err
    assert "AUTO_EXECUTE_TRADES=true" in err
    assert "'auto_execute_trades: True'" not in err


def test_a_gate_refusal_prints_a_line_per_reason(cli):
    code, _, err = cli("order", "buy", "AAPL", "--qty", "100000", "--yes")
    assert code == 3
    lines = err.splitlines()
    assert lines[0] == "error: order refused by the safety gate:"
    codes = [line.split(":")[0].strip() for line in lines[1:]]
    assert "ORDER_VALUE_EXCEEDS_MAX" in codes
    assert len(codes) == len(set(codes))


def test_numbers_are_written_out(cli):
    code, out, _ = cli("order", "buy", "AAPL", "--qty", "1e1", "--yes")
    assert code == 0
    assert "E+" not in out
    assert "qty\t10" in out


def test_every_option_has_help_text():
    parser = build_parser()
    missing = []

    def walk(p, path):
        for action in p._actions:
            if action.option_strings and action.help is None:
                missing.append(f"{path} {action.option_strings[0]}")
            if action.choices and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not (action.option_strings or action.help or action.dest == "help"):
                missing.append(f"{path} <{action.dest}>")

    walk(parser, "tradingagents-brokers")
    allowed = {"side", "symbol"}  # the positional words of 'order buy AAPL' explain themselves
    assert [m for m in missing if m.rsplit("<", 1)[-1].rstrip(">") not in allowed] == []


def test_history_refuses_a_period_it_cannot_read(cli):
    with pytest.raises(SystemExit) as raised:
        cli("history", "--period", "99X")
    assert raised.value.code == 2
    assert cli("history", "--period", "1w", "--timeframe", "1D")[0] == 0


def test_demo_and_plugins_do_not_ignore_broker(cli):
    code, _, err = cli("demo", "--broker", "alpaca")
    assert (code, "leave out --broker" in err) == (2, True)
    code, out, _ = cli("plugins", "--broker", "sim", "--json")
    assert [r["brokers"] for r in json.loads(out)] == ["sim"]
    code, _, err = cli("plugins", "--broker", "nosuch")
    assert (code, "no installed plugin offers a broker named 'nosuch'" in err) == (2, True)


RUN = "import sys; from tradingagents_brokers.cli.main import main; sys.exit(main())"


def test_the_demos_last_line_shows_its_own_journal_in_a_fresh_home(tmp_path):
    """Run as a newcomer would: a fresh HOME, the console script, then the printed command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADINGAGENTS_BROKER")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    cli = [sys.executable, "-c", RUN]
    done = subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True, check=True)
    last = done.stdout.strip().splitlines()[-1]
    command = last.split(": ", 1)[1]
    assert command.endswith("tradingagents-brokers journal show 1")
    variable = command.split(" ", 1)[0]
    name, value = variable.split("=", 1)
    shown = subprocess.run(
        [*cli, "journal", "show", "1", "--json"],
        env={**env, name: value},
        capture_output=True,
        text=True,
        check=True,
    )
    intent = json.loads(shown.stdout)["intent"]
    assert (intent["symbol"], intent["qty"]) == ("AAPL", "10")  # the demo's buy
    own = subprocess.run([*cli, "journal", "show", "1"], env=env, capture_output=True, text=True)
    assert own.returncode == 1  # the user's own journal has no intent 1: not the demo's
