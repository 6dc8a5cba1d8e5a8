"""Replace in place and good-till-date orders, as TWS receives them and through the gate.

IB changes an order in place: the same order, under the same ids, placed again
with new terms. The replacement's client order id becomes its ``orderRef``, so
the order is found, streamed and reconciled under it from then on. A change
whose answer is lost is an unknown outcome, never sent twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderChanges,
    OrderOutcomeUnknownError,
    get_broker,
)
from tradingagents_brokers.safety.audit import audit

from .conftest import gated_config, wait_until
from .test_orders import request
from .test_stream import Recorder

LATER = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)


def resting(ibkr, coid: str = "c-1", **fields):
    values = {"order_type": "limit", "limit_price": "180", "time_in_force": "gtc", **fields}
    return ibkr.place_order(request(coid, **values))


def at_fake(fake) -> list:
    return list(fake.call(lambda: list(fake.book.orders.values())))


# -- in place ---------------------------------------------------------------------------


def test_a_replace_changes_the_order_in_place_and_gives_it_the_new_client_id(ibkr, fake):
    order = resting(ibkr)
    new = ibkr.replace_order(
        order.order_id, OrderChanges(qty=3, limit_price="181.5", client_order_id="c-2")
    )
    assert new.order_id == order.order_id, "IB keeps the id: it is the same order"
    assert (new.client_order_id, new.qty, new.limit_price) == ("c-2", 3, Decimal("181.5"))
    first, again = fake.book.received
    assert again["orderId"] == first["orderId"], "placed again under its own IB order id"
    assert (again["orderRef"], again["totalQuantity"], again["lmtPrice"]) == ("c-2", "3.0", "181.5")
    (held,) = at_fake(fake)
    assert (held.order_ref, held.qty, held.lmt, held.status) == (
        "c-2",
        3,
        Decimal("181.5"),
        "Submitted",
    )
    found = ibkr.get_order_by_client_id("c-2")
    assert (found.order_id, found.qty, found.limit_price) == (order.order_id, 3, Decimal("181.5"))
    with pytest.raises(NotFoundError):
        ibkr.get_order_by_client_id("c-1")
    listed = ibkr.get_orders("open")
    assert [(o.order_id, o.client_order_id) for o in listed] == [(order.order_id, "c-2")]


def test_the_new_terms_read_back_from_tws_after_a_reconnect(ibkr, fake):
    order = resting(ibkr)
    ibkr.replace_order(order.order_id, OrderChanges(qty=2, client_order_id="c-2"))
    fake.drop()  # ib_async forgets its trades and reads TWS's open orders again
    wait_until(lambda: fake.connections == 2 and ibkr.session.connected)
    found = ibkr.get_order_by_client_id("c-2")
    assert (found.order_id, found.qty, found.time_in_force.value) == (order.order_id, 2, "gtc")


def test_a_replace_without_a_client_id_keeps_the_reference(ibkr, fake):
    order = resting(ibkr)
    new = ibkr.replace_order(order.order_id, OrderChanges(limit_price="179"))
    assert (new.client_order_id, new.limit_price) == ("c-1", Decimal(179))
    assert fake.book.received[-1]["orderRef"] == "c-1"


def test_a_client_id_another_order_holds_is_refused_before_sending(ibkr, fake):
    order = resting(ibkr)
    resting(ibkr, "c-2")
    with pytest.raises(DuplicateClientOrderIdError, match="c-2"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=2, client_order_id="c-2"))
    assert len(fake.book.received) == 2, "nothing sent"
    assert ibkr.get_order(order.order_id).client_order_id == "c-1"


def test_a_change_of_time_in_force_reads_back(ibkr):
    order = resting(ibkr)
    new = ibkr.replace_order(order.order_id, OrderChanges(time_in_force="day", client_order_id="d"))
    assert (new.client_order_id, new.time_in_force.value) == ("d", "day")
    assert ibkr.get_order(order.order_id).time_in_force.value == "day"


def test_a_trail_percent_change_reads_back(ibkr):
    order = ibkr.place_order(request(order_type="trailing_stop", trail_percent="1", side="sell"))
    new = ibkr.replace_order(order.order_id, OrderChanges(trail="2.5", client_order_id="t"))
    assert (new.client_order_id, new.trail_percent) == ("t", Decimal("2.5"))


def test_the_stream_carries_the_new_client_id_and_terms(ibkr):
    recorder = Recorder()
    stream = ibkr.subscribe_order_updates(recorder)
    try:
        order = resting(ibkr, time_in_force="gtd", expire_at=LATER)
        wait_until(lambda: recorder.statuses("c-1") == ["new"])
        ibkr.replace_order(order.order_id, OrderChanges(qty=4, client_order_id="c-2"))
        wait_until(lambda: recorder.updates("c-2"))
        update = recorder.updates("c-2")[0]
        assert (update.order.order_id, update.order.qty) == (order.order_id, 4)
        assert [u.order.qty for u in recorder.updates("c-1")] == [1], "the old id: old terms only"
        # Nothing but the reference changes: still news, under the new id.
        ibkr.replace_order(order.order_id, OrderChanges(time_in_force="gtd", client_order_id="c-3"))
        wait_until(lambda: recorder.updates("c-3"))
        # A change of time in force is in the update TWS's echo makes (ib_async drops it).
        ibkr.replace_order(order.order_id, OrderChanges(time_in_force="day", client_order_id="c-4"))
        wait_until(lambda: recorder.updates("c-4"))
        update = recorder.updates("c-4")[0]
        assert (update.order.time_in_force.value, update.order.expire_at) == ("day", None)
        assert [u.order.time_in_force.value for u in recorder.updates("c-3")] == ["gtd"]
    finally:
        stream.close()


# -- faults -----------------------------------------------------------------------------


def test_a_drop_after_the_change_is_written_is_unknown_and_found_by_the_new_id(ibkr, fake):
    order = resting(ibkr)
    fake.book.faults.append("drop_after")
    with pytest.raises(OrderOutcomeUnknownError, match="connection dropped") as raised:
        ibkr.replace_order(order.order_id, OrderChanges(qty=5, client_order_id="c-2"))
    assert raised.value.details == {"client_order_id": "c-2", "order_id": order.order_id}
    wait_until(lambda: ibkr.session.connected)
    found = ibkr.get_order_by_client_id("c-2")
    assert (found.order_id, found.qty, found.status.value) == (order.order_id, 5, "new")
    (held,) = at_fake(fake)
    assert (held.order_ref, held.qty) == ("c-2", 5)
    assert len(fake.book.received) == 2, "the change is never sent twice"


def test_a_change_tws_never_answers_is_unknown(ibkr, fake):
    order = resting(ibkr)
    fake.book.faults.append("silent")
    with pytest.raises(OrderOutcomeUnknownError, match=r"did not confirm it within 0\.5s"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=5, client_order_id="c-2"))
    fake.release()
    wait_until(lambda: ibkr.get_order_by_client_id("c-2").qty == 5)


def test_a_socket_that_breaks_before_the_change_is_written_sends_nothing(ibkr, fake, monkeypatch):
    order = resting(ibkr)

    def breaking(contract, order):
        raise ConnectionError("Not connected")

    monkeypatch.setattr(ibkr.session.ib, "placeOrder", breaking)
    with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=5, client_order_id="c-2"))
    assert ibkr.desk._amending == {}
    assert ibkr.get_order_by_client_id("c-1").qty == 1


def test_a_refused_change_keeps_the_old_reference(ibkr, fake):
    order = resting(ibkr)
    fake.book.faults.append("refuse_change")
    with pytest.raises(InvalidOrderError, match="105"):
        ibkr.replace_order(order.order_id, OrderChanges(qty=5, client_order_id="c-2"))
    current = ibkr.get_order_by_client_id("c-1")
    assert (current.order_id, current.qty, current.status.value) == (order.order_id, 1, "new")
    assert at_fake(fake)[0].order_ref == "c-1"


def test_a_change_refused_for_margin_leaves_the_live_order_as_it_was(ibkr, fake):
    """ib_async marks an order whose change TWS refuses as cancelled; it is not."""
    recorder = Recorder()
    stream = ibkr.subscribe_order_updates(recorder)
    try:
        order = resting(ibkr)
        wait_until(lambda: recorder.statuses("c-1") == ["new"])
        fake.book.faults.append("reject_margin")
        with pytest.raises(InsufficientFundsError, match="201"):
            ibkr.replace_order(order.order_id, OrderChanges(qty=500, client_order_id="c-2"))
        current = ibkr.get_order(order.order_id)
        assert (current.client_order_id, current.qty, current.status.value) == ("c-1", 1, "new")
        assert recorder.statuses("c-1") == ["new"], "never streamed as cancelled or rejected"
        assert recorder.updates("c-2") == []
    finally:
        stream.close()


def test_a_change_ib_async_will_not_track_still_waits_for_tws(ibkr, fake):
    """A refused cancel leaves ib_async holding a live order as cancelled (error 161).

    ib_async then writes the change and asserts the order is live; TWS's answer still
    comes, and is what counts.
    """
    order = resting(ibkr)
    trade = ibkr.desk.local(lambda t: t.order.orderRef == "c-1")

    def refused_cancel() -> None:
        trade.orderStatus.status = "Cancelled"
        entry = type(trade.log[-1])(trade.log[-1].time, "Cancelled", "cannot cancel", 161)
        trade.log.append(entry)

    ibkr.session.loop.call_soon_threadsafe(refused_cancel)
    wait_until(lambda: trade.orderStatus.status == "Cancelled")
    new = ibkr.replace_order(order.order_id, OrderChanges(qty=2, client_order_id="c-2"))
    assert (new.client_order_id, new.qty, new.status.value) == ("c-2", 2, "new")
    assert len(fake.book.received) == 2


# -- good till date ---------------------------------------------------------------------


def test_a_gtd_order_goes_to_tws_in_ib_s_utc_form_and_reads_back(ibkr, fake):
    order = resting(ibkr, time_in_force="gtd", expire_at=LATER)
    sent = fake.book.received[0]
    assert (sent["tif"], sent["goodTillDate"]) == ("GTD", LATER.strftime("%Y%m%d-%H:%M:%S"))
    assert (order.time_in_force.value, order.expire_at) == ("gtd", LATER)
    fake.drop()  # read back from TWS's own echo of the order
    wait_until(lambda: fake.connections == 2 and ibkr.session.connected)
    found = ibkr.get_order(order.order_id)
    assert (found.time_in_force.value, found.expire_at) == ("gtd", LATER)
    ibkr.cancel_order(order.order_id)
    fake.drop()  # and from today's completed orders
    wait_until(lambda: fake.connections == 3 and ibkr.session.connected)
    done = ibkr.get_order(order.order_id)
    assert (done.status.value, done.time_in_force.value, done.expire_at) == (
        "canceled",
        "gtd",
        LATER,
    )


def test_an_expiry_is_sent_in_utc_and_whole_seconds(ibkr, fake):
    eastern = dt.timezone(dt.timedelta(hours=-5))
    at = dt.datetime(2031, 1, 15, 15, 0, 7, 900_000, tzinfo=eastern)
    ibkr.place_order(
        request(order_type="limit", limit_price="180", time_in_force="gtd", expire_at=at)
    )
    assert fake.book.received[0]["goodTillDate"] == "20310115-20:00:07"


def test_a_gtd_order_keeps_its_expiry_through_a_change_and_loses_it_leaving_gtd(ibkr, fake):
    order = resting(ibkr, time_in_force="gtd", expire_at=LATER)
    kept = ibkr.replace_order(order.order_id, OrderChanges(qty=2, client_order_id="c-2"))
    assert (kept.time_in_force.value, kept.expire_at, kept.qty) == ("gtd", LATER, 2)
    again = ibkr.replace_order(
        order.order_id, OrderChanges(time_in_force="gtd", client_order_id="c-3")
    )
    assert again.expire_at == LATER
    assert fake.book.received[-1]["goodTillDate"] == LATER.strftime("%Y%m%d-%H:%M:%S")
    left = ibkr.replace_order(
        order.order_id, OrderChanges(time_in_force="gtc", client_order_id="c-4")
    )
    assert (left.time_in_force.value, left.expire_at) == ("gtc", None)
    assert (fake.book.received[-1]["tif"], fake.book.received[-1]["goodTillDate"]) == ("GTC", "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"extended_hours": True}, "outside regular trading hours"),
        (
            {
                "order_class": "bracket",
                "take_profit": {"limit_price": 200},
                "stop_loss": {"stop_price": 170},
            },
            "needs time in force day or gtc",
        ),
    ],
)
def test_what_ib_does_not_take_with_gtd_is_refused_before_sending(ibkr, fake, fields, message):
    with pytest.raises(InvalidOrderError, match=message):
        resting(ibkr, time_in_force="gtd", expire_at=LATER, **fields)
    assert fake.book.received == []


# -- through the gate -------------------------------------------------------------------


def limit_buy(gated, **fields):
    values = {"symbol": "AAPL", "side": "buy", "qty": 1, "order_type": "limit"}
    values |= {"limit_price": "180", "time_in_force": "gtc", **fields}
    return gated.place_order(**values)


def test_through_the_gate_a_replace_in_place_moves_the_intent_forward(gated, fake):
    order = limit_buy(gated)
    new = gated.replace_order(order.order_id, qty=2, limit_price="181")
    assert new.order_id == order.order_id
    assert new.client_order_id != order.client_order_id
    replacement, first = gated.journal.intents()
    assert (first.client_order_id, replacement.client_order_id) == (
        order.client_order_id,
        new.client_order_id,
    )
    assert first.status == "replaced"
    assert replacement.status in ("new", "accepted")
    assert first.order_id == replacement.order_id == order.order_id
    assert gated.get_order_by_client_id(new.client_order_id).order_id == order.order_id
    (held,) = at_fake(fake)
    assert (held.order_ref, held.qty, held.lmt) == (new.client_order_id, 2, Decimal(181))
    wait_until(lambda: [o.qty for o in gated.get_orders("open")] == [2])
    assert gated.journal.events()[-1]["payload"]["in_place"] is True
    report = gated.reconcile()
    assert (report.ok, report.changed) == (True, ())
    assert audit(gated.journal).ok, audit(gated.journal).problems
    # The fill lands on the replacement's intent: the old one stays replaced.
    fake.set_price("AAPL", "180.5")
    wait_until(lambda: gated.journal.intents()[0].status == "filled")
    assert gated.journal.intents()[1].status == "replaced"
    assert gated.get_position("AAPL").qty == 2


def test_through_the_gate_a_refused_replace_leaves_the_order_and_its_intent(gated, fake):
    order = limit_buy(gated)
    fake.book.faults.append("reject_margin")
    with pytest.raises(InsufficientFundsError):
        gated.replace_order(order.order_id, qty=50)
    replacement, first = gated.journal.intents()
    assert (first.status, replacement.status) == ("new", "rejected")
    assert [(o.order_id, o.qty) for o in gated.get_orders("open")] == [(order.order_id, 1)]
    assert gated.reconcile().changed == ()
    assert gated.journal.intent(first.intent_id).status == "new"


def test_through_the_gate_a_lost_answer_is_looked_up_by_the_new_id(fake, tmp_path):
    with get_broker("ibkr", config=gated_config(fake, tmp_path)) as gated:
        wait_until(lambda: gated.order_stream_status()["live"])
        order = limit_buy(gated)
        fake.book.faults.append("drop_after")
        new = gated.replace_order(order.order_id, qty=3)
        assert (new.order_id, new.qty) == (order.order_id, 3)
        replacement, first = gated.journal.intents()
        assert new.client_order_id == replacement.client_order_id
        assert replacement.status in ("new", "accepted")
        assert first.status == "replaced"
        assert len(fake.book.received) == 2, "the change went once"
        (held,) = at_fake(fake)
        assert (held.order_ref, held.qty) == (new.client_order_id, 3)


def test_through_the_gate_a_gtd_order_and_its_replace_keep_the_expiry(gated, fake):
    order = limit_buy(gated, time_in_force="gtd", expire_at=LATER)
    assert (order.time_in_force.value, order.expire_at) == ("gtd", LATER)
    new = gated.replace_order(order.order_id, qty=2)
    assert (new.time_in_force.value, new.expire_at, new.qty) == ("gtd", LATER, 2)
    assert fake.book.received[-1]["goodTillDate"] == LATER.strftime("%Y%m%d-%H:%M:%S")
