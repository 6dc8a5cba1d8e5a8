"""Configuration: defaults, a TOML file, environment overrides, and runtime overrides.

Precedence, lowest first:

1. :data:`DEFAULT_CONFIG`;
2. the TOML file named by ``TRADINGAGENTS_BROKERS_CONFIG`` (or ``--config``), else
   the one ``tradingagents-brokers init`` wrote, if any; its top-level keys are
   configuration keys;
3. ``TRADINGAGENTS_BROKERS_<KEY>`` environment variables (mappings as JSON, lists
   comma-separated); any other name under the prefix is an error
   (:mod:`tradingagents_brokers.environment`);
4. values given in code: :func:`set_config`, or the ``config=`` argument of
   :func:`~tradingagents_brokers.routing.get_broker`.

Mappings merge one level deep, as in TradingAgents' ``dataflows/config.py``:
``set_config({"broker_vendors": {"order_execution": "sim"}})`` keeps the other
categories. Every value is validated; a malformed one raises
:class:`~tradingagents_brokers.errors.BrokerConfigurationError` naming the key and
what it accepts, never a silent default. Credentials are not configuration: they
come from each broker's own environment variables.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ._numbers import to_decimal
from .categories import BROKER_METHODS, BROKER_TOOL_CATEGORIES, METHOD_ALIASES
from .enums import TradingMode
from .environment import CONFIG_ENV, HOME_ENV, PREFIX, config_file, key_values
from .errors import BrokerConfigurationError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "RISK_KEYS",
    "default_state_dir",
    "effective_config",
    "get_config",
    "load_config",
    "reset_config",
    "risk_limits",
    "risk_limits_hash",
    "set_config",
    "state_paths",
]

ENV_PREFIX = PREFIX

DEFAULT_CONFIG: dict[str, Any] = {
    # Keys and defaults of the origin design.
    "trading_broker": "alpaca",
    "broker_mode": "paper",
    "auto_execute_trades": False,
    "broker_vendors": dict.fromkeys(BROKER_TOOL_CATEGORIES, "default"),
    "broker_tool_vendors": {},
    "max_position_size": Decimal("0.10"),
    "max_order_value": Decimal("10000"),
    "require_confirmation": True,
    # Added keys, each with a safe default.
    "agent_tools": None,  # the tools an agent gets (docs/agents.md); None: every tool
    "state_dir": None,
    "journal_path": None,
    "blocked_plugins": [],
    "broker_options": {},
    # Risk limits of the built-in checks (see docs/safety.md).
    "allowed_symbols": [],
    "denied_symbols": [],
    "max_orders_per_minute": 30,
    "max_orders_per_second": 5,
    "duplicate_window_seconds": 10,
    "price_collar_pct": Decimal("0.10"),
    "leg_collar_pct": Decimal("0.25"),
    "quote_max_age_seconds": 120,
    # Account-level limits (docs/safety.md): None is off.
    "max_open_orders": 500,
    "max_daily_notional": None,
    "max_daily_notional_agent": None,
    "max_daily_loss": None,
    "max_agent_refusals_per_minute": 20,
    "submit_retries": 2,
    # The state cache (docs/order-path.md): risk checks read what the broker's order
    # stream keeps current, never state older than state_max_age_seconds.
    "order_stream": True,
    "state_max_age_seconds": 30,
    "quote_cache_seconds": 1,
    "quote_stream": True,
    # Many processes and hosts on one account (docs/many-processes.md): the store they
    # share (unset: the SQLite journal), and how long in-flight work belongs to its sender.
    "store_url": None,
    "store_timeout_seconds": 5,
    "max_clock_skew_seconds": 2,
    "submit_timeout_seconds": 60,
    "owner_timeout_seconds": 30,
    "reconcile_lookups": 20,
    "request_wait_max_seconds": 10,
}

#: The keys that shape risk decisions; their hash is journaled with every decision.
RISK_KEYS = (
    "broker_mode",
    "auto_execute_trades",
    "require_confirmation",
    "max_position_size",
    "max_order_value",
    "allowed_symbols",
    "denied_symbols",
    "max_orders_per_minute",
    "max_orders_per_second",
    "duplicate_window_seconds",
    "price_collar_pct",
    "leg_collar_pct",
    "quote_max_age_seconds",
    "max_open_orders",
    "max_daily_notional",
    "max_daily_notional_agent",
    "max_daily_loss",
    "max_agent_refusals_per_minute",
    "order_stream",
    "state_max_age_seconds",
    "quote_cache_seconds",
    "quote_stream",
)


class _Invalid(Exception):
    """Internal: a value did not validate; carries what the key accepts."""


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("a broker name such as 'alpaca' or 'sim'")
    return value.strip().lower()


def _mode(value: Any) -> str:
    try:
        return TradingMode(str(value).strip().lower()).value
    except ValueError:
        raise _Invalid("'paper' or 'live'") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off"}:
        return False
    raise _Invalid("true or false")


def _fraction(value: Any) -> Decimal:
    try:
        number = to_decimal(value, "value")
    except ValueError:
        raise _Invalid("a number above 0 and at most 1 (0.10 means 10%)") from None
    if not 0 < number <= 1:
        raise _Invalid("a number above 0 and at most 1 (0.10 means 10%)")
    return number


def _money(value: Any) -> Decimal:
    try:
        number = to_decimal(value, "value")
    except ValueError:
        raise _Invalid("a positive amount of money, e.g. 10000") from None
    if number <= 0:
        raise _Invalid("a positive amount of money, e.g. 10000")
    return number


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, or None (off) for None, an empty string or "off"."""

    def optional(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        try:
            return check(value)
        except _Invalid as exc:
            raise _Invalid(f"{exc}, or 'off'") from None

    return optional


def _path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | os.PathLike):
        raise _Invalid("a directory path")
    return os.fspath(value)


def _url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Invalid("a database URL such as postgresql://user@host:5432/db")
    return value.strip()


def _seconds(value: Any, *, zero: bool = False) -> float:
    lowest = "0" if zero else "above 0"
    try:
        number = to_decimal(value, "value")
    except ValueError:
        raise _Invalid(f"a number of seconds, {lowest} and at most 86400") from None
    if number < 0 or (number == 0 and not zero) or number > 86_400:
        raise _Invalid(f"a number of seconds, {lowest} and at most 86400")
    return float(number)


def _seconds_or_zero(value: Any) -> float:
    return _seconds(value, zero=True)


def _names(value: Any) -> list[str]:
    if isinstance(value, str) and value.lstrip().startswith("["):  # a JSON list
        try:
            value = json.loads(value)
        except ValueError:
            raise _Invalid("a JSON list of names, or names separated by commas") from None
    elif isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _Invalid("a list of names")
    return [v.strip() for v in value]


def _tool_names(value: Any) -> list[str] | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return None
    accepts = "a list of tool names such as ['get_orders', 'cancel_order'], or 'all'"
    try:
        names = list(dict.fromkeys(_names(value)))
    except _Invalid:
        raise _Invalid(accepts) from None
    if not names or not all(names):
        raise _Invalid(accepts)
    return names


def _symbols(value: Any) -> list[str]:
    from .errors import InvalidOrderError
    from .orders import normalize_symbol

    try:
        return sorted({normalize_symbol(v) for v in _names(value)})
    except InvalidOrderError as exc:
        raise _Invalid(f"a list of plain ASCII tickers ({exc.message})") from None


def _count(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise _Invalid(f"a whole number of at least {minimum}")
        return number

    return check


def _vendor_map(
    keys: frozenset[str] | None, what: str, aliases: Mapping[str, str] | None = None
) -> Callable[[Any], dict[str, str]]:
    """A mapping of ``keys`` (or their ``aliases``, stored as the key they name) to brokers."""
    names = aliases or {}

    def check(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise _Invalid(f"a mapping of {what} to a broker name")
        result: dict[str, str] = {}
        for key, broker in value.items():
            if keys is not None and key not in keys and key not in names:
                known = ", ".join(sorted(keys | names.keys()))
                raise _Invalid(f"a mapping whose keys are {what}: {known}")
            canonical = names.get(str(key), str(key))
            chosen = _name(broker)
            if result.get(canonical, chosen) != chosen:
                raise _Invalid(f"one broker for {canonical!r} (it was also given by another name)")
            result[canonical] = chosen
        return result

    return check


def _options(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise _Invalid("a mapping of broker name to that broker's options (a table per broker)")
    return {str(k).lower(): dict(v) for k, v in value.items()}


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "trading_broker": _name,
    "broker_mode": _mode,
    "auto_execute_trades": _bool,
    "broker_vendors": _vendor_map(frozenset(BROKER_TOOL_CATEGORIES), "categories"),
    "broker_tool_vendors": _vendor_map(BROKER_METHODS, "method names", METHOD_ALIASES),
    "max_position_size": _fraction,
    "max_order_value": _money,
    "require_confirmation": _bool,
    "agent_tools": _tool_names,
    "state_dir": _path,
    "journal_path": _path,
    "blocked_plugins": _names,
    "broker_options": _options,
    "allowed_symbols": _symbols,
    "denied_symbols": _symbols,
    "max_orders_per_minute": _count(1),
    "max_orders_per_second": _count(1),
    "duplicate_window_seconds": _count(0),
    "price_collar_pct": _fraction,
    "leg_collar_pct": _fraction,
    "quote_max_age_seconds": _count(1),
    "max_open_orders": _optional(_count(1)),
    "max_daily_notional": _optional(_money),
    "max_daily_notional_agent": _optional(_money),
    "max_daily_loss": _optional(_money),
    "max_agent_refusals_per_minute": _optional(_count(1)),
    "submit_retries": _count(0),
    "order_stream": _bool,
    "state_max_age_seconds": _count(1),
    "quote_cache_seconds": _count(0),
    "quote_stream": _bool,
    "store_url": _url,
    "store_timeout_seconds": _seconds,
    "max_clock_skew_seconds": _seconds,
    "submit_timeout_seconds": _seconds,
    "owner_timeout_seconds": _seconds,
    "reconcile_lookups": _count(0),
    "request_wait_max_seconds": _seconds_or_zero,
}

#: Keys whose value may hold a password: never repeated in a message.
_SECRET_KEYS = frozenset({"store_url"})
_MERGED = frozenset({"broker_vendors", "broker_tool_vendors", "broker_options"})
_JSON_KEYS = frozenset({"broker_vendors", "broker_tool_vendors", "broker_options"})


def _validate(key: str, value: Any, origin: str) -> Any:
    check = _VALIDATORS.get(key)
    if check is None:
        known = ", ".join(sorted(_VALIDATORS))
        raise BrokerConfigurationError(
            f"unknown configuration key {key!r} (from {origin}); known keys: {known}",
            details={"key": key},
        )
    try:
        return check(value)
    except _Invalid as exc:
        shown = "a value that is not shown" if key in _SECRET_KEYS else repr(value)
        raise BrokerConfigurationError(
            f"configuration key {key!r} (from {origin}) is malformed: got {shown}; "
            f"it accepts {exc}",
            details={"key": key, "accepts": str(exc)},
        ) from None


def _merge(base: dict[str, Any], updates: Mapping[str, Any], origin: str) -> dict[str, Any]:
    result = dict(base)
    for key, raw in updates.items():
        value = _validate(key, raw, origin)
        if key in _MERGED and isinstance(result.get(key), dict):
            merged = dict(result[key])
            merged.update(value)
            result[key] = merged
        else:
            result[key] = value
    return result


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise BrokerConfigurationError(
            f"configuration file {path} does not exist; fix {CONFIG_ENV} or --config"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise BrokerConfigurationError(
            f"configuration file {path} is not valid TOML: {exc}"
        ) from None


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Resolve the configuration: defaults, file, environment, then ``overrides``."""
    env = os.environ if environ is None else environ
    config = copy.deepcopy(DEFAULT_CONFIG)
    file_path = path if path is not None else config_file(env)
    if file_path:
        config = _merge(config, _read_file(Path(file_path)), f"file {file_path}")
    for key, value in key_values(env, _VALIDATORS, _JSON_KEYS).items():
        config = _merge(config, {key: value}, f"environment variable {ENV_PREFIX}{key.upper()}")
    if overrides:
        config = _merge(config, overrides, "code")
    return config


_runtime: dict[str, Any] = {}


def set_config(config: Mapping[str, Any]) -> None:
    """Override configuration keys for this process (mappings merge one level deep).

    Values are validated first; on error nothing changes.
    """
    _runtime.update(_merge(_runtime, config, "set_config()"))


def get_config() -> dict[str, Any]:
    """The effective configuration: defaults, file, environment, then :func:`set_config`."""
    return load_config(_runtime)


def effective_config(
    overrides: Mapping[str, Any] | None = None, *, path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """:func:`get_config` with ``overrides`` merged on top (and the file at ``path``, if given)."""
    config = load_config(_runtime, path=path)
    return _merge(config, overrides, "code") if overrides else config


def risk_limits(config: Mapping[str, Any]) -> dict[str, Any]:
    """The limits in force, as JSON (journaled once under :func:`risk_limits_hash`)."""
    limits = {key: config.get(key) for key in RISK_KEYS}
    result: dict[str, Any] = json.loads(json.dumps(limits, sort_keys=True, default=str))
    return result


def risk_limits_hash(config: Mapping[str, Any]) -> str:
    """A short hash of the limits in force, journaled with every risk decision."""
    text = json.dumps(risk_limits(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_paths(config: Mapping[str, Any]) -> tuple[Path, Path]:
    """The state directory and the journal file of ``config``."""
    state_dir = Path(config.get("state_dir") or default_state_dir())
    journal = Path(config.get("journal_path") or state_dir / "journal.db")
    return state_dir, journal


def reset_config() -> None:
    """Forget every :func:`set_config` override."""
    _runtime.clear()


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where state lives when ``state_dir`` is unset.

    ``$TRADINGAGENTS_BROKERS_HOME``, else ``$XDG_STATE_HOME/tradingagents-brokers``,
    else ``~/.local/state/tradingagents-brokers``.
    """
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV])
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "tradingagents-brokers"
