from __future__ import annotations

import json

import pytest

import tradingagents_brokers as tab
from tradingagents_brokers.errors import Reason


def test_hierarchy_follows_the_design():
    assert issubclass(tab.BrokerAPIError, tab.BrokerError)
    assert issubclass(tab.BrokerRateLimitError, tab.BrokerAPIError)
    assert issubclass(tab.BrokerAuthenticationError, tab.BrokerAPIError)
    for kind in (
        tab.InsufficientFundsError,
        tab.InvalidOrderError,
        tab.OrderRejectedError,
        tab.BrokerConfigurationError,
        tab.OrderOutcomeUnknownError,
    ):
        assert issubclass(kind, tab.BrokerError)
        assert not issubclass(kind, tab.BrokerAPIError)


def test_codes_are_stable_and_distinct():
    kinds = [getattr(tab, name) for name in tab.__all__ if name.endswith("Error")]
    codes = [kind.code for kind in kinds]
    assert len(codes) == len(set(codes))
    assert tab.InsufficientFundsError.code == "insufficient_funds"
    assert tab.InvalidOrderError.code == "invalid_order"
    assert tab.OrderRejectedError.code == "order_rejected"
    assert tab.OrderOutcomeUnknownError.code == "outcome_unknown"


def test_outcome_unknown_is_not_retryable_and_not_known():
    assert tab.OrderOutcomeUnknownError.outcome_known is False
    assert tab.OrderOutcomeUnknownError.retryable is False
    assert tab.BrokerRateLimitError.retryable is True
    assert tab.InvalidOrderError.retryable is False
    assert tab.InvalidOrderError.outcome_known is True


def test_error_dict_has_the_contract_fields_and_is_json_safe():
    error = tab.BrokerRateLimitError("slow down", retry_after=2.5, details={"x": {1, 2}})
    data = error.to_dict()
    assert list(data) == ["error", "message", "code", "details"]
    assert data["error"] == "BrokerRateLimitError"
    assert data["code"] == "rate_limited"
    assert data["details"]["retry_after"] == 2.5
    assert data["details"]["status_code"] == 429
    json.dumps(data)


def test_rejection_carries_every_reason():
    reasons = [Reason("A", "first", "c1"), Reason("B", "second", "c2")]
    error = tab.OrderRejectedError("refused", reasons=reasons)
    assert error.reason_codes == ("A", "B")
    assert error.to_dict()["details"]["reasons"][1] == {
        "code": "B",
        "message": "second",
        "check": "c2",
    }
    assert Reason("A", "first", "c1") == reasons[0]
    assert hash(Reason("A", "first", "c1")) == hash(reasons[0])


def test_blocked_error_dict_has_blocked_status():
    assert tab.OrderBlockedError("no").to_dict()["status"] == "blocked"


def test_repr_shows_code_and_message():
    assert repr(tab.InvalidOrderError("bad qty")) == (
        "InvalidOrderError(code='invalid_order', message='bad qty')"
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_detail_floats_become_strings(value):
    data = tab.BrokerError("x", details={"v": value}).to_dict()
    assert isinstance(data["details"]["v"], str)
    json.dumps(data, allow_nan=False)
