"""The store's write section never waits on a broker, so a halt is never locked out.

The gate reads the broker before it takes the write section and decides again
inside it on what it read; a halt's write takes only the write section.
"""

from __future__ import annotations

import threading

import pytest

from tradingagents_brokers import (
    Approval,
    GatedBroker,
    OrderRejectedError,
    PluginHost,
    hookimpl,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.journal import Journal

from ..fakes import Calls, FakeBroker, FakePlugin, journal_intent


class HangingBroker(FakeBroker):
    """A broker that stops answering ``hang`` calls until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.hang: set[str] = set()
        self.waiting = threading.Event()
        self.release = threading.Event()

    def _maybe_hang(self, name: str) -> None:
        if name in self.hang:
            self.waiting.set()
            assert self.release.wait(20), "never released"

    def get_account(self):  # type: ignore[no-untyped-def]
        self._maybe_hang("get_account")
        return super().get_account()

    def place_order(self, request):  # type: ignore[no-untyped-def]
        self._maybe_hang("place_order")
        return super().place_order(request)


def _host(broker: FakeBroker, *plugins: object) -> PluginHost:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    for n, plugin in enumerate(plugins):
        pm.register(plugin, name=f"extra-{n}")
    return PluginHost(pm)


def _gated(host: PluginHost, journal: Journal, **overrides) -> GatedBroker:  # type: ignore[no-untyped-def]
    config = effective_config(
        {
            "trading_broker": "fake",
            "max_orders_per_second": 100,
            "max_orders_per_minute": 1000,
            "duplicate_window_seconds": 0,
            **overrides,
        }
    )
    return GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)


@pytest.mark.parametrize("stream", [False, True])
def test_no_broker_call_is_made_inside_the_write_section(tmp_path, stream):
    broker = FakeBroker()
    journal = Journal(tmp_path / "journal.db")
    watcher = Calls(note=journal.backend.in_transaction)
    gated = _gated(_host(broker, watcher), journal, order_stream=stream)
    for qty in (1, 2, 3):
        gated.place_order(symbol="AAPL", side="buy", qty=qty)
    gated.place_order(symbol="AAPL", side="sell", qty=1)
    with pytest.raises(OrderRejectedError):
        gated.place_order(symbol="AAPL", side="buy", qty=10_000)
    names = set(watcher.names)
    assert "place_order" in names
    assert {"get_account", "get_quote"} <= names
    assert [call for call in watcher.notes if call[1]] == []


@pytest.mark.parametrize("same_process", [False, True])
@pytest.mark.parametrize("where", ["get_account", "place_order"])
def test_a_halt_never_waits_for_an_order_whose_broker_does_not_answer(
    tmp_path, where, same_process
):
    broker = HangingBroker()
    host = _host(broker)
    path = tmp_path / "journal.db"
    stuck = _gated(host, Journal(path), order_stream=False)
    broker.hang.add(where)
    failures: list[BaseException] = []

    def order() -> None:
        try:
            stuck.place_order(symbol="AAPL", side="buy", qty=1)
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=order, daemon=True)
    thread.start()
    assert broker.waiting.wait(5), "the order never reached the broker"
    # Another process's connection (SQLite's own locking applies), or this process's own.
    other = stuck.journal if same_process else Journal(path)
    halted = threading.Event()

    def halt() -> None:
        from tradingagents_brokers.safety.state import set_state

        set_state(other, "halted", reason="stop", by="cli")
        halted.set()

    halter = threading.Thread(target=halt, daemon=True)
    halter.start()
    # The broker still has not answered: the halt cannot have waited for it.
    assert halted.wait(5), "the halt waited for a broker call"
    assert not broker.release.is_set()
    third = _gated(host, Journal(path), order_stream=False)
    broker.hang.clear()
    with pytest.raises(OrderRejectedError) as refused:
        third.place_order(symbol="AAPL", side="buy", qty=1)
    assert "TRADING_HALTED" in refused.value.reason_codes
    broker.release.set()
    thread.join(5)
    if where == "get_account":  # decided after the halt's commit: refused too
        assert [type(f).__name__ for f in failures] == ["OrderRejectedError"]
        assert "TRADING_HALTED" in failures[0].reason_codes  # type: ignore[attr-defined]
    else:  # admitted before the halt, sent while it was written
        assert failures == []


class LateIntent:
    """confirm_order runs between the gate's two decisions: it journals another order then."""

    def __init__(self, side: str = "buy", qty: int = 6) -> None:
        self.journal: Journal | None = None
        self.asked = 0
        self.side, self.qty = side, qty

    @hookimpl(tryfirst=True)
    def confirm_order(self, request):  # type: ignore[no-untyped-def]
        self.asked += 1
        if self.asked == 1:
            assert self.journal is not None
            journal_intent(
                self.journal,
                side=self.side,
                qty=self.qty,
                value=100 * self.qty,
                dedupe_key="late",
                status="unknown",
            )
        return Approval(True, "test")


class SellsFlat(FakeBroker):
    def get_positions(self):  # type: ignore[no-untyped-def]
        return []


def test_a_read_the_first_decision_did_not_make_is_made_outside_and_decided_again(tmp_path):
    """A sell that closes a position needs no account; once another sell of 6 is in flight,
    the two would open a short, and the position check needs the account after all."""
    late = LateIntent(side="sell", qty=6)
    broker = FakeBroker()
    journal = Journal(tmp_path / "journal.db")
    watcher = Calls(note=journal.backend.in_transaction)
    late.journal = journal
    gated = _gated(_host(broker, watcher, late), journal, order_stream=False)
    gated.reconcile()
    watcher.notes.clear()
    order = gated.place_order(symbol="AAPL", side="sell", qty=5)  # holds 5: closes it
    assert order.qty == 5
    names = [name for name, _ in watcher.notes]
    assert names.count("get_account") == 1  # read once, when the second decision asked
    assert [call for call in watcher.notes if call[1]] == []
    decided = journal.events(intent_id=2)[0]["payload"]
    assert (decided["allowed"], "decisions" in decided) == ("all", False)  # 6 short of 100


def test_an_order_decided_again_counts_what_appeared_in_between(tmp_path):
    """The late intent (6 unknown shares) appears between the two decisions and is counted."""
    late = LateIntent()
    broker = SellsFlat()
    journal = Journal(tmp_path / "journal.db")
    late.journal = journal
    gated = _gated(_host(broker, late), journal, order_stream=False)
    gated.reconcile()
    with pytest.raises(OrderRejectedError) as refused:
        gated.place_order(symbol="AAPL", side="buy", qty=95)  # 95 alone fits; 95 + 6 does not
    assert refused.value.reason_codes == ("POSITION_EXCEEDS_MAX",)
    assert broker.place_calls == []


def test_commands_that_only_read_do_not_reconcile(tmp_path):
    broker = FakeBroker()
    journal = Journal(tmp_path / "journal.db")
    watcher = Calls()
    journal_intent(journal, status="unknown")
    gated = _gated(_host(broker, watcher), journal, order_stream=False)
    gated.get_positions()
    gated.get_account()
    assert watcher.names == ["get_positions", "get_account"]
    assert journal.intent(1).status == "unknown"
    assert journal.backend.query("SELECT * FROM processes") == []  # nothing registered either
