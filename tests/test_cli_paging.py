"""orders and journal list page back with --after/--until, and say how to get the next page."""

from __future__ import annotations

import itertools
import re

import pytest

from tradingagents_brokers import get_broker


@pytest.fixture
def placed(cli, sim_config):
    with get_broker("sim", config={**sim_config, "max_orders_per_second": 100}) as gated:
        for n in range(5):
            order = gated.place_order(
                symbol="AAPL", side="buy", qty=n + 1, client_order_id=f"pg-{n}"
            )
            NUMBERS[order.order_id] = str(n)
    return cli


#: The broker's order id of each order placed, to its number: the orders table shows those.
NUMBERS: dict[str, str] = {}


def _numbers(out):
    """The numbers of the orders a table shows: by client order id, else by order id."""
    found = re.findall(r"\bpg-(\d)\b", out)
    return found or [NUMBERS[i] for i in re.findall(r"[0-9a-f-]{36}", out) if i in NUMBERS]


def _pages(cli, *command):
    """Follow the --until hints from the first page to the last; the ids of each page."""
    pages, until = [], []
    while True:
        code, out, err = cli(*command, "--limit", "2", *until)
        assert code == 0, err
        pages.append(_numbers(out))
        found = re.search(r"--until (\S+) for the next page", err)
        if found is None:
            return pages
        until = ["--until", found.group(1)]


def test_orders_page_back_and_each_page_starts_with_the_last_one_shown(placed):
    pages = _pages(placed, "orders", "--status", "all")
    assert pages[0] == ["4", "3"]
    seen = [n for page in pages for n in page]
    assert sorted(set(seen)) == ["0", "1", "2", "3", "4"]  # none lost
    for before, after in itertools.pairwise(pages):
        assert after[0] == before[-1]  # the edge repeated, never skipped


def test_the_journal_lists_a_window_and_pages_back(placed):
    pages = _pages(placed, "journal", "list")
    assert sorted({n for page in pages for n in page}) == ["0", "1", "2", "3", "4"]
    code, out, _err = placed("journal", "list", "--after", "2000-01-01", "--until", "2000-01-02")
    assert code == 0
    assert "pg-" not in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "is not a time; give YYYY-MM-DD"),
        ("2026-12-01T10:00:00", "has no time zone"),
    ],
)
def test_a_bad_time_is_refused_with_what_to_give(cli, capsys, value, message):
    with pytest.raises(SystemExit) as stopped:  # argparse's own exit: the usage, then 2
        cli("orders", "--until", value)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_a_window_the_wrong_way_round_is_refused(cli):
    code, _out, err = cli("orders", "--after", "2026-12-02", "--until", "2026-12-01")
    assert code == 2
    assert "must be earlier than until" in err
