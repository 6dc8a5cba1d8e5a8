"""Alpaca's error answers, mapped by status, code and message."""

from __future__ import annotations

import json

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerAuthenticationError,
    BrokerRateLimitError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRejectedError,
)
from tradingagents_brokers_alpaca.errors import map_error, parse_body

from .fake_alpaca import fixture


def _map(status, name, **kwargs):
    return map_error(status, json.dumps(fixture(name)), **kwargs)


@pytest.mark.parametrize(
    ("status", "name", "kind", "code"),
    [
        (401, "error_401_unauthorized.json", BrokerAuthenticationError, "authentication_failed"),
        (
            403,
            "error_403_insufficient_buying_power.json",
            InsufficientFundsError,
            "insufficient_funds",
        ),
        (403, "error_403_insufficient_qty.json", InsufficientFundsError, "insufficient_funds"),
        (422, "error_422_wash_trade.json", OrderRejectedError, "order_rejected"),
        (403, "error_422_wash_trade.json", OrderRejectedError, "order_rejected"),
        (422, "error_422_sub_penny.json", InvalidOrderError, "invalid_order"),
        (
            422,
            "error_422_duplicate_client_order_id.json",
            DuplicateClientOrderIdError,
            "duplicate_client_order_id",
        ),
        (404, "error_404_order_not_found.json", NotFoundError, "not_found"),
        (404, "error_404_position_does_not_exist.json", NotFoundError, "not_found"),
        (429, "error_429_rate_limited.json", BrokerRateLimitError, "rate_limited"),
    ],
)
def test_each_documented_error_maps_to_its_class(status, name, kind, code):
    error = _map(status, name)
    assert type(error) is kind
    assert error.code == code
    assert error.details["status_code"] == status
    assert fixture(name)["message"] in error.message


def test_the_wash_trade_reason_is_named():
    error = _map(422, "error_422_wash_trade.json")
    assert error.reason_codes == ("WASH_TRADE",)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("account is not allowed to short", "SHORT_NOT_ALLOWED"),
        ("asset AAPL is not fractionable", "NOT_FRACTIONABLE"),
        ("trade denied due to pattern day trading protection", "PATTERN_DAY_TRADING"),
        ("account is restricted", "BROKER_REFUSED"),
    ],
)
def test_business_refusals_carry_the_brokers_reason(message, reason):
    error = map_error(403, json.dumps({"code": 40310000, "message": message}))
    assert isinstance(error, OrderRejectedError)
    assert error.reason_codes == (reason,)


def test_rate_limit_waits_until_the_reset_header():
    error = _map(
        429, "error_429_rate_limited.json", headers={"X-RateLimit-Reset": "1005"}, now=1000
    )
    assert error.retry_after == 5
    later = _map(429, "error_429_rate_limited.json", headers={"Retry-After": "7"}, now=1000)
    assert later.retry_after == 7
    assert (
        _map(429, "error_429_rate_limited.json", headers={"Retry-After": "soon"}).retry_after
        is None
    )


@pytest.mark.parametrize("body", ["<html><h1>502 Bad Gateway</h1></html>", "", "[1, 2]", None])
def test_bodies_that_are_not_json_objects_are_handled(body):
    error = map_error(502, body)
    assert type(error) is BrokerAPIError
    assert error.status_code == 502
    assert "HTTP 502" in error.message
    assert parse_body(body) == {}


def test_an_unauthorized_body_without_a_code_and_a_bare_forbidden():
    assert isinstance(map_error(401, '{"message": "unauthorized"}'), BrokerAuthenticationError)
    assert isinstance(map_error(403, '{"message": "forbidden"}'), BrokerAuthenticationError)


def test_other_client_errors():
    assert isinstance(map_error(400, '{"message": "bad request"}'), InvalidOrderError)
    teapot = map_error(418, '{"message": "teapot"}')
    assert type(teapot) is BrokerAPIError
    assert teapot.status_code == 418
