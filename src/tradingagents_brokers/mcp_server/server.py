"""The MCP server: the agent toolkit's gated tools, served to any MCP client.

:class:`BrokerMCPServer` wraps one :class:`~tradingagents_brokers.tools.BrokerToolkit`
(built with ``source="mcp"``) in the MCP SDK's low-level ``Server``. The tools, their
argument schemas and their answers are the toolkit's: the read-only tools,
``preview_order`` and ``halt_trading``, the order tools only with
``auto_execute_trades``, and of those only what the configuration's ``agent_tools``
lists (a call of a tool left out is refused and says why); nothing resumes
trading, changes a limit or the mode, or shows a credential.

Why the low-level server and not ``MCPServer``: the high-level server builds each
tool's schema from a Python signature and validates arguments itself, silently
dropping keys it does not know. Here the toolkit's own argument models validate
(unknown keys are refused and the refusal is journaled), and results carry both the
model's text and the structured result.

Every call runs in a worker thread (the gate and the broker block), with the
client's name and the request id in the order's provenance (``OrderContext``
``source="mcp"``, ``client``, ``request_id``).

Every call gets an answer: arguments of a shape no tool takes (too deep, too
large) are refused before anything walks them, a failure nobody expected is a
tool error, and on stdio a line the SDK cannot parse is mended or answered
(:mod:`.wire`). A text the model reads is inert and at most 4 KB, and so is the
structured result: a list that does not fit is cut, and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .. import __version__
from ..tools import BrokerTool, BrokerToolkit, ToolCallInfo
from ..tools.approval import ApprovalPending
from ..tools.base import ToolAnswer
from ..tools.guard import MAX_ANSWER_BYTES, clip, finish, shape_problem
from .confirm import Confirmer, Exchange, serving
from .wire import AnsweringReader

__all__ = ["INSTRUCTIONS", "BrokerMCPServer", "instructions"]

log = logging.getLogger("tradingagents.broker.mcp")

#: The sentences of the server's instructions that name one tool: said only when it is offered.
_ABOUT = {
    "get_quote": "get_quote shows the reference price the checks use.",
    "preview_order": "preview_order tests an order first.",
    "halt_trading": "halt_trading stops all new orders; only a person can resume.",
    "execute_trade": "Live orders may need the user's confirmation in a form.",
}


def instructions(tools: Collection[str]) -> str:
    """What the server tells a client about itself, naming only the ``tools`` it offers."""
    about = [text for name, text in _ABOUT.items() if name in tools]
    if "close_position" in tools and "execute_trade" not in tools:
        about.append(_ABOUT["execute_trade"])
    return " ".join(
        [
            "Trading tools for one brokerage account, behind a safety gate. Every order passes "
            "risk checks (order value, position size, buying power, allowed symbols, price "
            "collar, rate and duplicate limits) and is journaled; a refused order says why and "
            "nothing is sent.",
            *about,
        ]
    )


#: The instructions of a server that offers every tool.
INSTRUCTIONS = instructions(_ABOUT)


class BrokerMCPServer:
    """One broker's gated tools as an MCP server. Close it when done (or use ``with``).

    Build it with :meth:`from_config`; serve it with :meth:`run_stdio`, or
    :func:`~tradingagents_brokers.mcp_server.http.run_http`, or hand
    :attr:`server` to any transport of the MCP SDK.
    """

    def __init__(self, toolkit: BrokerToolkit, confirmer: Confirmer | None = None) -> None:
        if toolkit.source != "mcp":
            raise ValueError(
                "build the toolkit with source='mcp' so its orders say where they came from"
            )
        self.toolkit = toolkit
        self.confirmer = confirmer
        self._tools: dict[str, BaseTool] = {tool.name: tool for tool in toolkit.get_tools()}
        self._listing = [_describe(tool) for tool in self._tools.values()]
        self.server: Server[Any] = Server(
            "tradingagents-brokers",
            version=__version__,
            instructions=instructions(self._tools),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        broker: str | None = None,
        confirm_paper_orders: bool = False,
        confirm_timeout: float = 300.0,
    ) -> BrokerMCPServer:
        """A server for broker ``broker`` (default ``trading_broker``) under ``config``.

        Orders that need a confirmation are asked about in the client's form
        (see :mod:`~tradingagents_brokers.mcp_server.confirm`); ``confirm_paper_orders``
        asks for paper orders too; an unanswered question refuses after
        ``confirm_timeout`` seconds.
        """
        confirmer = Confirmer(timeout=confirm_timeout)
        toolkit = BrokerToolkit.from_config(
            config,
            broker=broker,
            approval=confirmer,
            confirm_paper_orders=confirm_paper_orders,
            source="mcp",
        )
        return cls(toolkit, confirmer)

    @property
    def tool_names(self) -> list[str]:
        return list(self._tools)

    def close(self) -> None:
        self.toolkit.close()

    def __enter__(self) -> BrokerMCPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_stdio(self) -> None:
        """Serve one client on stdin/stdout until it disconnects."""
        from mcp.server.stdio import stdio_server

        async def serve() -> None:
            async with stdio_server() as (read, write):
                await self.server.run(
                    AnsweringReader(read, write),
                    write,
                    self.server.create_initialization_options(),
                )

        anyio.run(serve)

    # -- the handlers ----------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self._listing)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        tool = self._tools.get(params.name)
        if tool is None:
            return _result(self._not_offered(params.name))
        exchange = _exchange(ctx, params)
        call = ToolCallInfo(params.name, None, exchange.client, str(ctx.request_id))
        with serving(exchange):
            try:
                answer = await anyio.to_thread.run_sync(_serve, tool, exchange.arguments, call)
            except ApprovalPending as pending:
                result: types.InputRequiredResult = pending.ticket
                return result
            except Exception as exc:  # the client gets an answer, always
                log.exception("MCP tool %s failed", params.name)
                answer = ToolAnswer(
                    f"Error [unexpected_error]: the tool failed ({type(exc).__name__}). The "
                    "operation may not have completed; check state with the read-only tools "
                    "before doing anything else.",
                    error=True,
                )
        return _result(answer)

    def _not_offered(self, name: str) -> ToolAnswer:
        """The answer to a call of a tool this server does not offer: why, and what it has."""
        why = self.toolkit.withheld.get(name)
        if why is None:
            return ToolAnswer(
                f"Error [unknown_tool]: there is no tool named {clip(name)}. The tools are: "
                f"{', '.join(self._tools)}.",
                error=True,
            )
        return ToolAnswer(
            f"Error [tool_not_offered]: the tool {name} is not offered on this server ({why}). "
            "Nothing was done. Do not call it again; only a person can change which tools you "
            f"have (the configuration). The tools you have are: {', '.join(self._tools)}.",
            error=True,
        )


def _serve(tool: BaseTool, arguments: Mapping[str, Any], call: ToolCallInfo) -> ToolAnswer:
    """One call, in a worker thread: a toolkit tool answers itself, a plugin's through LangChain."""
    if isinstance(tool, BrokerTool):
        return tool.answer(arguments, call)
    problem = shape_problem(arguments)
    if problem is not None:
        return ToolAnswer(f"Error [invalid_arguments]: {problem}. Nothing was done.", error=True)
    message = tool.invoke(
        {"type": "tool_call", "id": f"mcp-{call.request_id}", "name": tool.name, "args": arguments}
    )
    content = message.content if isinstance(message.content, str) else str(message.content)
    return ToolAnswer(content, getattr(message, "artifact", None), message.status == "error")


def _exchange(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Exchange:
    session = ctx.session
    info = session.client_params.client_info if session.client_params else None
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities else None
    # An elicitation capability with neither mode listed means form (the spec's default).
    can_ask = elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    handshake = ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
    return Exchange(
        tool=params.name,
        arguments=params.arguments or {},
        client=(info.name if info and info.name else "an unnamed MCP client"),
        can_ask=can_ask,
        session=session if handshake and session.can_send_request else None,
        request_id=ctx.request_id,
        responses=params.input_responses,
        ticket=params.request_state,
    )


def _result(answer: ToolAnswer) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=finish(answer.text))],
        structured_content=_structured(answer.result),
        is_error=answer.error,
    )


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")).encode())


def _structured(result: Any) -> dict[str, Any] | None:
    """``{"result": ...}`` within :data:`MAX_ANSWER_BYTES`: a long list is cut, and says so."""
    if result is None:
        return None
    whole = {"result": result}
    if _size(whole) <= MAX_ANSWER_BYTES:
        return whole
    if isinstance(result, list):
        kept: list[Any] = []
        for item in result:
            cut = {"result": [*kept, item], "truncated": True, "total": len(result)}
            if _size(cut) > MAX_ANSWER_BYTES:
                break
            kept.append(item)
        return {"result": kept, "truncated": True, "total": len(result)}
    return {"result": None, "truncated": True, "note": "too large to show; see the text"}


def _describe(tool: BaseTool) -> types.Tool:
    """The MCP listing of one tool: the argument schema and what it does to the account."""
    if isinstance(tool, BrokerTool):
        schema = tool.args_schema.model_json_schema()
    else:
        schema = convert_to_openai_tool(tool)["function"].get("parameters") or {}
    schema.setdefault("type", "object")
    schema.pop("title", None)
    flags = tool.metadata or {}
    read_only = flags.get("read_only") is True
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=schema,
        annotations=types.ToolAnnotations(
            title=tool.name.replace("_", " ").capitalize(),
            read_only_hint=read_only,
            destructive_hint=bool(flags.get("destructive")),
            idempotent_hint=bool(flags.get("idempotent", read_only)),
            open_world_hint=True,
        ),
    )
