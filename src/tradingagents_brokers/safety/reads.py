"""Broker state read for one decision before the write section, replayed inside it.

The gate decides an order twice: once outside the store's write section, where
the risk checks may read the broker (the account, positions, open orders, a
price) - each read recorded here - and once inside it, where only the store is
read and every broker read is answered from this record. So no network call
ever runs while the write section is held: a halt, another process's order or
a heartbeat never waits on a broker.

While the broker's order stream keeps the state cache live, the gate may decide
in the write section straight away: a read is then answered from the cache
(``offline``) when it holds the answer. A check that asks inside the write
section for something neither read before nor held by the cache gets
:class:`ReadDeferredError`,
a broker error, so it denies; the gate sees :attr:`BrokerReads.missed`, reads
what was missing outside the write section, and decides again. A read that
failed outside is replayed as the same failure inside: the check denies for
want of data (or, for an unreadable answer, as a check that failed), as it
would have.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import BrokerError

__all__ = ["BrokerReads", "ReadDeferredError", "no_read"]

T = TypeVar("T")


class ReadDeferredError(BrokerError):
    """Inside the write section, a check asked for broker state nobody read before it."""

    code = "read_deferred"
    retryable = True


class _NotHeld(Exception):
    """What the state cache does not hold: it would have to be read from the broker."""


def no_read(*args: Any) -> Any:
    """A broker read to hand the state cache inside the write section: it never reads."""
    raise _NotHeld


class BrokerReads:
    """Each broker read of one decision, by key and arguments (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], tuple[bool, Any]] = {}
        self._fetchers: dict[str, Callable[..., Any]] = {}
        self._offline: dict[str, Callable[..., Any]] = {}
        #: Set inside the write section: reads are replayed, never made.
        self.frozen = False
        #: Reads asked for while frozen, to make before deciding again.
        self.missed: list[tuple[Any, ...]] = []

    def __repr__(self) -> str:
        return f"<BrokerReads {sorted(str(k[0]) for k in self._values)} missed={len(self.missed)}>"

    def wrap(
        self, key: str, fetch: Callable[..., T], *, offline: Callable[..., T] | None = None
    ) -> Callable[..., T]:
        """``fetch`` recorded under ``key`` (and its arguments).

        ``offline`` answers while frozen from what is at hand (the state cache), or
        raises through :func:`no_read` when it would have to read the broker.
        """
        self._fetchers[key] = fetch
        if offline is not None:
            self._offline[key] = offline

        def read(*args: Any) -> T:
            value: T = self.get((key, *args))
            return value

        return read

    def get(self, entry: tuple[Any, ...]) -> Any:
        found = self._values.get(entry)
        if found is not None:
            ok, value = found
            if ok:
                return value
            raise value
        if self.frozen:
            offline = self._offline.get(entry[0])
            if offline is not None:
                with contextlib.suppress(_NotHeld):
                    return offline(*entry[1:])
            self.missed.append(entry)
            raise ReadDeferredError(
                f"the {entry[0]} was needed only once the state had moved on while the order was "
                "decided; nothing was sent - place the order again"
            )
        fetch = self._fetchers[entry[0]]
        try:
            value = fetch(*entry[1:])
        except Exception as exc:  # replayed inside: the check fails as it did outside
            self._values[entry] = (False, exc)
            raise
        self._values[entry] = (True, value)
        return value

    def read_missed(self) -> None:
        """Make the reads asked for while frozen (outside the write section)."""
        missed, self.missed = self.missed, []
        self.frozen = False
        for entry in missed:
            with contextlib.suppress(Exception):  # recorded: the next decision denies
                self.get(entry)
