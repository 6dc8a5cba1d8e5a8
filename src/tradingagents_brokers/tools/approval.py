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

A callable that cannot wait for the answer (the MCP server, whose client asks the
person between two requests) raises :class:`ApprovalPending`: the call ends
without sending anything and is made again with the answer.

The answer is read by :func:`tradingagents_brokers.approvals.read_answer` and goes
to the gate through :func:`tradingagents_brokers.approvals.answered`, so the gate
journals it with the intent; an answer it cannot read, an exception from the
callable, or no answer at all refuse the order (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs
from langgraph.types import interrupt

from ..approvals import ask_callback, read_answer
from ..decisions import Approval
from ..errors import OrderBlockedError

__all__ = ["ApprovalMode", "ApprovalPending", "ApprovalRequest", "ask"]


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


class ApprovalPending(Exception):
    """The person is being asked elsewhere; the call stops here with nothing sent.

    Raised by an approval callable that gets its answer in a later call (see the
    module docstring); ``ticket`` is whatever that callable needs to resume.
    """

    def __init__(self, request: ApprovalRequest, ticket: Any = None) -> None:
        super().__init__(request.summary)
        self.request = request
        self.ticket = ticket


def ask(mode: ApprovalMode, request: ApprovalRequest) -> Approval:
    """Ask a person about ``request`` the way ``mode`` says; see the module docstring."""
    if mode == "interrupt":
        return read_answer(_interrupt(request), "human (LangGraph interrupt)")
    return ask_callback(mode, request, passing=(ApprovalPending,))


def _interrupt(request: ApprovalRequest) -> Any:
    try:
        return interrupt(request.to_dict())
    except (RuntimeError, KeyError):
        # Not inside a LangGraph run: there is nobody to ask.
        raise OrderBlockedError(
            "this order needs a person's approval, but the tool is not running inside a "
            "LangGraph graph that can pause (a compiled graph with a checkpointer); nothing was "
            "sent. Run it in such a graph, or build the toolkit with approval=<callable>."
        ) from None
