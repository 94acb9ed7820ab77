"""One tab (follower mode: no models, so it boots in seconds) records its dataset: exportDataset()
and the download button give rakis-dataset/1 JSON Lines, the Analytics section draws its six charts,
the records survive a reload, and the raw records' age limit prunes them while compact ones stay."""
import json

import pytest

from rakis_py.analytics.schema import SCHEMA, problems
from tests.browser.test_node_page import unlock, wait_ready

pytestmark = pytest.mark.browser

PASSWORD = "dataset page"
FOLLOWER = "?llmWorkers=0&embeddingWorkers=0"


def exported(page) -> tuple[dict, list[dict], dict]:
    out = page.evaluate("window.rakis.exportDataset()")
    lines = [json.loads(x) for x in out["text"].splitlines()]
    assert out["records"] == len(lines) - 1 and out["bytes"] >= len(out["text"])
    return lines[0], lines[1:], out


def test_tab_records_exports_and_keeps_its_dataset(fresh_context, node_url, tmp_path):
    page = fresh_context.new_page()
    page.goto(node_url + FOLLOWER)
    unlock(page, PASSWORD)
    wait_ready(page)
    me = page.evaluate("window.rakis.status().synthientId")
    rid = page.evaluate("window.rakis.submit({prompt: 'Name a colour.', quorum: 1, timeMs: 60000, maxTokens: 8})")
    page.wait_for_function("window.rakis.analytics().records >= 3")

    meta, records, out = exported(page)
    assert meta["kind"] == "meta" and meta["schema"] == SCHEMA and meta["runtime"] == "browser"
    assert meta["node"] == me and meta["retention"]["max_records"] > meta["retention"]["max_packets"]
    assert out["filename"].startswith(f"rakis-dataset-{me[:8]}-") and out["filename"].endswith(".jsonl")
    assert all(not problems(r) for r in records), [problems(r) for r in records if problems(r)]
    sent = [r for r in records if r["kind"] == "sent"]
    assert {"peerStatusUpdate", "p2pInferenceRequest"} <= {r["type"] for r in sent}, sent
    assert all(r["size"] > 50 for r in sent)
    assert any(r["kind"] == "request" and r["requestId"] == rid and r["state"] == "requested" for r in records)
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)

    # The Analytics section: six charts (uPlot canvases) and the totals.
    page.wait_for_function("document.querySelectorAll('#charts figure.chart canvas').length >= 6", timeout=20_000)
    assert page.locator("#charts figure.chart").count() == 6
    page.wait_for_function("document.getElementById('analytics-summary').textContent.includes('records kept')")

    # The download button saves the same JSON Lines under the documented name.
    with page.expect_download() as d:
        page.click("#dataset-download")
    download = d.value
    assert download.suggested_filename.startswith(f"rakis-dataset-{me[:8]}-")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["node"] == me and len(lines) >= len(records) + 1

    # Reload: the records come back (and more are added); meta keeps when recording started.
    page.evaluate("window.rakis.flushed()")
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    page.evaluate("window.rakis.flushed()")
    meta2, records2, _ = exported(page)
    assert meta2["started"] == meta["started"]
    keys = {json.dumps(r, sort_keys=True) for r in records2}
    assert all(json.dumps(r, sort_keys=True) in keys for r in records), "records lost in the reload"
    assert page.evaluate("window.rakis.analytics().records") >= len(records)

    # Retention: raw records older than 1 ms are pruned at the next flush, compact records stay.
    page.evaluate("localStorage.setItem('rakis.retention', JSON.stringify({maxPacketAgeMs: 1}))")
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    page.wait_for_timeout(200)
    page.evaluate("window.rakis.flushed()")
    meta3, records3, _ = exported(page)
    assert meta3["retention"]["max_packet_age_ms"] == 1
    first_session = {json.dumps(r, sort_keys=True) for r in sent}
    assert not first_session & {json.dumps(r, sort_keys=True) for r in records3 if r["kind"] == "sent"}
    assert any(r["kind"] == "request" and r["requestId"] == rid for r in records3)
    assert fresh_context.offsite == []


LIVE_AND_PRUNE = """async () => {
  const { LiveAnalytics } = await import("./js/analytics.js");
  const { DatasetLog } = await import("./js/dataset.js");
  const { Store } = await import("./js/idb.js");
  const now = Date.now();
  const a = new LiveAnalytics("me");
  a.add([
    { kind: "packet", t: now - 15 * 60_000, from: "p1", outcome: "accepted", channel: "nostr" },
    { kind: "packet", t: now - 60_000, from: "p2", outcome: "duplicate", channel: "mqtt" },
    { kind: "packet", t: now - 50_000, from: "p3", outcome: "accepted", channel: "mqtt" },
    { kind: "packet", t: now - 40_000, from: "me", outcome: "own_echo", channel: "mqtt" },
    { kind: "packet", t: now - 30_000, from: "p4", outcome: "bad_signature", channel: "nostr" },
    { kind: "reveal", t: now - 5000, requestId: "r1", synthientId: "p1", tokens: 10 },
    { kind: "reveal", t: now - 4000, requestId: "r1", synthientId: "p1", tokens: 10 },
    { kind: "request", t: now - 6000, requestId: "r1", state: "inferred", tokens: 7 },
    { kind: "published", t: now - 1000, requestId: "r1", verifiedBy: "me", own: true, bEmbeddingHash: "h" },
    { kind: "published", t: now - 900, requestId: "r1", verifiedBy: "p1", bEmbeddingHash: "h" },
    { kind: "published", t: now - 800, requestId: "r2", verifiedBy: "p1", bEmbeddingHash: "x" },
    { kind: "published", t: now - 800, requestId: "r2", verifiedBy: "p2", bEmbeddingHash: "y" },
    { kind: "published", t: now - 700, requestId: "r2", verifiedBy: "p3", bEmbeddingHash: "y" },
    { kind: "published", t: now - 700, requestId: "r3", verifiedBy: "p3", bEmbeddingHash: "y" },
    { kind: "consensus", t: now - 2000, requestId: "r1", success: true, clusterDistance: 3.5, distanceUnit: "bits" },
    { kind: "consensus", t: now - 1500, requestId: "r4", success: false },
    { kind: "worker", t: now - 6000, workerId: "w", tokensPerSecond: 4.5 },
  ]);
  const s = a.snapshot(now);
  const last = (series) => Object.fromEntries(Object.entries(series).map(([k, v]) => [k, v.at(-1)]));

  // Count pruning: 300 packet records over a limit of 100 (beyond the slack), 10 compact ones kept.
  const name = `rakis-prune-test-${now}`;
  const store = await Store.open(name);
  const log = await DatasetLog.open(store);
  log.setMeta({ kind: "meta", node: "me", started: now,
                retention: { max_packets: 100, max_records: 1000, max_packet_age_ms: null, max_record_age_ms: null } });
  log.append(Array.from({ length: 300 }, (_, i) => ({ kind: "packet", t: now + i, channel: "nostr", outcome: "accepted" })));
  log.append(Array.from({ length: 10 }, (_, i) => ({ kind: "request", t: now + i, requestId: `r${i}`, state: "requested" })));
  await log.flush();
  const kept = await log.records();
  const exported = await log.exportText();
  store.db.close();
  indexedDB.deleteDatabase(name);
  return { nodes: s.nodes.series["nodes heard (10 min)"], nodesLast: last(s.nodes.series),
           tokens: last(s.tokens.series),
           channels: Object.fromEntries(Object.entries(s.channels.series).map(([k, v]) => [k, v.reduce((x, y) => x + y, 0)])), outcomes: last(s.outcomes.series),
           distances: s.distances.series, tps: s.tps.series, summary: a.summary(), range: s.range,
           counts: log.counts, packets: kept.filter((r) => r.kind === "packet").map((r) => r.t - now),
           requests: kept.filter((r) => r.kind === "request").length, lines: exported.text.split("\\n").length };
}"""


def test_live_series_definitions_and_count_retention(fresh_context, node_url):
    """analytics.js and dataset.js on their own (no node): the live figures on a known record set,
    and count pruning of raw records apart from compact ones."""
    page = fresh_context.new_page()
    page.goto(node_url.rsplit("/", 1)[0] + "/build-info.json")
    out = page.evaluate(LIVE_AND_PRUNE)
    # p1 was heard 15 min ago (outside the 10-min window now), p2 and p3 within; own echoes and
    # rejected packets are not peers heard.
    assert out["nodesLast"] == {"nodes heard (10 min)": 2} and max(out["nodes"]) == 2, out["nodes"]
    assert out["nodes"][0] == 1
    assert out["tokens"] == {"seen revealed": 10, "own inferences": 7}
    # First deliveries from others per channel (duplicates, echoes and rejected packets left out).
    assert out["channels"] == {"mqtt": 1, "nostr": 1} and out["summary"]["packets"] == 5
    # r1: both results agree (full); r2: 2 of 3 agree with the most common (majority); r3: one result.
    assert out["outcomes"] == {"own consensus: success": 1, "own consensus: failed": 1,
                               "published results: full": 1, "published results: majority": 1,
                               "published results: split": 0}
    assert (out["summary"]["full"], out["summary"]["quorums"]) == (1, 2)
    assert list(out["distances"].values()) == [[3.5]] and list(out["tps"].values()) == [[4.5]]
    assert out["range"][0] < out["range"][1]
    # Retention by count: the newest 100 packet records stay, every compact record stays.
    assert out["counts"] == {"0": 10, "1": 100}
    assert out["packets"] == list(range(200, 300)) and out["requests"] == 10
    assert out["lines"] == 1 + 110 + 1          # meta, records, the final newline
