"""Answers a person gave before an order reached the gate.

Interactive approval cannot happen inside the gate's decision transaction (it
holds the journal's write lock; see ADR 0002). So an agent tool that paused its
graph with a LangGraph ``interrupt()``, or the TradingAgents bridge that called
its approval callback, holds the person's answer in :func:`answered` while it
submits; this core plugin's ``confirm_order`` hands that answer to the gate, which
journals it with the intent like any other confirmation.

The answer covers exactly one request: a different request (another quantity,
price or client order id) gets no answer from here and falls through to the
other approvers, ending with the default policy that refuses live orders.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ._markers import hookimpl
from .decisions import Approval
from .orders import OrderRequest

__all__ = ["answered"]

_answer: ContextVar[tuple[OrderRequest, Approval] | None] = ContextVar(
    "tradingagents_brokers_answer", default=None
)


@contextmanager
def answered(request: OrderRequest, approval: Approval) -> Iterator[None]:
    """While inside, ``confirm_order`` answers ``approval`` for ``request`` (and nothing else).

    >>> from tradingagents_brokers import OrderRequest
    >>> request = OrderRequest(symbol="AAPL", side="buy", qty=1)
    >>> with answered(request, Approval(True, "alice", "looks right")):
    ...     confirm_order(request)
    Approval(approved=True, approver='alice', reason='looks right')
    >>> confirm_order(request) is None
    True
    """
    token = _answer.set((request, approval))
    try:
        yield
    finally:
        _answer.reset(token)


@hookimpl(tryfirst=True)
def confirm_order(request: OrderRequest) -> Approval | None:
    given = _answer.get()
    if given is None or given[0] != request:
        return None
    return given[1]
