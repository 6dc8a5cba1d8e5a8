"""The default confirmation policy: approve paper orders, refuse live orders nobody approved.

Registered last among ``confirm_order`` implementations, so any approver a user,
the CLI or an agent integration registers answers first. A live order reaching
this policy means no human was asked, so it is refused (fail closed).
"""

from __future__ import annotations

from ._markers import hookimpl
from .decisions import Approval


@hookimpl(trylast=True)
def confirm_order(mode: str) -> Approval:
    if mode == "paper":
        return Approval(
            True, "default-policy", "a paper order, approved by default; no person was asked"
        )
    return Approval(
        False,
        "default-policy",
        "live orders need a confirmation and no approver is registered; confirm on the CLI "
        "(answer the prompt) or register a confirm_order hook",
    )
