"""Asking a person before an agent's order is sent.

A toolkit asks when the order needs a confirmation: a live order with
``require_confirmation`` (or any order, with ``confirm_paper_orders``). It asks
only after validation and every risk check passed (a refused order is not worth a
person's time), and it asks in one of two ways:

* ``"interrupt"`` (the default): LangGraph's ``interrupt()`` pauses the graph with
  an :class:`ApprovalRequest` as the interrupt value. Resume it with
  ``Command(resume={"type": "approve"})`` or
  ``Command(resume={"type": "reject", "message": "why"})``. The graph needs a
  checkpointer to resume. Outside a graph nothing is sent.
* a callable: called with the :class:`ApprovalRequest`, it returns ``True``,
  ``False`` or an :class:`~tradingagents_brokers.decisions.Approval`.

The answer goes to the gate through :func:`tradingagents_brokers.approvals.answered`,
so the gate journals it with the intent; an answer it cannot read, an exception
from the callable, or no answer at all refuse the order (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from ..decisions import Approval
from ..errors import OrderBlockedError

__all__ = ["ApprovalMode", "ApprovalRequest", "ask", "read_answer"]


@attrs.frozen(kw_only=True)
class ApprovalRequest:
    """What a person is asked to approve. ``to_dict()`` is the interrupt value."""

    action: str
    summary: str
    broker: str
    mode: str
    details: dict[str, Any]
    tool_call_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "order_approval",
            **attrs.asdict(self),
            "resume_with": {
                "approve": {"type": "approve"},
                "reject": {"type": "reject", "message": "why"},
            },
        }


ApprovalMode = Literal["interrupt"] | Callable[[ApprovalRequest], "bool | Approval"]


def read_answer(answer: Any, approver: str) -> Approval:
    """An :class:`Approval` from a resume value; anything unreadable refuses."""
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
        "resume with {'type': 'approve'} or {'type': 'reject', 'message': ...}",
    )


def ask(mode: ApprovalMode, request: ApprovalRequest) -> Approval:
    """Ask a person about ``request`` the way ``mode`` says; see the module docstring."""
    if mode == "interrupt":
        return read_answer(_interrupt(request), "human (LangGraph interrupt)")
    if not callable(mode):
        raise OrderBlockedError(
            f"approval mode {mode!r} is not valid; use 'interrupt' or a callable, nothing was sent"
        )
    try:
        answer = mode(request)
    except Exception as exc:  # noqa: BLE001 - a failing approver refuses (fail closed)
        return Approval(False, "callback", f"the approval callback failed ({type(exc).__name__})")
    return read_answer(answer, getattr(mode, "__name__", "callback"))


def _interrupt(request: ApprovalRequest) -> Any:
    from langgraph.types import interrupt

    try:
        return interrupt(request.to_dict())
    except (RuntimeError, KeyError):
        # Not inside a LangGraph run: there is nobody to ask.
        raise OrderBlockedError(
            "this order needs a person's approval, but the tool is not running inside a "
            "LangGraph graph that can pause (a compiled graph with a checkpointer); nothing was "
            "sent. Run it in such a graph, or build the toolkit with approval=<callable>."
        ) from None
