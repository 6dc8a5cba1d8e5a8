from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    Account,
    InvalidOrderError,
    Order,
    OrderChanges,
    OrderRequest,
    OrderStatus,
    Position,
)
from tradingagents_brokers.models import (
    ACCOUNT_FIELDS,
    POSITION_FIELDS,
    BrokerCapabilities,
    PortfolioHistory,
    Quote,
)
from tradingagents_brokers.orders import ORDER_FIELDS


def test_request_normalises_symbol_and_converts_numbers_to_decimal():
    request = OrderRequest(symbol="  aapl ", side="BUY", qty="10")
    assert request.symbol == "AAPL"
    assert request.side.value == "buy"
    assert request.qty == Decimal("10")
    assert isinstance(request.qty, Decimal)


def test_float_input_is_converted_through_its_repr_not_binary():
    request = OrderRequest(symbol="AAPL", side="buy", qty=0.1)
    assert request.qty == Decimal("0.1")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qty": -1}, "qty must be greater than zero"),
        ({"qty": 0}, "qty must be greater than zero"),
        ({"qty": "NaN"}, "qty must be a finite number"),
        ({"qty": float("nan")}, "qty must be a finite number"),
        ({"qty": float("inf")}, "qty must be a finite number"),
        ({"qty": "ten"}, "qty must be a number"),
        ({"qty": True}, "qty must be a number, got a boolean"),
        ({"qty": [1]}, "qty must be a number"),
        ({"qty": "0.0000000001"}, "more than 9 decimal places"),
        ({"qty": 1, "notional": 100}, "either qty or notional, not both"),
        ({}, "give a quantity"),
        ({"qty": 1, "order_type": "teleport"}, "order_type 'teleport' is not valid"),
        ({"qty": 1, "time_in_force": "forever"}, "time_in_force 'forever' is not valid"),
        ({"qty": 1, "order_type": "limit"}, "needs limit_price"),
        ({"qty": 1, "order_type": "stop"}, "needs stop_price"),
        ({"qty": 1, "order_type": "stop_limit", "stop_price": 1}, "needs limit_price"),
        ({"qty": 1, "limit_price": 10}, "takes no limit_price"),
        ({"qty": 1, "stop_price": 10}, "takes no stop_price"),
        ({"qty": 1, "order_type": "limit", "limit_price": "1.00000000001"}, "more than 10 decimal"),
        ({"qty": 1, "order_type": "limit", "limit_price": -5}, "limit_price must be greater"),
        ({"notional": "10.001"}, "notional 10.001 has more than 2 decimal places"),
        ({"qty": 1, "order_type": "trailing_stop"}, "exactly one of trail_price or trail_percent"),
        (
            {"qty": 1, "order_type": "trailing_stop", "trail_percent": 100},
            "trail_percent must be below 100",
        ),
        ({"qty": 1, "trail_price": 2}, "belong to trailing_stop"),
        ({"qty": 1, "take_profit": {"limit_price": 110}}, "need order_class"),
        ({"qty": 1, "order_class": "bracket", "take_profit": {"limit_price": 110}}, "needs both"),
        ({"qty": 1, "order_class": "oto"}, "exactly one of take_profit or stop_loss"),
        ({"qty": 1, "order_class": "bracket", "take_profit": 5, "stop_loss": 4}, "mapping"),
        ({"qty": 1, "extended_hours": "yes"}, "extended_hours must be true or false"),
        ({"qty": 1, "client_order_id": "has space"}, "client_order_id must be"),
        ({"qty": 1, "client_order_id": "x" * 129}, "client_order_id must be"),
    ],
)
def test_bad_requests_raise_invalid_order_error_saying_what_to_fix(fields, message):
    with pytest.raises(InvalidOrderError, match=message):
        OrderRequest(symbol="AAPL", side="buy", **fields)


@pytest.mark.parametrize(
    "symbol",
    ["", "   ", "\u0410APL", "\uff21\uff21\uff30\uff2c", "AA PL", "AAPL;DROP", 42, "A" * 30],
)
def test_bad_symbols_are_refused(symbol):
    with pytest.raises(InvalidOrderError, match="symbol"):
        OrderRequest(symbol=symbol, side="buy", qty=1)


def test_lookalike_symbol_error_names_the_foreign_character():
    with pytest.raises(InvalidOrderError, match="CYRILLIC CAPITAL LETTER A"):
        OrderRequest(symbol="\u0410APL", side="buy", qty=1)


def test_bad_side_lists_accepted_values():
    with pytest.raises(InvalidOrderError, match="use one of: buy, sell"):
        OrderRequest(symbol="AAPL", side="long", qty=1)


def test_bracket_with_both_legs_is_valid_and_serialises():
    request = OrderRequest(
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price="100.5",
        order_class="bracket",
        take_profit={"limit_price": 110},
        stop_loss={"stop_price": 95, "limit_price": "94.5"},
    )
    data = request.to_dict()
    assert data["take_profit"] == {"limit_price": "110"}
    assert data["stop_loss"] == {"stop_price": "95", "limit_price": "94.5"}
    assert data["limit_price"] == "100.5"


def test_limits_at_the_precision_boundary_are_accepted():
    request = OrderRequest(
        symbol="AAPL", side="buy", qty="0.000000001", order_type="limit", limit_price="1.0001"
    )
    assert request.qty == Decimal("0.000000001")
    assert request.limit_price == Decimal("1.0001")


def _order(**overrides):
    values = {
        "order_id": "o-1",
        "client_order_id": "c-1",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "market",
        "time_in_force": "day",
        "status": "filled",
        "qty": "10",
        "filled_qty": "10",
        "filled_avg_price": "190.5",
        "submitted_at": "2026-11-02T15:00:00.123456Z",
        "filled_at": "2026-11-02T15:00:01Z",
    }
    values.update(overrides)
    return Order(**values)


def test_order_to_dict_has_exactly_the_contract_fields():
    data = _order().to_dict()
    assert tuple(data) == ORDER_FIELDS
    assert data["qty"] == "10"
    assert data["filled_avg_price"] == "190.5"
    assert data["submitted_at"] == "2026-11-02T15:00:00.123Z"
    assert data["status"] == "filled"


def test_unknown_order_status_maps_to_unknown_and_is_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="tradingagents.broker")
    status = f"teleported_{uuid.uuid4().hex[:8]}"  # new to this process, whatever ran before
    first = _order(status=status)
    second = _order(status=status)
    assert first.status is OrderStatus.UNKNOWN
    assert second.status is OrderStatus.UNKNOWN
    assert not first.status.is_terminal
    assert caplog.text.count(status) == 1


def test_status_parsing_ignores_case():
    assert OrderStatus("FILLED") is OrderStatus.FILLED


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("filled", True),
        ("canceled", True),
        ("rejected", True),
        ("expired", True),
        ("replaced", True),
        ("new", False),
        ("partially_filled", False),
        ("unknown", False),
    ],
)
def test_terminal_statuses(status, terminal):
    assert OrderStatus(status).is_terminal is terminal
    assert OrderStatus(status).is_open is not terminal


def test_naive_timestamps_are_taken_as_utc():
    order = _order(submitted_at="2026-11-02T15:00:00")
    assert order.submitted_at == dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)


def test_broker_numbers_must_be_finite():
    with pytest.raises(ValueError, match="finite"):
        _order(filled_avg_price="Infinity")


def test_position_and_account_dicts_carry_their_contract_fields():
    position = Position(
        symbol="AAPL",
        qty="10",
        avg_entry_price="100",
        current_price="110",
        market_value="1100",
        cost_basis="1000",
        unrealized_pl="100",
        unrealized_plpc="0.1",
    )
    assert tuple(position.to_dict()) == POSITION_FIELDS
    account = Account(
        account_number="A1",
        status="ACTIVE",
        buying_power="1",
        cash="1",
        portfolio_value="1",
        equity="1",
        last_equity="1",
    )
    data = account.to_dict()
    assert tuple(data) == ACCOUNT_FIELDS
    assert data["daytrade_count"] is None
    assert data["daytrading_buying_power"] is None


def test_portfolio_history_series_must_line_up():
    with pytest.raises(ValueError, match="same length"):
        PortfolioHistory(
            timestamps=["2026-11-02T00:00:00Z"], equity=[1, 2], profit_loss=[0], profit_loss_pct=[0]
        )


def test_quote_price_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        Quote(symbol="AAPL", price=0, as_of="2026-11-02T00:00:00Z")


def test_capabilities_accept_strings_and_serialise_sorted():
    caps = BrokerCapabilities(order_types=["limit", "market"], time_in_force=["gtc"])
    assert caps.to_dict()["order_types"] == ["limit", "market"]
    with pytest.raises(ValueError, match="teleport"):
        BrokerCapabilities(order_types=["teleport"])


def test_replace_must_change_something():
    with pytest.raises(InvalidOrderError, match="must change something"):
        OrderChanges()
    with pytest.raises(InvalidOrderError, match="qty must be greater than zero"):
        OrderChanges(qty=0)
    assert OrderChanges(limit_price="10.5").to_dict()["limit_price"] == "10.5"


def test_brokers_must_not_report_floats_but_people_may_type_them():
    with pytest.raises(
        ValueError, match=r"is a float \(1.5\); a broker plugin must return Decimal"
    ):
        Position(symbol="AAPL", qty=1.5, avg_entry_price="1", cost_basis="1")
    with pytest.raises(ValueError, match="is a float"):
        _order(filled_avg_price=190.5)
    assert OrderRequest(symbol="AAPL", side="buy", qty=1.5).qty == Decimal("1.5")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("999999999999999", True),  # just under 1e15
        ("1E+15", False),
        ("1E+999999999", False),  # overflowed Decimal arithmetic before: a crash, not a refusal
        ("0.000000001", True),
        ("1e-999999", False),
        ("1" * 65, False),  # too long to parse
    ],
)
def test_numbers_out_of_range_are_refused_with_a_bounded_message(text, accepted):
    from tradingagents_brokers import InvalidOrderError, OrderRequest

    if accepted:
        assert OrderRequest(symbol="AAPL", side="buy", qty=text).qty == Decimal(text)
        return
    with pytest.raises(InvalidOrderError) as raised:
        OrderRequest(symbol="AAPL", side="buy", qty=text)
    assert "qty" in raised.value.message
    assert len(raised.value.message) < 200


def test_a_huge_symbol_is_refused_without_being_echoed_whole():
    from tradingagents_brokers import InvalidOrderError
    from tradingagents_brokers.orders import normalize_symbol

    for symbol in ("A" * 100_000, "\u0410" * 100_000):
        with pytest.raises(InvalidOrderError) as raised:
            normalize_symbol(symbol)
        assert len(raised.value.message) < 300
        assert len(str(raised.value.to_dict())) < 500


def test_closing_an_absurd_quantity_is_an_invalid_order_not_a_crash(sim):
    from tradingagents_brokers import InvalidOrderError

    sim.place_order(symbol="AAPL", side="buy", qty=1)
    with pytest.raises(InvalidOrderError, match="between 1e-15 and 1e15"):
        sim.close_position("AAPL", qty="1e999999")


def test_an_order_contexts_ids_are_bounded_and_stay_distinct():
    from tradingagents_brokers import OrderContext
    from tradingagents_brokers.decisions import MAX_ID

    exact = "c" * MAX_ID
    assert OrderContext(tool_call_id=exact).tool_call_id == exact
    one = OrderContext(tool_call_id="x" * 100_000 + "1", client="y" * 5000)
    two = OrderContext(tool_call_id="x" * 100_000 + "2")
    assert len(one.tool_call_id or "") == MAX_ID
    assert len(one.client or "") == MAX_ID
    assert one.tool_call_id != two.tool_call_id
    assert OrderContext(request_id=7).request_id == "7"
