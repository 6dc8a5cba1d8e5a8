"""The broker's echo of an order being submitted: taken unparsed, parsed only if it matters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradingagents_brokers import BrokerAPIError, OrderOutcomeUnknownError
from tradingagents_brokers.streams import OrderUpdate

from .streaming import buy, event_kinds, warm


def _echo_while_submitting(gated, book, *, status="new", then=None, fail=None):
    """The broker echoes each order on its stream before the gate has its answer."""
    real = book.place_order
    taken, parsed = [], []

    def place_and_echo(request):
        answer = real(request)
        echoed = then(answer) if then is not None else answer

        def parse():
            parsed.append(echoed.client_order_id)
            if fail is not None:
                raise fail
            return OrderUpdate(event=status, order=echoed)

        taken.append(
            gated.stream.on_own_update(echoed.client_order_id, status, echoed.filled_qty, parse)
        )
        return answer

    book.place_order = place_and_echo
    return taken, parsed


def test_an_echo_the_answer_covers_is_never_parsed(gated, calls, book, host):
    warm(gated, calls)
    events = event_kinds(host)
    taken, parsed = _echo_while_submitting(gated, book)
    buy(gated)
    assert (taken, parsed) == ([True], [])
    kinds = [e["kind"] for e in gated.journal.events(intent_id=2)]
    assert kinds[-1] == "broker_answer"
    assert "order_update" not in kinds
    assert events == ["accepted"]


def test_an_echo_that_says_more_is_parsed_and_journaled_after_the_answer(gated, calls, book, host):
    warm(gated, calls)
    events = event_kinds(host)

    def filled_meanwhile(order):  # the answer says "new"; the echo, sent later, a fill
        book.fill(order.order_id)
        return book.orders[order.order_id]

    taken, parsed = _echo_while_submitting(gated, book, status="fill", then=filled_meanwhile)
    buy(gated, qty=2)
    assert taken == [True]
    assert len(parsed) == 1
    intent = gated.journal.intent(2)
    assert (intent.status, intent.filled_qty) == ("filled", 2)
    assert [e["kind"] for e in gated.journal.events(intent_id=2)][-1] == "order_update"
    assert events[-1] == "filled"
    assert gated.cache.position_qty("AAPL") == 2  # the fill the echo brought


def test_an_echo_resolves_an_order_whose_answer_was_lost(gated, calls, book):
    warm(gated, calls)
    gated.submitter.retries = 0
    taken, parsed = _echo_while_submitting(gated, book)
    real = book.place_order

    def lost(request):
        real(request)
        raise BrokerAPIError("the connection dropped after sending", status_code=502)

    def not_found(client_order_id):
        raise BrokerAPIError("down", status_code=503)

    book.place_order = lost
    book.get_order_by_client_id = not_found
    with pytest.raises(OrderOutcomeUnknownError):
        buy(gated)
    assert taken == [True]
    assert len(parsed) == 1
    assert gated.journal.intent(2).status == "new"  # the echo said what the answer would have


def test_an_unreadable_echo_that_matters_makes_the_cache_read_again(gated, calls, book):
    warm(gated, calls)

    def filled_meanwhile(order):
        book.fill(order.order_id)
        return book.orders[order.order_id]

    failure = BrokerAPIError("unreadable")
    _, parsed = _echo_while_submitting(
        gated, book, status="fill", then=filled_meanwhile, fail=failure
    )
    buy(gated)
    assert len(parsed) == 1
    assert "could not be read (unreadable)" in (gated.cache.dirty or "")


def test_an_echo_that_breaks_its_parser_never_fails_the_order(gated, calls, book):
    warm(gated, calls)

    def filled_meanwhile(order):
        book.fill(order.order_id)
        return book.orders[order.order_id]

    _echo_while_submitting(
        gated, book, status="fill", then=filled_meanwhile, fail=ValueError("bad timestamp")
    )
    order = buy(gated)  # placed, answered and journaled; the echo is what is lost
    assert gated.journal.intent(order.client_order_id).order_id == order.order_id
    assert "could not be read (ValueError)" in (gated.cache.dirty or "")


def test_an_echo_of_another_order_or_after_closing_is_declined(gated, calls):
    warm(gated, calls)
    parse = pytest.fail  # never called
    assert gated.stream.on_own_update("tab-someone-else-1", "new", Decimal(0), parse) is False
    gated.stream.close()
    assert gated.stream.on_own_update("tab-x-1", "new", Decimal(0), parse) is False
