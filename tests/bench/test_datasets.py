"""The 4-tab traffic figures from the tabs' exported datasets (rakis_py/bench/datasets.py): each
packet counted once over the tabs, exact tokens, published results compared. A small hand-built run
of three tabs A, B, C (rakis-dataset/1 records, as window.rakis.exportDataset() gives them)."""
import json

from rakis_py.analytics.schema import problems
from rakis_py.bench import datasets as ds
from rakis_py.bench import network

A, B, C = "a" * 64, "b" * 64, "c" * 64


def meta(node):
    return {"kind": "meta", "schema": "rakis-dataset/1", "node": node, "runtime": "browser", "started": 1}


def pkt(t, sender, ptype, rid, created, size, outcome="accepted", channel="nostr"):
    r = {"kind": "packet", "t": t, "from": sender, "type": ptype, "channel": channel, "outcome": outcome}
    if rid is not None:
        r["requestId"] = rid
    if created is not None:
        r["createdAt"] = created
    if size is not None:
        r["size"] = size
    return r


def inferred(t, rid, tokens):
    return {"kind": "request", "t": t, "requestId": rid, "state": "inferred", "tokens": tokens}


def published(t, rid, by, own, winner="w1", joint="j1", cset="s1"):
    return {"kind": "published", "t": t, "requestId": rid, "verifiedBy": by, "own": own,
            "bEmbeddingHash": winner, "jointHash": joint, "commitSetHash": cset}


def run():
    """r1: A asks; A, B, C commit and reveal (B's reveal also relayed by A: same packet, seen again
    as a duplicate); r2: only B infers; plus boot traffic (no requestId) and a request not in the run."""
    tab_a = [meta(A),
             pkt(5, B, "peerStatusUpdate", None, 4, 300),
             {"kind": "sent", "t": 10, "type": "p2pInferenceRequest", "requestId": "r1", "size": 900},
             pkt(10, A, "p2pInferenceRequest", "r1", 10, 900, outcome="own_echo"),
             pkt(21, B, "inferenceCommit", "r1", 20, 500),
             pkt(22, B, "inferenceCommit", "r1", 20, 500, outcome="duplicate", channel="mqtt"),
             pkt(23, C, "inferenceCommit", "r1", 21, 510),
             inferred(19, "r1", 12),
             pkt(41, B, "inferenceReveal", "r1", 40, 2000),
             pkt(42, C, "inferenceReveal", "r1", 40, 2100),
             pkt(43, B, "inferenceQuorumComputed", "r1", 60, 1500),
             published(50, "r1", A, True), published(61, "r1", B, False),
             pkt(70, C, "p2pInferenceRequest", "r0", 69, 880)]           # not one of the run's requests
    tab_b = [meta(B),
             pkt(11, A, "p2pInferenceRequest", "r1", 10, 900),
             pkt(12, A, "p2pInferenceRequest", "r1", 10, 900, outcome="duplicate", channel="mqtt"),
             pkt(22, A, "inferenceCommit", "r1", 18, 505),
             pkt(24, C, "inferenceCommit", "r1", 21, 510),
             inferred(19, "r1", 10),
             pkt(42, A, "inferenceReveal", "r1", 41, 1990),
             pkt(43, C, "inferenceReveal", "r1", 40, 2100),
             pkt(51, A, "inferenceQuorumComputed", "r1", 50, 1500),
             published(51, "r1", A, False), published(60, "r1", B, True),
             pkt(80, C, "p2pInferenceRequest", "r2", 79, 870),
             inferred(95, "r2", 7)]
    tab_c = [meta(C),
             pkt(11, A, "p2pInferenceRequest", "r1", 10, 900),
             pkt(22, A, "inferenceCommit", "r1", 18, 505),
             pkt(22, B, "inferenceCommit", "r1", 20, 500),
             inferred(20, "r1", 11),
             pkt(42, A, "inferenceReveal", "r1", 41, 1990),
             pkt(44, B, "inferenceReveal", "r1", 40, 2000),
             pkt(45, B, "inferenceReveal", "r1", 40, 2000, outcome="duplicate"),   # A's relay of it
             pkt(52, A, "inferenceQuorumComputed", "r1", 50, 1500),
             pkt(53, B, "inferenceQuorumComputed", "r1", 60, None),               # size not recorded
             published(52, "r1", A, False), published(53, "r1", B, False)]
    return [tab_a, tab_b, tab_c]


def test_the_hand_built_records_are_valid_rakis_dataset_1():
    for records in run():
        assert [problems(r) for r in records if problems(r)] == []


def test_each_packet_is_counted_once_over_the_tabs():
    packets = ds.distinct_packets(run())
    # r1: 1 request, 3 commits, 3 reveals, 2 published results; plus a status update and r0, r2.
    r1 = [p for p in packets.values() if p["requestId"] == "r1"]
    assert len(r1) == 9
    assert len(packets) == 9 + 3
    request = packets[ds.packet_key(pkt(0, A, "p2pInferenceRequest", "r1", 10, 0))]
    assert request["receivers"] == {B, C} and request["size"] == 900   # own echo not counted
    b_reveal = packets[ds.packet_key(pkt(0, B, "inferenceReveal", "r1", 40, 0))]
    assert b_reveal["receivers"] == {A, C}
    b_result = packets[ds.packet_key(pkt(0, B, "inferenceQuorumComputed", "r1", 60, 0))]
    assert b_result["size"] == 1500   # the largest size any tab recorded


def test_a_signature_when_present_is_the_identity():
    a = {**pkt(1, A, "inferenceRevealRejected", "r1", 5, 300), "signature": "s1"}
    b = {**pkt(1, A, "inferenceRevealRejected", "r1", 5, 300), "signature": "s2"}
    assert ds.packet_key(a) != ds.packet_key(b)
    assert ds.packet_key(a) == ds.packet_key({**a, "t": 9, "channel": "mqtt"})


def test_tokens_are_each_tabs_own_inference_once():
    tabs = run()
    assert ds.inferred_tokens(tabs) == {"r1": 33, "r2": 7}
    assert ds.inferred_tokens(tabs + [tabs[0]]) == {"r1": 33, "r2": 7}   # one tab's export given twice


def test_request_traffic_and_the_figures():
    tabs = run()
    traffic = ds.request_traffic(tabs, ["r1", "r2"])
    r1 = traffic["r1"]
    assert r1["packets"] == 9 and r1["tokens"] == 33 and r1["unsized"] == 0
    assert r1["bytes"] == 900 + 500 + 510 + 505 + 2000 + 2100 + 1990 + 1500 + 1500
    assert r1["by_type"] == {"p2pInferenceRequest": 1, "inferenceCommit": 3, "inferenceReveal": 3,
                             "inferenceQuorumComputed": 2}
    assert traffic["r2"] == {"packets": 1, "bytes": 870, "tokens": 7, "unsized": 0,
                             "by_type": {"p2pInferenceRequest": 1}}
    total = ds.traffic_totals(traffic.values())
    assert (total["packets"], total["bytes"], total["tokens"]) == (10, 11505 + 870, 40)
    assert total["bytes_per_token"] == (11505 + 870) / 40 and total["tokens_per_packet"] == 40 / 10

    figs = network.traffic_figures(traffic, [["r1", "r2"]], "3 tabs")
    assert figs["packets_per_request_n4"]["median"] == 5.0 and figs["packets_per_request_n4"]["runs"] == 2
    assert figs["bytes_per_token"]["median"] == round((11505 + 870) / 40, 1)
    assert figs["tokens_per_packet"]["median"] == 4.0 and figs["tokens_per_packet"]["runs"] == 1
    by_round = network.traffic_figures(traffic, [["r1"], ["r2"]], "3 tabs")   # one value per round
    assert by_round["bytes_per_token"]["runs"] == 2
    assert by_round["bytes_per_token"]["min"] == round(870 / 7, 1)
    assert by_round["bytes_per_token"]["max"] == round(11505 / 33, 1)
    assert "exported datasets" in figs["bytes_per_token"]["note"]
    assert "exports no dataset" not in json.dumps(figs)


def test_without_datasets_the_traffic_figures_say_why():
    figs = network.traffic_figures({}, [], "x")
    assert set(figs) == {"packets_per_request_n4", "bytes_per_token", "tokens_per_packet"}
    assert all(f["value"] is None and "exportDataset" in f["reason"] for f in figs.values())


def test_no_tokens_is_not_a_number():
    tabs = [[meta(A), pkt(1, B, "inferenceCommit", "r1", 1, 100)]]
    figs = network.traffic_figures(ds.request_traffic(tabs, ["r1"]), [["r1"]], "x")
    assert figs["packets_per_request_n4"]["median"] == 1
    assert figs["bytes_per_token"]["value"] is None and figs["tokens_per_packet"]["value"] is None


def test_parse_jsonl_of_an_export():
    text = "\n".join(json.dumps(r) for r in run()[1]) + "\n"
    records = ds.parse_jsonl(text)
    assert records == run()[1] and ds.node_of(records) == B


def test_published_results_merge_the_tabs_views():
    tabs = run()
    pubs = ds.published_results(tabs, "r1")
    assert set(pubs) == {A, B} and pubs[A] == {"bEmbeddingHash": "w1", "jointHash": "j1", "commitSetHash": "s1"}
    assert ds.published_differences(tabs, "r1") == []
    tabs[2].append(published(54, "r1", C, False, winner="w2"))
    assert any(d.startswith("bEmbeddingHash differs") for d in ds.published_differences(tabs, "r1"))
    tabs[2][-1] = published(54, "r1", A, False, joint="j9")     # A's result seen differently by C
    assert ds.published_differences(tabs, "r1") == ["jointHash: one publisher seen with several values"]
