"""Shared plumbing of the browser figures: dist/ built and served on 127.0.0.1 (COOP/COEP, the
/rakis-config.json of the local relays), Debian's chromium through Playwright, and contexts that
abort every request not addressed to the local server.

Pages the bench needs besides the site (a blank page for the workers, the transport page) live in a
temporary folder next to symlinks to everything in dist/, so dist/ stays untouched and the pages
are real same-origin documents (Chromium blocks a routed, fulfilled page from reaching the local
relays: Local Network Access)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .machine import chromium_path
from .runner import Context, Unavailable

# Headless as root (hence --no-sandbox), no background traffic; WebRTC between tabs on loopback.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--allow-loopback-in-peer-connection",
                 "--disable-features=WebRtcHideLocalIpsWithMdns",
                 # Tabs behind others must keep their timers and workers at full speed.
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
BLANK = "__bench_blank__.html"
# File name -> html of the bench's own pages; modules add theirs at import (the site is made once).
PAGES = {BLANK: "<!doctype html><meta charset=utf-8><title>bench</title>"}


def ensure_dist(ctx: Context) -> Path:
    """dist/ built by build.py (a no-op when up to date); raises Unavailable when the build fails."""
    if "dist" not in ctx.cache:
        dist = ctx.root / "dist"
        ctx.log("[bench] python build.py (no-op when dist/ is up to date)")
        r = subprocess.run([sys.executable, str(ctx.root / "build.py"), "-q"], cwd=ctx.root,
                           capture_output=True, text=True)
        if r.returncode != 0 or not (dist / "index.html").exists():
            ctx.cache["dist"] = Unavailable(f"build.py failed: {(r.stderr or r.stdout).strip()[-300:]}")
        else:
            ctx.cache["dist"] = dist
    if isinstance(ctx.cache["dist"], Exception):
        raise ctx.cache["dist"]
    return ctx.cache["dist"]


@dataclass
class Session:
    """One static server, the local relays and one chromium for the whole bench run."""
    dist: Path
    topic: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    pages: dict[str, str] = field(default_factory=dict)   # file name -> html, served beside dist/

    def start(self, ctx: Context) -> "Session":
        from rakis_py.serve.relays import LocalRelays, NostrRelay
        from rakis_py.serve.site_config import SiteConfig
        from rakis_py.serve.static import StaticServer
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise Unavailable("playwright is not installed (requirements/test.txt)") from None
        path = chromium_path()
        if path is None:
            raise Unavailable("chromium is not installed (apt-get install -y chromium)")
        self.relays = self._pw = self.browser = self.server = self._site = None
        try:
            self._start(path, LocalRelays, NostrRelay, SiteConfig, StaticServer, sync_playwright)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, path, LocalRelays, NostrRelay, SiteConfig, StaticServer, sync_playwright) -> None:
        if NostrRelay.available() is None:
            self.relays = LocalRelays("127.0.0.1").start()
        self._site = tempfile.TemporaryDirectory(prefix="rakis-bench-site-")
        site = Path(self._site.name)
        for entry in self.dist.iterdir():
            (site / entry.name).symlink_to(entry.resolve())
        for name, html in self.pages.items():
            (site / name).write_text(html, encoding="utf-8")
        self.config = SiteConfig(topic=self.topic, relay_ports=self.relays.ports() if self.relays else {})
        self.server = StaticServer(site, "127.0.0.1", 0, lambda host: self.config.to_json(host)).start()
        self.url = self.server.url
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)

    def channels(self) -> list[str]:
        return sorted(self.config.relay_ports)

    def new_context(self, **kw):
        """A fresh profile; requests off 127.0.0.1 are aborted and listed in context.offsite."""
        # bypass_csp: wait_for_function evaluates with eval, which the page's CSP refuses.
        kw.setdefault("bypass_csp", True)
        context = self.browser.new_context(permissions=["camera", "microphone"], **kw)
        context.offsite = []

        def route(r):
            url = r.request.url
            if not url.startswith(self.url):
                context.offsite.append(url)
                return r.abort()
            return r.continue_()

        context.route("**/*", route)

        # WebSockets bypass context.route: refuse any that is not to this machine's relays (the
        # local ones are left unrouted, so Playwright does not proxy their traffic).
        def refuse(ws):
            context.offsite.append(ws.url)
            ws.close()

        context.route_web_socket(re.compile(r"^(?!wss?://127\.0\.0\.1[:/]).*"), refuse)
        return context

    def stop(self) -> None:
        for obj, method in ((self.browser, "close"), (self._pw, "stop"), (self.server, "stop"),
                            (self.relays, "stop"), (self._site, "cleanup")):
            try:
                if obj is not None:
                    getattr(obj, method)()
            except Exception:
                pass


def session(ctx: Context) -> Session:
    """The run's shared Session (started on first use; cli.py stops it at the end)."""
    if "session" not in ctx.cache:
        try:
            ctx.cache["session"] = Session(ensure_dist(ctx), pages=dict(PAGES)).start(ctx)
        except Exception as e:
            ctx.cache["session"] = e if isinstance(e, Unavailable) else Unavailable(f"{type(e).__name__}: {e}")
    s = ctx.cache["session"]
    if isinstance(s, Exception):
        raise s
    return s


def stop_session(ctx: Context) -> None:
    s = ctx.cache.pop("session", None)
    if isinstance(s, Session):
        s.stop()
