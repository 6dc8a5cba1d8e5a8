"""One test (at least) per hook: what the core calls, with what, and what it does with the answer.

The meta-test in test_meta.py checks that every hook in hookspecs.py is named by a
test here (``test_hook_<name>_...``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradingagents_brokers import (
    Approval,
    Decision,
    OrderContext,
    OrderRejectedError,
    OrderRequest,
    PluginLoadError,
    hookimpl,
)
from tradingagents_brokers.orders import OrderChanges

from .conftest import make_gated


class Recorder:
    """A new-style wrapper around every operation hook, recording what passes through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def _wrap(self, name):
        result = yield
        self.calls.append((name, result))
        return result

    @hookimpl(wrapper=True)
    def place_order(self, request):
        return (yield from self._wrap("place_order"))

    @hookimpl(wrapper=True)
    def cancel_order(self, order_id):
        return (yield from self._wrap("cancel_order"))

    @hookimpl(wrapper=True)
    def replace_order(self, order_id, changes):
        return (yield from self._wrap("replace_order"))

    @hookimpl(wrapper=True)
    def get_order(self, order_id):
        return (yield from self._wrap("get_order"))

    @hookimpl(wrapper=True)
    def get_order_by_client_id(self, client_order_id):
        return (yield from self._wrap("get_order_by_client_id"))

    @hookimpl(wrapper=True)
    def get_orders(self, status):
        return (yield from self._wrap("get_orders"))

    @hookimpl(wrapper=True)
    def get_positions(self):
        return (yield from self._wrap("get_positions"))

    @hookimpl(wrapper=True)
    def get_position(self, symbol):
        return (yield from self._wrap("get_position"))

    @hookimpl(wrapper=True)
    def close_position(self, symbol):
        return (yield from self._wrap("close_position"))

    @hookimpl(wrapper=True)
    def close_all_positions(self, cancel_orders):
        return (yield from self._wrap("close_all_positions"))

    @hookimpl(wrapper=True)
    def get_account(self):
        return (yield from self._wrap("get_account"))

    @hookimpl(wrapper=True)
    def get_portfolio_history(self, period):
        return (yield from self._wrap("get_portfolio_history"))

    @hookimpl(wrapper=True)
    def get_clock(self):
        return (yield from self._wrap("get_clock"))

    @hookimpl(wrapper=True)
    def get_asset(self, symbol):
        return (yield from self._wrap("get_asset"))

    @hookimpl(wrapper=True)
    def get_quote(self, symbol):
        return (yield from self._wrap("get_quote"))

    @hookimpl(wrapper=True)
    def get_instrument(self, symbol):
        return (yield from self._wrap("get_instrument"))


@pytest.fixture
def recorder(fake_host):
    recorder = Recorder()
    fake_host.pm.register(recorder, name="recorder")
    return recorder


def _names(recorder):
    return [name for name, _ in recorder.calls]


def test_hook_register_brokers_offers_broker_types(fake_host):
    assert {"sim", "fake"} <= set(fake_host.broker_types)
    assert fake_host.broker_types["fake"].description == "in-memory test broker"


def test_hook_place_order_is_wrapped_and_delegates_to_the_broker(fake, recorder, fake_broker):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert _names(recorder)[-1] == "place_order"
    assert _names(recorder).count("place_order") == 1
    assert dict(recorder.calls)["place_order"] == order
    assert fake_broker.place_calls[0].client_order_id == order.client_order_id


def test_hook_place_order_can_be_answered_by_a_plugin_first(fake, fake_host, fake_broker):
    class DryRun:
        @hookimpl
        def place_order(self, request):
            from .fakes import FakeBroker

            return FakeBroker().place_order(request)

    fake_host.pm.register(DryRun(), name="dry-run")
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []


def test_hook_cancel_order_delegates(fake, recorder, fake_broker):
    fake.cancel_order("abc")
    assert fake_broker.cancel_calls == ["abc"]
    assert "cancel_order" in _names(recorder)


def test_hook_replace_order_delegates(fake, recorder):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    new = fake.replace_order(order.order_id, limit_price="91")
    assert new.replaces == order.order_id
    assert new.limit_price == Decimal("91")
    assert "replace_order" in _names(recorder)


def test_hook_get_order_delegates(fake, recorder):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.get_order(order.order_id) == order
    assert "get_order" in _names(recorder)


def test_hook_get_order_by_client_id_delegates(fake, recorder):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.get_order_by_client_id(order.client_order_id) == order
    assert "get_order_by_client_id" in _names(recorder)


def test_hook_get_orders_delegates(fake, recorder):
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake.get_orders()) == 1
    assert "get_orders" in _names(recorder)


def test_hook_get_positions_delegates(fake, recorder):
    assert fake.get_positions()[0].symbol == "AAPL"
    assert "get_positions" in _names(recorder)


def test_hook_get_position_normalises_the_symbol(fake, recorder):
    assert fake.get_position("msft").symbol == "MSFT"
    assert "get_position" in _names(recorder)


def test_hook_close_position_delegates(fake, recorder):
    assert fake.close_position("AAPL", qty=2).side.value == "sell"
    assert "close_position" in _names(recorder)


def test_hook_close_all_positions_reports_each_symbol(fake, recorder):
    assert fake.close_all_positions()[0].ok
    assert "close_all_positions" in _names(recorder)


def test_hook_get_account_delegates(fake, recorder):
    assert fake.get_account().account_number == "FAKE-1"
    assert fake.get_buying_power() == Decimal(50000)
    assert "get_account" in _names(recorder)


def test_hook_get_portfolio_history_delegates(fake, recorder):
    assert fake.get_portfolio_history().base_value == Decimal(100000)
    assert "get_portfolio_history" in _names(recorder)


def test_hook_get_clock_delegates(fake, recorder):
    assert fake.get_clock().is_open
    assert "get_clock" in _names(recorder)


def test_hook_get_asset_delegates(fake, recorder):
    assert fake.get_asset("AAPL").tradable
    assert "get_asset" in _names(recorder)


def test_hook_get_instrument_delegates_or_says_the_broker_has_none(fake_host, fake, recorder):
    from tradingagents_brokers import Instrument, NotSupportedError

    with pytest.raises(NotSupportedError, match="get_instrument"):
        fake_host.get_instrument("fake", fake.broker, "AAPL")
    fake.broker.get_instrument = lambda symbol: Instrument(symbol=symbol, tick_size="0.01")
    found = fake_host.get_instrument("fake", fake.broker, "AAPL")
    assert found.tick_size == Decimal("0.01")
    assert "get_instrument" in _names(recorder)


def test_hook_get_quote_delegates(fake, recorder):
    assert fake.get_quote("AAPL").price == Decimal(100)
    assert "get_quote" in _names(recorder)


def test_hook_subscribe_order_updates_delegates_to_a_streaming_broker(fake_host):
    from .fakes import BookBroker

    book = BookBroker()
    stream = fake_host.subscribe_order_updates("fake", book, listener=object())
    assert stream is book.streams[0]
    assert fake_host.subscribe_order_updates("fake", object(), listener=object()) is None


def test_hook_subscribe_quotes_delegates_to_a_streaming_broker(fake_host):
    from .fakes import BookBroker

    book = BookBroker()
    stream = fake_host.subscribe_quotes("fake", book, listener=object())
    assert stream is book.quote_streams[0]
    assert fake_host.subscribe_quotes("fake", object(), listener=object()) is None


def test_hook_subscribe_quotes_can_be_answered_by_a_plugin(fake_host):
    from tradingagents_brokers import PluginLoadError

    class Feed:
        def want(self, symbol):
            pass

        def close(self):
            pass

    class FeedPlugin:
        @hookimpl
        def subscribe_quotes(self, broker_name, listener):
            return Feed() if broker_name == "fake" else None

    fake_host.pm.register(FeedPlugin(), name="feed")
    assert isinstance(fake_host.subscribe_quotes("fake", object(), listener=object()), Feed)
    assert fake_host.subscribe_quotes("other", object(), listener=object()) is None

    class Broken:
        @hookimpl(tryfirst=True)
        def subscribe_quotes(self):
            return "not a stream"

    fake_host.pm.register(Broken(), name="broken")
    with pytest.raises(PluginLoadError, match="returned str"):
        fake_host.subscribe_quotes("fake", object(), listener=object())


def test_hook_subscribe_order_updates_can_be_answered_by_a_plugin(fake, fake_host):
    from tradingagents_brokers import PluginLoadError

    class Feed:
        def __init__(self, listener):
            self.listener = listener

        def poll(self):
            self.listener.on_alive()

        def close(self):
            pass

    class FeedPlugin:
        @hookimpl
        def subscribe_order_updates(self, broker_name, listener):
            return Feed(listener) if broker_name == "fake" else None

    fake_host.pm.register(FeedPlugin(), name="feed")
    assert fake.restart_order_stream()
    assert isinstance(fake.stream.stream, Feed)
    assert fake.order_stream_status()["subscribed"]

    class Broken:
        @hookimpl(tryfirst=True)
        def subscribe_order_updates(self):
            return "not a stream"

    fake_host.pm.register(Broken(), name="broken")
    with pytest.raises(PluginLoadError, match="returned str"):
        fake.restart_order_stream()


def test_an_operation_nobody_answers_is_an_error(fake, fake_host):
    from tradingagents_brokers import BrokerError

    class Silent:
        @hookimpl(wrapper=True)
        def get_account(self):
            yield
            return None

    fake_host.pm.register(Silent(), name="silent")
    with pytest.raises(BrokerError, match="no plugin answered 'get_account'"):
        fake.get_account()


class Check:
    """A check_order plugin whose behaviour the test chooses."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.seen: list[OrderRequest] = []

    @hookimpl
    def check_order(self, request, context):
        self.seen.append(request)
        return self.behaviour(request, context)


def test_hook_check_order_allows_and_sees_the_request_and_context(fake, fake_host, fake_broker):
    seen = {}

    def allow(request, context):
        seen["account"] = context.account().account_number
        seen["quote"] = context.quote().price
        seen["source"] = context.order.source
        return Decision.allow("looks_fine")

    fake_host.pm.register(Check(allow), name="looks-fine")
    fake.place_order(symbol="AAPL", side="buy", qty=1, context=OrderContext(source="agent"))
    assert seen == {"account": "FAKE-1", "quote": Decimal(100), "source": "agent"}
    assert len(fake_broker.place_calls) == 1


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        (lambda r, c: Decision.deny("nope", "SYMBOL_DENIED", "not this one"), "SYMBOL_DENIED"),
        (lambda r, c: None, "RISK_CHECK_NO_DECISION"),
        (lambda r, c: True, "RISK_CHECK_NO_DECISION"),
        (lambda r, c: 1 / 0, "RISK_CHECK_ERROR"),
    ],
    ids=["deny", "returns-none", "returns-true", "raises"],
)
def test_hook_check_order_fails_closed(fake, fake_host, fake_broker, behaviour, code):
    fake_host.pm.register(Check(behaviour), name="the-check")
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert raised.value.reason_codes == (code,)
    assert fake_broker.place_calls == []


def test_hook_check_order_reports_every_denial_together(fake, fake_host, fake_broker):
    fake_host.pm.register(Check(lambda r, c: Decision.deny("a", "A", "first")), name="a")
    fake_host.pm.register(Check(lambda r, c: Decision.allow("b")), name="b")
    fake_host.pm.register(Check(lambda r, c: None), name="c")
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert sorted(raised.value.reason_codes) == ["A", "RISK_CHECK_NO_DECISION"]
    assert fake_broker.place_calls == []


def test_hook_check_order_cannot_be_wrapped(fake, fake_host):
    class Wrapper:
        @hookimpl(wrapper=True)
        def check_order(self):
            return (yield)

    fake_host.pm.register(Wrapper(), name="wrapper")
    with pytest.raises(PluginLoadError, match="risk checks cannot be wrapped"):
        fake.place_order(symbol="AAPL", side="buy", qty=1)


def test_hook_confirm_order_default_policy_approves_paper(fake_host):
    request = OrderRequest(symbol="AAPL", side="buy", qty=1)
    approval = fake_host.confirm_order(request, OrderContext(), "fake", _mode("paper"))
    assert approval.approved
    refused = fake_host.confirm_order(request, OrderContext(), "fake", _mode("live"))
    assert not refused.approved
    assert "no approver" in refused.reason


def _mode(value):
    from tradingagents_brokers import TradingMode

    return TradingMode(value)


def test_hook_confirm_order_plugin_answers_first_and_can_refuse(fake, fake_host, fake_broker):
    class Desk:
        @hookimpl
        def confirm_order(self, request, context, broker_name, mode):
            return Approval(False, "desk", f"{request.symbol} needs a second look")

    fake_host.pm.register(Desk(), name="desk")
    with pytest.raises(OrderRejectedError, match="AAPL needs a second look") as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert raised.value.reason_codes == ("CONFIRMATION_DENIED",)
    assert fake_broker.place_calls == []


def test_hook_confirm_order_that_raises_refuses(fake, fake_host, fake_broker):
    class Broken:
        @hookimpl
        def confirm_order(self):
            raise RuntimeError("approver down")

    fake_host.pm.register(Broken(), name="broken")
    with pytest.raises(OrderRejectedError, match="approver failed"):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []


def test_hook_confirm_order_is_skipped_without_require_confirmation(fake_host, fake_broker):
    class Never:
        @hookimpl
        def confirm_order(self):
            return Approval(False, "never")

    fake_host.pm.register(Never(), name="never")
    gated = make_gated(fake_host, require_confirmation=False)
    gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1


def test_hook_on_order_event_sees_each_outcome_and_a_failing_observer_is_isolated(
    fake, fake_host, caplog
):
    events = []

    class Observer:
        @hookimpl
        def on_order_event(self, event):
            events.append(event)

    class Crashing:
        @hookimpl
        def on_order_event(self, event):
            raise RuntimeError("observer bug")

    fake_host.pm.register(Crashing(), name="crashing")
    fake_host.pm.register(Observer(), name="observer")
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    fake.cancel_order(order.order_id)
    fake_host.pm.register(Check(lambda r, c: Decision.deny("x", "X", "no")), name="deny")
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="buy", qty=2)
    assert [e.kind for e in events] == ["accepted", "cancel_requested", "denied"]
    assert events[0].order == order
    assert events[2].error["code"] == "order_rejected"
    assert events[0].to_dict()["request"]["symbol"] == "AAPL"
    assert "observer bug" in caplog.text


class Tool:
    def __init__(self, name):
        self.name = name


def test_hook_register_tools_collects_tools_with_valid_names(fake, fake_host):
    class Tools:
        @hookimpl
        def register_tools(self, broker_name, gateway):
            assert gateway is fake
            return [Tool(f"{broker_name}_news")]

    fake_host.pm.register(Tools(), name="tools")
    assert [t.name for t in fake_host.tools("fake", fake, fake.config)] == ["fake_news"]


@pytest.mark.parametrize("bad", ["has space", "", "x" * 65, "dots.not.allowed", None])
def test_hook_register_tools_refuses_bad_names(fake, fake_host, bad):
    class Tools:
        @hookimpl
        def register_tools(self):
            return [Tool(bad)]

    fake_host.pm.register(Tools(), name="tools")
    with pytest.raises(PluginLoadError, match="tool names must match"):
        fake_host.tools("fake", fake, fake.config)


def test_hook_register_tools_refuses_duplicates(fake, fake_host):
    for plugin_name in ("one", "two"):

        class Tools:
            @hookimpl
            def register_tools(self):
                return [Tool("same_name")]

        fake_host.pm.register(Tools(), name=plugin_name)
    with pytest.raises(PluginLoadError, match=r"offered by '(one|two)' and '(one|two)'"):
        fake_host.tools("fake", fake, fake.config)


def test_replace_changes_are_validated_before_the_hook(fake, recorder):
    from tradingagents_brokers import InvalidOrderError

    with pytest.raises(InvalidOrderError, match="unknown replace field"):
        fake.replace_order("id", colour="red")
    with pytest.raises(InvalidOrderError, match="must change something"):
        fake.replace_order("id")
    assert "replace_order" not in _names(recorder)
    assert OrderChanges(qty=1).qty == 1
