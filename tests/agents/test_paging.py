"""get_orders pages back in time: after/until, and an answer that says how to go on."""

from __future__ import annotations

import re

from .conftest import by_name, call


def _page(tool, **args):
    answer = call(tool, {"status": "all", **args})
    return answer.content, re.findall(r"\bc(\d)\b", answer.content)


def test_an_agent_pages_back_through_its_orders(make_toolkit):
    toolkit = make_toolkit(max_orders_per_second=100)
    for n in range(5):
        toolkit.broker.place_order(symbol="AAPL", side="buy", qty=n + 1, client_order_id=f"c{n}")
    tool = by_name(toolkit)["get_orders"]
    seen = []
    text, ids = _page(tool, limit=2)
    while True:
        seen.extend(ids)
        found = re.search(r"until='([^']+)'", text)
        if found is None:
            break
        text, ids = _page(tool, limit=2, until=found.group(1))
    assert seen == ["4", "3", "2", "1", "0"]
    times = {o.client_order_id: o.submitted_at for o in toolkit.broker.get_orders("all")}
    text, ids = _page(tool, after=times["c1"].isoformat(), until=times["c4"].isoformat())
    assert ids == ["3", "2"]
    assert "Older orders may exist" not in text  # fewer than the limit: that is all


def test_a_time_without_a_zone_or_not_a_time_is_refused_with_what_to_give(make_toolkit):
    tool = by_name(make_toolkit())["get_orders"]
    for bad in ("2026-12-01T10:00:00", "yesterday", "9" * 5000):
        answer = call(tool, {"until": bad})
        assert answer.status == "error"
        assert "until" in answer.content
        assert len(answer.content.encode()) <= 4096
    answer = call(tool, {"after": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"})
    assert answer.status == "error"
    assert "must be earlier than until" in answer.content
