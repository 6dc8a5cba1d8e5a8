"""What the gate records and watches beside each decision, in its write section.

* :meth:`Watch.verdicts`: every check's verdict, compactly. The limits in force
  and the names of the checks that decide are journaled once per process (a
  ``limits`` event, under the limits' hash and the checks' hash); an intent names
  both and says ``allowed: "all"``, or lists the checks that allowed and each
  denial in full.
* :meth:`Watch.after`: a decision that reached ``max_daily_loss`` puts the
  account in REDUCING; so do agents refused more than
  ``max_agent_refusals_per_minute`` times in a minute (a model looping on
  refusals fills the journal and is not getting anywhere), and each refusal
  beyond that is answered only after :data:`REFUSAL_PAUSE` seconds. Both are
  logged, and a person must resume trading.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from ..config import risk_limits
from ..decisions import AGENT_SOURCES, Decision, OrderContext
from ..errors import Reason
from .journal import Journal
from .limits import DAILY_LOSS
from .state import TradingState, current_state, set_state

__all__ = ["REFUSAL_PAUSE", "Watch"]

log = logging.getLogger("tradingagents.broker")

#: Seconds an agent's refusal waits, once its source is refused too often.
REFUSAL_PAUSE = 1.0


class Watch:
    """The records and watches of one gated broker's decisions (see the module doc)."""

    def __init__(
        self, *, journal: Journal, name: str, config: Mapping[str, Any], limits_hash: str
    ) -> None:
        self.journal = journal
        self.name = name
        self.config = config
        self.limits_hash = limits_hash
        #: (limits hash, checks hash) pairs this process journaled a ``limits`` event for.
        self._recorded: set[tuple[str, str]] = set()
        self._pending: tuple[str, str] | None = None

    def verdicts(self, decisions: list[Decision]) -> dict[str, Any]:
        """The verdicts an intent records; journals the ``limits`` event when it is new."""
        names = " ".join(d.check for d in decisions)
        checks = hashlib.sha256(names.encode()).hexdigest()[:12]
        if (self.limits_hash, checks) not in self._recorded:
            self.journal.append(
                "limits",
                {
                    "limits_hash": self.limits_hash,
                    "limits": risk_limits(self.config),
                    "checks": checks,
                    "check_names": names,
                },
                broker=self.name,
            )
            self._pending = (self.limits_hash, checks)
        denied = [d.to_dict() for d in decisions if not d.allowed]
        if not denied:
            return {"checks": checks, "allowed": "all"}
        allowed = " ".join(d.check for d in decisions if d.allowed)
        return {"checks": checks, "allowed": allowed, "decisions": denied}

    def ended(self, *, committed: bool) -> None:
        """The write section is over: a ``limits`` event it held is recorded, or was not."""
        if committed and self._pending is not None:
            self._recorded.add(self._pending)
        self._pending = None

    def after(self, reasons: list[Reason], ctx: OrderContext) -> float:
        """Watch a decision just journaled; the seconds its refusal should wait (0: none)."""
        if not reasons:
            return 0.0
        loss = next((r.message for r in reasons if r.code == DAILY_LOSS), None)
        if loss is not None:
            self._reduce(loss, "max_daily_loss")
        limit = self.config["max_agent_refusals_per_minute"]
        if limit is None or ctx.source not in AGENT_SOURCES:
            return 0.0
        since = self.journal.now() - dt.timedelta(seconds=60)
        refused = self.journal.count_refused(self.name, since, AGENT_SOURCES)
        if refused <= limit:
            return 0.0
        self._reduce(
            f"agents were refused {refused} times in a minute "
            f"(max_agent_refusals_per_minute={limit}); a person should look at what they "
            "are trying to do",
            "max_agent_refusals_per_minute",
        )
        return REFUSAL_PAUSE

    def _reduce(self, reason: str, by: str) -> None:
        if current_state(self.journal) is not TradingState.ACTIVE:
            return
        set_state(self.journal, TradingState.REDUCING, reason=reason, by=by)
        log.warning("trading on %s is now reducing: %s", self.name, reason)
