"""Archiving the journal: seal its oldest events in a file, remove them, verify both together.

``journal archive --before DATE`` writes the events before ``DATE`` to a JSON Lines
(or Parquet) file, one event a line as stored after a line that describes the
range, and syncs it - outside the store's write section, so orders and a halt do
not wait on it. One short write section then checks the range is unchanged and
records the seal; the sealed events leave the store afterwards, a chunk to a
write section (:func:`purge`). The seal is:

* a row of ``archives``: the range, the hash of its last event (the live chain
  goes on from it), the highest intent id in it (ids are never handed out again),
  the file's name and SHA-256;
* a ``journal`` event on the live chain naming the same, so the seal itself is
  hash-chained, and the journal's identity stays on the live chain;
* a ``trading_state`` event carrying the current state when the range held the
  last one, so a halt is never archived away.

Only finished business is archived: the range stops before the first event of the
oldest intent that is still open, unresolved, or has events after the cut, and
before the last day (the rate, duplicate and daily limits read it).
:func:`check_archives` re-reads every file, checks its digest, and walks its chain
into the next file and into the live chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import BrokerConfigurationError, BrokerError
from .journal import Journal
from .records import FINAL_STATUSES, GENESIS, as_text, stamp, walk_chain

__all__ = ["ArchiveReport", "archive", "archived_hash", "check_archives", "plan", "purge"]

#: Statuses of intents that are done with: their events may be archived.
ARCHIVABLE = FINAL_STATUSES | frozenset({"not_placed", "missing"})
#: The newest day stays live: the daily, rate and duplicate limits read it.
MIN_AGE = dt.timedelta(days=1)
#: Events read for the file at a time, and deleted per write section.
CHUNK = 2000


@attrs.frozen
class ArchiveReport:
    """What :func:`archive` sealed (``events == 0``: nothing could be)."""

    first_seq: int
    last_seq: int
    events: int
    intents: int
    file: str | None
    sha256: str | None
    held_back: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def plan(journal: Journal, before: dt.datetime) -> tuple[int, int, str | None]:
    """The range ``(first, last)`` of events to seal, and what held it back, if anything."""
    start = journal.sealed()[0]
    row = journal.backend.query_one(
        "SELECT MAX(seq) AS last FROM events WHERE seq > ? AND at < ?", (start, stamp(before))
    )
    last = int(row["last"] or 0) if row else 0
    held: str | None = None
    while last > start:
        blocker = _first_unfinished(journal, start, last)
        if blocker is None:
            break
        seq, intent_id, status = blocker
        held = f"intent {intent_id} ({status}) began at event {seq}"
        last = seq - 1
    return start + 1, max(last, start), held


def _first_unfinished(journal: Journal, start: int, last: int) -> tuple[int, int, str] | None:
    """The first event of the first intent in ``(start, last]`` that must stay live."""
    marks = ", ".join("?" for _ in ARCHIVABLE)
    row = journal.backend.query_one(
        "SELECT MIN(e.seq) AS seq, e.intent_id AS intent_id, i.status AS status "
        "FROM events e LEFT JOIN intents i ON i.intent_id = e.intent_id "
        "WHERE e.intent_id IN (SELECT intent_id FROM events WHERE seq > ? AND seq <= ? "
        "AND intent_id IS NOT NULL) "
        "GROUP BY e.intent_id, i.status "
        f"HAVING COALESCE(i.status, '') NOT IN ({marks}) OR MAX(e.seq) > ? "
        "ORDER BY MIN(e.seq) LIMIT 1",
        (start, last, *sorted(ARCHIVABLE), last),
    )
    if row is None:
        return None
    return int(row["seq"]), int(row["intent_id"]), str(row["status"] or "no row")


def archive(
    journal: Journal,
    before: dt.datetime,
    directory: Path,
    *,
    now: dt.datetime | None = None,
    file_format: str = "jsonl",
) -> ArchiveReport:
    """Seal the finished events before ``before`` in a file under ``directory``.

    ``file_format`` is ``jsonl`` or ``parquet`` (needs pyarrow: the ``parquet`` extra).
    """
    moment = now or journal.now()
    if file_format not in FORMATS:
        raise BrokerConfigurationError(f"--format is jsonl or parquet, not {file_format[:20]!r}")
    if before.tzinfo is None:
        raise BrokerConfigurationError("--before needs a time zone, e.g. 2026-11-01T00:00:00Z")
    if before > moment - MIN_AGE:
        raise BrokerConfigurationError(
            f"the last {MIN_AGE.days} day stays live (the daily, rate and duplicate limits "
            f"read it); give --before {stamp(moment - MIN_AGE)[:10]} or earlier"
        )
    if journal.damage is not None:
        raise BrokerError(f"the journal is damaged ({journal.damage}); verify it first")
    writer = FORMATS[file_format]()  # a missing pyarrow is said before anything is done
    directory.mkdir(parents=True, exist_ok=True)
    purge(journal)  # what an earlier archive sealed and could not finish deleting
    # The file is written and synced outside the write section: orders and a halt never
    # wait on it. The range is finished business, so it cannot change meanwhile; the
    # write section checks that (the same range, the same last hash) before it seals.
    first, last, held = plan(journal, before)
    if last < first:
        return ArchiveReport(first, last, 0, 0, None, None, held)
    anchor = journal.sealed()[1]
    name = f"journal-{journal.journal_id}-{first:012d}-{last:012d}.{file_format}"
    path = directory / name
    head = {"journal_id": journal.journal_id, "first_seq": first, "last_seq": last}
    rows = _Rows(journal, first, last, anchor)
    temporary = path.with_name(name + ".part")
    writer(temporary, {**head, "anchor": anchor}, rows)
    if rows.count != last - first + 1:
        temporary.unlink()
        raise BrokerError(f"events {first}..{last} are not all there; run journal verify")
    _durable(temporary, path)  # on disk before the events leave the journal
    digest = _digest(path)
    with journal.transaction():
        if plan(journal, before)[:2] != (first, last) or _hash_of(journal, last) != rows.last_hash:
            path.unlink()
            raise BrokerError(
                "the journal changed while the archive was written (another archive, or an "
                "intent in the range moved on); run journal archive again"
            )
        intents = _seal(journal, first, last, rows.last_hash, path, digest, moment)
    purge(journal)
    return ArchiveReport(first, last, rows.count, intents, str(path), digest, held)


def purge(journal: Journal) -> int:
    """Delete the sealed events still in the store, :data:`CHUNK` to a write section.

    The seal is one short write section; the events it sealed leave afterwards, a
    chunk at a time, so no order or halt waits for more than one chunk. Verify and
    the chain start after the sealed range already, so events waiting to go change
    nothing; a purge cut short (a crash) is finished by the next archive.
    """
    sealed = journal.sealed()[0]
    deleted = 0
    while True:
        with journal.transaction():
            row = journal.backend.query_one(
                "SELECT MIN(seq) AS low FROM events WHERE seq <= ?", (sealed,)
            )
            low = None if row is None or row["low"] is None else int(row["low"])
            if low is None:
                return deleted
            high = min(low + CHUNK - 1, sealed)
            journal.backend.execute("DELETE FROM events WHERE seq >= ? AND seq <= ?", (low, high))
            deleted += high - low + 1


def _hash_of(journal: Journal, seq: int) -> str | None:
    row = journal.backend.query_one("SELECT hash FROM events WHERE seq = ?", (seq,))
    return None if row is None else str(row["hash"])


class _Rows:
    """Events ``first..last`` as stored, counted; the hash of the last one kept."""

    def __init__(self, journal: Journal, first: int, last: int, anchor: str) -> None:
        self.journal, self.first, self.last = journal, first, last
        self.count, self.last_hash = 0, anchor

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self.journal.raw_events(after=self.first - 1):
            if int(raw["seq"]) > self.last:
                return
            row = as_text(raw)
            if isinstance(row, str):
                raise BrokerError(f"event {raw['seq']} is damaged; run journal verify first")
            self.count, self.last_hash = self.count + 1, str(row["hash"])
            yield {k: row[k] for k in _COLUMNS}


def _jsonl() -> Callable[[Path, dict[str, Any], Iterable[dict[str, Any]]], None]:
    def write(path: Path, head: dict[str, Any], rows: Iterable[dict[str, Any]]) -> None:
        with path.open("w", encoding="utf-8") as out:
            out.write(_line({k: v for k, v in head.items() if k != "anchor"}))
            out.write(_line({"anchor": head["anchor"]}))
            for row in rows:
                out.write(_line(row))

    return write


def _parquet() -> Callable[[Path, dict[str, Any], Iterable[dict[str, Any]]], None]:
    pa, pq = _pyarrow()

    def write(path: Path, head: dict[str, Any], rows: Iterable[dict[str, Any]]) -> None:
        schema = pa.schema(
            [(c, pa.int64() if c in ("seq", "intent_id") else pa.string()) for c in _COLUMNS],
            metadata={"tradingagents_brokers": json.dumps(head, sort_keys=True)},
        )
        with pq.ParquetWriter(str(path), schema) as out:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == CHUNK:
                    out.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch:
                out.write_table(pa.Table.from_pylist(batch, schema=schema))

    return write


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BrokerConfigurationError(
            "Parquet archives need pyarrow: install the extra (pip install -e '.[parquet]' "
            "from the source tree), or archive as --format jsonl"
        ) from None
    return pa, pq


FORMATS = {"jsonl": _jsonl, "parquet": _parquet}


def _line(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n"


def _durable(temporary: Path, path: Path) -> None:
    with temporary.open("rb") as written:
        os.fsync(written.fileno())
    temporary.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


_COLUMNS = ("seq", "at", "kind", "intent_id", "broker", "payload", "prev_hash", "hash")


def _seal(
    journal: Journal,
    first: int,
    last: int,
    last_hash: str,
    path: Path,
    digest: str,
    moment: dt.datetime,
) -> int:
    backend = journal.backend
    state = journal.trading_state()
    row = backend.query_one(
        "SELECT MAX(intent_id) AS top FROM events WHERE seq >= ? AND seq <= ?", (first, last)
    )
    top = max(int(row["top"] or 0) if row else 0, journal.sealed()[2])
    gone = backend.query_one(
        "SELECT COUNT(DISTINCT intent_id) AS n FROM events WHERE seq >= ? AND seq <= ?",
        (first, last),
    )
    backend.execute(
        "INSERT INTO archives (last_seq, first_seq, last_hash, max_intent_id, file, sha256, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (last, first, last_hash, top, path.name, digest, stamp(moment)),
    )
    backend.execute(
        "DELETE FROM intents WHERE intent_id IN "
        "(SELECT intent_id FROM events WHERE seq >= ? AND seq <= ?)",
        (first, last),
    )
    sealed = {"first_seq": first, "last_seq": last, "file": path.name, "sha256": digest}
    journal.append("journal", {"journal_id": journal.journal_id, "archived": sealed})
    still = backend.query_one(  # one the archive leaves: the sealed ones go in purge()
        "SELECT 1 AS found FROM events WHERE kind = 'trading_state' AND seq > ?", (last,)
    )
    if state.get("at") is not None and still is None:
        carried = {k: v for k, v in state.items() if k != "at"}
        journal.append("trading_state", {**carried, "carried_from": state["at"]})
    return int(gone["n"] or 0) if gone else 0


def check_archives(journal: Journal, directory: Path) -> list[str]:
    """Problems with the archives the journal records: missing, altered, or not linking.

    Each seal is recorded twice: a row of ``archives`` and a ``journal`` event on the
    chain (live, or in a later archive); the two must agree.
    """
    problems: list[str] = []
    anchor = GENESIS
    seals = _seals(journal.raw_events_where("kind = 'journal'"))
    rows = journal.backend.query("SELECT * FROM archives ORDER BY last_seq")
    for row in rows:
        name, first, last = str(row["file"]), int(row["first_seq"]), int(row["last_seq"])
        path = directory / name
        if not path.exists():
            problems.append(f"archive {name} (events {first}..{last}) is not in {directory}")
        else:
            problem = _check_file(path, str(row["sha256"]), first, anchor, str(row["last_hash"]))
            if problem is not None:
                problems.append(f"archive {name}: {problem}")
            else:
                seals.update(_seals(_events(path)))
        anchor = str(row["last_hash"])
    for row in rows:
        name, last = str(row["file"]), int(row["last_seq"])
        if seals.get(last) != (name, str(row["sha256"])) and (directory / name).exists():
            problems.append(f"archive {name} is not the one the chain records for events ..{last}")
    return problems


def _seals(rows: Iterable[Mapping[str, Any]]) -> dict[int, tuple[str, str]]:
    """The seals recorded by the ``journal`` events among ``rows``: last seq -> (file, digest)."""
    found: dict[int, tuple[str, str]] = {}
    for raw in rows:
        row = as_text(raw)
        if isinstance(row, str) or row.get("kind") != "journal":
            continue  # a damaged row: the chain walk reports it
        sealed = json.loads(row["payload"]).get("archived")
        if isinstance(sealed, dict):
            found[int(sealed["last_seq"])] = (str(sealed["file"]), str(sealed["sha256"]))
    return found


def _check_file(path: Path, digest: str, first: int, anchor: str, last_hash: str) -> str | None:
    if _digest(path) != digest:
        return "its SHA-256 differs from the one recorded when it was sealed (altered)"
    events = _events(path)
    head = next(events, None)
    if head is None or head.get("anchor") != anchor:
        return "it does not go on from the archive before it"
    result = walk_chain(events, None, (first - 1, anchor))
    if not result.ok:
        return result.problem
    if result.events and _last_hash(path) != last_hash:
        return "its last event is not the one the live chain goes on from"
    return None


def archived_hash(journal: Journal, directory: Path, seq: int) -> str | None:
    """The hash of archived event ``seq`` as its file holds it (None: no file holds it)."""
    row = journal.backend.query_one(
        "SELECT file FROM archives WHERE first_seq <= ? AND last_seq >= ?", (seq, seq)
    )
    path = directory / str(row["file"]) if row else None
    if path is None or not path.exists():
        return None
    for event in _events(path):
        if event.get("seq") == seq:
            return str(event["hash"])
    return None


def _events(path: Path) -> Iterator[dict[str, Any]]:
    """An archive's ``{"anchor": ...}`` then its events, a chunk at a time."""
    if path.suffix == ".parquet":
        _, pq = _pyarrow()
        source = pq.ParquetFile(str(path))
        meta = source.schema_arrow.metadata or {}
        head = json.loads(meta.get(b"tradingagents_brokers", b"{}"))
        yield {"anchor": head.get("anchor")}
        for batch in source.iter_batches(batch_size=CHUNK):
            yield from batch.to_pylist()
        return
    with path.open(encoding="utf-8") as lines:
        next(lines, None)  # the description
        for text in lines:
            yield json.loads(text)


def _last_hash(path: Path) -> str:
    last: dict[str, Any] = {}
    for last in _events(path):  # noqa: B007 - the final one is wanted
        pass
    return str(last.get("hash", ""))
