"""SQLite persistence of the simulated broker: account, orders, positions, equity points.

Decimals are stored as text so nothing is rounded through binary floats. Every
write runs in one ``BEGIN IMMEDIATE`` transaction (:meth:`SimStore.transaction`),
so two processes sharing a file see consistent balances. Open orders are kept on
an indexed book, with what they reserve, in the same transactions (``book.py``);
the tables and their migrations are in ``schema.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._numbers import format_decimal
from .._sqlite import connect, immediate
from ..errors import JournalDamagedError
from ..orders import Order
from ..safety.guard import read_anchor, write_anchor
from . import book
from .book import OPEN_STATUSES
from .schema import SCHEMA_VERSION, migrate, stored_version

__all__ = ["SimStore", "row_to_order"]

#: The columns that decide an order's place on the book and what it reserves.
_BOOKED = frozenset(
    {"status", "triggered", "symbol", "side", "order_type", "time_in_force", "qty"}
    | {"limit_price", "stop_price", "submitted_at"}
)


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    return value


class SimStore:
    """The sim broker's database file."""

    def __init__(self, path: Path, *, reset: bool = False) -> None:
        self.path = path
        #: The account's anchor beside its file: which account, and how far its log went.
        self.anchor = path.with_name(path.name + ".anchor")
        path.parent.mkdir(parents=True, exist_ok=True)
        if reset:
            for suffix in ("", "-wal", "-shm", ".anchor"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        anchor = read_anchor(self.anchor)
        if anchor is not None and not (path.exists() and path.stat().st_size):
            raise _lost(path, anchor, "is gone" if not path.exists() else "is empty")
        self._lock = threading.RLock()
        try:
            self._db = connect(path)
        except sqlite3.DatabaseError as exc:
            raise _unreadable(path, exc) from None
        try:
            if stored_version(self._db) != SCHEMA_VERSION:
                with self.transaction():  # one process migrates; the others wait, then find it done
                    migrate(self._db, str(path))
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise _unreadable(path, exc) from None
            raise
        if anchor is not None:
            self._check(anchor)

    def _check(self, anchor: dict[str, Any]) -> None:
        number = self.get_meta("account_number")
        if number != anchor["journal_id"]:
            self.close()
            raise _lost(self.path, anchor, f"holds account {number or 'none'}: it was replaced")
        if self.last_update() < int(anchor["seq"]):
            self.close()
            raise _lost(self.path, anchor, "was cut back")

    def close(self) -> None:
        """Record the account's anchor, then release the file."""
        with self._lock:
            with contextlib.suppress(sqlite3.Error, OSError):
                number = self.get_meta("account_number")
                if number is not None:
                    # The anchor's fields are the journal's: identity and a position in the log.
                    write_anchor(
                        self.anchor, {"journal_id": number, "seq": self.last_update(), "hash": ""}
                    )
            self._db.close()

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit of work; nested calls join the outer transaction."""
        return immediate(self._db, self._lock)

    # -- meta ------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(_text(value))),
        )

    # -- orders ----------------------------------------------------------------------

    def insert_order(self, values: dict[str, Any]) -> None:
        """Insert an order, and book it if it is open (in the caller's transaction)."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction():
            self._db.execute(
                f"INSERT INTO orders ({columns}) VALUES ({marks})",
                tuple(_text(v) for v in values.values()),
            )
            row = self.order(values["order_id"])
            assert row is not None
            book.book(self._db, row)

    def update_order(self, order_id: str, **values: Any) -> None:
        """Change an order; a change of its status or price keeps the book (same transaction)."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self.transaction():
            before = self.order(order_id) if _BOOKED.intersection(values) else None
            self._db.execute(
                f"UPDATE orders SET {assignments} WHERE order_id = ?",
                (*(_text(v) for v in values.values()), order_id),
            )
            if before is not None:
                book.unbook(self._db, before)
                after = self.order(order_id)
                assert after is not None
                book.book(self._db, after)

    def order(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return row

    def order_by_client_id(self, client_order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return row

    def orders(
        self,
        status: str,
        limit: int | None,
        symbols: list[str] | None,
        *,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[sqlite3.Row]:
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        where = {
            "open": f"status IN ({marks})",
            "closed": f"status NOT IN ({marks})",
            "all": "1 = 1",
        }[status]
        params: list[Any] = list(OPEN_STATUSES) if status != "all" else []
        if symbols:
            where += f" AND symbol IN ({', '.join('?' for _ in symbols)})"
            params.extend(symbols)
        # submitted_at is UTC, written with microseconds: text order is time order
        for bound, op in ((after, ">"), (until, "<")):
            if bound is not None:
                where += f" AND submitted_at {op} ?"
                params.append(_text(bound.astimezone(dt.UTC)))
        sql = f"SELECT * FROM orders WHERE {where} ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return list(self._db.execute(sql, params).fetchall())

    # -- the book of resting orders (see book.py) ---------------------------------------

    def reserved_cash(self) -> Decimal:
        """What the open buys reserve: qty times limit (else stop) price, summed."""
        return book.reserved_cash(self._db)

    def held_for_sale(self, symbol: str) -> Decimal:
        """The shares of ``symbol`` held by open sells."""
        return book.held_for_sale(self._db, symbol)

    def resting_symbols(self) -> list[str]:
        """The symbols with open orders."""
        return book.symbols(self._db)

    def crossed(self, symbol: str, price: Decimal) -> list[tuple[int, str]]:
        """``(seq, order_id)`` of the open orders on ``symbol`` that ``price`` may change."""
        return book.crossed(self._db, symbol, price)

    def expired(self, today: str) -> list[tuple[int, str]]:
        """``(seq, order_id)`` of the open ``day`` orders submitted before ``today``."""
        return book.expired(self._db, today)

    # -- the update log (the sim's order stream) ---------------------------------------

    def add_update(
        self,
        order_id: str,
        event: str,
        at: dt.datetime,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        position_qty: Decimal | None = None,
    ) -> None:
        """Log one change of an order, with the order's status and fills as they are now."""
        self._db.execute(
            "INSERT INTO order_updates (order_id, event, at, status, filled_qty, "
            "filled_avg_price, qty, price, position_qty) SELECT order_id, ?, ?, status, "
            "filled_qty, filled_avg_price, ?, ?, ? FROM orders WHERE order_id = ?",
            (event, _text(at), _text(qty), _text(price), _text(position_qty), order_id),
        )

    def last_update(self) -> int:
        """The sequence number of the newest logged update (0 for none)."""
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM order_updates").fetchone()
        return int(row[0])

    def updates_after(self, seq: int) -> list[sqlite3.Row]:
        """Logged updates newer than ``seq``, oldest first, with their order's row."""
        return list(
            self._db.execute(
                "SELECT u.seq, u.event, u.at AS update_at, u.status AS update_status, "
                "u.filled_qty AS update_filled_qty, u.filled_avg_price AS update_avg_price, "
                "u.qty AS update_qty, u.price AS update_price, u.position_qty, o.* "
                "FROM order_updates u JOIN orders o ON o.order_id = u.order_id "
                "WHERE u.seq > ? ORDER BY u.seq",
                (seq,),
            ).fetchall()
        )

    # -- positions -------------------------------------------------------------------

    def positions(self) -> list[tuple[str, Decimal, Decimal]]:
        rows = self._db.execute("SELECT symbol, qty, cost_basis FROM positions ORDER BY symbol")
        return [(r[0], Decimal(r[1]), Decimal(r[2])) for r in rows.fetchall()]

    def position(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        row = self._db.execute(
            "SELECT qty, cost_basis FROM positions WHERE symbol = ?", (symbol,)
        ).fetchone()
        return None if row is None else (Decimal(row[0]), Decimal(row[1]))

    def set_position(self, symbol: str, qty: Decimal, cost_basis: Decimal) -> None:
        if qty == 0:
            self._db.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
            return
        self._db.execute(
            "INSERT INTO positions (symbol, qty, cost_basis) VALUES (?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET "
            "qty = excluded.qty, cost_basis = excluded.cost_basis",
            (symbol, _text(qty), _text(cost_basis)),
        )

    # -- equity ----------------------------------------------------------------------

    def add_equity_point(self, at: dt.datetime, equity: Decimal) -> None:
        """Record the equity after a fill; ``equity_days`` keeps each day's last point."""
        at_text, value = _text(at), _text(equity)
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO equity (at, equity) VALUES (?, ?)", (at_text, value)
            )
            self._db.execute(
                "INSERT INTO equity_days (day, last_seq, equity) VALUES (?, ?, ?) "
                "ON CONFLICT(day) DO UPDATE SET "
                "last_seq = excluded.last_seq, equity = excluded.equity",
                (at_text[:10], cursor.lastrowid, value),
            )

    def equity_before(self, day: str) -> Decimal | None:
        """The newest equity point dated before ``day``, else the first one (None: no points).

        The newest by record, not by date: the days are walked from the newest
        recorded point back, and the first dated before ``day`` is the answer.
        """
        row = self._db.execute(
            "SELECT equity FROM equity_days INDEXED BY equity_days_last "
            "WHERE day < ? ORDER BY last_seq DESC LIMIT 1",
            (day,),
        ).fetchone()
        if row is None:
            row = self._db.execute("SELECT equity FROM equity ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else Decimal(row[0])

    def equity_points(self) -> list[tuple[str, Decimal]]:
        rows = self._db.execute("SELECT at, equity FROM equity ORDER BY seq").fetchall()
        return [(r[0], Decimal(r[1])) for r in rows]


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> JournalDamagedError:
    return JournalDamagedError(
        f"the sim account at {path} is not a readable SQLite database ({exc}); "
        "restore it from a backup, or start a fresh account on purpose with "
        "broker_options.sim.reset = true"
    )


def _lost(path: Path, anchor: dict[str, Any], what: str) -> JournalDamagedError:
    return JournalDamagedError(
        f"the sim account at {path} {what}, but its anchor says it was account "
        f"{anchor['journal_id']}; no fresh account is made over it: restore the file, or "
        "start a fresh account on purpose with broker_options.sim.reset = true",
        details={"path": str(path)},
    )


def row_to_order(row: sqlite3.Row) -> Order:
    return Order(
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        order_type=row["order_type"],
        time_in_force=row["time_in_force"],
        status=row["status"],
        qty=row["qty"],
        notional=row["notional"],
        filled_qty=row["filled_qty"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        filled_avg_price=row["filled_avg_price"],
        submitted_at=row["submitted_at"],
        filled_at=row["filled_at"],
        canceled_at=row["canceled_at"],
        extended_hours=bool(row["extended_hours"]),
        replaced_by=row["replaced_by"],
        replaces=row["replaces"],
    )
