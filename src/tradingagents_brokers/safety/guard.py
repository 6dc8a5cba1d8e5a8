"""What keeps a damaged, replaced, emptied or cut-back journal from taking orders.

SQLite's own checks say nothing of a journal file that was emptied, deleted,
swapped for another journal or another program's database, or cut back at its
end: each is a valid database. So the journal keeps its *anchor* outside the
file - ``journal.db.anchor`` beside it (for a PostgreSQL store, a file in the
state directory named after the store) - holding its identity, an event of its
chain (seq and hash, brought up to date after durable commits at most once a
second and when it closes) and, once ``journal verify`` found damage, what it
found. When a journal opens:

* an anchor without its journal (the file gone or empty) stops everything: no
  new journal is ever started over one that existed;
* a file that is not a SQLite database, or one that holds tables but not a
  journal's, or a journal missing a column of its schema, stops everything too;
* a journal whose identity is not the anchor's, that no longer holds the
  anchored event, whose last events do not chain, or that ``journal verify``
  found damaged, opens for reading but refuses orders (``damage``).

The way back is ``tradingagents-brokers journal recover``: the damaged file is
kept aside, and a new chain starts whose first events record what it replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import JournalDamagedError
from ..store.backend import Backend
from .records import GENESIS, as_text, chain_hash

__all__ = [
    "ANCHOR_SECONDS",
    "RECOVERY",
    "TAIL",
    "anchor_path",
    "anchor_problem",
    "check_before_open",
    "check_schema",
    "read_anchor",
    "tail_problem",
    "write_anchor",
]

#: How often (at most) a durable commit brings the anchor up to date, in seconds.
ANCHOR_SECONDS = 1.0
#: How many of the last events are walked when a journal opens.
TAIL = 64
#: What a journal's tables must hold.
_COLUMNS = {
    "events": {"seq", "at", "kind", "intent_id", "broker", "payload", "prev_hash", "hash"},
    "intents": {
        "intent_id",
        "client_order_id",
        "broker",
        "symbol",
        "side",
        "qty",
        "notional",
        "value",
        "dedupe_key",
        "status",
        "order_id",
        "source",
        "created_at",
        "updated_at",
        "filled_qty",
        "owner",
    },
    "meta": {"key", "value"},
}
RECOVERY = (
    "see the damage with `tradingagents-brokers journal verify`, then restore the file "
    "from a backup, or keep it aside and start a new chain with "
    "`tradingagents-brokers journal recover` (docs/safety.md, recovering a journal)"
)


def anchor_path(journal: Path) -> Path:
    """Where the anchor of the SQLite journal ``journal`` lives: beside it."""
    return journal.with_name(journal.name + ".anchor")


def read_anchor(path: Path) -> dict[str, Any] | None:
    """The anchor at ``path``, or None when there is none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalDamagedError(f"the journal's anchor {path} cannot be read ({exc})") from None
    try:
        anchor = json.loads(text)
        assert isinstance(anchor, dict)
        str(anchor["journal_id"])
        int(anchor["seq"])
        str(anchor["hash"])
    except (ValueError, KeyError, TypeError, AssertionError):
        raise JournalDamagedError(
            f"the journal's anchor {path} is damaged; it records which journal belongs here, "
            f"so nothing is traded until it is put right: {RECOVERY}"
        ) from None
    return anchor


def write_anchor(path: Path, anchor: dict[str, Any]) -> None:
    """Replace the anchor at ``path`` in one step (a reader never sees half of it)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(anchor, sort_keys=True))
    os.replace(temporary, path)


def check_before_open(journal: Path, anchor: Path) -> None:
    """Refuse to open (and so create) a journal file that its anchor says should exist."""
    recorded = read_anchor(anchor)
    if recorded is None:
        return
    try:
        size = journal.stat().st_size
    except FileNotFoundError:
        size = None
    if size:
        return
    what = "is gone" if size is None else "is empty"
    raise JournalDamagedError(
        f"the journal at {journal} {what}, but its anchor says it held journal "
        f"{recorded['journal_id']} up to event {recorded['seq']}; no new journal is started "
        f"over it: {RECOVERY}",
        details={"journal": str(journal), "anchor": str(anchor)},
    )


def check_schema(backend: Backend, location: str) -> None:
    """Refuse a file that is not a journal: another program's database, or a part missing."""
    if backend.dialect == "sqlite":
        rows = backend.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = backend.query(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
    tables = {row["name"] for row in rows}
    if tables and "events" not in tables:
        others = ", ".join(sorted(tables)[:5])
        raise JournalDamagedError(
            f"{location} is a database, but not a journal (it holds {others}); point "
            "journal_path or store_url at the journal, or move this file away"
        )
    for table, wanted in _COLUMNS.items():
        if table not in tables:
            continue
        have = _columns(backend, table)
        missing = sorted(wanted - have)
        if missing and not (table == "intents" and set(missing) <= {"owner", "filled_qty"}):
            raise JournalDamagedError(
                f"the journal at {location} is damaged: its {table} table lacks "
                f"{', '.join(missing)}: {RECOVERY}"
            )


def _columns(backend: Backend, table: str) -> set[str]:
    if backend.dialect == "sqlite":
        return {row["name"] for row in backend.query(f"PRAGMA table_info({table})")}
    rows = backend.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {row["column_name"] for row in rows}


def tail_problem(rows: list[dict[str, Any]]) -> str | None:
    """Whether the last events (``rows``, oldest first) still chain and hash.

    The first row only gives the hash the next one links to, unless it is event 1
    (or a row that names its previous hash, as older events do).
    """
    prev: str | None = None
    for raw in rows:
        row = as_text(raw)
        if isinstance(row, str):
            return f"event {raw['seq']} is damaged: its {row} is not readable text"
        if prev is not None and row["prev_hash"] not in ("", prev):
            return f"event {row['seq']} does not link to event {row['seq'] - 1}"
        if prev is None and row["seq"] == 1:
            if row["prev_hash"] not in ("", GENESIS):
                return "event 1 does not start the chain"
            prev = GENESIS
        if prev is None:
            prev = row["prev_hash"] or None
        if prev is not None:
            digest = chain_hash(
                prev,
                row["seq"],
                row["at"],
                row["kind"],
                row["intent_id"],
                row["broker"],
                row["payload"],
            )
            if digest != row["hash"]:
                return f"event {row['seq']} was altered (hash mismatch)"
        prev = row["hash"]
    return None


def anchor_problem(anchor: dict[str, Any], journal_id: str, event: dict[str, Any] | None) -> str:
    """What is wrong with a journal against its anchor ('' when nothing is)."""
    if anchor.get("damaged"):
        return f"journal verify found it damaged: {anchor['damaged']}"
    if str(anchor["journal_id"]) != journal_id:
        return (
            f"it is journal {journal_id}, but its anchor belongs to journal "
            f"{anchor['journal_id']}: the file was replaced"
        )
    if event is None:
        return (
            f"it no longer holds event {anchor['seq']}, which its anchor recorded: "
            "it was cut back or rewritten"
        )
    stored = event["hash"].decode() if isinstance(event["hash"], bytes) else event["hash"]
    if stored != anchor["hash"]:
        return f"its event {anchor['seq']} is not the one its anchor recorded: it was rewritten"
    return ""
