"""Fault injection on the order path (hypothesis, stateful), with and without the order stream.

A broker with a book (orders rest until filled; it refuses a second order with a
client order id it already has) injects faults on the way: 429 and 5xx before
accepting, 5xx, connection resets and timeouts after accepting, look-ups that lag
behind an accepted order, and process crashes between the journal commit and the
send. With the stream on, its order stream also drops (losing what was waiting),
replays messages it delivered before, delivers twice, delivers out of order, goes
silent while time passes, and brings orders nobody journaled. After every step:

* no intent has more than one broker order, and every broker order belongs to an intent;
* no intent is lost: every place() that passed the gate left one intent;
* whenever the state cache says it is live, it agrees with the broker's book;
and at the end, no intent is left unresolved, the journal agrees with the broker,
no order was admitted on stream state older than ``state_max_age_seconds``, and
after a reconnect the cache agrees with the book. The test counts how often each
fault kind really fired.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import os
import tempfile
import uuid
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerRateLimitError,
    BrokerType,
    NotFoundError,
    Order,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    PluginHost,
    hookimpl,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.gateway import GatedBroker
from tradingagents_brokers.safety.journal import UNRESOLVED

from ..conftest import open_test_journal
from ..fakes import BookBroker, ManualClock, die_in_place

FAULTS = (
    "429",
    "5xx_before",
    "5xx_after",
    "reset_before",
    "reset_after",
    "timeout_after",
    "lookup_lag",
    "crash",
)
STREAM_FAULTS = ("drop", "replay", "duplicate", "reorder", "silence", "foreign")
MAX_AGE = 30
fired: collections.Counter[str] = collections.Counter()


class Crash(BaseException):
    """The process dies between the journal commit and the broker call."""


class FaultyBroker(BookBroker):
    def __init__(self) -> None:
        super().__init__()
        self.faults: collections.deque[str] = collections.deque()
        self.lagging_lookups = 0
        self.accepted: collections.Counter[str] = collections.Counter()

    def place_order(self, request):
        fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            fired[fault] += 1
        if fault == "crash":
            raise Crash()
        if fault == "429":
            raise BrokerRateLimitError("rate limit exceeded", retry_after=1)
        if fault == "5xx_before":
            raise BrokerAPIError("service unavailable", status_code=503)
        if fault == "reset_before":
            raise OrderOutcomeUnknownError("connection reset")
        self.place_calls.append(request)
        order = super().place_order(request)  # refuses a known client order id
        self.accepted[request.client_order_id] += 1
        if fault == "5xx_after":
            raise BrokerAPIError("gateway timeout", status_code=504)
        if fault in ("reset_after", "timeout_after"):
            raise OrderOutcomeUnknownError(fault.replace("_", " "))
        if fault == "lookup_lag":
            self.lagging_lookups = 2
        return order

    def get_order_by_client_id(self, client_order_id):
        if self.lagging_lookups:
            self.lagging_lookups -= 1
            raise NotFoundError("not visible yet")
        return super().get_order_by_client_id(client_order_id)


class _Holder:
    @hookimpl
    def register_brokers(self):
        return [
            BrokerType(
                name="faulty",
                factory=lambda settings: FaultyBroker(),
                capabilities=FaultyBroker().capabilities,
            )
        ]


HOST = PluginHost(make_plugin_manager(load_entrypoints=False))
HOST.pm.register(_Holder(), name="faulty-plugin")
CONFIG = effective_config(
    {
        "trading_broker": "faulty",
        "max_order_value": 10**9,
        "max_position_size": 1,
        "max_orders_per_second": 10**6,
        "max_orders_per_minute": 10**6,
        "duplicate_window_seconds": 0,
        "submit_retries": 2,
        "state_max_age_seconds": MAX_AGE,
    }
)
SCRATCH = Path(
    tempfile.mkdtemp(prefix="tab-faults-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
)


class OrderPath(RuleBasedStateMachine):
    stream = False

    def __init__(self) -> None:
        super().__init__()
        self.path = SCRATCH / f"{uuid.uuid4().hex}.db"
        self.clock = ManualClock()
        self.broker = FaultyBroker()
        self.broker.now = self.clock
        self.journal = open_test_journal(self.path, now=self.clock)
        self.gated = self._start()
        self.placed = 0
        self.qty = itertools.count(1)

    def _start(self) -> GatedBroker:
        config = {**CONFIG, "order_stream": self.stream}
        gated = GatedBroker(HOST, "faulty", self.broker, config, self.journal, sleep=lambda s: None)
        gated.stream.refresh_interval = 0
        return gated

    @rule(kind=st.sampled_from(FAULTS), times=st.integers(1, 3))
    def inject(self, kind, times):
        self.broker.faults.extend([kind] * times)

    @rule()
    def place(self):
        self.placed += 1
        try:
            self.gated.place_order(
                symbol="AAPL", side="buy", qty=next(self.qty), order_type="limit", limit_price=100
            )
        except (OrderOutcomeUnknownError, Crash):
            pass
        except OrderRejectedError as exc:
            # only a failed start-up reconciliation may stop an order here
            raise AssertionError(f"unexpected refusal: {exc}") from None

    @rule(pick=st.integers(0, 99), part=st.booleans())
    def fill(self, pick, part):
        """The market fills an open order, in full or one share of it (oldest first by pick)."""
        open_orders = [o.order_id for o in self.broker.orders.values() if o.status.is_open]
        if open_orders:
            self.broker.fill(open_orders[pick % len(open_orders)], qty=1 if part else None)

    @rule()
    def crash_and_restart(self):
        """A new process on the same journal: its first order reconciles."""
        die_in_place(self.gated)
        self.gated = self._start()

    @precondition(lambda self: self.placed > 0)
    @rule()
    def reconcile(self):
        self.gated.reconcile()

    @invariant()
    def at_most_one_broker_order_per_intent_and_none_without_one(self):
        intents = {i.client_order_id for i in self.journal.intents()}
        assert all(count == 1 for count in self.broker.accepted.values())
        assert set(self.broker.accepted) <= intents

    @invariant()
    def no_intent_is_lost(self):
        assert len(self.journal.intents()) == self.placed

    def teardown(self):
        self.broker.faults.clear()
        self.broker.lagging_lookups = 0
        report = self.gated.reconcile()
        assert report.ok
        unresolved = self.journal.intents(statuses=UNRESOLVED)
        assert unresolved == []
        for intent in self.journal.intents():
            at_broker = intent.client_order_id in self.broker.accepted
            assert at_broker == (intent.status not in ("not_placed", "rejected")), intent
            if at_broker:
                order = self.broker.get_order_by_client_id(intent.client_order_id)
                assert (intent.status, intent.filled_qty) == (order.status.value, order.filled_qty)
        assert self.journal.verify().ok
        self.journal.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class OrderPathWithStream(OrderPath):
    stream = True

    @rule(kind=st.sampled_from(STREAM_FAULTS))
    def stream_fault(self, kind):
        stream = self.broker.streams[-1]
        fired[kind] += 1
        if kind == "drop":
            stream.drop()
        elif kind == "replay":  # messages delivered before come again (a replaying server)
            stream.extra.extend(self.broker.updates[-3:])
        elif kind == "duplicate":
            stream.duplicate = not stream.duplicate
        elif kind == "reorder":
            stream.reorder = not stream.reorder
        elif kind == "silence":
            stream.silent = not stream.silent
        else:
            coid = f"web-{uuid.uuid4().hex[:8]}"
            self.broker.orders[coid] = foreign = Order(
                order_id=coid,
                client_order_id=coid,
                symbol="AAPL",
                side="buy",
                order_type="market",
                time_in_force="day",
                status="new",
                qty=1,
            )
            self.broker._log("new", foreign)
            self.broker.fill(coid)

    @rule(seconds=st.sampled_from([1, 10, MAX_AGE + 1]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)

    @invariant()
    def a_live_cache_agrees_with_the_book(self):
        self.gated.stream.poll()
        if self.gated.cache.live:
            self._assert_cache_is_the_book()

    def _assert_cache_is_the_book(self):
        cache, book = self.gated.cache, self.broker
        assert {o.order_id for o in cache.open_orders()} == {
            o.order_id for o in book.orders.values() if o.status.is_open
        }
        assert cache.position_qty("AAPL") == book.positions.get("AAPL", 0)

    def teardown(self):
        for decided in (e for e in self.journal.events() if e["kind"] == "intent"):
            state = decided["payload"]["state"]
            if state["source"] == "stream":
                at = dt.datetime.fromisoformat(decided["at"].replace("Z", "+00:00"))
                for key in ("orders_as_of", "account_as_of"):
                    age = at - dt.datetime.fromisoformat(state[key])
                    assert age <= dt.timedelta(seconds=MAX_AGE), (decided, key)
                fired["decided_on_the_stream"] += 1
        stream = self.broker.streams[-1]
        stream.duplicate = stream.reorder = stream.silent = False
        self.broker.faults.clear()
        self.broker.lagging_lookups = 0
        assert self.gated.restart_order_stream()
        self.gated.stream.poll()
        assert self.gated.cache.live, self.gated.order_stream_status()
        self._assert_cache_is_the_book()
        super().teardown()


def _run(machine, examples, steps=15):
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            database=None,
        ),
    )


def test_no_fault_sequence_duplicates_loses_or_strands_an_order():
    # 1000 sequences in the suite; the mutation run asks for fewer (TAB_FAULT_EXAMPLES).
    examples = int(os.environ.get("TAB_FAULT_EXAMPLES", "1000"))
    fired.clear()
    _run(OrderPath, examples)
    # every kind 20+ times in the full run (about 20-300 each: the exact figures move with
    # the tests that ran before in the same process and with the order path's own steps;
    # run alone since reconciliation lists the open orders, lookup_lag fires about 20 times)
    minimum = 20 if examples >= 1000 else 1
    print("faults fired:", dict(fired))
    assert {kind: fired[kind] for kind in FAULTS if fired[kind] < minimum} == {}


def test_with_the_order_stream_no_fault_leaves_the_cache_wrong_while_it_says_live():
    examples = int(os.environ.get("TAB_FAULT_EXAMPLES", "1000"))
    fired.clear()
    _run(OrderPathWithStream, examples, steps=20)  # more rules share the steps
    minimum = 50 if examples >= 1000 else 1
    kinds = (*FAULTS, *STREAM_FAULTS, "decided_on_the_stream")
    assert {kind: fired[kind] for kind in kinds if fired[kind] < minimum} == {}
    print("faults fired:", dict(fired))
