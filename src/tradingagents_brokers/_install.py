"""The one line that installs a missing piece, for error messages.

No release is on a package index yet, so every line installs from a checkout of
the source tree (``git clone``), run in its top directory.
"""

from __future__ import annotations

__all__ = ["FIRST_PARTY_PLUGINS", "plugin_line"]

#: Broker plugins kept in this repository, and their folder in it.
FIRST_PARTY_PLUGINS = {"alpaca": "plugins/alpaca", "ibkr": "plugins/ibkr"}


def plugin_line(name: str) -> str | None:
    """The pip command that installs broker ``name``'s plugin, if it is one of ours."""
    folder = FIRST_PARTY_PLUGINS.get(name)
    return f"python3 -m pip install ./{folder}" if folder else None
