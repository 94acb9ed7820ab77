"""Fixtures of the network tests: the built page (dist/) served by rakis_py.serve's StaticServer with
the local relays (a Nostr relay and mosquitto) on 127.0.0.1, one Debian chromium, and tabs that are
each their own node (one browser context per tab: the identity lives in localStorage, and one
identity may run in only one tab). Every request to another host is aborted and recorded.

Skips, with the reason, when dist (or a fresh one), chromium, playwright, nostr-sdk or mosquitto is
missing."""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser.conftest import _dist_problem
from tests.build.support import chromium_path

ROOT = Path(__file__).resolve().parents[2]
OFFSITE_SOCKET = re.compile(r"^wss?://(?!127\.0\.0\.1[:/])")
BOOT_MS = 240_000          # Pyodide + rakis_py + both models, several tabs sharing 2 cores
PASSWORD = "network test"
# WebRTC between tabs of one machine: loopback candidates, no mDNS names, no background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--allow-loopback-in-peer-connection",
                 "--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks",
                 # Background tabs must keep their timers and workers running at full speed.
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]


def _prerequisites():
    from rakis_py.serve.relays import MosquittoRelay, NostrRelay
    dist = Path(os.environ.get("RAKIS_DIST", ROOT / "dist"))
    problem = _dist_problem(dist)
    if problem:
        pytest.skip(problem)
    if not (dist / "vendor" / "trystero" / "nostr.mjs").exists():
        pytest.skip(f"{dist}/vendor/trystero not built (python build.py)")
    for why in (NostrRelay.available(), MosquittoRelay.available()):
        if why:
            pytest.skip(why)
    path = chromium_path()
    if path is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    return dist, path, sync_api


@dataclass
class Tab:
    name: str
    context: object
    page: object
    synthient_id: str = ""

    def js(self, expr, arg=None):
        return self.page.evaluate(expr, arg) if arg is not None else self.page.evaluate(expr)

    def request(self, rid):
        return self.js("id => window.rakis.request(id)", rid)


@dataclass
class Network:
    relays: object
    server: object
    browser: object
    topic: str
    offsite: list = field(default_factory=list)
    tabs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + "index.html"

    def open_tab(self, name: str, query: str = "") -> Tab:
        """A new node: its own browser profile, the page, a fresh identity. Does not wait for boot."""
        # bypass_csp: wait_for_function evaluates with eval, which the page's CSP refuses.
        context = self.browser.new_context(bypass_csp=True)
        self.guard(context)
        page = context.new_page()
        page.on("console", lambda m: m.type in ("error", "warning") and print(f"[{name}] console.{m.type}: {m.text[:300]}"))
        page.goto(self.url + (f"?{query}" if query else ""))
        tab = Tab(name, context, page)
        self.unlock(tab)
        self.tabs.append(tab)
        return tab

    def guard(self, context, pages: dict | None = None) -> None:
        """Only the local server and relays: other HTTP requests are refused, and they and
        WebSockets to other hosts are recorded in `offsite`. `pages`: path -> HTML served from memory (test pages)."""
        base = self.server.url

        def route(r):
            path = r.request.url.split("?")[0][len(base):] if r.request.url.startswith(base) else None
            if pages and path in pages:
                r.fulfill(status=200, content_type="text/html", body=pages[path])
            elif path is not None:
                r.continue_()
            else:
                self.offsite.append(r.request.url)
                r.abort()

        def watch_sockets(page):
            page.on("websocket", lambda ws: OFFSITE_SOCKET.match(ws.url) and self.offsite.append(ws.url))

        context.route("**/*", route)
        # WebSockets are only recorded (the tests assert none went elsewhere): routing them through
        # Playwright (route_web_socket with a Python predicate) stalls the relays' traffic whenever
        # the test thread is not pumping events, which breaks signalling.
        context.on("page", watch_sockets)

    @staticmethod
    def unlock(tab: Tab) -> None:
        tab.page.wait_for_function("typeof window.rakis?.unlock === 'function' && "
                                   "!String(window.rakis.unlock).includes('still starting')", timeout=60_000)
        tab.page.evaluate("pw => window.rakis.unlock(pw)", PASSWORD)

    @staticmethod
    def wait_booted(tab: Tab) -> None:
        """Node ready and both model workers loaded."""
        tab.page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
        assert tab.js("document.body.dataset.ready") == "true", tab.page.inner_text("#errors")
        tab.page.wait_for_function("window.rakis.status().workers.length === 2 && "
                                   "window.rakis.status().workers.every(w => w.state === 'ready')",
                                   timeout=BOOT_MS)
        tab.synthient_id = tab.js("window.rakis.status().synthientId")

    def open_nodes(self, n: int) -> tuple[list, str]:
        """n node tabs, each up with its identity, linked to every other on both channels and with
        both model workers ready. Returns (tabs, timing line); a missing link is an error that says
        who lacks whom."""
        t0 = time.monotonic()
        tabs = [self.open_tab(f"tab{i}") for i in range(n)]
        for tab in tabs:
            tab.page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
            tab.synthient_id = tab.js("window.rakis.status().synthientId")
        nodes = time.monotonic() - t0
        try:
            wait_mesh(tabs, every=False)      # what the protocol needs: every pair on some channel
        except Exception:
            raise AssertionError("some pair of tabs not linked on any channel within 120 s: "
                                 + "; ".join(f"{t.name} {t.synthient_id[:8]} {links(t)} {channel_health(t)}"
                                             for t in tabs)) from None
        linked = time.monotonic() - t0
        try:
            # What the redundant channels promise: both. A pair whose handshake timed out (Trystero,
            # 10 s) is retried only at the next announce, 60 s apart: two rounds.
            wait_mesh(tabs, timeout_s=150)
        except Exception:
            raise AssertionError("no full mesh on nostr+mqtt within 150 s: "
                                 + "; ".join(f"{t.name} {links(t)}" for t in tabs)) from None
        both = time.monotonic() - t0
        for tab in tabs:
            self.wait_booted(tab)
        return tabs, (f"{n} tabs: nodes up {nodes:.1f} s, every pair linked {linked:.1f} s, full mesh on "
                      f"nostr+mqtt {both:.1f} s, models ready {time.monotonic() - t0:.1f} s after the first navigation")

    def close_tab(self, tab: Tab) -> None:
        self.tabs.remove(tab)
        tab.context.close()


def wait_mesh(tabs, channels=("nostr", "mqtt"), timeout_s=120, every=True) -> float:
    """Every tab has a link to every other (the others' hello arrived) on each of `channels`
    (every=True) or on at least one of them (every=False); seconds taken."""
    t0 = time.monotonic()
    for tab in tabs:
        others = [t.synthient_id for t in tabs if t is not tab]
        tab.page.wait_for_function(
            "([others, channels, every]) => { const l = window.rakis.network().links;"
            " const on = (c, o) => l.some(x => x.channel === c && x.synthientId === o);"
            " return others.every(o => every ? channels.every(c => on(c, o)) : channels.some(c => on(c, o))); }",
            arg=[others, list(channels), every], timeout=timeout_s * 1000)
    return time.monotonic() - t0


def channel_health(tab) -> list:
    return tab.js("window.rakis.network().channels.map(c => [c.name, c.state, c.relay, c.peers, c.errors, c.lastError])")


def links(tab) -> list:
    return sorted((x["channel"], (x["synthientId"] or "-")[:8]) for x in tab.js("window.rakis.network().links"))


def wait_final(tab: Tab, rid: str, timeout_s: float = 150):
    """Poll window.rakis.request until the request is final on this tab."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = tab.request(rid)
        if view and view["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return view
        tab.page.wait_for_timeout(500)


def consensus_event(tab: Tab, rid: str):
    events = [e for e in tab.js("window.rakis.consensusEvents()") if e["requestId"] == rid]
    return events[-1] if events else None


def submit(tab: Tab, **opts) -> str:
    return tab.js("o => window.rakis.submit(o)", opts)


@pytest.fixture(scope="module")
def network(request):
    """Local relays + the page + one chromium for a test module; tabs are closed at the end."""
    dist, path, _ = _prerequisites()
    from rakis_py.serve.relays import LocalRelays
    from rakis_py.serve.site_config import SiteConfig
    from rakis_py.serve.static import StaticServer

    relays = LocalRelays("127.0.0.1", mqtt=True).start()
    # A network name of its own per run (a leftover tab of another run cannot join it).
    topic = f"rakis-test-{secrets.token_hex(4)}"
    config = SiteConfig(topic=topic, relay_ports=relays.ports())
    server = StaticServer(dist, "127.0.0.1", 0, config.to_json).start()
    pw = request.getfixturevalue("playwright_session")   # one driver per run (tests/conftest.py)
    browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
    net = Network(relays, server, browser, topic)
    try:
        yield net
    finally:
        for tab in list(net.tabs):
            try:
                tab.context.close()
            except Exception:  # noqa: BLE001 - already closed by the test
                pass
        browser.close()
        server.stop()
        relays.stop()


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]
