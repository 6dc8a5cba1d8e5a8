"""Write docs/hooks.md from the hook specifications, so the reference cannot drift.

Run ``python docs/gen_hooks.py`` after changing ``hookspecs.py``; a test fails
while the committed file differs from what this prints.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

from tradingagents_brokers import hookspecs

HEADER = """# Hook reference

Generated from `src/tradingagents_brokers/hookspecs.py` by `docs/gen_hooks.py`;
do not edit by hand.

Implement hooks with `from tradingagents_brokers import hookimpl`. An
implementation may take any subset of a hook's arguments. Hooks marked
*first result wins* stop at the first implementation that returns something
other than `None`; the others run every implementation.
"""


def hook_names() -> list[str]:
    """Every hook, in the order of the spec class."""
    spec = hookspecs.BrokerHookSpecs
    return [name for name in spec.__dict__ if not name.startswith("_")]


def render() -> str:
    spec = hookspecs.BrokerHookSpecs
    parts = [HEADER, textwrap.dedent(hookspecs.__doc__ or "").strip(), ""]
    for name in hook_names():
        function = getattr(spec, name)
        opts = getattr(function, "tradingagents_brokers_spec", {})
        signature = str(inspect.signature(function)).replace("(self, ", "(").replace("(self)", "()")
        signature = signature.replace("'", "")
        kind = "first result wins" if opts.get("firstresult") else "every implementation runs"
        doc = textwrap.dedent(function.__doc__ or "").strip()
        first, _, rest = doc.partition("\n")
        parts.append(f"## `{name}`\n")
        parts.append(f"```text\n{name}{signature}\n```\n")
        parts.append(f"*{kind}.* {first}\n{textwrap.dedent(rest)}".rstrip() + "\n")
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    target = Path(__file__).with_name("hooks.md")
    target.write_text(render())
    sys.stdout.write(f"wrote {target}\n")
