"""``tradingagents-brokers demo``: the offline tour on a sim account and journal of its own."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..config import ENV_PREFIX, default_state_dir
from ..decisions import OrderContext
from ..errors import BrokerConfigurationError
from ..routing import get_broker
from .render import Col, Output, shown
from .tables import INTENTS, ORDERS, POSITIONS

__all__ = ["cmd_demo"]

CLI = OrderContext(source="cli")


class _Tour:
    """Prints the steps for a person; with ``--json`` one document at the end instead."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def _title(self, title: str) -> None:
        if self.out.plain:  # a pipe's records carry no titles of their own
            self.out.note(title)

    def record(self, title: str, values: Mapping[str, Any]) -> None:
        if not self.out.as_json:
            self._title(title)
            self.out.record(title, values)

    def rows(
        self,
        title: str,
        records: Sequence[Mapping[str, Any]],
        columns: Sequence[Col],
        *,
        empty: str,
    ) -> None:
        if not self.out.as_json:
            self._title(title)
            self.out.rows(title, records, columns, empty=empty)


def cmd_demo(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    """A fresh sim account and journal of its own (``demo*.db``): never touches your state."""
    if args.broker not in (None, "sim"):
        raise BrokerConfigurationError(
            f"the demo always runs on a fresh sim account, not on {args.broker!r}; "
            "leave out --broker"
        )
    state_dir = Path(config["state_dir"] or default_state_dir())
    journal_file = state_dir / "demo-journal.db"
    for suffix in ("", "-wal", "-shm", ".anchor"):  # its anchor too: a new demo, on purpose
        Path(f"{journal_file}{suffix}").unlink(missing_ok=True)
    demo_config = {
        **config,
        "trading_broker": "sim",
        "broker_mode": "paper",
        "journal_path": str(journal_file),
        "order_stream": True,
        "broker_options": {"sim": {"path": str(state_dir / "demo.db"), "reset": True}},
    }
    with get_broker("sim", config=demo_config) as gated:
        feed = gated.get_quote("AAPL").source
        out.styled(
            "[bold]tradingagents-brokers demo[/bold]: a fresh simulated account "
            f"({shown(state_dir / 'demo.db')}); prices come from the sim's {shown(repr(feed))} feed"
            + (" and are made up, not market data." if feed == "synthetic" else ".")
        )
        show = _Tour(out)
        steps: dict[str, Any] = {"account_before": gated.get_account().to_dict()}
        show.record("1. Account", steps["account_before"])
        buy = gated.place_order(symbol="AAPL", side="buy", qty=10, context=CLI)
        steps["market_buy"] = buy.to_dict()
        show.record("2. Market buy of 10 AAPL, through the safety gate", steps["market_buy"])
        quote = gated.get_quote("MSFT")
        limit = (quote.price * 95 / 100).quantize(Decimal("0.01"))
        rest = gated.place_order(
            symbol="MSFT",
            side="buy",
            qty=5,
            order_type="limit",
            limit_price=limit,
            time_in_force="gtc",
            context=CLI,
        )
        steps["resting_limit"] = rest.to_dict()
        out.note(f"3. A limit buy of 5 MSFT at {limit} rests below the market ({quote.price}).")
        steps["positions"] = [p.to_dict() for p in gated.get_positions()]
        show.rows("4. Positions", steps["positions"], POSITIONS, empty="no open positions")
        steps["orders"] = [o.to_dict() for o in gated.get_orders("all")]
        show.rows("5. Orders", steps["orders"], ORDERS, empty="no orders")
        steps["account_after"] = gated.get_account().to_dict()
        show.record("6. Account after", steps["account_after"])
        stream = steps["order_stream"] = gated.order_stream_status()
        out.note(
            f"   The sim's order stream is {'live' if stream['live'] else 'not live'} "
            f"({stream['updates']} updates so far): while it is live the risk checks read "
            "its state cache, and an order costs one broker call."
        )
        journal = gated.journal
        steps["journal"] = [i.to_dict() for i in journal.intents()]
        show.rows(
            "7. The journal: every intent, with its decisions and answers",
            steps["journal"],
            INTENTS,
            empty="no intents",
        )
        verified = journal.verify()
        steps["journal_verified"] = verified.ok
        steps["journal_path"] = str(journal_file)
        out.note(f"   {verified.events} hash-chained journal events; chain intact: {verified.ok}.")
        out.note(f"   The demo's first intent and every event about it: {see_first(journal_file)}")
        if out.as_json:
            out.data(steps)


def see_first(journal_file: Path) -> str:
    """The command that shows the demo journal's first intent (not your own journal's)."""
    return (
        f"{ENV_PREFIX}JOURNAL_PATH={shlex.quote(str(journal_file))} "
        "tradingagents-brokers journal show 1"
    )
