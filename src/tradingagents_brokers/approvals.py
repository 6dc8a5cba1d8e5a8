"""Answers a person gave before an order reached the gate.

Interactive approval cannot happen inside the gate's decision transaction (it
holds the journal's write lock; see ADR 0002). So whoever asks a person first -
the CLI prompt, an agent tool that paused its graph with a LangGraph
``interrupt()``, the TradingAgents bridge's approval callback - holds the answer
in :func:`answered` while it submits; this core plugin's ``confirm_order`` hands
that answer to the gate, which journals it like any other confirmation.

The answer covers exactly the requests it was given for: any other request
(another quantity, price or client order id) gets no answer from here and falls
through to the other approvers, ending with the default policy that refuses live
orders. :func:`read_answer` and :func:`ask_callback` turn what a person or a
callback said into an :class:`~tradingagents_brokers.decisions.Approval`,
refusing anything they cannot read (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from ._markers import hookimpl
from .decisions import Approval
from .orders import OrderRequest

__all__ = ["answered", "ask_callback", "read_answer"]

T = TypeVar("T")

_answer: ContextVar[tuple[tuple[OrderRequest, ...], Approval] | None] = ContextVar(
    "tradingagents_brokers_answer", default=None
)


@contextmanager
def answered(requests: OrderRequest | Iterable[OrderRequest], approval: Approval) -> Iterator[None]:
    """While inside, ``confirm_order`` answers ``approval`` for ``requests`` (and nothing else).

    >>> from tradingagents_brokers import OrderRequest
    >>> request = OrderRequest(symbol="AAPL", side="buy", qty=1)
    >>> with answered(request, Approval(True, "alice", "looks right")):
    ...     confirm_order(request)
    Approval(approved=True, approver='alice', reason='looks right')
    >>> confirm_order(request) is None
    True
    """
    covered = (requests,) if isinstance(requests, OrderRequest) else tuple(requests)
    token = _answer.set((covered, approval))
    try:
        yield
    finally:
        _answer.reset(token)


@hookimpl(tryfirst=True)
def confirm_order(request: OrderRequest) -> Approval | None:
    given = _answer.get()
    if given is None or request not in given[0]:
        return None
    return given[1]


def read_answer(answer: Any, approver: str) -> Approval:
    """An :class:`Approval` from what a person said; anything unreadable refuses.

    Accepted: an ``Approval``; ``True``/``False``; ``"approve"``/``"reject"``;
    ``{"type": "approve" | "reject", "message": ...}`` (LangGraph resume values).

    >>> read_answer({"type": "reject", "message": "too big"}, "dana")
    Approval(approved=False, approver='dana', reason='too big')
    >>> read_answer("sure", "dana").approved
    False
    """
    if isinstance(answer, Approval):
        return answer
    if answer is True or answer is False:
        return Approval(answer, approver, "approved" if answer else "refused by the reviewer")
    if isinstance(answer, str):
        answer = {"type": answer}
    if isinstance(answer, dict):
        kind = str(answer.get("type", "")).strip().lower()
        message = str(answer.get("message", "") or "")
        if kind == "approve":
            return Approval(True, approver, message or "approved by the reviewer")
        if kind == "reject":
            return Approval(False, approver, message or "rejected by the reviewer")
    return Approval(
        False,
        approver,
        f"the answer {answer!r} is neither approve nor reject, so the order is refused; "
        "answer {'type': 'approve'} or {'type': 'reject', 'message': ...}",
    )


def ask_callback(
    callback: Callable[[T], Any],
    subject: T,
    *,
    passing: tuple[type[Exception], ...] = (),
) -> Approval:
    """Ask ``callback`` about ``subject``; an exception from it refuses.

    Exceptions of the ``passing`` types are not answers: they propagate.
    """
    approver = getattr(callback, "__name__", "callback")
    try:
        answer = callback(subject)
    except passing:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing approver refuses (fail closed)
        return Approval(False, approver, f"the approval callback failed ({type(exc).__name__})")
    return read_answer(answer, approver)
