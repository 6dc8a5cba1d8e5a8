"""Options several commands share, each with its help text and a check of what it accepts."""

from __future__ import annotations

import argparse
import datetime as dt
import re

__all__ = [
    "add_format",
    "add_history",
    "add_limit",
    "add_trail",
    "period",
    "positive_int",
    "timeframe",
]

#: ``--period``: a number and a unit (D days, W weeks, M months, A years), as brokers take it.
_PERIOD = re.compile(r"[1-9][0-9]{0,3}[DWMA]")
#: ``--timeframe``: the spacing of the points.
_TIMEFRAME = re.compile(r"[1-9][0-9]{0,2}(Min|H|D)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def moment(text: str) -> dt.datetime:
    """``--after``/``--until``: an ISO 8601 time with its zone, or a date (its UTC midnight)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a time; give YYYY-MM-DD (UTC) or an ISO time with its "
            "zone, e.g. 2026-12-01T14:30:00Z"
        ) from None
    if when.tzinfo is None:
        if len(text) != 10:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} has no time zone; add one, e.g. Z for UTC"
            )
        when = when.replace(tzinfo=dt.UTC)
    return when


def add_window(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--after", type=moment, metavar="TIME", help=f"only {what} from after TIME")
    parser.add_argument(
        "--until",
        type=moment,
        metavar="TIME",
        help=f"only {what} from before TIME (the next page back: the time the last one gave)",
    )


def period(text: str) -> str:
    if not _PERIOD.fullmatch(text.upper()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a period: a number and a unit, D (days), W (weeks), M (months) "
            "or A (years), such as 1D, 2W, 3M or 1A"
        )
    return text.upper()


def timeframe(text: str) -> str:
    match = _TIMEFRAME.fullmatch(text) or _TIMEFRAME.fullmatch(text.replace("min", "Min"))
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a timeframe: 1Min, 5Min, 15Min, 1H or 1D"
        )
    return match.group(0)


def add_limit(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help=f"show the newest N {what} (default: 50)",
    )
    group.add_argument(
        "--all", dest="all_rows", action="store_true", help=f"show every one of the {what}"
    )


def add_trail(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trail-price", help="trailing stop: trail the best price by this amount of money"
    )
    parser.add_argument(
        "--trail-percent", help="trailing stop: trail the best price by this percentage"
    )


def add_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--period",
        type=period,
        help="how far back: a number and D, W, M or A, e.g. 1W or 3M (default: the broker's)",
    )
    parser.add_argument(
        "--timeframe",
        type=timeframe,
        help="the spacing of the points: 1Min, 5Min, 15Min, 1H or 1D (default: the broker's)",
    )
    add_limit(parser, "points")


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        dest="export",
        choices=("csv", "jsonl"),
        help="export every field: csv (a header line, then a line a record) or jsonl "
        "(a JSON object a line)",
    )
