"""The way back from a damaged journal: keep it aside, start a new chain that says so.

:func:`recover` moves the journal's file (and its write-ahead log) aside under a
name that says when, sets its anchor aside beside it, and opens a new journal
whose first events record what it replaced: the old identity, the last event its
anchor knew, the problem found, and where the old file now is. Nothing is
deleted. A journal that is sound is not touched.

Orders the old journal still had in flight are not carried over: reconcile
before recovering when the old file can still be read, and check the broker's
open orders afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import state_paths
from ..errors import BrokerConfigurationError, BrokerError
from .guard import anchor_path
from .journal import Journal

__all__ = ["diagnose", "recover"]


def diagnose(path: Path) -> str | None:
    """What is wrong with the SQLite journal at ``path`` (None: it is sound)."""
    try:
        journal = Journal(path)
    except BrokerError as exc:
        return exc.message
    try:
        if journal.damage is not None:
            return journal.damage
        result = journal.verify()
        return None if result.ok else result.problem
    finally:
        journal.close()


def recover(config: Mapping[str, Any], *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Keep a damaged SQLite journal aside and start a new chain; what was done."""
    if config.get("store_url"):
        raise BrokerConfigurationError(
            "journal recover works on the SQLite journal; for a PostgreSQL store, point "
            "store_url at a new schema (the damaged one stays for audit) and remove the "
            "store's anchor file in the state directory"
        )
    path = state_paths(config)[1]
    problem = diagnose(path)
    if problem is None:
        raise BrokerConfigurationError(
            f"the journal at {path} is sound; recover only replaces a damaged journal"
        )
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    anchor = anchor_path(path)
    old = _read_anchor_quietly(anchor)
    kept: list[str] = []
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            target = Path(f"{path}.damaged-{stamp}{suffix}")
            os.replace(source, target)
            kept.append(str(target))
    if anchor.exists():
        os.replace(anchor, Path(f"{anchor}.damaged-{stamp}"))
    journal = Journal(path)
    try:
        journal.append(
            "recovered",
            {
                "problem": problem,
                "replaced": old,
                "kept_as": kept,
            },
        )
        summary = {
            "problem": problem,
            "replaced": old,
            "kept_as": kept,
            "journal_id": journal.journal_id,
            "path": str(path),
        }
    finally:
        journal.close()
    return summary


def _read_anchor_quietly(anchor: Path) -> dict[str, Any] | None:
    from .guard import read_anchor

    try:
        return read_anchor(anchor)
    except BrokerError:
        return None
