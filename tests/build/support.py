"""Test support for the build tests: serve a dist folder on 127.0.0.1 with the COOP/COEP headers the
page needs (SharedArrayBuffer), and launch Debian's chromium through Playwright."""
import functools
import shutil
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


BLANK_PAGE = "/__blank__.html"


class IsolatedHandler(SimpleHTTPRequestHandler):
    """Static files with cross-origin isolation headers, quiet logs."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def do_GET(self):
        # An empty page of the site's origin, so tests can drive Pyodide and the workers without
        # booting the real UI (web/index.html) alongside.
        if self.path == BLANK_PAGE:
            body = b"<!doctype html><meta charset=utf-8><title>blank</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Browsers drop connections they no longer need (a model fetch cancelled at page close).
        pass


@contextmanager
def serve(directory: Path):
    """Yield the base URL of `directory` served on a free port of 127.0.0.1."""
    handler = functools.partial(IsolatedHandler, directory=str(directory))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_launcher(request):
    """launch(extra_args=()) -> a headless Debian chromium from the run's one Playwright driver
    (tests/conftest.py). Skips the requesting fixture's tests, with the reason, without chromium."""
    path = chromium_path()
    if path is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    pw = request.getfixturevalue("playwright_session")
    return lambda extra_args=(): pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS + list(extra_args),
                                                    headless=True)
