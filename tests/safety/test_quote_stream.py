"""Reference prices from the broker's quote stream: when they are trusted, and when not."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from tradingagents_brokers.errors import OrderRejectedError
from tradingagents_brokers.models import Quote
from tradingagents_brokers.safety.quotes import QuoteBoard

from ..fakes import FakeQuoteStream, ManualClock
from .streaming import buy, decision_state, gated_on, warm

AGE = 1.0


class Reads:
    """A quote reader that counts its calls; prices from ``price``."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.symbols: list[str] = []
        self.price = Decimal(100)

    def __call__(self, symbol: str) -> Quote:
        self.symbols.append(symbol)
        return Quote(symbol=symbol, price=self.price, as_of=self.clock(), source="read")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def reads(clock: ManualClock) -> Reads:
    return Reads(clock)


@pytest.fixture
def board(clock: ManualClock) -> tuple[QuoteBoard, FakeQuoteStream]:
    board = QuoteBoard(AGE, clock)
    stream = FakeQuoteStream(broker=None, listener=board)
    board.attach(stream, "nothing confirmed yet")
    return board, stream


def _trade(clock: ManualClock, price: int | str, symbol: str = "AAPL", ago: float = 0) -> Quote:
    return Quote(symbol=symbol, price=price, as_of=clock() - dt.timedelta(seconds=ago))


def _streaming(board: QuoteBoard, reads: Reads, clock: ManualClock) -> None:
    """AAPL confirmed, then read once: from now on the stream alone keeps it current."""
    board.quote("AAPL", reads)
    board.on_subscribed({"AAPL"})
    clock.advance(AGE + 0.001)
    board.quote("AAPL", reads)
    assert len(reads.symbols) == 2


def test_a_read_quote_is_reused_for_quote_cache_seconds_and_no_longer(clock, reads):
    board = QuoteBoard(AGE, clock)
    board.quote("AAPL", reads)
    clock.advance(AGE)
    board.quote("AAPL", reads)
    assert reads.symbols == ["AAPL"]
    clock.advance(0.001)
    board.quote("AAPL", reads)
    assert reads.symbols == ["AAPL", "AAPL"]


def test_each_read_asks_the_stream_for_the_symbol(board, reads):
    board, stream = board
    board.quote("AAPL", reads)
    board.quote("MSFT", reads)
    assert stream.wanted == ["AAPL", "MSFT"]
    board.quote("AAPL", reads)  # reused: no read, no ask
    assert stream.wanted == ["AAPL", "MSFT"]


def test_a_confirmed_symbol_needs_no_read_while_the_stream_is_heard_from(board, reads, clock):
    board, _ = board
    _streaming(board, reads, clock)
    for _ in range(10):
        clock.advance(AGE)  # at the limit: heard from exactly quote_cache_seconds ago
        board.on_alive()
        clock.advance(AGE)
        assert board.quote("AAPL", reads).price == 100
    assert len(reads.symbols) == 2
    assert board.status()["streamed"] == 10


def test_a_stream_silent_one_tick_longer_than_quote_cache_seconds_is_not_trusted(
    board, reads, clock
):
    board, _ = board
    _streaming(board, reads, clock)
    clock.advance(AGE + 0.001)
    board.quote("AAPL", reads)
    assert len(reads.symbols) == 3
    assert "silent" in board.status()["reason"]


def test_the_newest_trade_is_the_price(board, reads, clock):
    board, _ = board
    _streaming(board, reads, clock)
    board.on_quote(_trade(clock, 101))
    assert board.quote("AAPL", reads).price == 101
    board.on_quote(_trade(clock, 99, ago=5))  # late: an older trade changes nothing
    assert board.quote("AAPL", reads).price == 101
    clock.advance(0.5)
    board.on_quote(_trade(clock, 102))
    assert board.quote("AAPL", reads).price == 102
    assert len(reads.symbols) == 2


def test_a_streamed_trade_older_than_quote_max_age_is_read_again(clock, reads):
    board = QuoteBoard(AGE, clock, trade_age_seconds=120)
    board.attach(FakeQuoteStream(None, board), "nothing confirmed yet")
    _streaming(board, reads, clock)  # anchored by a read of a trade made just then
    for _ in range(240):  # no trade since, heartbeats every half second
        clock.advance(0.5)
        board.on_alive()
    assert board.quote("AAPL", reads).price == 100  # exactly quote_max_age old: used
    assert len(reads.symbols) == 2
    clock.advance(0.001)
    board.on_alive()
    reads.price = Decimal(102)
    quote = board.quote("AAPL", reads)  # one tick older: the broker may know a later trade
    assert (quote.price, len(reads.symbols)) == (102, 3)
    clock.advance(0.5)
    board.on_alive()
    assert board.quote("AAPL", reads).price == 102  # the read is the newest trade now
    assert len(reads.symbols) == 3


def test_a_trade_keeps_the_stream_current_like_a_heartbeat(board, reads, clock):
    board, _ = board
    _streaming(board, reads, clock)
    clock.advance(AGE)
    board.on_quote(_trade(clock, 101, symbol="MSFT"))  # another symbol's trade, unconfirmed
    clock.advance(AGE)
    assert board.quote("AAPL", reads).price == 100
    assert board.quote("MSFT", reads).price == 100  # MSFT is not confirmed: read
    assert reads.symbols[2:] == ["MSFT"]


def test_after_the_confirmation_the_next_order_reads_once_and_the_stream_follows(
    board, reads, clock
):
    board, _ = board
    board.quote("AAPL", reads)
    clock.advance(0.1)
    board.on_subscribed({"AAPL"})  # a trade between the read and this may have been missed
    clock.advance(0.001)
    board.on_alive()
    board.quote("AAPL", reads)  # so the earlier read is not reused: this read anchors
    assert len(reads.symbols) == 2
    for _ in range(60):
        clock.advance(0.5)
        board.on_alive()
        board.quote("AAPL", reads)
    assert len(reads.symbols) == 2


def test_a_streamed_trade_does_not_stand_in_for_the_anchoring_read(board, reads, clock):
    board, _ = board
    board.quote("AAPL", reads)
    board.on_subscribed({"AAPL"})
    clock.advance(0.1)
    # Reported after the confirmation, made before it: a later trade reported earlier
    # (never delivered) would beat it.
    board.on_quote(_trade(clock, 105, ago=5))
    clock.advance(0.1)
    board.on_alive()
    assert board.quote("AAPL", reads).price == 100  # read: the anchor
    assert len(reads.symbols) == 2
    board.on_quote(_trade(clock, 106))  # anchored now: a later trade is the price
    assert board.quote("AAPL", reads).price == 106
    assert len(reads.symbols) == 2


def test_a_disconnect_forgets_everything_the_stream_said(board, reads, clock):
    board, _ = board
    _streaming(board, reads, clock)
    board.on_disconnected("reset")
    assert "reset" in board.status()["reason"]
    clock.advance(AGE + 0.001)
    board.on_alive()  # a heartbeat (of the old connection, or a new one) confirms nothing
    board.quote("AAPL", reads)
    assert len(reads.symbols) == 3
    assert board.status()["symbols"] == []


def test_a_symbol_dropped_from_the_confirmed_set_is_read_again(board, reads, clock):
    board, _ = board
    _streaming(board, reads, clock)
    board.on_subscribed({"MSFT"})
    board.on_quote(_trade(clock, 120))  # AAPL no longer followed: ignored
    clock.advance(AGE + 0.001)
    board.on_alive()
    assert board.quote("AAPL", reads).price == 100
    assert len(reads.symbols) == 3
    clock.advance(AGE + 0.001)
    board.on_subscribed({"MSFT", "AAPL"})  # again: nothing from before counts
    clock.advance(0.001)
    reads.price = Decimal(101)
    assert board.quote("AAPL", reads).price == 101
    assert len(reads.symbols) == 4
    board.on_quote(_trade(clock, 103))
    assert board.quote("AAPL", reads).price == 103


def test_a_read_that_began_before_the_confirmation_arrived_is_not_followed(board, reads, clock):
    board, _ = board

    def confirmed_meanwhile(symbol):
        clock.advance(0.01)
        board.on_subscribed({symbol})  # arrives while the read is on the wire
        return reads(symbol)

    board.quote("AAPL", confirmed_meanwhile)
    clock.advance(AGE)
    board.on_alive()
    board.quote("AAPL", reads)
    assert len(reads.symbols) == 2


def test_a_stream_that_fails_to_take_a_symbol_costs_only_the_read(board, reads):
    board, stream = board
    stream.broken = True
    assert board.quote("AAPL", reads).price == 100
    assert reads.symbols == ["AAPL"]


def test_without_a_stream_the_status_says_why(clock):
    board = QuoteBoard(AGE, clock)
    board.attach(None, "quote_stream is off")
    assert board.status() == {
        "subscribed": False,
        "current": False,
        "symbols": [],
        "reason": "quote_stream is off",
        "reads": 0,
        "streamed": 0,
    }


# -- through the gate ------------------------------------------------------------------


def _follow(gated, book, calls):
    """The quote stream confirms AAPL after a read; the next read anchors it."""
    warm(gated, calls)
    quotes = book.quote_streams[0]
    assert quotes.wanted == ["AAPL"]
    quotes.confirm()
    return quotes


def test_an_order_on_a_followed_symbol_costs_only_its_own_request(gated, book, calls, clock):
    quotes = _follow(gated, book, calls)
    clock.advance(1.001)
    quotes.alive()
    buy(gated)
    assert calls.take() == ["get_quote", "place_order"]  # read after the confirmation
    for _ in range(5):
        clock.advance(5)
        quotes.alive()
        buy(gated)
        assert calls.take() == ["place_order"]
    assert gated.quote_stream_status()["symbols"] == ["AAPL"]


def test_the_checks_judge_the_streamed_price(gated, book, calls, clock):
    quotes = _follow(gated, book, calls)
    clock.advance(0.001)
    buy(gated)  # the read that anchors the stream
    assert calls.take() == ["get_quote", "place_order"]
    quotes.trade("AAPL", 120)  # the limit of 99 is now 17.5% away
    with pytest.raises(OrderRejectedError) as denied:
        buy(gated)
    assert [r.code for r in denied.value.reasons] == ["PRICE_OUTSIDE_COLLAR"]
    assert "reference price 120" in denied.value.message
    assert calls.take() == []
    state = decision_state(gated, 3)
    assert state["source"] == "stream"
    assert [(q["price"], q["source"]) for q in state["quotes"]] == [("120", "stream")]


def test_a_silent_quote_stream_sends_the_gate_back_to_reading(gated, book, calls, clock):
    quotes = _follow(gated, book, calls)
    quotes.trade("AAPL", 100)
    clock.advance(1.001)  # no heartbeat from the quote stream
    buy(gated)
    assert calls.take() == ["get_quote", "place_order"]


def test_a_price_an_agent_looks_at_is_the_one_the_order_is_judged_by(gated, book, calls, clock):
    quotes = _follow(gated, book, calls)
    clock.advance(0.001)
    looked = gated.get_quote("aapl")  # read (the anchor), as the checks would
    buy(gated)
    assert calls.take() == ["get_quote", "place_order"]  # one read for the look and the order
    quotes.trade("AAPL", 101)
    assert gated.get_quote("AAPL").price == 101  # streamed: no read
    assert looked.price == 100
    assert calls.take() == []


def test_without_a_live_order_stream_a_price_is_read_every_time(host, book, clock, tmp_path, calls):
    with gated_on(host, book, clock, tmp_path, order_stream=False) as gated:
        gated.get_quote("AAPL")
        gated.get_quote("AAPL")
        assert calls.take() == ["get_quote", "get_quote"]


def test_quote_stream_off_subscribes_nothing(host, book, clock, tmp_path, calls):
    with gated_on(host, book, clock, tmp_path, quote_stream=False) as gated:
        warm(gated, calls)
        assert book.quote_streams == []
        assert gated.quote_stream_status()["reason"].startswith("quote_stream is off")


def test_closing_the_gated_broker_closes_its_quote_stream(host, book, clock, tmp_path):
    gated = gated_on(host, book, clock, tmp_path)
    quotes = book.quote_streams[0]
    gated.close()
    assert quotes.closed
    assert gated.quote_stream_status()["subscribed"] is False


def test_a_quote_stream_that_cannot_start_leaves_prices_to_reads(
    host, book, clock, tmp_path, calls, caplog
):
    def broken(listener):
        raise RuntimeError("no socket today")

    book.subscribe_quotes = broken
    with gated_on(host, book, clock, tmp_path) as gated:
        warm(gated, calls)
        buy(gated)
        assert calls.take() == ["place_order"]  # the read quote, reused
        clock.advance(1.001)
        buy(gated)
        assert calls.take() == ["get_quote", "place_order"]
        status = gated.quote_stream_status()
    assert status["reason"] == "the quote stream could not start (RuntimeError)"
    assert "quote stream could not start" in caplog.text


# -- a random history against a model of the market and the stream ------------------------


class _Market:
    """The tape (every trade, by symbol) and a stream that delivers the followed ones."""

    def __init__(self, board: QuoteBoard, clock: ManualClock) -> None:
        self.board, self.clock = board, clock
        self.tape: dict[str, list[Quote]] = {s: [] for s in "AB"}
        self.followed: set[str] = set()  # what the broker sends, this connection
        self.confirmed: set[str] = set()  # what it has told the board
        self.connected = True
        self.muted = False  # a dead link: nothing arrives, and nobody says so
        self.late: list[Quote] = []  # trades on their way
        self.racing = False  # the next read races a confirmation

    def trade(self, symbol: str, price: int, *, late: bool = False) -> None:
        quote = Quote(symbol=symbol, price=price, as_of=self.clock(), source="tape")
        self.tape[symbol].append(quote)
        if self.connected and not self.muted and symbol in self.followed:
            if late:
                self.late.append(quote)
            else:
                self.board.on_quote(quote)

    def arrive(self) -> None:
        """The trades on their way arrive (after others, and after reads)."""
        if self.connected and not self.muted:
            for quote in self.late:
                if quote.symbol in self.followed:
                    self.board.on_quote(quote)
        self.late = []

    def latest(self, symbol: str, before: dt.datetime | None = None) -> Quote | None:
        """The last trade so far, or the last one strictly before ``before``."""
        done = [q for q in self.tape[symbol] if before is None or q.as_of < before]
        return done[-1] if done else None

    def read(self, symbol: str) -> Quote:
        latest = self.latest(symbol)
        answer = latest or Quote(symbol=symbol, price=1, as_of=self.clock() - dt.timedelta(days=1))
        if self.racing and self.connected and not self.muted and symbol not in self.followed:
            # While the answer travels: a trade it does not show, then the stream starts
            # following the symbol and confirms it - too late to deliver that trade.
            self.trade(symbol, 120)
            self.followed.add(symbol)
            self.confirmed = set(self.followed)
            self.board.on_subscribed(self.confirmed)
        return answer


#: What happens, and how often: mostly a working stream, now and then a fault.
_ACTIONS = [
    ("trade", 4),
    ("late", 1),
    ("arrive", 1),
    ("tick", 3),
    ("alive", 4),
    ("follow", 1),
    ("confirm", 2),
    ("drop", 0.5),
    ("disconnect", 0.3),
    ("reconnect", 1),
    ("mute", 0.2),
    ("order", 4),
]
_NAMES = [name for name, _ in _ACTIONS]
_WEIGHTS = [weight for _, weight in _ACTIONS]


def _history(seed: int, steps: int = 1500) -> None:
    """A random history of the market, the stream and orders; checks every order's price."""
    rng = random.Random(seed)
    clock = ManualClock()
    board = QuoteBoard(AGE, clock)
    market = _Market(board, clock)
    board.attach(FakeQuoteStream(None, board), "nothing confirmed yet")
    for step in range(steps):
        action = rng.choices(_NAMES, _WEIGHTS)[0]
        symbol = "A" if rng.random() < 0.8 else "B"
        live = market.connected and not market.muted
        if action in ("trade", "late"):
            market.trade(symbol, rng.randint(90, 110), late=action == "late")
        elif action == "arrive":
            market.arrive()
        elif action == "mute":
            market.muted = True
        elif action == "tick":
            clock.advance(rng.choice([0.001, 0.2, 0.5, 0.999, 1.0, 1.001, 3]))
        elif action == "alive" and live:
            market.arrive()  # an answered ping: everything sent before it has arrived
            board.on_alive()
        elif action == "follow" and live:
            market.followed.add(symbol)  # the broker has it; the confirmation comes later
        elif action == "confirm" and live:
            market.confirmed = set(market.followed)
            board.on_subscribed(market.confirmed)
        elif action == "drop" and live:
            market.confirmed.discard(symbol)
            board.on_subscribed(market.confirmed)  # the board hears first ...
            market.followed.discard(symbol)  # ... then the broker stops sending
        elif action == "disconnect" and market.connected:
            market.connected, market.muted, market.late = False, False, []
            market.followed, market.confirmed = set(), set()
            board.on_disconnected("gone")
        elif action == "reconnect" and not market.connected:
            market.connected = True
        elif action == "order":
            market.racing = rng.random() < 0.2
            quote = board.quote(symbol, market.read)
            # Never older than the market was quote_cache_seconds ago (a trade at that very
            # instant may have come just after a read made then).
            truth = market.latest(symbol, before=clock() - board.max_age)
            if truth is not None:
                assert quote.as_of >= truth.as_of, (seed, step, quote, truth)


@pytest.mark.parametrize("seed", range(100))
def test_a_quote_is_never_older_than_the_market_quote_cache_seconds_ago(seed):
    _history(seed)
