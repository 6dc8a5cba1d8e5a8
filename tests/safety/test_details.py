"""The details the audit trail and the reports promise, pinned (found by mutation testing)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    InsufficientFundsError,
    NotFoundError,
    OrderContext,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    RequestBudgetExhaustedError,
    hookimpl,
)
from tradingagents_brokers.safety.journal import Journal, VerifyResult

from ..conftest import make_gated
from ..fakes import FakeBroker, FakePlugin


def _intent(gated, *, broker="fake", status="submitting", coid=None):
    return gated.journal.new_intent(
        {
            "broker": broker,
            "symbol": "AAPL",
            "side": "buy",
            "qty": Decimal(1),
            "notional": None,
            "value": Decimal(100),
            "dedupe_key": "k",
            "status": status,
            "source": "python",
            "client_order_id": coid,
        },
        {"request": {}},
    )


def test_reconcile_goes_on_past_an_intent_the_broker_does_not_know(fake, fake_broker):
    from tradingagents_brokers import OrderRequest

    lost = _intent(fake)  # never reached the broker
    placed = _intent(fake)  # reached it, and filled
    order = fake_broker.place_order(
        OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=placed.client_order_id)
    )
    fake_broker.orders[order.order_id] = attrs.evolve(order, status="filled", filled_qty=1)
    report = fake.reconcile()
    assert report.checked == 2
    assert [(c["client_order_id"], c["to"]) for c in report.changed] == [
        (lost.client_order_id, "not_placed"),
        (placed.client_order_id, "filled"),
    ]
    assert fake.journal.intent(lost.intent_id).status == "not_placed"
    event = fake.journal.events(intent_id=lost.intent_id)[-1]
    assert event["payload"]["reason"] == "the broker has no order with this id"
    assert event["kind"] == "reconcile"


def test_an_order_a_lagging_look_up_missed_is_found_by_the_next_reconcile(fake, fake_broker):
    from tradingagents_brokers import OrderRequest

    lagged = _intent(fake)  # the broker accepted it, but its look-up lagged
    hidden = fake_broker.place_order(
        OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=lagged.client_order_id)
    )
    listing = fake_broker.get_orders
    fake_broker.get_orders = lambda *args, **kwargs: []  # not listed yet either
    fake_broker.lookup_error = NotFoundError("not visible yet")
    first = fake.reconcile()
    assert [c["to"] for c in first.changed] == ["not_placed"]
    fake_broker.lookup_error = None
    fake_broker.get_orders = listing
    second = fake.reconcile()
    assert (second.checked, second.rechecked) == (0, 1)
    assert [(c["from"], c["to"]) for c in second.changed] == [("not_placed", "new")]
    assert fake.journal.intent(lagged.intent_id).order_id == hidden.order_id
    third = fake.reconcile()  # found: nothing left to re-check
    assert (third.checked, third.rechecked, third.changed) == (1, 0, ())


def test_a_missing_order_that_comes_back_is_taken_back(fake, fake_broker):
    placed = fake.place_order(symbol="AAPL", side="buy", qty=1)
    kept = fake_broker.orders.pop(placed.order_id)
    assert [c["to"] for c in fake.reconcile().changed] == ["missing"]
    assert fake.reconcile().changed == ()  # still gone: reported once
    fake_broker.orders[placed.order_id] = attrs.evolve(kept, status="filled", filled_qty=1)
    assert [(c["from"], c["to"]) for c in fake.reconcile().changed] == [("missing", "filled")]


def test_an_old_not_placed_verdict_is_not_looked_up_again(fake, fake_broker, monkeypatch):
    from tradingagents_brokers.safety import reconcile as reconcile_module

    _intent(fake)
    fake.reconcile()
    # every verdict is now older than the window (the window ends a day in the future)
    monkeypatch.setattr(reconcile_module, "RECHECK", dt.timedelta(days=-1))
    assert fake.reconcile().rechecked == 0


def test_reconcile_touches_only_its_own_brokers_intents(fake):
    other = _intent(fake, broker="elsewhere")
    report = fake.reconcile()
    assert report.checked == 0
    assert fake.journal.intent(other.intent_id).status == "submitting"


def test_reconcile_asks_the_hooks_with_the_brokers_name(fake, fake_host):
    asked = []

    class Spy:
        @hookimpl(wrapper=True)
        def get_order_by_client_id(self, broker_name):
            asked.append(broker_name)
            return (yield)

    fake_host.pm.register(Spy(), name="spy")
    _intent(fake)
    fake.reconcile()
    assert asked == ["fake"]


def test_reconcile_records_a_new_order_id_even_when_the_status_is_unchanged(fake, fake_broker):
    placed = fake.place_order(symbol="AAPL", side="buy", qty=2)
    original = fake_broker.orders.pop(placed.order_id)
    moved = original.__class__(
        **{
            **{
                f: getattr(original, f)
                for f in ("client_order_id", "symbol", "side", "order_type", "time_in_force", "qty")
            },
            "order_id": "moved-1",
            "status": "new",
        }
    )
    fake_broker.orders["moved-1"] = moved
    report = fake.reconcile()
    assert report.changed == (
        {"client_order_id": placed.client_order_id, "from": "new", "to": "new"},
    )
    assert fake.journal.intent(1).order_id == "moved-1"
    assert report.to_dict() == {
        "ok": True,
        "checked": 1,
        "rechecked": 0,
        "in_flight": 0,
        "deferred": 0,
        "requests": 1,  # the open orders, listed once: no look-up of its own
        "changed": list(report.changed),
        "failed": [],
    }


def _journal_with(tmp_path, n):
    journal = Journal(tmp_path / "j.db")
    for i in range(n):
        journal.append("note", {"i": i})
    journal.close()
    return tmp_path / "j.db"


def _edit(path, sql):
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    db.execute("DROP TRIGGER IF EXISTS events_no_delete")
    db.execute(sql)
    db.commit()
    db.close()


def test_verify_reports_exactly_where_and_how_the_chain_breaks(tmp_path):
    path = _journal_with(tmp_path, 4)
    assert Journal(path).verify() == VerifyResult(True, 5)  # the identity, then four notes
    _edit(path, "UPDATE events SET prev_hash = 'x' WHERE seq = 3")
    assert Journal(path).verify() == VerifyResult(False, 3, 3, "event 3 does not link to event 2")


def test_verify_reports_a_missing_event_and_an_altered_one(tmp_path):
    path = _journal_with(tmp_path, 4)
    _edit(path, "DELETE FROM events WHERE seq = 2")
    assert Journal(path).verify() == VerifyResult(False, 2, 2, "event 2 is missing")
    other = _journal_with(tmp_path / "b", 3)
    _edit(other, "UPDATE events SET kind = 'forged' WHERE seq = 2")
    assert Journal(other).verify() == VerifyResult(
        False, 2, 2, "event 2 was altered (hash mismatch)"
    )


@pytest.mark.parametrize("column", ["at", "intent_id", "broker", "payload"])
def test_every_stored_field_of_an_event_is_covered_by_its_hash(tmp_path, column):
    path = _journal_with(tmp_path, 2)
    value = {
        "at": "'2000-01-01T00:00:00.000Z'",
        "intent_id": "7",
        "broker": "'x'",
        "payload": "'{}'",
    }[column]
    _edit(path, f"UPDATE events SET {column} = {value} WHERE seq = 1")
    result = Journal(path).verify()
    assert (result.ok, result.broken_at) == (False, 1)


def test_verify_reports_a_damaged_file(tmp_path):
    class Broken:
        def execute(self, *args):
            raise sqlite3.DatabaseError("file is not a database")

    journal = Journal(tmp_path / "j.db")
    real, journal.backend.connection = journal.backend.connection, Broken()
    assert journal.verify() == VerifyResult(
        False, 0, None, "the journal file is damaged: file is not a database"
    )
    journal.backend.connection = real
    assert journal.integrity_check() == "ok"
    journal.close()


def test_trading_state_records_who_and_why(fake):
    fake.halt("drawdown", context=OrderContext(source="cli"))
    state = fake.trading_state()
    assert (state["state"], state["reason"], state["by"]) == ("halted", "drawdown", "cli")
    assert state["at"].endswith("Z")
    event = fake.journal.events()[-1]
    assert (event["kind"], event["payload"]) == (
        "trading_state",
        {"state": "halted", "reason": "drawdown", "by": "cli"},
    )


def test_a_preview_names_each_reason_and_who_gave_it(fake_host):
    from tradingagents_brokers import Decision

    class Deny:
        @hookimpl
        def check_order(self):
            return Decision.deny("desk_rule", "DESK_SAYS_NO", "not today")

    fake_host.pm.register(Deny(), name="deny")
    gated = make_gated(fake_host, broker_mode="live")
    preview = gated.preview(OrderRequest(symbol="AAPL", side="buy", qty=1))
    reasons = {r.code: r for r in preview.reasons}
    assert reasons["MODE_BLOCKED"].check == "mode_gate"
    assert "auto_execute_trades" in reasons["MODE_BLOCKED"].message
    assert (reasons["DESK_SAYS_NO"].message, reasons["DESK_SAYS_NO"].check) == (
        "not today",
        "desk_rule",
    )


def test_a_preview_names_the_broker_when_it_cannot_take_the_order(fake_host):
    from tradingagents_brokers import InvalidOrderError
    from tradingagents_brokers.models import BrokerCapabilities

    from ..fakes import FakeBroker, FakePlugin

    pm = fake_host.pm
    pm.unregister(name="fake-plugin")
    pm.register(FakePlugin(FakeBroker(capabilities=BrokerCapabilities())), name="fake-plugin")
    fake_host.__dict__.pop("broker_types", None)
    gated = make_gated(fake_host)
    with pytest.raises(InvalidOrderError, match="broker 'fake' does not support order type 'stop'"):
        gated.preview(
            OrderRequest(symbol="AAPL", side="buy", qty=1, order_type="stop", stop_price=100)
        )


def test_a_refused_close_says_why_and_which_broker(fake):
    fake.halt("stop")
    with pytest.raises(OrderRejectedError) as raised:
        fake.close_all_positions()
    reason = raised.value.reasons[0]
    assert (reason.code, reason.message, reason.check) == (
        "TRADING_HALTED",
        "trading is halted; only cancels are accepted",
        "trading_state",
    )
    assert fake.journal.events()[-1]["broker"] == "fake"


def test_a_refusal_names_the_approver_and_its_reason(fake, fake_host):
    from tradingagents_brokers import Approval

    class Desk:
        @hookimpl
        def confirm_order(self):
            return Approval(False, "desk", "")

    fake_host.pm.register(Desk(), name="desk")
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    reason = raised.value.reasons[0]
    assert (reason.code, reason.message, reason.check) == (
        "CONFIRMATION_DENIED",
        "desk did not approve the order",
        "desk",
    )


def test_a_replayed_client_order_id_of_an_unsent_order_fails_like_a_lookup(fake, fake_broker):
    fake.reconcile()  # the pass a gated broker runs before its first order
    fake_broker.lookup_error = BrokerAPIError("down")
    _intent(fake, status="new", coid="mine-1")
    with pytest.raises(BrokerAPIError):
        fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="mine-1")
    assert fake_broker.place_calls == []
    fake_broker.lookup_error = NotFoundError("gone")
    with pytest.raises(NotFoundError):
        fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="mine-1")


def test_an_order_found_after_an_ambiguous_failure_is_not_posted_again(fake, fake_broker):
    from tradingagents_brokers import OrderOutcomeUnknownError

    fake_broker.fail_next = OrderOutcomeUnknownError("reset after accepting")
    fake_broker.accept_before_failing = True
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1  # found by its client order id, not re-sent
    assert order.order_id in fake_broker.orders


def test_an_unknown_outcome_is_journaled_told_and_logged(fake, fake_broker, order_events, caplog):
    from tradingagents_brokers import OrderOutcomeUnknownError

    fake_broker.fail_always = OrderOutcomeUnknownError("timeout")
    fake_broker.lookup_error = BrokerAPIError("look-up down")
    with pytest.raises(OrderOutcomeUnknownError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    coid = fake.journal.intent(1).client_order_id
    answer = fake.journal.events(intent_id=1)[-1]
    assert (answer["kind"], answer["payload"]["to"]) == ("broker_answer", "unknown")
    assert answer["payload"]["error"]["code"] == "outcome_unknown"
    assert [e.kind for e in order_events] == ["unknown"]
    assert order_events[0].request.client_order_id == coid
    assert order_events[0].error["code"] == "outcome_unknown"
    assert f"order {coid} outcome unknown: timeout" in caplog.text
    assert raised.value.details["client_order_id"] == coid


def test_a_rejection_is_told_with_the_request_and_the_error(fake, fake_broker, order_events):
    from tradingagents_brokers import InsufficientFundsError

    fake_broker.fail_next = InsufficientFundsError("no money")
    with pytest.raises(InsufficientFundsError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert [e.kind for e in order_events] == ["rejected"]
    assert order_events[0].request.symbol == "AAPL"
    assert order_events[0].error["code"] == "insufficient_funds"


def test_events_are_named_after_the_brokers_answer(sim, sim_config):
    seen = []

    class Observer:
        @hookimpl
        def on_order_event(self, event):
            seen.append(event.kind)

    sim.host.pm.register(Observer(), name="observer")
    sim.place_order(symbol="AAPL", side="buy", qty=1)
    sim.place_order(symbol="AAPL", side="buy", qty=2, order_type="limit", limit_price=95)
    assert seen == ["filled", "accepted"]


def test_the_place_order_hook_is_told_the_brokers_name(fake, fake_host):
    names = []

    class Spy:
        @hookimpl(wrapper=True)
        def place_order(self, broker_name):
            names.append(broker_name)
            return (yield)

    fake_host.pm.register(Spy(), name="spy")
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert names == ["fake"]


def test_unresolvable_answers_keep_their_ids_in_the_error(fake, fake_broker):
    from tradingagents_brokers import DuplicateClientOrderIdError, OrderOutcomeUnknownError

    fake_broker.fail_next = DuplicateClientOrderIdError("already used")
    with pytest.raises(OrderOutcomeUnknownError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert raised.value.details == {"client_order_id": fake.journal.intent(1).client_order_id}
    assert "left for reconciliation" in raised.value.message
    original = fake_broker.place_order
    fake_broker.place_order = lambda request: original(request.with_client_order_id("other"))
    with pytest.raises(OrderOutcomeUnknownError) as mismatch:
        fake.place_order(symbol="AAPL", side="buy", qty=2)
    assert mismatch.value.details["client_order_id"] == fake.journal.intent(2).client_order_id
    assert mismatch.value.details["order_id"]


def test_messages_say_what_to_do_next(fake):
    from tradingagents_brokers.safety.state import NotPermittedError
    from tradingagents_brokers.safety.submission import _as_unknown

    assert "(tradingagents-brokers reconcile)" in _as_unknown(KeyError("x"), "c-1").message
    fake.halt("x")
    with pytest.raises(NotPermittedError, match=r"\(tradingagents-brokers resume\)"):
        fake.resume("y", context=OrderContext(source="agent"))
    fake.resume("a person")
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="buy", qty=1000, client_order_id="refused-1")
    with pytest.raises(OrderRejectedError, match="under a new client order id is decided afresh"):
        fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="refused-1")


def test_money_in_messages_has_at_most_two_decimals(fake_host):
    gated = make_gated(fake_host, max_order_value=1000)
    with pytest.raises(OrderRejectedError, match="order value 1000 exceeds max_order_value 1000;"):
        gated.place_order(
            symbol="AAPL", side="buy", qty=10, order_type="limit", limit_price="100.0001"
        )
    with pytest.raises(OrderRejectedError, match=r"order value 1000.1 exceeds"):
        gated.place_order(
            symbol="AAPL", side="buy", qty="1", order_type="limit", limit_price="1000.1"
        )


@pytest.mark.parametrize("price", ["0", "-1", "NaN"])
def test_a_zero_negative_or_nan_reference_price_denies(fake, fake_broker, price):
    from tradingagents_brokers import Quote

    def bad_quote(symbol):
        return Quote(symbol=symbol, price=price, as_of="2026-11-02T15:00:00Z")

    fake_broker.get_quote = bad_quote
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert set(raised.value.reason_codes) == {"RISK_CHECK_ERROR"}
    assert len(raised.value.reasons) == 3  # value, position and buying power could not decide
    assert fake_broker.place_calls == []


def test_reconcile_goes_on_past_a_failed_look_up(fake, fake_broker):
    first = fake.place_order(symbol="AAPL", side="buy", qty=1)
    second = fake.place_order(symbol="AAPL", side="buy", qty=2)
    fake_broker.orders[second.order_id] = attrs.evolve(second, status="filled")
    real = fake_broker.get_order

    def lookup(order_id):  # acknowledged orders are looked up by the broker's id
        if order_id == first.order_id:
            raise BrokerAPIError("look-up timed out")
        return real(order_id)

    fake_broker.get_order = lookup
    fake_broker.get_orders = lambda *args, **kwargs: []  # neither is listed: both looked up
    report = fake.reconcile()
    assert [f["client_order_id"] for f in report.failed] == [first.client_order_id]
    assert [c["to"] for c in report.changed] == ["filled"]


def test_an_order_the_broker_rejects_at_once_is_told_as_rejected(fake, fake_broker, order_events):
    real = fake_broker.place_order
    fake_broker.place_order = lambda request: attrs.evolve(real(request), status="rejected")
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert order.status.value == "rejected"
    assert [e.kind for e in order_events] == ["rejected"]
    assert fake.journal.intent(1).status == "rejected"


def test_a_plugin_exception_after_sending_is_journaled_by_its_type(fake, fake_broker):
    real = fake_broker.place_order

    def crash_after_sending(request):
        real(request)
        raise KeyError("the plugin tripped over the answer")

    fake_broker.place_order = crash_after_sending
    fake_broker.lookup_error = BrokerAPIError("look-up down")
    from tradingagents_brokers import OrderOutcomeUnknownError

    with pytest.raises(OrderOutcomeUnknownError):  # re-sent, refused as a duplicate, not found
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    attempts = [
        e["payload"] for e in fake.journal.events(intent_id=1) if e["kind"] == "submit_attempt"
    ]
    assert attempts[0] == {"attempt": 2, "after": "KeyError"}  # attempt 1 is in the intent


def test_closing_events_carry_the_orders_symbol_in_the_trades_log(fake, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tradingagents.broker.trades")
    order = fake.close_position("AAPL", qty=1)
    line = caplog.records[-1].getMessage()
    assert line.startswith("accepted broker=fake mode=paper source=python symbol=AAPL side=None")
    assert f"client_order_id={order.client_order_id} order_id={order.order_id}" in line


def test_an_unresolvable_duplicate_is_told_with_its_request(fake, fake_broker, order_events):
    from tradingagents_brokers import DuplicateClientOrderIdError, OrderOutcomeUnknownError

    fake_broker.fail_next = DuplicateClientOrderIdError("already used")
    with pytest.raises(OrderOutcomeUnknownError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert order_events[-1].kind == "unknown"
    assert order_events[-1].request.symbol == "AAPL"


def test_only_unresolved_intents_of_this_broker_count_as_in_flight(fake_host, fake_broker):
    fake = make_gated(
        fake_host,
        max_orders_per_second=10**6,
        max_orders_per_minute=10**6,
        duplicate_window_seconds=0,
    )
    fake_broker.get_orders = lambda *a, **k: []  # nothing open at the broker
    fake.reconcile()  # the pass before the first order: the unknown ones below come after it
    for status in ("filled", "denied", "not_placed", "canceled"):
        _intent(fake, status=status)  # settled: must not count
    _intent(fake, broker="elsewhere", status="unknown")  # another broker's: must not count
    for _ in range(90):
        _intent(fake, status="unknown")  # 90 shares of unknown outcome: they count
    fake.place_order(symbol="AAPL", side="buy", qty=5)  # 5 held + 90 + 5 = 100: at the limit
    # the order just accepted is no longer in flight (and the broker shows nothing open)
    fake.place_order(symbol="AAPL", side="buy", qty=5)
    with pytest.raises(OrderRejectedError, match="POSITION_EXCEEDS_MAX"):
        fake.place_order(symbol="AAPL", side="buy", qty=6)  # 5 + 90 + 6 = 101


def test_rate_windows_count_this_brokers_recent_admitted_intents_only(fake_host, tmp_path):
    import datetime as dt

    clock = {"now": dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)}
    from tradingagents_brokers import GatedBroker
    from tradingagents_brokers.config import effective_config

    journal = Journal(tmp_path / "j.db", now=lambda: clock["now"])
    config = effective_config(
        {"trading_broker": "fake", "max_orders_per_minute": 2, "max_orders_per_second": 10}
    )
    gated = GatedBroker(
        fake_host, "fake", fake_host.build_broker("fake", config), config, journal=journal
    )
    _intent(gated, broker="elsewhere", status="new")
    _intent(gated, status="denied")
    gated.place_order(symbol="AAPL", side="buy", qty=1)
    gated.place_order(symbol="AAPL", side="buy", qty=2)
    with pytest.raises(OrderRejectedError, match="RATE_LIMIT_EXCEEDED"):
        gated.place_order(symbol="AAPL", side="buy", qty=3)
    clock["now"] += dt.timedelta(seconds=61)
    gated.place_order(symbol="AAPL", side="buy", qty=4)


def test_a_blocked_order_is_journaled_with_its_request_and_context(fake_host):
    gated = make_gated(fake_host, broker_mode="live")
    from tradingagents_brokers import OrderBlockedError

    with pytest.raises(OrderBlockedError) as raised:
        gated.place_order(symbol="AAPL", side="buy", qty=1, context=OrderContext(source="agent"))
    assert raised.value.details == {"broker": "fake", "mode": "live"}
    event = gated.journal.events()[-1]
    assert (event["kind"], event["broker"]) == ("blocked", "fake")
    assert event["payload"]["reason"] == raised.value.message
    assert event["payload"]["request"]["symbol"] == "AAPL"
    assert event["payload"]["context"]["source"] == "agent"
    with pytest.raises(OrderBlockedError):
        gated.close_position("AAPL")
    assert gated.journal.events()[-1]["payload"]["request"] is None


def test_reducing_lets_one_share_cover_a_short(fake, fake_broker):
    from tradingagents_brokers import Position

    fake_broker.get_positions = lambda: [
        Position(symbol="AAPL", qty=-10, avg_entry_price="100", cost_basis="1000")
    ]
    fake.reduce_only("cover shorts only")
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=11)
    reason = raised.value.reasons[0]
    assert (reason.check, reason.code) == ("trading_state", "TRADING_STATE_REDUCING")


def test_a_new_journal_is_active_with_no_history(tmp_path):
    journal = Journal(tmp_path / "j.db")
    assert journal.trading_state() == {"state": "active", "reason": "", "by": "", "at": None}
    journal.close()


class _Sequence(FakeBroker):
    """Fails each place_order with the next of ``errors`` (None: accept), in order."""

    def __init__(self, *errors):  # type: ignore[no-untyped-def]
        super().__init__()
        self.errors = list(errors)

    def place_order(self, request):  # type: ignore[no-untyped-def]
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return super().place_order(request)


def _with(broker):  # type: ignore[no-untyped-def]
    from tradingagents_brokers import PluginHost, make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    return make_gated(PluginHost(pm), order_stream=False)


def test_an_order_the_budget_refuses_before_sending_is_rejected_not_unknown():
    broker = _Sequence(RequestBudgetExhaustedError("spent", retry_after=12.5))
    gated = _with(broker)
    with pytest.raises(RequestBudgetExhaustedError) as raised:
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert raised.value.details["retry_after"] == 12.5
    assert gated.journal.intents()[0].status == "rejected"


@pytest.mark.parametrize(
    "refusal",
    [
        RequestBudgetExhaustedError("spent", retry_after=5),
        InsufficientFundsError("the first attempt spent them"),
    ],
    ids=["no budget", "no funds"],
)
def test_a_refusal_after_an_attempt_that_may_have_arrived_leaves_the_order_unknown(refusal):
    broker = _Sequence(OrderOutcomeUnknownError("reset after sending"), refusal)
    gated = _with(broker)
    with pytest.raises(OrderOutcomeUnknownError):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert gated.journal.intents()[0].status == "unknown"  # not rejected: it may exist
    assert broker.errors == []  # and no third attempt after a refusal
