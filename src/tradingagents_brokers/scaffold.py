"""``tradingagents-brokers new-plugin NAME``: write a broker plugin package to start from.

The package installs, is discovered through its entry point, and passes the
offline level of the conformance kit as written. Its broker methods raise
``NotSupportedError`` naming what to connect (the kit refuses any exception that
is not one of the core's); the trading level of the kit tells you when they work.
"""

from __future__ import annotations

import keyword
from pathlib import Path
from string import Template

from .broker import Broker
from .errors import BrokerConfigurationError

__all__ = ["write_plugin"]

PYPROJECT = Template("""\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "tradingagents-brokers-$name"
version = "0.1.0"
description = "The $name broker for tradingagents-brokers."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["tradingagents-brokers>=$core_version"]

[project.optional-dependencies]
test = ["tradingagents-brokers[testing]>=$core_version", "pytest>=8"]

[project.entry-points.tradingagents_brokers]
$name = "tradingagents_brokers_$name.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/tradingagents_brokers_$name"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["-p", "tradingagents_brokers.testing.canary"]
canary_credential_variables = ["${upper}_PAPER_API_KEY", "${upper}_PAPER_SECRET_KEY"]
""")

README = Template("""\
# tradingagents-brokers-$name

The `$name` broker for tradingagents-brokers, written from the scaffold.

```bash
pip install -e ".[test]"
tradingagents-brokers plugins        # lists $name
pytest                               # the conformance kit
```

Next steps:

1. Implement each method of `src/tradingagents_brokers_$name/broker.py` against
   your broker's API. Convert its exceptions to the core's error classes at the
   boundary (`raise ... from None`), and its numbers to `Decimal`.
2. Read credentials from `${upper}_PAPER_API_KEY` / `${upper}_PAPER_SECRET_KEY`
   (and `${upper}_LIVE_*` for live) in the factory, never from configuration.
3. Switch `tests/test_conformance.py` to `BrokerTradingTests` and point it at a
   paper account or a local test server.
""")

PLUGIN = Template('''\
"""The $name broker type. Keep this module cheap: import your SDK in build()."""

from __future__ import annotations

from tradingagents_brokers import (
    BrokerCapabilities,
    BrokerConfigurationError,
    BrokerSettings,
    BrokerType,
    hookimpl,
)

KNOWN_OPTIONS = frozenset({"base_url"})


def build(settings: BrokerSettings):
    unknown = sorted(set(settings.options) - KNOWN_OPTIONS)
    if unknown:
        raise BrokerConfigurationError(
            f"unknown broker_options.$name key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_OPTIONS))}"
        )
    from .broker import ${cls}Broker

    return ${cls}Broker(settings)


@hookimpl
def register_brokers():
    return [
        BrokerType(
            name="$name",
            factory=build,
            description="The $name broker",
            capabilities=BrokerCapabilities(order_types={"market", "limit"}),
            credential_env={
                "paper": ("${upper}_PAPER_API_KEY", "${upper}_PAPER_SECRET_KEY"),
                "live": ("${upper}_LIVE_API_KEY", "${upper}_LIVE_SECRET_KEY"),
            },
        )
    ]
''')

BROKER = Template('''\
"""The $name broker: one method per operation of the core's Broker protocol."""

from __future__ import annotations

from tradingagents_brokers import BrokerSettings, NotSupportedError
from tradingagents_brokers.models import BrokerCapabilities

from .plugin import register_brokers


class ${cls}Broker:
    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings

    @property
    def capabilities(self) -> BrokerCapabilities:
        return register_brokers()[0].capabilities

    def close(self) -> None:
        return None
$methods''')

METHOD = Template("""
    def $name($params):
        raise NotSupportedError("$name: not connected to the broker's API yet")
""")

TEST = Template('''\
"""The conformance kit: the offline level passes as scaffolded."""

from tradingagents_brokers.testing.kit import BrokerConformanceTests


class Test${cls}Conformance(BrokerConformanceTests):
    broker_name = "$name"
    distribution = "tradingagents-brokers-$name"
''')

_PARAMS = {
    "place_order": "self, request",
    "cancel_order": "self, order_id",
    "replace_order": "self, order_id, changes",
    "get_order": "self, order_id",
    "get_order_by_client_id": "self, client_order_id",
    "get_orders": 'self, status="open", limit=None, symbols=None',
    "get_positions": "self",
    "get_position": "self, symbol",
    "close_position": "self, symbol, qty=None, percentage=None",
    "close_all_positions": "self, cancel_orders=False",
    "get_account": "self",
    "get_portfolio_history": "self, period=None, timeframe=None",
    "get_clock": "self",
    "get_asset": "self, symbol",
    "get_quote": "self, symbol",
}


def _check_name(name: str) -> str:
    if not (name.isidentifier() and name.islower() and not keyword.iskeyword(name)):
        raise BrokerConfigurationError(
            f"plugin name {name!r} must be a lower-case Python identifier, like 'mybroker'"
        )
    return name


def write_plugin(name: str, path: Path, core_version: str) -> Path:
    """Write the package ``tradingagents-brokers-NAME`` under ``path``; returns its directory."""
    _check_name(name)
    protocol = {m for m in dir(Broker) if not m.startswith("_")} - {"capabilities", "close"}
    assert protocol == set(_PARAMS), "the scaffold must cover every Broker method"
    root = path / f"tradingagents-brokers-{name}"
    if root.exists():
        raise BrokerConfigurationError(f"{root} already exists; choose another --path")
    values = {
        "name": name,
        "upper": name.upper(),
        "cls": "".join(part.title() for part in name.split("_")),
        "core_version": core_version,
        "methods": "".join(METHOD.substitute(name=m, params=p) for m, p in _PARAMS.items()),
    }
    package = root / "src" / f"tradingagents_brokers_{name}"
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        package / "__init__.py": Template(
            '"""The $name broker plugin for tradingagents-brokers."""\n'
        ),
        package / "plugin.py": PLUGIN,
        package / "broker.py": BROKER,
        root / "tests" / "test_conformance.py": TEST,
    }
    for file, template in files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(template.substitute(values))
    return root
