"""Two tabs in Debian chromium mesh over the local relays through web/js/transport (nostr and
mqtt), exchange envelopes on both channels, address one to a peer, and keep working when a relay
stops; a stopped Nostr relay that comes back is rejoined without a reload. Skips without chromium,
playwright, nostr-sdk, mosquitto or a built dist/vendor/trystero."""
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from rakis_py.serve.relays import LocalRelays, MosquittoRelay, NostrRelay
from rakis_py.serve.site_config import SiteConfig
from rakis_py.serve.static import StaticServer

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "dist" / "vendor" / "trystero"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--allow-loopback-in-peer-connection",
                 "--disable-features=WebRtcHideLocalIpsWithMdns"]
ID_A, ID_B = "a" * 64, "b" * 64
# Short watch periods so the rejoin path runs in seconds.
WATCH = {"checkMs": 250, "graceMs": 1500, "settleMs": 300, "backoffMs": 500}

pytestmark = pytest.mark.browser


def _prerequisites():
    for why in (NostrRelay.available(), MosquittoRelay.available()):
        if why:
            pytest.skip(why)
    if not (VENDOR / "nostr.mjs").exists() or not (VENDOR / "mqtt.mjs").exists():
        pytest.skip("dist/vendor/trystero not built (python build.py)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    return chromium, sync_api


@contextmanager
def transport_site(site: Path, topic: str, pw):
    """The test page beside web/js/transport and the built Trystero bundles, served with the local
    relays' config, and one chromium: yields (server url, browser)."""
    chromium, _ = _prerequisites()
    shutil.copyfile(Path(__file__).parent / "pages" / "transport.html", site / "index.html")
    shutil.copytree(ROOT / "web" / "js" / "transport", site / "js" / "transport")
    shutil.copytree(VENDOR, site / "vendor" / "trystero")
    relays = LocalRelays("127.0.0.1", mqtt=True).start()
    config = SiteConfig(topic=topic, relay_ports=relays.ports())
    server = StaticServer(site, "127.0.0.1", 0, config.to_json).start()
    browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
    try:
        yield server.url, browser, relays
    finally:
        browser.close()
        server.stop()
        relays.stop()


@pytest.fixture(scope="module")
def net(tmp_path_factory, request):
    with transport_site(tmp_path_factory.mktemp("site"), "transport-test",
                        request.getfixturevalue("playwright_session")) as (url, browser, relays):
        yield from _net(url, browser, relays)


def _net(url, browser, relays):
    context = browser.new_context(permissions=["camera", "microphone"])
    offsite = []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url)
                  else (offsite.append(r.request.url), r.abort()))
    try:
        yield {"relays": relays, "url": url, "context": context, "offsite": offsite}
    finally:
        context.close()


def _open(net, synthient_id):
    page = net["context"].new_page()
    page.goto(f"{net['url']}?id={synthient_id}&watch={json.dumps(WATCH)}")
    page.wait_for_function("window.ready === true", timeout=10000)
    return page


def _hellos(page):
    return page.evaluate("transport.peers().filter(p => p.synthientId).map(p => [p.channel, p.synthientId])")


def _send(page, n, to=None):
    env = {"synthientId": page.evaluate("new URLSearchParams(location.search).get('id')"),
           "signature": "0" * 128, "packet": {"type": "test", "n": n}}
    return page.evaluate("([e, to]) => transport.send(e, to)", [env, to])


def _wait_packets(page, n, channels, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = page.evaluate(f"log.packets.filter(p => p.envelope.packet.n === {n}).map(p => p.channel)")
        if set(channels) <= set(got):
            return got
        time.sleep(0.05)
    return got


@pytest.fixture(scope="module")
def tabs(net):
    t0 = time.monotonic()
    a, b = _open(net, ID_A), _open(net, ID_B)
    for page, other in ((a, ID_B), (b, ID_A)):
        page.wait_for_function(
            f"['nostr','mqtt'].every(c => transport.peers().some(p => p.channel === c && p.synthientId === '{other}'))",
            timeout=20000)
    mesh_s = time.monotonic() - t0
    print(f"\n2-tab mesh on nostr+mqtt: {mesh_s:.2f} s from first navigation; "
          f"first hello per channel (ms after page start): A {a.evaluate('meshAt')}, B {b.evaluate('meshAt')}")
    return a, b


def test_two_tabs_mesh_on_both_channels(net, tabs):
    a, b = tabs
    assert sorted(_hellos(a)) == [["mqtt", ID_B], ["nostr", ID_B]]
    assert sorted(_hellos(b)) == [["mqtt", ID_A], ["nostr", ID_A]]
    for page in tabs:
        health = {c["name"]: c for c in page.evaluate("transport.channels()")}
        assert set(health) == {"nostr", "mqtt"}
        assert all(h["state"] == "live" and h["relay"] == "open" and h["peers"] == 1 for h in health.values()), json.dumps(health)
    assert page.evaluate("transport.config")["relays"]["nostr"] == [net["relays"].relays["nostr"].url]
    assert net["offsite"] == []  # nothing left the machine (no public relays, no STUN)


def test_one_envelope_per_channel_both_ways(tabs):
    a, b = tabs
    result = _send(a, 1)
    assert result["nostr"]["peers"] == 1 and result["mqtt"]["peers"] == 1
    assert sorted(_wait_packets(b, 1, ["nostr", "mqtt"])) == ["mqtt", "nostr"]
    _send(b, 2)
    assert sorted(_wait_packets(a, 2, ["nostr", "mqtt"])) == ["mqtt", "nostr"]
    got = b.evaluate("log.packets.find(p => p.envelope.packet.n === 1)")
    assert got["envelope"]["packet"] == {"type": "test", "n": 1}
    assert got["from"] == ID_A and got["bytes"] > 100
    assert abs(got["receivedAt"] / 1000 - time.time()) < 30


def test_addressed_send_uses_target_peers(tabs):
    a, b = tabs
    result = _send(a, 3, [ID_B])
    assert result["nostr"]["addressed"] and result["mqtt"]["addressed"]
    assert sorted(_wait_packets(b, 3, ["nostr", "mqtt"])) == ["mqtt", "nostr"]
    # A synthientId nobody announced: broadcast (never silently dropped).
    assert not _send(a, 4, ["c" * 64])["nostr"]["addressed"]
    assert "nostr" in _wait_packets(b, 4, ["nostr"])


def test_stopping_mqtt_relay_leaves_nostr_working(net, tabs):
    a, b = tabs
    mqtt = net["relays"].relays["mqtt"]
    mqtt.stop()
    try:
        for page in tabs:
            page.wait_for_function(
                "transport.channels().find(c => c.name === 'mqtt').relay !== 'open'", timeout=10000)
        _send(a, 5)
        assert "nostr" in _wait_packets(b, 5, ["nostr"])
        nostr = next(c for c in a.evaluate("transport.channels()") if c["name"] == "nostr")
        assert nostr["state"] == "live" and nostr["relay"] == "open"
    finally:
        mqtt.start()
    # mqtt.js reconnects by itself once mosquitto is back.
    for page in tabs:
        page.wait_for_function(
            "transport.channels().find(c => c.name === 'mqtt').relay === 'open'", timeout=15000)


def test_nostr_relay_that_comes_back_is_rejoined(net, tabs):
    a, b = tabs
    nostr = net["relays"].relays["nostr"]
    nostr.stop()
    time.sleep(WATCH["graceMs"] / 1000 + 1)
    for page in tabs:
        assert next(c for c in page.evaluate("transport.channels()") if c["name"] == "nostr")["relay"] == "down"
    nostr.start()
    for page, other in ((a, ID_B), (b, ID_A)):
        page.wait_for_function(
            "(() => { const c = transport.channels().find(c => c.name === 'nostr');"
            f" return c.relay === 'open' && transport.peers().some(p => p.channel === 'nostr' && p.synthientId === '{other}'); }})()",
            timeout=20000)
    _send(a, 6)
    assert "nostr" in _wait_packets(b, 6, ["nostr"])
    print("\nnostr after the outage:", [{k: c[k] for k in ("rejoins", "generation", "lastError")}
                                      for p in tabs for c in p.evaluate("transport.channels()") if c["name"] == "nostr"])


def test_room_announcement_uses_the_kind_and_topic_serve_computes(net, tabs):
    """rakis_py.serve.trystero_names (used to refuse network names the relay would block) agrees
    with the real Trystero bundle: a tab joining announces on that kind with that #x topic."""
    connect = pytest.importorskip("websockets.sync.client", reason="websockets not installed").connect

    from rakis_py.serve.trystero_names import nostr_kind, root_topic, room_names
    topic = root_topic(*room_names("transport-test"))
    with connect(net["relays"].relays["nostr"].url) as ws:
        ws.send(json.dumps(["REQ", "watch", {"kinds": [nostr_kind(topic)], "#x": [topic],
                                             "since": int(time.time()) - 1}]))
        assert json.loads(ws.recv(timeout=5))[0] == "EOSE"
        c = _open(net, "c" * 64)
        try:
            msg = json.loads(ws.recv(timeout=10))
        finally:
            c.close()
    assert msg[0] == "EVENT" and msg[2]["kind"] == nostr_kind(topic)
    assert ["x", topic] in msg[2]["tags"]


def test_binary_from_a_peer_is_not_delivered(tabs):
    a, b = tabs
    before = b.evaluate("log.packets.length")
    # Straight through the room's packet action (transport.send only takes envelopes), as a hostile
    # peer would send it.
    a.evaluate("transport._channels.find(c => c.name === 'nostr').room.packets.send(new Uint8Array([1, 2, 3]))")
    b.wait_for_function("transport.channels().find(c => c.name === 'nostr').errors"
                        ".some(e => e.message.startsWith('dropped a non-JSON packet'))", timeout=5000)
    assert b.evaluate("log.packets.length") == before
