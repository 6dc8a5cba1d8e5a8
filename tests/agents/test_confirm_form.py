"""The MCP confirmation form shows what came from outside inert: a client's name with
terminal escapes, markup, line breaks or great length reaches the person as plain,
short, one-line text, in both protocol eras."""

from __future__ import annotations

import re

import mcp_types as types
import pytest
from mcp import Client

from tradingagents_brokers.mcp_server import BrokerMCPServer
from tradingagents_brokers.mcp_server.confirm import MAX_SHOWN, shown

from .conftest import sim_settings

BUY = {"symbol": "AAPL", "action": "buy", "quantity": 3}
#: A client name written to fool the person: clear the screen, set the window title,
#: fake an approval in markup, a link, HTML, a heading on a line of its own, a bidi mark.
HOSTILE = (
    "\x1b[2J\x1b]0;bank\x07**APPROVED by risk** [details](http://x.example) <b>ok</b>"
    "\n# Every check passed \u202e" + "z" * 300
)
#: Characters that make markup when they are not escaped.
MARKUP = set("\\`*_[]<>&~|#")


def _unescaped_markup(text: str) -> list[str]:
    """Markup characters in ``text`` not preceded by the escaping backslash."""
    found, escaped = [], False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in MARKUP:
            found.append(ch)
    return found


def test_shown_is_inert_one_line_unmarked_and_short():
    text = shown(HOSTILE)
    assert not {"\x1b", "\x07", "\u202e"} & set(text)
    assert "\\\\x1b[2J" not in text  # spelled out, and that spelling's backslash escaped
    assert "\\\\x1b\\[2J" in text
    assert "\n" not in text
    assert all(ch.isprintable() for ch in text)
    assert _unescaped_markup(text) == []
    assert "\\*\\*APPROVED by risk\\*\\* \\[details\\](http://x" in text
    assert shown("<b>ok</b> & ~~x~~ | `y`") == "\\<b\\>ok\\</b\\> \\& \\~\\~x\\~\\~ \\| \\`y\\`"
    assert len(text.replace("\\", "")) <= MAX_SHOWN
    assert text.endswith("...")
    assert shown("desk") == "desk"  # a plain name is shown as it is
    assert shown("Claude Code 1.0 (beta)") == "Claude Code 1.0 (beta)"


def _answering(asked: list[str]):
    async def answer(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    return answer


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_the_form_shows_a_hostile_client_name_inert(tmp_path, era):
    asked: list[str] = []
    config = sim_settings(tmp_path, broker_mode="live")
    with BrokerMCPServer.from_config(config) as served:
        async with Client(
            served.server,
            mode=era,
            elicitation_callback=_answering(asked),
            client_info=types.Implementation(name=HOSTILE, version="1"),
        ) as mcp:
            sent = await mcp.call_tool("execute_trade", BUY)
        (intent,) = served.toolkit.broker.journal.intents()
        approvals = [
            e["payload"]["approval"]["approver"]
            for e in served.toolkit.broker.journal.events()
            if e["kind"] == "intent"
        ]
    assert not sent.is_error, sent.content[0].text
    assert intent.status == "filled"
    (question,) = asked
    lines = question.split("\n")
    assert lines[0].startswith("MCP client \\\\x1b\\[2J\\\\x1b\\]0;bank\\\\x07\\*\\*APPROVED")
    assert lines[0].endswith("... asks to send a LIVE order through sim:")
    assert lines[2] == "  BUY 3 shares of AAPL (market, day)"
    assert not any(re.match(r"\s*#", line) for line in lines)  # no heading of its own
    assert all(ch == "\n" or ch.isprintable() for ch in question)
    assert _unescaped_markup(question.replace("Send it?", "")) == []
    assert len(question) < 400
    # the journal names the approving client quoted and clipped
    (approver,) = approvals
    assert approver.startswith("person at MCP client '\\x1b[2J")
    assert approver.endswith("characters)")
