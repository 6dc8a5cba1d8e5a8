from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tradingagents_brokers.tools import BrokerToolkit


def sim_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A sim broker with fixed prices in ``tmp_path``; writing tools on unless overridden."""
    return {
        "trading_broker": "sim",
        "state_dir": str(tmp_path / "state"),
        "auto_execute_trades": True,
        "broker_options": {"sim": {"prices": {"AAPL": "100", "MSFT": "200", "SPY": "500"}}},
        # These suites refuse agents on purpose, many times a minute; the watch on that
        # (REDUCING, then slowed) has tests of its own.
        "max_agent_refusals_per_minute": "off",
        **overrides,
    }


def import_error_without(missing: str, module: str) -> str:
    """What importing ``module`` says in a fresh interpreter where ``missing`` is not installed."""
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def by_name(toolkit: BrokerToolkit) -> dict[str, Any]:
    return {tool.name: tool for tool in toolkit.get_tools()}


def call(tool: Any, args: dict[str, Any] | None = None, *, id: str = "call-1") -> Any:
    """Invoke ``tool`` the way a ToolNode does: with a tool call, returning the ToolMessage."""
    return tool.invoke({"type": "tool_call", "id": id, "name": tool.name, "args": args or {}})


@pytest.fixture
def make_toolkit(tmp_path: Path) -> Iterator[Callable[..., BrokerToolkit]]:
    made: list[BrokerToolkit] = []

    def make(*, options: dict[str, Any] | None = None, **config: Any) -> BrokerToolkit:
        toolkit = BrokerToolkit.from_config(
            sim_settings(tmp_path, **config), agent_id="agent-7", run_id="run-1", **(options or {})
        )
        made.append(toolkit)
        return toolkit

    yield make
    for toolkit in made:
        toolkit.close()


@pytest.fixture
def toolkit(make_toolkit: Callable[..., BrokerToolkit]) -> BrokerToolkit:
    """A writable toolkit (auto_execute_trades) on a paper sim broker."""
    return make_toolkit()


@pytest.fixture
def tools(toolkit: BrokerToolkit) -> dict[str, Any]:
    return by_name(toolkit)


# -- hostile calls ---------------------------------------------------------------------------

#: No answer a model reads may be longer than this (UTF-8 bytes).
MAX_ANSWER = 4096


def nested(depth: int, leaf: Any = "AAPL", *, kind: str = "list") -> Any:
    """``leaf`` inside ``depth`` lists (or one-key dicts): already-parsed arguments, as a
    LangGraph graph can hand them to a tool."""
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def tool_node(tools: list[Any]) -> Any:
    """A compiled graph that runs the tool calls of one AI message through a ``ToolNode``."""
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


def play(app: Any, calls: list[tuple[str, dict[str, Any], str]]) -> list[Any]:
    """The ToolMessages answering one AI message with ``calls`` (name, args, id)."""
    from langchain_core.messages import AIMessage

    message = AIMessage(
        content="",
        tool_calls=[{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in calls],
    )
    return list(app.invoke({"messages": [message]})["messages"][1:])


def size(text: str) -> int:
    return len(text.encode("utf-8"))
