"""Which gated brokers are at work on a store, so in-flight orders always have an owner.

A gated broker registers itself before its first order (host, pid, start time)
and keeps a heartbeat while it lives; every intent it journals names it as
``owner``. Another process's reconciliation may judge an intent still being sent
only once its owner is *gone*:

* its row is missing (it closed, having finished its sends), or
* it runs on this host - same host name, boot and pid namespace, so its pid means
  the same process here - and that pid no longer exists, or
* its heartbeat is older than ``owner_timeout_seconds`` (a dead host, a frozen
  process, a network partition).

Until then the intent counts against every limit, in every process.

``TRADINGAGENTS_BROKERS_HOST`` overrides the host name (containers that share a
name, or tests that play several hosts on one machine).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from ..environment import HOST_ENV
from ..errors import BrokerError
from .backend import Backend

__all__ = ["HOST_ENV", "Heartbeat", "Owner", "Registry", "host_identity"]

log = logging.getLogger("tradingagents.broker")


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def host_identity() -> tuple[str, str]:
    """(the host's name, a key that is equal only where pids mean the same processes).

    The key is empty where it cannot be known (no boot id or pid namespace to read):
    then only heartbeats tell whether an owner lives.
    """
    name = os.environ.get(HOST_ENV) or socket.gethostname()
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    key = f"{name}|{boot}|{namespace}" if boot and namespace else ""
    return name, key


def _pid_exists(pid: int) -> bool:
    if pid <= 0:  # 0 and negative pids name process groups, never one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen
class Owner:
    """One registered gated broker."""

    owner: str
    broker: str
    host: str
    host_key: str
    pid: int
    started_at: str


class Registry:
    """The ``processes`` table of one store."""

    def __init__(
        self,
        backend: Backend,
        *,
        now: Callable[[], dt.datetime],
        owner_timeout: float,
        pid_exists: Callable[[int], bool] = _pid_exists,
    ) -> None:
        self.backend = backend
        self.now = now
        self.owner_timeout = dt.timedelta(seconds=owner_timeout)
        self.pid_exists = pid_exists
        self.host, self.host_key = host_identity()

    def register(self, broker: str) -> Owner:
        """Add a row for a new gated broker of ``broker``; its heartbeat starts now."""
        at = _stamp(self.now())
        owner = Owner(
            owner=f"{self.host[:40]}-{os.getpid()}-{secrets.token_hex(4)}",
            broker=broker,
            host=self.host,
            host_key=self.host_key,
            pid=os.getpid(),
            started_at=at,
        )
        self._insert(owner, at)
        return owner

    def _insert(self, owner: Owner, at: str) -> None:
        with self.backend.transaction(lock=False, durable=False):
            self.backend.execute(
                "INSERT INTO processes (owner, broker, host, host_key, pid, started_at, "
                "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*attrs.astuple(owner), at),
            )

    def beat(self, owner: Owner) -> None:
        """Record that ``owner`` lives (and register it again if its row was pruned)."""
        at = _stamp(self.now())
        with self.backend.transaction(lock=False, durable=False):
            changed = self.backend.execute(
                "UPDATE processes SET heartbeat_at = ? WHERE owner = ?", (at, owner.owner)
            )
        if not changed:
            self._insert(owner, at)

    def leave(self, owner: Owner) -> None:
        """Remove ``owner``: it has finished every send it began."""
        with self.backend.transaction(lock=False, durable=False):
            self.backend.execute("DELETE FROM processes WHERE owner = ?", (owner.owner,))

    def alive(self, owners: Iterable[str]) -> set[str]:
        """Which of ``owners`` are not gone (see the module docstring)."""
        wanted = sorted(set(owners))
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        rows = self.backend.query(
            f"SELECT owner, host_key, pid, heartbeat_at FROM processes WHERE owner IN ({marks})",
            wanted,
        )
        floor = _stamp(self.now() - self.owner_timeout)
        living = set()
        for row in rows:
            if str(row["heartbeat_at"]) < floor:
                continue
            same_host = bool(self.host_key) and row["host_key"] == self.host_key
            if same_host and not self.pid_exists(int(row["pid"])):
                continue
            living.add(str(row["owner"]))
        return living

    def rows(self) -> list[dict[str, object]]:
        """Every registered gated broker (for ``status`` and the docs' examples)."""
        return self.backend.query("SELECT * FROM processes ORDER BY started_at")


class Heartbeat:
    """A daemon thread that keeps one owner's heartbeat fresh until stopped.

    It also stops by itself once ``holder`` (the gated broker) is garbage, or when
    the store was closed under it.
    """

    def __init__(
        self, registry: Registry, owner: Owner, interval: float, holder: object = None
    ) -> None:
        self.registry = registry
        self.owner = owner
        self.interval = interval
        self._holder = None if holder is None else weakref.ref(holder)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{owner.broker}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._holder is not None and self._holder() is None:
                return
            try:
                self.registry.beat(self.owner)
            except BrokerError as exc:  # the store is away; the next beat tries again
                log.warning("heartbeat of %s failed: %s", self.owner.owner, exc.message)
            except Exception:  # noqa: BLE001 - the store was closed: nothing left to keep
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
