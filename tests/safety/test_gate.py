"""The gate as a whole: trading state, required checks, journaling, atomicity, reconciliation."""

from __future__ import annotations

import ast
import multiprocessing
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerError,
    OrderContext,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    PluginHost,
    PluginLoadError,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.gateway import GatedBroker
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.safety.state import NotPermittedError

from ..conftest import make_gated
from ..fakes import FakeBroker, FakePlugin

ROOT = Path(__file__).resolve().parents[2]
AGENT = OrderContext(source="agent", agent_id="analyst-1", run_id="run-9", tool_call_id="call-3")


def test_an_order_violating_several_checks_reports_every_reason(fake, fake_broker):
    with pytest.raises(OrderRejectedError) as raised:
        fake.place_order(symbol="AAPL", side="buy", qty=1000, order_type="limit", limit_price=200)
    assert set(raised.value.reason_codes) == {
        "ORDER_VALUE_EXCEEDS_MAX",
        "POSITION_EXCEEDS_MAX",
        "INSUFFICIENT_BUYING_POWER",
        "PRICE_OUTSIDE_COLLAR",
    }
    assert fake_broker.place_calls == []


def test_the_intent_is_journaled_before_the_broker_is_called(fake, fake_broker):
    seen = {}
    original = fake_broker.place_order

    def spy(request):
        intent = fake.journal.intent(request.client_order_id)
        seen["status"] = intent.status
        seen["kinds"] = [e["kind"] for e in fake.journal.events(intent_id=intent.intent_id)]
        return original(request)

    fake_broker.place_order = spy
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert seen == {
        "status": "submitting",
        "kinds": ["intent"],
    }


def test_an_order_costs_two_commits_and_a_denial_one(fake):
    before = fake.journal.commits
    fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.journal.commits - before == 2
    before = fake.journal.commits
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="buy", qty=1000)
    assert fake.journal.commits - before == 1


def test_the_journal_records_provenance_decisions_and_the_limits_in_force(fake):
    fake.place_order(symbol="AAPL", side="buy", qty=1, context=AGENT)
    events = {e["kind"]: e["payload"] for e in fake.journal.events(intent_id=1)}
    assert events["intent"]["context"]["agent_id"] == "analyst-1"
    assert events["intent"]["context"]["tool_call_id"] == "call-3"
    assert events["intent"]["limits_hash"] == fake.limits_hash
    assert events["intent"]["attempt"] == 1
    assert events["intent"]["allowed"] == "all"  # every check named in the limits event
    (limits,) = [e["payload"] for e in fake.journal.events() if e["kind"] == "limits"]
    assert limits["limits_hash"] == fake.limits_hash
    assert limits["checks"] == events["intent"]["checks"]
    assert {"trading_state", "max_position"} <= set(limits["check_names"].split())
    assert limits["limits"]["max_order_value"] == "10000"
    assert events["intent"]["approval"]["approver"] == "default-policy"
    assert fake.journal.intent(1).source == "agent"
    assert fake.journal.verify().ok


def test_the_limits_hash_changes_with_the_limits(fake_host):
    assert make_gated(fake_host).limits_hash != make_gated(fake_host, max_order_value=5).limits_hash


def test_a_denied_order_is_journaled_with_its_reason_codes(fake):
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="buy", qty=1000, context=AGENT)
    intent = fake.journal.intent(1)
    assert intent.status == "denied"
    (event,) = fake.journal.events(intent_id=1)
    assert event["kind"] == "intent"
    assert "attempt" not in event["payload"]  # nothing was sent
    assert "ORDER_VALUE_EXCEEDS_MAX" in {d["code"] for d in event["payload"]["decisions"]}


def test_the_mode_gate_refusal_is_journaled(fake_host):
    gated = make_gated(fake_host, broker_mode="live")
    with pytest.raises(BrokerError):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert gated.journal.events()[-1]["kind"] == "blocked"


# -- required checks -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_order_value", "price_collar", "rate_limit"])
def test_blocking_a_required_check_refuses_to_start(name, monkeypatch):
    with pytest.raises(PluginLoadError, match="cannot be blocked"):
        make_plugin_manager(blocked=[name])
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_BLOCK", name)
    with pytest.raises(PluginLoadError, match=name):
        make_plugin_manager()


def test_a_gate_without_a_required_check_refuses_to_start(fake_host):
    fake_host.pm.unregister(name="buying_power")
    with pytest.raises(BrokerConfigurationError, match="buying_power"):
        make_gated(fake_host)


def test_unregistering_a_required_check_stops_every_order(fake, fake_host, fake_broker):
    fake_host.pm.unregister(name="max_position")
    with pytest.raises(BrokerConfigurationError, match="max_position"):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []


def test_only_the_gate_reaches_a_brokers_place_order():
    """Static proof: broker.place_order is called only by the default operation hook, the
    place_order hook only by the broker link, the link only by the submitter, and the
    submitter only by the gate."""
    calls: dict[str, set[str]] = {}
    for path in (ROOT / "src" / "tradingagents_brokers").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = ast.unparse(node.func.value)
                if node.func.attr == "place_order":
                    calls.setdefault(target, set()).add(path.name)
                if node.func.attr == "send" and "submitter" in target:
                    calls.setdefault(target + ".send", set()).add(path.name)
    assert calls == {
        "broker": {"operations.py"},  # the default operation hook, called by the submitter only
        "self.host": {"link.py"},  # BrokerLink: the place_order hook for one broker
        "link": {"submission.py"},
        "self.submitter.send": {"gate.py"},  # after every check and the journal commit
        "self": {"broker.py"},  # the sim's own close and replace, inside the broker
        # GatedBroker.place_order: the gate's front door (the demo, the kit's trading tests)
        "gated": {"demo.py", "_base.py", "trading.py"},
        "streaming": {"streams.py"},  # a GatedBroker too: the kit's order stream tests
        # the kit tests a broker's own duplicate refusal and its mapping of a lost answer
        "gated.broker": {"network.py", "trading.py"},
    }


# -- trading state ----------------------------------------------------------------------


def test_halted_refuses_new_replaced_and_closing_orders_but_lets_cancels_through(fake, fake_broker):
    resting = fake.place_order(symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=99)
    fake.halt("test")
    for action in (
        lambda: fake.place_order(symbol="AAPL", side="buy", qty=2),
        lambda: fake.replace_order(resting.order_id, qty=3),
        lambda: fake.close_position("AAPL"),
        lambda: fake.close_all_positions(),
    ):
        with pytest.raises(OrderRejectedError, match="TRADING_HALTED"):
            action()
    fake.cancel_order(resting.order_id)
    assert fake_broker.cancel_calls == [resting.order_id]
    assert len(fake_broker.place_calls) == 1


def test_halt_can_cancel_every_open_order(fake, fake_broker):
    ids = {fake.place_order(symbol="AAPL", side="buy", qty=q).order_id for q in (1, 2)}
    assert set(fake.halt("panic", cancel_open_orders=True)) == ids
    assert set(fake_broker.cancel_calls) == ids


def test_reducing_accepts_only_orders_that_shrink_the_position(fake, fake_broker):
    fake.reduce_only("drawdown")  # the fake holds 5 AAPL
    fake.place_order(symbol="AAPL", side="sell", qty=5)
    for request in ({"side": "sell", "qty": 6}, {"side": "buy", "qty": 1}):
        with pytest.raises(OrderRejectedError, match="TRADING_STATE_REDUCING"):
            fake.place_order(symbol="AAPL", **request)
    assert fake.close_position("AAPL").side.value == "sell"


def test_the_trading_state_survives_a_restart(fake_host, tmp_path):
    journal = tmp_path / "journal.db"
    first = make_gated(fake_host, journal_path=str(journal))
    first.halt("end of day")
    first.close()
    second = make_gated(fake_host, journal_path=str(journal))
    assert second.trading_state()["state"] == "halted"
    with pytest.raises(OrderRejectedError, match="TRADING_HALTED"):
        second.place_order(symbol="AAPL", side="buy", qty=1)


@pytest.mark.parametrize("source", ["agent", "mcp"])
def test_an_agent_can_halt_but_never_resume(fake, source):
    agent = OrderContext(source=source, agent_id="a-1")
    fake.halt("the agent saw something odd", context=agent)
    with pytest.raises(NotPermittedError, match="a person must"):
        fake.resume("looks fine now", context=agent)
    fake.reduce_only("agent may tighten", context=agent)
    with pytest.raises(NotPermittedError):
        fake.resume("still no", context=agent)
    fake.resume("a person checked", context=OrderContext(source="cli"))
    assert fake.trading_state()["state"] == "active"


def test_an_unknown_trading_state_is_refused(fake):
    from tradingagents_brokers.safety.state import set_state

    with pytest.raises(BrokerConfigurationError, match="active, reducing or halted"):
        set_state(fake.journal, "paused", reason="", by="python")


# -- atomic decisions across processes ----------------------------------------------------


class SlowFakeBroker(FakeBroker):
    """Holds the order in flight for a while, with no position yet."""

    def get_positions(self):
        return []

    def get_orders(self, status="open", limit=None, symbols=None):
        return []

    def place_order(self, request):
        time.sleep(0.4)
        return super().place_order(request)


def _race(journal_path: str, overrides: dict, qty: int, start, results) -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(SlowFakeBroker()), name="fake-plugin")
    host = PluginHost(pm)
    config = effective_config({"trading_broker": "fake", "journal_path": journal_path, **overrides})
    gated = GatedBroker(host, "fake", host.build_broker("fake", config), config)
    start.wait()
    try:
        gated.place_order(symbol="AAPL", side="buy", qty=qty)
        results.put("placed")
    except OrderRejectedError as exc:
        results.put(",".join(exc.reason_codes))


def _two_processes(tmp_path, overrides, qty):
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(2), ctx.Queue()
    journal = str(tmp_path / "shared-journal.db")
    Journal(journal).close()
    workers = [
        ctx.Process(target=_race, args=(journal, overrides, qty, start, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return sorted(results.get(timeout=5) for _ in workers)


def test_two_processes_cannot_both_pass_a_projected_position_limit(tmp_path):
    # 60 shares at 100 each fit under 10% of 100000; two such orders do not.
    outcomes = _two_processes(tmp_path, {"duplicate_window_seconds": 0}, 60)
    assert outcomes[1] == "placed"
    assert "POSITION_EXCEEDS_MAX" in outcomes[0]


def test_two_processes_cannot_both_pass_a_rate_limit(tmp_path):
    outcomes = _two_processes(
        tmp_path,
        {"max_orders_per_second": 1, "max_orders_per_minute": 1, "duplicate_window_seconds": 0},
        1,
    )
    assert outcomes == ["RATE_LIMIT_EXCEEDED", "placed"]


# -- reconciliation ----------------------------------------------------------------------


def _crashed_intent(gated, status="submitting"):
    return gated.journal.new_intent(
        {
            "broker": "fake",
            "symbol": "AAPL",
            "side": "buy",
            "qty": Decimal(1),
            "notional": None,
            "value": Decimal(100),
            "dedupe_key": "x",
            "status": status,
            "source": "python",
            "client_order_id": None,
        },
        {"request": {}},
    )


def test_startup_reconciles_an_intent_that_never_reached_the_broker(fake_host, tmp_path):
    journal = str(tmp_path / "j.db")
    first = make_gated(fake_host, journal_path=journal)
    intent = _crashed_intent(first)  # a crash between the commit and the send
    first.close()
    second = make_gated(fake_host, journal_path=journal)
    assert second.journal.intent(intent.intent_id).status == "submitting"  # nothing read yet
    second.place_order(symbol="AAPL", side="buy", qty=1)  # the first order reconciles first
    assert second.journal.intent(intent.intent_id).status == "not_placed"
    assert second.journal.events(intent_id=intent.intent_id)[-1]["kind"] == "reconcile"


def test_reconcile_resolves_unknown_orders_from_the_broker(fake, fake_broker):
    fake_broker.fail_always = OrderOutcomeUnknownError("timeout after accepting")
    fake_broker.accept_before_failing = True
    fake_broker.lookup_error = BrokerAPIError("look-up down too")
    with pytest.raises(OrderOutcomeUnknownError):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.journal.intent(1).status == "unknown"
    fake_broker.lookup_error = None
    report = fake.reconcile()
    assert report.ok
    assert report.changed[0]["to"] == "new"
    assert fake.journal.intent(1).status == "new"
    assert len(fake_broker.orders) == 1


def test_unknown_orders_count_against_limits_until_resolved(fake, fake_broker):
    fake_broker.fail_always = OrderOutcomeUnknownError("reset")
    fake_broker.lookup_error = BrokerAPIError("down")
    fake_broker.get_orders = lambda *a, **k: []
    with pytest.raises(OrderOutcomeUnknownError):
        fake.place_order(symbol="AAPL", side="buy", qty=90)
    fake_broker.fail_always = None
    fake_broker.lookup_error = None
    with pytest.raises(OrderRejectedError, match="POSITION_EXCEEDS_MAX"):
        fake.place_order(symbol="AAPL", side="buy", qty=10)  # 5 held + 90 unknown + 10 > 100


def test_failed_startup_reconciliation_blocks_new_orders_until_it_succeeds(
    fake_host, fake_broker, tmp_path
):
    journal = str(tmp_path / "j.db")
    first = make_gated(fake_host, journal_path=journal)
    _crashed_intent(first)
    first.close()
    fake_broker.lookup_error = BrokerAPIError("broker unreachable")
    second = make_gated(fake_host, journal_path=journal)
    assert second.get_account().account_number == "FAKE-1"
    with pytest.raises(BrokerError, match="could not be reconciled"):
        second.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake_broker.place_calls == []
    fake_broker.lookup_error = None
    second.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(fake_broker.place_calls) == 1


def test_an_order_the_broker_forgot_is_reported_as_drift(fake, fake_broker):
    order = fake.place_order(symbol="AAPL", side="buy", qty=1)
    del fake_broker.orders[order.order_id]
    report = fake.reconcile()
    assert report.changed == (
        {"client_order_id": order.client_order_id, "from": "new", "to": "missing"},
    )


def test_a_refused_client_order_id_cannot_be_replayed(fake):
    with pytest.raises(OrderRejectedError):
        fake.place_order(symbol="AAPL", side="buy", qty=1000, client_order_id="mine-1")
    with pytest.raises(OrderRejectedError, match="was refused when it was decided") as again:
        fake.place_order(symbol="AAPL", side="buy", qty=1, client_order_id="mine-1")
    # The first refusal's reasons, not a sentence without them.
    assert "ORDER_VALUE_EXCEEDS_MAX" in again.value.reason_codes


def test_a_broker_echoing_another_client_order_id_leaves_the_order_unknown(fake, fake_broker):
    original = fake_broker.place_order

    def wrong_echo(request):
        return original(request.with_client_order_id("someone-else"))

    fake_broker.place_order = wrong_echo
    with pytest.raises(OrderOutcomeUnknownError, match="instead of"):
        fake.place_order(symbol="AAPL", side="buy", qty=1)
    assert fake.journal.intent(1).status == "unknown"
