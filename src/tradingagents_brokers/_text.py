"""Text from outside (an agent, a broker, a file) made inert before a person sees it."""

from __future__ import annotations

import unicodedata

__all__ = ["inert"]

#: Characters shown escaped: controls, formats (zero-width, bidi), surrogates, private
#: use, unassigned, and line or paragraph separators other than a plain newline.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def inert(text: str) -> str:
    """``text`` with every control or invisible character spelled out (newlines kept)."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for ch in text:
        if ch == "\n" or unicodedata.category(ch) not in _HIDDEN:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
