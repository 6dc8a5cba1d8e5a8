"""``tradingagents-brokers init``: write a configuration file that makes the first hour work.

The origin design's default broker is ``alpaca``, a plugin that ``pip install .`` does
not install. ``init`` writes a small TOML file choosing ``sim`` (offline, nothing to
set up) or ``alpaca`` (paper trading; its plugin must be installed and its paper keys
set in the environment), at the place every command reads it from when no other file
is named (:func:`~tradingagents_brokers.environment.default_config_path`).

The file never holds a credential: keys stay in the environment, and ``init`` only
checks that their variables are set, never reading or printing their values.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .._install import plugin_line
from ..enums import TradingMode
from ..environment import CONFIG_ENV, default_config_path
from ..errors import BrokerConfigurationError
from ..host import PluginHost
from ..plugins import make_plugin_manager
from .render import Output

__all__ = ["CHOICES", "add_parser", "cmd_init", "config_text"]

CHOICES = ("sim", "alpaca")

_HEADER = """\
# tradingagents-brokers configuration, written by `tradingagents-brokers init`.
# Every key is described in docs/configuration.md. No credential belongs here:
# brokers read their keys from environment variables.
"""

_BODIES = {
    "sim": """\
# The simulated broker: an offline paper account kept under the state directory.
trading_broker = "sim"
broker_mode = "paper"
""",
    "alpaca": """\
# Alpaca's paper account; keys come from ALPACA_PAPER_API_KEY and ALPACA_PAPER_SECRET_KEY.
trading_broker = "alpaca"
broker_mode = "paper"
""",
}


def config_text(broker: str) -> str:
    """The file ``init`` writes for ``broker`` (one of :data:`CHOICES`)."""
    return _HEADER + _BODIES[broker]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``init`` on the CLI's subcommands; it reads no configuration first."""
    about = "write a configuration file choosing the sim or the alpaca broker"
    p: argparse.ArgumentParser = sub.add_parser("init", help=about, description=about)
    p.add_argument(
        "--broker",
        choices=CHOICES,
        help="sim (offline) or alpaca (paper; needs its plugin and keys); "
        "default: alpaca when its plugin and paper keys are there, else sim",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        help=f"where to write it (default: {default_config_path()})",
    )
    p.add_argument("--force", action="store_true", help="replace a file that is already there")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_init, wide=False)
    return p


def _alpaca_ready(host: PluginHost) -> list[str] | None:
    """Missing paper key variables of alpaca; None when its plugin is not installed."""
    if "alpaca" not in host.broker_types:
        return None
    return host.broker_types["alpaca"].missing_credentials(TradingMode.PAPER, os.environ)


def _choose(asked: str | None, host: PluginHost) -> tuple[str, str]:
    missing = _alpaca_ready(host)
    if asked is None:
        if missing == []:
            return "alpaca", "its plugin is installed and its paper keys are set"
        return "sim", "no alpaca plugin with paper keys set here; init --broker alpaca says why"
    if asked == "alpaca":
        if missing is None:
            raise BrokerConfigurationError(
                "the alpaca plugin is not installed; install it from a checkout of the source "
                f"tree: {plugin_line('alpaca')} (or run: tradingagents-brokers init --broker sim)",
                details={"broker": "alpaca", "install": plugin_line("alpaca")},
            )
        if missing:
            exports = " ".join(f"{name}=..." for name in missing)
            raise BrokerConfigurationError(
                f"Alpaca paper trading needs {', '.join(missing)} in the environment; "
                f"set them (export {exports}) and run init again; nothing was written",
                details={"broker": "alpaca", "missing": missing},
            )
        return "alpaca", "asked for; its plugin is installed and its paper keys are set"
    return "sim", "asked for"


def cmd_init(args: argparse.Namespace, _config: Any, out: Output) -> int:
    host = PluginHost(make_plugin_manager())
    broker, why = _choose(args.broker, host)
    path = Path(args.config) if args.config else default_config_path()
    if path.exists() and not args.force:
        raise BrokerConfigurationError(
            f"{path} already exists; edit it, or replace it with: "
            f"tradingagents-brokers init --broker {broker} --force",
            details={"path": str(path)},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(broker), encoding="utf-8")
    named = os.environ.get(CONFIG_ENV)
    result = {"config_file": str(path), "trading_broker": broker, "why": why}
    if out.as_json:
        out.data(result)
        return 0
    out.note(f"wrote {path}: trading_broker = {broker!r} ({why})")
    if args.config:
        out.note(f"commands read it with --config {path} or {CONFIG_ENV}={path}")
    elif named:
        out.note(f"{CONFIG_ENV} is set and names {named}: commands read that file, not this one")
    out.note("next: tradingagents-brokers account")
    return 0
