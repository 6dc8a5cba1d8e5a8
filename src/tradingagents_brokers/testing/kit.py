"""The conformance kit: pytest base classes a broker plugin subclasses to prove it works.

Two levels, modelled on langchain-tests::

    from tradingagents_brokers.testing.kit import BrokerTradingTests

    class TestMyBroker(BrokerTradingTests):
        broker_name = "mybroker"

        def broker_options(self):
            return {"base_url": "http://127.0.0.1:8080"}

* :class:`BrokerConformanceTests` (offline): the broker type is discovered through
  its entry point, registers with a description and capabilities, builds a broker
  that satisfies the protocol, and refuses bad options clearly.
* :class:`BrokerTradingTests` (trading): account and position shapes, place ->
  look up by id and by client order id -> cancel, replace, close, the gate keeps
  refused orders away from the broker, unknown outcomes and duplicate client
  order ids resolve to the one order, and the ``to_dict()`` contracts. Brokers
  that declare ``order_updates`` also prove their stream: an update for every
  state change (a marketable order must fill where the tests run), and nothing
  missed once a dropped stream is back and reconciled. Brokers that declare
  ``quote_updates`` prove their quote stream: a wanted symbol is confirmed,
  heartbeats come as often as asked, and nothing arrives after ``close``.

Tests of a capability run only for brokers that declare it, and a broker that
declares a capability must pass them. A test your broker cannot pass is
overridden and marked ``@pytest.mark.xfail(reason=...)``; overriding a kit test
without that mark is an error at collection.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from .. import (
    Broker,
    BrokerConfigurationError,
    BrokerError,
    BrokerType,
    DuplicateClientOrderIdError,
    GatedBroker,
    InvalidOrderError,
    Order,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    PluginHost,
    get_broker,
    make_plugin_manager,
)
from ..enums import TimeInForce
from ..models import ACCOUNT_FIELDS, POSITION_FIELDS, Quote
from ..orders import ORDER_FIELDS
from ..streams import OrderStream, OrderUpdate

__all__ = ["BrokerConformanceTests", "BrokerTradingTests", "plugin_errors"]


@contextmanager
def plugin_errors() -> Iterator[None]:
    """Fail with advice when a broker raises anything but the core's errors."""
    try:
        yield
    except BrokerError:
        raise
    except Exception as exc:  # noqa: BLE001 - turned into a failure that says what to fix
        pytest.fail(
            f"the broker raised {type(exc).__name__}: {exc}. A plugin maps its broker's answers "
            "to the core's models - an unknown status becomes OrderStatus(value), which maps it "
            "to 'unknown' - and raises only tradingagents_brokers errors",
            pytrace=False,
        )


def _is_marked_xfail(function: Any) -> bool:
    marks = getattr(function, "pytestmark", [])
    return any(m.name == "xfail" and m.kwargs.get("reason") for m in marks)


class BrokerConformanceTests:
    """Offline level. Set ``broker_name``; override ``broker_options`` if the broker needs any."""

    broker_name: ClassVar[str] = ""
    #: The distribution that should provide the plugin (None for brokers built into the core).
    distribution: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kit_tests = {
            name
            for base in cls.__mro__[1:]
            if base.__module__ == __name__
            for name in vars(base)
            if name.startswith("test_")
        }
        for name in kit_tests & set(vars(cls)):
            if not _is_marked_xfail(vars(cls)[name]):
                raise TypeError(
                    f"{cls.__name__}.{name} overrides a conformance test; mark it "
                    "@pytest.mark.xfail(reason='why this broker cannot pass') instead of "
                    "replacing it silently"
                )

    def broker_options(self) -> dict[str, Any]:
        """``broker_options[broker_name]`` for the broker under test."""
        return {}

    def config(self, tmp_path: Any) -> dict[str, Any]:
        """The configuration the kit builds the broker from (state in a temporary directory)."""
        return {
            "trading_broker": self.broker_name,
            "state_dir": str(tmp_path),
            "duplicate_window_seconds": 0,
            "broker_options": {self.broker_name: self.broker_options()},
        }

    @pytest.fixture
    def host(self) -> PluginHost:
        return PluginHost(make_plugin_manager())

    @pytest.fixture
    def broker_type(self, host: PluginHost) -> BrokerType:
        return host.broker_types[self.broker_name]

    def test_the_plugin_is_discovered(self, host: PluginHost) -> None:
        assert self.broker_name in host.broker_types, (
            f"no broker type {self.broker_name!r}: declare an entry point in the "
            "'tradingagents_brokers' group whose module implements register_brokers"
        )
        owner = host.plugins[host.broker_owner(self.broker_name)]
        if self.distribution is not None:
            assert owner.distribution == self.distribution, (
                f"{self.broker_name!r} comes from {owner.distribution}, not {self.distribution}"
            )

    def test_the_broker_type_describes_itself(self, broker_type: BrokerType) -> None:
        assert broker_type.description.strip(), "give the BrokerType a description for people"
        assert broker_type.capabilities.order_types, "declare the order types the broker takes"
        assert broker_type.capabilities.time_in_force, "declare the time-in-force values it takes"

    def test_the_broker_satisfies_the_protocol(self, host: PluginHost, tmp_path: Any) -> None:
        from ..config import effective_config

        broker = host.build_broker(self.broker_name, effective_config(self.config(tmp_path)))
        try:
            assert isinstance(broker, Broker)
            assert broker.capabilities is not None
        finally:
            broker.close()

    def test_unknown_options_are_a_clear_configuration_error(self, tmp_path: Any) -> None:
        config = self.config(tmp_path)
        config["broker_options"][self.broker_name]["no_such_option_kit"] = 1
        with pytest.raises(BrokerConfigurationError) as raised:
            get_broker(self.broker_name, config=config).close()
        assert "no_such_option_kit" in raised.value.message, (
            "name the unknown option in the error so the user can fix it"
        )


class BrokerTradingTests(BrokerConformanceTests):
    """Trading level: real orders against the broker (a paper account, a local server)."""

    #: A symbol the broker trades; quantities are whole shares unless noted.
    symbol: ClassVar[str] = "AAPL"

    def resting_price(self, gated: GatedBroker) -> Decimal:
        """A buy limit price that rests without filling (5% under the reference price)."""
        price = gated.get_quote(self.symbol).price
        return (price * Decimal("0.95")).quantize(Decimal("0.01"))

    @pytest.fixture
    def gated(self, tmp_path: Any) -> Iterator[GatedBroker]:
        broker = get_broker(self.broker_name, config=self.config(tmp_path))
        yield broker
        broker.close()

    def _resting(self, gated: GatedBroker, **fields: Any) -> Order:
        values = {
            "symbol": self.symbol,
            "side": "buy",
            "qty": 1,
            "order_type": "limit",
            "limit_price": self.resting_price(gated),
            "time_in_force": "gtc",
            **fields,
        }
        return gated.place_order(**values)

    def test_account_has_the_contract_fields(self, gated: GatedBroker) -> None:
        data = gated.get_account().to_dict()
        assert tuple(data) == ACCOUNT_FIELDS
        assert isinstance(gated.get_account().buying_power, Decimal)

    def test_positions_have_the_contract_fields(self, gated: GatedBroker) -> None:
        for position in gated.get_positions():
            assert tuple(position.to_dict()) == POSITION_FIELDS
            assert isinstance(position.qty, Decimal), "quantities must be Decimal, not float"

    def test_place_look_up_and_cancel(self, gated: GatedBroker) -> None:
        with plugin_errors():
            self._place_look_up_and_cancel(gated)

    def _place_look_up_and_cancel(self, gated: GatedBroker) -> None:
        order = self._resting(gated)
        assert order.client_order_id == gated.journal.intent(1).client_order_id, (
            "send request.client_order_id to the broker unchanged and return it"
        )
        assert isinstance(order.qty, Decimal)
        assert gated.get_order(order.order_id).order_id == order.order_id
        assert gated.get_order_by_client_id(order.client_order_id).order_id == order.order_id
        gated.cancel_order(order.order_id)
        assert gated.get_order(order.order_id).status.value in ("canceled", "pending_cancel")

    def test_order_dicts_have_the_contract_fields(self, gated: GatedBroker) -> None:
        order = self._resting(gated)
        assert tuple(order.to_dict()) == ORDER_FIELDS
        gated.cancel_order(order.order_id)

    def test_replace(self, gated: GatedBroker) -> None:
        if not gated.capabilities.replace:
            pytest.skip("the broker declares no replace")
        order = self._resting(gated)
        new = gated.replace_order(order.order_id, qty=2)
        assert new.qty == 2
        found = gated.get_order_by_client_id(new.client_order_id)
        assert found.order_id == new.order_id, "give the replacement changes.client_order_id"
        gated.cancel_order(new.order_id)

    def test_good_till_date(self, gated: GatedBroker) -> None:
        expire = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
        if TimeInForce.GTD not in gated.capabilities.time_in_force:
            with pytest.raises(InvalidOrderError, match="'gtd'"):
                self._resting(gated, time_in_force="gtd", expire_at=expire)
            return
        order = self._resting(gated, time_in_force="gtd", expire_at=expire)
        assert (order.time_in_force, order.expire_at) == (TimeInForce.GTD, expire)
        gated.cancel_order(order.order_id)

    def test_close_a_position(self, gated: GatedBroker) -> None:
        gated.place_order(symbol=self.symbol, side="buy", qty=1)
        closing = gated.close_position(self.symbol, qty=1)
        assert closing.side.value == "sell"

    def test_notional_orders(self, gated: GatedBroker) -> None:
        if not gated.capabilities.notional:
            pytest.skip("the broker declares no notional orders")
        order = gated.place_order(symbol=self.symbol, side="buy", notional=10)
        assert order.notional == 10 or order.qty is not None

    def test_an_order_the_gate_refuses_never_reaches_the_broker(self, tmp_path: Any) -> None:
        config = {**self.config(tmp_path), "max_order_value": 1}
        with get_broker(self.broker_name, config=config) as gated:
            before = {o.order_id for o in gated.get_orders("all")}
            with pytest.raises(OrderRejectedError):
                gated.place_order(symbol=self.symbol, side="buy", qty=10)
            assert {o.order_id for o in gated.get_orders("all")} == before

    def test_an_unknown_outcome_resolves_to_the_one_order(self, gated: GatedBroker) -> None:
        real = gated.broker.place_order

        def accept_then_lose_the_answer(request: OrderRequest) -> Order:
            real(request)
            raise OrderOutcomeUnknownError("the answer was lost (kit)")

        gated.broker.place_order = accept_then_lose_the_answer  # type: ignore[method-assign]
        order = self._resting(gated)
        assert order.client_order_id == gated.journal.intent(1).client_order_id
        same = [o for o in gated.get_orders("all") if o.client_order_id == order.client_order_id]
        assert len(same) == 1, "look orders up by client order id; never place a second one"
        gated.broker.place_order = real  # type: ignore[method-assign]
        gated.cancel_order(order.order_id)

    def test_a_duplicate_client_order_id_is_refused_by_the_broker(self, gated: GatedBroker) -> None:
        request = OrderRequest(
            symbol=self.symbol,
            side="buy",
            qty=1,
            order_type="limit",
            limit_price=self.resting_price(gated),
            time_in_force="gtc",
            client_order_id=f"kit-dup-{gated.journal.journal_id}",
        )
        first = gated.broker.place_order(request)
        with pytest.raises(DuplicateClientOrderIdError):
            gated.broker.place_order(request)
        gated.cancel_order(first.order_id)

    # -- the order stream (brokers that declare order_updates) -----------------------

    #: How long to wait for an update to arrive.
    stream_timeout: ClassVar[float] = 10.0

    @pytest.fixture
    def streaming(self, gated: GatedBroker) -> GatedBroker:
        if not gated.capabilities.order_updates:
            pytest.skip("the broker declares no order_updates")
        assert gated.stream.stream is not None, (
            "the broker declares order_updates but subscribe_order_updates returned nothing"
        )
        _until(
            lambda: bool(gated.order_stream_status()["live"]),
            [gated.stream.stream],
            self.stream_timeout,
            "the order stream never went live: call on_connected once subscribed, and "
            "on_alive now and then",
        )
        return gated

    def test_order_updates_report_every_state_change(self, streaming: GatedBroker) -> None:
        recorder = _Recorder()
        stream = streaming.host.subscribe_order_updates(streaming.name, streaming.broker, recorder)
        try:
            polled = [stream, streaming.stream.stream]
            _until(lambda: recorder.connected > 0, polled, self.stream_timeout, "no on_connected")
            resting = self._resting(streaming)
            _until(
                lambda: any(
                    s not in ("canceled", "filled")
                    for s in recorder.statuses(resting.client_order_id)
                ),
                polled,
                self.stream_timeout,
                "no update for a new order (its client_order_id must be the gate's)",
            )
            streaming.cancel_order(resting.order_id)
            _until(
                lambda: "canceled" in recorder.statuses(resting.client_order_id),
                polled,
                self.stream_timeout,
                "no 'canceled' update after a cancel",
            )
            market = streaming.place_order(symbol=self.symbol, side="buy", qty=1)
            _until(
                lambda: "filled" in recorder.statuses(market.client_order_id),
                polled,
                self.stream_timeout,
                "no 'filled' update for a marketable order",
            )
            fills = [
                u for u in recorder.updates if u.order.client_order_id == market.client_order_id
            ]
            assert fills[-1].order.filled_qty == 1, "a fill's order carries its filled_qty"
        finally:
            if stream is not None:
                stream.close()

    def test_nothing_is_missed_once_a_dropped_stream_is_back(self, streaming: GatedBroker) -> None:
        streaming.stream.close()  # the connection drops; what happens now is not streamed
        first = self._resting(streaming)
        streaming.cancel_order(first.order_id)
        second = self._resting(streaming, qty=2)
        assert streaming.restart_order_stream()
        _until(
            lambda: bool(streaming.order_stream_status()["live"]),
            [streaming.stream.stream],
            self.stream_timeout,
            "the stream did not come back after a restart",
        )
        book = {o.order_id for o in streaming.get_orders("open")}
        assert second.order_id in book
        assert {o.order_id for o in streaming.cache.open_orders()} == book, (
            "after a reconnect the cache must hold the broker's open orders"
        )
        for position in streaming.get_positions():
            assert streaming.cache.position_qty(position.symbol) == position.qty
        for intent in streaming.journal.intents():
            status = streaming.get_order_by_client_id(intent.client_order_id).status.value
            assert intent.status == status, (
                f"the journal says {intent.status} for {intent.client_order_id}, the broker "
                f"{status}: reconcile on every connect"
            )
        streaming.cancel_order(second.order_id)

    # -- the quote stream (brokers that declare quote_updates) ------------------------

    def test_a_wanted_symbol_is_confirmed_and_kept_alive(self, gated: GatedBroker) -> None:
        if not gated.capabilities.quote_updates:
            pytest.skip("the broker declares no quote_updates")
        own = gated.cache.quotes.detach("the kit subscribes on its own")
        if own is not None:  # a broker may allow one connection (Alpaca does)
            own.close()
        recorder = _QuoteRecorder(heartbeat_seconds=0.2)
        stream = gated.host.subscribe_quotes(gated.name, gated.broker, recorder)
        assert stream is not None, (
            "the broker declares quote_updates but subscribe_quotes returned nothing"
        )
        try:
            stream.want(self.symbol)
            stream.want(self.symbol)  # asking twice is allowed
            _until(
                lambda: self.symbol in recorder.subscribed,
                [],
                self.stream_timeout,
                f"{self.symbol} was never confirmed: call on_subscribed with the whole set",
            )
            seen = recorder.alive
            _until(
                lambda: recorder.alive >= seen + 2,
                [],
                self.stream_timeout,
                "no heartbeats: call on_alive every listener.heartbeat_seconds",
            )
            assert all(q.symbol in recorder.subscribed for q in recorder.quotes), (
                "a quote of a symbol that is not confirmed"
            )
        finally:
            stream.close()
        calls = recorder.calls
        time.sleep(recorder.heartbeat_seconds * 3)
        assert recorder.calls == calls, "the quote stream called its listener after close()"


class _QuoteRecorder:
    """A quote listener that keeps what a broker's quote stream delivers."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.subscribed: set[str] = set()
        self.quotes: list[Quote] = []
        self.alive = 0
        self.calls = 0

    def on_subscribed(self, symbols: Collection[str]) -> None:
        self.calls += 1
        self.subscribed = set(symbols)

    def on_quote(self, quote: Quote) -> None:
        self.calls += 1
        self.quotes.append(quote)

    def on_alive(self) -> None:
        self.calls += 1
        self.alive += 1

    def on_disconnected(self, reason: str) -> None:
        self.calls += 1
        self.subscribed = set()


class _Recorder:
    """A listener that keeps what a broker's stream delivers."""

    def __init__(self) -> None:
        self.connected = 0
        self.updates: list[OrderUpdate] = []

    def on_connected(self) -> None:
        self.connected += 1

    def on_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_alive(self) -> None:
        return None

    def on_disconnected(self, reason: str) -> None:
        return None

    def statuses(self, client_order_id: str) -> list[str]:
        return [
            u.order.status.value for u in self.updates if u.order.client_order_id == client_order_id
        ]


def _until(
    condition: Callable[[], bool], streams: list[OrderStream | None], timeout: float, what: str
) -> None:
    """Poll pull-based streams and wait until ``condition`` holds, or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        for stream in streams:
            if stream is not None:
                stream.poll()
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (waited {timeout:g}s)", pytrace=False)
        time.sleep(0.01)
