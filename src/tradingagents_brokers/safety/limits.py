"""Account-level limits: what the order checks alone do not cover.

=============================  ===============================================
``OPEN_ORDERS_AT_MAX``         open and in-flight orders at ``max_open_orders``
``DAILY_NOTIONAL_EXCEEDS_MAX`` the day's admitted orders plus this one above
                               ``max_daily_notional`` (every source) or
                               ``max_daily_notional_agent`` (agents only)
``DAILY_LOSS_LIMIT``           the day's loss at ``max_daily_loss``: only orders
                               that reduce a position pass, and the account is
                               put in REDUCING
=============================  ===============================================

The day is the trading day in New York (it starts at midnight there). The day's
notional is summed from the store's intents, so it holds across every process
and host that shares the store: :class:`DayTotals` reads only the intents newer
than those it has summed. The loss is the broker's: the day's starting equity
(``last_equity``) less equity now, realised and unrealised. Each limit is off
until configured, and a configured limit fails closed on missing data.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..decisions import AGENT_SOURCES, CheckContext, Decision
from ..errors import BrokerError
from ..orders import OrderRequest
from .checks import MissingData, _Check, _fmt, order_value
from .journal import Journal
from .state import TradingState, state_decision

__all__ = ["DAILY_LOSS", "TRADING_DAY_ZONE", "DayTotals", "account_checks"]

#: Where the trading day begins and ends.
TRADING_DAY_ZONE = ZoneInfo("America/New_York")
#: The reason code that also puts the account in REDUCING (the gate does it).
DAILY_LOSS = "DAILY_LOSS_LIMIT"


def day_start(now: dt.datetime) -> dt.datetime:
    """Midnight in New York of the trading day ``now`` falls in, as UTC."""
    local = now.astimezone(TRADING_DAY_ZONE)
    midnight = dt.datetime.combine(local.date(), dt.time(), TRADING_DAY_ZONE)
    return midnight.astimezone(dt.UTC)


class DayTotals:
    """The value of one broker's admitted intents since the trading day began.

    Kept per process and brought up to date from the store before each use:
    every process's intents count, and each use reads only what is new.
    """

    def __init__(self, journal: Journal, broker: str) -> None:
        self.journal = journal
        self.broker = broker
        self._lock = threading.Lock()
        self._day: dt.datetime | None = None
        self._last = 0
        self._all = Decimal(0)
        self._agents = Decimal(0)
        self._unknown = 0

    def totals(self) -> tuple[Decimal, Decimal]:
        """(every source, agents only); :class:`MissingData` if an admitted value is unknown."""
        with self._lock:
            start = day_start(self.journal.now())
            if start != self._day:
                # Older intents stay behind the newest id there was before the query.
                self._day, self._last = start, self.journal.max_intent_id()
                self._all = self._agents = Decimal(0)
                self._unknown = 0
                fresh = self.journal.intents(broker=self.broker, since=start)
            else:
                fresh = self.journal.intents_after(self._last, self.broker)
            for intent in sorted(fresh, key=lambda i: i.intent_id):
                self._last = max(self._last, intent.intent_id)
                if intent.status == "denied":
                    continue
                if intent.value is None:
                    self._unknown += 1
                    continue
                self._all += intent.value
                if intent.source in AGENT_SOURCES:
                    self._agents += intent.value
            if self._unknown:
                raise MissingData(
                    "ACCOUNT_DATA_MISSING",
                    f"{self._unknown} of today's orders have no known value; the day's "
                    "notional cannot be summed",
                )
            return self._all, self._agents


class MaxOpenOrders(_Check):
    name = "max_open_orders"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        limit = context.config["max_open_orders"]
        if limit is None:
            return self.allow()
        try:
            count = context.open_count() + len(context.in_flight())
        except BrokerError as exc:
            raise MissingData(
                "ACCOUNT_DATA_MISSING", f"open orders could not be read: {exc.message}"
            ) from None
        if count >= limit:
            return self.deny(
                "OPEN_ORDERS_AT_MAX",
                f"{count} orders are open or in flight; max_open_orders={limit}; "
                "cancel some or wait for fills",
            )
        return self.allow()


class DailyNotional(_Check):
    name = "daily_notional"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        every = context.config["max_daily_notional"]
        agents = context.config["max_daily_notional_agent"]
        if every is None and (agents is None or context.order.source not in AGENT_SOURCES):
            return self.allow()
        if context.fetch_day_totals is None:
            raise MissingData("ACCOUNT_DATA_MISSING", "the day's traded notional is not kept")
        total, by_agents = context.fetch_day_totals()
        value = order_value(request, context)
        for limit, traded, key in (
            (every, total, "max_daily_notional"),
            (agents if context.order.source in AGENT_SOURCES else None, by_agents, None),
        ):
            if limit is not None and traded + value > limit:
                key = key or "max_daily_notional_agent"
                return self.deny(
                    "DAILY_NOTIONAL_EXCEEDS_MAX",
                    f"today's orders {_fmt(traded)} and this one {_fmt(value)} exceed "
                    f"{key} {_fmt(limit)}; the limit resets at midnight in New York",
                )
        return self.allow()


class DailyLoss(_Check):
    name = "daily_loss"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        limit = context.config["max_daily_loss"]
        if limit is None:
            return self.allow()
        try:
            account = context.account()
        except BrokerError as exc:
            raise MissingData(
                "ACCOUNT_DATA_MISSING", f"the account could not be read: {exc.message}"
            ) from None
        if account.last_equity is None or account.last_equity <= 0:
            raise MissingData(
                "ACCOUNT_DATA_MISSING",
                "the broker gives no starting equity for the day; the day's loss is unknown",
            )
        loss = account.last_equity - account.equity
        if loss < limit:
            return self.allow()
        if state_decision(TradingState.REDUCING, request, context).allowed:
            return self.allow()  # it reduces a position
        return self.deny(
            DAILY_LOSS,
            f"today's loss {_fmt(loss)} has reached max_daily_loss {_fmt(limit)}; only "
            "orders that reduce a position are accepted, and a person must resume trading",
        )


def account_checks() -> list[_Check]:
    return [MaxOpenOrders(), DailyNotional(), DailyLoss()]
