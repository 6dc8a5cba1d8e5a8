"""Good-till-date orders: a capability; refused before any call where a broker lacks it."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from tradingagents_brokers import InvalidOrderError, OrderRequest, PluginHost, make_plugin_manager
from tradingagents_brokers.enums import TimeInForce
from tradingagents_brokers.orders import Order, OrderChanges
from tradingagents_brokers.safety.validation import check_capabilities, replacement_request

from .conftest import make_gated
from .fakes import FAKE_CAPABILITIES, FakeBroker, FakePlugin

SOON = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)


def _gtd(**fields: object) -> OrderRequest:
    values = {"symbol": "AAPL", "side": "buy", "qty": 1, "order_type": "limit"}
    values |= {"limit_price": 99, "time_in_force": "gtd", "expire_at": SOON}
    return OrderRequest(**(values | fields))  # type: ignore[arg-type]


def test_a_gtd_request_needs_expire_at_and_only_gtd_takes_it():
    with pytest.raises(InvalidOrderError, match="a gtd order needs expire_at"):
        _gtd(expire_at=None)
    with pytest.raises(InvalidOrderError, match="only a gtd order takes it"):
        _gtd(time_in_force="gtc")
    assert _gtd().expire_at == SOON


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2030-01-15T20:00:00Z", dt.datetime(2030, 1, 15, 20, tzinfo=dt.UTC)),
        ("2030-01-15T15:00:00-05:00", dt.datetime(2030, 1, 15, 20, tzinfo=dt.UTC)),
        ("2030-01-15T20:00:00", dt.datetime(2030, 1, 15, 20, tzinfo=dt.UTC)),  # naive: UTC
    ],
)
def test_expire_at_is_read_as_utc(given, expected):
    assert _gtd(expire_at=given).expire_at == expected


@pytest.mark.parametrize("bad", ["tomorrow", "2030-13-01", "9" * 65, "\x1b[31m2030", 17])
def test_a_bad_expire_at_is_refused_clearly_and_echoed_inert(bad):
    with pytest.raises(InvalidOrderError) as refused:
        _gtd(expire_at=bad)
    assert "expire_at" in refused.value.message
    assert "\x1b" not in refused.value.message
    assert len(refused.value.message) < 200


def _gtd_broker() -> FakeBroker:
    caps = attrs.evolve(
        FAKE_CAPABILITIES, time_in_force={*FAKE_CAPABILITIES.time_in_force, TimeInForce.GTD}
    )
    return FakeBroker(caps)


def test_a_broker_without_gtd_refuses_it_before_any_call(fake, fake_broker):
    with pytest.raises(InvalidOrderError, match="does not support time in force 'gtd'"):
        fake.place_order(**_gtd().to_dict())
    assert fake_broker.place_calls == []
    assert fake.journal.intents() == []


def test_an_expiry_that_has_passed_is_refused_at_the_boundary():
    caps = _gtd_broker().capabilities
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(InvalidOrderError, match="has passed"):
        check_capabilities(_gtd(expire_at=now), "fake", caps)  # now: passed by the check
    check_capabilities(_gtd(expire_at=now + dt.timedelta(minutes=1)), "fake", caps)


def test_a_gtd_order_goes_through_the_gate_and_a_replace_keeps_its_expiry():
    broker = _gtd_broker()
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    gated = make_gated(PluginHost(pm))
    gated.place_order(**_gtd().to_dict())
    assert broker.place_calls[0].expire_at == SOON
    intent = gated.journal.events(intent_id=1)[0]
    assert intent["payload"]["request"]["expire_at"] == SOON.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    order = Order(
        order_id="1",
        client_order_id="c",
        symbol="AAPL",
        side="buy",
        order_type="limit",
        time_in_force="gtd",
        status="new",
        qty=1,
        limit_price=99,
        expire_at=SOON.isoformat(),
    )
    kept = replacement_request(order, OrderChanges(qty=2))
    assert (kept.time_in_force, kept.expire_at) == (TimeInForce.GTD, SOON)
    assert replacement_request(order, OrderChanges(time_in_force="gtc")).expire_at is None


def test_the_cli_takes_an_expiry(cli):
    code, _, err = cli(
        "order", "buy", "AAPL", "--qty", "1", "--tif", "gtd", "--expire-at", SOON.isoformat(), "-y"
    )
    assert code != 0
    assert "does not support time in force 'gtd'" in err  # the sim has none
