"""The broker request budget: one sliding minute shared by every process on the store."""

from __future__ import annotations

import logging
import threading

import pytest

from tradingagents_brokers import (
    BrokerRateLimitError,
    BrokerSettings,
    BrokerType,
    get_broker,
    hookimpl,
    make_plugin_manager,
)
from tradingagents_brokers.host import PluginHost
from tradingagents_brokers.store import open_journal
from tradingagents_brokers.store.budget import RequestBudget, RequestBudgetExhaustedError

from ..fakes import FakeBroker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _budget(journal, clock, per_minute=3, max_wait=100.0):  # type: ignore[no-untyped-def]
    return RequestBudget(
        journal.backend, "fake:paper", per_minute, max_wait=max_wait, clock=clock, sleep=clock.sleep
    )


def test_two_processes_share_one_minute_of_requests(store_config):
    clock = Clock()
    one, two = open_journal(store_config), open_journal(store_config)
    first, second = _budget(one, clock), _budget(two, clock)
    first.acquire()
    clock.now += 10
    second.acquire()
    first.acquire()
    assert clock.slept == []
    second.acquire()  # the fourth in a minute waits for the first to leave the window
    assert clock.slept == [pytest.approx(50.0)]
    assert first.used() == 3
    one.close()
    two.close()


def test_a_wait_longer_than_the_bound_is_a_typed_error_at_once(store_config, caplog):
    clock = Clock()
    journal = open_journal(store_config)
    budget = _budget(journal, clock, per_minute=2, max_wait=5)
    budget.acquire()
    budget.acquire()
    with pytest.raises(RequestBudgetExhaustedError) as raised:
        budget.acquire()
    error = raised.value
    assert isinstance(error, BrokerRateLimitError)
    assert error.retry_after == pytest.approx(60.0)
    assert error.details["retry_after"] == error.retry_after
    assert (error.code, error.outcome_known, error.retryable) == (
        "request_budget_exhausted",
        True,
        True,
    )
    assert "nothing was sent" in error.message
    assert clock.slept == []  # no silent sleep first
    long_wait = _budget(journal, clock, per_minute=2, max_wait=120)
    with caplog.at_level(logging.WARNING, logger="tradingagents.broker"):
        long_wait.acquire()
    assert "waiting 60.0s for the request budget of fake:paper" in caplog.text
    assert "by every process on the account" in caplog.text
    journal.close()


def test_concurrent_takers_never_exceed_the_limit(store_config):
    journals = [open_journal(store_config) for _ in range(2)]
    budgets = [
        RequestBudget(j.backend, "fake:paper", 40, max_wait=0) for j in journals for _ in range(2)
    ]
    taken: list[int] = []
    lock = threading.Lock()

    def take(budget: RequestBudget) -> None:
        for _ in range(30):
            try:
                budget.acquire()
            except RequestBudgetExhaustedError:
                continue
            with lock:
                taken.append(1)

    threads = [threading.Thread(target=take, args=(b,)) for b in budgets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) <= 40  # 120 tries, never more than the limit
    assert len(taken) >= 40 - 4 * 7  # a lease left over per taker at most
    assert budgets[0].used() == 40  # and the store counted the whole limit
    for journal in journals:
        journal.close()


def test_a_limit_below_one_is_a_programming_error(tmp_path):
    journal = open_journal({"state_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="positive limit"):
        RequestBudget(journal.backend, "x", 0, max_wait=1)
    journal.close()


def test_get_broker_hands_the_plugin_a_budget_on_its_store(tmp_path):
    seen: list[BrokerSettings] = []

    class Plugin:
        @hookimpl
        def register_brokers(self):  # type: ignore[no-untyped-def]
            def build(settings: BrokerSettings) -> FakeBroker:
                seen.append(settings)
                return FakeBroker()

            return [BrokerType(name="fake", factory=build)]

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="fake-plugin")
    config = {"state_dir": str(tmp_path), "order_stream": False, "request_wait_max_seconds": 3}
    with get_broker("fake", config=config, host=PluginHost(pm)) as gated:
        factory = seen[0].request_budget
        assert factory is not None
        budget = factory(190)
        assert (budget.name, budget.per_minute, budget.max_wait) == ("fake:paper", 190, 3.0)
        assert budget.backend is gated.journal.backend
        budget.acquire()
        assert budget.used() == 1
    assert "request_budget" not in repr(seen[0])


def test_a_broker_built_without_a_store_limits_itself_alone_with_the_same_rules():
    from tradingagents_brokers.store.budget import LocalRequestBudget, local_request_budget

    clock = Clock()
    budget = LocalRequestBudget("x", 2, max_wait=5, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.acquire()
    assert budget.used() == 2
    with pytest.raises(RequestBudgetExhaustedError, match="this process alone") as raised:
        budget.acquire()
    assert raised.value.retry_after == pytest.approx(60.0)
    clock.now += 60
    budget.acquire()  # the window moved on
    default = BrokerSettings(name="x", mode="paper").request_budget(190, scope="data")
    assert isinstance(default, LocalRequestBudget)
    assert (default.name, default.per_minute, default.max_wait) == ("broker:data", 190, 10.0)
    assert local_request_budget(5).name == "broker"


def test_a_second_limit_of_one_account_is_a_budget_of_its_own(tmp_path):
    from tradingagents_brokers import PluginHost
    from tradingagents_brokers.config import effective_config

    seen: list[BrokerSettings] = []

    class Plugin:
        @hookimpl
        def register_brokers(self):  # type: ignore[no-untyped-def]
            def build(settings: BrokerSettings) -> FakeBroker:
                seen.append(settings)
                return FakeBroker()

            return [BrokerType(name="fake", factory=build)]

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="fake-plugin")
    host = PluginHost(pm)
    journal = open_journal({"state_dir": str(tmp_path)})
    config = effective_config({"request_wait_max_seconds": 0})  # never wait
    host.build_broker("fake", config, store=journal.backend)
    host.build_broker("fake", config)  # no store: this process alone
    shared, alone = seen
    trading, data = shared.request_budget(3), shared.request_budget(3, scope="data")
    assert (trading.name, data.name, data.max_wait) == ("fake:paper", "fake:paper:data", 0.0)
    for _ in range(3):
        trading.acquire()
    data.acquire()  # counted apart
    with pytest.raises(RequestBudgetExhaustedError):
        trading.acquire()  # at once: no wait allowed
    assert type(alone.request_budget(3)).__name__ == "LocalRequestBudget"
    journal.close()


def test_a_busy_process_takes_requests_in_leases_and_a_quiet_one_singly(store_config):
    from tradingagents_brokers.store.budget import LEASE_SECONDS, MAX_LEASE

    clock = Clock()
    journal = open_journal(store_config)
    budget = _budget(journal, clock, per_minute=1000)
    draws: list[int] = []
    real = budget._draw

    def counted(now, wanted):  # type: ignore[no-untyped-def]
        granted, wait = real(now, wanted)
        draws.append(granted)
        return granted, wait

    budget._draw = counted  # type: ignore[method-assign]
    for _ in range(1 + 2 + 4 + 8 + 8):  # back to back: 1, 2, 4, 8, 8
        budget.acquire()
        clock.now += 0.01
    assert draws == [1, 2, 4, MAX_LEASE, MAX_LEASE]
    rows = journal.backend.query("SELECT at FROM request_log ORDER BY at")
    assert rows[0]["at"] == pytest.approx(1_000_000.0)  # one request: counted when made
    assert rows[-1]["at"] > clock.now  # leased ones: counted as made when the lease ends
    draws.clear()
    for _ in range(3):  # a quiet process: one request now and then, one at a time
        clock.now += LEASE_SECONDS + 1
        budget.acquire()
    assert draws == [1, 1, 1]
    journal.close()


def test_a_lease_never_takes_more_than_half_of_what_is_left(store_config):
    clock = Clock()
    journal = open_journal(store_config)
    budget = _budget(journal, clock, per_minute=6)
    budget._lease_size = 8  # as a busy process would have grown it
    budget._lease_ends = clock.now + 1
    budget.acquire()
    assert budget.used() <= 3  # half of the 6 left, in one lease
    journal.close()
