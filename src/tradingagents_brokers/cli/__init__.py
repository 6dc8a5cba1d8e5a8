"""The ``tradingagents-brokers`` command line."""
