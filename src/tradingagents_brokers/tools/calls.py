"""One tool call, one order: the client order id of an agent's order and its replays.

An order placed by ``execute_trade`` gets a client order id made from the tool
call id (with the broker, agent and run ids), so the same tool call replayed (a
graph resumed after a crash) finds the order placed the first time instead of
placing a second one. Models do not choose their tool call ids, so:

* the same call id with the same order: the order placed the first time;
* the same call id with another order: refused, naming the reuse; never the
  answer of the other order;
* the same call id with the same order after a refusal: decided again (nothing
  was sent, so nothing can be doubled), under the call's next client order id
  (``tab-tc-<hash>``, ``...-2``, ``...-3``); after :data:`MAX_DECISIONS_PER_CALL`
  decisions the last refusal stands.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from .._numbers import clip, format_decimal
from ..errors import OrderRejectedError, Reason
from ..gateway import GatedBroker
from ..orders import Order, OrderRequest
from ..safety.records import IntentRecord, compact
from .advice import ToolCallReusedError
from .base import ToolCallInfo

__all__ = ["MAX_DECISIONS_PER_CALL", "call_order_id", "order_for_call"]

#: How often one tool call is decided again after refusals; then its last refusal stands.
MAX_DECISIONS_PER_CALL = 20


def call_order_id(
    broker: str, agent_id: str | None, run_id: str | None, tool_call_id: str | None
) -> str | None:
    """The first client order id of a tool call (None without a tool call id)."""
    if not tool_call_id:
        return None
    key = "|".join([broker, agent_id or "", run_id or "", tool_call_id])
    return "tab-tc-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def order_for_call(
    broker: GatedBroker, base: str, request: OrderRequest, call: ToolCallInfo
) -> tuple[str, Order | None]:
    """The client order id for this call's order, and the order if it was placed already.

    ``base`` is :func:`call_order_id`; see the module docstring for the rules.
    """
    wanted = _terms(request.to_dict())
    last: IntentRecord | None = None
    for attempt in range(1, MAX_DECISIONS_PER_CALL + 1):
        client_order_id = base if attempt == 1 else f"{base}-{attempt}"
        try:
            intent = broker.journal.intent(client_order_id)
        except KeyError:
            return client_order_id, None
        if _terms(_recorded(broker, intent).get("request", {})) != wanted:
            raise ToolCallReusedError(
                f"tool call id {clip(call.tool_call_id)} was already used for another order "
                f"({_summary(intent)}, client order id {client_order_id}), and this call asks "
                "for a different one. Nothing was sent; the earlier order is not affected. "
                "Send this order in a new tool call; if your tool calls keep the same id, tell "
                "the user that the agent framework reuses tool call ids"
            )
        if intent.status != "denied":
            order = broker.gate.replay(client_order_id)
            assert order is not None  # the intent exists and was not refused
            return client_order_id, order
        last = intent
    assert last is not None
    reasons = [
        Reason(d["code"], d["reason"], d["check"])
        for d in _recorded(broker, last).get("decisions", [])
        if not d.get("allowed", True)
    ]
    raise OrderRejectedError(
        f"this tool call was refused {MAX_DECISIONS_PER_CALL} times", reasons=reasons
    )


def _recorded(broker: GatedBroker, intent: IntentRecord) -> dict[str, Any]:
    """What the journal recorded when ``intent`` was decided: the request and decisions."""
    return broker.journal.decided(intent.intent_id)


def _terms(request: dict[str, Any]) -> str:
    """An order's terms, for comparing two calls: every field but the client order id.

    Compared as the journal records them (:func:`compact`: empty fields left out).
    """
    terms = compact({k: v for k, v in request.items() if k != "client_order_id"})
    return json.dumps(terms, sort_keys=True, default=str)


def _summary(intent: IntentRecord) -> str:
    amount = (
        f"{format_decimal(intent.qty)} shares"
        if intent.qty is not None
        else f"${format_decimal(intent.notional or Decimal(0))}"
    )
    return f"{intent.side.upper()} {amount} of {intent.symbol}"
