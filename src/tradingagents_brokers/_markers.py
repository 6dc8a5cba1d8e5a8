"""The pluggy markers of the ``tradingagents_brokers`` project.

``hookimpl`` is public (re-exported by the package); ``hookspec`` stays internal:
only the core declares hooks.
"""

from __future__ import annotations

import pluggy

PROJECT = "tradingagents_brokers"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
