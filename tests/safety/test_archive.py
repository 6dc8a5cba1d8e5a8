"""Archiving the journal: what is sealed, what stays live, and verifying the two together."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import psycopg
import pytest

from tradingagents_brokers import BrokerConfigurationError, BrokerError
from tradingagents_brokers.safety.archive import archive, check_archives, plan
from tradingagents_brokers.safety.audit import audit

from .test_journal import Place, _intent

T0 = dt.datetime(2026, 9, 1, 14, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at

    def days(self, n: float) -> None:
        self.at += dt.timedelta(days=n)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def journal(store_kind, tmp_path, clock):
    """A journal on each store whose clock the test moves (test_journal's Place)."""
    where = Place(store_kind, tmp_path)
    yield where.open(now=clock)
    for opened in where.opened:
        opened.close()


def _filled(journal, **overrides):
    record = _intent(journal, **overrides)
    journal.set_status(record.intent_id, "filled", order_id=f"o-{record.intent_id}")
    return record


def test_finished_business_is_sealed_and_the_chain_goes_on_from_it(journal, clock, tmp_path):
    old = [_filled(journal, dedupe_key=f"k{n}") for n in range(3)]
    journal.set_trading_state("halted", "an old halt", "person")
    clock.days(10)
    recent = _filled(journal, dedupe_key="new")
    before_ids = journal.last_intent_id()

    report = archive(journal, T0 + dt.timedelta(days=5), tmp_path / "archive")

    # 1 journal event + 3 intents x 2 events + 1 halt
    assert (report.first_seq, report.last_seq, report.events, report.intents) == (1, 8, 8, 3)
    assert report.held_back is None
    assert not list(journal.raw_events_where("seq <= ?", (8,)))
    assert {i.intent_id for i in journal.intents()} == {recent.intent_id}
    # the halt is carried onto the live chain, never archived away
    assert journal.trading_state()["state"] == "halted"
    assert journal.trading_state()["reason"] == "an old halt"
    # intent ids are never handed out again, even with their rows gone
    assert _intent(journal, dedupe_key="next").intent_id == before_ids + 1
    assert old[0].client_order_id not in {i.client_order_id for i in journal.intents()}

    assert journal.verify().ok
    result = audit(journal)
    assert result.ok, result.problems
    assert check_archives(journal, tmp_path / "archive") == []
    lines = (tmp_path / "archive" / report.file.split("/")[-1]).read_text().splitlines()
    assert json.loads(lines[0]) == {
        "first_seq": 1,
        "journal_id": journal.journal_id,
        "last_seq": 8,
    }
    assert len(lines) == 2 + 8


def test_an_open_order_holds_the_archive_back_to_where_it_began(journal, clock, tmp_path):
    _filled(journal, dedupe_key="a")
    resting = _intent(journal, dedupe_key="b")
    journal.set_status(resting.intent_id, "new", order_id="o-rest")
    _filled(journal, dedupe_key="c")
    clock.days(10)

    first, last, held = plan(journal, T0 + dt.timedelta(days=5))
    assert (first, last) == (1, 3)  # the journal event and intent a's two events
    assert held is not None
    assert f"intent {resting.intent_id} (new)" in held
    report = archive(journal, T0 + dt.timedelta(days=5), tmp_path / "archive")
    assert report.events == 3
    assert {i.dedupe_key for i in journal.intents()} == {"b", "c"}
    assert audit(journal).ok

    # once it is done, a second archive takes the rest and links to the first
    journal.set_status(resting.intent_id, "canceled")
    clock.days(10)
    second = archive(journal, clock() - dt.timedelta(days=2), tmp_path / "archive")
    assert second.first_seq == 4
    assert second.events > 0
    assert journal.intents() == []
    assert journal.verify().ok
    assert check_archives(journal, tmp_path / "archive") == []


def test_an_intent_with_events_after_the_cut_stays_whole(journal, clock, tmp_path):
    record = _intent(journal, dedupe_key="slow")
    clock.days(10)
    journal.set_status(record.intent_id, "filled", order_id="o-slow")  # finished late
    clock.days(10)
    report = archive(journal, T0 + dt.timedelta(days=5), tmp_path / "archive")
    assert report.last_seq == 1  # only the journal event: the intent straddles the cut
    assert [i.intent_id for i in journal.intents()] == [record.intent_id]
    assert audit(journal).ok


def test_the_last_day_stays_live_and_times_need_a_zone(journal, clock, tmp_path):
    _filled(journal)
    with pytest.raises(BrokerConfigurationError, match="the last 1 day stays live"):
        archive(journal, clock() - dt.timedelta(hours=23), tmp_path)
    with pytest.raises(BrokerConfigurationError, match="needs a time zone"):
        archive(journal, dt.datetime(2026, 8, 1), tmp_path)
    nothing = archive(journal, clock() - dt.timedelta(days=1), tmp_path)
    assert nothing.events == 0
    assert nothing.file is None


def test_a_sealed_event_may_be_deleted_and_a_live_one_still_may_not(journal, clock, tmp_path):
    _filled(journal)
    clock.days(3)
    _filled(journal, dedupe_key="live")
    report = archive(journal, clock() - dt.timedelta(days=2), tmp_path)
    assert report.events == 3
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="append-only"):
        journal.backend.execute("DELETE FROM events WHERE seq = ?", (report.last_seq + 1,))


def test_every_event_archived_leaves_a_chain_that_goes_on(journal, clock, tmp_path):
    _filled(journal)
    clock.days(3)
    report = archive(journal, clock() - dt.timedelta(days=1), tmp_path)
    assert report.events == 3
    # the seal's own journal event is the first live one, linked to the archive
    live = list(journal.raw_events())
    assert [row["seq"] for row in live] == [4]
    _filled(journal, dedupe_key="after")
    assert journal.verify().ok
    assert audit(journal).ok


def test_a_missing_or_altered_archive_is_named(journal, clock, tmp_path):
    _filled(journal)
    clock.days(3)
    report = archive(journal, clock() - dt.timedelta(days=1), tmp_path)
    path = tmp_path / report.file.split("/")[-1]
    text = path.read_text()
    path.write_text(text.replace('"kind":"status"', '"kind":"statuz"'))
    assert any("SHA-256 differs" in p for p in check_archives(journal, tmp_path))
    path.unlink()
    problems = check_archives(journal, tmp_path)
    assert problems == [f"archive {path.name} (events 1..3) is not in {tmp_path}"]
    path.write_text(text)
    assert check_archives(journal, tmp_path) == []


def test_an_archives_row_the_chain_does_not_record_is_named(journal, clock, tmp_path):
    _filled(journal)
    clock.days(3)
    report = archive(journal, clock() - dt.timedelta(days=1), tmp_path)
    place_table = "UPDATE archives SET sha256 = ? WHERE last_seq = ?"
    journal.backend.execute(place_table, ("0" * 64, report.last_seq))
    problems = check_archives(journal, tmp_path)
    assert any("not the one the chain records" in p for p in problems)


def test_the_cli_archives_and_verify_checks_the_archives(cli, clock):
    from pathlib import Path

    from tradingagents_brokers.safety.journal import Journal

    state = Path(cli.state_dir)
    clock.at = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    old = Journal(state / "journal.db", now=clock)
    for n in range(3):
        _filled(old, dedupe_key=f"k{n}")
    old.close()

    code, out, err = cli("journal", "archive", "--before", "2000-01-01")
    assert (code, out.strip()) == (0, "nothing to archive before that date")
    code, out, err = cli("journal", "archive", "--before", "yesterday")
    assert code == 2
    assert "is not a date; give YYYY-MM-DD" in err
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
    code, out, err = cli("journal", "archive", "--before", before)
    assert code == 0, err
    assert "archived events 1..7 (7 events, 3 intents)" in out
    files = list((state / "archive").glob("journal-*.jsonl"))
    assert len(files) == 1

    code, out, err = cli("order", "buy", "AAPL", "--qty", "1", "--yes")
    assert code == 0, out + err  # the live chain goes on from the archive
    code, out, err = cli("journal", "verify")
    assert code == 0, out + err
    assert "chain intact" in out
    files[0].write_text(files[0].read_text().replace("filled", "fi11ed"))
    code, out, err = cli("journal", "verify")
    assert code == 1
    assert f"archive {files[0].name}: its SHA-256 differs" in out + err


def test_a_parquet_archive_verifies_like_a_jsonl_one(journal, clock, tmp_path):
    import pyarrow.parquet as pq

    for n in range(3):
        _filled(journal, dedupe_key=f"p{n}")
    clock.days(3)
    _filled(journal, dedupe_key="live")
    report = archive(journal, clock() - dt.timedelta(days=2), tmp_path, file_format="parquet")
    assert report.file.endswith(".parquet")
    assert report.events == 7
    table = pq.read_table(report.file)
    assert table.column("seq").to_pylist() == list(range(1, 8))
    assert check_archives(journal, tmp_path) == []
    assert audit(journal, archives=tmp_path).ok
    # an anchored event inside the archive is checked in its file
    kept = table.to_pylist()[4]
    assert audit(journal, archives=tmp_path, expect_head=(kept["seq"], kept["hash"])).ok
    wrong = audit(journal, archives=tmp_path, expect_head=(kept["seq"], "0" * 64))
    assert wrong.problems == (
        f"event {kept['seq']} is not the anchored one "
        f"(its archived hash is {kept['hash'][:16]}...)",
    )
    # one flipped byte
    path = tmp_path / report.file.split("/")[-1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert any("SHA-256 differs" in p for p in check_archives(journal, tmp_path))


def test_parquet_without_pyarrow_says_what_to_install(journal, clock, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    _filled(journal)
    clock.days(3)
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(BrokerConfigurationError, match=r"pip install -e '\.\[parquet\]'"):
        archive(journal, clock() - dt.timedelta(days=2), tmp_path, file_format="parquet")
    with pytest.raises(BrokerConfigurationError, match="--format is jsonl or parquet"):
        archive(journal, clock() - dt.timedelta(days=2), tmp_path, file_format="csv")
    assert journal.sealed()[0] == 0  # nothing was sealed
    assert len(list(journal.raw_events())) == 3


def test_the_file_is_written_outside_the_write_section_and_a_change_meanwhile_aborts(
    journal, clock, tmp_path, monkeypatch
):
    from tradingagents_brokers.safety import archive as module

    record = _filled(journal)
    clock.days(3)
    real = module._durable
    seen = []

    def meanwhile(temporary, path):
        # an intent of the range moves on while the file is synced; its event commits at
        # once (its own write section, none held around it), as another process's would
        before = journal.commits
        journal.append("status", {"note": "late"}, intent_id=record.intent_id, broker="sim")
        seen.append(journal.commits - before)
        real(temporary, path)

    monkeypatch.setattr(module, "_durable", meanwhile)
    with pytest.raises(BrokerError, match="changed while the archive was written"):
        archive(journal, clock() - dt.timedelta(days=2), tmp_path)
    assert seen == [1]
    assert journal.sealed()[0] == 0  # nothing sealed, nothing deleted
    assert list(tmp_path.glob("journal-*")) == []
    assert journal.verify().ok


def test_sealed_events_leave_a_chunk_at_a_time_and_a_cut_short_purge_is_finished(
    journal, clock, tmp_path, monkeypatch
):
    from tradingagents_brokers.safety import archive as module

    monkeypatch.setattr(module, "CHUNK", 2)
    for n in range(3):
        _filled(journal, dedupe_key=f"c{n}")
    clock.days(3)
    commits = journal.commits
    real, calls = module.purge, []

    def cut_short(j):
        calls.append(1)
        if len(calls) == 2:  # the purge after the seal: the process dies before it
            return 0
        return real(j)

    monkeypatch.setattr(module, "purge", cut_short)
    report = archive(journal, clock() - dt.timedelta(days=2), tmp_path)
    assert report.events == 7
    assert len(list(journal.raw_events_where("seq <= 7"))) == 7  # sealed, not yet gone
    assert journal.verify().ok  # the chain starts after the sealed range already
    assert audit(journal, archives=tmp_path).ok
    monkeypatch.setattr(module, "purge", real)
    assert module.purge(journal) == 7
    assert journal.commits - commits >= 1 + 4  # the seal, then 7 events 2 at a time
    assert list(journal.raw_events_where("seq <= 7")) == []
    assert journal.verify().ok
