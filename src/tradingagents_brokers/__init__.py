"""tradingagents-brokers: a broker execution layer for LLM trading agents.

Brokers are pluggy plugins; every order passes one safety gate.

>>> from tradingagents_brokers import get_broker
>>> broker = get_broker("sim", config={"state_dir": doctest_tmp})
>>> order = broker.place_order(symbol="AAPL", side="buy", qty=1)
>>> order.status.value
'filled'
>>> broker.close()
"""

from __future__ import annotations

from ._markers import hookimpl
from .broker import Broker, BrokerSettings, BrokerType, OrderQuery
from .categories import BROKER_TOOL_CATEGORIES
from .config import DEFAULT_CONFIG, get_config, load_config, reset_config, set_config
from .decisions import Approval, CheckContext, Decision, OrderContext
from .enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
    TradingMode,
)
from .errors import (
    BrokerAPIError,
    BrokerAuthenticationError,
    BrokerConfigurationError,
    BrokerError,
    BrokerRateLimitError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    JournalDamagedError,
    NotFoundError,
    NotSupportedError,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    PluginLoadError,
    Reason,
    RequestBudgetExhaustedError,
    StoreUnavailableError,
)
from .events import OrderEvent
from .gateway import GatedBroker, OrderPreview
from .host import PluginHost
from .models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    ClosePositionResult,
    Instrument,
    PortfolioHistory,
    Position,
    Quote,
)
from .orders import Order, OrderChanges, OrderRequest, StopLoss, TakeProfit
from .plugins import make_plugin_manager
from .routing import get_broker, route_to_broker

__version__ = "0.1.0"

__all__ = [
    "BROKER_TOOL_CATEGORIES",
    "DEFAULT_CONFIG",
    "Account",
    "Approval",
    "Asset",
    "Broker",
    "BrokerAPIError",
    "BrokerAuthenticationError",
    "BrokerCapabilities",
    "BrokerConfigurationError",
    "BrokerError",
    "BrokerRateLimitError",
    "BrokerSettings",
    "BrokerType",
    "BrokerUnavailableError",
    "CheckContext",
    "Clock",
    "ClosePositionResult",
    "Decision",
    "DuplicateClientOrderIdError",
    "GatedBroker",
    "Instrument",
    "InsufficientFundsError",
    "InvalidOrderError",
    "JournalDamagedError",
    "NotFoundError",
    "NotSupportedError",
    "Order",
    "OrderBlockedError",
    "OrderChanges",
    "OrderClass",
    "OrderContext",
    "OrderEvent",
    "OrderOutcomeUnknownError",
    "OrderPreview",
    "OrderQuery",
    "OrderRejectedError",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PluginHost",
    "PluginLoadError",
    "PortfolioHistory",
    "Position",
    "PositionSide",
    "Quote",
    "Reason",
    "RequestBudgetExhaustedError",
    "StopLoss",
    "StoreUnavailableError",
    "TakeProfit",
    "TimeInForce",
    "TradingMode",
    "__version__",
    "get_broker",
    "get_config",
    "hookimpl",
    "load_config",
    "make_plugin_manager",
    "reset_config",
    "route_to_broker",
    "set_config",
]
