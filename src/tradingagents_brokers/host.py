"""The typed facade over the plugin manager: the one place that calls ``pm.hook``.

pluggy cannot type ``pm.hook.x(...)``; like tox, we put one small typed class in
front of the manager and route every hook call through it. The gate
(:mod:`tradingagents_brokers.gateway`) and the CLI talk to plugins only here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._install import plugin_line
from .broker import Broker, BrokerSettings, BrokerType, OrderQuery
from .config import default_state_dir
from .decisions import Approval, CheckContext, Decision, OrderContext
from .enums import TradingMode
from .errors import BrokerConfigurationError, BrokerError, PluginLoadError
from .events import OrderEvent
from .models import (
    Account,
    Asset,
    Clock,
    ClosePositionResult,
    Instrument,
    PortfolioHistory,
    Position,
    Quote,
)
from .orders import Order, OrderChanges, OrderRequest
from .plugins import BrokerPluginManager, PluginInfo, make_plugin_manager
from .store.backend import Backend
from .store.budget import DEFAULT_MAX_WAIT, LocalRequestBudget, RequestBudget, SlidingBudget
from .streams import OrderStream, OrderUpdateListener, QuoteListener, QuoteStream
from .waits import activity, describe

if TYPE_CHECKING:
    from .gateway import GatedBroker

__all__ = ["TOOL_NAME", "PluginHost"]

log = logging.getLogger("tradingagents.broker")
T = TypeVar("T")

#: The core's ``confirm_order`` plugins, which answer at once.
INSTANT_APPROVERS = frozenset({"approvals", "confirmation"})
#: Tool names agents can call: what OpenAI and Anthropic accept.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class PluginHost:
    """Plugins of one process: the broker types they offer and typed calls of every hook."""

    def __init__(self, pm: BrokerPluginManager) -> None:
        self.pm = pm

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PluginHost:
        return cls(make_plugin_manager(blocked=config.get("blocked_plugins", ())))

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        return dict(self.pm.info)

    # -- discovery -----------------------------------------------------------------

    @cached_property
    def broker_types(self) -> dict[str, BrokerType]:
        """Every registered broker type by name; two plugins claiming one name is an error."""
        found: dict[str, BrokerType] = {}
        owner: dict[str, str] = {}
        for impl in self.pm.hook.register_brokers.get_hookimpls():
            offered = cast(Iterable[object], impl.function() or ())
            for broker_type in offered:
                if not isinstance(broker_type, BrokerType):
                    raise PluginLoadError(
                        f"plugin {impl.plugin_name!r} registered {broker_type!r}, which is not "
                        "a BrokerType; return BrokerType(name=..., factory=...) instances"
                    )
                if broker_type.name in found:
                    raise PluginLoadError(
                        f"broker type {broker_type.name!r} is registered by two plugins: "
                        f"{owner[broker_type.name]!r} and {impl.plugin_name!r}; uninstall or "
                        "block one of them (TRADINGAGENTS_BROKERS_BLOCK=name)",
                        details={"broker": broker_type.name},
                    )
                found[broker_type.name] = broker_type
                owner[broker_type.name] = impl.plugin_name
        self._owners = owner
        return found

    def broker_owner(self, name: str) -> str:
        """The plugin that registered broker type ``name``."""
        self.broker_type(name)
        return self._owners[name]

    def broker_type(self, name: str) -> BrokerType:
        try:
            return self.broker_types[name]
        except KeyError:
            installed = ", ".join(sorted(self.broker_types)) or "none"
            line = plugin_line(name)
            plugin = (
                f"to use {name}, install its plugin from a checkout of the source tree: {line}"
                if line
                else f"or install the plugin that provides {name!r}"
            )
            raise BrokerConfigurationError(
                f"no broker named {name!r} is installed (installed: {installed}); "
                "to trade offline on the simulated broker instead, run: "
                f"tradingagents-brokers init --broker sim; {plugin}",
                details={"broker": name, "install": line},
            ) from None

    def build_broker(
        self, name: str, config: Mapping[str, Any], *, store: Backend | None = None
    ) -> Broker:
        """Build one broker instance of type ``name`` from the configuration.

        With the journal's ``store``, the broker's request budget is shared with every
        process on it (``BrokerSettings.request_budget``).
        """
        broker_type = self.broker_type(name)
        state_dir = Path(config.get("state_dir") or default_state_dir())
        mode = TradingMode(config["broker_mode"])
        max_wait = float(config.get("request_wait_max_seconds", DEFAULT_MAX_WAIT))

        def budget(per_minute: int, scope: str | None = None) -> SlidingBudget:
            key = f"{name}:{mode.value}" + (f":{scope}" if scope else "")
            if store is None:
                return LocalRequestBudget(key, per_minute, max_wait=max_wait)
            return RequestBudget(store, key, per_minute, max_wait=max_wait)

        settings = BrokerSettings(
            name=name,
            mode=mode,
            options=dict(config.get("broker_options", {}).get(name, {})),
            state_dir=state_dir,
            request_budget=budget,
        )
        with activity(describe("build_broker", name)):
            broker: object = broker_type.factory(settings)
        if not isinstance(broker, Broker):
            missing = sorted(attr for attr in _protocol_members() if not hasattr(broker, attr))
            raise PluginLoadError(
                f"broker type {name!r} built {type(broker).__name__}, which lacks "
                f"{', '.join(missing)}; implement every method of the Broker protocol"
            )
        return broker

    def missing_credentials(self, name: str, mode: TradingMode) -> list[str]:
        return self.broker_type(name).missing_credentials(mode, os.environ)

    # -- operations ----------------------------------------------------------------

    def _first(self, hook: str, **kwargs: Any) -> Any:
        with activity(describe(hook, kwargs["broker_name"])):
            result = getattr(self.pm.hook, hook)(**kwargs)
        if result is None:
            raise BrokerError(f"no plugin answered {hook!r} for broker {kwargs['broker_name']!r}")
        return result

    def place_order(self, broker_name: str, broker: Broker, request: OrderRequest) -> Order:
        result: Order = self._first(
            "place_order", broker_name=broker_name, broker=broker, request=request
        )
        return result

    def cancel_order(
        self, broker_name: str, broker: Broker, order_id: str, symbol: str | None = None
    ) -> None:
        with activity(describe("cancel_order", broker_name)):
            self.pm.hook.cancel_order(
                broker_name=broker_name, broker=broker, order_id=order_id, symbol=symbol
            )

    def replace_order(
        self, broker_name: str, broker: Broker, order_id: str, changes: OrderChanges
    ) -> Order:
        result: Order = self._first(
            "replace_order",
            broker_name=broker_name,
            broker=broker,
            order_id=order_id,
            changes=changes,
        )
        return result

    def get_order(
        self, broker_name: str, broker: Broker, order_id: str, symbol: str | None = None
    ) -> Order:
        result: Order = self._first(
            "get_order", broker_name=broker_name, broker=broker, order_id=order_id, symbol=symbol
        )
        return result

    def get_order_by_client_id(
        self, broker_name: str, broker: Broker, client_order_id: str, symbol: str | None = None
    ) -> Order:
        result: Order = self._first(
            "get_order_by_client_id",
            broker_name=broker_name,
            broker=broker,
            client_order_id=client_order_id,
            symbol=symbol,
        )
        return result

    def get_orders(
        self,
        broker_name: str,
        broker: Broker,
        status: OrderQuery,
        limit: int | None,
        symbols: Sequence[str] | None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        result: list[Order] = self._first(
            "get_orders",
            broker_name=broker_name,
            broker=broker,
            status=status,
            limit=limit,
            symbols=symbols,
            after=after,
            until=until,
        )
        return result

    def get_positions(self, broker_name: str, broker: Broker) -> list[Position]:
        result: list[Position] = self._first(
            "get_positions", broker_name=broker_name, broker=broker
        )
        return result

    def get_position(self, broker_name: str, broker: Broker, symbol: str) -> Position:
        result: Position = self._first(
            "get_position", broker_name=broker_name, broker=broker, symbol=symbol
        )
        return result

    def close_position(
        self, broker_name: str, broker: Broker, symbol: str, qty: Any, percentage: Any
    ) -> Order:
        result: Order = self._first(
            "close_position",
            broker_name=broker_name,
            broker=broker,
            symbol=symbol,
            qty=qty,
            percentage=percentage,
        )
        return result

    def close_all_positions(
        self, broker_name: str, broker: Broker, cancel_orders: bool
    ) -> list[ClosePositionResult]:
        result: list[ClosePositionResult] = self._first(
            "close_all_positions",
            broker_name=broker_name,
            broker=broker,
            cancel_orders=cancel_orders,
        )
        return result

    def get_account(self, broker_name: str, broker: Broker) -> Account:
        result: Account = self._first("get_account", broker_name=broker_name, broker=broker)
        return result

    def get_portfolio_history(
        self, broker_name: str, broker: Broker, period: str | None, timeframe: str | None
    ) -> PortfolioHistory:
        result: PortfolioHistory = self._first(
            "get_portfolio_history",
            broker_name=broker_name,
            broker=broker,
            period=period,
            timeframe=timeframe,
        )
        return result

    def get_clock(self, broker_name: str, broker: Broker) -> Clock:
        result: Clock = self._first("get_clock", broker_name=broker_name, broker=broker)
        return result

    def get_asset(self, broker_name: str, broker: Broker, symbol: str) -> Asset:
        result: Asset = self._first(
            "get_asset", broker_name=broker_name, broker=broker, symbol=symbol
        )
        return result

    def get_instrument(self, broker_name: str, broker: Broker, symbol: str) -> Instrument:
        result: Instrument = self._first(
            "get_instrument", broker_name=broker_name, broker=broker, symbol=symbol
        )
        return result

    def get_quote(self, broker_name: str, broker: Broker, symbol: str) -> Quote:
        result: Quote = self._first(
            "get_quote", broker_name=broker_name, broker=broker, symbol=symbol
        )
        return result

    def subscribe_order_updates(
        self, broker_name: str, broker: Broker, listener: OrderUpdateListener
    ) -> OrderStream | None:
        """The broker's order update stream, or None when nothing offers one."""
        with activity(describe("subscribe_order_updates", broker_name)):
            stream: OrderStream | None = self.pm.hook.subscribe_order_updates(
                broker_name=broker_name, broker=broker, listener=listener
            )
        if stream is not None and not isinstance(stream, OrderStream):
            raise PluginLoadError(
                f"subscribe_order_updates for broker {broker_name!r} returned "
                f"{type(stream).__name__}, which has no poll() and close(); return an OrderStream"
            )
        return stream

    def subscribe_quotes(
        self, broker_name: str, broker: Broker, listener: QuoteListener
    ) -> QuoteStream | None:
        """The broker's quote stream, or None when nothing offers one."""
        with activity(describe("subscribe_quotes", broker_name)):
            stream: QuoteStream | None = self.pm.hook.subscribe_quotes(
                broker_name=broker_name, broker=broker, listener=listener
            )
        if stream is not None and not isinstance(stream, QuoteStream):
            raise PluginLoadError(
                f"subscribe_quotes for broker {broker_name!r} returned "
                f"{type(stream).__name__}, which has no want() and close(); return a QuoteStream"
            )
        return stream

    # -- safety, approval, events, tools ---------------------------------------------

    def check_order(self, request: OrderRequest, context: CheckContext) -> list[Decision]:
        """One decision per ``check_order`` implementation; fails closed.

        Each implementation is called on its own (not through ``pm.hook``, which
        drops ``None`` results and stops at the first exception): nothing returned,
        a wrong type, or an exception each become a denial naming the plugin.
        """
        decisions: list[Decision] = []
        values = {"request": request, "context": context}
        for impl in self.pm.hook.check_order.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r} wraps check_order; risk checks cannot be "
                    "wrapped (a wrapper could hide a denial)"
                )
            try:
                result = impl.function(*(values[name] for name in impl.argnames))
            except Exception as exc:  # noqa: BLE001 - any failure of a check denies (fail closed)
                decisions.append(
                    Decision.deny(
                        impl.plugin_name,
                        "RISK_CHECK_ERROR",
                        f"check {impl.plugin_name!r} failed ({type(exc).__name__}); "
                        "the order is denied until it can decide",
                    )
                )
                continue
            if not isinstance(result, Decision):
                decisions.append(
                    Decision.deny(
                        impl.plugin_name,
                        "RISK_CHECK_NO_DECISION",
                        f"check {impl.plugin_name!r} returned {type(result).__name__}, "
                        "not a Decision; the order is denied",
                    )
                )
                continue
            decisions.append(result)
        return decisions

    def approvers_answer_at_once(self) -> bool:
        """Whether every ``confirm_order`` implementation is one of the core's own.

        The core's approvers (the relay of an answer given before the order, and the
        default policy) answer at once; any other may wait for a person.
        """
        return all(
            impl.plugin_name in INSTANT_APPROVERS
            for impl in self.pm.hook.confirm_order.get_hookimpls()
        )

    def confirm_order(
        self, request: OrderRequest, context: OrderContext, broker_name: str, mode: TradingMode
    ) -> Approval:
        """The first approver's answer; an exception or no answer refuses the order."""
        try:
            answer = self.pm.hook.confirm_order(
                request=request, context=context, broker_name=broker_name, mode=mode.value
            )
        except Exception as exc:  # noqa: BLE001 - a failing approver refuses (fail closed)
            return Approval(False, "error", f"the approver failed ({type(exc).__name__})")
        if not isinstance(answer, Approval):
            return Approval(False, "none", "no approver answered")
        return answer

    def emit(self, event: OrderEvent) -> None:
        """Tell every ``on_order_event`` implementation; one failing does not stop the others."""
        for impl in reversed(self.pm.hook.on_order_event.get_hookimpls()):
            try:
                impl.function(event)
            except Exception:
                log.exception("on_order_event of plugin %r failed", impl.plugin_name)

    def tools(self, broker_name: str, gateway: GatedBroker, config: Mapping[str, Any]) -> list[Any]:
        """Tools offered by plugins through ``register_tools``, with their names checked."""
        values = {"broker_name": broker_name, "gateway": gateway, "config": config}
        tools: list[Any] = []
        seen: dict[str, str] = {}
        for impl in self.pm.hook.register_tools.get_hookimpls():
            offered = cast(
                Iterable[object], impl.function(*(values[n] for n in impl.argnames)) or ()
            )
            for tool in offered:
                name = getattr(tool, "name", None)
                if not isinstance(name, str) or not TOOL_NAME.match(name):
                    raise PluginLoadError(
                        f"plugin {impl.plugin_name!r} offered a tool named {name!r}; tool "
                        "names must match ^[a-zA-Z0-9_-]{1,64}$"
                    )
                if name in seen:
                    raise PluginLoadError(
                        f"tool {name!r} is offered by {seen[name]!r} and {impl.plugin_name!r}"
                    )
                seen[name] = impl.plugin_name
                tools.append(tool)
        return tools


def _protocol_members() -> list[str]:
    return sorted(name for name in dir(Broker) if not name.startswith("_"))
