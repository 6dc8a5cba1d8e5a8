"""Every message gets an answer: JSON too deep to parse, and lines that are no message.

The MCP SDK parses each message with pydantic, which gives up on JSON nested
about 200 levels deep. On stdio the SDK then drops the line without an answer,
and the client waits for ever; over HTTP it answers with a parse error instead
of the tool's refusal. Here:

* :func:`cut_deep` replaces every part of a message nested deeper than
  :data:`CUT_DEPTH` with an empty ``[]``/``{}``. The message then parses, and the
  tool refuses the arguments for their depth (their shape is still too deep for
  the tools' limit, :data:`~tradingagents_brokers.tools.guard.MAX_DEPTH`), so the
  client gets a tool error like any other;
* :class:`AnsweringReader` (stdio) answers a line that still cannot be read: a
  JSON-RPC parse error (id null), or "invalid request" with the request's id
  when it has one (a notification without an id gets no answer, as JSON-RPC says);
* :class:`CuttingBody` (HTTP) cuts a request body that is too deep to parse.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

import anyio
import mcp_types as types
import pydantic_core
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import INVALID_REQUEST, PARSE_ERROR
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CUT_DEPTH", "AnsweringReader", "CuttingBody", "cut_deep"]

#: Parts of a message nested deeper than this (the message itself is level 1, a tool's
#: arguments level 3) are cut: far below the parser's limit, far above any tool's schema.
CUT_DEPTH = 48
#: JSON strings (escapes included) and brackets; strings are skipped whole.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def cut_deep(text: str, depth: int = CUT_DEPTH) -> str:
    """``text`` (JSON) with every container that opens at level ``depth`` emptied.

    Walks the text without recursion; text that is not balanced JSON comes back
    unchanged (it fails to parse anyway).
    """
    out: list[str] = []
    level = 0
    cut_at: int | None = None
    start = 0
    for match in _TOKENS.finditer(text):
        piece = match.group()
        if piece[0] == '"':
            continue
        if piece in "[{":
            level += 1
            if cut_at is None and level == depth:
                out.append(text[start : match.start()] + ("[]" if piece == "[" else "{}"))
                cut_at = level
        else:
            if cut_at is not None and level == cut_at:
                cut_at = None
                start = match.end()
            level -= 1
    if cut_at is not None or level != 0:
        return text
    out.append(text[start:])
    return "".join(out)


def _too_deep(error: ValidationError) -> str | None:
    """The line the SDK could not parse for its depth, if that was the problem."""
    for detail in error.errors():
        if detail["type"] == "json_invalid" and "recursion" in str(detail.get("ctx", {})):
            line = detail.get("input")
            return line if isinstance(line, str) else None
    return None


def _request_id(error: ValidationError) -> int | str | None:
    """The id of a request whose envelope was refused, when the error shows it."""
    for detail in error.errors():
        value = detail.get("input")
        if isinstance(value, dict) and "method" in value:
            ident = value.get("id")
            if isinstance(ident, str | int) and not isinstance(ident, bool):
                return ident
    return None


def _unparsed(error: ValidationError) -> bool:
    return any(detail["type"] == "json_invalid" for detail in error.errors())


class AnsweringReader:
    """The stdio transport's read stream, mending or answering what the SDK could not parse."""

    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self._write = write

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, ValidationError):
                return item  # type: ignore[no-any-return]
            line = _too_deep(item)
            if line is not None:
                try:
                    message = types.jsonrpc_message_adapter.validate_json(
                        cut_deep(line), by_name=False
                    )
                    return SessionMessage(message)
                except ValidationError as again:
                    item = again
            await self._answer(item)

    async def _answer(self, error: ValidationError) -> None:
        if _unparsed(error):
            data = types.ErrorData(code=PARSE_ERROR, message="Parse error: the line is not JSON")
            ident: int | str | None = None
        else:
            ident = _request_id(error)
            if ident is None:
                return  # no id to answer to (a notification, or no message at all)
            data = types.ErrorData(
                code=INVALID_REQUEST, message="Invalid request: not a JSON-RPC 2.0 request"
            )
        answer = types.JSONRPCError(jsonrpc="2.0", id=ident, error=data)
        await self._write.send(SessionMessage(answer))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> AnsweringReader:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    @property
    def last_context(self) -> Any:
        """The sender's context of the last message (the SDK's streams keep it)."""
        return getattr(self._inner, "last_context", None)

    async def __aenter__(self) -> AnsweringReader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


class CuttingBody:
    """ASGI middleware: a JSON request body too deep to parse is cut (see :func:`cut_deep`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            pydantic_core.from_json(body)
        except ValueError as exc:
            if "recursion" in str(exc):
                body = cut_deep(body.decode("utf-8", errors="replace")).encode()
        request: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([request], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then the client's next ones."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
