"""Bridges to agent frameworks that do not import them (see :mod:`.tradingagents`)."""
