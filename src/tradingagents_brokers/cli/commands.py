"""One function per CLI command: ``cmd_<name>(args, config, out)``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..approvals import answered
from ..config import state_paths
from ..decisions import Approval, OrderContext
from ..enums import TradingMode
from ..environment import config_file
from ..errors import BrokerConfigurationError, BrokerError, InvalidOrderError
from ..gateway import GatedBroker
from ..host import PluginHost
from ..orders import OrderRequest
from ..routing import get_broker
from ..sim.plugin import account_path
from ..store import describe_store
from .charts import chart
from .demo import cmd_demo as cmd_demo  # main looks every command up in this module
from .render import Output, plain_number, shown
from .sim_commands import cmd_sim as cmd_sim
from .tables import CLOSED, HISTORY, ORDERS, PLUGINS, POSITIONS, when

CLI = OrderContext(source="cli")
#: How many orders, points of history or intents a table shows unless --limit or --all.
DEFAULT_LIMIT = 50


class Declined(Exception):
    """The person at the terminal said no, or there was no terminal to ask."""


#: What the CLI tells the gate, and the journal records, about how an order was approved:
#: a person typed "y" at the prompt, or the command line carried --yes and nobody was asked.
TYPED = Approval(True, "cli-user", "typed 'y' at the terminal prompt")
SCRIPTED = Approval(True, "cli --yes", "approved in advance by --yes on the command line")


def confirm(question: str, *, yes: bool, ask: Callable[[str], str] | None = None) -> Approval:
    """Ask ``question`` on a terminal; ``--yes`` answers for scripts; no terminal refuses.

    Returns the approval to hand the gate, saying which of the two it was.
    """
    if yes:
        return SCRIPTED
    if not sys.stdin.isatty():
        raise Declined("no terminal to confirm on; pass --yes to approve in a script")
    answer = (ask or input)(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Declined("not confirmed; nothing was sent")
    return TYPED


def limit_of(args: argparse.Namespace) -> int | None:
    """``--limit N``; none with ``--all`` or for an export (``--format``) unless limited;
    else :data:`DEFAULT_LIMIT`."""
    if getattr(args, "all_rows", False):
        return None
    if getattr(args, "export", None) and args.limit is None:
        return None
    return args.limit if args.limit is not None else DEFAULT_LIMIT


def show_rows(
    out: Output,
    title: str,
    rows: list[Any],
    columns: Any,
    limit: int | None,
    what: str,
    at: str | None = None,
) -> None:
    """The first ``limit`` of ``rows`` (read one past the limit), saying when more were left
    and, when the rows carry their time in ``at``, the ``--until`` of the next page."""
    shown = rows[:limit] if limit is not None else rows
    out.rows(title, shown, columns, empty=f"no {what}")
    if limit is not None and len(rows) > limit:
        older = _next_page(shown, at)
        out.hint(f"the newest {limit} {what} shown; --limit N or --all for more{older}")


def _next_page(rows: list[Any], at: str | None) -> str:
    """``--until`` one tick past the oldest row: the next page starts with that row again,
    so rows of one instant are never lost at a page's edge (times here are to the
    millisecond or finer; a millisecond is the tick)."""
    times = [_instant(str(row[at])) for row in rows if at and row.get(at)]
    if not times:
        return ""
    edge = min(times) + dt.timedelta(milliseconds=1)
    stamp = edge.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f", --until {stamp} for the next page (it starts with the last one shown)"


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def plain(value: str | None) -> str | None:
    """A number the user typed, written out (``1e3`` becomes ``1000``); other text as it is."""
    return None if value is None else str(plain_number(value))


def _gated(config: Mapping[str, Any], *, stream: bool = False) -> GatedBroker:
    """The gated broker of a command. One-shot commands take no order stream: it would
    connect and read a snapshot for one order; fresh reads cost less (and are as safe)."""
    return get_broker(config["trading_broker"], config={**config, "order_stream": stream})


def _where(gated: GatedBroker) -> str:
    return f"{gated.name} ({gated.mode.value})"


def cmd_plugins(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    host = PluginHost.from_config(config)
    owners = {name: host.broker_owner(name) for name in host.broker_types}
    records = []
    wanted = args.broker
    if wanted is not None and wanted not in owners:
        raise BrokerConfigurationError(
            f"no installed plugin offers a broker named {wanted!r}; installed: "
            f"{', '.join(sorted(owners))} (plugins without --broker lists them all)"
        )
    for info in host.plugins.values():
        types = [n for n, owner in owners.items() if owner == info.name]
        if wanted is not None and wanted not in types:
            continue
        records.append(
            {
                "plugin": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "brokers": ", ".join(types) or "-",
                "capabilities": {n: host.broker_types[n].capabilities.to_dict() for n in types},
                "description": "; ".join(host.broker_types[n].description for n in types),
            }
        )
    if out.as_json:
        out.data(records)
        return
    out.rows(
        "Plugins",
        records,
        PLUGINS,
        empty="no plugins",
    )
    for name, broker_type in sorted(host.broker_types.items()):
        if wanted is not None and name != wanted:
            continue
        caps = broker_type.capabilities.to_dict()
        flags = [
            k for k in ("fractional", "notional", "short_selling", "extended_hours") if caps[k]
        ]
        out.styled(
            f"[bold]{shown(name)}[/bold]: order types {', '.join(caps['order_types'])}; "
            f"time in force {', '.join(caps['time_in_force'])}; "
            f"{', '.join(flags) or 'whole shares only'}"
        )


def cmd_doctor(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> int:
    host = PluginHost.from_config(config)
    mode = TradingMode(config["broker_mode"])
    state_dir, journal_path = state_paths(config)
    report: dict[str, Any] = {
        "trading_broker": config["trading_broker"],
        "broker_mode": mode.value,
        "auto_execute_trades": config["auto_execute_trades"],
        "require_confirmation": config["require_confirmation"],
        "max_order_value": str(config["max_order_value"]),
        "max_position_size": str(config["max_position_size"]),
        "order_stream": config["order_stream"],
        "config_file": args.config or config_file(),  # the one init wrote, if it is read
        "state_dir": str(state_dir),
        # The files to back up, verify and anchor (tradingagents-brokers journal verify).
        "journal_path": str(journal_path),
        # Where the journal lives: that file, or a PostgreSQL server shared by many hosts.
        "store": describe_store(config),
        "sim_account_file": str(account_path(config["broker_options"].get("sim", {}), state_dir)),
        "blocked_plugins": sorted(config["blocked_plugins"]),
        "brokers": {},
    }
    problems = []
    for name, broker_type in sorted(host.broker_types.items()):
        entry = {}
        for variables in broker_type.credential_env.values():
            for var in variables:
                entry[var] = "set" if os.environ.get(var) else "missing"
        for variables in broker_type.optional_credential_env.values():
            for var in variables:
                entry.setdefault(var, "set" if os.environ.get(var) else "not set (optional)")
        report["brokers"][name] = {
            "credentials": entry,
            "order_updates": broker_type.capabilities.order_updates,
            "quote_updates": broker_type.capabilities.quote_updates,
        }
    selected = config["trading_broker"]
    if selected not in host.broker_types:
        problems.append(
            f"trading_broker {selected!r} is not installed "
            f"(installed: {', '.join(sorted(host.broker_types))})"
        )
    else:
        missing = host.missing_credentials(selected, mode)
        if missing:
            problems.append(f"{selected} ({mode.value}) needs {', '.join(missing)}")
    if mode is TradingMode.LIVE and not config["auto_execute_trades"]:
        problems.append("live mode without auto_execute_trades: orders will be blocked")
    warnings = []
    if mode is TradingMode.LIVE and not config["allowed_symbols"]:
        warnings.append("live mode with an empty allowed_symbols: every symbol may be traded")
    report["problems"] = problems
    report["warnings"] = warnings
    if out.as_json:
        out.data(report)
    else:
        summary = {k: v for k, v in report.items() if k not in ("brokers", "problems", "warnings")}
        out.record("Configuration", summary)
        for name, entry in report["brokers"].items():
            creds = entry["credentials"]
            text = ", ".join(f"{var}: {state}" for var, state in creds.items()) or "none needed"
            out.styled(f"[bold]{shown(name)}[/bold] credentials: {shown(text)}")
        for problem in problems:
            out.styled(f"[yellow]problem:[/yellow] {shown(problem)}")
        for warning in warnings:
            out.styled(f"[yellow]warning:[/yellow] {shown(warning)}")
        if not problems:
            out.styled("[green]no problems found[/green]")
    return 1 if problems else 0


def cmd_account(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        out.record(f"Account on {_where(gated)}", gated.get_account().to_dict())


def cmd_positions(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        records = [p.to_dict() for p in gated.get_positions()]
        out.rows(f"Positions on {_where(gated)}", records, POSITIONS, empty="no open positions")


def cmd_orders(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    limit = limit_of(args)
    with _gated(config) as gated:
        wanted = None if limit is None else limit + 1  # one more: are there more?
        orders = gated.get_orders(
            args.status, wanted, args.symbols, after=args.after, until=args.until
        )
        records = [o.to_dict() for o in orders]
        title = f"Orders on {_where(gated)}"
        show_rows(out, title, records, ORDERS, limit, "orders", "submitted_at")


def _estimate(request: OrderRequest, gated: GatedBroker) -> str:
    """The price the order would go at now, and what it comes to: for the prompt."""
    if request.notional is not None:
        return f"about ${plain_number(request.notional)} in all"
    price = request.limit_price
    label = "limit"
    if price is None:
        try:
            price = gated.get_quote(request.symbol).price
        except BrokerError:
            return "no price to estimate its value by"
        label = "now about"
    assert request.qty is not None
    value = (request.qty * price).quantize(Decimal("0.01"))
    return f"{label} ${plain_number(price)} a share, about ${plain_number(value)} in all"


def _describe(request: OrderRequest, gated: GatedBroker) -> str:
    size = format(request.qty.normalize(), "f") if request.qty is not None else ""
    kind = request.order_type.value
    if request.stop_price is not None:
        kind += f" (stop ${plain_number(request.stop_price)})"
    return (
        f"{request.side.value.upper()} {size} {request.symbol} {kind} "
        f"{request.time_in_force.value} on {_where(gated)}: {_estimate(request, gated)}"
    ).replace("  ", " ")


def cmd_order(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        request = gated.build_request(
            symbol=args.symbol,
            side=args.side,
            qty=plain(args.qty),
            notional=plain(args.notional),
            order_type=args.order_type,
            limit_price=plain(args.limit_price),
            stop_price=plain(args.stop_price),
            trail_price=plain(args.trail_price),
            trail_percent=plain(args.trail_percent),
            time_in_force=args.time_in_force,
            expire_at=args.expire_at,
            extended_hours=args.extended_hours,
        )
        gated.gate.validate(request)  # capabilities and price rules, before asking
        approval = confirm(f"Send {_describe(request, gated)}?", yes=args.yes)
        with answered(request, approval):
            order = gated.submit(request, context=CLI)
        out.record(f"Order on {_where(gated)}", order.to_dict())


def resolve_order_id(gated: GatedBroker, given: str) -> str:
    """The broker's order id for what the user typed: an order id, a client order id,
    or a unique prefix of an open order's id (as ``orders`` shows them)."""
    open_orders = gated.get_orders("open")
    for order in open_orders:
        if given in (order.order_id, order.client_order_id):
            return order.order_id
    matches = [o.order_id for o in open_orders if o.order_id.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidOrderError(
            f"{given!r} is the start of {len(matches)} open orders' ids; type more of it "
            "(tradingagents-brokers orders --status open --wide shows them whole)"
        )
    try:
        return gated.get_order_by_client_id(given).order_id
    except BrokerError:
        return given  # the broker says whether it knows it


def cmd_cancel(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        if args.all:
            ids = gated.cancel_all_orders(context=CLI)
            if out.as_json:
                out.data({"status": "cancel_requested", "order_ids": ids})
            else:
                out.note(f"asked to cancel {len(ids)} open order(s)")
            return
        order_id = resolve_order_id(gated, args.order_id)
        gated.cancel_order(order_id, context=CLI)
        if out.as_json:
            out.data({"status": "cancel_requested", "order_id": order_id})
        else:
            out.note(f"asked to cancel order {order_id}")


def cmd_close(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        if args.all:
            requests = gated.close_all_requests()
            what = "; ".join(f"{_describe(r, gated)}" for r in requests) or "nothing to close"
            approval = confirm(f"Close every position on {_where(gated)} ({what})?", yes=args.yes)
            with answered(requests, approval):
                results = [r.to_dict() for r in gated.close_all_positions(context=CLI)]
            if out.as_json:
                out.data(results)
                return
            records = [
                {**(r["order"] or {}), "symbol": r["symbol"], "ok": r["ok"], "error": r["error"]}
                for r in results
            ]
            out.rows("Closed", records, CLOSED, empty="no positions to close")
            return
        qty, percentage = plain(args.qty), plain(args.percentage)
        close = gated.close_request(args.symbol, qty=qty, percentage=percentage)
        approval = confirm(f"Close: {_describe(close, gated)}?", yes=args.yes)
        with answered(close, approval):
            order = gated.close_position(args.symbol, qty=qty, percentage=percentage, context=CLI)
        out.record(f"Closing order on {_where(gated)}", order.to_dict())


def cmd_history(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    limit = limit_of(args)
    with _gated(config) as gated:
        history = gated.get_portfolio_history(args.period, args.timeframe).to_dict()
    if out.as_json:
        out.data(history)
        return
    records = [
        {"timestamp": t, "equity": e, "profit_loss": p, "profit_loss_pct": pct}
        for t, e, p, pct in zip(
            history["timestamps"],
            history["equity"],
            history["profit_loss"],
            history["profit_loss_pct"],
            strict=True,
        )
    ]
    shown_records = records[-limit:] if limit is not None else records
    out.rows(
        f"Portfolio history on {_where(gated)}", shown_records, HISTORY, empty="no history yet"
    )
    if limit is not None and len(records) > limit:
        out.hint(f"the last {limit} of {len(records)} points shown; --limit N or --all for more")
    if out.pictures and len(records) > 1:  # the whole period, below the table: in sight
        out.styled("[bold]Portfolio value[/bold]")
        values = [Decimal(str(e)) for e in history["equity"]]
        times = [when({"t": str(t)}, "t") or "" for t in history["timestamps"]]
        for line in chart(values, times[0], times[-1], width=min(out.console.width, 100)):
            out.console.print(line)


def cmd_quote(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        out.record(f"Quote on {_where(gated)}", gated.get_quote(args.symbol).to_dict())


def cmd_new_plugin(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    from .. import __version__
    from ..scaffold import next_step, write_plugin

    root = write_plugin(args.name, Path(args.path), __version__)
    if out.as_json:
        out.data({"path": str(root)})
        return
    out.note(f"wrote {root}")
    out.note(next_step(root))


def cmd_mcp(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    """Serve the gated agent tools over MCP. stdout belongs to the protocol: notes go to stderr."""
    try:
        from ..mcp_server import TOKEN_ENV, BrokerMCPServer, run_http
        from ..mcp_server.http import loopback, token_from_env
    except ImportError as exc:
        raise BrokerConfigurationError(str(exc)) from None
    if args.http:
        host = loopback(args.host)
        token, made = token_from_env()
    with BrokerMCPServer.from_config(
        config,
        confirm_paper_orders=args.confirm_paper_orders,
        confirm_timeout=args.confirm_timeout,
    ) as served:
        where = _where(served.toolkit.broker)
        if not args.http:
            out.errors.print(f"MCP server on stdio: {where}", markup=False)
            served.run_stdio()
            return
        out.errors.print(f"MCP server at http://{host}:{args.port}/mcp: {where}", markup=False)
        if made:
            out.errors.print(
                f"bearer token (set {TOKEN_ENV} to choose your own): {token}", markup=False
            )
        run_http(served, port=args.port, token=token, host=host)
