"""The tool class every broker tool is an instance of, and the errors a model reads.

:class:`BrokerTool` is a ``langchain_core`` ``BaseTool`` bound to one operation of
a toolkit. It adds three things to LangChain's tool:

* the tool call id: ``BaseTool`` hands it to ``run``/``arun`` but not to the
  function, so :class:`BrokerTool` keeps it in a context variable for the call;
  the operation puts it in the order's provenance (``OrderContext.tool_call_id``);
* errors as answers: every :class:`~tradingagents_brokers.errors.BrokerError`
  becomes a ``ToolException`` whose text says what happened and what to do next
  (:func:`explain`), and ``handle_tool_error`` turns it into an error
  ``ToolMessage`` so the graph continues;
* an audit of refusals: a failing call of a tool that acts on orders is
  journaled (``tool_refused``) with its reason codes and the tool call id, bad
  arguments included;
* arguments checked before anything looks at them: a shape no schema allows
  (nested too deep, too many values, too much text: :mod:`.guard`) and unknown
  keys (LangChain skips validation for a tool without arguments) are refused
  with an error message, never an exception that stops the graph; every text a
  model reads is inert and at most 4 KB.

Callers outside LangChain (the MCP server) use :meth:`BrokerTool.answer`: the
same validation, operation, error texts and audit, returned as a
:class:`ToolAnswer` instead of a ``ToolMessage``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import attrs
from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from langgraph.errors import GraphBubbleUp  # an interrupt travels as one: let it through
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.v1 import ValidationError as ValidationErrorV1

from .._serialize import to_contract
from ..errors import BrokerError, OrderRejectedError
from .advice import explain
from .approval import ApprovalPending
from .guard import clip, finish, shape_problem

__all__ = ["BrokerTool", "ToolAnswer", "ToolCallInfo", "ToolResult", "explain"]

log = logging.getLogger("tradingagents.broker.tools")

#: What an operation returns: the text for the model and the result for code. The
#: tool turns the result into JSON-safe data (the contract dicts of DESIGN §4), so a
#: ToolMessage survives any LangGraph checkpointer and any transport.
ToolResult = tuple[str, Any]

_call_id: ContextVar[str | None] = ContextVar("tradingagents_brokers_tool_call", default=None)
#: Why the arguments of the call being served cannot be looked at (see ``BrokerTool.run``).
_malformed: ContextVar[str | None] = ContextVar("tradingagents_brokers_malformed", default=None)
#: At most this many argument problems are listed in one refusal.
MAX_PROBLEMS = 5


@attrs.frozen
class ToolCallInfo:
    """The call being served: the tool's name and the model's tool call id (if any).

    A call relayed by another program (an MCP client) names it in ``client`` and
    carries that program's ``request_id``.
    """

    tool: str
    tool_call_id: str | None
    client: str | None = None
    request_id: str | None = None


@attrs.frozen
class ToolAnswer:
    """What a call from outside LangChain returned: the model's text, the result, and if it failed.

    ``result`` is JSON-safe data (the contract dicts of DESIGN §4) and ``None`` on error.
    """

    text: str
    result: Any = None
    error: bool = False


def _codes(exc: BrokerError) -> list[str]:
    if isinstance(exc, OrderRejectedError) and exc.reasons:
        return list(exc.reason_codes)
    return [exc.code.upper()]


class BrokerTool(BaseTool):
    """One broker operation as a LangChain tool (built by :class:`BrokerToolkit`).

    ``operation`` receives the validated argument model and a :class:`ToolCallInfo`
    and returns ``(text, result)``; the tool message's artifact is the result as
    JSON-safe data (``to_dict()``). ``audit``, when set, is told about every
    refused call (the toolkit journals it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    args_schema: type[BaseModel]
    operation: Callable[[Any, ToolCallInfo], ToolResult] = Field(repr=False)
    audit: Callable[[ToolCallInfo, Any, list[str], str], None] | None = Field(
        default=None, repr=False
    )
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = True

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        # Bad arguments get an answer too, and an audit record when the tool acts on orders.
        self.handle_validation_error = self._refuse_arguments

    def __repr__(self) -> str:
        # pydantic's repr walks every field, and this one holds a method bound to the tool
        # itself (endless), besides operations bound to a broker: say only what a log needs.
        kind = "read-only" if self.metadata and self.metadata.get("read_only") else "acting"
        return f"<BrokerTool {self.name} ({kind})>"

    __str__ = __repr__

    def run(self, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        # LangChain prints the input for its callbacks before it validates anything: an
        # input too deep to print must not get that far (it is refused in _to_args_and_kwargs).
        problem = shape_problem(tool_input)
        tokens = (_call_id.set(kwargs.get("tool_call_id")), _malformed.set(problem))
        try:
            return super().run({} if problem else tool_input, *args, **kwargs)
        finally:
            _malformed.reset(tokens[1])
            _call_id.reset(tokens[0])

    async def arun(self, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        problem = shape_problem(tool_input)
        tokens = (_call_id.set(kwargs.get("tool_call_id")), _malformed.set(problem))
        try:
            return await super().arun({} if problem else tool_input, *args, **kwargs)
        finally:
            _malformed.reset(tokens[1])
            _call_id.reset(tokens[0])

    def _to_args_and_kwargs(
        self, tool_input: Any, tool_call_id: str | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Every call's arguments validated by the schema, unknown keys refused.

        LangChain does this too, but skips it for a tool without arguments (which then
        took any key), and hands a text input to ``_run`` positionally.
        """
        problem = _malformed.get()
        if problem is not None:
            raise ToolException(self._refuse(problem, self._info()))
        if isinstance(tool_input, str):
            fields = list(self.args_schema.model_fields)
            key = fields[0] if fields else "input"
            data: dict[str, Any] = {key: tool_input} if tool_input.strip() else {}
        elif isinstance(tool_input, Mapping):
            data = dict(tool_input)
        else:
            problem = f"the arguments must be an object, not {type(tool_input).__name__}"
            raise ToolException(self._refuse(problem, self._info()))
        self.args_schema.model_validate(data)  # a ValidationError becomes the refusal
        return (), data

    def _info(self) -> ToolCallInfo:
        return ToolCallInfo(self.name, _call_id.get())

    def _run(
        self, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> ToolResult:
        return self._operate(kwargs, self._info())

    def answer(self, arguments: Mapping[str, Any], call: ToolCallInfo) -> ToolAnswer:
        """Serve one call that did not come through LangChain (the MCP server's).

        The arguments are validated by the tool's schema (unknown keys refused) and
        a refusal is audited exactly as for a LangChain call. A pending approval
        (:class:`~tradingagents_brokers.tools.approval.ApprovalPending`) propagates.
        """
        problem = shape_problem(arguments)
        if problem is not None:
            return ToolAnswer(self._refuse(problem, call), error=True)
        try:
            self.args_schema.model_validate(dict(arguments))
        except ValidationError as exc:
            return ToolAnswer(self._refuse_arguments(exc, call), error=True)
        try:
            text, result = self._operate(arguments, call)
        except ToolException as exc:
            return ToolAnswer(str(exc), error=True)
        return ToolAnswer(text, result)

    def _operate(self, arguments: Mapping[str, Any], call: ToolCallInfo) -> ToolResult:
        try:
            text, artifact = self.operation(self.args_schema(**arguments), call)
            return finish(text), to_contract(artifact)
        except (GraphBubbleUp, ApprovalPending):
            raise  # a pause to ask a person, not a failure
        except BrokerError as exc:
            self._audit(call, arguments, _codes(exc), exc.message)
            raise ToolException(finish(explain(exc))) from None
        except Exception as exc:
            # A bug in a plugin or here: the model gets the class, never the message
            # (an SDK's message can carry request details); the log has the traceback.
            log.exception("tool %s failed", self.name)
            self._audit(call, arguments, ["UNEXPECTED_ERROR"], type(exc).__name__)
            raise ToolException(
                f"Error [unexpected_error]: the tool failed ({type(exc).__name__}). The "
                "operation may not have completed; check state with the read-only tools "
                "before doing anything else."
            ) from None

    def _audit(self, call: ToolCallInfo, args: Any, codes: list[str], message: str) -> None:
        if self.audit is not None:
            self.audit(call, args, codes, message)

    def _refuse_arguments(
        self, exc: ValidationError | ValidationErrorV1, call: ToolCallInfo | None = None
    ) -> str:
        errors = exc.errors()
        problems = [f"{_where(err['loc'])}: {err['msg']}" for err in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
        return self._refuse("; ".join(problems), call or self._info())

    def _refuse(self, problems: str, call: ToolCallInfo) -> str:
        """The answer to arguments that cannot be used (audited for the acting tools)."""
        self._audit(call, None, ["INVALID_ARGUMENTS"], problems)
        return finish(
            f"Error [invalid_arguments]: {problems}. Nothing was done. Fix the arguments "
            "(see the tool's schema) and call again."
        )


def _where(loc: tuple[Any, ...]) -> str:
    """An error's location: names and indexes as they are, anything else quoted and clipped."""
    return ".".join(_part(p) for p in loc) or "arguments"


def _part(part: Any) -> str:
    if isinstance(part, int):
        return str(part)
    if isinstance(part, str) and part.isascii() and part.isidentifier() and len(part) <= 40:
        return part
    return clip(part)
