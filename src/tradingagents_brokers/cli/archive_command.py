"""``journal archive``: seal the journal's finished events before a date in a file."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import state_paths
from ..errors import BrokerConfigurationError
from ..safety.archive import archive
from ..store import open_journal
from .render import Output

__all__ = ["add_archive_parser", "archive_dir", "cmd_archive"]


def archive_dir(config: Mapping[str, Any], given: str | None = None) -> Path:
    """Where archives go and are looked for: ``--dir``, else ``<state_dir>/archive``."""
    return Path(given) if given else state_paths(config)[0] / "archive"


def add_archive_parser(action: Any, common: argparse.ArgumentParser) -> None:
    p = action.add_parser(
        "archive",
        parents=[common],
        help="move the finished events before a date to a JSON Lines file, out of the live "
        "journal (journal verify checks both)",
    )
    p.add_argument(
        "--before",
        required=True,
        metavar="DATE",
        help="archive what happened before this UTC date (YYYY-MM-DD) or ISO time with its "
        "zone; at least a day ago",
    )
    p.add_argument("--dir", help="where the archive files go (default: <state_dir>/archive)")
    p.add_argument(
        "--format",
        choices=["jsonl", "parquet"],
        default="jsonl",
        dest="file_format",
        help="JSON Lines (default) or Parquet (needs the parquet extra: pyarrow)",
    )


def _when(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BrokerConfigurationError(
            f"--before {text[:40]!r} is not a date; give YYYY-MM-DD (UTC) or an ISO time "
            "with its zone, e.g. 2026-11-01T00:00:00Z"
        ) from None
    if when.tzinfo is None and len(text) == 10:  # a bare date: its UTC midnight
        when = when.replace(tzinfo=dt.UTC)
    return when


def cmd_archive(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> int:
    before = _when(args.before)
    directory = archive_dir(config, args.dir)
    journal = open_journal(config)
    try:
        report = archive(journal, before, directory, file_format=args.file_format)
    finally:
        journal.close()
    if out.as_json:
        out.data(report.to_dict())
        return 0
    if report.events:
        out.note(
            f"archived events {report.first_seq}..{report.last_seq} ({report.events} events, "
            f"{report.intents} intents) to {report.file}; sha256 {report.sha256}"
        )
    else:
        out.note("nothing to archive before that date")
    if report.held_back:
        out.note(f"held back at {report.held_back}: it stays live until it is finished")
    return 0
