"""Several browser tabs form one Rakis network over the local relays (nostr and mqtt) and agree.

Four tabs (each its own node, with the real LLM and embedding workers) are loaded once for the
module and reused, in this order: a quorum-3 request from one tab ends with the identical consensus
on every tab; a hostile peer's malformed, oversized, forged, replayed and mismatched packets are
refused with their reasons and do not change the result; the MQTT relay stops mid-run; a tab is
closed after committing; one of the three left is reloaded mid-quorum (quorum 2)."""
import os
import time

import pytest

from rakis_py.protocol.identity import Identity
from tests.network.conftest import dump, links, submit, wait_final, wait_mesh
from tests.network.hostile import HostilePeer, now_ms

pytestmark = pytest.mark.browser

N_TABS = 4
PROMPT = "What is the capital of France?"
# Small outputs, generous windows: four tabs' models share two cores.
REQUEST = dict(quorum=3, agreement=50, maxTokens=12, temperature=0)
NOISE = ("duplicate", "own_echo")     # not hostile: extra copies over a second channel


@pytest.fixture(scope="module")
def tabs(network):
    tabs, timing = network.open_nodes(N_TABS)
    print("\n" + timing)
    return tabs


def outcome(tab, rid):
    """What must be identical everywhere: status, winning output and hash, accepted set."""
    view = tab.request(rid)
    c = view and view.get("consensus")
    assert c, f"{tab.name} computed no consensus: {dump(view)}"
    p = c.get("computedQuorumPacket") or {}
    win = p.get("validSingleInference") or {}
    return {"status": view["status"], "success": c["success"], "reason": c["reason"],
            "output": win.get("output"), "winner": win.get("bEmbeddingHash"),
            "from": win.get("fromSynthientId"),
            "accepted": sorted(x["inferenceId"] for x in p.get("validInferences", [])),
            "commitSetHash": c.get("commitSetHash")}


def run_to_consensus(tabs, requester, time_ms, label, during=None, quorum=REQUEST["quorum"]):
    """Submit from `requester`, optionally act mid-run (during(rid) -> the tabs to wait for),
    wait until every tab is final. Returns (request id, outcome per tab, seconds from the
    deadline to the last tab's result)."""
    rid = submit(requester, prompt=PROMPT, timeMs=time_ms, **{**REQUEST, "quorum": quorum})
    if during:
        tabs = during(rid) or tabs
    views = {t.name: wait_final(t, rid, timeout_s=time_ms / 1000 + 120) for t in tabs}
    for name, v in views.items():
        assert v and v["status"] in ("completed", "failed"), f"{name} not final: {dump(v)}"
    ending_at = views[requester.name]["endingAt"]
    done_at = [v["consensus"]["computedAt"] for v in views.values()]
    lag = (max(done_at) - ending_at) / 1000
    traffic = [t.js("id => window.rakis.network().traffic.byRequest[id] ?? {packets: 0, bytes: 0}", rid)
               for t in tabs]
    print(f"\n[{label}] request {rid}: deadline -> result on the last of {len(tabs)} tabs {lag:.1f} s "
          f"(first {(min(done_at) - ending_at) / 1000:.1f} s); packets sent by these tabs "
          f"{sum(x['packets'] for x in traffic)}, {sum(x['bytes'] for x in traffic)} bytes (each packet once)")
    return rid, {t.name: outcome(t, rid) for t in tabs}, lag


def assert_same(outcomes, quorum=REQUEST["quorum"]):
    first = next(iter(outcomes.values()))
    assert first["success"] is True and first["status"] == "completed", dump(outcomes)
    assert first["output"] and len(first["accepted"]) >= quorum, dump(outcomes)
    for name, o in outcomes.items():
        assert o == first, f"{name} differs:\n{dump(outcomes)}"


def hostile_rejections(tab):
    return [r for r in tab.js("window.rakis.rejected()") if r["code"] not in NOISE]


def test_four_tabs_agree_on_one_result(network, tabs):
    rid, outcomes, lag = run_to_consensus(tabs, tabs[0], 40_000, "4 tabs")
    assert_same(outcomes)
    assert lag < 40, "consensus took longer than the v2 windows allow"
    # Every tab committed and revealed, and every tab holds the four commits.
    for tab in tabs:
        commits = tab.js("id => window.rakis.commits(id)", rid)
        assert {c["synthientId"] for c in commits} == {t.synthient_id for t in tabs}, dump(commits)
        assert sum(c["revealed"] for c in commits) >= REQUEST["quorum"], dump(commits)
    view = tabs[0].request(rid)
    assert view["committed"] == N_TABS and view["revealed"] >= REQUEST["quorum"], dump(view)
    # Peers: every tab knows the three others (every channel they were seen on) and has open
    # links to them on both channels.
    for tab in tabs:
        peers = {p["synthientId"]: p for p in tab.js("window.rakis.peers()")}
        for other in tabs:
            if other is not tab:
                assert other.synthient_id in peers, f"{tab.name} does not know {other.name}"
                # Every packet goes out on both channels: each peer was seen on both.
                assert sorted(peers[other.synthient_id]["seenOn"]) == ["mqtt", "nostr"], dump(peers)
        channels = {c["name"]: c for c in tab.js("window.rakis.network().channels")}
        assert all(channels[c]["state"] == "live" and channels[c]["relay"] == "open"
                   for c in ("nostr", "mqtt")), dump(channels)
        assert hostile_rejections(tab) == []
    # The page shows it: peers list, channel health, commits/reveals and agreement per request.
    page = tabs[1].page
    page.wait_for_function("document.querySelectorAll('#peers tr').length === 3", timeout=10_000)
    assert page.locator('#channels tr[data-channel="nostr"] .state').inner_text() == "live"
    counts = page.locator(f'[data-request-id="{rid}"] .counts')
    counts.wait_for()
    page.wait_for_function(f"document.querySelector('[data-request-id=\"{rid}\"] .counts')"
                           ".textContent.includes('commits 4')", timeout=10_000)
    assert "agree" in counts.inner_text()
    # The packets browser searches the stored packets table (IndexedDB), not just recent rows.
    page.evaluate("window.rakis.flushed()")
    page.fill("#packets-filter", rid)
    page.wait_for_function("/\\d+ stored packets? match/.test(document.getElementById('packets-found').textContent)")
    found = int(page.inner_text("#packets-found").split()[0])
    rows = page.locator("#packets tr")
    assert found >= 3 and rows.count() == min(found, 200)       # at least the other tabs' commits
    assert all(rid in rows.nth(i).inner_text() for i in range(rows.count()))
    page.fill("#packets-filter", "no-such-packet")
    page.wait_for_function("document.getElementById('packets-found').textContent.startsWith('0 stored')")
    assert rows.count() == 0
    page.fill("#packets-filter", "")
    page.wait_for_function("document.querySelectorAll('#packets tr').length > 0")
    assert network.offsite == []


def test_hostile_peer_is_refused_and_excluded(network, tabs):
    evil = HostilePeer(network)
    try:
        print(f"\nhostile page linked to the {N_TABS} tabs in {evil.wait_linked(tabs):.1f} s")
        # A bystander's id (not a tab: a tab would count a packet in its own name as its echo).
        victim = Identity.generate(os.urandom(32)).synthient_id
        # Malformed: not an envelope at all.
        evil.send_raw({"synthientId": evil.id, "packet": "not a packet"})
        # Oversized: a well-signed request whose prompt is over the text limit.
        frame = {"quorum": 1, "maxTimeMs": 30000, "secDistance": 100, "secPercentage": 0.5,
                 "embeddingModel": "x"}
        from rakis_py.protocol import builders
        from rakis_py.protocol.timefmt import format_js_date
        evil.send(builders.p2p_inference_request("hugehugehu", "x" * 100_000, ["m"], frame,
                                                 format_js_date(now_ms())))
        # Forged: signed by us, claiming to be someone else.
        forged = evil.identity.envelope(evil.status())
        evil.send_raw({**forged, "synthientId": victim})
        # Replayed: an old packet (outside the replay window), and a valid one sent twice.
        evil.send(evil.status(now_ms() - 30 * 60_000))
        valid = evil.send(evil.status())
        evil.send_raw(valid)
        wanted = {"bad_envelope", "too_large", "bad_signature", "replay"}
        for tab in tabs:
            try:
                tab.page.wait_for_function(
                    "w => w.every(c => window.rakis.rejected().some(r => r.code === c))",
                    arg=sorted(wanted), timeout=20_000)
            except Exception:
                raise AssertionError(f"{tab.name} rejected only {dump(hostile_rejections(tab))}") from None

        # A real request: the hostile peer commits, then reveals something else.
        def act(rid):
            evil.wait_packet("p2pInferenceRequest", rid)
            evil.commit(rid)
            ask = evil.wait_packet("inferenceRevealRequest", rid, timeout_s=90)
            listed = any(e["synthientId"] == evil.id for e in ask["quorum"])
            print(f"\nhostile commit in the reveal request's set: {listed}")
            evil.mismatched_reveal(rid, tabs[0].synthient_id)
            return tabs

        rid, outcomes, _ = run_to_consensus(tabs, tabs[0], 30_000, "hostile", act)
        assert_same(outcomes)
        first = next(iter(outcomes.values()))
        assert evil.inference_id not in first["accepted"] and first["from"] != evil.id
        for tab in tabs:
            codes = {r["code"] for r in hostile_rejections(tab)}
            assert wanted | {"mismatch"} <= codes, dump(hostile_rejections(tab))
            mismatch = [r for r in hostile_rejections(tab) if r["code"] == "mismatch"]
            assert mismatch[0]["synthientId"] == evil.id and mismatch[0]["detail"], dump(mismatch)
            commits = tab.js("id => window.rakis.commits(id)", rid)
            mine = [c for c in commits if c["synthientId"] == evil.id]
            assert mine and not mine[0]["revealed"], dump(commits)
            # Only the hostile peer was refused: every rejection names it (or no sender at all).
            assert {r["synthientId"] for r in hostile_rejections(tab)} <= {evil.id, victim, None}
        # The reason is in the page's log.
        log = tabs[2].page.locator("#logs").inner_text()
        assert "mismatch" in log and "bad_signature" in log
        # The one valid status packet was accepted: the hostile peer is a known (if useless) peer.
        assert evil.id in {p["synthientId"] for p in tabs[1].js("window.rakis.peers()")}
    finally:
        evil.close()


def test_consensus_survives_the_mqtt_relay_stopping(network, tabs):
    mqtt = network.relays.relays["mqtt"]
    before = {t.name: {c["name"]: c["received"] for c in t.js("window.rakis.network().channels")} for t in tabs}

    def stop(rid):
        mqtt.stop()
        for tab in tabs:
            tab.page.wait_for_function(
                "window.rakis.network().channels.find(c => c.name === 'mqtt').relay !== 'open'", timeout=20_000)
        return tabs

    try:
        rid, outcomes, _ = run_to_consensus(tabs, tabs[1], 30_000, "mqtt relay stopped", stop)
        assert_same(outcomes)
        for tab in tabs:
            nostr = next(c for c in tab.js("window.rakis.network().channels") if c["name"] == "nostr")
            assert nostr["state"] == "live" and nostr["received"] > before[tab.name]["nostr"]
        # The page says the mqtt relay is down and that the node goes on without it.
        assert "channel mqtt" in tabs[2].page.locator("#logs").inner_text()
        assert tabs[2].page.locator('#channels tr[data-channel="mqtt"]').inner_text().count("open") == 0
    finally:
        mqtt.start()
    for tab in tabs:
        tab.page.wait_for_function(
            "window.rakis.network().channels.find(c => c.name === 'mqtt').relay === 'open'", timeout=60_000)


def test_tab_closed_after_commit_before_reveal(network, tabs):
    gone = tabs[3]
    left = tabs[:3]
    info = {}

    def close_after_commit(rid):
        gone.page.wait_for_function(
            "id => (window.rakis.network().traffic.byRequest[id]?.packets ?? 0) >= 1", arg=rid, timeout=120_000)
        mine = [c for c in gone.js("id => window.rakis.commits(id)", rid) if c["synthientId"] == gone.synthient_id]
        assert mine, "the tab to close has not committed"
        info["inference"] = mine[0]["inferenceId"]
        network.close_tab(gone)
        tabs.remove(gone)
        return left

    rid, outcomes, _ = run_to_consensus(left, tabs[0], 40_000, "tab closed", close_after_commit)
    first = next(iter(outcomes.values()))
    for name, o in outcomes.items():
        assert o == first, f"{name} differs:\n{dump(outcomes)}"
    for tab in left:
        commits = {c["inferenceId"]: c for c in tab.js("id => window.rakis.commits(id)", rid)}
        assert info["inference"] in commits and not commits[info["inference"]]["revealed"]
        view = tab.request(rid)
        if first["success"]:
            # Three reveals of four commits still make the quorum of 3: the closed tab is left out.
            assert info["inference"] not in first["accepted"] and len(first["accepted"]) >= 3
        else:
            # Otherwise the failure says why (the security frame's quorum was not met).
            assert view["failure"] and first["reason"], dump(view)
    print(f"\nclosed tab: {first['status']} ({first['reason'] or 'success'}), accepted {len(first['accepted'])}")


def test_reloaded_tab_resumes_and_agrees(network, tabs):
    # Last in the module (after a tab was closed: three tabs, quorum 2).
    reloaded = tabs[-1]
    info = {}

    def reload_after_commit(rid):
        reloaded.page.wait_for_function(
            "id => (window.rakis.network().traffic.byRequest[id]?.packets ?? 0) >= 1", arg=rid, timeout=120_000)
        reloaded.js("window.rakis.flushed()")
        reloaded.page.reload()
        t0 = time.monotonic()
        network.unlock(reloaded)
        reloaded.page.wait_for_function("document.body.dataset.ready", timeout=120_000)
        assert reloaded.js("window.rakis.status().restored") is True
        # The tabs have been up for minutes: the reloaded one is a newcomer to old Trystero rooms
        # (build_support/trystero_patches.py) and must get its links back on both channels.
        wait_mesh(tabs, timeout_s=60)
        info["relinked_s"] = time.monotonic() - t0
        return tabs

    rid, outcomes, _ = run_to_consensus(tabs, tabs[0], 40_000, "tab reloaded", reload_after_commit, quorum=2)
    assert_same(outcomes, quorum=2)
    print(f"\nreloaded tab re-linked to every tab on nostr+mqtt {info['relinked_s']:.1f} s after the reload: {links(reloaded)}")
