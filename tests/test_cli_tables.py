"""Tables on an 80-column terminal, --wide, tab-separated lines in a pipe, and short ids."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tradingagents_brokers.cli.main import main
from tradingagents_brokers.cli.render import Col, Output, short_ids


@pytest.fixture
def term(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the CLI on an 80-column terminal (a recording Rich console); returns its text.

    The state directory is deep on purpose: its paths are longer than the terminal.
    """
    state = tmp_path / ("a-rather-long-directory-name-for-the-state" * 2) / "state"
    config = tmp_path / "brokers.toml"
    config.write_text(
        f'trading_broker = "sim"\nstate_dir = "{state}"\n'
        '[broker_options.sim.prices]\nAAPL = 100\nMSFT = "200"\n'
    )

    def run(*args: str, width: int = 80) -> tuple[int, str]:
        console = Console(
            file=io.StringIO(), width=width, force_terminal=True, record=True, soft_wrap=True
        )
        code = main([*args, "--config", str(config)], console=console)
        capsys.readouterr()
        return code, console.export_text()

    def piped(*args: str) -> tuple[int, str]:
        code = main([*args, "--config", str(config)])
        return code, capsys.readouterr().out

    run.piped = piped  # type: ignore[attr-defined]
    run.state = state  # type: ignore[attr-defined]
    return run


def _lines_fit(text: str, width: int = 80) -> None:
    too_long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert too_long == []
    assert "…" not in text


def test_orders_positions_journal_and_doctor_are_readable_whole_at_80_columns(term):
    _, out = term.piped("order", "buy", "AAPL", "--qty", "10", "--yes", "--json")
    bought = json.loads(out)
    _, out = term.piped(
        "order", "buy", "MSFT", "--qty", "2", "--type", "limit", "--limit-price", "190",
        "--tif", "gtc", "--yes", "--json",
    )  # fmt: skip
    resting = json.loads(out)
    _, out = term.piped("close", "AAPL", "--qty", "1", "--yes", "--json")
    closing = json.loads(out)

    code, orders = term("orders")
    assert code == 0
    _lines_fit(orders)
    shown = short_ids([bought["order_id"], resting["order_id"], closing["order_id"]])
    for order, status in ((bought, "filled"), (resting, "new"), (closing, "filled")):
        line = next(row for row in orders.splitlines() if shown[order["order_id"]] in row)
        assert order["order_id"].startswith(line.split()[0])  # the id column, a prefix
        assert f" {status} " in f"{line} "

    code, positions = term("positions")
    assert code == 0
    _lines_fit(positions)
    row = next(line for line in positions.splitlines() if line.startswith("AAPL"))
    assert row.split()[:2] == ["AAPL", "9"]

    code, journal = term("journal", "list")
    assert code == 0
    _lines_fit(journal.split("\n", 1)[1])  # the title names the journal's file: a long path,
    # on one line of its own
    assert str(term.state / "journal.db") in journal
    for order in (bought, resting):
        assert f" {order['client_order_id']} " in journal  # whole
    # The close is listed too; its long client order id as a prefix 'journal show' takes.
    prefix = closing["client_order_id"][:14]
    assert f" {prefix} " in journal
    code, out = term.piped("journal", "show", prefix, "--json")
    assert json.loads(out)["close"]["payload"]["order"]["order_id"] == closing["order_id"]
    assert " new " in journal
    assert journal.count(" filled ") == 2

    code, doctor = term("doctor")
    assert code == 0
    for path in ("journal.db", "sim.db"):
        assert str(term.state / path) in doctor  # on one line, never cut
    line = next(row for row in doctor.splitlines() if row.strip().startswith("journal_path"))
    assert line.split()[-1] == str(term.state / "journal.db")  # the whole path, on its line


def test_cancel_takes_the_short_id_orders_shows_or_a_client_order_id(term):
    ids = []
    for price in ("190", "180"):
        _, out = term.piped(
            "order", "buy", "MSFT", "--qty", "1", "--type", "limit", "--limit-price", price,
            "--tif", "gtc", "--yes", "--json",
        )  # fmt: skip
        ids.append(json.loads(out))
    short = short_ids(o["order_id"] for o in ids)[ids[0]["order_id"]]
    code, out = term.piped("cancel", short, "--json")
    assert (code, json.loads(out)["order_id"]) == (0, ids[0]["order_id"])
    code, out = term.piped("cancel", ids[1]["client_order_id"], "--json")
    assert (code, json.loads(out)["order_id"]) == (0, ids[1]["order_id"])
    _, out = term.piped("orders", "--status", "open", "--json")
    assert json.loads(out) == []


def test_an_ambiguous_short_id_is_refused_with_what_to_do():
    from tradingagents_brokers.cli.commands import resolve_order_id
    from tradingagents_brokers.errors import InvalidOrderError

    class Order:
        def __init__(self, order_id: str) -> None:
            self.order_id, self.client_order_id = order_id, f"c-{order_id}"

    class Gated:
        def get_orders(self, status: str) -> list[Order]:
            return [Order("abc123-1"), Order("abc123-2")]

    with pytest.raises(InvalidOrderError, match="start of 2 open orders' ids; type more"):
        resolve_order_id(Gated(), "abc")  # type: ignore[arg-type]
    assert resolve_order_id(Gated(), "c-abc123-2") == "abc123-2"  # type: ignore[arg-type]


def test_wide_shows_every_field_whole(term):
    _, out = term.piped("order", "buy", "AAPL", "--qty", "1", "--yes", "--json")
    order = json.loads(out)
    code, wide = term("orders", "--wide")
    assert code == 0
    assert order["order_id"] in wide
    assert order["client_order_id"] in wide
    assert "time_in_force" in wide
    assert order["submitted_at"] in wide


def test_a_pipe_gets_tab_separated_lines_with_every_value_whole(term):
    _, out = term.piped("order", "buy", "AAPL", "--qty", "1e1", "--yes", "--json")
    order = json.loads(out)
    code, out = term.piped("orders")
    assert code == 0
    header, row = out.splitlines()
    assert header.split("\t")[0] == "order_id"
    fields = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert fields["order_id"] == order["order_id"]
    assert (fields["status"], fields["qty"]) == ("filled", "10")  # not 1E+1
    _, out = term.piped("journal", "list")
    assert out.splitlines()[0].split("\t")[0] == "intent_id"


def test_orders_and_history_show_the_newest_fifty_unless_told(term):
    for qty in ("1", "2", "3"):
        assert term.piped("order", "buy", "AAPL", "--qty", qty, "--yes")[0] == 0
    code, out = term("orders", "--limit", "2")
    assert code == 0
    assert "the newest 2 orders shown; --limit N or --all for more" in out
    assert out.count(" AAPL ") == 2
    _, out = term("orders", "--all")
    assert out.count(" AAPL ") == 3
    assert "--all for more" not in out
    _, out = term("orders", "--limit", "3")  # all there are: nothing more to ask for
    assert out.count(" AAPL ") == 3
    assert "--all for more" not in out
    _, out = term("history", "--limit", "1")
    assert "the last 1 of" in out
    with pytest.raises(SystemExit):
        term("orders", "--limit", "0")


def test_a_table_shows_what_an_outsider_wrote_inert():
    console = Console(file=io.StringIO(), width=80, force_terminal=True, record=True)
    out = Output(as_json=False, console=console)
    hostile = "\x1b[2J[bold red]filled[/bold red]\u202e"
    out.rows("t", [{"symbol": hostile, "status": hostile}], [Col("symbol", keep=True), "status"],
             empty="-")  # fmt: skip
    text = console.export_text()
    assert "\x1b[2J" not in console.file.getvalue()  # type: ignore[attr-defined]
    assert "\\x1b[2J[bold red]filled[/bold red]\\u202e" in text
    piped = Output(as_json=False, console=Console(file=io.StringIO(), force_terminal=False))
    piped.rows("t", [{"note": "one\ttwo\nthree"}], ["note"], empty="-")
    assert piped.console.file.getvalue() == "note\none two\\nthree\n"  # type: ignore[attr-defined]


def test_short_ids_are_unique_prefixes():
    ids = ["0123456789abcdef-1", "0123456789abcdef-2", "fedcba9876543210", "42"]
    short = short_ids(ids)
    assert short["42"] == "42"
    assert short["fedcba9876543210"] == "fedcba98"
    assert short["0123456789abcdef-1"] == "0123456789abcdef-1"  # no shorter prefix is unique
    assert len(set(short.values())) == 4
