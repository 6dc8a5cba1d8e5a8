"""Alpaca broker plugin for tradingagents-brokers.

The entry module, :mod:`tradingagents_brokers_alpaca.plugin`, is cheap to import:
alpaca-py (and pandas with it) is imported only when an Alpaca broker is built.
"""

__version__ = "0.1.0"
