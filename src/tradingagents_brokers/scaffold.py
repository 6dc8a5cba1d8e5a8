"""``tradingagents-brokers new-plugin NAME``: write a broker plugin package to start from.

The package is a working REST broker against a fake of its API (``tests/
fake_server.py``): as written it installs, is discovered through its entry point,
and passes the conformance kit at both levels, including the lost-answer test on
the wire. Replace the fake's paths and fields with your broker's, and the kit
tells you what still holds. Operations it lacks raise ``NotSupportedError``.
"""

from __future__ import annotations

import keyword
from importlib import resources
from pathlib import Path
from string import Template

from .errors import BrokerConfigurationError

__all__ = ["INSTALL_AND_TEST", "builtin_broker_names", "next_step", "write_plugin"]

#: How to install a scaffolded plugin and run its tests, from its directory. The
#: interpreter's own pip and pytest, so pytest is the one ``[test]`` installed.
INSTALL_AND_TEST = 'python -m pip install -e ".[test]" && python -m pytest'

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
# The canary is planted in the variables plugin.py names in credential_env.
addopts = ["-p", "tradingagents_brokers.testing.canary"]
""")

README = Template("""\
# tradingagents-brokers-$name

The `$name` broker for tradingagents-brokers, written from the scaffold.

```bash
$install
tradingagents-brokers plugins        # lists $name
```

Next steps:

1. `src/tradingagents_brokers_$name/broker.py` speaks to the fake API in
   `tests/fake_server.py`. Change both to your broker's real paths and fields,
   keeping the error mapping (the broker contract in the core's docs says what to
   raise when). Money is `Decimal`.
2. Credentials come from `${upper}_PAPER_API_KEY` / `${upper}_PAPER_SECRET_KEY`
   (and `${upper}_LIVE_*` for live), declared in `plugin.py` and read on the first
   request, never in the factory and never from configuration.
3. Keep `tests/test_conformance.py` green. A kit test your broker cannot pass is
   overridden with `@pytest.mark.xfail(reason=...)`.
""")

FILES = {
    "plugin.py.tmpl": "src/tradingagents_brokers_$name/plugin.py",
    "broker.py.tmpl": "src/tradingagents_brokers_$name/broker.py",
    "fake_server.py.tmpl": "tests/fake_server.py",
    "conftest.py.tmpl": "tests/conftest.py",
    "test_conformance.py.tmpl": "tests/test_conformance.py",
}


def builtin_broker_names() -> frozenset[str]:
    """Names of the broker types the core itself registers (``sim``)."""
    from .host import PluginHost
    from .plugins import make_plugin_manager

    return frozenset(PluginHost(make_plugin_manager(load_entrypoints=False)).broker_types)


def _check_name(name: str) -> str:
    if not (name.isidentifier() and name.islower() and not keyword.iskeyword(name)):
        raise BrokerConfigurationError(
            f"plugin name {name!r} must be a lower-case Python identifier, like 'mybroker'"
        )
    if name in builtin_broker_names():
        raise BrokerConfigurationError(
            f"{name!r} is a broker built into tradingagents-brokers; choose another name, "
            "like 'mybroker'"
        )
    return name


def next_step(root: Path) -> str:
    """The one line that installs the written plugin and runs its tests."""
    return f"next: cd '{root}' && {INSTALL_AND_TEST}"


def write_plugin(name: str, path: Path, core_version: str) -> Path:
    """Write the package ``tradingagents-brokers-NAME`` under ``path``; returns its directory."""
    _check_name(name)
    root = path / f"tradingagents-brokers-{name}"
    if root.exists():
        raise BrokerConfigurationError(f"{root} already exists; choose another --path")
    values = {
        "name": name,
        "upper": name.upper(),
        "cls": "".join(part.title() for part in name.split("_")),
        "core_version": core_version,
        "install": INSTALL_AND_TEST,
    }
    texts = {
        "pyproject.toml": PYPROJECT.substitute(values),
        "README.md": README.substitute(values),
        f"src/tradingagents_brokers_{name}/__init__.py": (
            f'"""The {name} broker plugin for tradingagents-brokers."""\n'
        ),
        "tests/__init__.py": "",
    }
    folder = resources.files(__package__) / "scaffold_files"
    for template, target in FILES.items():
        text = folder.joinpath(template).read_text(encoding="utf-8")
        texts[Template(target).substitute(values)] = Template(text).substitute(values)
    for relative, text in texts.items():
        file = root / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return root
