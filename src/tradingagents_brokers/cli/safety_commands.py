"""CLI commands of the safety gate: journal list|show|verify, halt, resume, status, reconcile."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.progress import Progress

from ..config import state_paths
from ..decisions import OrderContext
from ..errors import BrokerConfigurationError, BrokerError
from ..routing import get_broker
from ..safety.audit import audit, parse_head
from ..safety.journal import UNRESOLVED, Journal
from ..safety.recovery import diagnose, recover
from ..safety.state import TradingState, current_state, set_state
from ..store import open_journal
from .archive_command import add_archive_parser, archive_dir, cmd_archive
from .commands import confirm, limit_of, show_rows
from .journal_view import close_event, find_intent, listing
from .options import add_format, add_limit, add_window
from .render import Output
from .tables import INTENTS

CLI = OrderContext(source="cli")


@contextmanager
def _journal(config: Mapping[str, Any]) -> Iterator[Journal]:
    journal = open_journal(config)
    try:
        yield journal
    finally:
        journal.close()


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the safety commands to the CLI's subcommand parser."""

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        return parser

    journal = add("journal", "the order journal: list intents, show one, verify the hash chain")
    action = journal.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    p = action.add_parser("list", parents=[common], help="intents and closes, newest first")
    add_limit(p, "intents and closes")
    add_window(p, "intents and closes")
    add_format(p)
    p.add_argument(
        "--status", action="append", dest="statuses", help="only this status (repeatable)"
    )
    p = action.add_parser("show", parents=[common], help="one intent and all its events")
    p.add_argument("intent", help="intent id or client order id")
    p = action.add_parser(
        "verify",
        parents=[common],
        help="check the hash chain, every table against it, the identity and the end; "
        "exit 1 on any problem",
    )
    p.add_argument(
        "--print-head",
        action="store_true",
        help="print only the anchor SEQ:HASH of the last event (keep it outside the file)",
    )
    p.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="fail unless the chain still holds this anchored event (detects a cut-back tail)",
    )
    p.add_argument(
        "--archives",
        metavar="DIR",
        help="where the journal's archives are (default: <state_dir>/archive)",
    )
    add_archive_parser(action, common)

    p = action.add_parser(
        "recover",
        parents=[common],
        help="keep a damaged journal aside and start a new chain that records what it "
        "replaced (asks first)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")

    p = add("halt", "stop all new orders (the kill switch); cancels still pass")
    p.add_argument(
        "--reason",
        default="halted from the command line",
        help="why, for the journal and 'status' (default: halted from the command line)",
    )
    p.add_argument("--cancel-all", action="store_true", help="also cancel every open order")
    p = add("reduce-only", "accept only orders that shrink a position")
    p.add_argument(
        "--reason", default="reduce-only from the command line", help="why, for the journal"
    )
    p = add("resume", "return to normal trading (asks first)")
    p.add_argument("--reason", default="resumed from the command line", help="why, for the journal")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    add("status", "trading state and orders whose outcome is not known yet")
    add("reconcile", "bring every open intent in the journal to the broker's truth")


def cmd_journal(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> int:
    if args.journal_command == "recover":
        return _recover(args, config, out)
    if args.journal_command == "archive":
        return cmd_archive(args, config, out)
    with _journal(config) as journal:
        if args.journal_command == "list":
            limit = limit_of(args)
            wanted = None if limit is None else limit + 1  # one more: are there more?
            records = listing(journal, args.statuses, wanted, args.after, args.until)
            title = f"Journal {journal.location}"
            show_rows(out, title, records, INTENTS, limit, "intents and closes", "created_at")
            return 0
        if args.journal_command == "show":
            _show(journal, args.intent, out)
            return 0
        try:
            anchor = parse_head(args.expect_head) if args.expect_head else None
        except ValueError as exc:
            raise BrokerConfigurationError(f"--expect-head: {exc}") from None
        with _progress(out, journal) as told:
            archives = archive_dir(config, args.archives)
            report = audit(journal, expect_head=anchor, progress=told, archives=archives)
        if args.print_head:
            out.note(report.head_text())
            return 0 if report.ok else 1
        if out.as_json:
            out.data({**report.to_dict(), "path": str(journal.location)})
        elif report.ok:
            checked = " and the anchor" if anchor else ""
            out.note(
                f"journal {journal.location}: {report.events} events, chain intact, tables match "
                f"the chain{checked}, integrity ok; head {report.head_text()}"
            )
            if report.unverifiable:
                out.note(
                    f"   {len(report.unverifiable)} intents predate rows recorded in the chain "
                    "and could not be rebuilt"
                )
        else:
            for problem in report.problems:
                out.fail(f"journal {journal.location}: {problem}")
        if not report.ok:  # no process sends orders on it until it is recovered
            journal.mark_damaged(report.problems[0])
        return 0 if report.ok else 1


def _show(journal: Journal, given: str, out: Output) -> None:
    """One intent and its events, or the close that sent a client order id; JSON payloads."""
    intent = find_intent(journal, given)
    if intent is None:
        close = None if given.isdigit() else close_event(journal, given)
        if close is None:
            raise BrokerError(
                f"no intent {given!r} (and no close by that client order id) in "
                f"{journal.location}; 'journal list' shows the ids and client order ids"
            )
        if out.as_json:
            out.data({"close": close})
        else:
            out.note(_event_line(close))
        return
    events = journal.events(intent_id=intent.intent_id)
    if out.as_json:
        out.data({"intent": intent.to_dict(), "events": events})
        return
    out.record(f"Intent {intent.intent_id}", intent.to_dict())
    for event in events:
        out.note(_event_line(event))


def _event_line(event: Mapping[str, Any]) -> str:
    payload = json.dumps(event["payload"], sort_keys=True, default=str)
    return f"{event['seq']:>6} {event['at']} {event['kind']:<16} {payload}"


@contextmanager
def _progress(out: Output, journal: Journal) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr while the chain is walked, when stderr is a terminal."""
    head = journal.head()
    if out.as_json or not out.errors.is_terminal or head is None:
        yield None
        return
    with Progress(console=out.errors, transient=True) as bar:
        task = bar.add_task("verifying the journal", total=head[0])
        yield lambda walked: bar.update(task, completed=walked)


def _recover(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> int:
    path = state_paths(config)[1]
    problem = None if config.get("store_url") else diagnose(path)
    if problem is not None:
        out.note(f"the journal at {path} is damaged: {problem}")
        confirm(
            "Keep it aside and start a new journal (orders it still had in flight are not "
            "carried over)?",
            yes=args.yes,
        )
    summary = recover(config)
    if out.as_json:
        out.data(summary)
    else:
        kept = ", ".join(summary["kept_as"]) or "nothing (it was gone)"
        out.note(
            f"kept {kept}; a new journal {summary['journal_id']} at {summary['path']} records "
            "what it replaced; reconcile, and check the broker's open orders"
        )
    return 0


def _show_state(journal: Journal, out: Output) -> None:
    state = journal.trading_state()
    unresolved = journal.intents(statuses=UNRESOLVED)
    working = [
        f"{row['broker']} on {row['host']} (pid {row['pid']}, heartbeat {row['heartbeat_at']})"
        for row in journal.backend.query(
            "SELECT broker, host, pid, heartbeat_at FROM processes ORDER BY started_at"
        )
    ]
    report = {
        **state,
        "unresolved_orders": [i.client_order_id for i in unresolved],
        "store": journal.location,
        "processes": working,
    }
    out.record("Trading state", report)


def _set(config: Mapping[str, Any], state: TradingState, reason: str, out: Output) -> None:
    with _journal(config) as journal:
        set_state(journal, state, reason=reason, by="cli")
        _show_state(journal, out)


def cmd_halt(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    if args.cancel_all:
        with get_broker(
            config["trading_broker"], config={**config, "order_stream": False}
        ) as gated:
            canceled = gated.halt(args.reason, cancel_open_orders=True, context=CLI)
            out.note(f"halted; asked to cancel {len(canceled)} open order(s)")
            _show_state(gated.journal, out)
        return
    _set(config, TradingState.HALTED, args.reason, out)


def cmd_reduce_only(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    _set(config, TradingState.REDUCING, args.reason, out)


def cmd_resume(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _journal(config) as journal:
        now = current_state(journal)
    if now is not TradingState.ACTIVE:
        confirm(f"Trading is {now.value}. Resume normal trading?", yes=args.yes)
    _set(config, TradingState.ACTIVE, args.reason, out)


def cmd_status(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _journal(config) as journal:
        _show_state(journal, out)


def cmd_reconcile(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> int:
    with get_broker(config["trading_broker"], config=_one_shot(config)) as gated:
        report = gated.reconcile()
    if out.as_json:
        out.data(report.to_dict())
    else:
        out.note(
            f"checked {report.checked} open intent(s) and rechecked {report.rechecked}; "
            f"{len(report.changed)} changed; {report.requests} broker request(s)"
        )
        if report.in_flight:
            out.note(f"{report.in_flight} left to the live processes still sending them")
        if report.deferred:
            out.note(f"{report.deferred} deferred to the next pass (reconcile_lookups)")
        out.rows(
            "Changes", list(report.changed), ("client_order_id", "from", "to"), empty="no drift"
        )
        for failure in report.failed:
            out.fail(f"{failure['client_order_id']}: {failure['error']}")
    return 0 if report.ok else 1


def _one_shot(config: Mapping[str, Any]) -> dict[str, Any]:
    """A one-shot command takes no order stream (see ``commands._gated``)."""
    return {**config, "order_stream": False}
