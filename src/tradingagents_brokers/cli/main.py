"""The ``tradingagents-brokers`` command line.

Every command takes ``--broker``, ``--mode``, ``--config`` and ``--json``. Orders go
through the same gate as Python and agent orders; the CLI asks before sending
when it runs on a terminal, and refuses without one unless ``--yes`` is given.

Exit codes: 0 success; 1 unexpected failure; 2 bad input or configuration;
3 the gate or the user refused the order; 4 the broker refused or failed;
5 the outcome of an order is unknown (do not resend; see ``orders``).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from .. import __version__
from ..config import effective_config
from ..errors import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
)
from ..safety.guard import RECOVERY
from . import commands, init_command, logs, options, safety_commands, sim_commands
from .render import Output
from .waiting import WaitNotice
from .words import error_lines

__all__ = ["EXIT_CODES", "build_parser", "main"]

EXIT_CODES: dict[type[BaseException], int] = {
    OrderOutcomeUnknownError: 5,
    OrderBlockedError: 3,
    OrderRejectedError: 3,
    commands.Declined: 3,
    InvalidOrderError: 2,
    BrokerConfigurationError: 2,
    InsufficientFundsError: 4,
    BrokerAPIError: 4,
    BrokerError: 1,
}


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--broker", help="broker to use (default: the 'trading_broker' setting)")
    group.add_argument("--mode", choices=("paper", "live"), help="override 'broker_mode'")
    group.add_argument("--config", metavar="PATH", help="TOML configuration file")
    group.add_argument("--json", action="store_true", help="print JSON instead of tables")
    group.add_argument(
        "--wide", action="store_true", help="show every field of a table, nothing shortened"
    )
    logs.add_options(group)
    return common


def _order_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask; approve for scripts")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="tradingagents-brokers",
        description="Place and inspect orders through broker plugins, behind one safety gate.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    add("plugins", "list installed plugins and the broker types they offer")
    add("doctor", "check configuration, credentials (set or not, never their values) and paths")
    add("account", "show the account's balances")
    p = add("positions", "list open positions")
    options.add_format(p)
    p = add("orders", "list orders, newest first")
    p.add_argument(
        "--status",
        choices=("open", "closed", "all"),
        default="all",
        help="open (still working), closed (done) or all (default)",
    )
    options.add_limit(p, "orders")
    options.add_window(p, "orders")
    options.add_format(p)
    p.add_argument(
        "--symbol", action="append", dest="symbols", help="only this symbol (repeatable)"
    )

    p = add("order", "place an order (asks before sending)")
    p.add_argument("side", choices=("buy", "sell"))
    p.add_argument("symbol")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--qty", help="number of shares")
    size.add_argument("--notional", help="amount of money instead of a number of shares")
    p.add_argument(
        "--type",
        dest="order_type",
        default="market",
        help="market, limit, stop, stop_limit or trailing_stop (default: market)",
    )
    p.add_argument("--limit-price", help="limit price (with --type limit or stop_limit)")
    p.add_argument("--stop-price", help="stop price (with --type stop or stop_limit)")
    options.add_trail(p)
    p.add_argument(
        "--tif",
        dest="time_in_force",
        default=None,
        help="day, gtc, ioc, fok, opg, cls or gtd (default: the broker's, day for most)",
    )
    p.add_argument(
        "--expire-at", help="when a gtd order expires: ISO 8601, e.g. 2027-01-15T20:00:00Z"
    )
    p.add_argument(
        "--extended-hours",
        action="store_true",
        help="may fill outside regular hours (limit orders, --tif day, where the broker can)",
    )
    _order_args(p)

    p = add("cancel", "cancel an open order, or every open order with --all")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "order_id",
        nargs="?",
        help="order id, client order id, or the short id that 'orders' shows",
    )
    target.add_argument("--all", action="store_true", help="cancel every open order")

    p = add("close", "close a position (asks before sending), or every position with --all")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("symbol", nargs="?", help="the position's symbol")
    which.add_argument("--all", action="store_true", help="close every position")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--qty", help="close this many shares (default: all of them)")
    amount.add_argument("--percentage", help="close this share of the position, above 0 to 100")
    _order_args(p)

    p = add("history", "portfolio equity over time, drawn as a chart on a terminal")
    options.add_history(p)
    options.add_format(p)

    p = add("quote", "the reference price the risk checks use for a symbol")
    p.add_argument("symbol")

    add("demo", "an offline tour on a fresh sim account: account, a buy, positions, orders")
    p = add("mcp", "serve the agent tools to MCP clients on stdio (extra 'mcp')")
    p.add_argument(
        "--http", action="store_true", help="serve streamable HTTP on loopback instead of stdio"
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address for --http")
    p.add_argument("--port", type=int, default=8765, help="port for --http (default: 8765)")
    p.add_argument(
        "--confirm-paper-orders",
        action="store_true",
        help="ask the person in the client before paper orders too (live ones are always asked)",
    )
    p.add_argument(
        "--confirm-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="refuse an order nobody confirmed within this time (default: 300)",
    )
    p = add("new-plugin", "write a broker plugin package that passes the offline conformance kit")
    p.add_argument("name", help="the broker's name, a lower-case identifier such as 'mybroker'")
    p.add_argument("--path", default=".", help="directory to write it in (default: here)")
    safety_commands.add_parsers(sub, common)
    sim_commands.add_parsers(sub, common)
    init_command.add_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.mode:
        overrides["broker_mode"] = args.mode
    if args.broker:
        overrides["trading_broker"] = args.broker
    return effective_config(overrides, path=args.config)


def main(argv: Sequence[str] | None = None, *, console: Console | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it).

    ``console`` is where results go (a terminal's by default; tests pass a recording one).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(
        as_json=args.json,
        wide=getattr(args, "wide", False),
        console=console,
        export=getattr(args, "export", None),
    )
    undo_logs: Callable[[], None] = _nothing
    try:
        undo_logs = logs.setup(args)
        own = getattr(args, "handler", None)  # a command that reads no configuration: init
        config = {} if own else _config(args)
        name = f"cmd_{args.command.replace('-', '_')}"
        handler = own or getattr(commands, name, None) or getattr(safety_commands, name)
        with WaitNotice(out.errors):  # a broker call over a second says what it waits for
            code = handler(args, config, out)
    except BrokerError as exc:
        first, *more = error_lines(exc)
        out.fail(first, more=more)
        if args.json:
            out.data(exc.to_dict())
        return _exit_code(exc)
    except commands.Declined as exc:
        out.fail(str(exc))
        return 3
    except sqlite3.DatabaseError as exc:  # a file damaged past what the journal checks
        out.fail(f"a database file cannot be read ({exc}): {RECOVERY}")
        return 1
    except KeyboardInterrupt:
        out.fail("interrupted; nothing more was sent")
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop writing, quietly
        _quiet_stdout()
        return 141
    finally:
        undo_logs()
    return int(code or 0)


def _nothing() -> None:
    return None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit finds no closed pipe either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured): nothing to quiet
        pass


def _exit_code(exc: BaseException) -> int:
    for kind, code in EXIT_CODES.items():
        if isinstance(exc, kind):
            return code
    return 1
