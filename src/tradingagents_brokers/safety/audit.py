"""Auditing a journal: its hash chain, every table rebuilt from the chain, its identity, its end.

The hash chain (:meth:`Journal.verify`) proves that no *event* was edited,
inserted or removed - but the journal also keeps tables derived from the events
(``intents``, read by the risk checks and by idempotency) and its identity
(``meta``), and a chain that was cut back at the end still verifies. So
:func:`audit`:

* rebuilds the ``intents`` table from the chain - each intent event carries the
  row it wrote, each later change the columns it set (``payload["projection"]``)
  - and reports every row that is missing, extra, or differs, naming the intent
  and the column;
* compares ``meta`` with the identity recorded in the chain (the ``journal``
  event, the first of a new journal);
* with ``expect_head=(seq, hash)``, an anchor kept somewhere else, checks that
  the chain still holds that event: a journal cut back (rows deleted, triggers
  dropped) keeps a valid chain but loses its anchor.

Intents written before rows were recorded in the chain cannot be rebuilt; they
are listed as ``unverifiable`` rather than passed or failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from .archive import archived_hash, check_archives
from .journal import Journal
from .records import as_text

__all__ = ["JournalAudit", "audit", "parse_head"]


@attrs.frozen
class JournalAudit:
    """What :func:`audit` found. ``ok`` when there is no problem."""

    events: int
    head: tuple[int, str] | None
    integrity: str
    problems: tuple[str, ...]
    unverifiable: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def head_text(self) -> str:
        """The anchor to keep: ``SEQ:HASH`` (empty for an empty journal)."""
        return "" if self.head is None else f"{self.head[0]}:{self.head[1]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head_text() or None,
            "integrity_check": self.integrity,
            "problems": list(self.problems),
            "unverifiable_intents": list(self.unverifiable),
        }


def parse_head(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` as printed by ``journal verify --print-head``; ``ValueError`` otherwise."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"an anchor is SEQ:HASH (e.g. 42:3f...), not {text!r}")
    return int(seq), digest


#: Intents rebuilt and compared at a time: the audit's memory does not grow past this.
CHUNK = 2000
#: Problems listed one by one; more are counted.
MAX_PROBLEMS = 50


def audit(
    journal: Journal,
    *,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
    archives: Path | None = None,
) -> JournalAudit:
    """Check ``journal`` from end to end; see the module docstring.

    It reads a chunk at a time, so its memory stays flat however long the journal,
    and it reports a damaged row as a problem rather than failing on it.
    """
    problems: list[str] = []
    chain = journal.verify(progress)
    if not chain.ok:
        problems.append(chain.problem)
    try:
        integrity = journal.integrity_check()
    except sqlite3.DatabaseError as exc:
        integrity = str(exc)
    if integrity != "ok":
        problems.append(f"PRAGMA integrity_check: {integrity}")
    problems.extend(_identity(journal))
    mismatches, unverifiable = _compare_intents(journal)
    problems.extend(mismatches[:MAX_PROBLEMS])
    if len(mismatches) > MAX_PROBLEMS:
        problems.append(f"... and {len(mismatches) - MAX_PROBLEMS} more differences")
    if archives is not None:  # the sealed ranges: each file, and its link to the next
        problems.extend(check_archives(journal, archives))
    head = journal.head()
    if expect_head is not None:
        problems.extend(_anchor(journal, expect_head, head, archives))
    return JournalAudit(
        events=chain.events,
        head=head,
        integrity=integrity,
        problems=tuple(problems),
        unverifiable=tuple(sorted(unverifiable)),
    )


def _payload(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """An event's payload, or the problem that stops reading it."""
    decoded = as_text(row)
    if isinstance(decoded, str):
        return None, f"event {row['seq']} is damaged: its {decoded} is not readable text"
    try:
        payload = json.loads(decoded["payload"])
    except ValueError:
        return None, f"event {row['seq']} is damaged: its payload is not JSON"
    return (payload if isinstance(payload, dict) else {}), None


def _identity(journal: Journal) -> list[str]:
    problems: list[str] = []
    ids = []
    for row in journal.raw_events_where("kind = 'journal'"):
        payload, problem = _payload(row)
        if problem is not None:
            problems.append(problem)
        elif payload is not None:
            ids.append(payload.get("journal_id"))
    if not ids:
        return [*problems, "the chain holds no identity record (journal event)"]
    problems.extend(f"the chain records a second identity {i!r}" for i in ids[1:] if i != ids[0])
    rows = {row["key"]: row["value"] for row in journal.table("meta")}
    if rows.get("journal_id") != ids[0]:
        problems.append(f"meta journal_id is {rows.get('journal_id')!r}, the chain says {ids[0]!r}")
    problems.extend(
        f"meta has a row the journal never writes: {key!r}"
        for key in rows.keys() - {"journal_id", "schema_version"}
    )
    return problems


def _compare_intents(journal: Journal) -> tuple[list[str], set[int]]:
    """Rebuild the intents table from the chain a range of intents at a time; compare."""
    problems: list[str] = []
    unverifiable: set[int] = set()
    last = journal.last_intent_id()
    sealed = journal.sealed()[0]  # archived events not deleted yet are not the chain's
    for low in range(1, last + 1, CHUNK):
        high = low + CHUNK - 1
        rebuilt, missing, damaged = _rebuild(
            journal.raw_events_where(
                "intent_id BETWEEN ? AND ? AND seq > ?", (low, high, sealed), "intent_id, seq"
            )
        )
        problems.extend(damaged)
        unverifiable |= missing
        stored = journal.intents_between(low, high)
        problems.extend(_compare(rebuilt, missing, stored))
    return problems, unverifiable


def _rebuild(
    events: Iterable[dict[str, Any]],
) -> tuple[dict[int, dict[str, Any]], set[int], list[str]]:
    rows: dict[int, dict[str, Any]] = {}
    unverifiable: set[int] = set()
    damaged: list[str] = []
    for event in events:
        intent_id = event["intent_id"]
        payload, problem = _payload(event)
        if problem is not None:
            damaged.append(problem)
            unverifiable.add(intent_id)
            continue
        assert payload is not None
        projection = payload.get("projection")
        kind = event["kind"].decode() if isinstance(event["kind"], bytes) else event["kind"]
        if kind == "intent":
            if projection is None:
                unverifiable.add(intent_id)
            else:  # columns left out were NULL, or said elsewhere (see Journal.new_intent)
                rows[intent_id] = {
                    "intent_id": intent_id,
                    "client_order_id": payload.get("client_order_id"),
                    "updated_at": projection.get("created_at"),
                    **projection,
                }
        elif projection is not None and intent_id in rows:
            rows[intent_id].update(projection)
    return rows, unverifiable, damaged


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _compare(
    rebuilt: dict[int, dict[str, Any]], unverifiable: set[int], stored: list[dict[str, Any]]
) -> list[str]:
    problems = []
    table = {row["intent_id"]: row for row in stored}
    for intent_id in sorted(set(table) | set(rebuilt), key=lambda i: (i is None, i or 0)):
        if intent_id in unverifiable:
            continue
        if intent_id not in table:
            problems.append(f"intent {intent_id} is in the chain but not in the intents table")
            continue
        if intent_id not in rebuilt:
            problems.append(f"intents table row {intent_id} was never recorded in the chain")
            continue
        row, expected = table[intent_id], rebuilt[intent_id]
        for column in sorted(set(row) | set(expected)):
            if _text(row.get(column)) != _text(expected.get(column)):
                problems.append(
                    f"intent {intent_id}: {column} is {row.get(column)!r} in the intents table, "
                    f"{expected.get(column)!r} in the chain"
                )
    return problems


def _anchor(
    journal: Journal,
    anchor: tuple[int, str],
    head: tuple[int, str] | None,
    archives: Path | None = None,
) -> list[str]:
    seq, digest = anchor
    if seq <= journal.sealed()[0]:
        stored_hash = archived_hash(journal, archives, seq) if archives else None
        if stored_hash is None:
            return [f"the anchored event {seq} is archived, and no archive file holds it"]
        if stored_hash != digest:
            return [
                f"event {seq} is not the anchored one (its archived hash is {stored_hash[:16]}...)"
            ]
        return []
    found = next(iter(journal.raw_events_where("seq = ?", (seq,))), None)
    if found is None:
        last = head[0] if head else 0
        return [
            f"the anchored event {seq} is gone: the journal ends at event {last} "
            "(cut back, or not the anchored journal)"
        ]
    stored = found["hash"].decode() if isinstance(found["hash"], bytes) else found["hash"]
    if stored != digest:
        return [f"event {seq} is not the anchored one (its hash is {stored[:16]}...)"]
    return []
