"""The store: both backends, their write section, migrations, and what they say when they fail."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tradingagents_brokers import BrokerConfigurationError, StoreUnavailableError
from tradingagents_brokers.config import load_config
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.store import describe_store, open_journal
from tradingagents_brokers.store.backend import redact_url
from tradingagents_brokers.store.schema import SCHEMA_VERSION

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://trader:{SECRET}@db:5432/tab", "postgresql://trader:***@db:5432/tab"),
        ("postgresql://trader@db/tab", "postgresql://trader@db/tab"),
        (f"postgresql://db/tab?password={SECRET}&sslmode=require", None),
        (f"host=db password={SECRET} dbname=tab", "host=db password=*** dbname=tab"),
    ],
)
def test_a_password_in_a_store_url_is_never_shown(url, shown):
    redacted = redact_url(url)
    assert SECRET not in redacted
    if shown is not None:
        assert redacted == shown
    assert SECRET not in describe_store({"store_url": url, "state_dir": "/x"})


def test_a_malformed_store_url_is_refused_without_repeating_it():
    with pytest.raises(BrokerConfigurationError) as raised:
        load_config({"store_url": 42}, environ={})
    assert "store_url" in raised.value.message
    with pytest.raises(BrokerConfigurationError, match="not a PostgreSQL URL") as raised:
        open_journal({"store_url": f"mysql://u:{SECRET}@h/db", "state_dir": "/x"})
    assert SECRET not in raised.value.message


def test_an_unreachable_server_is_a_store_error_that_says_what_to_check():
    # Port 1 on loopback: nothing listens, the refusal is immediate.
    url = f"postgresql://trader:{SECRET}@127.0.0.1:1/tab"
    with pytest.raises(StoreUnavailableError) as raised:
        open_journal({"store_url": url, "store_timeout_seconds": 2})
    message = raised.value.message
    assert SECRET not in message
    assert SECRET not in repr(raised.value)
    assert "127.0.0.1:1" in message
    assert "nothing was sent" in message
    assert raised.value.retryable


def test_a_host_whose_clock_is_off_refuses_to_start(monkeypatch):
    from tradingagents_brokers.store.postgres import PostgresBackend

    from ..pg import schema_url

    monkeypatch.setattr(PostgresBackend, "server_time_skew", lambda self, now: 7.5)
    with pytest.raises(BrokerConfigurationError, match=r"7\.5s away.*NTP"):
        open_journal({"store_url": schema_url(), "max_clock_skew_seconds": 2})


def test_a_journal_of_the_previous_release_is_brought_up_to_date(tmp_path):
    path = tmp_path / "journal.db"
    Journal(path).close()
    db = sqlite3.connect(path)  # what the release before owners wrote: schema 2
    db.executescript(
        "ALTER TABLE intents DROP COLUMN owner; DROP TABLE processes; DROP TABLE request_log;"
        "DELETE FROM meta WHERE key = 'schema_version'; PRAGMA user_version = 0;"
    )
    db.close()
    journal = Journal(path)
    assert journal.pragma("user_version") == SCHEMA_VERSION
    columns = {row["name"] for row in journal.backend.query("PRAGMA table_info(intents)")}
    assert "owner" in columns
    indexes = {row["name"] for row in journal.backend.query("PRAGMA index_list(intents)")}
    assert "intents_recent" not in indexes  # version 4
    assert "intents_window" in indexes
    assert journal.verify().ok
    journal.close()


def test_a_journal_written_by_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "journal.db"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(BrokerConfigurationError, match="newer release"):
        Journal(path)


def test_nested_transactions_join_the_outer_one(store_config):
    journal = open_journal(store_config)
    backend = journal.backend
    with journal.transaction():
        assert backend.in_transaction()
        with journal.transaction():
            journal.append("note", {"n": 1})
        assert backend.in_transaction()
    assert not backend.in_transaction()
    assert [e["kind"] for e in journal.events()] == ["journal", "note"]
    journal.close()


def test_the_write_section_is_one_writer_at_a_time_across_connections(store_config):
    first, second = open_journal(store_config), open_journal(store_config)
    entered, leave, done = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with first.transaction():
            first.append("held", {})
            entered.set()
            assert leave.wait(10)

    def write() -> None:
        second.append("after", {})
        done.set()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert entered.wait(10)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert not done.wait(0.3)  # waits for the first writer's commit
    leave.set()
    assert done.wait(10)
    holder.join(5)
    writer.join(5)
    kinds = [e["kind"] for e in second.events()]
    assert kinds == ["journal", "held", "after"]
    assert second.verify().ok
    first.close()
    second.close()


def test_a_short_transaction_does_not_wait_for_the_write_section_on_postgresql():
    from ..pg import schema_url

    journal = open_journal({"store_url": schema_url()})
    other = open_journal({"store_url": journal.backend._pool.conninfo})  # type: ignore[attr-defined]
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with journal.transaction():
            entered.set()
            assert leave.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert entered.wait(10)
    with other.backend.transaction(lock=False, durable=False):  # a heartbeat, a budget draw
        other.backend.execute("INSERT INTO request_log (budget, at) VALUES ('x', 1)")
    leave.set()
    holder.join(5)
    journal.close()
    other.close()


def test_the_package_and_a_sqlite_journal_do_not_import_psycopg(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, tradingagents_brokers\n"
        "from tradingagents_brokers import get_broker\n"
        f"gated = get_broker('sim', config={{'state_dir': {str(tmp_path)!r}}})\n"
        "gated.place_order(symbol='AAPL', side='buy', qty=1)\n"
        "gated.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _fake_gated(journal):  # type: ignore[no-untyped-def]
    from tradingagents_brokers import GatedBroker, PluginHost, make_plugin_manager
    from tradingagents_brokers.config import effective_config

    from ..fakes import FakeBroker, FakePlugin

    broker = FakeBroker()
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    host = PluginHost(pm)
    config = effective_config({"trading_broker": "fake", "order_stream": False})
    return GatedBroker(host, "fake", broker, config, journal), broker


def test_a_journal_locked_by_another_process_sends_nothing_and_says_so(tmp_path):
    from tradingagents_brokers.store.sqlite import SqliteBackend

    path = tmp_path / "journal.db"
    Journal(path).close()
    gated, broker = _fake_gated(Journal(SqliteBackend(path, busy_timeout=0.2)))
    gated.reconcile()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process, stuck inside its write
    with pytest.raises(StoreUnavailableError, match="stayed locked by another process"):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert broker.place_calls == []
    holder.execute("ROLLBACK")
    holder.close()
    gated.place_order(symbol="AAPL", side="buy", qty=1)  # the store is back: so are orders
    assert len(broker.place_calls) == 1
    gated.close()
    gated.journal.close()


def test_a_postgresql_server_that_drops_its_connections_sends_nothing(monkeypatch):
    import psycopg

    from tradingagents_brokers.store.postgres import PostgresBackend

    from ..pg import schema_url

    url = schema_url()
    gated, broker = _fake_gated(Journal(PostgresBackend(url)))
    gated.reconcile()
    with psycopg.connect(url, autocommit=True) as admin:  # the server ends every session
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'tradingagents-brokers' AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailableError) as raised:
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert "check that the server is up" in raised.value.message
    assert broker.place_calls == []
    gated.close()
    gated.journal.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://trader:{SECRET}@[broken/tab",  # libpq repeats the whole URL
        f"postgresql://trader:{SECRET}@db/tab?no_such_option=1",
        f"postgresql://trader@db/tab?password={SECRET}&no_such_option=1",
    ],
)
def test_a_url_the_driver_cannot_read_is_refused_without_its_password(url):
    with pytest.raises(BrokerConfigurationError, match="cannot be read") as raised:
        open_journal({"store_url": url})
    assert SECRET not in raised.value.message
    assert SECRET not in repr(raised.value)


def test_a_journal_of_schema_4_gains_archives_and_the_close_index(tmp_path):
    import datetime as dt

    from tradingagents_brokers.safety.archive import archive

    path = tmp_path / "journal.db"
    Journal(path).close()
    db = sqlite3.connect(path)  # the release before archives: schema 4
    db.executescript(
        "DROP TABLE archives; DROP INDEX events_kind_at; DROP TRIGGER events_no_delete;"
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END;"
        "UPDATE meta SET value = '4' WHERE key = 'schema_version'; PRAGMA user_version = 4;"
    )
    db.close()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    journal = Journal(path)
    assert journal.pragma("user_version") == SCHEMA_VERSION == 6
    indexes = {row["name"] for row in journal.backend.query("PRAGMA index_list(events)")}
    assert "events_kind_at" in indexes
    sealed = archive(journal, later - dt.timedelta(days=2), tmp_path / "archive", now=later)
    assert sealed.events == 1  # the identity event, deleted under the new trigger
    assert journal.verify().ok
    journal.close()
