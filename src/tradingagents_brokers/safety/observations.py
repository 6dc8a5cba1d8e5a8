"""How the journal records what the broker says of an intent's order.

Observations only move an intent forward (:func:`~.records.advances`): a
duplicate, or an answer older than what the journal holds, changes nothing.
Mixed into :class:`~tradingagents_brokers.safety.journal.Journal`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..store.backend import Backend
from .records import FINAL_STATUSES, IntentRecord, advances, progress, stamp

__all__ = ["Observations"]


def _observation(was: str, now: str, order: Any, event: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an observation of an intent's order records (its projection is added after)."""
    said = (
        {}
        if event and "order" in event
        else {  # the order itself says them
            "order_id": order.order_id,
            "filled_qty": str(order.filled_qty),
        }
    )
    return {"from": was, "to": now, **said, **(event or {})}


class Observations:
    """The observation methods of the journal (see the module docstring)."""

    backend: Backend
    now: Callable[[], dt.datetime]

    if TYPE_CHECKING:  # provided by the journal

        def transaction(self, *, durable: bool = True) -> AbstractContextManager[None]: ...

        def intent(self, key: int | str) -> IntentRecord: ...

        def append(
            self,
            kind: str,
            payload: Mapping[str, Any],
            *,
            intent_id: int | None = None,
            broker: str | None = None,
        ) -> int: ...

    def observe(
        self,
        intent_id: int,
        order: Any,
        *,
        kind: str,
        event: Mapping[str, Any] | None = None,
        record_unchanged: bool = False,
        current: IntentRecord | None = None,
    ) -> str | None:
        """Record what the broker says of an intent's order; the new status when it was news.

        The projection only moves forward (see :func:`advances`): a duplicate or
        an observation that arrived out of order changes nothing (None), and its
        event is appended only with ``record_unchanged`` (a submission's answer is
        always kept). A final status is never left, though a larger filled
        quantity is still taken. The record is not durable on its own
        (``transaction(durable=False)``): reconciliation can ask the broker again.
        ``current``, the intent as the caller just read it, saves a look-up when
        the observation turns out to be no news.
        """
        if not record_unchanged:
            seen = current if current is not None else self.intent(intent_id)
            if self._change(seen, order) is None:
                return None  # no news: no write transaction, no lock taken from the gate
        with self.transaction(durable=False):
            current = self.intent(intent_id)
            change = self._change(current, order)
            record = _observation(current.status, change or current.status, order, event)
            if change is not None:
                filled = max(Decimal(order.filled_qty), current.filled_qty)
                record["projection"] = self._move(intent_id, change, order.order_id, filled)
            self.append(kind, record, intent_id=intent_id, broker=current.broker)
        return change

    def record_answer(
        self, intent: IntentRecord, order: Any, *, kind: str, event: Mapping[str, Any]
    ) -> str:
        """Record the broker's answer to a submission (as :meth:`observe` would); its status.

        The intent is normally still as the gate wrote it: an UPDATE that requires
        that state saves reading it back. When something recorded news first, this
        is :meth:`observe`.
        """
        status, filled = str(order.status.value), Decimal(order.filled_qty)
        with self.transaction(durable=False):
            if advances("submitting", Decimal(0), status, filled):
                moved = self._move(intent.intent_id, status, order.order_id, filled, fresh=True)
                if moved is not None:
                    record = _observation("submitting", status, order, event)
                    record["projection"] = moved
                    self.append(kind, record, intent_id=intent.intent_id, broker=intent.broker)
                    return status
            change = self.observe(
                intent.intent_id, order, kind=kind, event=event, record_unchanged=True
            )
            return change or self.intent(intent.intent_id).status

    def _move(
        self, intent_id: int, status: str, order_id: str, filled: Decimal, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """Write an observation into the intent's row; the columns written (its projection).

        ``fresh``: only if the row is still as the gate wrote it (else None, nothing written).
        """
        projection = {
            "status": status,
            "order_id": order_id,
            "filled_qty": str(filled),
            "updated_at": stamp(self.now()),
        }
        sql = (
            "UPDATE intents SET status = ?, order_id = ?, filled_qty = ?, updated_at = ? "
            "WHERE intent_id = ?"
        )
        if fresh:
            sql += " AND status = 'submitting' AND order_id IS NULL AND filled_qty IS NULL"
        moved = self.backend.execute(sql, (*projection.values(), intent_id))
        return projection if moved == 1 else None

    @classmethod
    def is_news(cls, current: IntentRecord, order: Any) -> bool:
        """Whether :meth:`observe` would change ``current`` for ``order`` (no journal access)."""
        return cls._change(current, order) is not None

    @staticmethod
    def _change(current: IntentRecord, order: Any) -> str | None:
        """The status ``order`` moves ``current`` to, or None when it is no news."""
        status, filled = str(order.status.value), Decimal(order.filled_qty)
        forward = advances(current.status, current.filled_qty, status, filled)
        moved = current.order_id is not None and order.order_id != current.order_id
        if current.status == "denied" or not (forward or moved):
            return None
        if forward and not (current.status in FINAL_STATUSES and progress(status) < 4):
            return status
        return current.status
