"""Asking the person at an MCP client before a live order is sent (MCP elicitation).

The toolkit asks only for orders that need a confirmation (a live order with
``require_confirmation``, or any order with ``confirm_paper_orders``) and only
after every risk check passed. :class:`Confirmer` is its approval callable and
asks the client to show the person a one-question form, "Send this order?":

* on a handshake-era connection (protocol 2025-11-25 and before) the server sends
  ``elicitation/create`` while the tool call waits, and reads the answer;
* on a 2026-07-28 connection the tool call ends with an ``InputRequiredResult``
  holding the form and a one-time ticket (``request_state``); the client asks the
  person and calls the tool again with the answer and the ticket. The ticket
  binds the answer to the tool, the arguments and the order the person saw; it
  is used once and expires after ``timeout`` seconds.

A client that declared no elicitation support cannot ask anyone, so the order is
refused with a message saying so: never approved silently. Unanswered, declined,
cancelled, expired or unreadable answers refuse too (fail closed).

The form's message shows the client's name and the order inert: control characters
spelled out, on one line, markup escaped, names cut short (:func:`shown`).

Elicitation is only as honest as the client: the server cannot tell a person's
answer from a client that answers forms by itself. Use clients that show the form.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.from_thread
import attrs
import mcp_types as types

from .._numbers import clip
from .._text import inert
from ..decisions import Approval
from ..tools.approval import ApprovalPending, ApprovalRequest

__all__ = ["FORM", "Confirmer", "Exchange", "serving", "shown"]

#: The form the person answers: one checkbox.
FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Send this order",
            "description": "Tick to send the order to the broker; leave it clear to refuse.",
            "default": False,
        }
    },
    "required": ["approve"],
}
#: The key of the form in an ``InputRequiredResult``.
KEY = "confirm_order"
#: At most this many questions wait for an answer at once; the oldest is dropped.
MAX_WAITING = 64


@attrs.frozen
class Exchange:
    """The MCP tool call being served, as the approver needs to see it."""

    tool: str
    arguments: Mapping[str, Any]
    client: str
    #: Whether the client declared it can show a form (elicitation, form mode).
    can_ask: bool
    #: Handshake era: the server can send ``elicitation/create`` and wait.
    session: Any = None
    request_id: Any = None
    #: 2026-07-28: the answer and the ticket the client sent back, if any.
    responses: Mapping[str, Any] | None = None
    ticket: str | None = None

    @property
    def key(self) -> str:
        return json.dumps([self.tool, dict(self.arguments)], sort_keys=True, default=str)


_serving: ContextVar[Exchange | None] = ContextVar("tradingagents_brokers_mcp", default=None)


@contextmanager
def serving(exchange: Exchange) -> Any:
    """While inside (and in worker threads started inside), the approver sees ``exchange``."""
    token = _serving.set(exchange)
    try:
        yield
    finally:
        _serving.reset(token)


@attrs.frozen
class _Question:
    key: str
    order: str
    expires: float


def _order(request: ApprovalRequest) -> str:
    """The order the person is shown, without the client order id (new on every call)."""
    order = dict(request.details.get("request", {}))
    order.pop("client_order_id", None)
    return json.dumps([request.action, request.summary, order], sort_keys=True, default=str)


class Confirmer:
    """The toolkit's approval callable for the MCP server; see the module docstring."""

    __name__ = "mcp_elicitation"

    def __init__(self, *, timeout: float = 300.0, clock: Any = time.monotonic) -> None:
        if not timeout > 0:
            raise ValueError(f"the confirmation timeout must be positive, got {timeout!r}")
        self.timeout = timeout
        self._clock = clock
        self._waiting: dict[str, _Question] = {}
        self._lock = threading.Lock()

    def __call__(self, request: ApprovalRequest) -> Approval:
        exchange = _serving.get()
        if exchange is None:
            return Approval(False, self.__name__, "no MCP client is being served; nobody to ask")
        approver = f"person at MCP client {clip(exchange.client)}"
        if not exchange.can_ask:
            return Approval(
                False,
                approver,
                f"this {request.mode} order needs a person's confirmation, and the MCP client "
                f"{clip(exchange.client)} cannot ask one (it declared no elicitation support); "
                "nothing was sent. Use an MCP client that supports elicitation, or place the "
                "order from the CLI (tradingagents-brokers order ...), which asks on the terminal",
            )
        if exchange.session is not None:
            return self._ask_now(exchange, request, approver)
        return self._ask_by_round_trip(exchange, request, approver)

    def message(self, exchange: Exchange, request: ApprovalRequest) -> str:
        """The question the person reads; what came from outside is shown inert (:func:`shown`)."""
        return (
            f"MCP client {shown(exchange.client)} asks to send a {request.mode.upper()} order "
            f"through {shown(request.broker)}:\n\n  {shown(request.summary, 300)}\n\n"
            "Every risk check passed. Send it?"
        )

    # -- handshake era: ask while the call waits ----------------------------------------

    def _ask_now(self, exchange: Exchange, request: ApprovalRequest, approver: str) -> Approval:
        async def ask() -> types.ElicitResult:
            with anyio.fail_after(self.timeout):
                result: types.ElicitResult = await exchange.session.elicit_form(
                    self.message(exchange, request), FORM, related_request_id=exchange.request_id
                )
                return result

        try:
            answer = anyio.from_thread.run(ask)
        except TimeoutError:
            return Approval(
                False, approver, f"nobody answered within {self.timeout:g} seconds; not sent"
            )
        except Exception as exc:  # noqa: BLE001 - a client that cannot ask refuses
            return Approval(
                False, approver, f"the client could not ask the person ({type(exc).__name__})"
            )
        return read_form(answer, approver)

    # -- 2026-07-28: ask between two calls ------------------------------------------------

    def _ask_by_round_trip(
        self, exchange: Exchange, request: ApprovalRequest, approver: str
    ) -> Approval:
        now = self._clock()
        if exchange.ticket is None:
            ticket = secrets.token_urlsafe(24)
            with self._lock:
                for old in [t for t, q in self._waiting.items() if q.expires <= now]:
                    del self._waiting[old]
                while len(self._waiting) >= MAX_WAITING:
                    del self._waiting[next(iter(self._waiting))]
                self._waiting[ticket] = _Question(exchange.key, _order(request), now + self.timeout)
            form = types.ElicitRequest(
                params=types.ElicitRequestFormParams(
                    message=self.message(exchange, request), requested_schema=FORM
                )
            )
            raise ApprovalPending(
                request, types.InputRequiredResult(input_requests={KEY: form}, request_state=ticket)
            )
        with self._lock:
            question = self._waiting.pop(exchange.ticket, None)
        if question is None or question.expires <= now:
            return Approval(
                False,
                approver,
                "the confirmation is unknown or expired (a ticket is good for one answer "
                f"within {self.timeout:g} seconds); nothing was sent. Call the tool again to ask "
                "again",
            )
        if question.key != exchange.key or question.order != _order(request):
            return Approval(
                False,
                approver,
                "the answer is for another order than this one; nothing was sent. Call the "
                "tool again to ask about this order",
            )
        return read_form((exchange.responses or {}).get(KEY), approver)


#: Markdown and HTML punctuation, escaped in the form: a client that renders markup shows
#: the text as it was written. (Parentheses and "!" only make links or images after "[".)
_MARKUP = re.compile(r"([\\`*_\[\]<>&~|#])")
#: At most this many characters of a name from outside appear in the form.
MAX_SHOWN = 64


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """Text from outside (a client's name) as the form shows it: inert, one line, no markup.

    Control and invisible characters are spelled out (``\\x1b``), line breaks become
    spaces, markup characters are escaped with a backslash, and the text is cut to
    about ``limit`` characters.
    """
    line = " ".join(inert(str(text)).split())
    if len(line) > limit:
        line = f"{line[: limit - 3]}..."
    return _MARKUP.sub(r"\\\1", line)


def read_form(answer: Any, approver: str) -> Approval:
    """The person's answer to :data:`FORM`; only an accepted form with ``approve: true`` sends."""
    if isinstance(answer, Mapping):
        try:
            answer = types.ElicitResult.model_validate(answer)
        except ValueError:
            answer = None
    if not isinstance(answer, types.ElicitResult):
        return Approval(False, approver, "no answer to the confirmation came back; not sent")
    if answer.action != "accept":
        return Approval(False, approver, f"the person chose {answer.action!r}; not sent")
    if (answer.content or {}).get("approve") is not True:
        return Approval(False, approver, "the person did not tick 'Send this order'; not sent")
    return Approval(True, approver, "confirmed in the MCP client's form")
