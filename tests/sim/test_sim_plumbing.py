"""Simulator plumbing against a tiny fake node: engine order, determinism, conservation, models."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np

from rakis_py.sim import scenarios
from rakis_py.sim.engine import Engine
from rakis_py.sim.links import ChannelParams, LinkModel, LinkParams, PartitionParams
from rakis_py.sim.nodes import NodeModel, NodeParams
from rakis_py.sim.simulation import Simulation
from rakis_py.sim.standins import EMBEDDING_BYTES, EMBEDDING_BYTES_V1, ModelStandins, StandinParams

from .fake_node import chatty_factory, fake_factory

WALL = ("wall_seconds", "events_per_s")


def run_fake(sc, seed):
    s = Simulation(sc, seed=seed, node_factory=fake_factory, share_decode=False).run()
    return json.dumps({k: v for k, v in s.items() if k not in WALL}, sort_keys=True)


def harsh(sc):
    """Loss, stalls, partitions, relay outages and churn all at once."""
    links = LinkParams(
        stall_share=0.05, stall_mean_ms=20_000,
        channels=(ChannelParams("nostr", loss=0.2, no_route_share=0.2, outage_per_hour=30, outage_mean_s=20),
                  ChannelParams("mqtt", loss=0.3, outage_per_hour=30, outage_mean_s=20)),
        partitions=PartitionParams(per_hour=60, mean_s=15, share=0.4))
    nm = NodeParams(initial_share=0.6, session_median_s=60, crash_share=0.5, worker_weights=((2, 1.0),),
                    follower_share=0.2)
    return replace(sc, nodes=12, duration_s=240, links=links, node_model=nm,
                   load=replace(sc.load, steady_per_min=6))


def test_engine_runs_in_time_then_insertion_order():
    eng = Engine(0)
    seen = []
    for t, tag in [(5, "a"), (1, "b"), (5, "c"), (3, "d")]:
        eng.at(t, seen.append, tag)
    eng.run(4)
    assert seen == ["b", "d"] and eng.now == 4
    eng.at(0, seen.append, "past")          # clamped to now, never runs in the past
    eng.run(10)
    assert seen == ["b", "d", "past", "a", "c"]


def test_same_seed_gives_byte_identical_summary_and_other_seed_differs():
    sc = harsh(scenarios.tiny())
    a, b, c = run_fake(sc, 3), run_fake(sc, 3), run_fake(sc, 4)
    assert a == b
    assert a != c


def test_every_copy_is_delivered_lost_or_dropped():
    sim = Simulation(harsh(scenarios.tiny()), seed=5, node_factory=fake_factory, share_decode=False)
    s = sim.run()
    led = s["links"]
    outcomes = led["outcomes"]
    assert led["copies"] > 300
    assert sum(outcomes.values()) == led["copies"]
    # every reason the harsh model can produce actually occurred
    for k in ("delivered", "duplicate", "lost:loss", "dropped:partition", "dropped:relay_outage",
              "dropped:no_route", "dropped:offline"):
        assert outcomes.get(k, 0) > 0, k
    # per channel as well, and the copy count is receivers x channels of what was sent
    per_ch = {}
    for key, n in led["by_channel"].items():
        ch = key.split("/")[0]
        per_ch[ch] = per_ch.get(ch, 0) + n
    assert set(per_ch) == {"nostr", "mqtt"} and all(v == led["copies"] // 2 for v in per_ch.values())
    assert all(v >= 0 for v in outcomes.values())
    assert_packets_conserved(s)


def assert_packets_conserved(s):
    """Every sent packet has exactly one fate (links.py), and the copy book balances."""
    led = s["links"]
    assert led["pending"] == 0
    assert led["packets"] == s["packets"] == sum(led["packet_fates"].values()) > 0
    assert sum(led["outcomes"].values()) == led["copies"]
    assert all(v >= 0 for v in led["packet_fates"].values())
    # a packet is delivered iff one of its copies was: never more delivered packets than copies
    assert led["packet_fates"].get("delivered", 0) <= led["outcomes"].get("delivered", 0)


def test_every_packet_sent_has_a_fate_even_without_receivers():
    """Broadcasts while alone, sends addressed to gone, unknown or own ids, and copies still
    travelling when the run ends are all in the book (not only in `packets`)."""
    from .fake_node import UNKNOWN_ID
    sc = replace(scenarios.tiny(), nodes=5, duration_s=240,
                 links=LinkParams(stall_share=0.2, stall_mean_ms=60_000,
                                  channels=(ChannelParams("nostr", loss=0.3), ChannelParams("mqtt", loss=0.3))),
                 node_model=NodeParams(initial_share=0.2, session_median_s=60, session_sigma=0.3,
                                       follower_share=0.0, worker_weights=((1, 1.0),)),
                 load=replace(scenarios.tiny().load, steady_per_min=0.0))
    sim = Simulation(sc, seed=1, node_factory=chatty_factory, share_decode=False, network_log=False)
    s = sim.run()
    assert_packets_conserved(s)
    fates, outcomes = s["links"]["packet_fates"], s["links"]["outcomes"]
    for k in ("delivered", "dropped:no_receivers", "dropped:unknown_receiver", "dropped:offline",
              "dropped:in_flight", "lost:loss"):
        assert fates.get(k, 0) > 0, (k, fates)
    assert outcomes.get("dropped:in_flight", 0) > 0 and outcomes.get("dropped:offline", 0) > 0
    # the only-unknown sends (every 5th beat of every node) are all booked as such, none as copies
    assert fates["dropped:unknown_receiver"] >= s["packets_by_type"]["lost"]
    assert UNKNOWN_ID not in sim.by_sid


def test_fake_protocol_reaches_full_agreement_on_clean_tiny():
    sim = Simulation(scenarios.tiny(), seed=2, node_factory=fake_factory, share_decode=False)
    s = sim.run()
    assert s["requests"] >= 2 and s["quorums"] == s["requests"]
    assert s["full_agreement"] == 1.0 and s["failed_by_phase"] == {}
    assert s["tokens"] > 0 and s["bytes_per_token"] == round(s["bytes"] / s["tokens"], 3)


def test_links_latency_depends_on_regions_and_partition_cuts():
    params = LinkParams(sigma=0.0, channels=(ChannelParams("a", loss=0.0),),
                        partitions=PartitionParams(per_hour=0))
    regions = np.array([0, 0, 1])
    lm = LinkModel(params, regions, seed=1, start_ms=0, duration_ms=1000)
    fan = lm.fanout(0, np.array([1, 2]), 0, 100)
    assert fan.latency_ms[0, 0] < fan.latency_ms[1, 0]        # intra-region faster than inter
    lm.partitions = [(0, 10_000, np.array([True, False, False]))]
    fan = lm.fanout(0, np.array([1, 2]), 5, 100)
    assert (fan.first_channel == -1).all()
    assert lm.ledger.outcomes["dropped:partition"] == 2


def test_node_model_spreads_workers_and_followers():
    profiles = NodeModel(NodeParams(follower_share=0.5)).draw(2000, 3_600_000, [0.5, 0.5], seed=1)
    workers = [p.workers for p in profiles]
    followers = sum(1 for w in workers if w == 0) / len(workers)
    assert 0.45 < followers < 0.55
    nonzero = [w for w in workers if w]
    assert max(set(nonzero), key=nonzero.count) == 2 and len(set(nonzero)) >= 4
    assert len({p.tokens_per_s for p in profiles}) > 1900


def test_standin_embeddings_cluster_and_flip():
    st = ModelStandins(StandinParams(max_clusters=1, nondeterministic_share=1.0, nondeterministic_max_bits=3,
                                     spread_bits=10, garbage_share=0.0))
    rng = random.Random(1)
    prompt = "[sim-prompt 7 abcd] question"
    t1, _ = st.infer(prompt, 1, False, 50, 100, rng)
    t2, _ = st.infer(prompt, 2, False, 50, 100, rng)
    g, _ = st.infer(prompt, 3, True, 50, 100, rng)
    assert t1 != t2
    bits = lambda b: int.from_bytes(b, "big")  # noqa: E731
    dist = lambda a, b: bin(bits(a) ^ bits(b)).count("1")  # noqa: E731
    e1, e1b, e2, eg = st.embed(t1, rng), st.embed(t1, rng), st.embed(t2, rng), st.embed(g, rng)
    assert len(e1) == EMBEDDING_BYTES == 48
    assert 1 <= dist(e1, e1b) <= 6               # same text, two runs: a few flips
    assert dist(e1, e2) <= 2 * 10 + 6            # same cluster: close
    assert dist(e1, eg) > 120                    # garbage: far


def test_standin_embedding_size_follows_the_protocol():
    """v2: all-MiniLM-L6-v2 (384 bits); v1: nomic-embed-text-v1.5 (768 bits, 768 floats)."""
    rng = random.Random(2)
    params = StandinParams(nondeterministic_share=0.0)
    v1, v2 = ModelStandins(params, protocol=1), ModelStandins(params, protocol=2)
    text, _ = v2.infer("[sim-prompt 3 beef] q", 1, False, 40, 100, rng)
    assert len(v2.embed(text, rng)) == EMBEDDING_BYTES == 48
    e1 = v1.embed(text, rng)
    assert len(e1) == EMBEDDING_BYTES_V1 == 96 and e1 == v1.embed(text, rng)
    floats = v1.float_embedding(e1)
    assert len(floats) == 768
    assert all((f > 0) == bool(e1[k // 8] >> (7 - k % 8) & 1) for k, f in enumerate(floats))
