"""A scripted chat model for testing agents offline (needs the ``langchain`` extra).

:class:`ScriptedChatModel` plays a list of steps instead of calling a provider: each
step is an ``AIMessage`` (usually tool calls made with :func:`tool_call`) or a
function of the messages the model was shown, so a script can read a tool's
answer and react to it - the way a real model reads a risk veto and corrects its
order. Every prompt it was shown is kept in ``seen``.

>>> model = ScriptedChatModel(script=[say("hello")])
>>> model.invoke("hi").content
'hello'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel", "Step", "say", "tool_call"]

Step = AIMessage | Callable[[list[BaseMessage]], AIMessage]

_ids = itertools.count(1)


def tool_call(name: str, args: dict[str, Any] | None = None, *, id: str | None = None) -> AIMessage:
    """An ``AIMessage`` that calls tool ``name`` with ``args`` (a fresh id unless given)."""
    call_id = id or f"call_{next(_ids)}"
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": dict(args or {}), "id": call_id}]
    )


def say(text: str) -> AIMessage:
    """An ``AIMessage`` with text and no tool call (ends an agent loop)."""
    return AIMessage(content=text)


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from ``script``; see the module docstring."""

    script: list[Any]  # Step items (pydantic cannot validate a callable in a union)
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    _position: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Tools are in the script already; binding changes nothing."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._position >= len(self.script):
            raise AssertionError(
                f"the script has {len(self.script)} steps and the agent asked for another"
            )
        step = self.script[self._position]
        self._position += 1
        self.seen.append(list(messages))
        message = step(list(messages)) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=message)])

    @property
    def remaining(self) -> int:
        """Steps not played yet."""
        return len(self.script) - self._position
