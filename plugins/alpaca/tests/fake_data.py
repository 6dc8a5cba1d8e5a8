"""Alpaca's market-data websocket on loopback: greeting, auth, trade subscriptions, trades.

Speaks the protocol of ``wss://stream.data.alpaca.markets/v2/{feed}`` in JSON
text frames: ``[{"T":"success","msg":"connected"}]``, ``auth`` answered
``authenticated`` (or error 402 with ``reject_auth``, or 406 when
``connection_limit`` connections are already open), ``subscribe`` and
``unsubscribe`` of ``trades`` answered with the whole subscription, and
``trade()`` sends ``{"T":"t",...}`` to every connection that follows the
symbol. ``drop()`` closes every connection; ``mute()`` stops reading them, so
pings go unanswered, as on a dead link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from typing import Any


class FakeMarketData:
    """The stock trades websocket, in its own thread and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        #: Each open connection and the symbols it follows.
        self.clients: dict[Any, set[str]] = {}
        #: Every action a client sent (the auth's keys replaced by whether they were sent).
        self.actions: list[dict[str, Any]] = []
        self.logins: list[str] = []
        self.reject_auth: bool | int = False
        self.connection_limit = 1
        self.trades = 0
        self.server = self._run(self._serve())
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v2/iex"

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _serve(self) -> Any:
        from websockets.asyncio.server import serve

        return await serve(self._session, "127.0.0.1", 0)

    async def _session(self, ws: Any) -> None:
        await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
        auth = json.loads(await ws.recv())
        self.logins.append(str(auth.get("key")))
        self.actions.append({"action": auth.get("action")})
        if self.reject_auth:  # True: the keys (402); or Alpaca's code for another refusal
            code = 402 if self.reject_auth is True else int(self.reject_auth)
            await ws.send(json.dumps([{"T": "error", "code": code, "msg": "refused"}]))
            return
        if len(self.clients) >= self.connection_limit:
            refusal = {"T": "error", "code": 406, "msg": "connection limit exceeded"}
            await ws.send(json.dumps([refusal]))
            return
        await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
        followed: set[str] = set()
        self.clients[ws] = followed
        try:
            async for frame in ws:
                message = json.loads(frame)
                self.actions.append(message)
                symbols = message.get("trades") or []
                if message.get("action") == "subscribe":
                    followed.update(symbols)
                elif message.get("action") == "unsubscribe":
                    followed.difference_update(symbols)
                answer = {"T": "subscription", "trades": sorted(followed), "quotes": []}
                await ws.send(json.dumps([answer]))
        finally:
            self.clients.pop(ws, None)

    def following(self) -> list[set[str]]:
        """What each open connection follows."""
        return [set(symbols) for symbols in self.clients.values()]

    def trade(self, symbol: str, price: str, at: dt.datetime | None = None) -> None:
        """A trade, sent to every connection that follows ``symbol``."""
        when = (at or dt.datetime.now(dt.UTC)).isoformat().replace("+00:00", "Z")
        self.trades += 1
        message = {"T": "t", "S": symbol, "i": self.trades, "x": "V", "p": price, "s": 100}
        self.send_raw([{**message, "t": when, "c": ["@"], "z": "C"}], symbol)

    def send_raw(self, messages: Any, symbol: str | None = None) -> None:
        """Send ``messages`` as they are to the connections following ``symbol`` (all: None)."""
        frame = messages if isinstance(messages, str) else json.dumps(messages)

        async def send() -> None:
            from websockets.exceptions import ConnectionClosed

            for ws, followed in list(self.clients.items()):
                if symbol is None or symbol in followed:
                    try:
                        await ws.send(frame)
                    except ConnectionClosed:
                        continue  # the client has just gone

        self._run(send())

    def drop(self) -> None:
        """Close every connection (the client reconnects)."""

        async def close_all() -> None:
            for ws in list(self.clients):
                await ws.close()

        self._run(close_all())

    def mute(self) -> None:
        """Stop reading every connection: pings go unanswered."""

        async def pause() -> None:
            for ws in list(self.clients):
                ws.transport.pause_reading()

        self._run(pause())

    def close(self) -> None:
        for ws in list(self.clients):  # a muted connection would never close by itself
            self.loop.call_soon_threadsafe(ws.transport.abort)
        self.server.close()
        self._run(self.server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()
