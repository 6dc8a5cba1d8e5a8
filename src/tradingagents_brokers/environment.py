"""The environment variables the package reads: one prefix, ``TRADINGAGENTS_BROKERS_``.

Under the prefix there are two kinds of name. A configuration key in capitals
(``TRADINGAGENTS_BROKERS_TRADING_BROKER=sim``) sets that key; a few names are settings
of their own: :data:`CONFIG_ENV`, :data:`HOME_ENV`, :data:`BLOCK_ENV`, :data:`HOST_ENV`
and :data:`MCP_TOKEN_ENV`. Any other name under the prefix is a mistake and an error
that names the closest right spelling, never a variable quietly ignored.

The old prefix of the keys, ``TRADINGAGENTS_BROKER_`` (no S), is an error too, naming
the new spelling. It is not read with a warning: a warning from a library inside an
agent process is easily lost, no release ever shipped the old spelling, and a value
that two spellings could set would need a rule for which one wins.

Credentials are not read here: each broker plugin reads its own variables.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._text import inert
from .errors import BrokerConfigurationError

__all__ = [
    "BLOCK_ENV",
    "CONFIG_ENV",
    "HOME_ENV",
    "HOST_ENV",
    "MCP_TOKEN_ENV",
    "OLD_PREFIX",
    "PREFIX",
    "SETTINGS",
    "config_file",
    "default_config_path",
    "key_values",
    "key_variables",
]

PREFIX = "TRADINGAGENTS_BROKERS_"
#: The keys' earlier prefix; a variable under it is refused with the new name.
OLD_PREFIX = "TRADINGAGENTS_BROKER_"

CONFIG_ENV = PREFIX + "CONFIG"
HOME_ENV = PREFIX + "HOME"
BLOCK_ENV = PREFIX + "BLOCK"
HOST_ENV = PREFIX + "HOST"
MCP_TOKEN_ENV = PREFIX + "MCP_TOKEN"

#: The variables under the prefix that are not configuration keys, and what each does.
SETTINGS: dict[str, str] = {
    CONFIG_ENV: "the TOML configuration file to read",
    HOME_ENV: "the state directory when state_dir is unset",
    BLOCK_ENV: "plugin names not to load, comma-separated",
    HOST_ENV: "the host name this process registers under",
    MCP_TOKEN_ENV: "the MCP server's bearer token over HTTP",
}

#: Names longer than this are cut in messages (the environment is not ours to trust).
_SHOWN = 80


def _shown(name: str) -> str:
    text = name if len(name) <= _SHOWN else name[:_SHOWN] + "..."
    return inert(text).replace("\n", "\\n")


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest ``name``, both compared without the shared prefix."""
    tails = {c[len(PREFIX) :]: c for c in candidates}
    found = difflib.get_close_matches(name[len(PREFIX) :], sorted(tails), n=1, cutoff=0.6)
    return tails[found[0]] if found else None


def key_variables(environ: Mapping[str, str], keys: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The configuration keys ``environ`` sets: ``{key: (variable, text)}``.

    Raises :class:`~tradingagents_brokers.errors.BrokerConfigurationError` for a
    variable under the prefix that is neither a key of ``keys`` nor one of
    :data:`SETTINGS`, and for any variable under :data:`OLD_PREFIX`; the message
    names the variable to use instead.
    """
    known = {PREFIX + key.upper(): key for key in keys}
    right = [*known, *SETTINGS]
    found: dict[str, tuple[str, str]] = {}
    for var in sorted(environ):
        if var.startswith(PREFIX):
            if var in SETTINGS:
                continue
            if var in known:
                found[known[var]] = (var, environ[var])
                continue
            guess = _closest(var, right)
            hint = f"did you mean {guess}? " if guess else ""
            raise BrokerConfigurationError(
                f"unknown environment variable {_shown(var)}; {hint}"
                f"the names under {PREFIX} are configuration keys in capitals "
                f"(see docs/configuration.md) and {', '.join(sorted(SETTINGS))}; "
                "rename or unset it",
                details={"variable": _shown(var), "did_you_mean": guess},
            )
        if var.startswith(OLD_PREFIX):
            new = PREFIX + var[len(OLD_PREFIX) :]
            guess = new if new in known or new in SETTINGS else _closest(new, right)
            hint = f"rename it {guess}" if guess else f"use a name under {PREFIX}"
            raise BrokerConfigurationError(
                f"{_shown(var)} uses the old prefix {OLD_PREFIX}, which is no longer read; "
                f"{hint} (every variable of the package starts with {PREFIX})",
                details={"variable": _shown(var), "did_you_mean": guess},
            )
    return found


def key_values(
    environ: Mapping[str, str], keys: Iterable[str], json_keys: Iterable[str] = ()
) -> dict[str, object]:
    """The raw values ``environ`` gives configuration keys; ``json_keys`` are parsed as JSON.

    Validating them is the configuration's job; a JSON key that does not parse is a
    :class:`~tradingagents_brokers.errors.BrokerConfigurationError` naming the variable.
    """
    parsed = frozenset(json_keys)
    values: dict[str, object] = {}
    for key, (var, text) in key_variables(environ, keys).items():
        if key not in parsed:
            values[key] = text
            continue
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            raise BrokerConfigurationError(
                f'{var} must hold a JSON object, e.g. \'{{"place_order": "sim"}}\'',
                details={"key": key},
            ) from None
    return values


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``tradingagents-brokers init`` writes the configuration file.

    ``$TRADINGAGENTS_BROKERS_HOME/config.toml`` when that is set, else
    ``$XDG_CONFIG_HOME/tradingagents-brokers/config.toml``, else
    ``~/.config/tradingagents-brokers/config.toml``.
    """
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]) / "config.toml"
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "tradingagents-brokers" / "config.toml"


def config_file(environ: Mapping[str, str] | None = None) -> str | None:
    """The configuration file read when none is given in code or by ``--config``.

    The file :data:`CONFIG_ENV` names (which must exist), else the file at
    :func:`default_config_path` if there is one, else None.
    """
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return env[CONFIG_ENV]
    default = default_config_path(env)
    return str(default) if default.is_file() else None
