"""``BrokerToolkit``: the LangChain tools of one gated broker.

Which tools a toolkit holds follows DESIGN §5: the read-only tools,
``preview_order`` and ``halt_trading``; ``execute_trade``, ``cancel_order`` and
``close_position`` only when ``auto_execute_trades`` is True; plugin tools from
the ``register_tools`` hook when they say they are read-only
(``metadata["read_only"]``) or when writing is allowed. The configuration's
``agent_tools``, when set, narrows that to the tools it lists (:mod:`.choice`);
``withheld`` names the tools left out and why. No tool can
resume trading, change a limit, switch the mode or read a credential: the
toolkit has no such operation, and argument schemas refuse unknown keys.

Every order an agent places goes through :class:`~tradingagents_brokers.GatedBroker`
(the same gate as a person's) with ``OrderContext(source="agent")`` carrying the
tool call id and the toolkit's agent and run ids (``source="mcp"`` with the
client's name and request id when the MCP server serves the call).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import BaseModel, ConfigDict, PrivateAttr

from ..approvals import answered
from ..decisions import OrderContext, OrderSource
from ..enums import TradingMode
from ..errors import InvalidOrderError, NotFoundError, PluginLoadError
from ..gateway import GatedBroker
from ..host import TOOL_NAME
from ..orders import Order, OrderRequest, normalize_symbol
from ..routing import get_broker
from . import render
from .approval import ApprovalMode, ApprovalRequest, ask
from .base import BrokerTool, ToolCallInfo, ToolResult
from .calls import call_order_id, order_for_call
from .choice import READ_TOOLS, WRITE_TOOLS, allowed_tools, why_withheld
from .descriptions import DESCRIPTIONS
from .pacing import paced, retry_after
from .schemas import (
    ORDER_FIELDS,
    CancelOrderArgs,
    ClosePositionArgs,
    GetOrdersArgs,
    HaltTradingArgs,
    NoArgs,
    OrderArgs,
    OrderStatusArgs,
    PortfolioHistoryArgs,
    PositionsArgs,
    QuoteArgs,
)

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "BrokerToolkit"]


class BrokerToolkit(BaseToolkit):
    """The tools an agent uses to trade through one broker, behind the safety gate.

    Build it with :meth:`from_config` (or :meth:`from_broker` around a
    :class:`GatedBroker` you hold) and pass :meth:`get_tools` to ``bind_tools``,
    a ``ToolNode`` or ``create_agent``. Close it when done (or use ``with``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    broker: GatedBroker
    agent_id: str | None = None
    run_id: str | None = None
    approval: Any = "interrupt"
    confirm_paper_orders: bool = False
    prefix: str = ""
    owns_broker: bool = False
    #: Journaled as the orders' source: "agent", or "mcp" for the MCP server.
    source: OrderSource = "agent"

    _tools: list[BaseTool] = PrivateAttr(default_factory=list)
    _withheld: dict[str, str] = PrivateAttr(default_factory=dict)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        broker: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        approval: ApprovalMode = "interrupt",
        confirm_paper_orders: bool = False,
        prefix: str = "",
        source: OrderSource = "agent",
    ) -> BrokerToolkit:
        """A toolkit for broker ``broker`` (default ``trading_broker``) under ``config``.

        ``config`` holds overrides on top of :func:`~tradingagents_brokers.get_config`.
        ``approval`` says how a person is asked before a live order is sent
        (see :mod:`tradingagents_brokers.tools.approval`); ``confirm_paper_orders``
        asks for paper orders too. ``prefix`` is put before every tool name.
        ``source`` is journaled with every order ("mcp" for the MCP server).
        """
        gated = get_broker(broker, config=config)
        try:
            return cls(
                broker=gated,
                agent_id=agent_id,
                run_id=run_id,
                approval=approval,
                confirm_paper_orders=confirm_paper_orders,
                prefix=prefix,
                owns_broker=True,
                source=source,
            )
        except BaseException:
            gated.close()
            raise

    @classmethod
    def from_broker(cls, broker: GatedBroker, **options: Any) -> BrokerToolkit:
        """A toolkit around a gated broker the caller keeps (and closes)."""
        return cls(broker=broker, **options)

    def model_post_init(self, context: Any, /) -> None:
        if self.approval != "interrupt" and not callable(self.approval):
            raise ValueError(f"approval must be 'interrupt' or a callable, got {self.approval!r}")
        if self.source not in ("agent", "mcp"):
            raise ValueError(f"a toolkit's source is 'agent' or 'mcp', got {self.source!r}")
        self._tools = self._build()

    # -- the public surface ----------------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether the order-changing tools are included (``auto_execute_trades``)."""
        return bool(self.broker.config["auto_execute_trades"])

    def get_tools(self) -> list[BaseTool]:
        return list(self._tools)

    @property
    def withheld(self) -> dict[str, str]:
        """The tools this toolkit could hold but does not offer, each with the reason why."""
        return dict(self._withheld)

    def close(self) -> None:
        if self.owns_broker:
            self.broker.close()

    def __enter__(self) -> BrokerToolkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building --------------------------------------------------------------------

    def _build(self) -> list[BaseTool]:
        operations: dict[str, tuple[type[BaseModel], Callable[[Any, ToolCallInfo], ToolResult]]] = {
            "get_account_status": (NoArgs, self._account),
            "get_buying_power": (NoArgs, self._buying_power),
            "get_current_positions": (PositionsArgs, self._positions),
            "check_order_status": (OrderStatusArgs, self._order_status),
            "get_orders": (GetOrdersArgs, self._orders),
            "get_portfolio_history": (PortfolioHistoryArgs, self._history),
            "get_quote": (QuoteArgs, self._quote),
            "preview_order": (OrderArgs, self._preview),
            "halt_trading": (HaltTradingArgs, self._halt),
            "execute_trade": (OrderArgs, self._execute),
            "cancel_order": (CancelOrderArgs, self._cancel),
            "close_position": (ClosePositionArgs, self._close),
        }
        plugin_tools = list(
            self.broker.host.tools(self.broker.name, self.broker, self.broker.config)
        )
        known = [*READ_TOOLS, *WRITE_TOOLS, *(t.name for t in plugin_tools)]
        allowed = allowed_tools(self.broker.config, known)

        def why_not(name: str, writes: bool) -> str | None:
            return why_withheld(name, writes=writes, writable=self.writable, allowed=allowed)

        self._withheld = {}
        tools: list[BaseTool] = []
        for name in READ_TOOLS + WRITE_TOOLS:
            why = why_not(name, name in WRITE_TOOLS)
            if why is None:
                tools.append(self._tool(name, *operations[name]))
            else:
                self._withheld[self._name(name)] = why
        for tool in plugin_tools:
            why = why_not(
                tool.name, (getattr(tool, "metadata", None) or {}).get("read_only") is not True
            )
            if why is None:
                tools.append(tool)
            else:
                self._withheld[tool.name] = why
        seen: set[str] = set()
        for tool in tools:
            if tool.name in seen:
                raise PluginLoadError(f"two tools are named {tool.name!r}; use a prefix")
            seen.add(tool.name)
        return tools

    def _tool(
        self,
        name: str,
        schema: type[BaseModel],
        operation: Callable[[Any, ToolCallInfo], ToolResult],
    ) -> BrokerTool:
        acts = name in WRITE_TOOLS or name == "halt_trading"
        return BrokerTool(
            name=self._name(name),
            description=DESCRIPTIONS[name],
            args_schema=schema,
            operation=operation,
            audit=self._audit if acts else None,
            metadata={
                "broker": self.broker.name,
                "read_only": not acts,
                "destructive": name in WRITE_TOOLS,
                "sends_orders": name in ("execute_trade", "close_position"),
                "idempotent": not acts or name in ("cancel_order", "halt_trading"),
            },
        )

    def _name(self, name: str) -> str:
        full = f"{self.prefix}{name}"
        if not TOOL_NAME.match(full):
            raise ValueError(
                f"tool name {full!r} is not valid: names must match ^[a-zA-Z0-9_-]{{1,64}}$"
            )
        return full

    # -- provenance and audit --------------------------------------------------------

    def _context(self, call: ToolCallInfo) -> OrderContext:
        return OrderContext(
            source=self.source,
            agent_id=self.agent_id,
            run_id=self.run_id,
            tool_call_id=call.tool_call_id,
            client=call.client,
            request_id=call.request_id,
        )

    def _audit(self, call: ToolCallInfo, args: Any, codes: list[str], message: str) -> None:
        relayed = {"client": call.client, "request_id": call.request_id}
        self.broker.journal.append(
            "tool_refused",
            {
                "tool": call.tool,
                "tool_call_id": call.tool_call_id,
                "agent_id": self.agent_id,
                "run_id": self.run_id,
                **{k: v for k, v in relayed.items() if v is not None},
                "source": self.source,
                "codes": codes,
                "message": message,
                "arguments": {str(k): str(v) for k, v in (args or {}).items() if v is not None},
            },
            broker=self.broker.name,
        )

    # -- read-only operations ----------------------------------------------------------

    def _account(self, args: NoArgs, call: ToolCallInfo) -> ToolResult:
        with self._lock:
            account = self.broker.get_account()
            state = self.broker.trading_state()["state"]
        text = render.account_text(
            account, broker=self.broker.name, mode=self.broker.mode.value, state=state
        )
        return text, account

    def _buying_power(self, args: NoArgs, call: ToolCallInfo) -> ToolResult:
        with self._lock:
            power = self.broker.get_buying_power()
        return f"Buying power: {render.money(power)}.", {"buying_power": str(power)}

    def _positions(self, args: PositionsArgs, call: ToolCallInfo) -> ToolResult:
        symbol = None if args.symbol is None else normalize_symbol(args.symbol)
        with self._lock:
            if symbol is None:
                positions = self.broker.get_positions()
            else:
                try:
                    positions = [self.broker.get_position(symbol)]
                except NotFoundError:
                    positions = []
        return render.positions_text(positions, symbol), positions

    def _quote(self, args: QuoteArgs, call: ToolCallInfo) -> ToolResult:
        symbol = normalize_symbol(args.symbol)
        with self._lock:
            quote = self.broker.get_quote(symbol)
        config = self.broker.config
        text = render.quote_text(
            quote,
            now=self.broker.journal.now(),
            max_age=int(config["quote_max_age_seconds"]),
            collar=Decimal(config["price_collar_pct"]),
        )
        return text, quote

    def _order_status(self, args: OrderStatusArgs, call: ToolCallInfo) -> ToolResult:
        if (args.order_id is None) == (args.client_order_id is None):
            raise InvalidOrderError("give order_id or client_order_id (one of them)")
        with self._lock:
            if args.order_id is not None:
                order = self.broker.get_order(args.order_id)
            else:
                order = self.broker.get_order_by_client_id(str(args.client_order_id))
        return render.order_text(order), order

    def _orders(self, args: GetOrdersArgs, call: ToolCallInfo) -> ToolResult:
        with self._lock:
            orders = self.broker.get_orders(
                args.status, args.limit, args.symbols, after=args.after, until=args.until
            )
        return render.orders_text(orders, args.status, args.limit), orders

    def _history(self, args: PortfolioHistoryArgs, call: ToolCallInfo) -> ToolResult:
        with self._lock:
            history = self.broker.get_portfolio_history(args.period, args.timeframe)
        return render.portfolio_text(history), history

    def _preview(self, args: OrderArgs, call: ToolCallInfo) -> ToolResult:
        request = self._request(args, None)
        with self._lock:
            preview = self.broker.preview(request, self._context(call))
        wait = None if preview.allowed else retry_after(self.broker, preview.reasons)
        return render.preview_text(preview, wait), preview

    def _halt(self, args: HaltTradingArgs, call: ToolCallInfo) -> ToolResult:
        # Never behind the lock: an order may hold it while a person is asked about it,
        # and a halt waits on nothing (the gate decides that order again, halted).
        self.broker.halt(args.reason, context=self._context(call))
        state = self.broker.trading_state()
        return (
            "Trading is now HALTED on this account: every new order is refused (cancels still "
            "work). Only a person can resume it; tell the user why you stopped.",
            state,
        )

    # -- order-changing operations ---------------------------------------------------

    def _request(self, args: OrderArgs, client_order_id: str | None) -> OrderRequest:
        """The order the tool's arguments describe; the one place their names are mapped."""
        given = args.model_dump(exclude={"stop_loss_price", "take_profit_price"})
        fields: dict[str, Any] = {ORDER_FIELDS.get(k, k): v for k, v in given.items()}
        if args.stop_loss_price is not None or args.take_profit_price is not None:
            both = args.stop_loss_price is not None and args.take_profit_price is not None
            fields["order_class"] = "bracket" if both else "oto"
            if args.stop_loss_price is not None:
                fields["stop_loss"] = {"stop_price": args.stop_loss_price}
            if args.take_profit_price is not None:
                fields["take_profit"] = {"limit_price": args.take_profit_price}
        fields["client_order_id"] = client_order_id
        with _in_tool_terms():
            return self.broker.build_request(**fields)

    def _needs_approval(self) -> bool:
        if not self.broker.config["require_confirmation"]:
            return False
        return self.broker.mode is TradingMode.LIVE or self.confirm_paper_orders

    def _ask(self, action: str, summary: str, details: dict[str, Any], call: ToolCallInfo) -> Any:
        return ask(
            self.approval,
            ApprovalRequest(
                action=action,
                summary=summary,
                broker=self.broker.name,
                mode=self.broker.mode.value,
                details=details,
                tool_call_id=call.tool_call_id,
                agent_id=self.agent_id,
                run_id=self.run_id,
            ),
        )

    def _execute(self, args: OrderArgs, call: ToolCallInfo) -> ToolResult:
        request = self._request(args, None)
        ctx = self._context(call)
        with self._lock, paced(self.broker):
            base = call_order_id(self.broker.name, self.agent_id, self.run_id, call.tool_call_id)
            if base is not None:
                client_order_id, earlier = order_for_call(self.broker, base, request, call)
                if earlier is not None:
                    return _sent(earlier, "This tool call was already carried out; ")
                request = request.with_client_order_id(client_order_id)
            if self._needs_approval():
                preview = self.broker.preview(request, ctx)
                if preview.allowed:
                    answer = self._ask(
                        "execute_trade",
                        render.request_text(request),
                        {
                            "request": request.to_dict(),
                            "checks_passed": [d.check for d in preview.decisions],
                        },
                        call,
                    )
                    with answered(request, answer):
                        return _sent(self.broker.submit(request, ctx))
            return _sent(self.broker.submit(request, ctx))

    def _cancel(self, args: CancelOrderArgs, call: ToolCallInfo) -> ToolResult:
        # Like a halt, a cancel only lowers risk and never waits for an order being asked about.
        self.broker.cancel_order(args.order_id, context=self._context(call))
        order = self.broker.get_order(args.order_id)
        return (
            f"Cancel requested. {render.order_text(order)} A fill may still arrive before the "
            "cancel takes effect.",
            order,
        )

    def _close(self, args: ClosePositionArgs, call: ToolCallInfo) -> ToolResult:
        ctx = self._context(call)
        with self._lock, paced(self.broker):
            if not self._needs_approval():
                with _in_tool_terms():
                    order = self.broker.close_position(
                        args.symbol, qty=args.quantity, percentage=args.percentage, context=ctx
                    )
                return _sent(order, "Closing order sent. ")
            self.broker.gate.require_closable(ctx)  # a halted account: nobody need be asked
            with _in_tool_terms():
                request = self.broker.close_request(
                    args.symbol, qty=args.quantity, percentage=args.percentage
                )
            answer = self._ask(
                "close_position",
                f"CLOSE: {render.request_text(request)}",
                {"request": request.to_dict()},
                call,
            )
            with answered(request, answer), _in_tool_terms():
                order = self.broker.close_position(
                    args.symbol, qty=args.quantity, percentage=args.percentage, context=ctx
                )
        return _sent(order, "Closing order sent. ")


#: The order model's words in its messages, and the tool arguments a model knows them by.
_TOOL_WORDS = re.compile(r"\b(qty|notional|side)\b")


@contextmanager
def _in_tool_terms() -> Iterator[None]:
    """An invalid order's message in the names of the tool's arguments (quantity, not qty)."""
    try:
        yield
    except InvalidOrderError as exc:
        names = {v: k for k, v in ORDER_FIELDS.items()}
        message = _TOOL_WORDS.sub(lambda m: names[m.group(1)], exc.message)
        raise InvalidOrderError(message, details=exc.details) from None


def _sent(order: Order, lead: str = "Order sent. ") -> ToolResult:
    return lead + render.order_text(order), order
