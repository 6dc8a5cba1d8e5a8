"""Building the plugin manager: specs, default plugins, entry points, ``check_pending``.

There is no global manager: every call of :func:`make_plugin_manager` builds a
fresh one, so tests and several configurations can live side by side.

Default plugins are listed by module path and written with the public
``hookimpl``, exactly as a third-party plugin would be. Third-party plugins are
found through the ``tradingagents_brokers`` entry-point group. A plugin that fails
to import is an error that names it and its distribution, never a silent skip.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points

import attrs
import pluggy

from . import hookspecs
from ._markers import PROJECT
from .environment import BLOCK_ENV
from .errors import PluginLoadError

__all__ = [
    "BLOCK_ENV",
    "CORE_PLUGINS",
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "BrokerPluginManager",
    "PluginInfo",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = PROJECT

#: The core cannot run without these; they cannot be blocked.
CORE_PLUGINS: dict[str, str] = {
    "operations": "tradingagents_brokers.operations",
    "confirmation": "tradingagents_brokers.confirmation",
    "approvals": "tradingagents_brokers.approvals",
}

#: Optional default plugins (name -> module), blockable like any third-party plugin.
DEFAULT_PLUGINS: dict[str, str] = {
    "sim": "tradingagents_brokers.sim.plugin",
}


@attrs.frozen
class PluginInfo:
    """Where a registered plugin came from, for ``tradingagents-brokers plugins``."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool


class BrokerPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from (``info``)."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.info: dict[str, PluginInfo] = {}


def blocked_names(
    config_blocked: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> set[str]:
    """Plugin names blocked by ``TRADINGAGENTS_BROKERS_BLOCK`` (comma-separated) and the config."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in env.get(BLOCK_ENV, "").split(",") if n.strip()}
    names.update(n.strip() for n in config_blocked if n.strip())
    return names


def make_plugin_manager(
    *,
    blocked: Iterable[str] = (),
    load_entrypoints: bool = True,
    environ: Mapping[str, str] | None = None,
) -> BrokerPluginManager:
    """A fresh, fully loaded plugin manager.

    The steps are pluggy's own: add the specs, block what the user blocked,
    register the core and default plugins, load entry points, ``check_pending()``.
    ``pm.info`` (name -> :class:`PluginInfo`) records where each plugin came from.
    """
    pm = BrokerPluginManager()
    pm.add_hookspecs(hookspecs.BrokerHookSpecs)
    names = blocked_names(blocked, environ)
    from .safety.checks import REQUIRED_CHECKS

    core_blocked = sorted(names & (set(CORE_PLUGINS) | set(REQUIRED_CHECKS)))
    if core_blocked:
        raise PluginLoadError(
            f"plugin(s) {', '.join(core_blocked)} belong to the core (the required risk checks "
            "and the default operations) and cannot be blocked; "
            f"remove them from {BLOCK_ENV} and 'blocked_plugins'"
        )
    for name in names:
        pm.set_blocked(name)
    info = pm.info
    version = _own_version()
    for name, module in {**CORE_PLUGINS, **DEFAULT_PLUGINS}.items():
        if pm.is_blocked(name):
            continue
        pm.register(importlib.import_module(module), name=name)
        info[name] = PluginInfo(name, module, "tradingagents-brokers", version, True)
    for name, check in REQUIRED_CHECKS.items():
        pm.register(check, name=name)
        info[name] = PluginInfo(
            name,
            f"{check.__module__}.{type(check).__name__}",
            "tradingagents-brokers",
            version,
            True,
        )
    if load_entrypoints:
        for ep in _entry_points():
            if pm.is_blocked(ep.name):
                continue
            if pm.has_plugin(ep.name):
                raise PluginLoadError(
                    f"two plugins are named {ep.name!r}: {_dist_label(ep)} and "
                    f"{info[ep.name].distribution}; uninstall one of them",
                    details={"plugin": ep.name},
                )
            info[ep.name] = _load(pm, ep)
    pm.check_pending()
    return pm


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _dist_label(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _load(pm: pluggy.PluginManager, ep: EntryPoint) -> PluginInfo:
    try:
        plugin = ep.load()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin {ep.name!r} from {_dist_label(ep)} failed to import "
            f"({type(exc).__name__}: {exc}); reinstall or upgrade it, or block it with "
            f"{BLOCK_ENV}={ep.name}",
            details={"plugin": ep.name, "entry_point": ep.value},
        ) from exc
    try:
        pm.register(plugin, name=ep.name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginLoadError(
            f"plugin {ep.name!r} from {_dist_label(ep)} could not be registered: {exc}",
            details={"plugin": ep.name},
        ) from exc
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        module=ep.value,
        distribution=dist.name if dist is not None else "?",
        version=dist.version if dist is not None else "?",
        builtin=False,
    )


def _own_version() -> str:
    from . import __version__

    return __version__
