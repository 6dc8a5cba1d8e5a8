"""alpaca-py driven through faults by the loopback server, behind the whole gate.

For each fault exactly one order exists on the server for the intent, every
call returns within the read timeout plus one second, and every outcome is typed.
"""

from __future__ import annotations

import time

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerRateLimitError,
    OrderOutcomeUnknownError,
)

READ_TIMEOUT = 1.0


def _place(gated, qty=1):
    start = time.monotonic()
    try:
        outcome = gated.place_order(
            symbol="AAPL", side="buy", qty=qty, order_type="limit", limit_price="190"
        )
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - start


@pytest.mark.parametrize("fault", ["504_after_accept", "reset_after_accept", "hang"])
def test_a_fault_after_accepting_resolves_to_the_one_order(gated, fake, fault):
    fake.faults.append(fault)
    outcome, elapsed = _place(gated)
    intent = gated.journal.intent(1)
    assert not isinstance(outcome, Exception), outcome
    assert outcome.client_order_id == intent.client_order_id
    assert fake.posts(intent.client_order_id) == 1
    assert len(fake.orders) == 1
    assert intent.status == "accepted"
    assert elapsed < READ_TIMEOUT + 1 + (1 if fault == "hang" else 0)


def test_a_rate_limited_post_is_retried_with_the_same_id(gated, fake):
    fake.faults.append("429")
    outcome, _ = _place(gated)
    intent = gated.journal.intent(1)
    assert outcome.client_order_id == intent.client_order_id
    assert fake.posts(intent.client_order_id) == 2
    assert len(fake.orders) == 1


def test_an_html_error_page_is_typed_and_the_order_is_placed_once(gated, fake):
    fake.faults.extend(["html_502"] * 5)
    outcome, elapsed = _place(gated)
    assert isinstance(outcome, OrderOutcomeUnknownError)
    intent = gated.journal.intent(1)
    assert intent.status == "unknown"
    assert fake.posts(intent.client_order_id) == 3  # the gate's attempts, one id
    assert fake.orders == {}
    assert elapsed < 3 * (READ_TIMEOUT + 1)
    report = gated.reconcile()
    assert report.changed[0]["to"] == "not_placed"


def test_the_plugin_never_retries_an_order_post_by_itself(alpaca, fake):
    from tradingagents_brokers import OrderRequest

    fake.faults.append("504_after_accept")
    request = OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="solo")
    with pytest.raises(BrokerAPIError) as raised:
        alpaca.place_order(request)
    assert raised.value.status_code == 504
    assert fake.posts("solo") == 1
    fake.faults.append("429")
    with pytest.raises(BrokerRateLimitError) as limited:
        alpaca.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="solo-2"))
    assert 0 <= limited.value.retry_after <= 2
    assert fake.posts("solo-2") == 1


def test_a_hanging_read_times_out_and_is_retried(alpaca, fake):
    from tradingagents_brokers_alpaca import transport

    calls = []
    real = alpaca._http._client._request

    def slow_then_fine(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            import requests

            raise requests.ReadTimeout("read timed out")
        return real(*args, **kwargs)

    alpaca._http._client._request = slow_then_fine
    assert alpaca.get_account().account_number
    assert len(calls) == 2
    alpaca._http._client._request = lambda *a, **k: (_ for _ in ()).throw(
        __import__("requests").ConnectionError("reset")
    )
    with pytest.raises(BrokerAPIError, match="did not answer GET /account"):
        alpaca.get_account()
    assert transport.Transport.__doc__


def test_every_request_carries_the_timeout(alpaca, fake):
    seen = []
    session = alpaca._http._client._session
    original = session.send

    def spy(request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(request, **kwargs)

    session.send = spy
    alpaca.get_clock()
    alpaca.get_account()
    assert seen == [(1.0, 1.0), (1.0, 1.0)]


def test_the_environments_proxies_and_ca_bundle_are_read_once_per_host(fake, monkeypatch):
    import requests

    from tradingagents_brokers import BrokerAPIError
    from tradingagents_brokers_alpaca.broker import build_alpaca

    from .conftest import settings

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")
    broker = build_alpaca(settings(fake.url, read_retries=0, data_url="http://localhost:1"))
    session = broker._http._client._session
    seen = []

    def spy(request, **kwargs):
        seen.append((request.url.split("/")[2], kwargs["proxies"], kwargs["verify"]))
        raise requests.ConnectionError("not sent in this test")

    session.send = spy
    for call in (broker.get_clock, broker.get_clock, lambda: broker.get_quote("AAPL")):
        with pytest.raises(BrokerAPIError):
            call()
    loopback = fake.url.split("/")[2]
    assert seen[0] == (loopback, {}, "/etc/ssl/certs/bundle.pem")  # NO_PROXY holds
    assert seen[1] == seen[0]
    assert seen[2][1].get("http") == "http://proxy.invalid:3128"
    monkeypatch.setenv("HTTP_PROXY", "http://changed.invalid:1")  # read once: not seen now
    with pytest.raises(BrokerAPIError):
        broker.get_quote("AAPL")
    assert seen[3][1].get("http") == "http://proxy.invalid:3128"
    assert session.trust_env is False
    broker.close()
