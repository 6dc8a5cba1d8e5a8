"""The plugin's keep-alive connections (direct.py) against loopback servers."""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tradingagents_brokers_alpaca.direct import Host, _decoded, _failure


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: (Content-Encoding, body, close the connection after answering)
    answer: tuple[str | None, bytes, bool] = (None, b"{}", False)

    def do_GET(self) -> None:
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


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    _Handler.answer = (None, b"{}", False)


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    made: list[Host] = []
    yield made
    for host in made:
        host.close()


@pytest.fixture
def host(server, hosts) -> Host:
    port = server.server_address[1]
    made = Host("http", f"127.0.0.1:{port}", connect_timeout=1, read_timeout=1, ca_bundle="")
    hosts.append(made)
    return made


def test_a_connection_is_kept_and_reused(host):
    assert host.send("GET", "/a", None, {})[0] == 200
    (kept,) = host._idle
    assert host.send("GET", "/b", None, {})[0] == 200
    assert host._idle == [kept]
    assert repr(host).endswith("idle=1>")
    host.close()
    assert host._idle == []


def test_a_connection_closed_while_idle_is_replaced(host):
    host.send("GET", "/a", None, {})
    (kept,) = host._idle
    kept.sock.shutdown(socket.SHUT_RDWR)  # reads as end of file, as when the server closes it
    status, _, body = host.send("GET", "/b", None, {})
    assert (status, body) == (200, b"{}")
    assert host._idle != [kept]
    assert kept.sock is None  # closed, not reused


def test_a_connection_the_server_closes_is_not_kept(host):
    _Handler.answer = (None, b"{}", True)
    host.send("GET", "/a", None, {})
    assert host._idle == []


def test_no_more_than_max_idle_connections_are_kept(host):
    taken = [host._checkout() for _ in range(host.max_idle + 2)]
    for connection in taken:
        host._checkin(connection)
    assert len(host._idle) == host.max_idle


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')[2:-4]),  # raw deflate
        (None, b'{"a": 1}'),
    ],
)
def test_compressed_bodies_are_decoded(host, encoding, body):
    _Handler.answer = (encoding, body, False)
    assert host.send("GET", "/", None, {})[2] == b'{"a": 1}'


def test_an_undecodable_body_is_a_typed_error(host):
    _Handler.answer = ("gzip", b"not gzip at all", False)
    with pytest.raises(requests.exceptions.ContentDecodingError) as caught:
        host.send("GET", "/", None, {})
    assert caught.value.__context__ is None


def test_a_closed_port_is_a_connection_error():
    host = Host("http", "127.0.0.1:1", connect_timeout=1, read_timeout=1, ca_bundle="")
    with pytest.raises(requests.ConnectionError, match="could not connect"):
        host.send("GET", "/", None, {})
    assert host._idle == []


def test_a_silent_server_is_a_read_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        port = silent.getsockname()[1]
        host = Host("http", f"127.0.0.1:{port}", connect_timeout=1, read_timeout=0.2, ca_bundle="")
        with pytest.raises(requests.ReadTimeout):
            host.send("GET", "/", None, {})
    finally:
        silent.close()


@pytest.mark.parametrize(
    ("error", "stage", "raised"),
    [
        (TimeoutError(), "connect", requests.ConnectTimeout),
        (TimeoutError(), "read", requests.ReadTimeout),
        (ConnectionResetError(), "read", requests.ConnectionError),
    ],
)
def test_socket_errors_become_requests_errors(error, stage, raised):
    assert type(_failure(error, stage)) is raised


def test_https_hosts_verify_against_the_bundle_and_other_schemes_are_refused():
    import certifi

    secure = Host(
        "https", "example.invalid", connect_timeout=1, read_timeout=1, ca_bundle=certifi.where()
    )
    assert secure._tls is not None
    assert secure._tls.verify_mode.name == "CERT_REQUIRED"
    assert secure._tls.check_hostname
    assert type(secure._new()).__name__ == "HTTPSConnection"  # not connected: nothing is sent
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        Host("ftp", "x", connect_timeout=1, read_timeout=1, ca_bundle="")


def test_a_directory_of_certificates_is_a_bundle_too(tmp_path, monkeypatch):
    from tradingagents_brokers_alpaca.wire import Wire

    secure = Host(
        "https", "example.invalid", connect_timeout=1, read_timeout=1, ca_bundle=str(tmp_path)
    )
    assert secure._tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    wire = Wire(1, 1)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    proxied = wire.route("https://example.invalid/v2")
    assert proxied.connection_pool_kw["ca_cert_dir"] == str(tmp_path)


def test_decoding_leaves_unknown_encodings_alone():
    assert _decoded(b"abc", "br") == b"abc"
    assert _decoded(b"", "gzip") == b""
