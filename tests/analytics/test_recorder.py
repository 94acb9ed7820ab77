"""DatasetRecorder: node actions in, schema-valid records out; retention; a real in-process network."""

from __future__ import annotations

from rakis_py.analytics import metrics as M
from rakis_py.analytics.io import Dataset
from rakis_py.analytics.recorder import (DatasetRecorder, Retention, cluster_distances,
                                         commit_set_identity)
from rakis_py.analytics.schema import problems
from rakis_py.protocol.actions import Persist, Send
from rakis_py.protocol.notices import PacketRefused, PacketSeen, PeerChanged, RequestChanged, RequestState, RevealStored
from rakis_py.protocol.canonical import js_stringify

from .recnet import NodeSpec, RecordedNet

NOW = 1_750_000_000_000
ME, PEER = "a" * 64, "b" * 64


def test_reveal_gets_embedding_and_tokens_from_its_notices():
    rec = DatasetRecorder(ME, "cpython", NOW)
    out = rec.feed([PacketSeen(NOW, PEER, "inferenceReveal", "nostr", 321, "accepted", "r1", output_chars=40),
                    RevealStored("r1", PEER, 1, NOW, "r1.x", 40, bytes([1, 255]))], NOW)
    pkt, rev = out
    assert pkt["kind"] == "packet" and pkt["from"] == PEER and pkt["tokens"] == 10 and pkt["size"] == 321
    assert rev["kind"] == "reveal" and rev["bEmbedding"] == "01ff" and rev["inferenceId"] == "r1.x"
    assert rev["tokens"] == 10
    assert all(not problems(r) for r in out)


def test_sends_are_sized_and_own_results_are_published_records():
    rec = DatasetRecorder(ME, "cpython", NOW)
    packet = {"type": "inferenceQuorumComputed", "requestId": "r1", "verifiedBy": ME,
              "submittedInferences": [{"inferenceId": "i2"}, {"inferenceId": "i1"}],
              "validInferences": [{"inferenceId": "i1"}], "validInferenceJointHash": "jh",
              "validSingleInference": {"output": "o", "fromSynthientId": PEER, "bEmbeddingHash": "hh"}}
    env = {"synthientId": ME, "signature": "00" * 64, "packet": packet}
    sent, pub = rec.feed([Send(env, None)], NOW)
    assert sent["size"] == len(js_stringify(env).encode()) and sent["type"] == "inferenceQuorumComputed"
    assert pub["own"] and pub["verifiedBy"] == ME and pub["bEmbeddingHash"] == "hh"
    assert pub["submitted"] == 2 and pub["submittedHash"] == commit_set_identity(["i1", "i2"])
    assert commit_set_identity(["i1", "i2"]) != commit_set_identity(["i1", "i3"])


def test_rejected_packets_keep_their_code():
    rec = DatasetRecorder(ME, "cpython", NOW)
    (r,) = rec.feed([PacketRefused("bad_signature", "x", "gun", NOW, PEER, "inferenceCommit", 9)], NOW)
    assert r["outcome"] == "bad_signature" and r["channel"] == "gun" and r["size"] == 9


def test_cluster_distances_from_consensus_debug():
    v1 = cluster_distances({"distances": [[0, 3, 5, 100], [3, 0, 4, 100], [5, 4, 0, 100], [100, 100, 100, 0]],
                            "clusterSizes": [3, 3, 3, 1], "centre": 0})
    assert v1 == {"clusterSize": 3, "clusterDistance": 4.0, "centreDistances": [3.0, 5.0, 100.0],
                  "distanceUnit": "v1-euclid-bytes"}
    v2 = cluster_distances({"centre": 1, "clusterSizes": [2, 4, 2], "centreSpread": 30})
    assert v2 == {"clusterSize": 4, "clusterDistance": 10.0, "distanceUnit": "bits"}
    assert cluster_distances({"clusterSizeNeeded": 3}) == {}


def test_inference_time_gives_a_tokens_per_second_sample():
    rec = DatasetRecorder(ME, "cpython", NOW)
    rec.feed([RequestChanged("r", RequestState.INFERRING, NOW, worker_id="w")], NOW)
    out = rec.feed([RequestChanged("r", RequestState.INFERRED, NOW + 2000, tokens=50, job_worker_id="w",
                                   started_at=NOW)], NOW + 2000)
    w = [r for r in out if r["kind"] == "worker"]
    assert len(w) == 1 and w[0]["tokensPerSecond"] == 25.0 and w[0]["workerId"] == "w"


def test_peer_samples_are_throttled_unless_something_changed():
    rec = DatasetRecorder(ME, "cpython", NOW, retention=Retention(peer_sample_ms=10_000))
    peer = {"synthientId": PEER, "seenOn": ["nostr"], "totalTokens": 5, "totalWorkers": 2, "chainIds": []}
    n = [len(rec.feed([PeerChanged(PEER, peer)], NOW + dt)) for dt in (0, 1000, 2000)]
    n.append(len(rec.feed([PeerChanged(PEER, {**peer, "totalTokens": 9})], NOW + 3000)))
    n.append(len(rec.feed([PeerChanged(PEER, {**peer, "totalTokens": 9})], NOW + 14_000)))
    n.append(len(rec.feed([PeerChanged(ME, peer | {"synthientId": ME})], NOW + 15_000)))
    # The peers table's rows themselves are storage, not a source of samples.
    n.append(len(rec.feed([Persist("peers", PEER, {**peer, "totalTokens": 11})], NOW + 30_000)))
    assert n == [1, 0, 0, 1, 1, 0, 0]


def test_retention_keeps_compact_records_longer_than_packets():
    rec = DatasetRecorder(ME, "cpython", NOW, retention=Retention(max_packets=10, max_records=1000))
    for i in range(25):
        rec.feed([PacketSeen(NOW + i, PEER, "peerHeart", "nostr", 10, "accepted", None),
                  RequestChanged(f"r{i}", RequestState.REQUESTED, NOW + i)], NOW + i)
    kept = rec.records()
    assert kept[0]["kind"] == "meta" and kept[0]["retention"]["max_packets"] == 10
    packets = [r for r in kept if r["kind"] == "packet"]
    assert len(packets) == 10 and packets[0]["t"] == NOW + 15          # the newest ten
    assert len([r for r in kept if r["kind"] == "request"]) == 25
    aged = DatasetRecorder(ME, "cpython", NOW, retention=Retention(max_record_age_ms=5))
    for i in range(10):
        aged.feed([RequestChanged(f"r{i}", RequestState.REQUESTED, NOW + i)], NOW + i)
    assert [r["t"] - NOW for r in aged.records()[1:]] == [4, 5, 6, 7, 8, 9]


def _run(protocol: int, jitter: int, seed: int) -> RecordedNet:
    net = RecordedNet([NodeSpec() for _ in range(4)], seed=seed, jitter=jitter)
    for k in range(3):
        net.submit(k, quorum=3, max_time_ms=10_000, protocol=protocol)
        net.run_until(net.now + 5_000)
    net.run_until(net.now + 120_000)
    return net


def test_real_v2_network_dataset_is_valid_and_agrees():
    net = _run(protocol=2, jitter=2, seed=1)
    for rec in net.recorders:
        records = rec.records()
        assert [p for r in records for p in problems(r)] == []
        ds = Dataset.from_records(records)
        cons = ds.of("consensus")
        assert len(cons) == 3 and all(c["success"] for c in cons)
        assert all(c["distanceUnit"] == "bits" and c["clusterDistance"] >= 0 for c in cons)
        assert all(len(r["bEmbedding"]) == 96 for r in ds.of("reveal"))
        assert {c["committed"] for c in cons} == {4}
        out = M.consensus_outcomes(ds)
        assert out["quorums"] == 3 and out["full"] == 3 and out["same_commit_set"] == 3
        assert M.visitor_shares(ds)["visitors"] == 3
        assert M.traffic_efficiency(ds)["tokens"] > 0
        assert M.tokens_per_second(ds)["samples"]
    # Every one-observer chart has its data in a real node's dataset, except chain identities
    # (the harness nodes claim none).
    from rakis_py.analytics.report import CHARTS
    ds = Dataset.from_records(net.recorders[0].records())
    missing = {c.number for c in CHARTS if not c.needs_two and not c.has_data(c.compute([ds]))}
    assert missing == {7}


def test_real_v1_network_records_verification_failures():
    """v1's exact-match check fails under re-embedding jitter: the rejections show in chart 12."""
    net = _run(protocol=1, jitter=2, seed=1)
    ds = Dataset.from_records(net.recorders[0].records())
    v = M.verification_failures(ds)
    assert v["total_own"] > 0
    assert any(not c["success"] for c in ds.of("consensus"))


def test_notices_map_to_records_one_to_one_and_the_page_json_is_the_notice_json():
    from rakis_py.browser.codec import action_to_dict
    actions = [RequestChanged("r", RequestState.REQUESTED, NOW, from_id=PEER),
               Send({"synthientId": ME, "signature": "00", "packet": {"type": "peerHeart"}}, ("x", "y")),
               PeerChanged(PEER, {"synthientId": PEER, "seenOn": ["gun"], "totalTokens": 3})]
    objs = DatasetRecorder(ME, "browser", NOW).feed(actions, NOW)
    assert [r["kind"] for r in objs] == ["request", "sent", "peer"]
    assert objs[1]["to"] == 2
    assert action_to_dict(actions[0]) == {"type": "emit", "kind": "request",
                                          "data": {"requestId": "r", "state": "requested", "t": NOW,
                                                   "fromSynthientId": PEER}}
    assert {k: v for k, v in objs[0].items() if k != "kind"} == action_to_dict(actions[0])["data"]
