"""The conformance kit, order stream tests included, against the sim as a REST-only broker.

``restsim`` (``tests/polled_broker.py``) hides the sim's own stream and polls
instead, so every stream test of the kit runs against the polled stream.
"""

from __future__ import annotations

import importlib.metadata as md

import pytest

from tradingagents_brokers import plugins
from tradingagents_brokers.testing.polling import PolledStreamTests


class TestRestSimPolled(PolledStreamTests):
    broker_name = "restsim"

    @pytest.fixture(autouse=True)
    def _entry_point(self, monkeypatch):
        ep = md.EntryPoint(
            name="restsim", value="tests.polled_broker", group="tradingagents_brokers"
        )
        monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])

    def broker_options(self):
        return {"prices": {"AAPL": 100}}


def test_a_polled_kit_test_cannot_be_overridden_silently():
    with pytest.raises(TypeError, match="overrides a conformance test"):

        class Quiet(PolledStreamTests):
            broker_name = "restsim"

            def test_a_live_order_costs_at_most_two_requests(self, polled):
                pass
