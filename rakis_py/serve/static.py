"""Serve a dist/ folder with the headers the page needs, plus the dynamic /rakis-config.json.

COOP `same-origin` + COEP `require-corp` make the page cross-origin isolated (SharedArrayBuffer for
Pyodide interrupts and 2-thread onnxruntime); CORP lets those same-origin files load under COEP.
The stdlib server is enough: one user, a few tabs, files read once per tab."""

from __future__ import annotations

import errno
import functools
import json
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .ports import PortInUse, check_free

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
    quiet = True

    def do_GET(self):
        if self.path.split("?", 1)[0] == CONFIG_PATH and self.config_provider is not None:
            return self._send_config()
        return super().do_GET()

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

    def handle_error(self, request, client_address):
        # Tabs drop connections they no longer need (a cancelled model fetch on close): not an error.
        pass


class StaticServer:
    """`dist` on http://host:port/ in a background thread; `port=0` picks a free port."""

    def __init__(self, dist: Path, host: str = "127.0.0.1", port: int = 0,
                 config_provider: Callable[[str | None], dict] | None = None, quiet: bool = True):
        self.dist, self.host, self.requested_port = Path(dist), host, port
        self.config_provider, self.quiet = config_provider, quiet
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        from .site_config import _url_host
        return f"http://{_url_host(self.host)}:{self.port}/"

    def start(self) -> "StaticServer":
        if not (self.dist / "index.html").is_file():
            raise FileNotFoundError(f"{self.dist} has no index.html: build it first (python build.py)")
        check_free(self.host, self.requested_port, "page server", "--port")
        handler = type("Handler", (DistHandler,), {
            "config_provider": staticmethod(self.config_provider) if self.config_provider else None,
            "quiet": self.quiet})
        try:
            self._server = _Server((self.host, self.requested_port),
                                   functools.partial(handler, directory=str(self.dist)))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self.requested_port, "page server", "--port") from None
            raise
        # A short poll interval: stop() returns in ~50 ms instead of up to 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="rakis-static", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
