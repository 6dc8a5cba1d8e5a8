"""The gate's smaller parts, each pinned down: state decisions, retries, replacements, records."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    Account,
    BrokerAPIError,
    BrokerAuthenticationError,
    BrokerRateLimitError,
    InsufficientFundsError,
    NotFoundError,
    Order,
    OrderChanges,
    OrderContext,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    Position,
    Quote,
    TradingMode,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.decisions import CheckContext
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.safety.state import TradingState, state_decision
from tradingagents_brokers.safety.submission import _as_unknown, _backoff, is_ambiguous
from tradingagents_brokers.safety.validation import replacement_request
from tradingagents_brokers.store.sqlite import SqliteBackend

NOW = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)


def _ctx(request, positions=(), error=None):
    def fetch_positions():
        if error is not None:
            raise error
        return list(positions)

    return CheckContext(
        request=request,
        order=OrderContext(),
        broker_name="b",
        mode=TradingMode.PAPER,
        config=effective_config({}),
        fetch_account=lambda: None,
        fetch_positions=fetch_positions,
        fetch_open_orders=list,
        fetch_quote=lambda s: Quote(symbol=s, price=1, as_of=NOW),
    )


def _held(qty):
    return [
        Position(symbol="AAPL", qty=qty, avg_entry_price=1, cost_basis=abs(qty)),
        Position(symbol="MSFT", qty=1000, avg_entry_price=1, cost_basis=1000),
    ]


@pytest.mark.parametrize(
    ("held", "side", "qty", "allowed"),
    [
        (10, "sell", 10, True),  # closes the long
        (10, "sell", 1, True),
        (10, "sell", "10.000000001", False),  # one tick beyond flat
        (10, "buy", 1, False),
        (-10, "buy", 10, True),  # covers the short
        (-10, "buy", 11, False),
        (-10, "sell", 1, False),
        (0, "sell", 1, False),
        (0, "buy", 1, False),
    ],
)
def test_reducing_allows_exactly_the_orders_that_shrink_a_position(held, side, qty, allowed):
    request = OrderRequest(symbol="AAPL", side=side, qty=qty)
    decision = state_decision(TradingState.REDUCING, request, _ctx(request, _held(held)))
    assert decision.allowed is allowed
    assert decision.check == "trading_state"
    if not allowed:
        assert decision.code == "TRADING_STATE_REDUCING"
        assert f"({held})" in decision.reason


def _resting(side, qty, symbol="AAPL"):
    return Order(
        order_id=f"rest-{side}-{qty}",
        client_order_id=f"rest-{side}-{qty}",
        symbol=symbol,
        side=side,
        order_type="limit",
        time_in_force="gtc",
        status="new",
        qty=qty,
        limit_price=1,
    )


@pytest.mark.parametrize(
    ("held", "resting", "side", "qty", "allowed"),
    [
        (10, [("sell", 8)], "sell", 2, True),  # with the resting 8: exactly flat
        (10, [("sell", 8)], "sell", "2.000000001", False),
        (10, [("sell", 8)], "sell", 8, False),  # the red team's order: a short of 6
        (10, [("buy", 8), ("sell", 3, "MSFT")], "sell", 10, True),  # other side, other symbol
        (-10, [("buy", 7)], "buy", 3, True),
        (-10, [("buy", 7)], "buy", 4, False),
    ],
)
def test_reducing_counts_the_orders_already_resting_on_the_same_side(
    held, resting, side, qty, allowed
):
    request = OrderRequest(symbol="AAPL", side=side, qty=qty)
    context = _ctx(request, _held(held))
    orders = [_resting(*spec) for spec in resting]
    context.fetch_open_orders = lambda: orders
    decision = state_decision(TradingState.REDUCING, request, context)
    assert decision.allowed is allowed
    if not allowed:
        assert "already in orders" in decision.reason


def test_reducing_counts_orders_in_flight_on_the_same_side():
    from tradingagents_brokers.safety.records import IntentRecord

    request = OrderRequest(symbol="AAPL", side="sell", qty=5)
    context = _ctx(request, _held(10))
    sending = IntentRecord(
        intent_id=1,
        client_order_id="c-1",
        broker="b",
        symbol="AAPL",
        side="sell",
        qty=Decimal(6),
        notional=None,
        value=Decimal(6),
        dedupe_key="k",
        status="submitting",
        order_id=None,
        source="agent",
        created_at="",
        updated_at="",
    )
    context.fetch_in_flight = lambda: [sending]
    assert not state_decision(TradingState.REDUCING, request, context).allowed
    context = _ctx(request, _held(11))
    context.fetch_in_flight = lambda: [sending]
    assert state_decision(TradingState.REDUCING, request, context).allowed


def test_reducing_refuses_notional_orders_and_unreadable_positions():
    notional = OrderRequest(symbol="AAPL", side="sell", notional=5)
    assert state_decision(TradingState.REDUCING, notional, _ctx(notional, _held(10))).code == (
        "TRADING_STATE_REDUCING"
    )
    request = OrderRequest(symbol="AAPL", side="sell", qty=1)
    decision = state_decision(
        TradingState.REDUCING, request, _ctx(request, error=BrokerAPIError("down"))
    )
    assert (decision.allowed, decision.code) == (False, "ACCOUNT_DATA_MISSING")
    assert "down" in decision.reason


def test_active_and_halted_need_no_data():
    request = OrderRequest(symbol="AAPL", side="buy", qty=1)
    context = _ctx(request, error=AssertionError("must not be read"))
    assert state_decision(TradingState.ACTIVE, request, context).allowed
    halted = state_decision(TradingState.HALTED, request, context)
    assert (halted.allowed, halted.code, halted.check) == (False, "TRADING_HALTED", "trading_state")


@pytest.mark.parametrize(
    ("error", "ambiguous"),
    [
        (OrderOutcomeUnknownError("reset"), True),
        (BrokerRateLimitError("slow"), True),
        (BrokerAPIError("no status"), True),
        (BrokerAPIError("bad gateway", status_code=502), True),
        (BrokerAPIError("server error", status_code=500), True),
        (BrokerAPIError("bad request", status_code=499), False),
        (BrokerAPIError("unprocessable", status_code=422), False),
        (BrokerAuthenticationError("no", status_code=401), False),
        (InsufficientFundsError("poor"), False),
        (KeyError("plugin bug after sending"), True),
    ],
)
def test_which_failures_leave_the_outcome_unknown(error, ambiguous):
    assert is_ambiguous(error) is ambiguous


def test_backoff_doubles_to_a_cap_and_honours_the_brokers_reset_time():
    reset = OrderOutcomeUnknownError("reset")
    assert [_backoff(reset, n) for n in (2, 3, 4, 5, 6, 9)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert _backoff(BrokerRateLimitError("slow", retry_after=7), 2) == 7.0
    assert _backoff(BrokerRateLimitError("slow", retry_after=600), 2) == 30.0
    assert _backoff(BrokerRateLimitError("slow"), 2) == 0.5


def test_unknown_outcome_errors_keep_the_client_order_id_and_say_not_to_resend():
    original = OrderOutcomeUnknownError("timeout")
    assert _as_unknown(original, "c-1") is original
    assert original.details == {"client_order_id": "c-1"}
    wrapped = _as_unknown(BrokerAPIError("gateway timeout", status_code=504), "c-2")
    assert wrapped.details == {"client_order_id": "c-2"}
    assert "gateway timeout" in wrapped.message
    assert "do not resend" in wrapped.message
    assert "ValueError" in _as_unknown(ValueError("x"), "c-3").message


def test_retries_wait_by_the_backoff_before_each_new_attempt(fake_host, fake_broker):
    from tradingagents_brokers.gateway import GatedBroker

    waits = []
    config = effective_config({"trading_broker": "fake", "submit_retries": 3})
    gated = GatedBroker(fake_host, "fake", fake_broker, config, sleep=waits.append)
    fake_broker.fail_always = BrokerRateLimitError("slow", retry_after=2)
    with pytest.raises(OrderOutcomeUnknownError) as raised:
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert waits == [2.0, 2.0, 2.0]
    assert raised.value.details["client_order_id"] == gated.journal.intent(1).client_order_id
    events = gated.journal.events(intent_id=1)
    assert events[0]["payload"]["attempt"] == 1  # the first goes with the intent
    attempts = [e["payload"] for e in events if e["kind"] == "submit_attempt"]
    assert attempts == [
        {"attempt": 2, "after": "rate_limited"},
        {"attempt": 3, "after": "rate_limited"},
        {"attempt": 4, "after": "rate_limited"},
    ]


def test_a_definite_refusal_is_journaled_as_rejected_and_not_retried(fake, fake_broker):
    fake_broker.fail_next = InsufficientFundsError("insufficient buying power")
    with pytest.raises(InsufficientFundsError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1
    assert fake.journal.intent(1).status == "rejected"
    answer = fake.journal.events(intent_id=1)[-1]
    assert answer["kind"] == "broker_answer"
    assert answer["payload"]["error"]["code"] == "insufficient_funds"
    assert answer["payload"]["attempt"] == 1


def test_a_duplicate_refusal_the_broker_cannot_explain_stays_unknown(fake, fake_broker):
    from tradingagents_brokers import DuplicateClientOrderIdError

    fake_broker.fail_next = DuplicateClientOrderIdError("already used")
    with pytest.raises(OrderOutcomeUnknownError, match="cannot find it"):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.journal.intent(1).status == "unknown"


def test_the_broker_answer_event_carries_the_order(fake):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    answer = fake.journal.events(intent_id=1)[-1]["payload"]
    # What the request already said (symbol, side, qty, type...) is not repeated.
    said = {k: v for k, v in order.to_dict().items() if v is not None and v is not False}
    for asked in ("client_order_id", "symbol", "side", "qty", "order_type", "time_in_force"):
        del said[asked]
    assert answer == {
        "from": "submitting",
        "to": "new",
        "attempt": 1,
        "order": said,
        "projection": {
            "status": "new",
            "order_id": order.order_id,
            "filled_qty": "0",
            "updated_at": fake.journal.intent(1).updated_at,
        },
    }


def _open_order(**overrides):
    values = {
        "order_id": "o-1",
        "client_order_id": "c-1",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "limit",
        "time_in_force": "day",
        "status": "new",
        "qty": "5",
        "limit_price": "100",
        "extended_hours": True,
    }
    values.update(overrides)
    return Order(**values)


def test_a_replacement_request_takes_the_changes_and_keeps_the_rest():
    request = replacement_request(
        _open_order(), OrderChanges(limit_price="101", time_in_force="gtc")
    )
    assert (request.symbol, request.side.value, request.qty, request.limit_price) == (
        "AAPL",
        "buy",
        Decimal(5),
        Decimal(101),
    )
    assert (request.time_in_force.value, request.order_type.value, request.extended_hours) == (
        "gtc",
        "limit",
        True,
    )
    assert request.notional is None
    assert replacement_request(_open_order(), OrderChanges(qty=7)).qty == Decimal(7)


def test_replacement_of_stop_and_trailing_orders():
    stop = _open_order(order_type="stop_limit", stop_price="95", limit_price="94")
    assert replacement_request(stop, OrderChanges(stop_price="96")).stop_price == Decimal(96)
    trailing = _open_order(order_type="trailing_stop", limit_price=None, trail_percent="2")
    kept = replacement_request(trailing, OrderChanges(qty=1))
    assert (kept.trail_percent, kept.trail_price) == (Decimal(2), None)
    changed = replacement_request(trailing, OrderChanges(trail="1.5"))
    assert (changed.trail_percent, changed.trail_price) == (Decimal("1.5"), None)
    by_price = _open_order(order_type="trailing_stop", limit_price=None, trail_price="3")
    assert replacement_request(by_price, OrderChanges(qty=2)).trail_price == Decimal(3)
    notional = _open_order(order_type="market", limit_price=None, qty=None, notional="50")
    assert replacement_request(notional, OrderChanges(time_in_force="gtc")).notional == Decimal(50)


def test_a_close_refused_while_halted_is_journaled(fake):
    fake.halt("stop")
    with pytest.raises(OrderRejectedError) as raised:
        fake.close_position("AAPL", context=OrderContext(source="agent"))
    assert raised.value.reason_codes == ("TRADING_HALTED",)
    event = fake.journal.events()[-1]
    assert (event["kind"], event["payload"]["action"], event["payload"]["source"]) == (
        "denied",
        "close",
        "agent",
    )
    assert event["payload"]["reason"]["code"] == "TRADING_HALTED"


def test_closes_and_cancels_are_journaled(fake):
    fake.close_position("AAPL", qty=1, context=OrderContext(source="cli"))
    close = fake.journal.events()[-1]
    assert (close["kind"], close["payload"]["symbol"], close["payload"]["source"]) == (
        "close",
        "AAPL",
        "cli",
    )
    fake.close_all_positions()
    assert fake.journal.events()[-1]["kind"] == "close_all"
    fake.cancel_order("o-9")
    assert fake.journal.events()[-1]["payload"] == {"order_id": "o-9", "source": "python"}


def test_the_trades_log_line_names_every_field(fake, caplog):
    caplog.set_level(logging.INFO, logger="tradingagents.broker.trades")
    order = fake.place_order(symbol="AAPL", side="buy", qty=3)
    assert caplog.records[-1].getMessage() == (
        f"accepted broker=fake mode=paper source=python symbol=AAPL side=buy qty=3 notional=None "
        f"client_order_id={order.client_order_id} order_id={order.order_id} status=new code=None"
    )
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="sell", qty=5000)
    assert caplog.records[-1].getMessage().startswith("denied broker=fake")
    assert caplog.records[-1].getMessage().endswith("code=order_rejected")


def test_a_preview_reports_decisions_without_journaling(fake):
    preview = fake.preview(OrderRequest(symbol="AAPL", side="buy", qty=501))
    data = preview.to_dict()
    assert data["allowed"] is False
    assert data["request"]["qty"] == "501"
    assert {r["code"] for r in data["reasons"]} == {
        "ORDER_VALUE_EXCEEDS_MAX",
        "POSITION_EXCEEDS_MAX",
        "INSUFFICIENT_BUYING_POWER",
    }
    assert len(data["decisions"]) == 11  # the trading state and ten checks
    assert [e["kind"] for e in fake.journal.events()] == ["journal"]  # only its identity


def test_reconcile_reports_each_change_and_each_failure(fake, fake_broker):
    first = fake.place_order(symbol="AAPL", side="buy", qty=1)
    second = fake.place_order(symbol="AAPL", side="buy", qty=2)
    filled = Order(
        **{
            **{
                f: getattr(first, f)
                for f in (
                    "order_id",
                    "client_order_id",
                    "symbol",
                    "side",
                    "order_type",
                    "time_in_force",
                )
            },
            "status": "filled",
            "qty": 1,
            "filled_qty": 1,
        }
    )
    fake_broker.orders[first.order_id] = filled
    real_lookup = fake_broker.get_order

    def lookup(order_id):  # acknowledged orders are looked up by the broker's id
        if order_id == second.order_id:
            raise BrokerAPIError("look-up timed out")
        return real_lookup(order_id)

    fake_broker.get_order = lookup
    fake_broker.get_orders = lambda *args, **kwargs: []  # not listed: each is looked up
    report = fake.reconcile()
    assert report.checked == 2
    assert report.changed == (
        {"client_order_id": first.client_order_id, "from": "new", "to": "filled"},
    )
    assert report.failed == (
        {"client_order_id": second.client_order_id, "error": "look-up timed out"},
    )
    assert report.ok is False
    assert report.to_dict()["ok"] is False
    event = fake.journal.events(intent_id=1)[-1]
    assert (event["kind"], event["payload"]["to"], event["payload"]["order"]["status"]) == (
        "reconcile",
        "filled",
        "filled",
    )
    assert fake.reconcile().changed == ()  # nothing moved since


def test_events_filter_by_intent_and_keep_the_newest(tmp_path):
    journal = Journal(tmp_path / "j.db")
    for n in range(3):
        journal.append("note", {"n": n}, intent_id=n % 2, broker="b")
    notes = [e for e in journal.events() if e["kind"] == "note"]  # after the identity
    assert [e["payload"]["n"] for e in notes] == [0, 1, 2]
    assert [e["payload"]["n"] for e in journal.events(intent_id=0)] == [0, 2]
    assert [e["payload"]["n"] for e in journal.events(limit=2)] == [1, 2]
    assert [e["seq"] for e in journal.events(intent_id=0, limit=1)] == [4]
    assert notes[0]["broker"] == "b"
    journal.close()


def test_verify_counts_events_and_reports_a_damaged_file(tmp_path):
    journal = Journal(tmp_path / "j.db")
    for n in range(4):
        journal.append("note", {"n": n})
    assert journal.verify().events == 5  # and the identity
    journal.close()
    path = tmp_path / "j.db"
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\x00" * (4096 - 100)  # wipe the schema page's content
    path.write_bytes(bytes(data))
    import sqlite3
    import threading

    backend = SqliteBackend.__new__(SqliteBackend)  # opened without a write or a pragma
    backend.connection = sqlite3.connect(path)
    backend.connection.row_factory = sqlite3.Row
    backend._lock, backend._depth = threading.RLock(), 0
    broken = Journal.__new__(Journal)
    broken.backend = backend
    result = broken.verify()
    assert result.ok is False
    assert "damaged" in result.problem or result.broken_at is not None


def test_account_and_not_found_errors_in_checks_are_denials_not_crashes(fake, fake_broker):
    fake_broker.get_quote = lambda symbol: (_ for _ in ()).throw(NotFoundError("no quote"))
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert "REFERENCE_PRICE_MISSING" in raised.value.reason_codes
    fake_broker.get_quote = lambda symbol: Quote(
        symbol=symbol, price=100, as_of=dt.datetime.now(dt.UTC)
    )
    fake_broker.get_account = lambda: Account(
        account_number="x",
        status="ACTIVE",
        buying_power=0,
        cash=0,
        portfolio_value=0,
        equity=0,
        last_equity=0,
    )
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert set(raised.value.reason_codes) == {"ACCOUNT_DATA_MISSING", "INSUFFICIENT_BUYING_POWER"}
