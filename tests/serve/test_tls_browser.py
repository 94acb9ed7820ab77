"""`rakis serve --tls` seen from "another machine": chromium reaches the page as https://lan.test
(a resolver rule maps it to 127.0.0.1, the way tests/browser/test_insecure_origin.py does; the
self-signed certificate is waved through with --ignore-certificate-errors, as a user accepts it
once). The page is then a secure context, and two bare transport pages mesh on nostr and mqtt
through the page port's relay proxy (wss://lan.test:<port>/relay/...), and the real node page
boots past its secure-context check to ready."""
import json
import shutil
from pathlib import Path

import pytest

from rakis_py.serve import tls
from rakis_py.serve.relays import LocalRelays
from rakis_py.serve.site_config import SiteConfig
from rakis_py.serve.static import StaticServer
from rakis_py.serve.ws_proxy import relay_path

from .test_transport_browser import CHROMIUM_ARGS, ROOT, VENDOR, _prerequisites

pytestmark = pytest.mark.browser

LAN_ARGS = ["--host-resolver-rules=MAP lan.test 127.0.0.1", "--ignore-certificate-errors"]
ID_A, ID_B = "a" * 64, "b" * 64


def _tls_server(dist: Path, cert, relays: LocalRelays | None, topic: str) -> StaticServer:
    ports = relays.ports() if relays else {}
    config = SiteConfig(topic=topic, relay_ports=ports, proxied=True, tls=True)
    server = StaticServer(dist, "127.0.0.1", 0, config.to_json, ssl_context=cert.ssl_context(),
                          ws_routes={relay_path(n): ("127.0.0.1", p) for n, p in ports.items()}).start()
    config.page_port = server.port
    return server


@pytest.fixture(scope="module")
def lan(tmp_path_factory, request):
    chromium, _ = _prerequisites()
    site = tmp_path_factory.mktemp("site")
    shutil.copyfile(Path(__file__).parent / "pages" / "transport.html", site / "index.html")
    shutil.copytree(ROOT / "web" / "js" / "transport", site / "js" / "transport")
    shutil.copytree(VENDOR, site / "vendor" / "trystero")
    cert = tls.self_signed(tmp_path_factory.mktemp("tls"), ["lan.test", "localhost", "127.0.0.1"])
    relays = LocalRelays("127.0.0.1", mqtt=True).start()
    server = _tls_server(site, cert, relays, "tls-test")
    pw = request.getfixturevalue("playwright_session")
    browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS + LAN_ARGS, headless=True)
    try:
        yield {"url": f"https://lan.test:{server.port}/", "browser": browser, "cert": cert,
               "server": server}
    finally:
        browser.close()
        server.stop()
        relays.stop()


def _context(lan, origin):
    # bypass_csp: wait_for_function evaluates with eval, which the node page's CSP refuses.
    context = lan["browser"].new_context(permissions=["camera", "microphone"], bypass_csp=True)
    offsite = []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(origin)
                  else (offsite.append(r.request.url), r.abort()))
    context.offsite = offsite
    return context


def test_two_transport_pages_mesh_over_the_tls_proxy(lan):
    context = _context(lan, lan["url"])
    try:
        pages = []
        for sid in (ID_A, ID_B):
            page = context.new_page()
            page.goto(f"{lan['url']}?id={sid}")
            page.wait_for_function("window.ready === true", timeout=15_000)
            pages.append(page)
        a, b = pages
        assert a.evaluate("[window.isSecureContext, !!crypto.subtle, location.protocol]") == [True, True, "https:"]
        port = lan["server"].port
        assert a.evaluate("transport.config.relays") == {
            "nostr": [f"wss://lan.test:{port}/relay/nostr"], "mqtt": [f"wss://lan.test:{port}/relay/mqtt"]}
        for page, other in ((a, ID_B), (b, ID_A)):
            page.wait_for_function(
                f"['nostr','mqtt'].every(c => transport.peers().some(p => p.channel === c && p.synthientId === '{other}'))",
                timeout=30_000)
        health = {c["name"]: c for c in b.evaluate("transport.channels()")}
        assert all(h["state"] == "live" and h["relay"] == "open" for h in health.values()), json.dumps(health)
        # Four tunnels (two tabs x two relays), all on the page's one port.
        assert lan["server"].open_tunnels >= 4
        a.evaluate("transport.send({synthientId: 'a'.repeat(64), signature: '0'.repeat(128), packet: {type: 'test', n: 1}})")
        b.wait_for_function("['nostr','mqtt'].every(c => log.packets.some(p => p.channel === c && p.envelope.packet.n === 1))",
                            timeout=10_000)
        assert context.offsite == []
    finally:
        context.close()


def test_node_page_boots_in_a_secure_context_over_tls(lan, tmp_path):
    """The real page (dist/) at https://lan.test: past the secure-context check (which stops it
    over plain http, test_insecure_origin.py), the identity unlocked with WebCrypto, ready."""
    from tests.browser.conftest import _dist_problem
    from tests.browser.test_node_page import unlock, wait_ready
    dist = ROOT / "dist"
    problem = _dist_problem(dist)
    if problem:
        pytest.skip(problem)
    server = _tls_server(dist, lan["cert"], None, "tls-node")
    url = f"https://lan.test:{server.port}/"
    context = _context(lan, url)
    try:
        page = context.new_page()
        page.goto(url + "index.html?channels=none&llmWorkers=0&embeddingWorkers=0")
        assert page.evaluate("[window.isSecureContext, window.crossOriginIsolated]") == [True, True]
        unlock(page, "correct horse")
        wait_ready(page)
        assert len(page.evaluate("window.rakis.status()")["synthientId"]) == 64
        assert context.offsite == []
    finally:
        context.close()
        server.stop()
