"""``--log-level`` and ``--log-file``: the package's logs where an operator wants them.

Without either option the CLI sets nothing up (Python prints warnings and errors
on stderr). ``--log-file PATH`` appends there, one line a record, at INFO unless
``--log-level`` says otherwise; ``--log-level`` alone logs to stderr. A file whose
name ends in ``.jsonl`` gets one JSON object a line, with the fields of each
trade (``event``, ``broker``, ``symbol``, ``status``...) as keys of their own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._text import inert
from ..errors import BrokerConfigurationError

__all__ = ["LEVELS", "JsonLines", "add_options", "setup"]

LEVELS = ("debug", "info", "warning", "error")
#: The logger every part of the package logs under.
ROOT = "tradingagents"
#: What every LogRecord has; anything else on a record came as ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLines(logging.Formatter):
    """One JSON object a record: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def add_options(group: Any) -> None:
    group.add_argument(
        "--log-level",
        choices=LEVELS,
        help="log the package's records from this level up (on stderr unless --log-file)",
    )
    group.add_argument(
        "--log-file",
        metavar="PATH",
        help="append the logs to PATH (INFO and up unless --log-level; JSON lines if it "
        "ends in .jsonl)",
    )


def setup(args: argparse.Namespace) -> Callable[[], None]:
    """Send the ``tradingagents`` logs where ``args`` say; returns what undoes it."""
    level_name, path = getattr(args, "log_level", None), getattr(args, "log_file", None)
    if level_name is None and path is None:
        return lambda: None
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler()
    else:
        try:
            handler = logging.FileHandler(Path(path).expanduser(), encoding="utf-8")
        except OSError as exc:
            raise BrokerConfigurationError(
                f"--log-file {inert(str(path))} cannot be opened ({exc.strerror}); "
                "give a path in a directory you can write to"
            ) from None
    if path is not None and str(path).endswith(".jsonl"):
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    level = getattr(logging, (level_name or "info").upper())
    handler.setLevel(level)
    logger = logging.getLogger(ROOT)
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before)
        handler.close()

    return undo
