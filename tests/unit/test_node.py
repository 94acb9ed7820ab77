"""The node state machine end to end, on an in-process network of real nodes (tests/unit/netharness.py).

Each test names the v1 weakness (v1 spec §15, docs/v1-spec.md) or design point (docs/design.md) it shows fixed, next to v1's behaviour
where the contrast is the point.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rakis_py.protocol import builders
from rakis_py.protocol.events import PacketReceived
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.quorum import rank_key
from rakis_py.protocol.timefmt import format_js_date

from .netharness import Net, NodeSpec

RUN_MS = 150_000


def results(net: Net, rid: str, nodes=None) -> list:
    nodes = range(len(net.nodes)) if nodes is None else nodes
    out = []
    for i in nodes:
        c = net.consensus_of(i, rid)
        out.append(None if c is None else (c.success, c.joint_hash, tuple(sorted(c.accepted))))
    return out


def rejected(net: Net, i: int) -> Counter:
    return Counter(e.code for e in net.emits[i] if e.KIND == "rejected")


def sent_types(net: Net) -> Counter:
    return Counter(env["packet"]["type"] for _, env in net.sent)


# -- agreement -------------------------------------------------------------------------------

def test_v2_four_nodes_reach_the_identical_result():
    net = Net([NodeSpec() for _ in range(4)], seed=1, jitter=2)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert all(r is not None and r[0] for r in res), res
    assert len(set(res)) == 1
    assert len(res[0][2]) == 4


def test_v1_disagrees_across_verifiers_where_v2_agrees():
    """§15.7: v1's result depends on each node's local commit order; v2's does not."""
    seeds_with_split = 0
    for seed in range(6):
        net = Net([NodeSpec() for _ in range(4)], seed=seed, jitter=0)
        rid = net.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
        net.run_until(net.now + RUN_MS)
        res = results(net, rid)
        assert all(r and r[0] for r in res)
        seeds_with_split += len({r[1] for r in res}) > 1
    assert seeds_with_split >= 1


def test_v1_exact_match_fails_under_model_nondeterminism_v2_tolerates_it():
    """§15.11: one or two flipped bits on re-embedding break v1's check, not v2's tolerance."""
    v1 = Net([NodeSpec() for _ in range(4)], seed=3, jitter=2)
    rid1 = v1.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    v1.run_until(v1.now + RUN_MS)
    assert all(r is not None and not r[0] for r in results(v1, rid1))
    assert sent_types(v1)["inferenceRevealRejected"] > 0
    v2 = Net([NodeSpec() for _ in range(4)], seed=3, jitter=2)
    rid2 = v2.submit(0, quorum=3, max_time_ms=10_000)
    v2.run_until(v2.now + RUN_MS)
    assert all(r is not None and r[0] for r in results(v2, rid2))


def test_v2_sends_one_reveal_per_commit_v1_one_per_reveal_request():
    """§15.1 / design 6: v1 floods n reveal requests x n reveals; v2 one of each per commit."""
    n = 5
    v1 = Net([NodeSpec() for _ in range(n)], seed=4, jitter=0)
    v1.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    v1.run_until(v1.now + RUN_MS)
    v2 = Net([NodeSpec() for _ in range(n)], seed=4, jitter=0)
    v2.submit(0, quorum=3, max_time_ms=10_000)
    v2.run_until(v2.now + RUN_MS)
    t1, t2 = sent_types(v1), sent_types(v2)
    assert t1["inferenceReveal"] == n * n and t1["inferenceRevealRequest"] == n
    assert t2["inferenceReveal"] == n
    # One commit set, sent by the coordinator and re-sent (same signed envelope) by two relayers.
    sets = [env["signature"] for _, env in v2.sent if env["packet"]["type"] == "inferenceRevealRequest"]
    assert len(set(sets)) == 1 and len(sets) == 3
    assert t2["inferenceQuorumComputed"] == 3          # deterministic publishers, not everyone
    assert all("embedding" not in env["packet"] for _, env in v2.sent
               if env["packet"]["type"] == "inferenceReveal")
    # §15.12: v2 results list the whole agreed set as submitted.
    computed = [env["packet"] for _, env in v2.sent if env["packet"]["type"] == "inferenceQuorumComputed"]
    assert all(len(p["submittedInferences"]) == n and p["protocol"] == 2 for p in computed)


def test_garbage_output_is_excluded_by_v2_clustering():
    """§15.3/§15.5: a node committing honestly to garbage is not accepted."""
    specs = [NodeSpec() for _ in range(4)] + [NodeSpec(garbage=True)]
    net = Net(specs, seed=5, jitter=1)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0]
    garbage_id = net.ids[4]
    accepted = net.consensus_of(0, rid).accepted
    assert len(accepted) == 4
    assert not any(a for a in accepted if net.nodes[0].quorums[rid].find(garbage_id, a))


def test_phases_close_early_when_complete():
    """design 5: v2 publishes within seconds of the deadline, v1 waits its fixed 35 s."""
    def finish_after_deadline(protocol):
        net = Net([NodeSpec() for _ in range(4)], seed=6, jitter=0)
        rid = net.submit(0, quorum=3, max_time_ms=10_000, protocol=protocol)
        net.run_until(net.now + RUN_MS)
        ending = net.nodes[0].requests[rid].ending_at
        done = [e.t for i in range(4) for e in net.emits[i] if e.KIND == "consensus"]
        return max(done) - ending
    assert finish_after_deadline(2) < 8_000
    assert finish_after_deadline(1) >= 35_000


# -- property: any delivery order and timing within the windows gives the same result ---------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), max_delay=st.integers(1, 1500),
       garbage=st.integers(0, 1), jitter=st.integers(0, 6), quorum=st.integers(2, 3))
def test_property_every_honest_node_publishes_the_identical_result(seed, n, max_delay, garbage,
                                                                    jitter, quorum):
    net = Net(property_specs(n, garbage), seed=seed, jitter=jitter,
              delay=lambda rng, a, b: rng.randint(1, max_delay))
    assert_honest_nodes_agree(net, seed, n, quorum)


def property_specs(n: int, garbage: int) -> list:
    """n honest nodes of staggered speeds, plus `garbage` nodes that commit garbage."""
    return [NodeSpec(infer_ms=500 + 400 * i) for i in range(n)] + [NodeSpec(garbage=True)] * garbage


def assert_honest_nodes_agree(net: Net, seed: int, n: int, quorum: int) -> None:
    """Run one request to the end: the n honest nodes all end with the same successful result."""
    rid = net.submit(seed % n, quorum=quorum, max_time_ms=8_000)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid, range(n))
    assert all(r is not None for r in res), res
    assert len(set(res)) == 1, res
    assert res[0][0], res


# -- failures and recovery ---------------------------------------------------------------------

def coordinator_of(net: Net, rid: str, members) -> int:
    return min(members, key=lambda i: rank_key(rid, net.ids[i]))


def test_silent_coordinator_is_replaced():
    """design 4: if the first coordinator never sends the commit set, the next one does."""
    net = Net([NodeSpec() for _ in range(5)], seed=7, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + 9_000)          # all have committed (1 s inference)
    coord = coordinator_of(net, rid, range(5))
    net.down.add(coord)
    net.run_until(net.now + RUN_MS)
    live = [i for i in range(5) if i != coord]
    res = results(net, rid, live)
    assert len(set(res)) == 1 and res[0][0], res
    assert len(res[0][2]) == 4                # the silent coordinator's commit never revealed


def test_partition_heals_and_the_commit_set_teaches_missed_commits():
    """§15 partitions: nodes that missed commits learn them from the agreed set; all agree."""
    net = Net([NodeSpec() for _ in range(6)], seed=8, jitter=1)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    start = net.now
    # Until the deadline, commits cross between {0,1,2} and {3,4,5} only half the time.
    net.drop = lambda a, b, env: (env["packet"]["type"] == "inferenceCommit"
                                  and (a < 3) != (b < 3) and net.now < start + 10_000
                                  and hash((a, b)) % 2 == 0)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0], res
    # The set is the best coordinator's view: commits it never saw are left out (not split on).
    assert 3 <= len(res[0][2]) <= 6


def test_lost_reveals_are_re_requested():
    """design 4: a reveal lost on the way is asked for again and re-sent."""
    net = Net([NodeSpec() for _ in range(4)], seed=9, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    dropped = set()

    def drop(a, b, env):
        p = env["packet"]
        if p["type"] == "inferenceReveal" and a == 1 and b in (2, 3) and (a, b) not in dropped:
            dropped.add((a, b))
            return True
        return False
    net.drop = drop
    net.run_until(net.now + RUN_MS)
    assert dropped == {(1, 2), (1, 3)}
    assert sent_types(net)["inferenceRevealMissing"] >= 1
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4, res


def test_restart_mid_quorum_resumes_and_agrees():
    """§15.20: timers and quorum progress survive a restart (state rebuilt from stored records)."""
    net = Net([NodeSpec() for _ in range(4)], seed=10, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + 11_000)            # after the deadline, before the commit set
    net.restart(2)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0], res


def test_late_joiner_after_deadline_still_follows_the_set():
    """§15.10: v1 never arms a reveal timer for a quorum first seen after its deadline; v2 nodes
    that see the request late still adopt the agreed set and end with the network's result."""
    net = Net([NodeSpec() for _ in range(4)] + [NodeSpec(llm=False)], seed=11, jitter=0)
    hold = {"on": True}
    net.drop = lambda a, b, env: hold["on"] and b == 4
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + 12_500)
    hold["on"] = False
    for _, env in list(net.sent):              # the late node now gets everything sent so far
        net.push(net.now + 10, 4, PacketReceived(env, "sim", 0))
    net.run_until(net.now + RUN_MS)
    res = results(net, rid, range(4))
    assert len(set(res)) == 1 and res[0][0], res
    late = net.nodes[4]
    assert late.quorums[rid].agreed_hash == net.nodes[0].quorums[rid].agreed_hash
    assert late.request_view(rid)["result"]["validInferenceJointHash"] == res[0][1]


def test_non_participants_follow_unless_asked_to_verify_everything():
    """v2: a node that neither committed nor asked does not re-embed the request's reveals (its
    embedding worker would otherwise carry the whole network's load); with verify_all it does,
    and reaches the same result."""
    for verify_all in (False, True):
        net = Net([NodeSpec() for _ in range(3)] + [NodeSpec(llm=False)], seed=25, jitter=0)
        net.nodes[3].config.verify_all = verify_all
        rid = net.submit(0, quorum=3, max_time_ms=10_000)
        net.run_until(net.now + RUN_MS)
        res = results(net, rid, range(3))
        assert len(set(res)) == 1 and res[0][0]
        mine = net.consensus_of(3, rid)
        if verify_all:
            assert (mine.success, mine.joint_hash) == res[0][:2]
        else:
            assert mine is None
            assert net.nodes[3].request_view(rid)["result"]["validInferenceJointHash"] == res[0][1]


def test_follower_without_workers_adopts_published_results():
    net = Net([NodeSpec() for _ in range(3)] + [NodeSpec(llm=False, embedder=False)], seed=12, jitter=0)
    rid = net.submit(3, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    view = net.nodes[3].request_view(rid)
    assert view["result"] is not None
    assert view["result"]["validInferenceJointHash"] == results(net, rid, [0])[0][1]
    assert view["agree"] >= 1 and view["disagree"] == 0


# -- hostile input -----------------------------------------------------------------------------

def test_hostile_packets_are_rejected_one_by_one_without_disturbing_consensus():
    """§15.14: malformed, forged, replayed and mismatched packets each get a reason; the
    honest traffic in between is processed normally."""
    net = Net([NodeSpec() for _ in range(4)], seed=13, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    evil = Identity.from_private_key(bytes(range(32)))
    now = net.now
    forged = evil.envelope(builders.inference_commit("ab" * 32, rid, rid + ".evil01", format_js_date(now)))
    forged = {**forged, "signature": "00" * 64}
    replay = evil.envelope(builders.inference_commit("ab" * 32, rid, rid + ".old001",
                                                     format_js_date(now - 3_600_000)))
    for junk in (b"\xff\xfe not json", b"[1,2,3]", b"{}", "x" * 300_000, forged, replay):
        net.push(now + 5, 1, PacketReceived(junk, "sim", 0))
    net.run_until(net.now + 9_000)
    # After the deadline: a "reveal" that does not open its commit.
    q = net.nodes[1].quorums[rid]
    victim = next(c for c in q.commits if c.synthient_id != net.ids[1])
    bad = evil.envelope(builders.inference_reveal(net.ids[0], rid, victim.inference_id, "x",
                                                  bytes(48), None, format_js_date(net.now)))
    net.push(net.now + 3_000, 1, PacketReceived(bad, "sim", 0))
    net.run_until(net.now + RUN_MS)
    codes = rejected(net, 1)
    for code in ("not_json", "bad_envelope", "too_large", "bad_signature", "replay"):
        assert codes[code] >= 1, codes
    assert codes["not_in_quorum"] + codes["mismatch"] >= 1, codes
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4


def test_reveal_not_matching_its_commit_is_refused():
    """§15.9: v1 stored reveals unverified; v2 checks the revealed bits against the commit."""
    net = Net([NodeSpec() for _ in range(3)], seed=14, jitter=0)
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + 11_000)            # commits known, genuine reveals not sent yet
    node = net.nodes[0]
    q = node.quorums[rid]
    other = next(c for c in q.commits if c.synthient_id == net.ids[1])
    # Node 1's key signs a reveal whose bits do not hash to its commit.
    ident1 = net.nodes[1].identity
    fake = ident1.envelope(builders.inference_reveal(net.ids[0], rid, other.inference_id, "lies",
                                                     bytes(48), None, format_js_date(net.now)))
    acts = node.handle(PacketReceived(fake, "sim", net.now), net.now)
    codes = [a.code for a in acts if getattr(a, "KIND", "") == "rejected"]
    assert codes == ["mismatch"], codes
    net.run_until(net.now + RUN_MS)            # the genuine reveal still counts afterwards
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 3, res


def test_duplicates_and_own_echoes_are_dropped_first_channel_recorded_every_channel_seen():
    net = Net([NodeSpec() for _ in range(2)], seed=15, jitter=0)
    net.submit(0, quorum=1, max_time_ms=10_000)
    env = next(e for _, e in net.sent if e["packet"]["type"] == "p2pInferenceRequest")
    node = net.nodes[1]
    t = net.now + 1
    first = node.handle(PacketReceived(env, "mqtt", t), t)
    again = node.handle(PacketReceived(env, "nostr", t + 1), t + 1)
    own = net.nodes[0].handle(PacketReceived(env, "nostr", t), t)
    stored = [a for a in first if getattr(a, "table", None) == "packets"]
    assert stored and stored[0].record["deliveredThrough"] == "mqtt"
    assert not any(getattr(a, "table", None) == "packets" for a in again)
    assert not any(getattr(a, "table", None) == "packets" for a in own)
    # The copy on nostr is dropped, but the peer was seen there too: seenOn holds both channels,
    # persisted once; a third copy on a known channel persists nothing.
    sender = net.nodes[0].me
    assert node.peers.to_record(sender)["seenOn"] == ["mqtt", "nostr"]
    assert [a.record["seenOn"] for a in again if getattr(a, "table", None) == "peers"] == [["mqtt", "nostr"]]
    third = node.handle(PacketReceived(env, "nostr", t + 2), t + 2)
    assert not any(getattr(a, "table", None) == "peers" for a in third)


def test_replay_after_the_row_is_gone_is_refused():
    """§15.15: v1 only deduped against ~5000 stored rows; we also refuse old createdAt."""
    net = Net([NodeSpec() for _ in range(2)], seed=16, jitter=0)
    net.submit(0, quorum=1, max_time_ms=10_000)
    env = next(e for _, e in net.sent if e["packet"]["type"] == "p2pInferenceRequest")
    fresh = net.nodes[0].__class__(net.nodes[1].config, Identity.from_private_key(bytes([7]) * 32),
                                   random.Random(1))
    later = net.now + 11 * 60_000
    acts = fresh.handle(PacketReceived(env, "nostr", later), later)
    assert [a.code for a in acts if getattr(a, "KIND", "") == "rejected"] == ["replay"]


def test_each_packet_is_processed_on_arrival():
    """§15.16: no receive debounce: a single packet is handled in the call that delivers it."""
    net = Net([NodeSpec() for _ in range(2)], seed=17, jitter=0)
    rid = net.submit(0, quorum=1, max_time_ms=10_000)
    env = next(e for _, e in net.sent if e["packet"]["type"] == "p2pInferenceRequest")
    fresh = net.nodes[0].__class__(net.nodes[1].config, Identity.from_private_key(bytes([9]) * 32),
                                   random.Random(2))
    fresh.handle(PacketReceived(env, "nostr", net.now), net.now)
    assert rid in fresh.requests


def test_restore_rebuilds_identical_state_from_records():
    net = Net([NodeSpec() for _ in range(3)], seed=18, jitter=0)
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    before = net.nodes[1].request_view(rid)
    net.restart(1)
    after = net.nodes[1].request_view(rid)
    for key in ("status", "committed", "revealed", "agreedSet", "result"):
        assert before[key] == after[key], key


def test_a_verifier_too_slow_to_finish_publishes_nothing_and_follows():
    """A node that cannot re-embed every reveal before the deadline must not publish a result
    computed from a partial check: it shows the network's result instead (found by the simulator).
    Node 4 (no LLM, a slow embedder) verifies because it asked; node 5 does not verify at all: it
    shows the same result and is not said to have timed out (it never tried)."""
    specs = [NodeSpec() for _ in range(4)] + [NodeSpec(llm=False, embed_ms=20_000), NodeSpec(llm=False)]
    net = Net(specs, seed=22, jitter=0)
    rid = net.submit(4, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + 300_000)
    res = results(net, rid, range(4))
    assert len(set(res)) == 1 and res[0][0], res
    assert net.consensus_of(4, rid) is None or net.consensus_of(4, rid).joint_hash == res[0][1]
    assert not any(e.KIND == "sent" and e.type == "inferenceQuorumComputed" for e in net.emits[4])
    states = {i: [(e.state, e.reason) for e in net.emits[i] if e.KIND == "request"]
              for i in (4, 5)}
    assert ("following", "verification_timeout") in states[4]
    assert not any(st == "following" for st, _ in states[5]), states[5]
    for i in (4, 5):
        view = net.nodes[i].request_view(rid)
        assert view["result"]["validInferenceJointHash"] == res[0][1]
    assert net.nodes[5].request_view(rid)["failure"] is None


def test_a_committer_out_of_time_finishes_its_check_late_and_does_not_publish():
    """A participant whose embedder is too slow for the final deadline follows at first, then
    finishes re-embedding the reveals it holds and ends with its own checked result, the same as
    everyone's, without publishing it (found by the simulator: multi-worker nodes in bursts)."""
    specs = [NodeSpec() for _ in range(4)] + [NodeSpec(embed_ms=15_000)]
    net = Net(specs, seed=22, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=20_000)
    net.run_until(net.now + 400_000)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0], res
    assert net.nodes[4].request_view(rid)["result"]["validInferenceJointHash"] == res[0][1]
    states = [e.state for e in net.emits[4] if e.KIND == "request" and e.request_id == rid]
    assert "committed" in states and "following" in states
    assert states.index("following") < len(states) - 1 and states[-1] == "done"
    sent = [e.type for e in net.emits[4] if e.KIND == "sent"]
    assert "inferenceQuorumComputed" not in sent


def test_commit_set_reaches_a_node_cut_off_from_the_coordinator():
    """The coordinator's signed set is re-sent by two deterministic members, so a node with no
    route to the coordinator still follows the same set (found by the simulator: two sets)."""
    net = Net([NodeSpec() for _ in range(5)], seed=23, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + 9_000)
    coord = coordinator_of(net, rid, range(5))
    cut = next(i for i in range(5) if i != coord)
    net.drop = lambda a, b, env: {a, b} == {coord, cut}
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0], res
    assert net.nodes[cut].quorums[rid].coordinator == net.ids[coord]


def test_own_packets_refused_by_own_rules_never_escape_handle():
    """A local commit that arrives after the set is agreed is logged, not raised."""
    specs = [NodeSpec() for _ in range(3)] + [NodeSpec(embed_ms=12_500)]
    net = Net(specs, seed=24, jitter=0)
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)             # would raise out of handle() before the fix
    states = [e.state for e in net.emits[3] if e.KIND == "request"]
    assert "too_late_to_commit" in states
    assert len(set(results(net, rid, range(3)))) == 1


def test_completed_inference_status_counts_the_inference_it_announces():
    """v1 read totalTokens before adding the new result, so its `completed_inference` status lagged
    one inference (spec §15.21: a node's first inference announced 0 tokens); here it includes it."""
    net = Net([NodeSpec() for _ in range(2)], seed=3, jitter=2)
    net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    for i in range(2):
        done = [env["packet"] for j, env in net.sent if j == i and env["packet"]["type"] == "peerStatusUpdate"
                and env["packet"]["status"] == "completed_inference"]
        assert done, f"node {i} announced no completed inference"
        assert done[0]["totalTokens"] > 0 and done[0]["totalTokens"] == net.nodes[i].total_tokens
