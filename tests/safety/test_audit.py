"""The journal audit: an edit of any table or column is found, and a cut tail with an anchor."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from tradingagents_brokers import PluginHost, make_plugin_manager
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.gateway import GatedBroker
from tradingagents_brokers.safety.audit import audit, parse_head
from tradingagents_brokers.safety.journal import Journal

from ..fakes import BookBroker, FakePlugin


@pytest.fixture
def path(tmp_path):
    """A journal that lived: orders answered, filled by the stream, canceled, reconciled."""
    book = BookBroker()
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(book), name="fake-plugin")
    config = effective_config(
        {"trading_broker": "fake", "duplicate_window_seconds": 0, "journal_path": None}
    )
    journal = Journal(tmp_path / "journal.db")
    gated = GatedBroker(PluginHost(pm), "fake", book, config, journal)
    orders = [
        gated.place_order(
            symbol="AAPL",
            side="buy",
            qty=n,
            order_type="limit",
            limit_price=99,
            time_in_force="gtc",
        )
        for n in (1, 2, 3)
    ]
    book.fill(orders[0].order_id)
    book.fill(orders[1].order_id, qty=1)
    gated.cancel_order(orders[2].order_id)
    gated.stream.poll()
    gated.reconcile()
    gated.halt("end of the day")
    gated.close()
    journal.close()
    return tmp_path / "journal.db"


def _audit(path, **kwargs):
    journal = Journal(path)
    try:
        return audit(journal, **kwargs)
    finally:
        journal.close()


def _sql(path, *statements, params=()):
    db = sqlite3.connect(path)
    for trigger in ("events_no_update", "events_no_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        db.execute(statement, params)
    db.commit()
    db.close()


def _columns(path, table):
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()


def _other(value):
    """A value that differs from ``value`` however it is compared (as text or not)."""
    if value is None:
        return "0"
    if isinstance(value, int):
        return value + 1000
    return f"{value}x"


def test_a_journal_that_lived_audits_clean(path):
    report = _audit(path)
    assert report.ok, report.problems
    assert report.unverifiable == ()
    assert report.integrity == "ok"
    statuses = {row.status for row in Journal(path).intents()}
    assert statuses == {"filled", "partially_filled", "canceled"}


INTENTS_COLUMNS = (
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
)


def test_the_tests_cover_every_intents_column(path):
    assert tuple(_columns(path, "intents")) == INTENTS_COLUMNS  # a new column needs its case


@pytest.mark.parametrize("column", INTENTS_COLUMNS)
def test_an_edit_of_any_intents_column_is_named(path, column):
    rng = random.Random(column)
    db = sqlite3.connect(path)
    ids = [row[0] for row in db.execute("SELECT intent_id FROM intents")]
    intent_id = rng.choice(ids)
    old = db.execute(f"SELECT {column} FROM intents WHERE intent_id = ?", (intent_id,)).fetchone()
    db.close()
    _sql(
        path,
        f"UPDATE intents SET {column} = ? WHERE intent_id = ?",
        params=(_other(old[0]), intent_id),
    )
    report = _audit(path)
    assert not report.ok
    if column == "intent_id":
        assert f"intent {intent_id} is in the chain but not in the intents table" in report.problems
        assert f"intents table row {intent_id + 1000} was never recorded in the chain" in (
            report.problems
        )
    else:
        assert any(p.startswith(f"intent {intent_id}: {column} is ") for p in report.problems)


def test_a_deleted_or_inserted_intents_row_is_named(path):
    _sql(path, "DELETE FROM intents WHERE intent_id = 2")
    assert "intent 2 is in the chain but not in the intents table" in _audit(path).problems
    _sql(
        path,
        "INSERT INTO intents (intent_id, client_order_id, broker, symbol, side, dedupe_key, "
        "status, source, created_at, updated_at) VALUES (77, 'forged', 'fake', 'AAPL', 'buy', "
        "'k', 'new', 'python', 'x', 'x')",
    )
    assert "intents table row 77 was never recorded in the chain" in _audit(path).problems


@pytest.mark.parametrize("column", ["key", "value"])
def test_an_edit_of_the_journals_identity_is_found(path, column):
    _sql(path, f"UPDATE meta SET {column} = {column} || 'x'")
    report = _audit(path)
    assert not report.ok
    assert any("journal_id" in p for p in report.problems)
    if column == "key":
        assert "meta has a row the journal never writes: 'journal_idx'" in report.problems


def test_the_identity_is_the_first_event_and_recorded_once(path):
    journal = Journal(path)
    Journal(path).close()  # opening again adds nothing
    events = journal.events()
    assert events[0]["kind"] == "journal"
    assert events[0]["payload"] == {"journal_id": journal.journal_id}
    assert [e["kind"] for e in events].count("journal") == 1
    journal.close()


@pytest.mark.parametrize(
    "column", ["seq", "at", "kind", "intent_id", "broker", "payload", "prev_hash", "hash"]
)
def test_an_edit_of_any_events_column_breaks_the_chain(path, column):
    assert column in _columns(path, "events")
    rng = random.Random(column)
    db = sqlite3.connect(path)
    count = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    seq = rng.randrange(1, count + 1)
    old = db.execute(f"SELECT {column} FROM events WHERE seq = ?", (seq,)).fetchone()[0]
    db.close()
    new = _other(old)
    if column == "payload":
        new = json.dumps({**json.loads(old), "forged": True}, sort_keys=True)
    _sql(path, f"UPDATE events SET {column} = ? WHERE seq = ?", params=(new, seq))
    report = _audit(path)
    assert not report.ok
    assert any("event" in p for p in report.problems)


def test_a_cut_tail_passes_the_chain_and_the_tables_but_not_its_anchor(path):
    anchor = _audit(path).head
    assert anchor is not None
    _sql(path, f"DELETE FROM events WHERE seq = {anchor[0]}")  # the halt, last of all
    assert _audit(path).ok  # a consistent journal: nothing but the anchor can tell
    anchored = _audit(path, expect_head=anchor)
    assert anchored.problems == (
        f"the anchored event {anchor[0]} is gone: the journal ends at event {anchor[0] - 1} "
        "(cut back, or not the anchored journal)",
    )


@pytest.mark.parametrize("cut", [3, 7, 12])
def test_a_deeper_cut_is_found_with_the_anchor(path, cut):
    anchor = _audit(path).head
    assert anchor is not None
    _sql(path, f"DELETE FROM events WHERE seq > {anchor[0] - cut}")
    report = _audit(path, expect_head=anchor)
    assert f"the anchored event {anchor[0]} is gone" in report.problems[-1]


def test_an_anchor_from_another_journal_does_not_match(path, tmp_path):
    other = Journal(tmp_path / "other.db")
    other.append("note", {})
    stranger = other.head()
    other.close()
    assert stranger is not None
    ours = _audit(path)
    report = _audit(path, expect_head=stranger)
    assert ours.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"event {stranger[0]} is not the anchored one")


def test_anchors_parse_strictly():
    digest = "ab" * 32
    assert parse_head(f"12:{digest}") == (12, digest)
    for bad in ("12", f"x:{digest}", "12:abc", f"12:{'G' * 64}"):
        with pytest.raises(ValueError, match="SEQ:HASH"):
            parse_head(bad)


def test_intents_from_before_rows_were_chained_are_unverifiable_not_failed(path):
    db = sqlite3.connect(path)
    rows = db.execute("SELECT seq, payload FROM events WHERE kind = 'intent'").fetchall()
    db.close()
    seq, payload = rows[0]
    old = json.loads(payload)
    del old["projection"]
    _sql(path, "UPDATE events SET payload = ? WHERE seq = ?", params=(json.dumps(old), seq))
    report = _audit(path)
    assert report.unverifiable == (1,)
    assert [p for p in report.problems if p.startswith("intent 1")] == []
