"""The order path of GatedBroker: validation, capabilities, the mode gate, submission outcomes."""

from __future__ import annotations

import logging

import pytest

from tradingagents_brokers import (
    Approval,
    BrokerAPIError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderBlockedError,
    OrderContext,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    get_broker,
)
from tradingagents_brokers.approvals import answered
from tradingagents_brokers.models import BrokerCapabilities

from .conftest import make_gated
from .fakes import FakeBroker, FakePlugin


@pytest.mark.parametrize(
    "fields",
    [
        {"symbol": "AAPL", "side": "buy", "qty": -5},
        {"symbol": "AAPL", "side": "buy", "qty": 0},
        {"symbol": "AAPL", "side": "buy", "qty": "NaN"},
        {"symbol": "AAPL", "side": "buy", "qty": "lots"},
        {"symbol": "AAPL", "side": "buy", "qty": 1, "notional": 5},
        {"symbol": "AAPL", "side": "buy", "qty": 1, "order_type": "teleport"},
        {"symbol": "AAPL", "side": "buy", "qty": 1, "time_in_force": "forever"},
        {"symbol": "AAPL", "side": "buy", "qty": 1, "leverage": 100},
        {"symbol": "AAPL", "qty": 1},
        {"side": "buy", "qty": 1},
    ],
)
def test_bad_input_raises_invalid_order_error_and_nothing_reaches_the_broker(
    fake, fake_broker, fields
):
    with pytest.raises(InvalidOrderError):
        fake.place_order(**fields)
    assert fake_broker.place_calls == []


def _limited_host(fake_host_factory, caps):
    broker = FakeBroker(capabilities=caps)
    return broker, fake_host_factory(broker)


@pytest.fixture
def host_for():
    from tradingagents_brokers import PluginHost, make_plugin_manager

    def build(broker):
        pm = make_plugin_manager(load_entrypoints=False)
        pm.register(FakePlugin(broker), name="fake-plugin")
        return PluginHost(pm)

    return build


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"order_type": "stop", "stop_price": 5}, "order type 'stop'"),
        ({"time_in_force": "ioc"}, "time in force 'ioc'"),
        ({"qty": None, "notional": 50}, "notional"),
        ({"qty": "1.5"}, "fractional quantities"),
        ({"extended_hours": True, "order_type": "limit", "limit_price": 5}, "extended-hours"),
        (
            {"order_class": "oto", "take_profit": {"limit_price": 5}},
            "order class 'oto'",
        ),
    ],
)
def test_requests_outside_the_brokers_capabilities_are_refused(host_for, fields, message):
    broker = FakeBroker(capabilities=BrokerCapabilities())
    gated = make_gated(host_for(broker))
    values = {"symbol": "AAPL", "side": "buy", "qty": 1, **fields}
    with pytest.raises(InvalidOrderError, match=message):
        gated.place_order(**values)
    assert broker.place_calls == []


def test_each_order_gets_a_client_order_id_and_keeps_one_given(fake, fake_broker):
    first = fake.place_order(symbol="AAPL", side="buy", qty=1)
    second = fake.place_order(symbol="AAPL", side="buy", qty=2, client_order_id="mine-1")
    assert first.client_order_id == f"tab-{fake.journal.journal_id}-1"
    assert second.client_order_id == "mine-1"
    assert [r.client_order_id for r in fake_broker.place_calls] == [first.client_order_id, "mine-1"]


def test_live_mode_without_auto_execute_is_blocked_and_sends_nothing(fake_host, fake_broker):
    gated = make_gated(fake_host, broker_mode="live")
    with pytest.raises(OrderBlockedError, match="set 'auto_execute_trades: True'"):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    for operation in (
        lambda: gated.close_position("AAPL"),
        lambda: gated.close_all_positions(),
        lambda: gated.replace_order("x", qty=2),
    ):
        with pytest.raises(OrderBlockedError):
            operation()
    assert fake_broker.place_calls == []


def test_live_mode_needs_the_live_credentials(fake_host, fake_broker, monkeypatch):
    gated = make_gated(fake_host, broker_mode="live", auto_execute_trades=True)
    with pytest.raises(OrderBlockedError, match="FAKE_LIVE_KEY"):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []


def test_live_mode_with_everything_still_needs_an_approver(
    fake_host, fake_broker, monkeypatch, canary
):
    from tradingagents_brokers import OrderRejectedError

    monkeypatch.setenv("FAKE_LIVE_KEY", canary)
    gated = make_gated(fake_host, broker_mode="live", auto_execute_trades=True)
    with pytest.raises(OrderRejectedError, match="no approver"):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []
    relaxed = make_gated(
        fake_host, broker_mode="live", auto_execute_trades=True, require_confirmation=False
    )
    relaxed.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1


def test_cancels_pass_even_when_live_trading_is_blocked(fake_host, fake_broker):
    gated = make_gated(fake_host, broker_mode="live")
    gated.cancel_order("abc")
    assert fake_broker.cancel_calls == ["abc"]


def test_duplicate_client_order_id_resolves_to_the_existing_order(fake, fake_broker):
    from tradingagents_brokers import OrderRequest

    existing = fake_broker.place_order(
        OrderRequest(
            symbol="AAPL", side="buy", qty=1, client_order_id=f"tab-{fake.journal.journal_id}-1"
        )
    )
    fake_broker.fail_next = DuplicateClientOrderIdError("already used")
    again = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert again == existing
    assert len(fake_broker.orders) == 1
    assert fake.journal.intent(1).status == "new"


def test_a_caller_resending_its_client_order_id_gets_the_first_order(fake, fake_broker):
    first = fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="mine-7")
    again = fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="mine-7")
    assert again == first
    assert len(fake_broker.place_calls) == 1


def test_unknown_outcome_is_resolved_by_client_order_id(fake, fake_broker):
    fake_broker.fail_next = OrderOutcomeUnknownError("timed out after sending")
    fake_broker.accept_before_failing = True
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert order.client_order_id == fake_broker.place_calls[0].client_order_id
    assert len(fake_broker.orders) == 1


@pytest.mark.parametrize("lookup", [None, BrokerAPIError("lookup failed too")])
def test_unknown_outcome_is_retried_with_the_same_id_then_left_unknown(
    fake, fake_broker, fake_host, lookup
):
    events = []

    class Observer:
        from tradingagents_brokers import hookimpl

        @hookimpl
        def on_order_event(self, event):
            events.append(event.kind)

    fake_host.pm.register(Observer(), name="observer")
    fake_broker.fail_always = OrderOutcomeUnknownError("connection reset")
    fake_broker.lookup_error = lookup
    with pytest.raises(OrderOutcomeUnknownError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    retries = fake.config["submit_retries"]
    assert len(fake_broker.place_calls) == retries + 1
    assert len({r.client_order_id for r in fake_broker.place_calls}) == 1
    assert events == ["unknown"]
    assert fake.journal.intent(1).status == "unknown"
    kinds = [e["kind"] for e in fake.journal.events(intent_id=1)]
    assert kinds.count("submit_attempt") == retries  # the first is recorded with the intent


def test_broker_refusals_propagate_typed(fake, fake_broker):
    fake_broker.fail_next = InsufficientFundsError("insufficient buying power")
    with pytest.raises(InsufficientFundsError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)


def test_an_order_the_broker_refused_is_no_duplicate_of_its_retry(fake, fake_broker):
    # refused before or at sending: nothing is at the broker, so the same order again
    # (funds topped up, a filter fixed) is not held back by the duplicate window
    fake_broker.fail_next = InsufficientFundsError("insufficient buying power")
    with pytest.raises(InsufficientFundsError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.journal.intent(1).status == "rejected"
    retried = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert retried.status.is_open or retried.status.value == "filled"
    with pytest.raises(OrderRejectedError) as again:  # this one may be at the broker
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert again.value.reason_codes == ("DUPLICATE_ORDER",)


def test_outcomes_are_logged_to_the_trades_logger(fake, caplog):
    caplog.set_level(logging.INFO, logger="tradingagents.broker.trades")
    fake.place_order(symbol="AAPL", side="buy", qty=3, context=OrderContext(source="cli"))
    record = caplog.records[-1]
    assert record.name == "tradingagents.broker.trades"
    assert "accepted broker=fake mode=paper source=cli symbol=AAPL side=buy qty=3" in (
        record.getMessage()
    )


def test_preview_runs_the_gate_and_sends_nothing(fake_host, fake_broker):
    from tradingagents_brokers import Decision, hookimpl

    class Deny:
        @hookimpl
        def check_order(self):
            return Decision.deny("too_big", "ORDER_VALUE_EXCEEDS_MAX", "too big")

    gated = make_gated(fake_host, broker_mode="live")
    request = OrderRequest(symbol="AAPL", side="buy", qty=1)
    assert gated.preview(request).reasons[0].code == "MODE_BLOCKED"
    fake_host.pm.register(Deny(), name="deny")
    preview = gated.preview(request)
    assert not preview.allowed
    assert [r["code"] for r in preview.to_dict()["reasons"]] == [
        "MODE_BLOCKED",
        "ORDER_VALUE_EXCEEDS_MAX",
    ]
    assert fake_broker.place_calls == []


def test_preview_allows_a_clean_order(fake):
    preview = fake.preview(OrderRequest(symbol="AAPL", side="buy", qty=1))
    assert preview.allowed
    assert preview.reasons == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty": 1, "percentage": 50}, "not both"),
        ({"qty": 0}, "greater than zero"),
        ({"percentage": 0}, "above 0 and at most 100"),
        ({"percentage": 101}, "above 0 and at most 100"),
        ({"percentage": "half"}, "percentage must be a number"),
    ],
)
def test_close_position_validates_before_sending(fake, fake_broker, kwargs, message):
    with pytest.raises(InvalidOrderError, match=message):
        fake.close_position("AAPL", **kwargs)
    assert fake_broker.place_calls == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "pending"}, "open, closed or all"),
        ({"limit": 0}, "positive whole number"),
        ({"limit": True}, "positive whole number"),
        ({"symbols": ["\uff21\uff21\uff30\uff2c"]}, "non-ASCII"),
    ],
)
def test_get_orders_validates_its_filters(fake, kwargs, message):
    with pytest.raises(InvalidOrderError, match=message):
        fake.get_orders(**kwargs)


def test_cancel_all_cancels_each_open_order(fake, fake_broker):
    ids = {fake.place_order(symbol="AAPL", side="buy", qty=q).order_id for q in (1, 2, 3)}
    assert set(fake.cancel_all_orders()) == ids
    assert set(fake_broker.cancel_calls) == ids


def test_replace_refused_when_the_broker_cannot(host_for):
    broker = FakeBroker(capabilities=BrokerCapabilities(replace=False))
    gated = make_gated(host_for(broker))
    with pytest.raises(InvalidOrderError, match="cannot replace"):
        gated.replace_order("x", qty=1)


def test_gated_broker_closes_its_broker_and_reprs_without_secrets(fake, fake_broker):
    assert repr(fake) == "<GatedBroker 'fake' mode=paper>"
    with fake:
        pass
    assert fake_broker.closed


def test_lookups_raise_not_found(fake):
    with pytest.raises(NotFoundError):
        fake.get_order("missing")


# -- closing asks confirm_order, like an order ---------------------------------------


def _live_sim(sim_config):
    return get_broker(
        "sim", config={**sim_config, "broker_mode": "live", "auto_execute_trades": True}
    )


def _hold(gated, symbol, qty):
    request = OrderRequest(symbol=symbol, side="buy", qty=qty)
    with answered(request, Approval(True, "dana")):
        gated.submit(request)


def test_a_live_close_nobody_approved_is_refused_and_journaled(sim_config):
    with _live_sim(sim_config) as gated:
        _hold(gated, "AAPL", 4)
        with pytest.raises(OrderRejectedError) as refused:
            gated.close_position("AAPL")
        assert refused.value.reason_codes == ("CONFIRMATION_DENIED",)
        assert gated.get_position("AAPL").qty == 4
        with answered(gated.close_request("AAPL", percentage=50), Approval(True, "dana")):
            gated.close_position("AAPL", percentage=50)
        assert gated.get_position("AAPL").qty == 2
        answers = [
            (e["payload"]["approver"], e["payload"]["request"]["qty"])
            for e in gated.journal.events()
            if e["kind"] == "confirmation" and e["payload"].get("action") == "close"
        ]
        assert answers == [("default-policy", "4"), ("dana", "2")]


def test_close_all_needs_every_close_approved(sim_config):
    with _live_sim(sim_config) as gated:
        _hold(gated, "AAPL", 1)
        _hold(gated, "MSFT", 2)
        every = gated.close_all_requests()
        assert [(r.symbol, r.side.value, r.qty) for r in every] == [
            ("AAPL", "sell", 1),
            ("MSFT", "sell", 2),
        ]
        with answered(every[:1], Approval(True, "dana")), pytest.raises(OrderRejectedError):
            gated.close_all_positions()
        assert len(gated.get_positions()) == 2
        with answered(every, Approval(True, "dana")):
            results = gated.close_all_positions()
        assert [r.ok for r in results] == [True, True]


def test_a_paper_close_records_the_default_policy(sim):
    sim.place_order(symbol="AAPL", side="buy", qty=3)
    sim.close_position("AAPL", qty=1)
    (answer,) = [e["payload"] for e in sim.journal.events() if e["kind"] == "confirmation"]
    assert (answer["approver"], answer["request"]["side"], answer["request"]["qty"]) == (
        "default-policy",
        "sell",
        "1",
    )


def test_without_require_confirmation_a_close_asks_nobody(sim_config):
    with get_broker("sim", config={**sim_config, "require_confirmation": False}) as gated:
        gated.place_order(symbol="AAPL", side="buy", qty=3)
        gated.close_position("AAPL")
        assert [e for e in gated.journal.events() if e["kind"] == "confirmation"] == []


def test_a_broker_that_was_never_reached_leaves_the_order_rejected_not_unknown(fake, fake_broker):
    from tradingagents_brokers import BrokerUnavailableError

    fake_broker.fail_next = BrokerUnavailableError("no connection; nothing was sent")
    with pytest.raises(BrokerUnavailableError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1  # not sent again, not looked up as unknown
    assert fake.journal.intents()[0].status == "rejected"
    assert BrokerUnavailableError("x").outcome_known is True


def test_a_broker_without_portfolio_history_says_so_before_any_call(fake_host, fake_broker):
    import attrs

    from tradingagents_brokers import NotSupportedError

    from .fakes import FAKE_CAPABILITIES

    fake_broker._capabilities = attrs.evolve(FAKE_CAPABILITIES, portfolio_history=False)
    gated = make_gated(fake_host)
    with pytest.raises(NotSupportedError, match="keeps no history"):
        gated.get_portfolio_history("1M", "1D")
    assert NotSupportedError("x").code == "not_supported"
