"""In-flight work has an owner: no process judges an order another live process is sending.

Several gated brokers on one journal play several processes: each registers
itself and owns the intents it journals. A broker call that takes its time
(an Event the test releases) holds an order in flight while the others decide.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from tradingagents_brokers import GatedBroker, OrderRejectedError, PluginHost, make_plugin_manager
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.journal import Journal

from ..fakes import FakeBroker, FakePlugin, ManualClock, die_in_place


class SlowBroker(FakeBroker):
    """A fake broker whose place_order waits for the test to let it answer."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.slow = True

    def place_order(self, request):  # type: ignore[no-untyped-def]
        if self.slow:
            self.entered.set()
            assert self.release.wait(10), "the test never released the broker"
        return super().place_order(request)

    def get_positions(self):  # type: ignore[no-untyped-def]
        return []  # flat, so the position limit is 100 shares at 100 of 100,000


@pytest.fixture
def broker() -> SlowBroker:
    return SlowBroker()


@pytest.fixture
def host(broker: SlowBroker) -> PluginHost:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    return PluginHost(pm)


def _process(host: PluginHost, journal: Journal, **overrides) -> GatedBroker:  # type: ignore[no-untyped-def]
    """A gated broker as another process would build it: its own owner, the shared journal."""
    config = effective_config(
        {
            "trading_broker": "fake",
            "order_stream": False,
            "max_orders_per_second": 100,
            "max_orders_per_minute": 1000,
            **overrides,
        }
    )
    return GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)


def _buy_in_thread(gated: GatedBroker, qty: int) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(gated.place_order(symbol="AAPL", side="buy", qty=qty))
        except Exception as exc:  # reported to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_an_order_being_sent_counts_for_a_new_process_and_is_never_judged_by_it(
    host, broker, tmp_path
):
    journal = Journal(tmp_path / "journal.db")
    first = _process(host, journal)
    thread, outcome = _buy_in_thread(first, 60)  # 60 of the 100 shares the limit allows
    assert broker.entered.wait(5)
    second = _process(host, journal)  # starts while the first order is with the broker
    with pytest.raises(OrderRejectedError) as refused:
        second.place_order(symbol="AAPL", side="buy", qty=50)  # 110 would be over
    assert refused.value.reason_codes == ("POSITION_EXCEEDS_MAX",)
    sending = journal.intent(1)
    assert sending.status == "submitting"  # not judged not_placed by the second process
    assert sending.owner == first.owner() != second.owner()
    report = second.reconcile()
    assert (report.in_flight, report.changed) == (1, ())
    broker.release.set()
    thread.join(5)
    assert [type(o).__name__ for o in outcome] == ["Order"]
    assert journal.intent(1).status == "new"
    second.place_order(symbol="AAPL", side="buy", qty=40)  # 60 + 40: at the limit
    assert [r.qty for r in broker.place_calls] == [Decimal(60), Decimal(40)]


def test_an_intent_whose_owner_died_is_judged_by_the_next_process(host, broker, tmp_path):
    journal = Journal(tmp_path / "journal.db")
    first = _process(host, journal)
    thread, _ = _buy_in_thread(first, 10)
    assert broker.entered.wait(5)
    die_in_place(first)  # killed while its order was with the broker (which never got it)
    broker.slow = False
    second = _process(host, journal)
    report = second.reconcile()
    assert [(c["from"], c["to"]) for c in report.changed] == [("submitting", "not_placed")]
    assert report.in_flight == 0
    broker.release.set()
    thread.join(5)


def test_an_owner_that_closed_has_finished_its_sends(host, broker, tmp_path):
    journal = Journal(tmp_path / "journal.db")
    first = _process(host, journal)
    owner = first.owner()
    first.close()
    assert first.registry.alive([owner]) == set()


def test_a_send_past_its_deadline_is_judged_although_its_owner_lives(host, broker, tmp_path):
    clock = ManualClock()
    journal = Journal(tmp_path / "journal.db", now=clock)
    first = _process(host, journal, submit_timeout_seconds=60, owner_timeout_seconds=30)
    thread, _ = _buy_in_thread(first, 10)
    assert broker.entered.wait(5)
    second = _process(host, journal, submit_timeout_seconds=60, owner_timeout_seconds=30)
    clock.advance(89)
    first.registry.beat(first._owner)  # alive: its heartbeat is fresh
    assert second.reconcile().in_flight == 1  # 89s: within 60 + 30
    clock.advance(2)
    first.registry.beat(first._owner)
    report = second.reconcile()
    assert (report.in_flight, [c["to"] for c in report.changed]) == (0, ["not_placed"])
    broker.slow = False
    broker.release.set()
    thread.join(5)


def test_a_stale_heartbeat_means_gone_even_when_the_pid_lives(host, broker, tmp_path):
    clock = ManualClock()
    journal = Journal(tmp_path / "journal.db", now=clock)
    first = _process(host, journal, owner_timeout_seconds=30)
    owner = first.owner()
    assert first.registry.alive([owner]) == {owner}
    first._heartbeat.stop()  # frozen, or cut off from the store
    clock.advance(31)
    assert first.registry.alive([owner]) == set()
    first.registry.beat(first._owner)
    assert first.registry.alive([owner]) == {owner}


def test_a_dead_pid_on_this_host_is_gone_at_once_and_another_hosts_pid_is_not_checked(
    host, tmp_path
):
    journal = Journal(tmp_path / "journal.db")
    gated = _process(host, journal)
    owner = gated.owner()
    gated._heartbeat.stop()
    backend = journal.backend
    backend.execute("UPDATE processes SET pid = ? WHERE owner = ?", (2**30, owner))
    assert gated.registry.alive([owner]) == set()  # this host: the pid says it died
    backend.execute("UPDATE processes SET host_key = 'elsewhere' WHERE owner = ?", (owner,))
    assert gated.registry.alive([owner]) == {owner}  # another host: only the heartbeat counts


def test_the_heartbeat_thread_keeps_the_owner_fresh(host, tmp_path):
    clock = ManualClock()
    journal = Journal(tmp_path / "journal.db", now=clock)
    gated = _process(host, journal, owner_timeout_seconds=0.06)  # a beat each 10 ms
    owner = gated.owner()
    first = journal.backend.query_one(
        "SELECT heartbeat_at FROM processes WHERE owner = ?", (owner,)
    )
    clock.advance(1)
    for _ in range(200):
        row = journal.backend.query_one(
            "SELECT heartbeat_at FROM processes WHERE owner = ?", (owner,)
        )
        if row != first:
            break
        threading.Event().wait(0.01)
    assert row != first
    gated.close()
    assert journal.backend.query_one("SELECT * FROM processes WHERE owner = ?", (owner,)) is None


def test_an_old_registry_row_is_registered_again_by_its_next_beat(host, tmp_path):
    journal = Journal(tmp_path / "journal.db")
    gated = _process(host, journal)
    owner = gated.owner()
    journal.backend.execute("DELETE FROM processes")
    gated.registry.beat(gated._owner)
    assert gated.registry.alive([owner]) == {owner}
