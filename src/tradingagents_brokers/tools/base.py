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
  arguments included.

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
from ..errors import (
    BrokerAuthenticationError,
    BrokerConfigurationError,
    BrokerError,
    BrokerRateLimitError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
)
from ..safety.state import NotPermittedError
from .approval import ApprovalPending

__all__ = ["BrokerTool", "ToolAnswer", "ToolCallInfo", "ToolResult", "explain"]

log = logging.getLogger("tradingagents.broker.tools")

#: What an operation returns: the text for the model and the result for code. The
#: tool turns the result into JSON-safe data (the contract dicts of DESIGN §4), so a
#: ToolMessage survives any LangGraph checkpointer and any transport.
ToolResult = tuple[str, Any]

_call_id: ContextVar[str | None] = ContextVar("tradingagents_brokers_tool_call", default=None)


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


def explain(exc: BrokerError) -> str:
    """The text a model reads for ``exc``: what happened, whether anything was sent, what next."""
    head = f"Error [{exc.code}]: {exc.message}"
    if isinstance(exc, OrderRejectedError) and exc.reasons:
        reasons = "; ".join(f"[{r.code}] {r.message}" for r in exc.reasons)
        lead = (
            f"Error [{exc.code}]: the order was refused and nothing was sent. Reasons: {reasons}."
        )
        if set(exc.reason_codes) == {"CONFIRMATION_DENIED"}:
            return (
                f"{lead} A person did not approve it: do not send it again unasked; tell the "
                "user what you wanted to do and why."
            )
        return (
            f"{lead} Change the order so that every reason is resolved (for example a smaller "
            "quantity or a price nearer the market), or do not trade. Resending the same order "
            "gets the same answer."
        )
    if isinstance(exc, OrderBlockedError):
        return f"{head}. Nothing was sent. An agent cannot enable trading; tell the user."
    if isinstance(exc, OrderOutcomeUnknownError):
        coid = exc.details.get("client_order_id", "")
        return (
            f"{head}. The order MAY have been placed. Do NOT place it again: call "
            f"check_order_status with client_order_id={coid!s} to learn its state."
        )
    if isinstance(exc, InsufficientFundsError):
        return f"{head}. Nothing was sent. Check get_buying_power and use a smaller amount."
    if isinstance(exc, InvalidOrderError):
        return f"{head}. Nothing was sent. Fix the arguments and call again."
    if isinstance(exc, NotFoundError):
        return f"{head}. Check the id or symbol with get_orders or get_current_positions."
    if isinstance(exc, BrokerRateLimitError):
        wait = exc.retry_after if exc.retry_after is not None else 60
        return f"{head}. The broker is limiting requests: wait {wait:g} seconds, then retry."
    if isinstance(exc, NotPermittedError):
        return f"{head}. Only a person can do this; tell the user."
    if isinstance(exc, BrokerAuthenticationError | BrokerConfigurationError):
        return (
            f"{head}. A person must fix the broker setup; stop trading and report this to the user."
        )
    if exc.outcome_known:
        return f"{head}. Retrying later may help; check state with the read-only tools first."
    return f"{head}. Check state with check_order_status before doing anything else."


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
        token = _call_id.set(kwargs.get("tool_call_id"))
        try:
            return super().run(tool_input, *args, **kwargs)
        finally:
            _call_id.reset(token)

    async def arun(self, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        token = _call_id.set(kwargs.get("tool_call_id"))
        try:
            return await super().arun(tool_input, *args, **kwargs)
        finally:
            _call_id.reset(token)

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
            return text, to_contract(artifact)
        except (GraphBubbleUp, ApprovalPending):
            raise  # a pause to ask a person, not a failure
        except BrokerError as exc:
            self._audit(call, arguments, _codes(exc), exc.message)
            raise ToolException(explain(exc)) from None
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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
            for err in exc.errors()
        )
        text = (
            f"Error [invalid_arguments]: {problems}. Nothing was done. Fix the arguments "
            "(see the tool's schema) and call again."
        )
        self._audit(call or self._info(), None, ["INVALID_ARGUMENTS"], problems)
        return text
