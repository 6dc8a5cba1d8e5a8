"""What the journal needs of a database, met by SQLite and by PostgreSQL.

The journal writes its SQL once, with ``?`` placeholders and named columns, and
hands it to a :class:`Backend`. A backend owns the connections and the
transactions:

* ``transaction(lock=True)`` is the store's *write section*: one at a time across
  every process and host that shares the store (SQLite: ``BEGIN IMMEDIATE``;
  PostgreSQL: a transaction-scoped advisory lock). Every event is appended inside
  one, so the hash chain has one writer at a time, and so does every decision.
* ``transaction(lock=False)`` is a short transaction that does not wait for the
  write section on PostgreSQL (heartbeats, the request budget). On SQLite every
  write transaction is the write section.
* ``durable=False`` lets a commit return before the disk has it (SQLite
  ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit = off``): for records
  that can be rebuilt from the broker, or that need not survive a power loss.

Transactions nest per thread (an inner one joins the outer). Rows come back as
plain dicts keyed by column name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["Backend", "Row", "redact_url", "scrub"]

Row = dict[str, Any]


class Backend(Protocol):
    """A database the journal can live in. See the module docstring."""

    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: str
    #: Where the store is, for messages: a path, or a URL without its password.
    location: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a SELECT."""

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a SELECT, or None."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    def script(self, statements: Sequence[str]) -> None:
        """Run schema statements in order (inside the caller's transaction)."""

    def transaction(
        self, *, lock: bool = True, durable: bool = True
    ) -> AbstractContextManager[bool]:
        """A transaction; yields True when it is the outermost one of this thread."""

    def serialize(self, name: str) -> None:
        """Inside a transaction: wait until no other transaction serialized on ``name`` runs.

        The lock lasts until this transaction ends (SQLite's write lock already does this).
        """

    def in_transaction(self) -> bool:
        """Whether this thread is inside a transaction of this backend."""

    def integrity_check(self) -> str:
        """The database's own consistency check: ``"ok"`` or what is wrong."""

    def close(self) -> None:
        """Release every connection."""


_PASSWORD = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages, reprs and logs).

    >>> redact_url("postgresql://trader:s3cret@db.internal:5432/tab")
    'postgresql://trader:***@db.internal:5432/tab'
    >>> redact_url("host=db password=s3cret dbname=tab")
    'host=db password=*** dbname=tab'
    """
    if "://" not in url:
        return _PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = _PASSWORD.sub(r"\1***", parts.query.replace("&", " ")).replace(" ", "&")
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<an unreadable database URL>"


def _secrets(url: str) -> set[str]:
    found = {m.group(2) for m in _PASSWORD.finditer(url.replace("&", " "))}
    if "://" in url:
        try:
            netloc = urlsplit(url).netloc
        except ValueError:
            netloc = url.partition("://")[2].partition("/")[0]
        userinfo = netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.add(userinfo.partition(":")[2])
    return {s for value in found for s in (value, unquote(value)) if s}


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message, say) with ``url`` and any password in it hidden.

    libpq repeats a URL it cannot parse, password and all.

    >>> scrub('bad URI: "postgresql://u:pw@[x/db"', "postgresql://u:pw@[x/db")
    'bad URI: "<the store_url>"'
    """
    text = text.replace(url, "<the store_url>")
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
