# ruff: noqa: E501 - the fixture is a database dump, one row a line
"""An account written by the previous release (no schema version) opens, migrated, and trades on.

``PREVIOUS_RELEASE`` is the ``iterdump`` of a sim account the release before the
book of resting orders wrote (commit 6528629): two days of fills, a gtc buy limit
that filled, a resting day buy limit, a buy stop, a sell limit, a triggered
stop-limit sell and a canceled order. The figures these tests expect are what
that release answers on the same file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest

from tradingagents_brokers import BrokerConfigurationError, InsufficientFundsError, OrderRequest
from tradingagents_brokers.sim.broker import SimBroker
from tradingagents_brokers.sim.prices import StaticPrices
from tradingagents_brokers.sim.schema import SCHEMA_VERSION
from tradingagents_brokers.sim.store import SimStore

T0 = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)

PREVIOUS_RELEASE = """\
BEGIN TRANSACTION;
CREATE TABLE equity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    equity TEXT NOT NULL
);
INSERT INTO "equity" VALUES(1,'2026-11-02T15:00:00.000000+00:00','10000');
INSERT INTO "equity" VALUES(2,'2026-11-02T15:00:00.000000+00:00','10000');
INSERT INTO "equity" VALUES(3,'2026-11-02T15:00:00.000000+00:00','10000');
INSERT INTO "equity" VALUES(4,'2026-11-03T16:00:00.000000+00:00','10000');
INSERT INTO "equity" VALUES(5,'2026-11-03T16:00:00.000000+00:00','9916');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('cash','7521');
INSERT INTO "meta" VALUES('initial_cash','10000');
INSERT INTO "meta" VALUES('account_number','SIM-00000000');
INSERT INTO "meta" VALUES('created_at','2026-11-02T15:00:00.000000+00:00');
CREATE TABLE order_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL,
    filled_avg_price TEXT,
    qty TEXT,
    price TEXT,
    position_qty TEXT
);
INSERT INTO "order_updates" VALUES(1,'00000000-0000-4000-8000-000000000002','new','2026-11-02T15:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(2,'00000000-0000-4000-8000-000000000002','fill','2026-11-02T15:00:00.000000+00:00','filled','10','100','10','100','10');
INSERT INTO "order_updates" VALUES(3,'00000000-0000-4000-8000-000000000003','new','2026-11-02T15:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(4,'00000000-0000-4000-8000-000000000003','fill','2026-11-02T15:00:00.000000+00:00','filled','5','200','5','200','5');
INSERT INTO "order_updates" VALUES(5,'00000000-0000-4000-8000-000000000004','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(6,'00000000-0000-4000-8000-000000000004','fill','2026-11-03T16:00:00.000000+00:00','filled','2','100','2','100','12');
INSERT INTO "order_updates" VALUES(7,'00000000-0000-4000-8000-000000000005','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(8,'00000000-0000-4000-8000-000000000006','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(9,'00000000-0000-4000-8000-000000000007','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(10,'00000000-0000-4000-8000-000000000008','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(11,'00000000-0000-4000-8000-000000000009','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(12,'00000000-0000-4000-8000-000000000005','fill','2026-11-03T16:00:00.000000+00:00','filled','3','93','3','93','15');
INSERT INTO "order_updates" VALUES(13,'00000000-0000-4000-8000-000000000010','new','2026-11-03T16:00:00.000000+00:00','new','0',NULL,NULL,NULL,NULL);
INSERT INTO "order_updates" VALUES(14,'00000000-0000-4000-8000-000000000010','canceled','2026-11-03T16:00:00.000000+00:00','canceled','0',NULL,NULL,NULL,NULL);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    qty TEXT,
    notional TEXT,
    limit_price TEXT,
    stop_price TEXT,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL DEFAULT '0',
    filled_avg_price TEXT,
    submitted_at TEXT NOT NULL,
    filled_at TEXT,
    canceled_at TEXT,
    extended_hours INTEGER NOT NULL DEFAULT 0,
    triggered INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT,
    replaces TEXT
);
INSERT INTO "orders" VALUES(1,'00000000-0000-4000-8000-000000000002','old-1','AAPL','buy','market','day','10',NULL,NULL,NULL,'filled','10','100','2026-11-02T15:00:00.000000+00:00','2026-11-02T15:00:00.000000+00:00',NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(2,'00000000-0000-4000-8000-000000000003','old-2','MSFT','buy','market','day','5',NULL,NULL,NULL,'filled','5','200','2026-11-02T15:00:00.000000+00:00','2026-11-02T15:00:00.000000+00:00',NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(3,'00000000-0000-4000-8000-000000000004','old-3','AAPL','buy','market','day','2',NULL,NULL,NULL,'filled','2','100','2026-11-03T16:00:00.000000+00:00','2026-11-03T16:00:00.000000+00:00',NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(4,'00000000-0000-4000-8000-000000000005','old-4','AAPL','buy','limit','gtc','3',NULL,'95',NULL,'filled','3','93','2026-11-03T16:00:00.000000+00:00','2026-11-03T16:00:00.000000+00:00',NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(5,'00000000-0000-4000-8000-000000000006','old-5','AAPL','buy','limit','day','1.5',NULL,'90.25',NULL,'new','0',NULL,'2026-11-03T16:00:00.000000+00:00',NULL,NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(6,'00000000-0000-4000-8000-000000000007','old-6','MSFT','buy','stop','gtc','1',NULL,NULL,'210','new','0',NULL,'2026-11-03T16:00:00.000000+00:00',NULL,NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(7,'00000000-0000-4000-8000-000000000008','old-7','AAPL','sell','limit','gtc','4',NULL,'120',NULL,'new','0',NULL,'2026-11-03T16:00:00.000000+00:00',NULL,NULL,0,0,NULL,NULL);
INSERT INTO "orders" VALUES(8,'00000000-0000-4000-8000-000000000009','old-8','AAPL','sell','stop_limit','gtc','2',NULL,'94','95','new','0',NULL,'2026-11-03T16:00:00.000000+00:00',NULL,NULL,0,1,NULL,NULL);
INSERT INTO "orders" VALUES(9,'00000000-0000-4000-8000-000000000010','old-9','MSFT','buy','limit','gtc','1',NULL,'150',NULL,'canceled','0',NULL,'2026-11-03T16:00:00.000000+00:00',NULL,'2026-11-03T16:00:00.000000+00:00',0,0,NULL,NULL);
CREATE TABLE positions (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    cost_basis TEXT NOT NULL
);
INSERT INTO "positions" VALUES('AAPL','15','1479');
INSERT INTO "positions" VALUES('MSFT','5','1000');
CREATE INDEX orders_status ON orders (status);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('equity',5);
INSERT INTO "sqlite_sequence" VALUES('orders',9);
INSERT INTO "sqlite_sequence" VALUES('order_updates',14);
COMMIT;
"""


class Clock:
    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


@pytest.fixture
def old_account(tmp_path):
    path = tmp_path / "sim.db"
    db = sqlite3.connect(path)
    db.executescript(PREVIOUS_RELEASE)
    db.close()
    return path


def _open(path, clock):
    prices = StaticPrices({"AAPL": 93, "MSFT": 200})
    return SimBroker(SimStore(path), prices, now=clock)


def _version(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_an_account_of_the_previous_release_opens_migrated(old_account):
    assert _version(old_account) == 0
    sim = _open(old_account, Clock(T0 + dt.timedelta(days=1, hours=2)))
    assert _version(old_account) == SCHEMA_VERSION == 3
    assert sim.store.get_meta("schema_version") == "3"
    indexes = {row[1] for row in sim.store._db.execute("PRAGMA index_list(orders)")}
    assert "orders_submitted" in indexes
    account = sim.get_account()
    assert (account.cash, account.buying_power) == (Decimal(7521), Decimal("7175.62"))
    assert (account.equity, account.last_equity) == (Decimal(9916), Decimal(10_000))
    # what the open orders reserve was rebuilt from them: 1.5 x 90.25 + 1 x 210; 4 + 2 shares
    assert sim.store.reserved_cash() == Decimal("345.375")
    assert sim.store.held_for_sale("AAPL") == 6
    with pytest.raises(InsufficientFundsError, match="available: 9"):
        sim.place_order(OrderRequest(symbol="AAPL", side="sell", qty=10, client_order_id="x1"))
    with pytest.raises(InsufficientFundsError, match=r"7175\.62 is available"):
        sim.place_order(
            OrderRequest(
                symbol="AAPL",
                side="buy",
                qty=80,
                order_type="limit",
                limit_price=90,
                client_order_id="x2",
            )
        )
    sim.close()
    again = _open(old_account, Clock(T0 + dt.timedelta(days=1, hours=2)))  # nothing to migrate
    assert again.store.reserved_cash() == Decimal("345.375")
    again.close()


def test_the_migrated_book_fills_and_expires_as_the_previous_release_did(old_account):
    clock = Clock(T0 + dt.timedelta(days=1, hours=2))
    sim = _open(old_account, clock)
    sim.set_price("AAPL", 95)  # the triggered stop-limit sell works as a limit at 94
    sim.set_price("MSFT", 210)  # the buy stop
    statuses = {
        o.client_order_id: (o.status.value, o.filled_avg_price) for o in sim.get_orders("all")
    }
    assert statuses["old-8"] == ("filled", Decimal(95))
    assert statuses["old-6"] == ("filled", Decimal(210))
    assert statuses["old-5"] == ("new", None)
    assert statuses["old-7"] == ("new", None)
    account = sim.get_account()
    assert (account.cash, account.buying_power, account.equity) == (
        Decimal(7501),
        Decimal("7365.62"),
        Decimal(9996),
    )
    clock.at += dt.timedelta(days=1)  # the day buy limit expires
    assert [o.client_order_id for o in sim.get_orders("open")] == ["old-7"]
    account = sim.get_account()
    assert (account.buying_power, account.last_equity) == (Decimal(7501), Decimal(9996))
    assert [(p.symbol, p.qty, p.cost_basis) for p in sim.get_positions()] == [
        ("AAPL", 13, Decimal("1281.8")),
        ("MSFT", 6, Decimal(1210)),
    ]
    assert sim.store.last_update() == 17
    assert list(sim.get_portfolio_history().equity) == [
        *map(Decimal, ["10000", "10000", "10000", "10000", "9916", "9946", "9996"]),
        Decimal("9996.00"),
    ]
    sim.close()


def test_an_account_of_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "sim.db"
    SimBroker(SimStore(path), StaticPrices({"AAPL": 100})).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(BrokerConfigurationError, match="written by a newer release"):
        SimStore(path)


def test_a_new_account_is_written_at_this_version(tmp_path):
    sim = SimBroker(SimStore(tmp_path / "sim.db"), StaticPrices({"AAPL": 100}))
    sim.close()
    assert _version(tmp_path / "sim.db") == SCHEMA_VERSION
