"""Interactive Brokers for tradingagents-brokers (ib_async over TWS or IB Gateway)."""

__version__ = "0.1.0"
