"""Serve a dist/ folder with the headers the page needs, plus the dynamic /rakis-config.json.

COOP `same-origin` + COEP `require-corp` make the page cross-origin isolated (SharedArrayBuffer for
Pyodide interrupts and 2-thread onnxruntime); CORP lets those same-origin files load under COEP.
The stdlib server is enough: one user, a few tabs, files read once per tab.

Optionally (`rakis serve --tls`) it speaks https, and WebSocket upgrades on /relay/<name> are
passed to the local relays (ws_proxy.py), so the page, its relays and its one certificate share
one port."""

from __future__ import annotations

import errno
import functools
import json
import ssl
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import ws_proxy
from .ports import PortInUse, check_free

TLS_HANDSHAKE_TIMEOUT_S = 10.0

CONFIG_PATH = "/rakis-config.json"

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Python 3.11's mimetypes may not know .mjs, and .wasm must be application/wasm for streaming
# compilation; browsers refuse module scripts served with a non-JavaScript type.
MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


class DistHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    config_provider: Callable[[str | None], dict] | None = None
    # path -> (host, port) of the relay that takes WebSocket upgrades on it.
    ws_routes: dict[str, tuple[str, int]] = {}
    quiet = True

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == CONFIG_PATH and self.config_provider is not None:
            return self._send_config()
        if path in self.ws_routes:
            return self._proxy_websocket(*self.ws_routes[path])
        return super().do_GET()

    def _proxy_websocket(self, host: str, port: int) -> None:
        if not ws_proxy.is_upgrade(self.headers):
            return self.send_error(426, "WebSocket only", "this path is a relay: connect with a WebSocket")
        upstream = ws_proxy.open_upstream(host, port)
        if upstream is None:
            return self.send_error(502, "Relay down", f"the relay on {host}:{port} does not answer")
        query = self.path[len(self.path.split("?", 1)[0]):]
        self.close_connection = True  # the connection is the tunnel's from now on
        tunnels = self.server.tunnels
        tunnels.add(self.connection, upstream)
        try:
            upstream.sendall(ws_proxy.upgrade_request("/" + query, self.headers, host, port))
            ws_proxy.pump(self.connection, upstream)
        except OSError:
            pass
        finally:
            tunnels.discard(self.connection, upstream)
            upstream.close()

    def do_HEAD(self):
        if self.path.split("?", 1)[0] == CONFIG_PATH and self.config_provider is not None:
            return self._send_config(head=True)
        return super().do_HEAD()

    def _send_config(self, head: bool = False) -> None:
        body = json.dumps(self.config_provider(self.headers.get("Host")), indent=1).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def end_headers(self):
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        # Rebuilt dists must reach open tabs on reload, and the config changes with every serve run.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, *args, **kwargs):
        self.tunnels = ws_proxy.Tunnels()
        super().__init__(*args, **kwargs)

    def finish_request(self, request, client_address):
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        # The TLS handshake runs here, in the connection's own thread, not in accept(): a client
        # that connects and stalls must not hold up everybody else.
        request.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
        tls = self.ssl_context.wrap_socket(request, server_side=True)
        tls.settimeout(None)
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address):
        # Tabs drop connections they no longer need (a cancelled model fetch on close): not an error.
        pass


class StaticServer:
    """`dist` on http://host:port/ in a background thread; `port=0` picks a free port.

    ssl_context: serve https instead. ws_routes: path -> (host, port) of a relay that takes the
    WebSocket upgrades on that path (ws_proxy.py)."""

    def __init__(self, dist: Path, host: str = "127.0.0.1", port: int = 0,
                 config_provider: Callable[[str | None], dict] | None = None, quiet: bool = True,
                 ssl_context: ssl.SSLContext | None = None,
                 ws_routes: dict[str, tuple[str, int]] | None = None):
        self.dist, self.host, self.requested_port = Path(dist), host, port
        self.config_provider, self.quiet = config_provider, quiet
        self.ssl_context, self.ws_routes = ssl_context, dict(ws_routes or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        from .site_config import _url_host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}/"

    @property
    def open_tunnels(self) -> int:
        return len(self._server.tunnels) if self._server is not None else 0

    def start(self) -> "StaticServer":
        if not (self.dist / "index.html").is_file():
            raise FileNotFoundError(f"{self.dist} has no index.html: build it first (python build.py)")
        check_free(self.host, self.requested_port, "page server", "--port")
        handler = type("Handler", (DistHandler,), {
            "config_provider": staticmethod(self.config_provider) if self.config_provider else None,
            "quiet": self.quiet, "ws_routes": dict(self.ws_routes)})
        try:
            self._server = _Server((self.host, self.requested_port),
                                   functools.partial(handler, directory=str(self.dist)))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self.requested_port, "page server", "--port") from None
            raise
        self._server.ssl_context = self.ssl_context
        # A short poll interval: stop() returns in ~50 ms instead of up to 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="rakis-static", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.tunnels.close_all()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
