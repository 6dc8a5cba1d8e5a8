"""The texts a model reads when a call fails: what happened, what was sent, and what next.

A refusal by the safety gate lists every reason with its code, then one next step
per reason: a model can fix an order that is too large, but not a halted account,
a symbol it may not trade or a person's "no", and changing the order is no answer
to a rate limit. The codes are the gate's (``docs/safety.md`` has the table);
a reason code this module does not know (a plugin's own check) gets the general
advice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import (
    BrokerAuthenticationError,
    BrokerConfigurationError,
    BrokerError,
    BrokerRateLimitError,
    InsufficientFundsError,
    InvalidOrderError,
    JournalDamagedError,
    NotFoundError,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    Reason,
)
from ..safety.state import NotPermittedError

__all__ = ["STOPS", "ToolCallReusedError", "explain", "next_steps", "reasons_text"]


class ToolCallReusedError(BrokerError):
    """A tool call id already used for another order came with different arguments."""

    code = "tool_call_reused"


#: The next step for each reason code. ``{wait}`` and ``{window}`` are filled in.
NEXT_STEP: dict[str, str] = {
    "TRADING_HALTED": (
        "trading is halted on this account: stop placing orders and tell the user what you "
        "wanted to do and why; only a person can resume trading (cancel_order still works)"
    ),
    "TRADING_STATE_REDUCING": (
        "the account only accepts orders that shrink a position: you may sell shares held, or "
        "buy back a short, up to the size of the position (see get_current_positions); do not "
        "open or add to a position, and tell the user if you need to"
    ),
    "MODE_BLOCKED": "live trading is not enabled and an agent cannot enable it: tell the user",
    "CONFIRMATION_DENIED": (
        "a person did not approve it: do not send it again unasked; tell the user what you "
        "wanted to do and why"
    ),
    "SYMBOL_DENIED": (
        "this symbol may not be traded on this account: do not trade it; no change to the "
        "order helps"
    ),
    "SYMBOL_NOT_ALLOWED": (
        "only the account's allowed symbols may be traded and this is not one of them: do not "
        "trade it; no change to the order helps"
    ),
    "RATE_LIMIT_EXCEEDED": (
        "too many orders in a short time: wait {wait} before the next order, and do not "
        "resend orders in a loop"
    ),
    "DUPLICATE_ORDER": (
        "the same order was placed moments ago: if you meant it once, it is already placed "
        "(see get_orders), so do not send it again; an identical second order is accepted "
        "only after {window}"
    ),
    "ORDER_VALUE_EXCEEDS_MAX": "use a smaller quantity or dollar_amount",
    "POSITION_EXCEEDS_MAX": (
        "the position would grow past its limit (open orders count too, see get_orders): use "
        "a smaller quantity, or do not trade"
    ),
    "INSUFFICIENT_BUYING_POWER": "use a smaller amount (see get_buying_power; open buys count too)",
    "PRICE_OUTSIDE_COLLAR": "use a limit or stop price nearer the reference price (see get_quote)",
    "LEG_WRONG_SIDE": (
        "put take_profit_price on the profit side of the entry and stop_loss_price on the loss "
        "side (for a buy: take profit above, stop loss below)"
    ),
    "OPEN_ORDERS_AT_MAX": (
        "too many orders are open: wait for fills, or cancel open orders you no longer want "
        "(see get_orders), before placing another"
    ),
    "DAILY_NOTIONAL_EXCEEDS_MAX": (
        "today's trading limit is nearly used: use a smaller order, or stop trading for "
        "today (the limit resets at midnight in New York)"
    ),
    "DAILY_LOSS_LIMIT": (
        "today's loss limit is reached: only orders that reduce a position are accepted; do "
        "not open or add to positions, and tell the user; a person must resume trading"
    ),
    "REFERENCE_PRICE_MISSING": (
        "there is no price to judge the order by: check the symbol with get_quote and try "
        "later; if it persists, tell the user"
    ),
    "REFERENCE_PRICE_STALE": (
        "the latest price is too old to judge the order by (the market may be closed): try "
        "later (get_quote shows the price's age); if it persists, tell the user"
    ),
    "ACCOUNT_DATA_MISSING": (
        "the account could not be read, so no order can be judged: try later; if it "
        "persists, tell the user"
    ),
}
#: Reasons no change to the order resolves: when one is present, only these are advised.
STOPS = ("TRADING_HALTED", "MODE_BLOCKED", "CONFIRMATION_DENIED", "SYMBOL_DENIED",
         "SYMBOL_NOT_ALLOWED")  # fmt: skip
#: Reasons a change to the order resolves (and the reasons of checks this module does not know).
_FIXABLE = frozenset({"ORDER_VALUE_EXCEEDS_MAX", "POSITION_EXCEEDS_MAX",
                      "INSUFFICIENT_BUYING_POWER", "PRICE_OUTSIDE_COLLAR", "LEG_WRONG_SIDE",
                      "DAILY_NOTIONAL_EXCEEDS_MAX"})  # fmt: skip
_GENERAL = "change the order so that this reason is resolved, or do not trade"
_SAME = "Resending the same order gets the same answer."
#: Where the gate's reasons say how long: "2 orders in the last 60s", "placed less than 10s ago".
_WAIT = re.compile(r"in the last (\d+)s\b")
_WINDOW = re.compile(r"less than (\d+)s ago")


def _seconds(pattern: re.Pattern[str], message: str, default: str) -> str:
    found = pattern.search(message)
    if not found:
        return default
    n = int(found.group(1))
    return "1 second" if n == 1 else f"{n} seconds"


def reasons_text(reasons: Sequence[Reason]) -> str:
    """The reasons, each with its code, as a model reads them."""
    return "; ".join(f"[{r.code}] {r.message}" for r in reasons)


def next_steps(reasons: Sequence[Reason], retry_after: float | None = None) -> list[str]:
    """One next step per distinct reason (if no change to the order helps, only those).

    ``retry_after`` (seconds, from :mod:`.pacing`) is how long a rate limit makes the
    model wait; without it, the window the limit counts over.
    """
    codes = list(dict.fromkeys(r.code for r in reasons))
    stops = [c for c in codes if c in STOPS]
    steps = []
    for code in stops or codes:
        message = next(r.message for r in reasons if r.code == code)
        wait = _seconds(_WAIT, message, "a minute")  # the window empties within that time
        if retry_after is not None:
            wait = f"{retry_after:g} seconds (retry_after={retry_after:g})"
        step = NEXT_STEP.get(code, _GENERAL).format(
            wait=wait, window=_seconds(_WINDOW, message, "a while")
        )
        steps.append(f"[{code}] {step}.")
    if not stops and any(c in _FIXABLE or c not in NEXT_STEP for c in codes):
        steps.append(_SAME)
    return steps


def explain(exc: BrokerError) -> str:
    """The text a model reads for ``exc``: what happened, whether anything was sent, what next."""
    head = f"Error [{exc.code}]: {exc.message}"
    if isinstance(exc, OrderRejectedError) and exc.reasons:
        reasons = reasons_text(exc.reasons)
        wait = exc.details.get("retry_after")
        steps = " ".join(next_steps(exc.reasons, wait if isinstance(wait, float) else None))
        return (
            f"Error [{exc.code}]: the order was refused and nothing was sent. Reasons: "
            f"{reasons}. Next: {steps}"
        )
    if isinstance(exc, OrderRejectedError):
        return (
            f"{head}. The order was not placed. Change it so that the reason is resolved, or do "
            "not trade; sending it again unchanged gets the same answer."
        )
    if isinstance(exc, ToolCallReusedError):
        return head  # the message says it all
    if isinstance(exc, OrderBlockedError):
        return f"{head}. Nothing was sent. An agent cannot enable trading; tell the user."
    if isinstance(exc, OrderOutcomeUnknownError):
        coid = exc.details.get("client_order_id", "")
        return (
            f"{head}. The order MAY have been placed. Do NOT place it again: call "
            f"check_order_status with client_order_id={coid!s} to learn its state."
        )
    if isinstance(exc, InsufficientFundsError):
        return f"{head}. Nothing was sent. Check get_buying_power and use a smaller amount."
    if isinstance(exc, InvalidOrderError):
        return f"{head}. Nothing was sent. Fix the arguments and call again."
    if isinstance(exc, NotFoundError):
        return f"{head}. Check the id or symbol with get_orders or get_current_positions."
    if isinstance(exc, BrokerRateLimitError):
        wait = exc.retry_after if exc.retry_after is not None else 60
        return f"{head}. The broker is limiting requests: wait {wait:g} seconds, then retry."
    if isinstance(exc, NotPermittedError):
        return f"{head}. Only a person can do this; tell the user."
    if isinstance(exc, BrokerAuthenticationError | BrokerConfigurationError):
        return (
            f"{head}. A person must fix the broker setup; stop trading and report this to the user."
        )
    if isinstance(exc, JournalDamagedError):
        return f"{head}. Nothing was sent. A person must repair the journal; tell the user."
    if exc.outcome_known:
        return f"{head}. Retrying later may help; check state with the read-only tools first."
    return f"{head}. Check state with check_order_status before doing anything else."
