"""How results reach a person or a script.

Three shapes of the same data:

- on a terminal, tables laid out for 80 columns: the columns that matter, ids
  whole or as a short unique prefix that the commands accept, colour for side
  and status, and nothing that must be copied (an id, a status, a path) ever cut;
  ``--wide`` shows every field whole;
- when stdout is not a terminal, plain tab-separated lines (a header line, then a
  line a record), every value whole;
- with ``--json``, JSON documents as before.

Whatever an agent, a broker or a file wrote is shown inert (see :mod:`.._text`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .._text import inert

__all__ = ["Col", "Output", "plain_number", "short_ids", "shown"]

#: A short id is at least this long, and longer where needed to tell two apart.
SHORT_ID = 8

_STATUS_STYLES = {
    "filled": "green",
    "rejected": "red",
    "denied": "red",
    "blocked": "red",
    "failed": "red",
    "error": "red",
    "unknown": "magenta",
    "submitting": "magenta",
    "missing": "magenta",
    "canceled": "dim",
    "expired": "dim",
    "replaced": "dim",
    "not_placed": "dim",
    "done_for_day": "dim",
}


def shown(value: Any) -> str:
    """A value from outside, for a markup string: no escapes, no markup of its own."""
    return escape(inert(str(value)))


def side_style(value: str) -> str:
    return {"buy": "green", "sell": "red"}.get(value, "")


def status_style(value: str) -> str:
    return _STATUS_STYLES.get(value, "cyan")


def sign_style(value: str) -> str:
    return "red" if value.startswith("-") else "green" if value not in ("0", "-") else ""


def plain_number(value: Any) -> Any:
    """``1E+3`` as ``1000``: a number written out, never in scientific notation."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str) and "e" in value.lower():
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return format(number, "f") if number.is_finite() else value
    return value


def short_ids(values: Iterable[Any], minimum: int = SHORT_ID) -> dict[str, str]:
    """Each id to its shortest prefix (at least ``minimum`` long) no other id shares."""
    ids = sorted({str(v) for v in values if v is not None})
    out: dict[str, str] = {}
    for i, value in enumerate(ids):
        if len(value) <= minimum + 4:
            out[value] = value
            continue
        length = minimum
        for other in (ids[i - 1] if i else "", ids[i + 1] if i + 1 < len(ids) else ""):
            common = 0
            for a, b in zip(value, other, strict=False):
                if a != b:
                    break
                common += 1
            length = max(length, common + 1)
        out[value] = value if length >= len(value) else value[:length]
    return out


@dataclass(frozen=True)
class Col:
    """One column of a table on a terminal.

    ``keep`` columns (ids, statuses) are never cut or wrapped; the others give
    way first when the terminal is narrow. ``short`` ids show as their shortest
    unique prefix at least that long. ``style`` colours a cell by its value.
    """

    key: str
    header: str = ""
    keep: bool = False
    short: int = 0
    number: bool = False
    style: Callable[[str], str] | None = None
    value: Callable[[Mapping[str, Any]], Any] | None = None

    def get(self, record: Mapping[str, Any]) -> Any:
        return self.value(record) if self.value else record.get(self.key)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(plain_number(value))


def _cell(value: Any, style: Callable[[str], str] | None = None) -> Text:
    """A table cell: plain text (never markup) with no terminal escapes."""
    text = inert(_text(value))
    return Text(text, style=style(text) if style else "")


def _export_cell(value: Any) -> str:
    """A CSV cell: empty for none, JSON for a nested value, text inert."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return inert(str(plain_number(value)))


def _field(value: Any) -> str:
    """A value for a tab-separated line: inert, on one line, no tabs."""
    return inert(_text(value)).replace("\n", "\\n")


class Output:
    """Where a command's results go: a terminal, a pipe, or JSON on stdout with ``--json``."""

    def __init__(
        self,
        *,
        as_json: bool,
        wide: bool = False,
        console: Console | None = None,
        export: str | None = None,
    ) -> None:
        self.as_json = as_json
        self.wide = wide
        #: ``--format csv`` or ``jsonl``: every field of every record, for other programs.
        self.export = export
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def plain(self) -> bool:
        """Tab-separated lines instead of tables: stdout is not a terminal (or an export)."""
        return self.export is not None or not self.console.is_terminal

    @property
    def pictures(self) -> bool:
        """Whether charts are drawn: on a terminal, for people."""
        return not (self.as_json or self.plain)

    def data(self, value: Any) -> None:
        """Print a JSON document (``--json``)."""
        print(json.dumps(value, indent=2, sort_keys=False, default=str))

    def note(self, text: str) -> None:
        """A line of plain text (what it holds is shown as it is, escapes spelled out)."""
        if not self.as_json:
            self.console.print(inert(text), markup=False)

    def styled(self, markup: str) -> None:
        """A line with rich markup; every value in it from outside goes through :func:`shown`."""
        if not self.as_json:
            self.console.print(markup)

    def hint(self, text: str) -> None:
        """A word about what was left out: dim on a terminal, on stderr under a pipe."""
        if self.as_json:
            return
        if self.plain:
            self.errors.print(inert(text), markup=False)
        else:
            self.console.print(Text(inert(text), style="dim"))

    def fail(self, text: str, *, more: Sequence[str] = ()) -> None:
        """``error: text`` on stderr, and any ``more`` lines below it."""
        self.errors.print(f"error: {inert(text)}", markup=False)
        for line in more:
            self.errors.print(inert(line), markup=False)

    def record(self, title: str, values: Mapping[str, Any]) -> None:
        """One record (an account, an order): a line a field, values never cut."""
        if self.as_json:
            self.data(dict(values))
            return
        if self.plain:
            for key, value in values.items():
                self._line(_field(key), _field(value))
            return
        self.console.print(Text(inert(title), style="bold"))
        width = max((len(str(key)) for key in values), default=0)
        for key, value in values.items():
            line = Text("  ")
            line.append(f"{inert(str(key)):<{width}}", style="bold")
            line.append("  ")
            line.append(_cell(value, _STYLES.get(str(key))))
            self.console.print(line)

    def rows(
        self,
        title: str,
        records: Sequence[Mapping[str, Any]],
        columns: Sequence[Col | str],
        *,
        empty: str,
    ) -> None:
        """A table of several records: ``columns`` on a terminal, every field with ``--wide``."""
        if self.as_json:
            self.data([dict(r) for r in records])
            return
        if self.export is not None:
            self._export(records)
            return
        cols = [c if isinstance(c, Col) else Col(c) for c in columns]
        if self.wide:
            known = {c.key: c for c in cols}
            keys = list(dict.fromkeys(k for r in records for k in r))
            cols = [_whole(known.get(k, Col(k))) for k in keys]
        if self.plain:
            self._tab_separated(records, cols)
            return
        if not records:
            self.console.print(empty, markup=False)
            return
        self._table(title, records, cols)

    def _export(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Every field of every record as CSV (a header line first) or JSON Lines."""
        file = self.console.file
        if self.export == "jsonl":
            for record in records:
                file.write(json.dumps(dict(record), default=str) + "\n")
            return
        keys = list(dict.fromkeys(k for r in records for k in r))
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(keys)
        for record in records:
            writer.writerow([_export_cell(record.get(k)) for k in keys])

    def _line(self, *fields: str) -> None:
        """A tab-separated line, written as it is (Rich would turn the tabs into spaces)."""
        self.console.file.write("\t".join(fields) + "\n")

    def _tab_separated(self, records: Sequence[Mapping[str, Any]], cols: Sequence[Col]) -> None:
        self._line(*(c.key for c in cols))
        for record in records:
            self._line(*(_field(c.get(record)) for c in cols))

    def _table(self, title: str, records: Sequence[Mapping[str, Any]], cols: Sequence[Col]) -> None:
        # The title above the table, not in it: a table cuts a title (a path) to its width.
        self.console.print(Text(inert(title), style="bold"))
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        short = {c.key: short_ids((c.get(r) for r in records), c.short) for c in cols if c.short}
        cells = []
        for record in records:
            row = []
            for col in cols:
                value = col.get(record)
                if col.key in short and value is not None:
                    value = short[col.key].get(str(value), value)
                row.append(_cell(value, col.style))
            cells.append(row)
        widths = []
        for i, col in enumerate(cols):
            widest = max([len(col.header or col.key)] + [len(row[i].plain) for row in cells])
            widths.append(widest)
            if col.keep:
                table.add_column(
                    col.header or col.key, no_wrap=True, min_width=widest, justify=_justify(col)
                )
            else:
                table.add_column(col.header or col.key, overflow="fold", justify=_justify(col))
        for row in cells:
            table.add_row(*row)
        if not self.wide:
            self.console.print(table, soft_wrap=False)
            return
        # Every column whole: as wide as it takes (a terminal wraps the longer lines).
        saved = self.console.width
        self.console.width = max(saved, sum(widths) + len(widths))
        try:
            self.console.print(table, soft_wrap=False)
        finally:
            self.console.width = saved


def _whole(col: Col) -> Col:
    """``col`` for ``--wide``: the field as it is, under its own name, never cut."""
    return Col(col.key, col.key, keep=True, number=col.number, style=col.style)


def _justify(col: Col) -> Any:
    return "right" if col.number else "left"


#: Colours by field name, for :meth:`Output.record`.
_STYLES: dict[str, Callable[[str], str]] = {"side": side_style, "status": status_style}
