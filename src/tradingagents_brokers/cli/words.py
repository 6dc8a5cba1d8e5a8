"""Error messages in the command line's words: its flags, not the Python API's arguments.

The core's errors name keyword arguments (``order_type='limit'``, ``limit_price``)
because most callers are Python. At the command line a person types flags, so
the CLI says ``--type limit`` and ``--limit-price`` instead, and says how to
switch live trading on from a shell.
"""

from __future__ import annotations

import re

from ..config import ENV_PREFIX
from ..errors import BrokerError, OrderRejectedError

__all__ = ["error_lines"]

_FLAGS = (
    (re.compile(r"order_type='(\w+)'"), r"--type \1"),
    (re.compile(r"(?<![.\w])order_type\b"), "--type"),
    (re.compile(r"(?<![.\w])time_in_force\b"), "--tif"),
    (re.compile(r"(?<![.\w])expire_at\b"), "--expire-at"),
    (re.compile(r"(?<![.\w])limit_price\b"), "--limit-price"),
    (re.compile(r"(?<![.\w])stop_price\b"), "--stop-price"),
    (re.compile(r"(?<![.\w])trail_price\b"), "--trail-price"),
    (re.compile(r"(?<![.\w])trail_percent\b"), "--trail-percent"),
    (re.compile(r"(?<![.\w])extended_hours\b"), "--extended-hours"),
)
_RESET = re.compile(r"broker_options\.sim\.reset = true")
_LIVE = re.compile(r"set 'auto_execute_trades: True' \(with broker_mode 'live'\)")


def in_cli_words(message: str) -> str:
    """``message`` with the Python API's argument names replaced by the CLI's flags."""
    for pattern, flag in _FLAGS:
        message = pattern.sub(flag, message)
    message = _RESET.sub("tradingagents-brokers sim reset", message)
    return _LIVE.sub(
        f"put auto_execute_trades = true in the --config file (or export "
        f"{ENV_PREFIX}AUTO_EXECUTE_TRADES=true) and pass --mode live",
        message,
    )


def error_lines(exc: BrokerError) -> list[str]:
    """What to print for ``exc``: one line, or a line per reason the gate gave (each once)."""
    if isinstance(exc, OrderRejectedError) and exc.reasons:
        head = exc.message.split(":", 1)[0]
        lines = [head + ":"]
        for reason in exc.reasons:
            line = f"  {reason.code}: {in_cli_words(reason.message)}"
            if line not in lines:
                lines.append(line)
        return lines
    return [in_cli_words(exc.message)]
