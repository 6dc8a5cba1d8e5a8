"""``tradingagents-brokers sim reset``: a fresh sim account, on purpose and confirmed.

Resting orders are canceled through the gate first, so the journal records them
``canceled`` (what happened to them) rather than finding them ``missing`` on the
fresh account later. The journal itself is kept: it is the record of what was
done, and its chain goes on.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import state_paths
from ..decisions import OrderContext
from ..errors import BrokerConfigurationError, JournalDamagedError
from ..routing import get_broker
from ..safety.journal import UNRESOLVED
from ..sim.plugin import account_path
from .render import Output

__all__ = ["add_parsers", "cmd_sim"]

CLI = OrderContext(source="cli")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    about = "the simulated broker's account: 'sim reset' starts a fresh one (asks first)"
    parser = sub.add_parser("sim", parents=[common], help=about, description=about)
    action = parser.add_subparsers(dest="sim_command", required=True, metavar="ACTION")
    p = action.add_parser(
        "reset",
        parents=[common],
        help="cancel the resting orders, then replace the account with a fresh one "
        "(initial_cash, no positions, no orders); the journal is kept",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")


def cmd_sim(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    from .commands import confirm  # commands imports this module's neighbours

    if args.broker not in (None, "sim"):
        raise BrokerConfigurationError(
            f"'sim reset' resets the sim account only, not {args.broker!r}; leave out --broker"
        )
    config = {**config, "trading_broker": "sim", "order_stream": False}
    options = dict(config["broker_options"].get("sim", {}))
    options.pop("reset", None)
    path = account_path(options, state_paths(config)[0])
    summary: dict[str, Any] = {"path": str(path)}
    try:
        gated = get_broker("sim", config={**config, "broker_options": {"sim": options}})
    except JournalDamagedError as exc:
        if "sim account" not in exc.message:  # the journal, not the account: fix that first
            raise
        gated = None
        out.note(f"the account cannot be opened: {exc.message}")
    if gated is None:
        confirm(f"Replace the unreadable sim account at {path} with a fresh one?", yes=args.yes)
        summary.update(canceled=[], positions=None)
    else:
        with gated:
            resting = gated.get_orders("open")
            positions = gated.get_positions()
            confirm(
                f"Reset the sim account at {path}? Its {len(positions)} position(s) go; its "
                f"{len(resting)} resting order(s) are canceled first, and the journal records "
                "them canceled.",
                yes=args.yes,
            )
            summary["canceled"] = gated.cancel_all_orders(context=CLI)
            summary["positions"] = len(positions)
            report = gated.reconcile()
            summary["journal_changes"] = list(report.changed)
            unsure = gated.journal.intents(broker="sim", statuses=UNRESOLVED)
            summary["unresolved"] = [i.client_order_id for i in unsure]
    fresh = {**options, "reset": True}
    # Only the account is replaced: building the broker with reset=true does exactly that.
    with get_broker("sim", config={**config, "broker_options": {"sim": fresh}}) as gated:
        summary["cash"] = str(gated.get_account().cash)
    if out.as_json:
        out.data(summary)
        return
    out.note(
        f"a fresh sim account at {Path(summary['path'])} with {summary['cash']} in cash; "
        f"{len(summary['canceled'])} resting order(s) canceled and journaled as canceled"
    )
    for client_order_id in summary.get("unresolved", []):
        out.note(
            f"   {client_order_id}: its outcome was not known; reconcile will find it not "
            "placed on the fresh account"
        )
