"""Addressed sends (`Send.to`): which packets the node addresses, to whom, and that agreement holds.

v2 addresses one thing: a reveal re-sent in answer to an `inferenceRevealMissing`, to the asker,
every committer the responder knows and the requester (docs/protocol-v2.md, "Addressed sends").
Everything else, and every v1 packet, goes to everyone. The harness delivers an addressed Send
only to the named nodes (tests/unit/netharness.py).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rakis_py.protocol.quorum import rank_key

from .netharness import Net, NodeSpec

RUN_MS = 150_000


def results(net: Net, rid: str, nodes) -> list:
    out = []
    for i in nodes:
        c = net.consensus_of(i, rid)
        out.append(None if c is None else (c.success, c.joint_hash, tuple(sorted(c.accepted))))
    return out


def drop_first_reveals(net: Net, pairs) -> set:
    """Drop the first copy of the reveal sent from a to b, for each (a, b) in pairs."""
    dropped: set = set()

    def drop(a, b, env):
        if env["packet"]["type"] == "inferenceReveal" and (a, b) in pairs and (a, b) not in dropped:
            dropped.add((a, b))
            return True
        return False
    net.drop = drop
    return dropped


def addressed(net: Net) -> list:
    return [(i, s) for i, s in net.sends if s.to is not None]


def test_v2_resent_reveal_is_addressed_to_asker_committers_and_requester():
    # 0..3 commit; 4 is the requester (no LLM, verifies); 5 is a follower (no LLM, no verification).
    specs = [NodeSpec() for _ in range(4)] + [NodeSpec(llm=False), NodeSpec(llm=False)]
    net = Net(specs, seed=9, jitter=0)
    rid = net.submit(4, quorum=3, max_time_ms=10_000)
    dropped = drop_first_reveals(net, {(1, 2), (1, 3)})
    net.run_until(net.now + RUN_MS)
    assert dropped == {(1, 2), (1, 3)}
    asks = [i for i, env in net.sent if env["packet"]["type"] == "inferenceRevealMissing"]
    assert asks and all(env["packet"]["type"] == "inferenceReveal" for _, s in addressed(net)
                        for env in [s.envelope])
    resent = addressed(net)
    assert resent, "the lost reveal was re-sent, addressed"
    committers = set(range(4))
    for sender, s in resent:
        env = s.envelope
        committer = net.ids.index(env["synthientId"])
        want = {net.ids[j] for j in (committers | {4} | set(asks))} - {net.ids[sender], net.ids[committer]}
        assert set(s.to) == want, (sender, committer)
        assert list(s.to) == sorted(s.to)
        assert net.ids[5] not in s.to            # the follower needs no reveal
    # The committer (1) re-sent its own reveal; coordinator and relayers may relay it too.
    assert 1 in {i for i, _ in resent}
    res = results(net, rid, [0, 1, 2, 3, 4])
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4, res


def test_v2_addresses_nothing_else():
    net = Net([NodeSpec() for _ in range(5)], seed=4, jitter=1)
    net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    assert net.sends and not addressed(net)        # no re-request, so every send is a broadcast


def test_v1_never_addresses():
    """v1 rules stay as spec §6/§7: every packet to everyone, lost reveals or not."""
    for seed in range(3):
        net = Net([NodeSpec() for _ in range(5)], seed=seed, jitter=0)
        net.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
        drop_first_reveals(net, {(1, 2), (1, 3), (2, 4)})
        net.run_until(net.now + RUN_MS)
        assert net.sends and all(s.to is None for _, s in net.sends)


def _seed_where_member_asks_first() -> tuple[int, Net, str]:
    """A net where committer 2 asks before the verify_all non-member 4 would (missing stagger)."""
    for seed in range(40):
        net = Net([NodeSpec() for _ in range(4)] + [NodeSpec(llm=False)], seed=seed, jitter=0)
        net.nodes[4].config.verify_all = True
        rid = net.submit(0, quorum=3, max_time_ms=10_000)
        stagger = {i: int(rank_key(rid, net.ids[i])[:8], 16) % 2_000 for i in (2, 4)}
        if stagger[2] < stagger[4]:
            return seed, net, rid
    raise AssertionError("no seed found")


def test_v2_verifier_outside_the_set_asks_for_itself():
    """A verify_all node is not in the agreed set, so re-sent reveals are not addressed to it
    unless it asks: another node's re-request must not suppress its own."""
    _, net, rid = _seed_where_member_asks_first()
    drop_first_reveals(net, {(1, 2), (1, 4)})
    net.run_until(net.now + RUN_MS)
    asks = [i for i, env in net.sent if env["packet"]["type"] == "inferenceRevealMissing"]
    assert 2 in asks and 4 in asks, asks
    res = results(net, rid, range(5))
    assert all(r is not None for r in res) and len(set(res)) == 1 and res[0][0], res
    assert len(res[0][2]) == 4


def test_v2_set_member_is_suppressed_by_an_earlier_re_request():
    """A member of the agreed set is addressed by every responder, so it still need not ask
    when someone asked for everything it lacks (no extra re-requests)."""
    for seed in range(40):
        net = Net([NodeSpec() for _ in range(4)], seed=seed, jitter=0)
        rid = net.submit(0, quorum=3, max_time_ms=10_000)
        st2, st3 = (int(rank_key(rid, net.ids[i])[:8], 16) % 2_000 for i in (2, 3))
        if st3 - st2 > 500:
            break
    drop_first_reveals(net, {(1, 2), (1, 3)})
    net.run_until(net.now + RUN_MS)
    asks = [i for i, env in net.sent if env["packet"]["type"] == "inferenceRevealMissing"]
    assert asks == [2], asks
    res = results(net, rid, range(4))
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4, res


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), max_delay=st.integers(1, 1500),
       losses=st.sets(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=8),
       verify_all=st.booleans())
def test_property_lost_reveals_and_addressed_resends_give_identical_results(seed, n, max_delay, losses,
                                                                           verify_all):
    """Any delivery order, first copies of some reveals lost (re-requested, re-sent addressed):
    every honest verifier, a verify_all bystander included, ends with the identical result."""
    specs = [NodeSpec(infer_ms=500 + 400 * i) for i in range(n)] + [NodeSpec(llm=False)]
    net = Net(specs, seed=seed, jitter=1, delay=lambda rng, a, b: rng.randint(1, max_delay))
    net.nodes[n].config.verify_all = verify_all
    rid = net.submit(seed % n, quorum=min(3, n), max_time_ms=8_000)
    drop_first_reveals(net, {(a, b) for a, b in losses if a < n and b <= n and a != b})
    net.run_until(net.now + RUN_MS)
    verifiers = list(range(n)) + ([n] if verify_all else [])
    res = results(net, rid, verifiers)
    assert all(r is not None for r in res), res
    assert len(set(res)) == 1 and res[0][0], res
    assert len(res[0][2]) == n, res
