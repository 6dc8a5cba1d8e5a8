"""Say what a command waits for once a broker call takes longer than a second.

A watcher thread asks :func:`tradingagents_brokers.waits.longest` four times a
second. A wait past :data:`AFTER` seconds gets one line on stderr naming it; a wait
that goes on gets another every :data:`AGAIN` seconds. Lines, not a live spinner:
they read the same on a terminal, in a pipe and in a log, and never fight with a
prompt for the terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.text import Text

from .. import waits
from .._text import inert

__all__ = ["AFTER", "AGAIN", "WaitNotice"]

#: Seconds a wait lasts before it is shown.
AFTER = 1.0
#: Seconds between two lines about the same wait.
AGAIN = 5.0


class WaitNotice:
    """``with WaitNotice(console):`` around a command's work."""

    def __init__(
        self,
        console: Console,
        *,
        every: float = 0.25,
        longest: Callable[[], tuple[str, float] | None] = waits.longest,
    ) -> None:
        self.console = console
        self.every = every
        self.longest = longest
        self.stop = threading.Event()
        self.shown: tuple[str, float] | None = None  # what, and the age last shown at
        self.thread = threading.Thread(target=self._watch, name="wait-notice", daemon=True)

    def __enter__(self) -> WaitNotice:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop.set()
        self.thread.join()

    def _watch(self) -> None:
        while not self.stop.wait(self.every):
            self.check()

    def check(self) -> None:
        """Show the longest wait if it is due (the watcher calls this; tests may too)."""
        wait = self.longest()
        if wait is None or wait[1] < AFTER:
            return
        what, age = wait
        if self.shown is not None and self.shown[0] == what and age - self.shown[1] < AGAIN:
            return
        again = self.shown is not None and self.shown[0] == what
        self.shown = (what, age)
        verb = "still waiting" if again else "waiting"
        self.console.print(Text(f"{verb} for {inert(what)}: {age:.0f} s ..."), style="dim")
