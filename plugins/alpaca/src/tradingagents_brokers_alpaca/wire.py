"""The plugin's HTTP under alpaca-py's REST client, in place of requests.

alpaca-py's ``RESTClient`` builds each call (URL, key headers, JSON body or query)
and hands it to ``self._session.request``; it reads back ``status_code``,
``text``, ``json()`` and ``raise_for_status()``. :class:`Wire` is that session,
on urllib3's connection pools (``PoolManager``, or ``ProxyManager`` when the
environment puts the host behind a proxy). It skips what requests adds to each
call - merging the session's settings, its cookie jar (Alpaca sets no cookies),
hooks, adapters - and keeps what matters here:

* finite timeouts on every request, ``(connect, read)``;
* no retries and no redirects (an order POST is sent once; see :mod:`.transport`);
* the proxy of the environment (``HTTP(S)_PROXY``, ``ALL_PROXY``, honouring
  ``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
  else certifi's, as requests), read once per host when it is first called;
* gzip and deflate bodies decoded; connections kept alive per host, and one the
  server closed while idle noticed before it is reused (urllib3 checks).

Errors keep requests' types, which alpaca-py catches: an HTTP status of 400 or
more raises ``requests.HTTPError`` from ``raise_for_status()``, a timeout
``requests.ConnectTimeout`` or ``requests.ReadTimeout``, and any other failure to
talk ``requests.ConnectionError``, without the text underneath (which may name
the host). ADR 0006 says why urllib3 rather than a pool of our own.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlencode

import certifi
import requests
import urllib3
from requests.utils import get_environ_proxies
from urllib3.connectionpool import HTTPConnectionPool

__all__ = ["Response", "Wire"]


class Response:
    """The part of ``requests.Response`` that alpaca-py and the transport read."""

    __slots__ = ("content", "headers", "method", "status_code", "url")

    def __init__(
        self, method: str, url: str, status_code: int, headers: Any, content: bytes
    ) -> None:
        self.method = method
        self.url = url
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            path = self.url.split("?", 1)[0]
            raise requests.HTTPError(
                f"{self.status_code} for {self.method} {path}",
                response=self,
            )


class Wire:
    """``request(method, url, headers=..., params=..., json=...)``, as alpaca-py calls it.

    Each host gets a route when it is first called: urllib3's ``PoolManager``, or
    its ``ProxyManager`` when the environment puts the host behind a proxy.
    """

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.ca_bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE")
            or os.environ.get("CURL_CA_BUNDLE")
            or certifi.where()
        )
        #: host -> the pool of connections to it, or the proxy manager it is reached through
        self._routes: dict[str, HTTPConnectionPool | urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Wire to {', '.join(sorted(self._routes)) or 'nowhere yet'}>"

    def route(self, url: str) -> HTTPConnectionPool | urllib3.ProxyManager:
        """How ``url``'s host is reached: directly, or through the environment's proxy."""
        scheme, _, rest = url.partition("://")
        host = rest.split("/", 1)[0]
        found = self._routes.get(host)
        if found is not None:
            return found
        with self._lock:
            found = self._routes.get(host)
            if found is None:
                proxies = get_environ_proxies(url)  # honours NO_PROXY
                proxy = proxies.get(scheme) or proxies.get("all")
                found = self._pool(proxy, url)
                self._routes[host] = found
            return found

    def _pool(self, proxy: str | None, url: str) -> HTTPConnectionPool | urllib3.ProxyManager:
        where = "ca_cert_dir" if os.path.isdir(self.ca_bundle) else "ca_certs"
        options: dict[str, Any] = {where: self.ca_bundle, "maxsize": 4, "block": False}
        if proxy:
            return urllib3.ProxyManager(proxy, **options)
        # The host's own pool, kept: a PoolManager would parse the URL and look the pool
        # up again on every request (a tenth of a millisecond of an order, on loopback).
        return urllib3.PoolManager(**options).connection_from_url(url)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: Any = None,
        json: Any = None,  # the name alpaca-py passes
        allow_redirects: bool = False,
    ) -> Response:
        del allow_redirects  # never followed: an order is not re-sent to another place
        if params:
            url = f"{url}?{urlencode(_query(params), doseq=True)}"
        fields = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", **headers}
        body = None
        if json is not None:
            body = _dumps(json, allow_nan=False).encode()
            fields["Content-Type"] = "application/json"
        route = self.route(url)
        target = url
        if isinstance(route, HTTPConnectionPool):
            target = "/" + url.partition("://")[2].partition("/")[2]
        try:
            answer = route.urlopen(
                method,
                target,
                body=body,
                headers=fields,
                timeout=self.timeout,
                retries=_NO_RETRIES,
                redirect=False,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            failure = _as_requests_error(exc)
        else:
            return Response(method, url, answer.status, answer.headers, answer.data)
        raise failure  # outside the except block: urllib3's error (and its URL) is not chained

    def close(self) -> None:
        with self._lock:
            routes, self._routes = list(self._routes.values()), {}
        for route in routes:
            if isinstance(route, HTTPConnectionPool):
                route.close()
            else:
                route.clear()


#: No retries, no redirects followed: an order is sent once, to one place.
_NO_RETRIES = urllib3.Retry(total=False, redirect=False)


def _as_requests_error(exc: Exception) -> requests.RequestException:
    """urllib3's failure as the requests exception requests would raise (without its text)."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.NewConnectionError):  # a subclass of ConnectTimeoutError
        return requests.ConnectionError("could not connect")
    if isinstance(exc, errors.ConnectTimeoutError):
        return requests.ConnectTimeout("no connection in time")
    if isinstance(exc, errors.TimeoutError):
        return requests.ReadTimeout("no answer in time")
    if isinstance(exc, errors.DecodeError):
        return requests.exceptions.ContentDecodingError("the body could not be decoded")
    return requests.ConnectionError(type(exc).__name__)


def _query(params: Any) -> list[tuple[str, Any]]:
    """Query parameters as requests encodes them: None values are left out."""
    items = params.items() if hasattr(params, "items") else params
    return [(k, v) for k, v in items if v is not None]


_dumps = json.dumps
