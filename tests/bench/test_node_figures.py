"""The 4-tab consensus figures (rakis_py/bench/network.py): a request counts only when its result is
identical on every tab, in each tab's own consensus and in every published result; a run with a
non-identical request gives no consensus_overhead_s number. Hand-built request views."""
from rakis_py.bench import network
from tests.bench.test_datasets import A, B, C, meta, published

D = "d" * 64


def view(rid="r1", winner="w1", accepted=("i1", "i2", "i3"), cset="s1", computed=31_000, ending=30_000,
         success=True, output="Paris."):
    packet = {"validSingleInference": {"bEmbeddingHash": winner, "output": output}, "validInferenceJointHash": "j1",
              "validInferences": [{"inferenceId": i} for i in accepted]} if success else None
    return {"requestId": rid, "status": "completed" if success else "failed", "endingAt": ending,
            "consensus": {"success": success, "reason": "success" if success else "no_clusters_found_of_needed_size",
                          "computedQuorumPacket": packet, "computedAt": computed, "commitSetHash": cset}}


def tabs_datasets(rid="r1", winners=("w1", "w1")):
    return [[meta(A), published(40_000, rid, A, True, winner=winners[0])],
            [meta(B), published(40_100, rid, B, True, winner=winners[1])],
            [meta(C), published(40_200, rid, A, False, winner=winners[0])],
            [meta(D)]]


def four(**kw):
    return [view(computed=31_000 + 500 * i, **kw) for i in range(4)]


def test_identical_on_every_tab_gives_the_overhead_to_the_last_tab():
    v = network.judge(four(), tabs_datasets())
    assert v == {"requestId": "r1", "identical": True, "why": "", "overhead_s": 2.5}
    assert network.judge(four(), None)["identical"]    # no datasets: own results only


def test_a_different_accepted_set_or_winner_is_not_identical():
    views = four()
    views[2] = view(accepted=("i1", "i2", "i4"), computed=32_000)
    v = network.judge(views, tabs_datasets())
    assert not v["identical"] and v["overhead_s"] is None and "accepted differs" in v["why"]
    views[2] = view(winner="w2")
    assert "winner differs" in network.judge(views, None)["why"]


def test_missing_failed_or_unpublished_results_are_not_identical():
    views = four()
    views[3] = None
    assert "no consensus on tab(s) 3" in network.judge(views, None)["why"]
    assert "consensus failed" in network.judge(four(success=False), None)["why"]
    assert "no published result" in network.judge(four(), [[meta(A)], [meta(B)], [meta(C)], [meta(D)]])["why"]
    v = network.judge(four(), tabs_datasets(winners=("w1", "w2")))
    assert not v["identical"] and "published results: bEmbeddingHash differs" in v["why"]


def test_a_non_identical_request_makes_the_overhead_a_failure_not_a_number():
    good = [{**network.judge(four(), tabs_datasets()), "round": 0},
            {**network.judge(four(rid="r2"), tabs_datasets("r2")), "round": 1}]
    figs = network.consensus_figures(good, "4 tabs")
    assert figs["consensus_overhead_s"]["median"] == 2.5 and figs["consensus_overhead_s"]["runs"] == 2
    assert figs["agreement_4tabs"]["median"] == 1.0 and figs["agreement_4tabs"]["runs"] == 2
    assert "2 of 2 quorums" in figs["agreement_4tabs"]["note"]

    bad_views = four(rid="r3")
    bad_views[1] = view(rid="r3", winner="w9")
    bad = {**network.judge(bad_views, tabs_datasets("r3")), "round": 1}
    figs = network.consensus_figures(good + [bad], "4 tabs")
    assert figs["consensus_overhead_s"]["value"] is None
    assert "1 of 3 requests" in figs["consensus_overhead_s"]["reason"] and "r3" in figs["consensus_overhead_s"]["reason"]
    agreement = figs["agreement_4tabs"]
    assert (agreement["min"], agreement["max"], agreement["runs"]) == (0.5, 1.0, 2)   # round 0: 1/1, round 1: 1/2
    assert "2 of 3 quorums" in agreement["note"]


def test_the_group_from_views_and_datasets(monkeypatch, tmp_path):
    """measure_node_network end to end on a fake 4-tab run: 2 rounds of 2 requests."""
    from rakis_py.bench.runner import Context
    from tests.bench.test_datasets import inferred, pkt

    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "boot.js").write_text("const net = new NetworkTransport(createTransport, {});\n")
    rounds = [["r1", "r2"], ["r3", "r4"]]
    sizes = {"r1": 1000, "r2": 1000, "r3": 2000, "r4": 2000}
    datasets = [[meta(n)] for n in (A, B, C, D)]
    for i, rid in enumerate(sizes):
        datasets[0].append(published(40_000, rid, A, True))
        datasets[1].append(published(40_000, rid, B, False))
        for k, me in enumerate((A, B, C, D)):
            datasets[k].append(inferred(20_000, rid, 10))
            for other in (A, B, C, D):
                if other != me:   # every tab's commit, accepted by the 3 others
                    datasets[k].append(pkt(21_000, other, "inferenceCommit", rid, 20_000 + i, sizes[rid]))
    views = {rid: four(rid=rid) for ids in rounds for rid in ids}
    monkeypatch.setattr(network, "ensure_dist", lambda ctx: tmp_path)
    monkeypatch.setattr(network, "run_node_tabs", lambda ctx, r, n, t, m: (rounds, views, datasets))
    figs = network.measure_node_network(Context(quick=True, log=lambda m: None), frozenset(network.NODE_FIGURES))
    assert figs["consensus_overhead_s"]["median"] == 2.5 and figs["consensus_overhead_s"]["runs"] == 4
    assert figs["agreement_4tabs"]["median"] == 1.0 and figs["agreement_4tabs"]["runs"] == 2
    assert figs["packets_per_request_n4"]["median"] == 4 and figs["packets_per_request_n4"]["runs"] == 4
    assert (figs["bytes_per_token"]["min"], figs["bytes_per_token"]["max"]) == (100.0, 200.0)   # 4 x size / 40
    assert figs["tokens_per_packet"]["median"] == 10.0

    views["r4"][0] = view(rid="r4", accepted=("i1", "i2"))
    figs = network.measure_node_network(Context(quick=True, log=lambda m: None), frozenset(network.NODE_FIGURES))
    assert figs["consensus_overhead_s"]["value"] is None and "r4: accepted differs" in figs["consensus_overhead_s"]["reason"]
    assert figs["agreement_4tabs"]["min"] == 0.5 and "3 of 4 quorums" in figs["agreement_4tabs"]["note"]
