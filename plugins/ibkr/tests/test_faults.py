"""Faults on the order path: drops after placeOrder, silence, rejections, partial fills, 1100.

The rule under test: once ``placeOrder`` may have reached TWS, the outcome is
unknown, never "not placed"; the order is found by its client order id and is
never sent blind a second time.
"""

from __future__ import annotations

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    NotFoundError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    get_broker,
)

from .conftest import gated_config, wait_until
from .test_orders import request


def placed_refs(fake) -> list[str]:
    return [p["orderRef"] for p in fake.book.received]


def test_a_drop_after_place_order_is_an_unknown_outcome_and_the_order_is_found(ibkr, fake):
    fake.book.faults.append("drop_after")
    with pytest.raises(OrderOutcomeUnknownError, match="connection dropped") as raised:
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    assert raised.value.details["client_order_id"] == "c-1"
    wait_until(lambda: ibkr.session.connected)  # the session reconnects by itself
    found = ibkr.get_order_by_client_id("c-1")
    assert found.status.value == "new"
    with pytest.raises(DuplicateClientOrderIdError):
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    assert placed_refs(fake) == ["c-1"], "never sent a second time"


def test_an_order_tws_never_saw_is_not_found_and_is_sent_again_under_its_first_id(ibkr, fake):
    fake.book.faults.append("drop_before")
    with pytest.raises(OrderOutcomeUnknownError):
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    wait_until(lambda: ibkr.session.connected)
    with pytest.raises(NotFoundError):
        ibkr.get_order_by_client_id("c-1")
    order = ibkr.place_order(request(order_type="limit", limit_price="180"))
    first, second = fake.book.received
    assert first["orderId"] == second["orderId"], "the same IB order id: TWS would refuse a twin"
    assert order.status.value == "new"


def test_tws_refuses_a_twin_of_an_order_it_did_receive(ibkr, fake):
    """The same order id again (103 from TWS): the order exists, whatever the plugin knew."""
    filled = ibkr.place_order(request(coid="other"))
    wait_until(lambda: ibkr.get_order(filled.order_id).status.value == "filled")
    fake.drop()  # after a reconnect ib_async keys finished orders by permId only
    wait_until(lambda: fake.connections == 2 and ibkr.session.connected)
    ibkr.desk.sent["third"] = ibkr.desk.sent["other"]  # as if "third" had gone out under it
    with pytest.raises(DuplicateClientOrderIdError, match="103"):
        ibkr.place_order(request(coid="third"))


def test_an_order_id_ib_async_holds_as_finished_is_not_sent_again(ibkr, fake):
    filled = ibkr.place_order(request(coid="other"))
    wait_until(lambda: ibkr.get_order(filled.order_id).status.value == "filled")
    ibkr.desk.sent["third"] = ibkr.desk.sent["other"]
    with pytest.raises(DuplicateClientOrderIdError, match="already used"):
        ibkr.place_order(request(coid="third"))
    assert placed_refs(fake) == ["other"]


def test_an_order_left_in_pending_submit_is_unknown_and_is_not_sent_again(ibkr, fake):
    fake.book.faults.append("silent")
    with pytest.raises(OrderOutcomeUnknownError, match="PendingSubmit"):
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    with pytest.raises(OrderOutcomeUnknownError, match="has not answered it yet"):
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    assert ibkr.get_order_by_client_id("c-1").status.value == "new", "TWS lists it"
    fake.release()
    wait_until(lambda: ibkr.desk.local(lambda t: t.order.orderRef == "c-1").order.permId)
    with pytest.raises(DuplicateClientOrderIdError):
        ibkr.place_order(request(order_type="limit", limit_price="180"))
    assert placed_refs(fake) == ["c-1"]


def test_a_rejection_is_an_order_rejected_error(ibkr, fake):
    fake.book.faults.append("reject")
    with pytest.raises(OrderRejectedError, match="201") as raised:
        ibkr.place_order(request())
    assert raised.value.reason_codes == ("IB_REJECTED",)
    assert ibkr.get_order_by_client_id("c-1").status.value == "rejected"


def test_a_margin_rejection_is_insufficient_funds(ibkr, fake):
    fake.book.faults.append("reject_margin")
    with pytest.raises(InsufficientFundsError, match="margin"):
        ibkr.place_order(request(qty=1000))


def test_a_partial_fill_leaves_the_rest_open(ibkr, fake):
    fake.book.faults.append("partial")
    placed = ibkr.place_order(request(qty=4))
    wait_until(lambda: ibkr.get_order(placed.order_id).filled_qty == 2)
    order = ibkr.get_order(placed.order_id)
    assert order.status.value == "partially_filled"
    assert order.filled_avg_price == 190.5
    assert ibkr.get_position("AAPL").qty == 2
    assert [o.order_id for o in ibkr.get_orders("open")] == [placed.order_id]


def test_nothing_is_sent_while_tws_has_lost_ib(fake):
    from tradingagents_brokers_ibkr.broker import build_ibkr

    from .conftest import settings

    ibkr = build_ibkr(settings(fake, connect_timeout=0.2))
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    wait_until(lambda: not ibkr.session.link_up)
    with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
        ibkr.place_order(request())
    assert fake.book.received == []
    fake.send_error(1102, "Connectivity between IB and TWS has been restored - data maintained.")
    wait_until(lambda: ibkr.session.link_up)
    assert ibkr.place_order(request()).client_order_id == "c-1"
    ibkr.close()


def test_an_unanswered_heartbeat_drops_the_socket_and_the_session_comes_back(ibkr, fake):
    fake.mute_pings = True
    wait_until(lambda: fake.connections >= 2)  # dropped, and connected again
    fake.mute_pings = False
    wait_until(lambda: ibkr.session.connected)
    assert ibkr.get_account().account_number == "DU1234567"


def test_the_session_keeps_trying_while_tws_is_away(ibkr, fake):
    fake.refuse = 3
    fake.drop()
    wait_until(lambda: not ibkr.session.connected)
    wait_until(lambda: ibkr.session.connected)
    assert fake.connections >= 5
    assert ibkr.get_positions() == []


def test_a_call_while_disconnected_waits_then_says_nothing_was_sent(fake, tmp_path):
    from tradingagents_brokers_ibkr.broker import build_ibkr

    from .conftest import settings

    broker = build_ibkr(settings(fake, connect_timeout=0.3, reconnect_max_seconds=5))
    try:
        fake.refuse = 1000
        fake.drop()
        wait_until(lambda: not broker.session.connected)
        with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
            broker.place_order(request())
    finally:
        broker.close()


def test_a_login_switched_to_live_stops_the_session_for_good(ibkr, fake):
    fake.book.accounts = ["U7654321"]
    fake.drop()
    wait_until(lambda: ibkr.session._fatal is not None)
    with pytest.raises(Exception, match="live account U7654321"):
        ibkr.get_account()


def test_through_the_gate_a_drop_resolves_to_the_one_order(fake, tmp_path):
    """The core's order path: unknown outcome, look-up by client order id, one order."""
    with get_broker("ibkr", config=gated_config(fake, tmp_path)) as gated:
        gated.submitter.sleep = lambda seconds: None
        wait_until(lambda: gated.order_stream_status()["live"])
        fake.book.faults.append("drop_after")
        order = gated.place_order(
            symbol="AAPL",
            side="buy",
            qty=1,
            order_type="limit",
            limit_price="180",
            time_in_force="gtc",
        )
        intent = gated.journal.intent(1)
        assert order.client_order_id == intent.client_order_id
        assert len(fake.book.received) == 1
        assert intent.status in ("new", "accepted")


def test_through_the_gate_a_silent_tws_leaves_the_order_unknown_for_reconciliation(fake, tmp_path):
    config = gated_config(fake, tmp_path, core={"submit_retries": 1}, order_timeout=0.3)
    with get_broker("ibkr", config=config) as gated:
        gated.submitter.sleep = lambda seconds: None
        wait_until(lambda: gated.order_stream_status()["live"])
        fake.book.faults.append("silent")
        order = gated.place_order(
            symbol="AAPL",
            side="buy",
            qty=1,
            order_type="limit",
            limit_price="180",
            time_in_force="gtc",
        )
        # TWS lists the order it never answered: the look-up finds it, nothing is resent.
        assert order.status.value == "new"
        assert len(fake.book.received) == 1


def test_a_refused_leg_is_logged_and_the_accepted_parent_returned(ibkr, fake, caplog):
    fake.book.faults.extend(["none", "reject"])  # the parent passes, its take-profit does not
    order = ibkr.place_order(
        request(
            order_type="limit",
            limit_price="180",
            order_class="bracket",
            take_profit={"limit_price": "200"},
            stop_loss={"stop_price": "170"},
        )
    )
    assert order.status.value == "new", "the parent is at IB: that is the truth to report"
    assert "IB refused leg c-1.tp of order c-1: 201" in caplog.text
    assert ibkr.get_order_by_client_id("c-1.tp").status.value == "rejected"


def test_a_change_tws_refuses_is_an_error_and_the_order_is_read_again(ibkr, fake):
    from tradingagents_brokers import InvalidOrderError, OrderChanges

    order = ibkr.place_order(request(order_type="limit", limit_price="180"))
    fake.book.faults.append("refuse_change")
    with pytest.raises(InvalidOrderError, match="105"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=5))
    current = ibkr.get_order(order.order_id)
    assert (current.status.value, current.qty) == ("new", 1)


def test_a_socket_that_breaks_while_writing_is_nothing_sent_or_unknown(ibkr, fake, monkeypatch):
    ib = ibkr.session.ib
    real, calls = ib.placeOrder, []

    def breaking(contract, order):
        calls.append(order.orderRef)
        if len(calls) == 1 or order.orderRef.endswith(".sl"):
            raise ConnectionError("Not connected")
        return real(contract, order)

    monkeypatch.setattr(ib, "placeOrder", breaking)
    with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
        ibkr.place_order(request(coid="a"))
    with pytest.raises(OrderOutcomeUnknownError, match="dropped between its legs"):
        ibkr.place_order(request(coid="b", order_class="oto", stop_loss={"stop_price": "1"}))


def test_calls_are_bounded_and_a_drop_during_a_call_is_an_api_error(ibkr):
    import asyncio

    import attrs

    with pytest.raises(BrokerAPIError, match=r"did not answer a slow thing within 0\.05s"):
        ibkr.session.call(lambda: asyncio.sleep(1), 0.05, what="a slow thing")

    async def dropped():
        raise ConnectionError("Socket disconnect")

    with pytest.raises(BrokerAPIError, match="dropped during the listing"):
        ibkr.session.call(dropped, 1, what="the listing")

    async def unanswered():
        return await ibkr.session.request(asyncio.sleep(5), "the question")

    ibkr.session.options = attrs.evolve(ibkr.session.options, request_timeout=0.05)
    with pytest.raises(BrokerAPIError, match=r"did not answer the question within 0\.05s"):
        ibkr.session.call(unanswered, 1, what="a request")
