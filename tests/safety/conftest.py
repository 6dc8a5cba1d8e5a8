"""Fixtures of the stream tests: a book broker, its host with a call counter, the gated broker."""

from __future__ import annotations

from .streaming import book, calls, clock, gated, host

__all__ = ["book", "calls", "clock", "gated", "host"]
