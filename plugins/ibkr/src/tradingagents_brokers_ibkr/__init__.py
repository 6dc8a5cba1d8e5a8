"""Interactive Brokers for tradingagents-brokers (ib_async over TWS or IB Gateway)."""
