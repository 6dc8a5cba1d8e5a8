"""What a command waits for: the broker call in progress, shown once it passes a second."""

from __future__ import annotations

import threading
import time

from rich.console import Console

from tradingagents_brokers import waits
from tradingagents_brokers.cli.waiting import AFTER, AGAIN, WaitNotice


def test_an_activity_is_marked_while_it_runs_and_nests():
    assert waits.longest() is None
    with waits.activity("reading the account (sim)"):
        what, age = waits.longest()
        assert what == "reading the account (sim)"
        assert 0 <= age < 1
        with waits.activity("the request budget of sim (200 a minute)"):
            # a thread shows its innermost wait: the more exact one
            assert waits.longest()[0] == "the request budget of sim (200 a minute)"
        assert waits.longest()[0] == "reading the account (sim)"
    assert waits.longest() is None


def test_the_longest_wait_of_every_thread_is_the_one_shown():
    started, release = threading.Event(), threading.Event()

    def slow():
        with waits.activity("placing the order (alpaca)"):
            started.set()
            release.wait(5)

    worker = threading.Thread(target=slow)
    worker.start()
    started.wait(5)
    time.sleep(0.01)
    with waits.activity("reading a price (alpaca)"):
        assert waits.longest()[0] == "placing the order (alpaca)"
    release.set()
    worker.join()
    assert waits.longest() is None


def test_describe_names_the_operation_and_the_broker():
    assert waits.describe("get_account", "alpaca") == "reading the account (alpaca)"
    assert waits.describe("some_new_hook", "ib") == "some new hook (ib)"


def _notice(clock):
    console = Console(record=True, width=100, force_terminal=False)
    return console, WaitNotice(console, longest=clock)


def test_a_wait_is_shown_after_a_second_then_every_few_seconds():
    now = {"wait": None}
    console, notice = _notice(lambda: now["wait"])
    for wait in [None, ("reading the account (alpaca)", AFTER - 0.01)]:
        now["wait"] = wait
        notice.check()
    assert console.export_text() == ""  # under a second: nothing
    now["wait"] = ("reading the account (alpaca)", AFTER)
    notice.check()
    notice.check()
    assert console.export_text(clear=False) == "waiting for reading the account (alpaca): 1 s ...\n"
    now["wait"] = ("reading the account (alpaca)", AFTER + AGAIN - 0.01)
    notice.check()
    now["wait"] = ("reading the account (alpaca)", AFTER + AGAIN)
    notice.check()
    now["wait"] = ("placing the order (alpaca)", 1.5)
    notice.check()
    assert console.export_text().splitlines() == [
        "waiting for reading the account (alpaca): 1 s ...",
        "still waiting for reading the account (alpaca): 6 s ...",
        "waiting for placing the order (alpaca): 2 s ...",
    ]


def test_what_is_shown_is_inert():
    console, notice = _notice(lambda: ("reading \x1b]0;pwned\x07 [bold]x[/bold]", 2.0))
    notice.check()
    text = console.export_text()
    assert "\x1b" not in text
    assert "[bold]x[/bold]" in text  # markup shown as written, not applied


def test_the_watcher_thread_shows_a_real_wait_and_stops():
    console = Console(record=True, width=100, force_terminal=False)
    with WaitNotice(console, every=0.01), waits.activity("reading the positions (sim)"):
        deadline = time.monotonic() + 5
        while "positions" not in console.export_text(clear=False):
            assert time.monotonic() < deadline, "no notice within 5 s"
            time.sleep(0.05)
    assert "waiting for reading the positions (sim): 1 s ..." in console.export_text()


def test_every_broker_call_through_the_host_is_marked(fake, fake_broker, monkeypatch):
    seen = []
    real = fake_broker.get_account

    def account():
        seen.append(waits.longest()[0])
        return real()

    monkeypatch.setattr(fake_broker, "get_account", account)
    fake.get_account()
    assert seen == ["reading the account (fake)"]
    assert waits.longest() is None
