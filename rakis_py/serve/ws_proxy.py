"""WebSocket upgrades on the page's own port, passed to the local relays on 127.0.0.1.

One port and one certificate for everything: a browser that accepted the page's self-signed
certificate once also reaches the relays as wss://<page host>/relay/<name>, and a LAN needs one
open port. The proxy does not speak WebSocket: it forwards the upgrade request (path rewritten,
Host set to the relay, every other header kept, Sec-WebSocket-Protocol included: mosquitto only
answers subprotocol "mqtt"), then copies bytes both ways until either side closes.

One thread per tunnel copies both directions with a selector: an SSLSocket must not be read and
written from two threads at once (OpenSSL objects are not thread-safe)."""

from __future__ import annotations

import selectors
import socket
import threading

RELAY_PATH_PREFIX = "/relay/"
CONNECT_TIMEOUT_S = 5.0
CHUNK = 65536
READ_TIMEOUT_S = 0.2


def relay_path(name: str) -> str:
    return RELAY_PATH_PREFIX + name


def is_upgrade(headers) -> bool:
    return (headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in headers.get("Connection", "").lower())


def upgrade_request(path: str, headers, host: str, port: int) -> bytes:
    """The client's upgrade request as the relay gets it: its path, Host rewritten, the rest kept."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Tunnels:
    """The open tunnels of one server, so stopping the server also ends them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def add(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def discard(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open) // 2

    def close_all(self) -> None:
        with self._lock:
            socks, self._open = list(self._open), set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the select() of the tunnel's thread
            except OSError:
                pass


def open_upstream(host: str, port: int) -> socket.socket | None:
    try:
        s = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError:
        return None
    s.settimeout(None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def pump(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until one side closes or fails. A selector says which side has data; a
    TLS socket may hold decrypted bytes it cannot see (pending()), and a readable TLS socket may
    hold only part of a record or a record without data (a key update): a short read timeout keeps
    that from stalling the other direction. Writes block (the peer is a browser or a local relay)."""
    with selectors.DefaultSelector() as sel:
        sel.register(client, selectors.EVENT_READ)
        sel.register(upstream, selectors.EVENT_READ)
        while True:
            ready = [s for s in (client, upstream) if getattr(s, "pending", lambda: 0)()]
            if not ready:
                try:
                    ready = [key.fileobj for key, _ in sel.select()]
                except (OSError, ValueError):
                    return
            for src in ready:
                dst = upstream if src is client else client
                try:
                    src.settimeout(READ_TIMEOUT_S)
                    try:
                        data = src.recv(CHUNK)
                    except socket.timeout:
                        continue
                    if not data:
                        return
                    dst.settimeout(None)
                    dst.sendall(data)
                except OSError:
                    return
