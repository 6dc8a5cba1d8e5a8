"""Tables for people (rich) and JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .._text import inert

__all__ = ["Output", "shown"]


def shown(value: Any) -> str:
    """A value from outside, for a markup string: no escapes, no markup of its own."""
    return escape(inert(str(value)))


def _cell(value: Any) -> Text:
    """A table cell: plain text (never markup) with no terminal escapes."""
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    return Text(inert(str(value)))


class Output:
    """Where a command's results go: a rich console, or JSON on stdout with ``--json``."""

    def __init__(self, *, as_json: bool, console: Console | None = None) -> None:
        self.as_json = as_json
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    def data(self, value: Any) -> None:
        """Print a JSON document (``--json``)."""
        print(json.dumps(value, indent=2, sort_keys=False))

    def note(self, text: str) -> None:
        """A line of plain text (what it holds is shown as it is, escapes spelled out)."""
        if not self.as_json:
            self.console.print(inert(text), markup=False)

    def styled(self, markup: str) -> None:
        """A line with rich markup; every value in it from outside goes through :func:`shown`."""
        if not self.as_json:
            self.console.print(markup)

    def fail(self, text: str) -> None:
        self.errors.print(f"error: {inert(text)}", markup=False)

    def record(self, title: str, values: Mapping[str, Any]) -> None:
        """A two-column table of one record (an account, an order)."""
        if self.as_json:
            self.data(dict(values))
            return
        table = Table(title=Text(inert(title)), show_header=False, title_justify="left")
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in values.items():
            table.add_row(key, _cell(value))
        self.console.print(table)

    def rows(
        self,
        title: str,
        records: Sequence[Mapping[str, Any]],
        columns: Iterable[str],
        *,
        empty: str,
    ) -> None:
        """A table of several records, showing ``columns``."""
        if self.as_json:
            self.data([dict(r) for r in records])
            return
        if not records:
            self.console.print(empty)
            return
        cols = list(columns)
        table = Table(title=Text(inert(title)), title_justify="left")
        for col in cols:
            table.add_column(col)
        for record in records:
            table.add_row(*(_cell(record.get(col)) for col in cols))
        self.console.print(table)
