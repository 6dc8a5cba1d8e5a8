"""Keep-alive connections to one host through the standard library's ``http.client``.

:class:`~.wire.Wire` sends to the hosts it reaches without a proxy (Alpaca's,
normally) through a :class:`Host`. For each request urllib3 parses the URL and
builds a ``Retry``, a ``Timeout``, a header dict and a response with decoders
around the same ``http.client`` exchange: on loopback about 0.2 ms of CPU, a
sixth of an order's round trip. A :class:`Host` keeps what the plugin needs of
it and nothing else:

* idle connections are kept (at most ``max_idle``) and reused, last in, first
  out; one the server has closed while it was idle is noticed before it is
  reused (its socket reads as ready: end of file) and replaced;
* the connect timeout covers connecting and sending, the read timeout waiting
  for and reading the answer;
* TLS verifies the server against the CA bundle it is given;
* ``gzip`` and ``deflate`` bodies are decoded;
* a connection that failed, or that the server said it closes, is not reused.

Failures are raised as the requests exceptions alpaca-py and the transport
expect, without the text of the error underneath (which may name the host).
"""

from __future__ import annotations

import gzip
import http.client
import os
import select
import ssl
import threading
import zlib
from typing import Any

import requests

__all__ = ["Host"]


class Host:
    """The idle connections to one ``scheme://host:port`` and how to make more."""

    def __init__(
        self,
        scheme: str,
        netloc: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        ca_bundle: str,
        max_idle: int = 4,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}; use http or https")
        self.scheme = scheme
        self.netloc = netloc
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        self._tls = _tls(ca_bundle) if scheme == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Host {self.scheme}://{self.netloc} idle={len(self._idle)}>"

    def send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any, bytes]:
        """One exchange: (status, headers, body). Raises requests' exception types."""
        connection = self._checkout()
        stage = "connect"
        try:
            connection.request(method, target, body=body, headers=headers)
            stage = "read"
            sock = connection.sock
            if sock is not None and hasattr(sock, "settimeout"):
                sock.settimeout(self.read_timeout)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            failure = _failure(exc, stage)
        else:
            if getattr(answer, "will_close", True):  # (a recorder's response may not say)
                connection.close()
            else:
                self._checkin(connection)
            try:
                data = _decoded(data, answer.getheader("Content-Encoding"))
            except (OSError, EOFError, zlib.error):
                failure = requests.exceptions.ContentDecodingError("the body could not be decoded")
            else:
                return answer.status, answer.headers, data
        raise failure  # outside the except block: the socket error is not chained

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _checkout(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._new()
            if not _dropped(connection):
                sock = connection.sock
                if sock is not None and hasattr(sock, "settimeout"):
                    sock.settimeout(self.connect_timeout)
                return connection
            connection.close()

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _new(self) -> http.client.HTTPConnection:
        # Looked up on the module at each use, so a test recorder that patches
        # http.client (vcrpy) sees these connections too.
        if self._tls is not None:
            return http.client.HTTPSConnection(
                self.netloc, timeout=self.connect_timeout, context=self._tls
            )
        return http.client.HTTPConnection(self.netloc, timeout=self.connect_timeout)


def _tls(ca_bundle: str) -> ssl.SSLContext:
    """Verify servers against ``ca_bundle``: a file of certificates, or a directory."""
    if os.path.isdir(ca_bundle):
        return ssl.create_default_context(capath=ca_bundle)
    return ssl.create_default_context(cafile=ca_bundle)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection's socket was closed (or sent something) meanwhile."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: it connects on its next request
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, TypeError, ValueError):
        return True
    return bool(readable)


def _failure(exc: BaseException, stage: str) -> requests.RequestException:
    if isinstance(exc, TimeoutError):
        if stage == "connect":
            return requests.ConnectTimeout("no connection in time")
        return requests.ReadTimeout("no answer in time")
    if stage == "connect" and isinstance(exc, ConnectionRefusedError | ssl.SSLError):
        return requests.ConnectionError(f"could not connect ({type(exc).__name__})")
    return requests.ConnectionError(type(exc).__name__)


def _decoded(data: bytes, encoding: str | None) -> bytes:
    if not encoding or not data:
        return data
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        try:
            return zlib.decompress(data)
        except zlib.error:  # raw deflate, without the zlib header
            return zlib.decompress(data, -zlib.MAX_WBITS)
    return data
