"""The trading level of the conformance kit: real orders against a paper account or a fake server.

:class:`BrokerTradingTests` holds only trading tests: keep a second class on
:class:`~tradingagents_brokers.testing.offline.BrokerConformanceTests` for the
offline ones, so that neither set runs twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from .. import (
    BrokerConfigurationError,
    BrokerType,
    DuplicateClientOrderIdError,
    GatedBroker,
    InvalidOrderError,
    Order,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    OrderRequest,
    PluginHost,
    get_broker,
    make_plugin_manager,
)
from ..enums import TimeInForce
from ..listing import iter_orders
from ..models import ACCOUNT_FIELDS, POSITION_FIELDS, REPLACE_FIELDS
from ..orders import ORDER_FIELDS
from ._base import plugin_errors
from .network import NetworkFailureTests
from .streams import StreamTests

__all__ = ["BrokerTradingTests"]


class BrokerTradingTests(StreamTests, NetworkFailureTests):
    """Trading level: real orders against the broker (a paper account, a local server)."""

    def test_account_has_the_contract_fields(self, gated: GatedBroker) -> None:
        """The account's dict has the contract's fields in order, and money is Decimal.

        The plugin proves on its own: that each figure is the broker's (buying power,
        ``last_equity``: see docs/contract.md for what to put when it is not reported).
        """
        with plugin_errors():
            data = gated.get_account().to_dict()
            assert tuple(data) == ACCOUNT_FIELDS
            assert isinstance(gated.get_account().buying_power, Decimal)

    def test_positions_have_the_contract_fields(self, gated: GatedBroker) -> None:
        """Each position's dict has the contract's fields, and quantities are Decimal.

        With no position open this checks nothing but the call; the close test opens
        one. The plugin proves on its own: short positions and their negative ``qty``.
        """
        with plugin_errors():
            for position in gated.get_positions():
                assert tuple(position.to_dict()) == POSITION_FIELDS
                assert isinstance(position.qty, Decimal), "quantities must be Decimal, not float"

    def test_place_look_up_and_cancel(self, gated: GatedBroker) -> None:
        """A resting order keeps the gate's client order id, is found by both ids, and cancels.

        The plugin proves on its own: cancelling an order that has filled (an
        InvalidOrderError naming its status) and an unknown id (NotFoundError).
        """
        with plugin_errors():
            order = self._resting(gated)
            assert order.client_order_id == gated.journal.intent(1).client_order_id, (
                "send request.client_order_id to the broker unchanged and return it"
            )
            assert isinstance(order.qty, Decimal)
            assert gated.get_order(order.order_id).order_id == order.order_id
            assert gated.get_order_by_client_id(order.client_order_id).order_id == order.order_id
            gated.cancel_order(order.order_id)
            status = gated.get_order(order.order_id).status.value
            assert status in ("canceled", "pending_cancel")

    def test_orders_list_a_window_of_submission_times(self, gated: GatedBroker) -> None:
        """``get_orders(after=, until=)`` keeps the orders submitted strictly between the two.

        Three resting orders a moment apart; the window between the first and the third
        holds the second alone, and the core's pager walks all three one at a time. The
        plugin proves on its own: that a window reaches past its broker's first page.
        """
        with plugin_errors():
            placed = []
            for n in (1, 2, 3):
                placed.append(self._resting(gated, qty=self.qty(n)))
                time.sleep(0.01)
            try:
                listed = {o.order_id: o for o in gated.get_orders("open")}
                times = [listed[o.order_id].submitted_at for o in placed]
                assert None not in times, "report submitted_at: lists are paged by it"
                first, _, third = times
                window = gated.get_orders("open", after=first, until=third)
                ids = [o.order_id for o in window]
                assert ids == [placed[1].order_id], "after and until are both exclusive"
                paged = [o.order_id for o in iter_orders(gated, status="open", page_size=1)]
                assert {o.order_id for o in placed} <= set(paged)
                assert len(paged) == len(set(paged)), "the pager gave an order twice"
            finally:
                for order in placed:
                    gated.cancel_order(order.order_id)

    def test_order_dicts_have_the_contract_fields(self, gated: GatedBroker) -> None:
        """An order's dict has the contract's fields in order.

        The plugin proves on its own: each status of its broker maps to the right
        ``OrderStatus``.
        """
        with plugin_errors():
            order = self._resting(gated)
            assert tuple(order.to_dict()) == ORDER_FIELDS
            gated.cancel_order(order.order_id)

    def test_replace(self, gated: GatedBroker) -> None:
        """A replace changes a field the broker declares, and the replacement has its new id.

        The kit changes ``qty`` when ``replace_fields`` has it, else ``limit_price``,
        else ``time_in_force``; skipped for ``replace=False``. The plugin proves on its
        own: the other declared fields.
        """
        if not gated.capabilities.replace:
            pytest.skip("the broker declares no replace")
        with plugin_errors():
            order = self._resting(gated)
            change, expect = self._a_declared_change(gated, order)
            new = gated.replace_order(order.order_id, **change)
            assert expect(new), f"the replacement does not show {change}"
            found = gated.get_order_by_client_id(new.client_order_id)
            assert found.order_id == new.order_id, "give the replacement changes.client_order_id"
            gated.cancel_order(new.order_id)

    def _a_declared_change(
        self, gated: GatedBroker, order: Order
    ) -> tuple[dict[str, Any], Callable[[Order], bool]]:
        fields = gated.capabilities.replace_fields
        if "qty" in fields:
            two = self.qty(2)
            return {"qty": two}, lambda new: new.qty == two
        lower = (order.limit_price or self.resting_price(gated)) - self.tick(gated)
        if "limit_price" in fields:
            return {"limit_price": lower}, lambda new: new.limit_price == lower
        day = TimeInForce.DAY
        if "time_in_force" in fields and day in gated.capabilities.time_in_force:
            return {"time_in_force": "day"}, lambda new: new.time_in_force is day
        gated.cancel_order(order.order_id)
        pytest.skip(f"the kit has no change to try among replace_fields {sorted(fields)}")

    def test_a_replace_of_an_undeclared_field_is_refused_before_sending(
        self, gated: GatedBroker
    ) -> None:
        """A replace of a field outside ``replace_fields`` is refused by the gate, untouched.

        Skipped when the broker declares every field, or no replace. The plugin
        proves on its own: that its broker really cannot change the fields it left out.
        """
        caps = gated.capabilities
        missing = sorted(REPLACE_FIELDS - caps.replace_fields)
        if not caps.replace or not missing:
            pytest.skip("the broker declares no replace, or every field in replace_fields")
        field = missing[0]
        value: Any = {"time_in_force": "day", "qty": self.qty(2)}.get(field, self.tick(gated))
        with plugin_errors():
            order = self._resting(gated)
            with pytest.raises(InvalidOrderError, match=f"cannot change {field}"):
                gated.replace_order(order.order_id, **{field: value})
            after = gated.get_order(order.order_id)
            assert (after.qty, after.limit_price) == (order.qty, order.limit_price)
            gated.cancel_order(order.order_id)

    def test_good_till_date(self, gated: GatedBroker) -> None:
        """A gtd order keeps its expiry; without the capability the gate refuses it before sending.

        The plugin proves on its own: that the broker expires the order at that time.
        """
        expire = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
        if TimeInForce.GTD not in gated.capabilities.time_in_force:
            with pytest.raises(InvalidOrderError, match="'gtd'"):
                self._resting(gated, time_in_force="gtd", expire_at=expire)
            return
        with plugin_errors():
            order = self._resting(gated, time_in_force="gtd", expire_at=expire)
            assert (order.time_in_force, order.expire_at) == (TimeInForce.GTD, expire)
            gated.cancel_order(order.order_id)

    def test_close_a_position(self, gated: GatedBroker) -> None:
        """A market buy opens a position and closing one share sends a sell.

        A marketable order must fill where the tests run. The plugin proves on its
        own: closes by percentage, short positions, and ``close_all_positions``.
        """
        with plugin_errors():
            gated.place_order(symbol=self.symbol, side="buy", qty=self.quantity)
            closing = gated.close_position(self.symbol, qty=self.quantity)
            assert closing.side.value == "sell"

    def test_notional_orders(self, gated: GatedBroker) -> None:
        """An order for an amount of money is taken. Skipped without ``notional``.

        The plugin proves on its own: the amount's rounding at its broker.
        """
        if not gated.capabilities.notional:
            pytest.skip("the broker declares no notional orders")
        with plugin_errors():
            order = gated.place_order(symbol=self.symbol, side="buy", notional=self.notional)
            assert order.notional == self.notional or order.qty is not None

    def test_an_order_the_gate_refuses_never_reaches_the_broker(self, tmp_path: Any) -> None:
        """An order over max_order_value is refused and the broker's order list is unchanged.

        This is the core's promise, checked with your broker's listing. The plugin
        proves on its own: that ``get_orders("all")`` follows every page of its broker.
        """
        config = {**self.config(tmp_path), "max_order_value": 1}
        with get_broker(self.broker_name, config=config) as gated, plugin_errors():
            before = {o.order_id for o in gated.get_orders("all")}
            with pytest.raises(OrderRejectedError):
                gated.place_order(symbol=self.symbol, side="buy", qty=self.qty(10))
            assert {o.order_id for o in gated.get_orders("all")} == before

    def test_live_mode_without_the_opt_in_is_blocked(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Live mode without auto_execute_trades and without credentials answers "blocked".

        The broker is built (the factory reads no credentials) and the order stops
        at the core's mode gate with OrderBlockedError: the ``{"status": "blocked"}``
        answer of the docs. The plugin proves on its own: that live mode uses the
        live endpoint and the live credentials.
        """
        broker_type = get_broker_type(self.broker_name)
        for variable in broker_type.credential_env.get("live", ()):
            monkeypatch.delenv(variable, raising=False)
        config = {**self.config(tmp_path), "broker_mode": "live", "auto_execute_trades": False}
        with plugin_errors():
            try:
                gated = get_broker(self.broker_name, config=config)
            except BrokerConfigurationError as exc:
                pytest.fail(
                    f"building the live broker failed ({exc.message}); read credentials on the "
                    "first request, not in the factory, so the mode gate can answer 'blocked'",
                    pytrace=False,
                )
            with gated, pytest.raises(OrderBlockedError):
                gated.place_order(symbol=self.symbol, side="buy", qty=self.quantity)

    def test_an_unknown_outcome_resolves_to_the_one_order(self, gated: GatedBroker) -> None:
        """After an order's answer is lost, the core finds the one order by its client id.

        The kit fakes the failure itself: it wraps ``place_order`` so that the order
        is placed and then OrderOutcomeUnknownError is raised. This proves your
        ``get_order_by_client_id``, not your network-error handling. The plugin proves
        on its own: that a real timeout or reset raises OrderOutcomeUnknownError, with
        ``test_a_lost_answer_on_the_wire_is_looked_up_not_resent``.
        """
        real = gated.broker.place_order

        def accept_then_lose_the_answer(request: OrderRequest) -> Order:
            real(request)
            raise OrderOutcomeUnknownError("the answer was lost (kit)")

        gated.broker.place_order = accept_then_lose_the_answer  # type: ignore[method-assign]
        with plugin_errors():
            order = self._resting(gated)
            assert order.client_order_id == gated.journal.intent(1).client_order_id
            same = [
                o for o in gated.get_orders("all") if o.client_order_id == order.client_order_id
            ]
            assert len(same) == 1, "look orders up by client order id; never place a second one"
            gated.broker.place_order = real  # type: ignore[method-assign]
            gated.cancel_order(order.order_id)

    def test_a_duplicate_client_order_id_is_refused_by_the_broker(self, gated: GatedBroker) -> None:
        """A second order with one client order id raises DuplicateClientOrderIdError.

        The kit calls the plugin directly, past the gate. Skipped for brokers that
        declare ``unique_client_order_ids=False``: the core then sends an order again
        only after a look-up said "not found". The plugin proves on its own: that the
        refusal comes from the broker (or from a look-up at the broker), not from a
        table in its memory that other processes do not share.
        """
        if not gated.capabilities.unique_client_order_ids:
            pytest.skip("the broker declares unique_client_order_ids=False")
        request = OrderRequest(
            symbol=self.symbol,
            side="buy",
            qty=self.quantity,
            order_type="limit",
            limit_price=self.resting_price(gated),
            time_in_force="gtc",
            client_order_id=f"kit-dup-{gated.journal.journal_id}",
        )
        with plugin_errors():
            first = gated.broker.place_order(request)
            with pytest.raises(DuplicateClientOrderIdError):
                gated.broker.place_order(request)
            gated.cancel_order(first.order_id)


def get_broker_type(name: str) -> BrokerType:
    """The installed broker type ``name``."""
    return PluginHost(make_plugin_manager()).broker_types[name]
