"""v2 catch-up after a node missed the commit set or reveals (docs/protocol-v2.md, "Catch-up").

Found by the simulator (st1, v2): nearly every quorum where honest nodes ended differently had
one or two participants cut off by a partition during the reveal phase, or a set that never
reached a node. These tests cut nodes off in the test harness (tests/unit/netharness.py) and
check that every participant ends with the identical result, and that nothing is published
that is later replaced.
"""

from __future__ import annotations

from rakis_py.protocol.quorum import rank_key

from .netharness import Net, NodeSpec

RUN_MS = 150_000
MAX_TIME_MS = 10_000


def result(net: Net, i: int, rid: str):
    c = net.consensus_of(i, rid)
    return None if c is None else (c.success, c.joint_hash, tuple(sorted(c.accepted)))


def ranked(net: Net, rid: str, nodes) -> list[int]:
    return sorted(nodes, key=lambda i: rank_key(rid, net.ids[i]))


def published(net: Net, rid: str) -> list[tuple[int, str]]:
    return [(i, env["packet"]["validInferenceJointHash"]) for i, env in net.sent
            if env["packet"]["type"] == "inferenceQuorumComputed" and env["packet"]["requestId"] == rid]


def test_v2_node_cut_off_through_the_reveal_phase_catches_up():
    """Node 3 is cut off from just after the commits until after the reveal window closes: it
    misses the set, the reveals and the re-requests, and nobody gets its reveal. After the cut
    heals it and the others re-ask (every V2_REASK_MS until the final deadline), so every
    committer ends with the same result over all five reveals (before: node 3 failed for want
    of reveals, the others agreed without its reveal)."""
    n = 5
    net = Net([NodeSpec() for _ in range(n)] + [NodeSpec(llm=False)], seed=3, jitter=0)
    rid = net.submit(n, quorum=3, max_time_ms=MAX_TIME_MS)
    ending = net.now + MAX_TIME_MS
    lo, hi = ending - 5_000, ending + 25_000          # commits are out by then; heals before the final deadline
    net.drop = lambda a, b, env: 3 in (a, b) and lo <= net.now <= hi
    net.run_until(net.now + RUN_MS)
    res = [result(net, i, rid) for i in range(n)]
    assert all(r is not None for r in res) and len(set(res)) == 1, res
    assert res[0][0] and len(res[0][2]) == n, res


def test_v2_committer_that_never_heard_a_set_asks_and_gets_it():
    """Node 0 commits first, then is cut off before the others' commits reach it: it knows too
    few commits to coordinate and no set reaches it (before: it failed `missing_commits` and had
    no outcome). After the cut heals it asks, naming its own commit and no set; the coordinator
    and relayers send it their set, it reveals, gets the others' reveals and computes the same
    result as everyone."""
    n = 5
    specs = [NodeSpec(infer_ms=200)] + [NodeSpec(infer_ms=2_000) for _ in range(n - 1)] + [NodeSpec(llm=False)]
    net = Net(specs, seed=5, jitter=0)
    rid = net.submit(n, quorum=3, max_time_ms=MAX_TIME_MS)
    start, ending = net.now, net.now + MAX_TIME_MS
    lo, hi = start + 1_000, ending + 24_000
    net.drop = lambda a, b, env: 0 in (a, b) and lo <= net.now <= hi
    net.run_until(net.now + RUN_MS)
    asks = [env["packet"] for i, env in net.sent if i == 0 and env["packet"]["type"] == "inferenceRevealMissing"]
    assert any("commitSetHash" not in p for p in asks), asks     # the set-less ask
    res = [result(net, i, rid) for i in range(n)]
    assert all(r is not None for r in res) and len(set(res)) == 1, res
    assert res[0][0] and len(res[0][2]) == n, res


def test_v2_nodes_on_a_worse_set_are_sent_the_better_one():
    """The best-ranked coordinator's set never reaches nodes y and z (its relayers), and neither
    does w's commit: y takes over with a set without w, z follows it. Both hold every reveal of
    their set, so they never ask. The coordinator (and a relayer) answer y's worse set with
    theirs, addressed to its members: y and z switch, and all end with the same 5-commit result."""
    n = 5
    net = Net([NodeSpec() for _ in range(n)] + [NodeSpec(llm=False)], seed=11, jitter=0)
    rid = net.submit(n, quorum=3, max_time_ms=MAX_TIME_MS)
    ending = net.now + MAX_TIME_MS
    order = ranked(net, rid, range(n))
    coord, y, z, w = order[0], order[1], order[2], order[4]

    def drop(a, b, env):
        p = env["packet"]
        if b not in (y, z):
            return False
        if p["type"] == "inferenceCommit" and env["synthientId"] == net.ids[w]:
            return True
        # the coordinator's set and its relayed copies, around when they are sent
        return (p["type"] == "inferenceRevealRequest" and env["synthientId"] == net.ids[coord]
                and net.now < ending + 4_000)
    net.drop = drop
    net.run_until(net.now + RUN_MS)
    sets = {env["synthientId"] for _, env in net.sent if env["packet"]["type"] == "inferenceRevealRequest"}
    assert net.ids[y] in sets                                   # y did take over with its own set
    res = [result(net, i, rid) for i in range(n)]
    assert all(r is not None for r in res) and len(set(res)) == 1, res
    assert res[0][0] and len(res[0][2]) == n, res


def test_v2_result_without_every_reveal_is_published_at_the_final_deadline():
    """w's reveal reaches nobody until after the reveal window: everyone computes without it at
    the close, then gets it by re-asking and recomputes. The publishers publish only the result
    they hold at the final deadline, so no published packet is replaced later (before: they
    published the partial result at the close, a disagreeing packet for every observer)."""
    n = 5
    net = Net([NodeSpec() for _ in range(n)] + [NodeSpec(llm=False)], seed=7, jitter=0)
    rid = net.submit(n, quorum=3, max_time_ms=MAX_TIME_MS)
    ending = net.now + MAX_TIME_MS
    w = ranked(net, rid, range(n))[3]
    close = ending + 2_000 + 15_000
    net.drop = lambda a, b, env: (env["packet"]["type"] == "inferenceReveal"
                                  and env["synthientId"] == net.ids[w] and net.now < close + 1_000)
    net.run_until(net.now + RUN_MS)
    res = [result(net, i, rid) for i in range(n)]
    assert all(r is not None for r in res) and len(set(res)) == 1, res
    assert res[0][0] and len(res[0][2]) == n, res
    pubs = published(net, rid)
    assert pubs and {j for _, j in pubs} == {res[0][1]}, pubs


def test_v2_complete_result_is_still_published_at_once():
    """With every reveal in, publishers publish as soon as they compute (no waiting)."""
    net = Net([NodeSpec() for _ in range(4)], seed=4, jitter=1)
    rid = net.submit(0, quorum=3, max_time_ms=MAX_TIME_MS)
    ending = net.now + MAX_TIME_MS
    net.run_until(ending + 17_000)                  # before the reveal window closes
    assert published(net, rid)


def test_v2_catchup_state_survives_a_restart():
    from rakis_py.protocol.quorum import Quorum
    q = Quorum("r", 2, "completed", 3, 0, "m")
    q.asked_at, q.agreed_envelope, q.publish_due = 5, {"synthientId": "s", "signature": "x", "packet": {}}, True
    back = Quorum.from_record(q.to_record())
    assert (back.asked_at, back.agreed_envelope, back.publish_due) == (5, q.agreed_envelope, True)
    old = {k: v for k, v in q.to_record().items() if k not in ("askedAt", "agreedEnvelope", "publishDue")}
    back = Quorum.from_record(old)                 # records stored before these fields
    assert (back.asked_at, back.agreed_envelope, back.publish_due) == (None, None, False)
