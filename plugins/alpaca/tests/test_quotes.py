"""Alpaca's market-data websocket as the quote stream, against the loopback server.

Once a symbol is followed, a gated order on it costs its own request and nothing
else; the stream's faults (a dropped or dead connection, refused keys, the
account's one connection taken, unreadable trades) leave prices to reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import pytest

from tradingagents_brokers import OrderRejectedError, get_broker
from tradingagents_brokers_alpaca.broker import build_alpaca
from tradingagents_brokers_alpaca.quotes import SLOT_RETRIES, AlpacaQuoteStream

from .conftest import CANARY_KEY, gated_config, settings, wait_until
from .fake_data import FakeMarketData


class Listener:
    """A QuoteListener that keeps what it is told."""

    def __init__(self, heartbeat_seconds: float = 0.05) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.confirmed: list[set[str]] = []
        self.quotes: list = []
        self.alive = 0
        self.dropped: list[str] = []

    def on_subscribed(self, symbols):
        self.confirmed.append(set(symbols))

    def on_quote(self, quote):
        self.quotes.append(quote)

    def on_alive(self):
        self.alive += 1

    def on_disconnected(self, reason):
        self.dropped.append(reason)

    @property
    def subscribed(self) -> set[str]:
        return self.confirmed[-1] if self.confirmed else set()


@pytest.fixture
def market():
    server = FakeMarketData()
    yield server
    server.close()


@pytest.fixture
def listener():
    return Listener()


def _stream(market, listener, limit=30):
    stream = AlpacaQuoteStream(
        CANARY_KEY, CANARY_KEY, market.url, listener, limit=limit, connect_timeout=1
    )
    stream.min_backoff = stream.max_backoff = 0.05
    return stream


@pytest.fixture
def stream(market, listener):
    stream = _stream(market, listener)
    wait_until(lambda: listener.confirmed == [set()])  # connected, nothing followed yet
    yield stream
    stream.close()


def test_a_wanted_symbol_is_confirmed_and_its_trades_arrive_exact(stream, market, listener):
    stream.want("AAPL")
    wait_until(lambda: listener.subscribed == {"AAPL"})
    at = dt.datetime(2026, 12, 3, 15, 30, 0, 123456, tzinfo=dt.UTC)
    market.trade("AAPL", "190.07", at)
    market.trade("MSFT", "400.10")  # not followed: never sent
    wait_until(lambda: listener.quotes)
    [quote] = listener.quotes
    assert (quote.symbol, quote.price, quote.as_of) == ("AAPL", Decimal("190.07"), at)
    assert quote.source == "alpaca:stream_trade"
    assert market.logins == [CANARY_KEY]
    stream.want("AAPL")  # again: nothing new is sent
    stream.want("BTC/USD")  # crypto is not on the stock feed
    stream.want("MSFT")
    wait_until(lambda: listener.subscribed == {"AAPL", "MSFT"})
    subscribes = [a.get("trades") for a in market.actions if a.get("action") == "subscribe"]
    assert subscribes == [["AAPL"], ["MSFT"]]


def test_heartbeats_arrive_every_heartbeat_seconds(stream, listener):
    wait_until(lambda: listener.alive >= 3)


def test_the_symbol_wanted_longest_ago_is_dropped_and_the_listener_hears_first(market, listener):
    stream = _stream(market, listener, limit=2)
    try:
        for symbol in ("AAPL", "MSFT"):
            stream.want(symbol)
            wait_until(lambda symbol=symbol: symbol in listener.subscribed)
        stream.want("AAPL")  # used again: MSFT is now the oldest
        stream.want("NVDA")
        wait_until(lambda: listener.subscribed == {"AAPL", "NVDA"})
        dropped_at = listener.confirmed.index({"AAPL"})  # MSFT gone before NVDA confirmed
        assert {"AAPL", "NVDA"} not in listener.confirmed[:dropped_at]
        assert market.following() == [{"AAPL", "NVDA"}]
        assert {"action": "unsubscribe", "trades": ["MSFT"]} in market.actions
    finally:
        stream.close()


def test_after_a_drop_the_stream_reconnects_and_follows_the_same_symbols(stream, market, listener):
    stream.want("AAPL")
    wait_until(lambda: listener.subscribed == {"AAPL"})
    market.drop()
    wait_until(lambda: listener.dropped)
    assert listener.subscribed == {"AAPL"} or listener.confirmed[-1] == set()
    wait_until(lambda: market.following() == [{"AAPL"}] and listener.subscribed == {"AAPL"})
    market.trade("AAPL", "191")
    wait_until(lambda: listener.quotes)


def test_an_unanswered_heartbeat_drops_the_connection(stream, market, listener):
    market.mute()
    wait_until(lambda: "a heartbeat went unanswered" in (stream.reason or ""), timeout=5)
    wait_until(lambda: listener.dropped)


def test_a_taken_connection_slot_stops_the_stream_and_says_what_to_do(market, caplog):
    market.connection_limit = 0
    listener = Listener()
    with caplog.at_level(logging.WARNING, "tradingagents.broker.alpaca"):
        stream = _stream(market, listener)
        wait_until(lambda: stream.stopped)
        stream.want("AAPL")
        stream.close()
    assert "another connection of this account" in stream.reason
    assert "(Alpaca: 406 connection limit exceeded)" in stream.reason
    assert listener.dropped[-1] == stream.reason
    assert listener.confirmed == []
    assert len(market.logins) == 1 + SLOT_RETRIES  # then the slot is left to its holder
    assert "quote stream stopped" in caplog.text


def test_a_slot_let_go_after_a_refusal_or_two_is_taken(market):
    market.connection_limit = 0  # held by this account's connection from before a restart
    listener = Listener()
    stream = _stream(market, listener)
    try:
        wait_until(lambda: len(market.logins) >= 2)
        market.connection_limit = 1  # let go
        stream.want("AAPL")
        wait_until(lambda: listener.subscribed == {"AAPL"})
        assert not stream.stopped
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("refusal", "advice"),
    [
        (True, "refused the keys"),
        (409, "set broker_options.alpaca.quote_feed to 'iex'"),
        (410, "does not take trade subscriptions"),
    ],
)
def test_refusals_no_retry_can_fix_stop_the_stream(market, refusal, advice):
    market.reject_auth = refusal
    listener = Listener()
    stream = _stream(market, listener)
    wait_until(lambda: stream.stopped)
    stream.close()
    assert advice in stream.reason
    assert CANARY_KEY not in stream.reason
    assert len(market.logins) == 1


def test_unreadable_trades_are_skipped_and_the_stream_goes_on(stream, market, listener, caplog):
    stream.want("AAPL")
    wait_until(lambda: listener.subscribed == {"AAPL"})
    with caplog.at_level(logging.WARNING, "tradingagents.broker.alpaca"):
        market.send_raw([{"T": "t", "S": "AAPL", "p": 0, "t": "2026-12-03T15:00:00Z"}])
        market.send_raw([{"T": "t", "S": "AAPL", "p": "1"}])  # no time
        market.send_raw([{"T": "error", "code": 405, "msg": "symbol limit exceeded"}])
        market.trade("AAPL", "190")
        wait_until(lambda: listener.quotes)
    assert [q.price for q in listener.quotes] == [Decimal(190)]
    assert caplog.text.count("unreadable trade") == 2
    assert "405 symbol limit exceeded" in caplog.text
    assert listener.dropped == []


def test_a_frame_that_is_not_json_reconnects(stream, market, listener):
    market.send_raw("not json")
    wait_until(lambda: listener.dropped and "JSONDecodeError" in listener.dropped[0])
    wait_until(lambda: len(market.logins) == 2)


def test_nothing_reaches_the_listener_after_close(stream, market, listener):
    stream.want("AAPL")
    wait_until(lambda: listener.subscribed == {"AAPL"})
    stream.close()
    calls = (len(listener.confirmed), len(listener.quotes), listener.alive, len(listener.dropped))
    market.trade("AAPL", "190")
    stream.want("MSFT")
    time.sleep(0.2)
    after = (len(listener.confirmed), len(listener.quotes), listener.alive, len(listener.dropped))
    assert after == calls
    assert market.following() == []


def test_the_url_comes_from_the_feed_or_the_option(fake):
    broker = build_alpaca(settings(fake.url))  # a data_url of one's own: no stream
    assert broker.quote_stream_url is None
    assert broker.subscribe_quotes(Listener()) is None
    broker = build_alpaca(settings(fake.url, data_url="https://data.alpaca.markets"))
    assert broker.quote_stream_url == "wss://stream.data.alpaca.markets/v2/iex"
    broker = build_alpaca(
        settings(fake.url, data_url="https://data.alpaca.markets", quote_feed="sip")
    )
    assert broker.quote_stream_url == "wss://stream.data.alpaca.markets/v2/sip"
    broker = build_alpaca(
        settings(fake.url, data_url="https://data.alpaca.markets", quote_stream_url="")
    )
    assert broker.quote_stream_url is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quote_feed": "otc"}, "quote_feed must be one of iex, sip, got 'otc'"),
        ({"quote_stream_symbols": 0}, "quote_stream_symbols must be above 0"),
    ],
)
def test_bad_quote_options_are_named(fake, options, message):
    from tradingagents_brokers import BrokerConfigurationError

    with pytest.raises(BrokerConfigurationError, match=message):
        build_alpaca(settings(fake.url, **options))


# -- through the gate ------------------------------------------------------------------


@pytest.fixture
def gated(fake, market, tmp_path):
    core = {"max_orders_per_second": 1000, "max_orders_per_minute": 1000}
    config = gated_config(fake, tmp_path, core, quote_stream_url=market.url)
    gated = get_broker("alpaca", config=config)
    wait_until(lambda: gated.order_stream_status()["live"])
    yield gated
    gated.close()


def _buy(gated, price="180"):
    return gated.place_order(
        symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=price
    )


def _requests(fake, mark):
    return [(method, path) for method, path, _ in fake.requests[mark:]]


def _streaming(gated, market, price):
    """AAPL followed and anchored, and a trade at ``price`` on the stream."""
    _buy(gated)  # the asset and the quote are read; AAPL is asked for
    wait_until(lambda: gated.quote_stream_status()["symbols"] == ["AAPL"])
    _buy(gated)  # its price is read once more, after the confirmation: the stream's anchor
    market.trade("AAPL", price)
    wait_until(_streamed_at(gated, Decimal(price)))


def test_a_followed_symbol_costs_one_request_per_order(gated, fake, market):
    _streaming(gated, market, "181")
    mark = len(fake.requests)
    for _ in range(5):
        _buy(gated)
    assert _requests(fake, mark) == [("POST", "/v2/orders")] * 5
    status = gated.quote_stream_status()
    assert status["current"]
    assert status["streamed"] >= 5


def _no_read(symbol):
    raise AssertionError(f"{symbol} was read")


def test_the_collar_judges_the_streamed_price(gated, fake, market):
    _streaming(gated, market, "250")
    mark = len(fake.requests)
    with pytest.raises(OrderRejectedError) as denied:
        _buy(gated)
    assert [r.code for r in denied.value.reasons] == ["PRICE_OUTSIDE_COLLAR"]
    assert _requests(fake, mark) == []


def _streamed_at(gated, price):
    def check() -> bool:
        try:
            return gated.cache.quotes.quote("AAPL", _no_read).price == price
        except AssertionError:
            return False

    return check


def test_with_the_quote_stream_gone_prices_are_read_again(gated, fake, market):
    _streaming(gated, market, "181")
    market.connection_limit = 0  # the reconnect is refused: the stream stops
    market.drop()
    wait_until(lambda: not gated.quote_stream_status()["current"])
    time.sleep(1.05)  # and the first order's read quote is past quote_cache_seconds
    mark = len(fake.requests)
    _buy(gated)
    assert _requests(fake, mark) == [
        ("GET", "/v2/stocks/AAPL/trades/latest"),
        ("POST", "/v2/orders"),
    ]


def _key_pieces() -> list[str]:
    """Every 8-character piece of the planted key past its fixed prefix."""
    return [CANARY_KEY[i : i + 8] for i in range(14, len(CANARY_KEY) - 8)]


def client_logs_hold_no_key(records) -> bool:
    texts = [r.getMessage() for r in records if not r.name.startswith("websockets.server")]
    return not any(piece in text for piece in _key_pieces() for text in texts)


def test_no_piece_of_the_keys_reaches_a_debug_log(market, caplog):
    with caplog.at_level(logging.DEBUG):
        listener = Listener()
        stream = _stream(market, listener)
        stream.want("AAPL")
        wait_until(lambda: listener.subscribed == {"AAPL"})
        stream.close()
    assert any(r.name == "websockets.server" for r in caplog.records)  # DEBUG was on
    assert client_logs_hold_no_key(caplog.records)
