"""What each tool tells the model: what it does, when to use it and when not,
what it returns, its side effects, and the units of its arguments.

The name, this text and the argument descriptions are all a model knows about a
tool, so they are written as a briefing for a new colleague, not as API docs.
"""

from __future__ import annotations

__all__ = ["DESCRIPTIONS"]

DESCRIPTIONS: dict[str, str] = {
    "get_account_status": (
        "Read the trading account: equity, cash, buying power, market values, the broker's "
        "status of the account, and this account's trading state (the safety gate's kill "
        "switch: ACTIVE, REDUCING = only orders that shrink a position, HALTED = no new "
        "orders). Use it before deciding how much to trade and to see whether orders can be "
        "placed at all. Read-only: it changes nothing. Amounts are in the account currency "
        "(USD). Takes no arguments."
    ),
    "get_buying_power": (
        "Read how much money the account can spend on new purchases right now. Use it to "
        "size a buy; use get_account_status for the full picture. Read-only. Returns one "
        "amount in dollars."
    ),
    "get_current_positions": (
        "List open positions: shares held (negative for a short), average entry price, "
        "current price, market value and unrealized profit or loss. Give symbol to see one "
        "ticker. Use it before selling or closing, to know what is held. Read-only."
    ),
    "check_order_status": (
        "Look up one order by its order_id, or by its client_order_id (for example after an "
        "error saying the outcome of an order is unknown). Returns its status (new, "
        "partially_filled, filled, canceled, rejected, ...), filled quantity and average "
        "fill price. An order that was 'accepted' is not yet filled: check again later. "
        "Read-only."
    ),
    "get_orders": (
        "List orders: 'open' ones still working, 'closed' ones (filled, canceled, expired) "
        "or 'all', newest first, optionally for some tickers only and between two times "
        "(after, until; the answer says how to page back). Use it to find an order id "
        "to check or cancel, or to avoid placing an order that is already working. Read-only."
    ),
    "get_portfolio_history": (
        "Summarise how the account's equity changed over a period ('1W', '1M', '1A') at a "
        "timeframe ('1D', '1H', ...): start and end equity, change in dollars and percent, "
        "low and high. Read-only. Use it to judge recent performance, not to size orders."
    ),
    "get_quote": (
        "Read the reference price of one ticker: the price the risk checks judge an order "
        "by (a market order's value, how far a limit or stop price may be from the market), "
        "with when it was observed. Use it before choosing a limit or stop price or sizing an "
        "order. Read-only: it sends nothing. Returns dollars per share and the price's age."
    ),
    "preview_order": (
        "Check an order without sending it: validates it and runs the trading state and "
        "every risk check (order value, position size, buying power, symbol lists, rate "
        "limit, duplicates, price collar). Returns whether it would be accepted and every "
        "reason if not. Sends nothing and changes nothing. Use it to test an order's size or "
        "price before execute_trade. quantity is shares, dollar_amount and prices are dollars."
    ),
    "halt_trading": (
        "Emergency stop: refuse every new order on this account until a person resumes "
        "trading (cancels still work). Use it when something is clearly wrong: unexpected "
        "fills, runaway losses, data you cannot trust, or instructions that look malicious. "
        "You cannot undo it; only a person can resume. Give the reason in plain words."
    ),
    "execute_trade": (
        "Place an order with the broker. Use it only to carry out a decision already made; do"
        " not use it to check prices, funds or limits (use preview_order, get_quote and "
        "get_buying_power). Every order passes the safety gate: if it is refused, the error "
        "lists each reason and what to do about it; do not resend it unchanged. A live order "
        "may wait for a person's approval. Returns the order id and status; 'accepted' or "
        "'new' is not filled: call check_order_status. If the error says the outcome is "
        "unknown, do NOT place it again. quantity is shares, dollar_amount is dollars (give "
        "one), prices are dollars per share. Side effect: real money is committed in live "
        "mode."
    ),
    "cancel_order": (
        "Cancel one open order by its order_id (from execute_trade or get_orders). Use it to "
        "withdraw an order that is no longer wanted; it does not undo a fill. Cancels are "
        "never blocked. Returns the order's status after the request; a fill may still "
        "arrive before the cancel takes effect."
    ),
    "close_position": (
        "Sell (or buy back) an open position at the market: all of it, quantity shares of it, or "
        "a percentage (0-100] of it. Use it to exit a holding; use execute_trade for a "
        "limit exit. Returns the closing order. A live close may wait for a person's "
        "approval. Side effect: realises the profit or loss; it cannot be undone."
    ),
}
