"""The sim broker's order stream: its update log, read when the gate polls.

Every change of a sim order (new, fill, canceled, expired, replaced) is logged in
the sim's database in the same transaction as the change, so the log holds the
changes of every process that shares the file. The stream is pull-based: each
:meth:`SimOrderStream.poll` first lets the simulated market move (fills what the
current prices cross), then delivers the updates logged since the last poll, then
reports the stream alive. Nothing runs in the background.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import attrs

from ..orders import Order
from ..streams import OrderUpdate, OrderUpdateListener
from .store import row_to_order

if TYPE_CHECKING:
    from .broker import SimBroker

__all__ = ["SimOrderStream", "update_from_row"]


def update_from_row(row: sqlite3.Row) -> OrderUpdate:
    """An update from a row of :meth:`SimStore.updates_after`: the order as it was then."""
    order: Order = attrs.evolve(
        row_to_order(row),
        status=row["update_status"],
        filled_qty=row["update_filled_qty"],
        filled_avg_price=row["update_avg_price"],
    )
    return OrderUpdate(
        event=row["event"],
        order=order,
        at=row["update_at"],
        execution_id=f"sim-{row['seq']}" if row["event"] == "fill" else None,
        qty=row["update_qty"],
        price=row["update_price"],
        position_qty=row["position_qty"],
    )


class SimOrderStream:
    """A subscription to a sim broker's update log (see the module docstring)."""

    def __init__(self, broker: SimBroker, listener: OrderUpdateListener) -> None:
        self._broker = broker
        self._listener = listener
        self._seq: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<SimOrderStream at update {self._seq}>"

    def poll(self) -> None:
        if self._closed:
            return
        if self._seq is None:
            # Connect: settle the market first, so the snapshot the listener takes now
            # holds every change up to the log position it starts from.
            self._broker.process()
            self._seq = self._broker.store.last_update()
            self._listener.on_connected()
        self._broker.process()
        for row in self._broker.store.updates_after(self._seq):
            if self.closed:  # the listener may close the stream while it handles an update
                return
            self._seq = int(row["seq"])
            self._listener.on_update(update_from_row(row))
        self._listener.on_alive()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
