"""What every tool answer and every tool call passes through: shape, size and inert text.

* :func:`shape_problem` looks at a call's arguments before anything else does
  (LangChain's callbacks print them, pydantic validates them): arguments nested
  deeper than :data:`MAX_DEPTH`, with more than :data:`MAX_NODES` values or
  :data:`MAX_TEXT` characters are refused with a sentence, never walked
  recursively, so a hostile argument cannot raise ``RecursionError`` out of a
  tool and stop a LangGraph graph.
* :func:`finish` makes a text fit to show: control and format characters
  (terminal escapes, zero-width and direction marks) spelled out as ``\\x1b``,
  and cut to :data:`MAX_ANSWER_BYTES` (UTF-8). Values a model sent are echoed
  through :func:`~tradingagents_brokers._numbers.clip` (a quoted ``repr``, at
  most about 40 characters), as the rest of the package does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._numbers import clip
from .._text import inert

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT",
    "clip",
    "finish",
    "inert",
    "shape_problem",
]

#: No answer a model reads is longer than this, in UTF-8 bytes.
MAX_ANSWER_BYTES = 4096
#: Containers inside the arguments (the arguments object is level 1; ``symbols`` is 2).
MAX_DEPTH = 16
#: Values (keys, items and leaves) in the arguments, all levels together.
MAX_NODES = 2000
#: Characters of text (keys and strings) in the arguments, all together.
MAX_TEXT = 100_000

_TOO_MUCH_TEXT = f"the arguments hold more than {MAX_TEXT} characters of text"
_CUT_NOTE = " [... answer cut to {limit} bytes]"


def shape_problem(arguments: Any) -> str | None:
    """Why ``arguments`` cannot be looked at safely, or None. Walks without recursion."""
    if isinstance(arguments, str):
        return None if len(arguments) <= MAX_TEXT else _TOO_MUCH_TEXT
    nodes = 0
    text = 0
    # (value, depth, the top-level argument it belongs to)
    stack: list[tuple[Any, int, Any]] = [(arguments, 1, None)]
    while stack:
        value, depth, top = stack.pop()
        where = "" if top is None else f" (in {clip(top)})"
        if isinstance(value, Mapping | list | tuple | set | frozenset):
            if depth > MAX_DEPTH:
                return f"the arguments are nested more than {MAX_DEPTH} levels deep{where}"
            nodes += len(value)
            if nodes > MAX_NODES:
                return f"the arguments hold more than {MAX_NODES} values{where}"
            items = (
                list(value.items()) if isinstance(value, Mapping) else [(None, v) for v in value]
            )
            for key, item in items:
                if isinstance(key, str):
                    text += len(key)
                stack.append((item, depth + 1, key if top is None and key is not None else top))
        elif isinstance(value, str | bytes):
            text += len(value)
        if text > MAX_TEXT:
            return f"{_TOO_MUCH_TEXT}{where}"
    return None


def bounded(text: str, limit: int = MAX_ANSWER_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, saying that it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = _CUT_NOTE.format(limit=limit)
    keep = data[: limit - len(note.encode())].decode("utf-8", errors="ignore")
    return keep + note


def finish(text: str) -> str:
    """The text a model reads: inert, and at most :data:`MAX_ANSWER_BYTES`."""
    return bounded(inert(text))
