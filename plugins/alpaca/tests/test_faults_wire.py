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


def test_sending_waits_the_connect_timeout_and_reading_the_read_timeout(fake):
    from tradingagents_brokers_alpaca.broker import build_alpaca

    from .conftest import settings

    broker = build_alpaca(settings(fake.url, connect_timeout=2, read_timeout=1))
    wire = broker._http._client._session
    assert (wire.timeout.connect_timeout, wire.timeout.read_timeout) == (2.0, 1.0)
    broker.get_clock()
    pool = wire.route(fake.url)
    (kept,) = [c for c in pool.pool.queue if c is not None]
    assert kept.sock.gettimeout() == 1.0  # the last exchange read with the read timeout
    broker.close()


def test_the_environments_proxies_and_ca_bundle_are_read_once_per_host(fake, monkeypatch):
    import urllib3

    from tradingagents_brokers_alpaca.broker import build_alpaca

    from .conftest import settings

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")
    broker = build_alpaca(settings(fake.url, read_retries=0, data_url="http://localhost:1"))
    wire = broker._http._client._session
    assert broker.get_clock().is_open in (True, False)  # sent directly: NO_PROXY holds
    direct = wire.route(fake.url + "/v2/clock")
    assert type(direct) is urllib3.HTTPConnectionPool
    assert wire.ca_bundle == "/etc/ssl/certs/bundle.pem"
    proxied = wire.route("http://localhost:1/v2/stocks/AAPL/trades/latest")
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy.url == "http://proxy.invalid:3128"
    assert proxied.connection_pool_kw["ca_certs"] == "/etc/ssl/certs/bundle.pem"
    monkeypatch.setenv("HTTP_PROXY", "http://changed.invalid:1")  # read once: not seen now
    assert wire.route("http://localhost:1/v2/stocks/MSFT/trades/latest") is proxied
    broker.close()
    assert repr(wire) == "<Wire to nowhere yet>"


def test_without_a_bundle_in_the_environment_certifis_is_used(alpaca, monkeypatch):
    import certifi

    from tradingagents_brokers_alpaca.wire import Wire

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert Wire(1, 1).ca_bundle == certifi.where()


def test_a_closed_port_and_a_query_are_handled_as_requests_would(fake):
    import requests

    from tradingagents_brokers_alpaca.wire import Wire

    wire = Wire(1, 1)
    with pytest.raises(requests.ConnectionError) as caught:
        wire.request("GET", "http://127.0.0.1:1/v2/clock", headers={})
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    answer = wire.request(
        "GET", fake.url + "/v2/orders", headers={}, params={"status": "open", "x": None}
    )
    assert answer.url.endswith("/v2/orders?status=open")
    assert (answer.status_code, answer.json()) == (200, [])
    missing = wire.request("GET", fake.url + "/v2/orders/nope", headers={})
    with pytest.raises(requests.HTTPError, match="404 for GET") as error:
        missing.raise_for_status()
    assert error.value.response is missing
    assert repr(missing) == "<Response [404]>"
    wire.close()


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        ("NewConnectionError", "ConnectionError"),
        ("ConnectTimeoutError", "ConnectTimeout"),
        ("ReadTimeoutError", "ReadTimeout"),
        ("ProtocolError", "ConnectionError"),
    ],
)
def test_urllib3s_failures_become_the_requests_errors_alpaca_py_expects(failure, raised):
    from urllib3 import exceptions

    from tradingagents_brokers_alpaca.wire import _as_requests_error

    made = {
        "NewConnectionError": lambda: exceptions.NewConnectionError(None, "secret detail"),
        "ConnectTimeoutError": lambda: exceptions.ConnectTimeoutError("secret detail"),
        "ReadTimeoutError": lambda: exceptions.ReadTimeoutError(None, "/v2", "secret detail"),
        "ProtocolError": lambda: exceptions.ProtocolError("secret detail"),
    }
    error = _as_requests_error(made[failure]())
    assert type(error).__name__ == raised
    assert "secret" not in str(error)


def test_a_host_behind_the_environments_proxy_is_reached_through_it(fake, monkeypatch):
    import requests

    from tradingagents_brokers_alpaca.wire import Wire

    monkeypatch.setenv("HTTP_PROXY", fake.url)  # the fake answers absolute-form requests
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    wire = Wire(1, 1)
    answer = wire.request("GET", "http://alpaca.invalid/v2/clock", headers={})
    assert answer.status_code == 200
    assert "is_open" in answer.json()
    assert fake.requests[-1][1] == "/v2/clock"
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    with pytest.raises(requests.ConnectionError):
        wire.request("GET", "http://other.invalid/v2/clock", headers={})
    wire.close()
