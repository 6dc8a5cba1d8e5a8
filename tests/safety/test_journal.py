"""The order journal: durability settings, append-only events, the hash chain, tamper detection."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal

import psycopg
import pytest

from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.store.postgres import PostgresBackend

from ..pg import schema_url


class Place:
    """Where a test's journal lives: a SQLite file or a PostgreSQL schema; reopened at will."""

    def __init__(self, kind, tmp_path):
        self.kind = kind
        self.path = tmp_path / "j.db"
        self.url = schema_url() if kind == "postgresql" else None
        self.opened = []

    def open(self, **kwargs):
        if self.url is None:
            journal = Journal(self.path, **kwargs)
        else:
            journal = Journal(PostgresBackend(self.url), **kwargs)
        self.opened.append(journal)  # closed at the end of the test
        return journal

    def tamper(self, statement, params=()):
        """Run ``statement`` on the raw database with the append-only triggers off."""
        if self.url is None:
            db = sqlite3.connect(self.path)
            for trigger in ("events_no_update", "events_no_delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            db.execute(statement, params)
            db.commit()
            db.close()
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
            conn.execute(statement.replace("?", "%s").encode(), params)
            conn.execute("ALTER TABLE events ENABLE TRIGGER USER")


@pytest.fixture
def place(store_kind, tmp_path):
    where = Place(store_kind, tmp_path)
    yield where
    for journal in where.opened:
        journal.close()


@pytest.fixture
def journal(place):
    j = place.open()
    yield j
    j.close()


def _intent(journal, **overrides):
    values = {
        "broker": "sim",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "1",
        "notional": None,
        "value": "100",
        "dedupe_key": "k",
        "status": "submitting",
        "source": "python",
        "client_order_id": None,
    }
    values.update(overrides)
    return journal.new_intent(values, {"request": {"symbol": "AAPL"}})


def test_every_connection_runs_wal_with_synchronous_full(tmp_path):
    journal = Journal(tmp_path / "journal.db")
    assert journal.pragma("journal_mode") == "wal"
    assert journal.pragma("synchronous") == 2  # FULL


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET payload = '{}' WHERE seq = 1", "DELETE FROM events WHERE seq = 1"],
)
def test_events_are_append_only(journal, statement):
    _intent(journal)
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="append-only"):
        journal.backend.execute(statement)
    assert journal.verify().ok


def test_intent_ids_determine_client_order_ids_and_are_never_reused(journal):
    first = _intent(journal)
    second = _intent(journal)
    assert first.client_order_id == f"tab-{journal.journal_id}-1"
    assert second.client_order_id == f"tab-{journal.journal_id}-2"
    assert journal.intent(first.client_order_id) == first
    with pytest.raises(KeyError):
        journal.intent(99)


def test_status_changes_update_the_projection_and_append_an_event(journal):
    intent = _intent(journal)
    journal.set_status(
        intent.intent_id, "new", order_id="o-1", event={"attempt": 1}, kind="broker_answer"
    )
    assert journal.intent(intent.intent_id).status == "new"
    assert journal.intent(intent.intent_id).order_id == "o-1"
    last = journal.events(intent_id=intent.intent_id)[-1]
    assert last["kind"] == "broker_answer"
    updated = journal.intent(intent.intent_id).updated_at
    assert last["payload"] == {
        "from": "submitting",
        "to": "new",
        "order_id": "o-1",
        "attempt": 1,
        "projection": {"status": "new", "updated_at": updated, "order_id": "o-1"},
    }
    assert journal.events(limit=1) == [last]


def test_timestamps_are_utc_to_the_millisecond(journal):
    _intent(journal)
    at = journal.events()[0]["at"]
    assert at.endswith("Z")
    assert len(at.split(".")[1]) == 4  # three digits and the Z


def test_a_rolled_back_transaction_leaves_nothing(journal):
    def crash_inside_the_decision():
        with journal.transaction():
            _intent(journal)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_inside_the_decision()
    assert [e["kind"] for e in journal.events()] == ["journal"]  # only its identity
    assert journal.intents() == []


def test_trading_state_persists_across_reopening(place):
    first = place.open()
    assert first.trading_state()["state"] == "active"
    first.set_trading_state("halted", "test", "cli")
    first.close()
    second = place.open()
    assert second.trading_state()["state"] == "halted"
    assert second.trading_state()["by"] == "cli"
    assert second.journal_id == first.journal_id
    second.close()


def test_an_intact_chain_verifies(journal):
    for _ in range(5):
        intent = _intent(journal)
        journal.set_status(intent.intent_id, "filled")
    result = journal.verify()
    assert (result.ok, result.events, result.broken_at) == (True, 11, None)  # and the identity
    assert journal.integrity_check() == "ok"


def test_verify_names_the_first_altered_event(place):
    journal = place.open()
    for _ in range(4):
        _intent(journal)
    journal.close()
    place.tamper("UPDATE events SET payload = ? WHERE seq = 3", ('{"request":{"symbol":"TSLA"}}',))
    reopened = place.open()
    result = reopened.verify()
    assert (result.ok, result.broken_at) == (False, 3)
    assert "event 3 was altered" in result.problem
    reopened.close()


def test_verify_notices_a_deleted_event(place):
    journal = place.open()
    for _ in range(3):
        _intent(journal)
    journal.close()
    place.tamper("DELETE FROM events WHERE seq = 2")
    result = place.open().verify()
    assert (result.ok, result.broken_at) == (False, 2)
    assert "missing" in result.problem


def test_verify_notices_a_rewritten_link(place):
    journal = place.open()
    for _ in range(3):
        _intent(journal)
    journal.close()
    place.tamper("UPDATE events SET prev_hash = ? WHERE seq = 2", ("f" * 64,))
    result = place.open().verify()
    assert (result.ok, result.broken_at) == (False, 2)
    assert "does not link" in result.problem


def test_tampering_with_any_single_byte_of_any_event_is_detected(tmp_path):
    """Randomized: flip one byte of a stored event, in the file itself, 200 times."""
    rng = random.Random(20261125)
    template = tmp_path / "template.db"
    journal = Journal(template)
    for n in range(12):
        intent = _intent(journal, symbol=f"S{n:02d}", dedupe_key=f"key-{n}")
        journal.set_status(intent.intent_id, "filled", order_id=f"order-{n:04d}")
    journal.backend.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    query = "SELECT seq, at, kind, payload, prev_hash, hash FROM events"
    rows = [tuple(row.values()) for row in journal.backend.query(query)]
    journal.close()
    original = template.read_bytes()
    for trial in range(200):
        seq, at, kind, payload, prev_hash, digest = rows[rng.randrange(len(rows))]
        # SQLite stores a row's values back to back, so these runs are that event's own bytes.
        runs = [r.encode() for r in (at + kind, payload + prev_hash + digest)]
        needle = rng.choice([r for r in runs if original.count(r) == 1])
        offset = original.find(needle)
        position = offset + rng.randrange(len(needle))
        data = bytearray(original)
        data[position] ^= 1 << rng.randrange(7)
        victim = tmp_path / f"tampered-{trial}.db"
        victim.write_bytes(bytes(data))
        try:
            tampered = Journal(victim)
            result = tampered.verify()
            integrity = tampered.integrity_check()
            tampered.close()
            detected = not result.ok or integrity != "ok"
        except sqlite3.DatabaseError:
            detected = True  # the file no longer opens: tampering is evident
        assert detected, f"flip at byte {position} of event {seq} went unnoticed"
        victim.unlink()


def _order(intent, status="new", filled="0", order_id="o-1"):
    from tradingagents_brokers import Order

    return Order(
        order_id=order_id,
        client_order_id=intent.client_order_id,
        symbol="AAPL",
        side="buy",
        order_type="market",
        time_in_force="day",
        status=status,
        qty="1",
        filled_qty=filled,
    )


@pytest.mark.parametrize(("status", "filled"), [("new", "0"), ("filled", "1"), ("accepted", "0")])
def test_an_answer_is_recorded_as_observe_would_record_it(tmp_path, status, filled):
    from tradingagents_brokers.safety.audit import audit

    from ..fakes import ManualClock

    clock = ManualClock()
    fast = Journal(tmp_path / "fast.db", now=clock)
    slow = Journal(tmp_path / "slow.db", now=clock)
    for journal in (fast, slow):
        intent = _intent(journal)
        order = _order(intent, status, filled)
        event = {"attempt": 1, "order": order.to_dict()}
        if journal is fast:
            statements: list[str] = []
            journal.backend.connection.set_trace_callback(statements.append)
            assert journal.record_answer(intent, order, kind="broker_answer", event=event) == status
            journal.backend.connection.set_trace_callback(None)
            assert not [s for s in statements if s.startswith("SELECT * FROM intents")]
        else:
            assert (
                journal.observe(
                    intent.intent_id,
                    order,
                    kind="broker_answer",
                    event=event,
                    record_unchanged=True,
                )
                == status
            )
    same_ids = {"client_order_id": ""}  # each journal names its intents after its own id
    answers = [j.events()[-1]["payload"] for j in (fast, slow)]
    assert [a | {"order": a["order"] | same_ids} for a in answers] == [
        answers[1] | {"order": answers[1]["order"] | same_ids}
    ] * 2
    assert fast.table("intents")[0] | same_ids == slow.table("intents")[0] | same_ids
    assert audit(fast).ok
    fast.close()
    slow.close()


def test_an_answer_after_news_never_takes_the_intent_back(journal):
    intent = _intent(journal)
    partial = _order(intent, "partially_filled", "0.5")
    journal.observe(intent.intent_id, partial, kind="order_update")
    status = journal.record_answer(
        intent, _order(intent), kind="broker_answer", event={"attempt": 1}
    )
    assert status == "partially_filled"
    assert journal.intent(intent.intent_id).filled_qty == Decimal("0.5")
    answer = journal.events()[-1]["payload"]
    assert (answer["from"], answer["to"], "projection" in answer) == (
        "partially_filled",
        "partially_filled",
        False,
    )


def _older_release(path) -> None:  # type: ignore[no-untyped-def]
    """Make every event say its previous hash, as the releases before did."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER events_no_update")
    rows = db.execute("SELECT seq, hash FROM events ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, digest in rows:
        db.execute("UPDATE events SET prev_hash = ? WHERE seq = ?", (prev, seq))
        prev = digest
    db.commit()
    db.close()


def test_events_with_and_without_their_previous_hash_chain_alike(tmp_path):
    from tradingagents_brokers.safety.audit import audit

    from ..fakes import journal_intent

    path = tmp_path / "journal.db"
    journal = Journal(path)
    for _ in range(3):
        journal.set_status(journal_intent(journal).intent_id, "filled", order_id="o")
    journal.close()
    _older_release(path)
    journal = Journal(path)  # the tail check reads both kinds of rows
    assert journal.damage is None
    for _ in range(70):  # past the tail the start-up check reads
        journal.append("note", {})
    assert (
        journal.backend.query_one("SELECT prev_hash FROM events ORDER BY seq DESC")["prev_hash"]
        == ""
    )
    assert journal.verify().ok
    assert audit(journal).ok, audit(journal).problems
    journal.close()
    assert Journal(path).damage is None
    # An older row that names the wrong previous hash is a broken link.
    db = sqlite3.connect(path)
    db.execute("UPDATE events SET prev_hash = ? WHERE seq = 3", ("f" * 64,))
    db.commit()
    db.close()
    result = Journal(path, anchor=tmp_path / "elsewhere").verify()
    assert (result.ok, result.problem) == (False, "event 3 does not link to event 2")


def test_the_compact_projection_rebuilds_every_column(tmp_path):
    from tradingagents_brokers.safety.audit import audit

    from ..fakes import journal_intent

    journal = Journal(tmp_path / "journal.db")
    journal_intent(journal, notional=None, qty=3, value=None)
    (event,) = journal.events(intent_id=1)
    projection = event["payload"]["projection"]
    assert not {"client_order_id", "updated_at", "notional", "value", "order_id"} & set(projection)
    assert audit(journal).ok
    journal.backend.execute("UPDATE intents SET value = '5' WHERE intent_id = 1")
    assert audit(journal).problems == (
        "intent 1: value is '5' in the intents table, None in the chain",
    )
