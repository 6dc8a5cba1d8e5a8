"""One function per CLI command: ``cmd_<name>(args, config, out)``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..approvals import answered
from ..config import CONFIG_ENV, default_state_dir, state_paths
from ..decisions import Approval, OrderContext
from ..enums import TradingMode
from ..errors import BrokerConfigurationError
from ..gateway import GatedBroker, check_capabilities
from ..host import PluginHost
from ..orders import OrderRequest
from ..routing import get_broker
from ..sim.plugin import account_path
from ..store import describe_store
from .render import Output, shown

CLI = OrderContext(source="cli")
ORDER_COLUMNS = (
    "submitted_at",
    "symbol",
    "side",
    "qty",
    "notional",
    "order_type",
    "limit_price",
    "stop_price",
    "status",
    "filled_qty",
    "filled_avg_price",
    "order_id",
)
POSITION_COLUMNS = (
    "symbol",
    "qty",
    "avg_entry_price",
    "current_price",
    "market_value",
    "unrealized_pl",
    "unrealized_plpc",
)


JOURNAL_COLUMNS = ("intent_id", "source", "symbol", "side", "qty", "status", "client_order_id")


class Declined(Exception):
    """The person at the terminal said no, or there was no terminal to ask."""


#: What the CLI tells the gate once the person at the terminal said yes (or --yes).
CONFIRMED = Approval(True, "cli-user", "confirmed at the terminal")


def confirm(question: str, *, yes: bool, ask: Callable[[str], str] | None = None) -> None:
    """Ask ``question`` on a terminal; ``--yes`` answers for scripts; no terminal refuses."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Declined("no terminal to confirm on; pass --yes to approve in a script")
    answer = (ask or input)(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Declined("not confirmed; nothing was sent")


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
    for info in host.plugins.values():
        types = [n for n, owner in owners.items() if owner == info.name]
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
        ("plugin", "distribution", "version", "brokers", "description"),
        empty="no plugins",
    )
    for name, broker_type in sorted(host.broker_types.items()):
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
        "config_file": args.config or os.environ.get(CONFIG_ENV) or None,
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
        out.rows(
            f"Positions on {_where(gated)}", records, POSITION_COLUMNS, empty="no open positions"
        )


def cmd_orders(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        orders = gated.get_orders(args.status, args.limit, args.symbols)
        records = [o.to_dict() for o in orders]
        out.rows(f"Orders on {_where(gated)}", records, ORDER_COLUMNS, empty="no orders")


def _describe(request: OrderRequest, gated: GatedBroker) -> str:
    size = f"{request.qty} shares" if request.qty is not None else f"${request.notional} of"
    price = ""
    if request.limit_price is not None:
        price += f" limit {request.limit_price}"
    if request.stop_price is not None:
        price += f" stop {request.stop_price}"
    return (
        f"{request.side.value.upper()} {size} {request.symbol} "
        f"{request.order_type.value}{price} {request.time_in_force.value} on {_where(gated)}"
    )


def cmd_order(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        request = gated.build_request(
            symbol=args.symbol,
            side=args.side,
            qty=args.qty,
            notional=args.notional,
            order_type=args.order_type,
            limit_price=args.limit_price,
            stop_price=args.stop_price,
            time_in_force=args.time_in_force,
            expire_at=args.expire_at,
            extended_hours=args.extended_hours,
        )
        check_capabilities(request, gated.name, gated.capabilities)
        confirm(f"Send {_describe(request, gated)}?", yes=args.yes)
        with answered(request, CONFIRMED):
            order = gated.submit(request, context=CLI)
        out.record(f"Order on {_where(gated)}", order.to_dict())


def cmd_cancel(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        if args.all:
            ids = gated.cancel_all_orders(context=CLI)
            if out.as_json:
                out.data({"status": "cancel_requested", "order_ids": ids})
            else:
                out.note(f"asked to cancel {len(ids)} open order(s)")
            return
        gated.cancel_order(args.order_id, context=CLI)
        if out.as_json:
            out.data({"status": "cancel_requested", "order_id": args.order_id})
        else:
            out.note(f"asked to cancel order {args.order_id}")


def cmd_close(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        if args.all:
            confirm(f"Close every position on {_where(gated)}?", yes=args.yes)
            with answered(gated.close_all_requests(), CONFIRMED):
                results = [r.to_dict() for r in gated.close_all_positions(context=CLI)]
            out.rows("Closed", results, ("symbol", "ok", "error"), empty="no positions to close")
            return
        amount = (
            f"{args.qty} shares of"
            if args.qty
            else f"{args.percentage}% of"
            if args.percentage
            else "all of"
        )
        confirm(f"Close {amount} {args.symbol.upper()} on {_where(gated)}?", yes=args.yes)
        close = gated.close_request(args.symbol, qty=args.qty, percentage=args.percentage)
        with answered(close, CONFIRMED):
            order = gated.close_position(
                args.symbol, qty=args.qty, percentage=args.percentage, context=CLI
            )
        out.record(f"Closing order on {_where(gated)}", order.to_dict())


def cmd_history(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
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
        out.rows(
            f"Portfolio history on {_where(gated)}",
            records,
            ("timestamp", "equity", "profit_loss", "profit_loss_pct"),
            empty="no history yet",
        )


def cmd_quote(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    with _gated(config) as gated:
        out.record(f"Quote on {_where(gated)}", gated.get_quote(args.symbol).to_dict())


def cmd_new_plugin(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    from .. import __version__
    from ..scaffold import write_plugin

    root = write_plugin(args.name, Path(args.path), __version__)
    if out.as_json:
        out.data({"path": str(root)})
        return
    out.note(f"wrote {root}")
    out.note(f"next: pip install -e '{root}[test]' && pytest {root}")


class _Quiet:
    """Stands in for :class:`Output` where ``--json`` prints one document at the end."""

    def record(self, *args: Any, **kwargs: Any) -> None:
        return None

    def rows(self, *args: Any, **kwargs: Any) -> None:
        return None


def cmd_demo(args: argparse.Namespace, config: Mapping[str, Any], out: Output) -> None:
    """A fresh sim account and journal of its own (``demo*.db``): never touches your state."""
    state_dir = Path(config["state_dir"] or default_state_dir())
    journal_file = state_dir / "demo-journal.db"
    for suffix in ("", "-wal", "-shm", ".anchor"):  # its anchor too: a new demo, on purpose
        Path(f"{journal_file}{suffix}").unlink(missing_ok=True)
    demo_config = {
        **config,
        "trading_broker": "sim",
        "broker_mode": "paper",
        "journal_path": str(journal_file),
        "broker_options": {"sim": {"path": str(state_dir / "demo.db"), "reset": True}},
    }
    with _gated(demo_config, stream=True) as gated:
        feed = gated.get_quote("AAPL").source
        out.styled(
            "[bold]tradingagents-brokers demo[/bold]: a fresh simulated account "
            f"({shown(state_dir / 'demo.db')}); prices come from the sim's {shown(repr(feed))} feed"
            + (" and are made up, not market data." if feed == "synthetic" else ".")
        )
        show = _Quiet() if out.as_json else out
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
        show.rows("4. Positions", steps["positions"], POSITION_COLUMNS, empty="no open positions")
        steps["orders"] = [o.to_dict() for o in gated.get_orders("all")]
        show.rows("5. Orders", steps["orders"], ORDER_COLUMNS, empty="no orders")
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
            JOURNAL_COLUMNS,
            empty="no intents",
        )
        verified = journal.verify()
        steps["journal_verified"] = verified.ok
        out.note(
            f"   {verified.events} hash-chained journal events; chain intact: {verified.ok}. "
            "See: tradingagents-brokers journal show 1"
        )
        if out.as_json:
            out.data(steps)


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
