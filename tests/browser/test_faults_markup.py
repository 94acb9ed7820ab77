"""A peer's prompt or output containing markup renders as text everywhere in the page: the request
list (prompt, timeline, failure), the published result, the peers table, the packets list, the log
and the analytics section. The page runs with its CSP bypassed (conftest's fresh_context), so what
is checked here is the rendering itself: no element is made from peer text and the text shows."""
import time

import pytest

from rakis_py.protocol import builders
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.timefmt import format_js_date

pytestmark = pytest.mark.browser

BOOT_MS = 180_000
PASSWORD = "markup as text"


def markup(tag: str) -> str:
    """Markup that would make elements with ids `xss-<tag>-*` and run handlers if parsed (under
    200 characters: the core's request emit carries the first 200 of a prompt)."""
    return (f"<img id=xss-{tag}-i src=x onerror=window.__xss='{tag}'><b id=xss-{tag}-b>b</b>"
            f"<script id=xss-{tag}-s>window.__xss='{tag}'</script><svg id=xss-{tag}-v onload=window.__xss='{tag}'>")


MINE, THEIRS, OUTPUT, MY_OUTPUT, BAD = (markup(t) for t in ("mine", "theirs", "output", "myout", "bad"))
assert len(MINE) < 200

DISPATCH = """async (envs) => {
  for (const env of envs) {
    await window.rakis.debug.bridge.dispatch({ type: "packet", data: env, channel: "nostr",
                                               size: JSON.stringify(env).length, receivedAt: Date.now() });
  }
}"""

INJECTED = """() => ({
  xss: window.__xss ?? null,
  elements: [...document.querySelectorAll('[id^="xss-"]')].map((e) => e.id),
  text: document.body.innerText,
  requests: document.getElementById("requests").textContent,
})"""


def wait(page, js, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"timed out waiting for {js}"
        page.wait_for_timeout(500)


def test_peer_markup_renders_as_text(fresh_context, node_url):
    page = fresh_context.new_page()
    page.goto(node_url + "?llmWorkers=0&embeddingWorkers=0")
    page.fill("#identity-password", PASSWORD)
    page.click("#identity-submit")
    page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#errors")
    me = page.evaluate("window.rakis.status().synthientId")

    # Submitted here (no workers: it fails for lack of commits, with its failure shown too).
    my_rid = page.evaluate("p => window.rakis.submit({prompt: p, quorum: 1, agreement: 50, timeMs: 3000, "
                           "maxTokens: 4, temperature: 0})", MINE)

    # Received from a peer: its status, a gossiped peer list, a request, a published result for
    # its request and for ours, and a malformed packet that is rejected (the log quotes it).
    peer = Identity.generate(bytes(range(1, 33)))
    now = format_js_date(int(time.time() * 1000))
    rid = "markup-request-1"
    frame = builders.security_frame(1, 60_000, 0.1, 0.5, embedding_model=MINE)
    quorum = lambda r, out: builders.inference_quorum_computed(  # noqa: E731
        r, peer.synthient_id, ["i1"], ["i1"], "ab" * 32, out, peer.synthient_id, "cd" * 32, now)
    packets = [
        builders.peer_status_update("boot", now, totalTokens=1),
        builders.peer_status_update("loaded_worker", now, modelName=THEIRS, totalWorkers=1),
        builders.peer_info(THEIRS, now),
        builders.known_peers([builders.known_peer_entry("ef" * 32, 1, 1, now, [THEIRS, "nostr"])], now),
        builders.p2p_inference_request(rid, THEIRS, [THEIRS], frame, now, max_tokens=4),
        quorum(rid, OUTPUT),
        quorum(my_rid, MY_OUTPUT),
        {"type": BAD, "createdAt": now, "requestId": BAD},
    ]
    page.evaluate(DISPATCH, [peer.envelope(p) for p in packets])

    # The views redraw every 2 s; the published results show as the requests' results.
    wait(page, f"document.querySelector('[data-request-id=\"{rid}\"] .result') && "
               f"document.querySelector('[data-request-id=\"{my_rid}\"] .result')")
    page.wait_for_timeout(4500)    # my request fails (3 s), peers/analytics redraw (2 s)
    r = page.evaluate(INJECTED)
    assert r["xss"] is None, r["xss"]
    assert r["elements"] == [], r["elements"]
    # The text is there, as text: prompts and outputs in the request list.
    for text in (MINE, THEIRS, OUTPUT, MY_OUTPUT):
        assert text in r["requests"], text[:40]
    assert page.locator(f'[data-request-id="{rid}"] .prompt').inner_text() == THEIRS
    assert page.locator(f'[data-request-id="{rid}"] .result').inner_text() == "result: " + OUTPUT
    assert page.locator(f'[data-request-id="{my_rid}"] .prompt').inner_text() == MINE
    # The rejected packet's type is quoted in the log, as text.
    assert "unknown packet type '<img id=xss-bad-i" in page.locator("#logs").inner_text()
    # The peers table, the packets list and the analytics section drew with the peer's packets in.
    assert page.locator(f'[data-peer="{peer.synthient_id}"]').count() == 1 and me != peer.synthient_id
    assert "p2pInferenceRequest" in page.locator("#packets").inner_text()
    assert page.locator("#analytics-summary").inner_text().strip()
