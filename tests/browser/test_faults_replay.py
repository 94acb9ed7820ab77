"""Replay after a reload, in the browser with real IndexedDB: a tab that received more than 5,000
packets (the old row cap of its packets table) and is reloaded still refuses a replay of the first
one. Also measures what a packet costs in IndexedDB (docs/faults.md)."""
import json
import time

import pytest

from rakis_py.protocol import builders
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.timefmt import format_js_date

pytestmark = pytest.mark.browser

BOOT_MS = 180_000
PASSWORD = "replay window"
N = 5_200                  # > the old 5,000-row cap
CHUNK = 400

# Deliver envelopes as a transport would (one event each, through the bridge's serial queue).
FEED = """async (envs) => {
  const bridge = window.rakis.debug.bridge;
  const outcomes = {};
  for (const env of envs) {
    const actions = await bridge.dispatch({ type: "packet", data: env, channel: "nostr",
                                            size: JSON.stringify(env).length, receivedAt: Date.now() });
    const stored = actions.some((a) => a.type === "persist" && a.table === "packets");
    const emitted = actions.find((a) => a.type === "emit" && a.kind === "packet");
    const o = stored ? "accepted" : (emitted?.data.outcome ?? "none");
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  return outcomes;
}"""

# Bytes IndexedDB grows by per 1,000 stored packets, from the origin's usage (a scratch database).
SIZE = """async (rows) => {
  const { Store } = await import("./js/idb.js");
  const store = await Store.open("rakis-py-size-probe");
  await store.clear();
  const before = (await navigator.storage.estimate()).usage;
  for (let i = 0; i < rows.length; i += 500) {
    await store.applyBatch(rows.slice(i, i + 500).map((r) => ({ table: "packets", key: `${r.synthientId}:${r.signature}`, record: r })));
  }
  const after = (await navigator.storage.estimate()).usage;
  const count = await store.count("packets");
  store.db.close();
  return { count, usage: after - before, json: rows.reduce((n, r) => n + JSON.stringify(r).length, 0) };
}"""


def unlock(page):
    page.fill("#identity-password", PASSWORD)
    page.click("#identity-submit")
    page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#errors")


def envelopes(n: int) -> list[dict]:
    sender = Identity.generate(bytes(range(32)))
    created = format_js_date(int(time.time() * 1000))
    return [sender.envelope(builders.peer_heart(i / n, 0.5, created)) for i in range(n)]


def feed(page, envs) -> dict:
    total: dict = {}
    for i in range(0, len(envs), CHUNK):
        for k, v in page.evaluate(FEED, envs[i:i + CHUNK]).items():
            total[k] = total.get(k, 0) + v
    return total


def test_reloaded_tab_refuses_replay_of_a_packet_beyond_5000(fresh_context, node_url):
    page = fresh_context.new_page()
    page.goto(node_url + "?llmWorkers=0&embeddingWorkers=0")
    unlock(page)
    envs = envelopes(N + 1)
    first, fresh = envs[0], envs[-1]
    t0 = time.monotonic()
    assert feed(page, envs[:N]) == {"accepted": N}
    feed_s = time.monotonic() - t0
    page.evaluate("window.rakis.flushed()")
    stored = page.evaluate("window.rakis.debug.store.count('packets')")

    page.reload()
    unlock(page)
    status = page.evaluate("window.rakis.status()")
    assert status["restored"] is True
    assert feed(page, [first]) == {"duplicate": 1}       # refused: remembered across the reload
    assert feed(page, [fresh]) == {"accepted": 1}        # while new packets still pass
    assert stored >= N, stored                 # the whole window was kept, not the newest 5,000

    rows = page.evaluate("window.rakis.debug.store.getAll('packets')")[:5000]
    size = page.evaluate(SIZE, rows)
    per_1000 = {"idb_bytes": round(size["usage"] * 1000 / size["count"]),
                "json_bytes": round(size["json"] * 1000 / size["count"])}
    print("\nFIGURES " + json.dumps({"packets": N, "feed_s": round(feed_s, 1),
                                     "dispatch_ms": round(feed_s * 1000 / N, 2),
                                     "node_start_ms_after_reload": status["timings"].get("node"),
                                     "per_1000_packets": per_1000}))
