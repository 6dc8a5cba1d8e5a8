"""Pictures in the terminal, drawn with Rich alone: portfolio value over time.

A chart of block characters, a column a point (points averaged down to the
width), with the highest and lowest values and the first and last times beside
it. No plotting library: the characters are the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.text import Text

__all__ = ["chart", "sparkline"]

_BLOCKS = " ▁▂▃▄▅▆▇█"


def _fit(values: Sequence[Decimal], width: int) -> list[Decimal]:
    """``values`` averaged down to ``width`` columns, or each drawn wider when fewer."""
    if len(values) <= width:
        each = max(1, width // len(values))
        return [v for v in values for _ in range(each)]
    out = []
    for i in range(width):
        start, end = i * len(values) // width, (i + 1) * len(values) // width
        chunk = values[start:end]
        out.append(sum(chunk, Decimal(0)) / len(chunk))
    return out


def _levels(values: Sequence[Decimal], steps: int) -> list[int]:
    low, high = min(values), max(values)
    if high == low:
        return [steps // 2] * len(values)
    return [int((v - low) / (high - low) * steps) for v in values]


def sparkline(values: Sequence[Decimal], width: int) -> str:
    """One line of block characters, lowest value ``▁``, highest ``█``."""
    if not values:
        return ""
    fitted = _fit(values, width)
    return "".join(_BLOCKS[1 + level] for level in _levels(fitted, 7))


def chart(
    values: Sequence[Decimal], first: str, last: str, *, width: int, height: int = 6
) -> list[Text]:
    """``height`` rows of bars, the high and low values on the right, times below."""
    if not values:
        return []
    high, low = max(values), min(values)
    labels = [f" {high:,.2f}", f" {low:,.2f}"]
    room = max(8, width - max(len(label) for label in labels))
    fitted = _fit(values, room)
    levels = [level + 1 for level in _levels(fitted, height * 8 - 1)]  # the lowest shows too
    colour = "green" if fitted[-1] >= fitted[0] else "red"
    rows = []
    for row in range(height - 1, -1, -1):
        cells = []
        for level in levels:
            filled = level - row * 8
            cells.append(_BLOCKS[8] if filled >= 8 else _BLOCKS[max(filled, 0)])
        line = Text("".join(cells), style=colour)
        if row == height - 1:
            line.append(labels[0])
        elif row == 0:
            line.append(labels[1])
        rows.append(line)
    gap = max(1, len(fitted) - len(first) - len(last))
    rows.append(Text(f"{first}{' ' * gap}{last}", style="dim"))
    return rows
