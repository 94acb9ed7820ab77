"""The tab's dataset on CPython: NodeHost driven like web/js/bridge.js with a dataset turned on
returns `rakis-dataset/1` records in a "dataset" emit of the same answer (valid, worker-load samples,
a request's life), states its retention in meta, and stays off when the page does not ask for it."""
import json

import pytest

from rakis_py.analytics.schema import SCHEMA, problems
from rakis_py.browser.dataset import retention_from_options, retention_to_options
from rakis_py.browser.node_host import NodeHost
from rakis_py.runtime.storage import MemoryStorage
from tests.unit.test_browser_host import EMB, KEY, T0, Page, workers_up

RETENTION = {"maxPackets": 100, "maxRecords": 1000, "maxPacketAgeMs": 3_600_000, "maxRecordAgeMs": None}


def records_of(page: Page) -> list[dict]:
    return [r for a in page.emits if a["kind"] == "dataset" for r in a["data"]["records"]]


def run_quorum_of_one(host: NodeHost, page: Page) -> str:
    page.run(host.boot(T0))
    workers_up(host, page)
    actions = page.run(host.handle(json.dumps({"type": "submit", "prompt": "Name a colour.", "quorum": 1,
                                               "timeMs": 5000, "maxTokens": 16}), page.now))
    rid = next(a["data"]["requestId"] for a in actions if a["type"] == "emit" and a["kind"] == "submitted")
    for _ in range(100):
        page.answer_jobs(host)
        if json.loads(host.request_view(rid))["result"] is not None or not page.fire_next_timer(host):
            break
    return rid


def test_host_records_a_request_and_worker_load():
    page = Page(MemoryStorage())
    host = NodeHost.start(KEY, json.dumps({"embeddingModel": EMB}), "{}", T0, seed=7,
                          dataset_json=json.dumps({"started": T0 - 5000, "retention": RETENTION}))
    meta = json.loads(host.dataset_meta())
    assert meta["schema"] == SCHEMA and meta["runtime"] == "browser" and meta["started"] == T0 - 5000
    assert meta["node"] == host.synthient_id
    assert meta["retention"]["max_packets"] == 100 and meta["retention"]["max_record_age_ms"] is None
    rid = run_quorum_of_one(host, page)
    recs = records_of(page)
    assert all(not problems(r) for r in recs), [problems(r) for r in recs if problems(r)]
    kinds = {r["kind"] for r in recs}
    assert {"request", "sent", "worker", "consensus"} <= kinds, kinds
    states = [r["state"] for r in recs if r["kind"] == "request" and r["requestId"] == rid]
    assert states[0] == "requested" and "inferred" in states and states[-1] == "done", states
    (c,) = [r for r in recs if r["kind"] == "consensus"]
    assert c["requestId"] == rid and c["success"] is True
    # tokens/s of the inference, and load samples of both workers (at most one per 10 s).
    tps = [r for r in recs if r["kind"] == "worker" and r.get("tokensPerSecond")]
    assert len(tps) == 1 and tps[0]["tokens"] == 7
    samples = [r for r in recs if r["kind"] == "worker" and "tokensPerSecond" not in r and r.get("state")]
    assert samples and {r["workerKind"] for r in samples} <= {"llm", "embedding"}
    ts = sorted({r["t"] for r in samples})
    assert all(b - a >= 10_000 for a, b in zip(ts, ts[1:]))
    assert all(r["size"] > 0 for r in recs if r["kind"] == "sent")


def test_packet_records_carry_channel_and_size():
    page, other = Page(MemoryStorage()), Page(MemoryStorage())
    a = NodeHost.start(KEY, "{}", "{}", T0, seed=1, dataset_json=json.dumps({}))
    b = NodeHost.start("22" * 32, "{}", "{}", T0, seed=2)
    other.run(b.boot(T0))
    hello = other.sent[0]
    page.run(a.handle(json.dumps({"type": "packet", "data": hello, "channel": "mqtt", "size": 321}), T0 + 5))
    page.run(a.handle(json.dumps({"type": "packet", "data": hello, "channel": "nostr", "size": 320}), T0 + 9))
    packets = [r for r in records_of(page) if r["kind"] == "packet"]
    assert [(p["channel"], p["size"], p["outcome"], p["from"]) for p in packets] == [
        ("mqtt", 321, "accepted", b.synthient_id), ("nostr", 320, "duplicate", b.synthient_id)]
    assert any(r["kind"] == "peer" and r["synthientId"] == b.synthient_id for r in records_of(page))


def test_dataset_is_off_unless_asked_and_options_are_checked():
    page = Page(MemoryStorage())
    host = NodeHost.start(KEY, "{}", "{}", T0, seed=1)
    page.run(host.boot(T0))
    assert json.loads(host.dataset_meta()) is None and not records_of(page)
    for bad in ({"maxPacket": 5}, {"maxPackets": 0}, {"maxRecords": "many"}, {"maxPackets": True}):
        with pytest.raises(ValueError):
            retention_from_options(bad)
    r = retention_from_options({"maxPackets": 7, "maxPacketAgeMs": None})
    assert retention_to_options(r)["maxPackets"] == 7 and retention_to_options(r)["maxPacketAgeMs"] is None
    assert retention_to_options(retention_from_options(None))["maxRecords"] > r.max_packets
