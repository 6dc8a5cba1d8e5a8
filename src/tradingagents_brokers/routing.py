"""Routing: :func:`get_broker` and :func:`route_to_broker`, in the style of TradingAgents.

``route_to_broker(method, **kwargs)`` picks the broker for ``method`` from
``broker_tool_vendors`` (per method), then ``broker_vendors`` (per category of
:data:`~tradingagents_brokers.categories.BROKER_TOOL_CATEGORIES`; ``"default"``
means ``trading_broker``), then ``trading_broker``. It never falls through to a
second broker: one method, one broker. Results are JSON-safe dicts.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Mapping
from typing import Any

from ._serialize import to_contract, to_json
from .categories import canonical_method, category_for_method
from .config import effective_config
from .errors import (
    BrokerAuthenticationError,
    BrokerConfigurationError,
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderBlockedError,
    OrderRejectedError,
)
from .gateway import GatedBroker
from .host import PluginHost
from .store import open_journal

__all__ = ["broker_for_method", "clear_route_cache", "get_broker", "route_to_broker"]


def get_broker(
    name: str | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    host: PluginHost | None = None,
) -> GatedBroker:
    """The gated broker ``name`` (default: ``trading_broker``), built from the configuration.

    ``config`` holds overrides on top of :func:`~tradingagents_brokers.config.get_config`.
    Close it when done (or use it as a context manager).
    """
    resolved = effective_config(config)
    plugin_host = host or PluginHost.from_config(resolved)
    broker_name = (name or resolved["trading_broker"]).strip().lower()
    plugin_host.broker_type(broker_name)  # an unknown broker is named before the store opens
    journal = open_journal(resolved)
    try:
        broker = plugin_host.build_broker(broker_name, resolved, store=journal.backend)
    except BaseException:
        journal.close()
        raise
    try:
        return GatedBroker(plugin_host, broker_name, broker, resolved, journal, owns_journal=True)
    except BaseException:
        broker.close()
        journal.close()
        raise


def broker_for_method(method: str, config: Mapping[str, Any]) -> str:
    """The broker that serves ``method`` under ``config``; ``ValueError`` for an unknown method.

    The origin design's names are aliases (``get_order_status``, ``modify_order``).
    """
    category = category_for_method(method)
    method = canonical_method(method)
    chosen = config["broker_tool_vendors"].get(method)
    if not chosen:
        chosen = config["broker_vendors"].get(category, "default")
    if chosen == "default":
        chosen = config["trading_broker"]
    return str(chosen)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[str, GatedBroker]] = {}


def _gated(name: str, config: Mapping[str, Any]) -> GatedBroker:
    key = json.dumps(config, sort_keys=True, default=str)
    with _cache_lock:
        cached = _cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        gated = get_broker(name, config=config)
        if cached is not None:
            cached[1].close()
        _cache[name] = (key, gated)
        return gated


def clear_route_cache() -> None:
    """Close and forget the brokers :func:`route_to_broker` keeps between calls."""
    with _cache_lock:
        for _, gated in _cache.values():
            gated.close()
        _cache.clear()


def route_to_broker(method: str, **kwargs: Any) -> Any:
    """Call ``method`` on the broker routed for it and return a JSON-safe result.

    >>> route_to_broker("no_such_method")
    Traceback (most recent call last):
    ...
    ValueError: unknown broker method 'no_such_method'; known methods: ...

    The origin design's method names work too: ``get_order_status`` is
    ``get_order`` and ``modify_order`` is ``replace_order``.

    Insufficient funds, invalid orders and gate refusals come back as the error
    dict (``error, message, code, details``) so an agent can react; live mode
    without ``auto_execute_trades`` comes back as ``{"status": "blocked", ...}``;
    an authentication failure raises ``BrokerConfigurationError``; anything
    unexpected is raised as ``BrokerError``.
    """
    config = effective_config()
    name = broker_for_method(method, config)
    method = canonical_method(method)
    gated = _gated(name, config)
    operation = getattr(gated, method, None)
    if operation is None or (method == "replace_order" and not gated.capabilities.replace):
        raise ValueError(f"broker {name!r} does not offer {method!r}")
    try:
        inspect.signature(operation).bind(**kwargs)
    except TypeError as exc:
        raise InvalidOrderError(f"{method}: {exc}; check the argument names") from None
    try:
        result = operation(**kwargs)
    except OrderBlockedError as exc:
        return {"status": "blocked", "message": exc.message}
    except (InsufficientFundsError, InvalidOrderError, OrderRejectedError) as exc:
        return exc.to_dict()
    except BrokerAuthenticationError as exc:
        raise BrokerConfigurationError(
            f"broker {name!r} refused the credentials: {exc.message}; check its environment "
            "variables (tradingagents-brokers doctor lists them)"
        ) from None
    except BrokerError:
        raise
    except Exception as exc:
        raise BrokerError(
            f"unexpected error in {method} on broker {name!r} ({type(exc).__name__}): {exc}"
        ) from exc
    return _jsonable(method, result, kwargs)


def _jsonable(method: str, result: Any, kwargs: Mapping[str, Any]) -> Any:
    if method == "cancel_order":
        return {"status": "cancel_requested", "order_id": kwargs.get("order_id")}
    if method == "cancel_all_orders":
        return {"status": "cancel_requested", "order_ids": result}
    if method == "get_buying_power":
        return {"buying_power": to_json(result)}
    return to_contract(result)
