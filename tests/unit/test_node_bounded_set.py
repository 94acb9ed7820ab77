"""v2's bounded commit set (`maxCommits`, docs/protocol-v2.md "Bounded set").

Found by the simulator: st1 at 1,600 nodes had agreed sets of 20-28 commits, every participant
re-embeds every reveal of the set, and participants ran out of time. The coordinator now keeps
the `maxCommits` best-ranked commits it knows; a node whose commit could no longer make the set
neither starts the inference nor commits.
"""

from __future__ import annotations

import pytest

from rakis_py.protocol import builders
from rakis_py.protocol.actions import RunInference
from rakis_py.protocol.events import PacketReceived, WorkerStatus
from rakis_py.protocol.quorum import V2_MAX_COMMITS, Frame, rank_key
from rakis_py.protocol.timefmt import format_js_date

from .netharness import Net, NodeSpec
from .test_node import RUN_MS, rejected, results
from .test_node_v15 import RecNet, codes, ident

MAX_TIME_MS = 10_000


def sets_sent(net: Net, rid: str) -> list[list[str]]:
    return [[e["synthientId"] for e in env["packet"]["quorum"]] for _, env in net.sent
            if env["packet"]["type"] == "inferenceRevealRequest" and env["packet"]["requestId"] == rid]


def committers(net: Net, rid: str) -> list[str]:
    return [env["synthientId"] for _, env in net.sent
            if env["packet"]["type"] == "inferenceCommit" and env["packet"]["requestId"] == rid]


def request_states(net: Net, i: int, rid: str) -> list[str]:
    return [e.state for e in net.emits[i] if e.KIND == "request" and e.request_id == rid]


def test_the_set_keeps_the_best_ranked_commits_and_everyone_agrees_on_it():
    """8 workers commit to a request with maxCommits 4 (all commit at about the same time, so
    none knows it is outranked yet): the coordinator's set lists the 4 best-ranked committers,
    and every committer, in the set or not, ends with the same result over those 4."""
    net = Net([NodeSpec() for _ in range(8)] + [NodeSpec(llm=False)], seed=21, jitter=0)
    rid = net.submit(8, quorum=2, max_time_ms=MAX_TIME_MS, security_extra=(("maxCommits", 4),))
    net.run_until(net.now + RUN_MS)
    sent = committers(net, rid)
    assert len(sent) > 4
    best = sorted(sent, key=lambda sid: rank_key(rid, sid))[:4]
    sets = sets_sent(net, rid)
    assert sets and all(len(s) <= 4 for s in sets), sets
    assert sorted(sets[0]) == sorted(best)
    res = results(net, rid)
    assert len(res) == len(sent) + 1          # every committer and the requester computed
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4, res


def test_without_a_bound_the_set_lists_every_commit():
    """The contrast: with maxCommits 64 the same network's set lists all 8 commits."""
    net = Net([NodeSpec() for _ in range(8)] + [NodeSpec(llm=False)], seed=21, jitter=0)
    rid = net.submit(8, quorum=2, max_time_ms=MAX_TIME_MS, security_extra=(("maxCommits", 64),))
    net.run_until(net.now + RUN_MS)
    assert [len(s) for s in sets_sent(net, rid)][:1] == [8]


def test_an_outranked_node_does_not_commit():
    """The worst-ranked worker finishes long after the others: by then it knows maxCommits (3)
    better-ranked commits, so its commit could not make the set. It does not commit (state
    `outranked`) and computes nothing: it follows the network's result."""
    net = Net([NodeSpec() for _ in range(5)] + [NodeSpec(llm=False)], seed=4, jitter=0)
    rid = net.submit(5, quorum=2, max_time_ms=MAX_TIME_MS, security_extra=(("maxCommits", 3),))
    worst = max(range(5), key=lambda i: rank_key(rid, net.ids[i]))
    net.specs[worst].infer_ms = 6_000          # the request reaches it after submit: read then
    net.run_until(net.now + RUN_MS)
    assert net.ids[worst] not in committers(net, rid)
    assert "outranked" in request_states(net, worst, rid)
    assert len(committers(net, rid)) == 4
    assert net.consensus_of(worst, rid) is None              # it did not check: it follows
    res = results(net, rid, [i for i in range(6) if i != worst])
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 3, res


def _late_worker_net(max_commits):
    specs = [NodeSpec(infer_ms=500) for _ in range(5)] + [NodeSpec(llm=False), NodeSpec(llm=False)]
    net = RecNet(specs, seed=10, jitter=0)
    rid = net.submit(5, quorum=2, max_time_ms=30_000, security_extra=(("maxCommits", max_commits),))
    return net, rid


@pytest.mark.parametrize("bounded", [True, False])
def test_an_outranked_node_takes_no_inference(bounded):
    """A worker whose LLM becomes ready while a request is open starts no inference for it once
    it knows maxCommits better-ranked commits (with a large bound it does)."""
    late = 6
    net, rid = _late_worker_net(64)
    better = sum(rank_key(rid, net.ids[i]) < rank_key(rid, net.ids[late]) for i in range(5))
    assert better >= 2                                # seed 10: 3 better; a bound of `better` is a valid frame
    if bounded:
        net, rid2 = _late_worker_net(better)          # same seed: same request id and ranks
        assert rid2 == rid
    net.run_until(net.now + 5_000)                    # the 5 commits are out
    net.deliver(late, WorkerStatus("llm-late", "llm", "smollm2", "ready"), net.now)
    started = [a for _, a in net.actions(late, RunInference)]
    assert bool(started) is not bounded


def test_a_set_larger_than_max_commits_is_refused():
    """A coordinator listing more commits than the request's maxCommits is refused (too_large)
    and followed by nobody; the honest set wins."""
    net = Net([NodeSpec() for _ in range(4)] + [NodeSpec(llm=False)], seed=13, jitter=0)
    rid = net.submit(4, quorum=2, max_time_ms=MAX_TIME_MS, security_extra=(("maxCommits", 3),))
    net.run_until(net.now + MAX_TIME_MS - 1_000)             # commits are out, no set yet
    liar = ident("big-set")
    entries = [{"inferenceId": f"{rid}.x{k:05d}", "synthientId": ident(f"s{k}").synthient_id,
                "bEmbeddingHash": "ab" * 32} for k in range(3)]
    entries.append({"inferenceId": rid + ".liar01", "synthientId": liar.synthient_id, "bEmbeddingHash": "cd" * 32})
    env = liar.envelope(builders.inference_reveal_request(rid, entries, 15_000, format_js_date(net.now),
                                                          protocol=2, rank=0))
    acts = net.nodes[0].handle(PacketReceived(env, "sim", net.now), net.now)
    assert codes(acts) == ["too_large"]
    for i in range(1, 5):
        net.push(net.now + 1, i, PacketReceived(env, "sim", 0))
    net.run_until(net.now + RUN_MS)
    assert all(rejected(net, i)["too_large"] == 1 for i in range(1, 5))
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 3, res


def test_max_commits_below_the_quorum_is_a_bad_request():
    sf = builders.security_frame(3, 30_000, 100, 0.5, protocol=2, max_commits=2)
    with pytest.raises(ValueError, match="below the quorum"):
        Frame.from_security_frame(sf)
    assert Frame.from_security_frame(builders.security_frame(3, 30_000, 100, 0.5, protocol=2)).max_commits \
        == V2_MAX_COMMITS
    net = Net([NodeSpec(llm=False), NodeSpec(llm=False)], seed=1)
    net.submit(0, quorum=3, max_time_ms=MAX_TIME_MS, security_extra=(("maxCommits", 2),))
    net.run_until(net.now + 1_000)
    assert rejected(net, 1)["bad_schema"] == 1
