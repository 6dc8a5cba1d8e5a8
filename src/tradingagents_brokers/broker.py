"""What a broker is to the core: the :class:`Broker` protocol and :class:`BrokerType`.

A broker is a plain class; it does not inherit from anything of ours. Plugins
register broker *types* (a name, a factory, a description, capabilities) through
the ``register_brokers`` hook, and the core builds instances from configuration,
so several accounts and brokers can live in one process.

Nothing outside the core's order path calls a broker's ``place_order``: callers
use :class:`~tradingagents_brokers.gateway.GatedBroker`, which validates and gates
every order first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from .enums import TradingMode
from .models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    ClosePositionResult,
    PortfolioHistory,
    Position,
    Quote,
)
from .orders import Order, OrderChanges, OrderRequest
from .store.budget import local_request_budget

if TYPE_CHECKING:
    from .store.budget import SlidingBudget

__all__ = ["Broker", "BrokerFactory", "BrokerSettings", "BrokerType", "OrderQuery"]

#: Which orders :meth:`Broker.get_orders` returns.
OrderQuery = Literal["open", "closed", "all"]


@runtime_checkable
class Broker(Protocol):
    """The operations every broker class provides.

    Errors are raised as :mod:`tradingagents_brokers.errors` classes, never as SDK
    exceptions (those can carry credentials). Money is ``Decimal``.
    """

    @property
    def capabilities(self) -> BrokerCapabilities:
        """What this broker supports."""
        ...

    def place_order(self, request: OrderRequest) -> Order:
        """Send ``request``; ``request.client_order_id`` is always set and must reach the broker.

        Raise :class:`~tradingagents_brokers.errors.DuplicateClientOrderIdError` when the
        broker already holds that id, and
        :class:`~tradingagents_brokers.errors.OrderOutcomeUnknownError` when the order may
        have been received (timeout or reset after sending, a 5xx answer). The core
        counts a :class:`~tradingagents_brokers.errors.BrokerRateLimitError` (a 429) the
        same way: it looks the order up by its client order id and sends it again, with
        the same id, only if the broker does not have it. Raise
        :class:`~tradingagents_brokers.errors.BrokerUnavailableError` only when you know
        nothing left this process. The full table is in ``docs/contract.md``.
        """
        ...

    def cancel_order(self, order_id: str) -> None:
        """Ask the broker to cancel an open order. A cancel can lose the race to a fill.

        Return once the broker has taken the request; the order's ``canceled`` status
        comes later. An order that is already filled, canceled or expired raises
        :class:`~tradingagents_brokers.errors.InvalidOrderError` saying its status; an
        unknown id raises :class:`~tradingagents_brokers.errors.NotFoundError`.
        """
        ...

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        """Replace an open order; returns the new order (brokers usually give it a new id).

        The replacement carries ``changes.client_order_id``. A broker that modifies
        the order in place returns it under its old id with the new terms.
        """
        ...

    def get_order(self, order_id: str) -> Order:
        """Look an order up by the broker's id; :class:`NotFoundError` if there is none."""
        ...

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        """Look an order up by the caller's id; :class:`NotFoundError` if there is none."""
        ...

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        """Orders, newest first; ``limit=None`` means all of them (follow the broker's pages).

        ``after`` and ``until`` (timezone-aware, both exclusive) keep the orders submitted
        strictly between them, so a caller pages back with ``until`` set to the oldest
        ``submitted_at`` it has seen. The core passes them only when set, and only to a
        broker whose ``get_orders`` names them; for an older plugin it lists everything and
        filters itself.
        """
        ...

    def get_positions(self) -> list[Position]:
        """Every open position."""
        ...

    def get_position(self, symbol: str) -> Position:
        """One open position; :class:`NotFoundError` if there is none."""
        ...

    def close_position(self, symbol: str, qty: Any = None, percentage: Any = None) -> Order:
        """Close all of a position, ``qty`` shares of it, or ``percentage`` percent of it."""
        ...

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResult]:
        """Close every position, reporting each symbol's outcome separately."""
        ...

    def get_account(self) -> Account:
        """Balances of the account."""
        ...

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        """Equity over time. ``period`` like ``"1M"``, ``timeframe`` like ``"1D"``."""
        ...

    def get_clock(self) -> Clock:
        """Whether the market is open."""
        ...

    def get_asset(self, symbol: str) -> Asset:
        """Whether a symbol is tradable, fractionable and shortable.

        Raise :class:`NotFoundError` for an unknown symbol.
        """
        ...

    def get_quote(self, symbol: str) -> Quote:
        """The latest reference price of ``symbol`` (for risk checks and previews)."""
        ...

    def close(self) -> None:
        """Release connections and files. Called once when the broker is no longer used."""
        ...


@attrs.frozen(kw_only=True)
class BrokerSettings:
    """What a broker factory is given to build one broker instance.

    ``options`` is ``config["broker_options"][name]``. Credentials are *not* here:
    a plugin reads its own environment variables, so they never pass through the
    configuration, its reprs or its files.
    """

    name: str
    mode: TradingMode
    options: Mapping[str, Any] = attrs.field(factory=dict)
    state_dir: Path = attrs.field(factory=Path.cwd)
    #: The account's request budget: ``request_budget(per_minute, scope=None)``
    #: returns a budget whose ``acquire()`` the plugin calls before each request
    #: (``store/budget.py``). Built by the core, it is kept in the journal's store
    #: and shared by every process and host on it; ``scope`` names a second limit of
    #: the same account (Alpaca counts market-data requests apart). Built by hand,
    #: it is a budget of this process alone.
    request_budget: Callable[..., SlidingBudget] = attrs.field(
        default=local_request_budget, repr=False
    )


#: Builds a broker from settings. Import the broker's SDK inside the factory,
#: never at the plugin module's top level, so discovery stays cheap.
BrokerFactory = Callable[[BrokerSettings], Broker]


@attrs.frozen(kw_only=True)
class BrokerType:
    """A kind of broker that a plugin offers: ``register_brokers`` yields these.

    ``credential_env`` maps a mode ("paper", "live") to the environment variables
    that mode needs; ``doctor`` reports which are set (never their values) and the
    live gate refuses live trading while any is missing. ``optional_credential_env``
    names the ones a mode may use without needing them.
    """

    name: str = attrs.field()
    factory: BrokerFactory = attrs.field(repr=False)
    description: str = ""
    capabilities: BrokerCapabilities = attrs.field(factory=BrokerCapabilities)
    credential_env: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: Variables a mode may use but does not need (an exchange's passphrase): ``doctor``
    #: reports them and the canary plants its value in them; the live gate ignores them.
    optional_credential_env: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @name.validator
    def _check_name(self, _attr: Any, value: str) -> None:
        if not (isinstance(value, str) and value.isidentifier() and value.islower()):
            raise ValueError(
                f"broker type name {value!r} must be a lower-case identifier like 'alpaca'"
            )

    def missing_credentials(self, mode: TradingMode, environ: Mapping[str, str]) -> list[str]:
        """Names of this mode's credential variables that are unset or empty."""
        return [var for var in self.credential_env.get(mode.value, ()) if not environ.get(var)]
