"""The page server passes WebSocket upgrades on /relay/<name> to a relay on 127.0.0.1: the request
as the relay expects it, bytes both ways (over https too), closes passed on, errors when it cannot."""
import socket
import ssl
import threading

import pytest

from rakis_py.serve import tls
from rakis_py.serve.static import StaticServer

UPGRADE = (b"GET /relay/echo?x=1 HTTP/1.1\r\nHost: lan.test:8443\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")


class EchoRelay:
    """A TCP stand-in for a relay: records the upgrade request, answers 101, says "hi" first (so
    relay -> browser works without a prompt), then echoes every byte until told to hang up."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        self.requests.append(data)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nhi")
        try:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)
        except OSError:
            pass

    def hang_up(self):
        for c in self.conns:
            c.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.sock.close()


@pytest.fixture
def echo():
    relay = EchoRelay()
    yield relay
    relay.close()


def _client(port, ssl_ctx=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ssl_ctx.wrap_socket(s, server_hostname="localhost") if ssl_ctx else s


def _recv_until(s, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(params=["http", "https"])
def proxied(request, tmp_path, site_dir, echo):
    ctx = client_ctx = None
    if request.param == "https":
        ctx = tls.self_signed(tmp_path / "tls", ["localhost"]).ssl_context()
        client_ctx = ssl.create_default_context()
        client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    srv = StaticServer(site_dir, "127.0.0.1", 0, ssl_context=ctx,
                       ws_routes={"/relay/echo": ("127.0.0.1", echo.port)}).start()
    yield srv, lambda: _client(srv.port, client_ctx)
    srv.stop()


def test_upgrade_is_forwarded_and_bytes_flow_both_ways(proxied, echo):
    srv, connect = proxied
    with connect() as c:
        c.sendall(UPGRADE)
        head = _recv_until(c, b"hi")
        assert head.startswith(b"HTTP/1.1 101") and head.endswith(b"hi")
        big = bytes(range(256)) * 2048  # 512 kB: many TLS records and socket reads
        c.sendall(big)
        got = b""
        while len(got) < len(big):
            got += c.recv(65536)
        assert got == big
        assert srv.open_tunnels == 1
    req = echo.requests[0].decode()
    lines = req.split("\r\n")
    assert lines[0] == "GET /?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{echo.port}" in lines and "Host: lan.test:8443" not in lines
    assert "Sec-WebSocket-Protocol: mqtt" in lines and "Upgrade: websocket" in lines


def test_relay_hanging_up_closes_the_client(proxied, echo):
    srv, connect = proxied
    with connect() as c:
        c.sendall(UPGRADE)
        _recv_until(c, b"hi")
        echo.hang_up()
        c.settimeout(5)
        assert _recv_until(c, b"never") == b""  # EOF, not a timeout
    for _ in range(100):
        if srv.open_tunnels == 0:
            break
        threading.Event().wait(0.02)
    assert srv.open_tunnels == 0


def test_stopping_the_server_ends_open_tunnels(proxied):
    srv, connect = proxied
    c = connect()
    c.sendall(UPGRADE)
    _recv_until(c, b"hi")
    srv.stop()
    c.settimeout(5)
    try:
        assert _recv_until(c, b"never") == b""
    except ConnectionResetError:
        pass  # also a close
    c.close()


def test_plain_get_and_dead_relay_are_http_errors(site_dir):
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with StaticServer(site_dir, "127.0.0.1", 0, ws_routes={"/relay/x": ("127.0.0.1", port)}) as srv:
        with _client(srv.port) as c:
            c.sendall(b"GET /relay/x HTTP/1.1\r\nHost: h\r\n\r\n")
            assert _recv_until(c, b"\r\n").startswith(b"HTTP/1.0 426")
        with _client(srv.port) as c:
            c.sendall(UPGRADE.replace(b"/relay/echo", b"/relay/x"))
            assert _recv_until(c, b"\r\n").startswith(b"HTTP/1.0 502")
        # Other paths are files as before.
        with _client(srv.port) as c:
            c.sendall(b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n")
            assert _recv_until(c, b"\r\n").startswith(b"HTTP/1.0 200")


def test_real_websocket_client_and_server_through_the_tls_proxy(tmp_path, site_dir):
    """websockets on both ends: the handshake (subprotocol included) and framing survive the proxy."""
    sync_server = pytest.importorskip("websockets.sync.server", reason="websockets not installed")
    from websockets.sync.client import connect

    def handler(ws):
        for msg in ws:
            ws.send(msg if isinstance(msg, bytes) else f"{ws.subprotocol}:{ws.request.path}:{msg}")

    with sync_server.serve(handler, "127.0.0.1", 0, subprotocols=["mqtt"]) as relay:
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        port = relay.socket.getsockname()[1]
        cert = tls.self_signed(tmp_path / "tls", ["localhost"])
        with StaticServer(site_dir, "127.0.0.1", 0, ssl_context=cert.ssl_context(),
                          ws_routes={"/relay/mqtt": ("127.0.0.1", port)}) as srv:
            ctx = ssl.create_default_context(cafile=str(cert.cert))  # verified: it is for localhost
            with connect(f"wss://localhost:{srv.port}/relay/mqtt", ssl=ctx, subprotocols=["mqtt"]) as ws:
                assert ws.subprotocol == "mqtt"
                ws.send("ping")
                assert ws.recv(timeout=5) == "mqtt:/:ping"
                blob = bytes(range(256)) * 400
                ws.send(blob)
                assert ws.recv(timeout=5) == blob
        relay.shutdown()
