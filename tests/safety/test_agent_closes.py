"""An agent's closes are held to the rate limits and the duplicate window; a person's are not."""

from __future__ import annotations

import pytest

from tradingagents_brokers import (
    GatedBroker,
    OrderContext,
    OrderRejectedError,
    PluginHost,
    get_broker,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.journal import Journal

from ..fakes import FakeBroker, FakePlugin

AGENT = OrderContext(source="agent")
MCP = OrderContext(source="mcp")
PERSON = OrderContext(source="cli")


def _gated(broker: FakeBroker, journal: Journal, **overrides) -> GatedBroker:  # type: ignore[no-untyped-def]
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    host = PluginHost(pm)
    config = effective_config(
        {"trading_broker": "fake", "require_confirmation": False, **overrides}
    )
    return GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)


def test_an_agent_closing_the_same_symbol_twice_is_refused_a_person_is_not(tmp_path):
    broker = FakeBroker()
    gated = _gated(broker, Journal(tmp_path / "journal.db"), max_orders_per_second=100)
    gated.close_position("AAPL", qty=1, context=AGENT)
    with pytest.raises(OrderRejectedError) as refused:
        gated.close_position("AAPL", qty=1, context=MCP)
    assert refused.value.reason_codes == ("DUPLICATE_ORDER",)
    assert len(broker.place_calls) == 1
    gated.close_position("MSFT", qty=1, context=AGENT)  # another symbol
    gated.close_position("AAPL", qty=1, context=PERSON)
    gated.close_position("AAPL", qty=1, context=PERSON)
    gated.close_position("AAPL", qty=1, context=OrderContext(source="agent", allow_repeat=True))
    assert len(broker.place_calls) == 5
    gated.close_all_positions(context=AGENT)
    with pytest.raises(OrderRejectedError):
        gated.close_all_positions(context=AGENT)
    kinds = [e["kind"] for e in gated.journal.events()]
    assert kinds.count("close_requested") == 6
    denied = [e for e in gated.journal.events() if e["kind"] == "denied"]
    assert [d["payload"]["reason"]["code"] for d in denied] == ["DUPLICATE_ORDER"] * 2


def test_agent_closes_count_against_the_rate_in_every_process(tmp_path):
    broker = FakeBroker()
    path = tmp_path / "journal.db"
    limits = {"max_orders_per_minute": 3, "duplicate_window_seconds": 0}
    a, b = _gated(broker, Journal(path), **limits), _gated(broker, Journal(path), **limits)
    a.place_order(symbol="AAPL", side="buy", qty=1)
    b.close_position("AAPL", qty=1, context=AGENT)
    a.close_position("MSFT", qty=1, context=PERSON)  # counts: it was sent
    with pytest.raises(OrderRejectedError) as refused:
        b.close_position("TSLA", qty=1, context=AGENT)  # the fourth within a minute
    assert refused.value.reason_codes == ("RATE_LIMIT_EXCEEDED",)
    a.close_position("TSLA", qty=1, context=PERSON)  # a person's flatten is never held back
    assert len(broker.place_calls) == 4


@pytest.mark.parametrize("stream", [False, True])
def test_closes_sent_count_against_the_next_orders_rate(sim_config, stream):
    # without it an agent doubles its orders a minute: N closes, then N orders
    limits = {"max_orders_per_minute": 3, "duplicate_window_seconds": 0, "order_stream": stream}
    with get_broker("sim", config={**sim_config, **limits}) as gated:
        gated.place_order(symbol="AAPL", side="buy", qty=5, context=AGENT)
        gated.close_position("AAPL", qty=1, context=AGENT)
        gated.close_position("AAPL", qty=1, context=PERSON)  # the third: at the limit
        assert gated.order_stream_status()["live"] is stream
        with pytest.raises(OrderRejectedError) as refused:
            gated.place_order(symbol="AAPL", side="buy", qty=2, context=AGENT)  # one over
        assert refused.value.reason_codes == ("RATE_LIMIT_EXCEEDED",)
        assert gated.get_position("AAPL").qty == 3
