"""The kit's test of a real network failure, driven through the plugin's own transport.

The other kit tests fake a lost answer by wrapping ``place_order``; this one has
the author's fake server keep an order and then break the connection (or answer
after the plugin's read timeout), so the plugin's own error mapping is what is
tested. The plugin supplies the failure by overriding :meth:`lose_the_answer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .. import BrokerError, GatedBroker, OrderOutcomeUnknownError, OrderRequest
from ..safety.submission import is_ambiguous
from ._base import TradingBase, plugin_errors

__all__ = ["NetworkFailureTests"]


class NetworkFailureTests(TradingBase):
    """A lost answer on the wire: override :meth:`lose_the_answer` to run it."""

    @contextmanager
    def lose_the_answer(self) -> Iterator[None]:
        """While open, the server keeps the next order it is sent and then loses the answer.

        Override it to flip a switch on your fake server: it stores the order, then
        resets the connection (or sleeps past the read timeout your test options set)
        instead of answering. Every later request is answered normally. Until you
        override it, the test that uses it is skipped with this advice.
        """
        if self.__class__.lose_the_answer is NetworkFailureTests.lose_the_answer:
            pytest.skip(
                "override lose_the_answer() to make your fake server keep the next order and "
                "then drop the connection (see 'A fake server' in docs/writing-plugins.md)"
            )
        yield

    def test_a_lost_answer_on_the_wire_is_looked_up_not_resent(self, gated: GatedBroker) -> None:
        """A reset or timeout after the order was written is an unknown outcome, never a refusal.

        First the plugin alone: it must raise OrderOutcomeUnknownError (or another
        error the core reads as *maybe sent*), never an error that says nothing was
        sent, and never an exception of its SDK. Then through the gate: the core
        looks the order up and the broker holds exactly one. Skipped until the
        plugin overrides ``lose_the_answer``. The plugin proves on its own: a failure
        *before* sending (no connection) raises BrokerUnavailableError.
        """
        coid = f"kit-lost-{gated.journal.journal_id}"
        request = OrderRequest(
            symbol=self.symbol,
            side="buy",
            qty=self.quantity,
            order_type="limit",
            limit_price=self.resting_price(gated),
            time_in_force="gtc",
            client_order_id=coid,
        )
        with plugin_errors():
            with self.lose_the_answer():
                try:
                    gated.broker.place_order(request)
                except BrokerError as exc:
                    if not is_ambiguous(exc):
                        pytest.fail(
                            f"the server kept the order but the plugin raised "
                            f"{type(exc).__name__} ({exc.code}), which tells the core nothing "
                            "was sent; raise OrderOutcomeUnknownError for a failure after the "
                            "request was written",
                            pytrace=False,
                        )
            kept = gated.broker.get_order_by_client_id(coid)
            gated.cancel_order(kept.order_id)

            with self.lose_the_answer():
                try:
                    coid = self._resting(gated).client_order_id
                except OrderOutcomeUnknownError as exc:
                    coid = exc.details["client_order_id"]
            same = [o for o in gated.get_orders("all") if o.client_order_id == coid]
            assert len(same) == 1, "the order must be found by its client order id, and once"
            gated.cancel_order(same[0].order_id)
