"""Every stability-test figure on a hand-built dataset with known answers (tests/analytics/golden.py)."""

from __future__ import annotations

import pytest

from rakis_py.analytics import metrics as M
from rakis_py.analytics.io import Dataset
from rakis_py.analytics.schema import new_record

from .golden import EXPECTED_CONSENSUS, T0, build_a, build_b

MIN = 60_000


@pytest.fixture(scope="module")
def a():
    return build_a()


@pytest.fixture(scope="module")
def b():
    return build_b()


def test_visitor_shares(a):
    v = M.visitor_shares(a)
    assert (v["visitors"], v["requesting"], v["working"]) == (8, 2, 4)
    assert v["share_requesting"] == pytest.approx(0.25)
    assert v["share_working"] == pytest.approx(0.5)


def test_tokens_reported_vs_seen(a):
    d = M.tokens_over_time(a, bucket_ms=MIN, window=2)
    assert d["t"][0] == T0
    assert d["reported"][:3] == [4200, 0, 300]
    assert d["total_reported"] == 4500
    assert d["seen"][:6] == [600, 600, 600, 600, 600, 0]
    assert d["total_seen"] == 3000
    assert d["reported_ma"][:3] == [4200, 2100, 150]


def test_two_observer_divergence(a, b):
    d = M.divergence(a, b, bucket_ms=MIN)
    r, s = d["requests"], d["results"]
    assert (sum(r["only_a"]), sum(r["only_b"]), sum(r["both"]), r["union"]) == (2, 1, 8, 11)
    assert r["share"] == pytest.approx(3 / 11)
    assert (sum(s["only_a"]), sum(s["only_b"]), s["union"]) == (2, 1, 25)
    assert s["share"] == pytest.approx(3 / 25)
    # R10 (only B) was first seen at 310.5 s: minute 5.
    assert r["only_b"][5] == 1


def test_commits_and_reveals_per_request(a, b):
    rows = {r["requestId"]: r for r in M.commits_reveals(a, b)["rows"]}
    r0 = rows["R0"]
    assert (r0["commits_a"], r0["commits_b"], r0["commits_diff"]) == (4, 2, 2)
    assert (r0["reveals_a"], r0["reveals_b"], r0["reveals_diff"]) == (3, 1, 2)
    assert rows["R3"]["commits_diff"] == 3 and rows["R10"]["commits_diff"] == 0
    # Load: requests in the minute up to each request; every 30 s -> 2 once running.
    assert rows["R0"]["load"] == 1 and rows["R5"]["load"] == 2


def test_channel_mix(a):
    c = M.channel_mix(a)
    assert c["overall"] == {"nostr": 16, "torrent": 3, "gun": 30}
    assert c["by_type"]["peerStatusUpdate"] == {"nostr": 5, "torrent": 3}
    assert c["by_type"]["inferenceReveal"] == {"gun": 30}
    assert c["peers_by_dominant"] == {"gun": 3, "nostr": 3, "torrent": 2}
    assert c["channels_per_peer"] == {3: 3, 2: 5}
    assert c["recent_packets"] == 4 and c["recent"] == {"gun": 3, "nostr": 1}   # last 10% of 49


def test_bytes_per_token_and_tokens_per_packet(a):
    e = M.traffic_efficiency(a)
    # duplicates (8 x 100 B) and the rejected 5000 B packet are not counted
    assert (e["bytes"], e["packets"], e["tokens"]) == (36_850, 54, 3000)
    assert e["bytes_per_token"] == pytest.approx(36_850 / 3000)
    assert e["tokens_per_packet"] == pytest.approx(3000 / 54)


def test_chain_distribution(a):
    c = M.chain_distribution(a)
    assert c["by_chain"] == {"eth": 2, "sol": 1}
    assert (c["identities"], c["peers_with_identity"], c["peers"]) == (3, 2, 8)


def test_node_and_worker_counts_over_time(a):
    n = M.node_counts(a, bucket_ms=MIN)
    assert n["nodes"][0] == 8 and n["workers"][0] == 5
    assert n["nodes"][-1] == 1 and n["workers"][-1] == 2      # only p1 after 30 min
    assert n["distinct_nodes"] == 8 and n["max_nodes"] == 8


def test_worker_and_token_distributions(a):
    w = M.worker_distribution(a)
    assert w["counts"] == {1: 1, 2: 2} and w["mode"] == 2
    t = M.tokens_per_node(a)
    assert t["tokens"] == [500, 1000, 3000] and t["median"] == 1000


def test_consensus_outcomes(a):
    c = M.consensus_outcomes(a)
    for key, n in EXPECTED_CONSENSUS.items():
        assert c[key] == n, key
    assert c["share_full"] == pytest.approx(2 / 8)
    assert c["share_same_commit_set"] == pytest.approx(7 / 8)
    assert c["own_outcomes"] == {"success": 6, "no_clusters_found_of_needed_size": 1}


def test_verification_failures(a):
    v = M.verification_failures(a, bucket_ms=MIN)
    assert v["own"][:4] == [3, 0, 0, 0]
    assert v["remote"][:4] == [0, 0, 0, 2]
    assert v["reveals"][0] == 6


def test_embedding_projection_separates_requests(a):
    p = M.embedding_projection(a)
    assert sorted(p["requests"]) == ["R0", "R1"]
    xs = {rid: [q["x"] for q in p["points"] if q["requestId"] == rid] for rid in ("R0", "R1")}
    assert len(xs["R0"]) == len(xs["R1"]) == 3
    # near-all-zero vs near-all-one bits: opposite sides of the first component
    assert max(xs["R0"]) < 0 < min(xs["R1"]) or max(xs["R1"]) < 0 < min(xs["R0"])
    assert sum(q["accepted"] for q in p["points"]) == 4


def test_cluster_distances(a):
    d = M.cluster_distance_stats(a, coverage=0.5)
    assert d["distances"] == [15, 15, 35, 55, 75, 95]
    assert d["mean"] == pytest.approx(290 / 6)
    assert d["covering"] == pytest.approx(45.0)          # median of the 12 centre distances
    assert d["covering_basis"] == "inferences" and d["unit"] == "bits"
    assert d["commits"] == [3] * 6


def test_tokens_per_second_vs_request_rate(a):
    d = M.tokens_per_second(a, bucket_ms=MIN)
    assert d["mean_tps"] == pytest.approx(15)
    assert d["tps_mean"][:2] == [10, 20]
    assert d["requests_per_min"][:5] == [2, 2, 2, 2, 2] and d["requests_per_min"][5] == 0


def test_workers_run(a, b):
    w = M.workers_run(a)
    # peers p1, p2, p3 reported 2, 2, 1 workers (p3 twice: its largest counts once); ours: w1
    assert (w["peers"], w["own"], w["total"], w["nodes_with_workers"]) == (5, 1, 6, 3)
    # embedding workers are not AI workers in totalWorkers' sense (it counts a node's LLM workers)
    more = Dataset.from_records(a.records() + [
        new_record("worker", t=T0, workerId="e1", workerKind="embedding", state="ready"),
        new_record("worker", t=T0, workerId="w2", workerKind="llm", state="loading"),
        new_record("worker", t=T0, workerId="w3", state="ready")])            # kind unknown, no inference
    assert (M.workers_run(more)["own"], M.workers_run(more)["total"]) == (2, 7)
    w = M.workers_run(b)                       # B has neither peer nor worker samples
    assert (w["peers"], w["own"], w["total"]) == (0, 0, None)


def test_headline_table(a, b):
    table = M.headline([a, b])
    rows = {r["figure"]: r for r in table}
    # the reference's first row: duration, nodes, tokens, workers
    assert [r["figure"] for r in table[:4]] == ["duration", "nodes heard from", "tokens seen / reported by peers",
                                               "AI workers run (peers' reported + own)"]
    assert rows["nodes heard from"]["value"] == 8
    assert rows["tokens seen / reported by peers"]["value"] == "3000 / 4500"
    assert rows["AI workers run (peers' reported + own)"]["value"] == 6
    assert rows["AI workers run (peers' reported + own)"]["test"] == ">1,000"
    assert not rows["AI workers run (peers' reported + own)"]["percent"]
    # the two-observer rows follow "packets kept", as in the reference table
    figures = [r["figure"] for r in table]
    assert figures.index("requests seen by one observer only (%)") == figures.index("packets kept") + 1
    assert M.headline([b])[3]["value"] is None
    assert rows["bytes per token"]["value"] == pytest.approx(36_850 / 3000)
    assert rows["full (100%) agreement (%)"]["value"] == pytest.approx(0.25)
    assert rows["requests seen by one observer only (%)"]["value"] == pytest.approx(3 / 11)
    assert rows["requests seen by one observer only (%)"]["percent"]
    assert "requests seen by one observer only (%)" not in {r["figure"] for r in M.headline([a])}
