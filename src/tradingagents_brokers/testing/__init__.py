"""Test helpers for tradingagents-brokers and its plugins (extra ``testing``).

* :mod:`tradingagents_brokers.testing.canary` - a pytest plugin that plants a
  random canary in your broker's credential variables and fails the run if it
  ever shows up in a log record, captured output, an error report or a state file.
"""
