"""The sim broker, the reference implementation, passes the whole conformance kit."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tradingagents_brokers import BrokerUnavailableError, OrderOutcomeUnknownError, get_broker
from tradingagents_brokers.testing import kit
from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests

ROOT = Path(__file__).resolve().parents[1]


class TestSimOffline(BrokerConformanceTests):
    broker_name = "sim"


class TestSimConformance(BrokerTradingTests):
    broker_name = "sim"

    def broker_options(self):
        return {"prices": {"AAPL": 100}}


def test_overriding_a_kit_test_without_xfail_is_an_error():
    with pytest.raises(TypeError, match=r"mark it @pytest.mark.xfail\(reason="):

        class Quiet(BrokerConformanceTests):
            broker_name = "sim"

            def test_the_broker_type_describes_itself(self, broker_type):
                pass


def test_overriding_a_stream_or_network_test_without_xfail_is_an_error():
    for name in (
        "test_order_updates_report_every_state_change",
        "test_a_lost_answer_on_the_wire_is_looked_up_not_resent",
    ):
        with pytest.raises(TypeError, match=name):
            type("Quiet", (BrokerTradingTests,), {name: lambda self, gated: None})


def test_a_test_overridden_with_xfail_and_a_reason_is_accepted():
    class Honest(BrokerConformanceTests):
        broker_name = "sim"

        @pytest.mark.xfail(reason="this broker has no description yet")
        def test_the_broker_type_describes_itself(self, broker_type):
            raise AssertionError

    assert Honest.broker_name == "sim"
    with pytest.raises(TypeError):

        class NoReason(BrokerConformanceTests):
            @pytest.mark.xfail
            def test_the_plugin_is_discovered(self, host):
                pass


def test_the_trading_level_does_not_repeat_the_offline_tests():
    offline = {name for name, _ in kit.kit_tests(BrokerConformanceTests)}
    trading = {name for name, _ in kit.kit_tests(BrokerTradingTests)}
    assert len(offline) >= 5
    assert len(trading) >= 15
    assert offline.isdisjoint(trading)
    assert not issubclass(BrokerTradingTests, BrokerConformanceTests)


@pytest.mark.parametrize("cls", [BrokerConformanceTests, BrokerTradingTests])
def test_every_kit_test_says_what_it_proves_and_what_is_left(cls):
    for name, doc in kit.kit_tests(cls):
        assert doc, f"{name} has no docstring"
        assert doc.splitlines()[0].endswith("."), f"{name}: the first line is one sentence"
        assert "proves on its own" in " ".join(doc.split()), f"{name}: say what is left"


def test_the_unknown_outcome_test_says_it_fakes_the_failure():
    doc = dict(kit.kit_tests(BrokerTradingTests))[
        "test_an_unknown_outcome_resolves_to_the_one_order"
    ]
    assert "fakes the failure itself" in doc


def test_the_docs_list_the_kit_tests_as_the_docstrings_say(tmp_path):
    page = ROOT / "docs" / "writing-plugins.md"
    copy = tmp_path / "page.md"
    copy.write_text(page.read_text())
    assert not kit.rewrite(copy), (
        "run: python -m tradingagents_brokers.testing.kit docs/writing-plugins.md"
    )
    for name, _ in kit.kit_tests(BrokerTradingTests):
        assert f"`{name}`" in page.read_text()


def test_a_page_without_the_markers_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# nothing here\n")
    with pytest.raises(SystemExit, match="markers"):
        kit.rewrite(page)


def _lost_answer_kit(tmp_path, raised):
    """The kit's lost-answer test on the sim, whose place_order keeps the order and raises."""

    class Sim(BrokerTradingTests):
        broker_name = "sim"

        def broker_options(self):
            return {"prices": {"AAPL": 100}}

    kit_case = Sim()
    gated = get_broker("sim", config=kit_case.config(tmp_path))
    real = gated.broker.place_order

    @contextlib.contextmanager
    def lose_the_answer():
        def keep_then_fail(request):
            real(request)
            raise raised

        gated.broker.place_order = keep_then_fail
        try:
            yield
        finally:
            gated.broker.place_order = real

    kit_case.lose_the_answer = lose_the_answer
    return kit_case, gated


def test_the_lost_answer_test_passes_when_the_plugin_says_maybe_sent(tmp_path):
    kit_case, gated = _lost_answer_kit(tmp_path, OrderOutcomeUnknownError("reset (test)"))
    with gated:
        kit_case.test_a_lost_answer_on_the_wire_is_looked_up_not_resent(gated)
        assert len(gated.journal.intents()) == 1  # one intent: the order was not placed twice


def test_the_lost_answer_test_fails_a_plugin_that_says_nothing_was_sent(tmp_path):
    kit_case, gated = _lost_answer_kit(tmp_path, BrokerUnavailableError("no (test)"))
    with gated, pytest.raises(pytest.fail.Exception, match="tells the core nothing was sent"):
        kit_case.test_a_lost_answer_on_the_wire_is_looked_up_not_resent(gated)


def test_the_lost_answer_test_fails_a_plugin_that_leaks_its_sdk_s_error(tmp_path):
    kit_case, gated = _lost_answer_kit(tmp_path, ConnectionResetError("raw"))
    with gated, pytest.raises(pytest.fail.Exception, match="raised ConnectionResetError"):
        kit_case.test_a_lost_answer_on_the_wire_is_looked_up_not_resent(gated)
