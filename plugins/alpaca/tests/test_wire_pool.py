"""The plugin's HTTP (wire.py, on urllib3's pools) against loopback servers."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests
from urllib3.util.ssl_ import resolve_cert_reqs

from tradingagents_brokers_alpaca.wire import Wire


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: (Content-Encoding, body, close the connection after answering)
    answer: tuple[str | None, bytes, bool] = (None, b"{}", False)
    #: the client's port of every request: one port per connection
    ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        _Handler.ports.append(self.client_address[1])
        encoding, body, close = self.answer
        self.send_response(200)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy and no CA bundle from the machine running the tests."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for scheme in ("HTTP", "HTTPS", "ALL"):
        monkeypatch.delenv(f"{scheme}_PROXY", raising=False)
        monkeypatch.delenv(f"{scheme.lower()}_proxy", raising=False)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.ports = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    _Handler.answer = (None, b"{}", False)


@pytest.fixture
def wire() -> Iterator[Wire]:
    made = Wire(1, 1)
    yield made
    made.close()


def _get(wire: Wire, url: str) -> requests.Response:
    return wire.request("GET", url, headers={})  # type: ignore[return-value]


def test_a_connection_is_kept_and_reused(wire, server):
    assert _get(wire, server + "/a").status_code == 200
    assert _get(wire, server + "/b").status_code == 200
    assert len(_Handler.ports) == 2
    assert len(set(_Handler.ports)) == 1  # one connection for both
    assert repr(wire) == f"<Wire to {server.split('//')[1]}>"
    wire.close()
    assert repr(wire) == "<Wire to nowhere yet>"


def test_a_connection_closed_while_idle_is_replaced(wire, server):
    _get(wire, server + "/a")
    pool = wire.route(server)  # the host's own pool: no URL parsed again per request
    kept = pool.pool.queue[-1]
    kept.sock.shutdown(socket.SHUT_RDWR)  # reads as end of file, as when the server closes it
    answer = _get(wire, server + "/b")
    assert (answer.status_code, answer.content) == (200, b"{}")
    assert len(set(_Handler.ports)) == 2  # a new connection, the dropped one not reused


def test_a_connection_the_server_closes_is_not_kept(wire, server):
    _Handler.answer = (None, b"{}", True)
    _get(wire, server + "/a")
    _get(wire, server + "/b")
    assert len(set(_Handler.ports)) == 2


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')[2:-4]),  # raw deflate
        (None, b'{"a": 1}'),
    ],
)
def test_compressed_bodies_are_decoded(wire, server, encoding, body):
    _Handler.answer = (encoding, body, False)
    assert _get(wire, server).json() == {"a": 1}


def test_an_undecodable_body_is_a_typed_error(wire, server):
    _Handler.answer = ("gzip", b"not gzip at all", False)
    with pytest.raises(requests.exceptions.ContentDecodingError) as caught:
        _get(wire, server)
    assert caught.value.__context__ is None


def test_a_closed_port_is_a_connection_error(wire):
    with pytest.raises(requests.ConnectionError, match="could not connect") as caught:
        _get(wire, "http://127.0.0.1:1/v2/account")
    assert caught.value.__context__ is None  # urllib3's text (which names the host) left out


def test_a_silent_server_is_a_read_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    wire = Wire(1, 0.2)
    try:
        port = silent.getsockname()[1]
        with pytest.raises(requests.ReadTimeout):
            _get(wire, f"http://127.0.0.1:{port}/v2/account")
    finally:
        wire.close()
        silent.close()


def test_https_verifies_against_the_bundle_a_file_or_a_directory(tmp_path, monkeypatch):
    import certifi

    secure = Wire(1, 1).route("https://example.invalid/v2")
    assert secure.ca_certs == certifi.where()  # not connected: nothing is sent
    assert resolve_cert_reqs(secure.cert_reqs) == ssl.CERT_REQUIRED  # None: urllib3 verifies
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    wire = Wire(1, 1)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    proxied = wire.route("https://example.invalid/v2")
    assert proxied.connection_pool_kw["ca_cert_dir"] == str(tmp_path)
