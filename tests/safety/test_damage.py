"""A damaged, replaced, emptied or cut-back journal takes no orders, and says so in one line.

Each case damages the journal file of a sim account the way a disk, a person or
another program could, then checks: the CLI prints one ``error:`` line (no
traceback), orders are refused, nothing is overwritten, and ``journal recover``
is the way back.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tradingagents_brokers import JournalDamagedError, get_broker
from tradingagents_brokers.safety.journal import Journal


@pytest.fixture
def traded(cli):
    """A journal with a few orders in it, closed."""
    for qty in (1, 2, 3):
        code, _, err = cli("order", "buy", "AAPL", "--qty", str(qty), "--yes")
        assert code == 0, err
    return Path(cli.state_dir) / "journal.db"


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines, err
    assert lines[0].startswith("error:"), err
    return " ".join(lines)


def _order_refused(cli) -> str:
    code, _, err = cli("order", "buy", "AAPL", "--qty", "4", "--yes")
    assert code != 0
    return _one_error_line(err)


def _holding(path: Path, needle: str) -> int:
    """The first event whose payload holds ``needle``."""
    db = sqlite3.connect(path)
    (seq,) = db.execute(
        "SELECT seq FROM events WHERE instr(payload, ?) ORDER BY seq LIMIT 1", (needle,)
    ).fetchone()
    db.close()
    return int(seq)


def _overwrite(path: Path, needle: bytes, replacement: bytes) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0
    data[at : at + len(replacement)] = replacement
    path.write_bytes(bytes(data))


def test_zeros_over_event_data_are_found_by_verify_and_stop_every_order(cli, traded):
    first = _holding(traded, '"qty":"1"')  # the first order's intent only
    _overwrite(traded, b'"qty":"1"', b"\x00" * 200)
    code, _, err = cli("journal", "verify")
    assert code == 1
    text = _one_error_line(err)
    assert f"event {first} " in text
    assert "takes no orders" in _order_refused(cli)


def test_a_payload_edited_with_its_hash_left_alone_stops_orders_once_verified(cli, traded):
    db = sqlite3.connect(traded)
    db.execute("DROP TRIGGER events_no_update")
    seq = _holding(traded, '"symbol":"AAPL"')
    db.execute("UPDATE events SET payload = replace(payload, 'AAPL', 'TSLA') WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    code, _, err = cli("journal", "verify")
    assert code == 1
    assert f"event {seq} was altered" in _one_error_line(err)
    refused = _order_refused(cli)  # found by verify, or already by the look at the chain's end
    assert f"event {seq} was altered" in refused or "journal verify found it damaged" in refused
    assert "journal recover" in refused


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_an_emptied_or_deleted_journal_is_never_started_anew(cli, traded, how):
    cli("halt", "--reason", "stop everything")
    if how == "emptied":
        traded.write_bytes(b"")
    else:
        traded.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{traded}{suffix}").unlink(missing_ok=True)
    text = _order_refused(cli)  # the halt is not silently lost: nothing trades
    assert f"is {'empty' if how == 'emptied' else 'gone'}" in text
    code, _, err = cli("status")
    assert code != 0
    assert "no new journal is started" in _one_error_line(err)
    assert (traded.stat().st_size if traded.exists() else 0) == 0  # nothing written over it


def test_a_file_that_is_not_a_database_is_named_as_damaged_not_as_a_bad_path(cli, traded):
    for suffix in ("-wal", "-shm"):
        Path(f"{traded}{suffix}").unlink(missing_ok=True)
    traded.write_bytes(os.urandom(8192))
    text = _order_refused(cli)
    assert "not a readable SQLite database" in text
    assert "fix 'journal_path'" not in text


def test_another_programs_database_in_its_place_is_refused(cli, traded):
    for suffix in ("", "-wal", "-shm"):
        Path(f"{traded}{suffix}").unlink(missing_ok=True)
    other = sqlite3.connect(traded)
    other.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    other.commit()
    other.close()
    text = _order_refused(cli)
    assert "gone" in text or "not a journal" in text


def test_another_journal_in_its_place_opens_for_reading_but_takes_no_orders(cli, traded, tmp_path):
    stranger = Journal(tmp_path / "elsewhere" / "journal.db")
    stranger.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{traded}{suffix}").unlink(missing_ok=True)
    traded.write_bytes((tmp_path / "elsewhere" / "journal.db").read_bytes())
    assert cli("journal", "list")[0] == 0  # still readable, to see what happened
    assert "the file was replaced" in _order_refused(cli)


def test_a_journal_cut_back_at_its_end_takes_no_orders(cli, traded):
    db = sqlite3.connect(traded)
    db.execute("DROP TRIGGER events_no_delete")
    last = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    db.execute("DELETE FROM events WHERE seq > ?", (last - 2,))
    db.commit()
    db.close()
    assert "cut back" in _order_refused(cli)


def test_flipped_bytes_never_crash_verify_or_list(cli, traded):
    db = sqlite3.connect(traded)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(traded.read_bytes())
    at = data.find(b'"client_order_id":"tab-')  # inside an event's payload
    for offset in range(32):
        data[at + offset] ^= 0xC0  # not UTF-8 any more
    traded.write_bytes(bytes(data))
    code, _, err = cli("journal", "verify")
    assert code == 1
    assert "is damaged" in _one_error_line(err)
    code, _, err = cli("journal", "list")
    if code != 0:
        _one_error_line(err)


def test_a_journal_missing_a_column_or_from_a_newer_release_says_so(cli, traded):
    db = sqlite3.connect(traded)
    db.execute("ALTER TABLE intents DROP COLUMN source")
    db.commit()
    db.close()
    assert "lacks source" in _order_refused(cli)
    db = sqlite3.connect(traded)
    db.execute("ALTER TABLE intents ADD COLUMN source TEXT NOT NULL DEFAULT 'cli'")
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    assert "newer release" in _order_refused(cli)


def test_a_damaged_anchor_stops_orders_too(cli, traded):
    anchor = traded.with_name("journal.db.anchor")
    anchor.write_text("{not json")
    assert "anchor" in _order_refused(cli)


def test_recover_keeps_the_damaged_file_and_starts_a_chain_that_says_what_it_replaced(cli, traded):
    first = _holding(traded, '"qty":"1"')
    _overwrite(traded, b'"qty":"1"', b"\x00" * 200)
    assert cli("journal", "verify")[0] == 1
    code, out, err = cli("journal", "recover", "--yes", "--json")
    assert code == 0, err
    summary = json.loads(out)
    kept = Path(summary["kept_as"][0])
    assert kept.exists()
    assert kept.name.startswith("journal.db.damaged-")
    assert f"event {first} " in summary["problem"] or "damaged" in summary["problem"]
    assert cli("order", "buy", "AAPL", "--qty", "5", "--yes")[0] == 0  # trading again
    fresh = Journal(traded)
    first = [e for e in fresh.events() if e["kind"] == "recovered"]
    assert first[0]["payload"]["kept_as"] == summary["kept_as"]
    assert fresh.verify().ok
    fresh.close()
    code, _, err = cli("journal", "recover", "--yes")
    assert code == 2
    assert "is sound" in err


def test_a_damage_another_process_found_stops_this_ones_orders(sim_config, traded):
    with get_broker("sim", config=sim_config) as gated:
        gated.place_order(symbol="AAPL", side="buy", qty=7)
        other = Journal(traded)  # another process's journal verify
        other.mark_damaged("found by a test")
        other.close()
        gated.journal._checked = 0.0  # it looks at the anchor at most once a second
        with pytest.raises(JournalDamagedError) as raised:
            gated.place_order(symbol="AAPL", side="buy", qty=2)
    assert raised.value.code == "journal_damaged"
    assert "found by a test" in raised.value.message


def test_the_python_api_refuses_orders_on_a_damaged_journal(sim_config, traded):
    Journal(traded).mark_damaged("found by a test")
    with (
        get_broker("sim", config=sim_config) as gated,
        pytest.raises(JournalDamagedError) as raised,
    ):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert raised.value.code == "journal_damaged"
    assert "found by a test" in raised.value.message


def test_a_full_disk_after_the_broker_took_the_order_is_an_unknown_outcome(
    cli, sim_config, monkeypatch
):
    from tradingagents_brokers import OrderOutcomeUnknownError, route_to_broker, set_config
    from tradingagents_brokers.routing import clear_route_cache

    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Journal, "record_answer", full)
    with get_broker("sim", config=sim_config) as gated:
        with pytest.raises(OrderOutcomeUnknownError, match="do not send it again") as raised:
            gated.place_order(symbol="AAPL", side="buy", qty=1)
        assert raised.value.details["order_id"]
        assert gated.broker.get_orders("all")  # it was placed
    set_config(sim_config)
    try:
        with pytest.raises(OrderOutcomeUnknownError):
            route_to_broker("place_order", symbol="AAPL", side="buy", qty=2)
    finally:
        clear_route_cache()
    code, _, err = cli("order", "buy", "AAPL", "--qty", "3", "--yes")
    assert code == 5
    assert "do not send it again" in err


@pytest.mark.parametrize("how", ["emptied", "deleted", "replaced"])
def test_the_sims_account_is_never_silently_made_anew(cli, traded, tmp_path, how):
    account = traded.with_name("sim.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{account}{suffix}").unlink(missing_ok=True)
    if how == "emptied":
        account.write_bytes(b"")
    elif how == "deleted":
        account.unlink()
    else:
        other = tmp_path / "other" / "sim.db"
        other.parent.mkdir()
        from tradingagents_brokers.sim.broker import SimBroker
        from tradingagents_brokers.sim.prices import StaticPrices
        from tradingagents_brokers.sim.store import SimStore

        SimBroker(SimStore(other), StaticPrices({"AAPL": 100})).close()
        account.write_bytes(other.read_bytes())
    code, _, err = cli("account")
    assert code != 0
    assert "no fresh account is made over it" in _one_error_line(err)
    code, out, err = cli("sim", "reset", "--yes", "--json")  # a fresh account, on purpose
    assert code == 0, err
    assert json.loads(out)["cash"] == "100000"
    code, out, err = cli("account", "--json")
    assert (code, json.loads(out)["cash"]) == (0, "100000")
