"""v1 weaknesses (spec §15) the v2 rules claim fixed and test_node.py did not show, asserted at node
level: late commits and reveals, the own result kept apart, rejections for analytics, the submitted
list, v1's exact timing, and agreement under duplicated multi-channel delivery.

Each test's docstring states the rule the code follows; timing edges are asserted to the ms.
"""

from __future__ import annotations

import hashlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rakis_py.protocol import builders
from rakis_py.protocol.actions import Persist, RunEmbedding, RunInference, Send, SetTimer
from rakis_py.protocol.events import (EmbeddingFinished, InferenceFinished, PacketReceived,
                                      RequestSubmitted, TimerFired, WorkerStatus)
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.node import Node, NodeConfig
from rakis_py.protocol.notices import Notice
from rakis_py.protocol.quorum import (V1_CONSENSUS_OFFSET_MS, V1_CONSENSUS_WINDOW_MS,
                                      V1_REVEAL_ISSUE_MS, V1_REVEAL_TIMEOUT_MS, V1_TIMER_SLACK_MS)
from rakis_py.protocol.timefmt import format_js_date

from .netharness import Net, NodeSpec
from .test_node import (RUN_MS, assert_honest_nodes_agree, coordinator_of, property_specs, rejected,
                        results)

T0 = 1_750_000_000_000


# -- helpers -----------------------------------------------------------------------------------

def ident(name: str) -> Identity:
    return Identity.from_private_key(hashlib.sha256(f"v15-{name}".encode()).digest())


def codes(actions) -> list:
    return [a.code for a in actions if isinstance(a, Notice) and a.KIND == "rejected"]


def states(actions) -> list:
    return [a.state for a in actions if isinstance(a, Notice) and a.KIND == "request"]


def sends(actions, ptype: str) -> list:
    return [a.envelope for a in actions if isinstance(a, Send) and a.envelope["packet"]["type"] == ptype]


class RecNet(Net):
    """The harness network, also logging every action as (time, node, action)."""

    def __post_init__(self) -> None:
        self.log: list = []
        self.liars: tuple = ()
        super().__post_init__()

    def apply(self, i, a, at) -> None:
        self.log.append((at, i, a))
        super().apply(i, a, at)

    def deliver(self, i, event, at) -> None:
        # A liar commits to bits that are not its output's embedding (40 bits off): its reveal
        # opens its commit, but every verifier's re-embedding of the output disagrees.
        if i in self.liars and isinstance(event, EmbeddingFinished) and event.job_id.startswith("embed_result"):
            event = EmbeddingFinished(event.job_id, tuple(bytes(x ^ 0xFF for x in b[:5]) + b[5:]
                                                          for b in event.bembeddings))
        super().deliver(i, event, at)

    def actions(self, i: int, kind: type) -> list:
        return [(at, a) for at, j, a in self.log if j == i and isinstance(a, kind)]


def ending_at(net: Net, rid: str) -> int:
    return net.nodes[0].requests[rid].ending_at


# -- §15.10: commits after the set is agreed; the commit window edge ---------------------------

def test_v2_commit_after_the_set_is_agreed_is_refused_late_and_stays_out_of_the_set():
    """§15.10: v1 appends commits at any time (spec §6.7). In v2 a commit for a request whose
    agreed commit set this node already follows is refused with RejectCode.LATE and changes
    nothing (not in the quorum, not in the set, nothing persisted); the result is the set's."""
    net = Net([NodeSpec() for _ in range(4)], seed=31, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    frame = net.nodes[0].requests[rid].frame
    net.run_until(frame.coordinator_at(ending_at(net, rid), 0) + 1_000)
    node = net.nodes[1]
    q = node.quorums[rid]
    assert q.agreed is not None and len(q.agreed) == 4
    before = (list(q.agreed), q.agreed_hash, q.committed)
    late = ident("late")
    env = late.envelope(builders.inference_commit("ab" * 32, rid, rid + ".late01", format_js_date(net.now)))
    acts = node.handle(PacketReceived(env, "sim", net.now), net.now)
    assert codes(acts) == ["late"]
    assert q.find(late.synthient_id, rid + ".late01") is None
    assert (list(q.agreed), q.agreed_hash, q.committed) == before
    assert not any(isinstance(a, Persist) and a.table == "quorums" for a in acts)
    for i in (0, 2, 3):
        net.push(net.now + 1, i, PacketReceived(env, "sim", 0))
    net.run_until(net.now + RUN_MS)
    assert all(rejected(net, i)["late"] >= 1 for i in (0, 2, 3))
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 4, res
    assert rid + ".late01" not in res[0][2]

    # v1 contrast: the same commit, after the reveal requests, is still appended (spec §6.7).
    v1 = Net([NodeSpec() for _ in range(4)], seed=31, jitter=0)
    rid1 = v1.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    v1.run_until(ending_at(v1, rid1) + 5_000)
    q1 = v1.nodes[1].quorums[rid1]
    assert q1.status == "awaiting_reveal" and q1.committed == 4
    env1 = late.envelope(builders.inference_commit("ab" * 32, rid1, rid1 + ".late01", format_js_date(v1.now)))
    assert codes(v1.nodes[1].handle(PacketReceived(env1, "sim", v1.now), v1.now)) == []
    assert q1.committed == 5


def _request_envelope(max_time_ms: int = 10_000, **kw) -> tuple[dict, str, int]:
    requester = Node(NodeConfig(status_updates=False), ident("requester"), random.Random(1))
    acts = requester.handle(RequestSubmitted(prompt="p", accepted_models=("m",), quorum=1,
                                             max_time_ms=max_time_ms, **kw), T0)
    env = sends(acts, "p2pInferenceRequest")[0]
    return env, env["packet"]["requestId"], T0 + max_time_ms


def _worker_node(name: str, req_env: dict, inferred_at: int, embedded_at: int,
                 config: NodeConfig | None = None, model_hash: str | None = None) -> tuple[Node, list]:
    """A node with one LLM and one embedder that infers the request and finishes embedding its
    result at `embedded_at`; returns the node and the actions of that last event."""
    node = Node(config or NodeConfig(status_updates=False), ident(name), random.Random(2))
    node.handle(WorkerStatus("llm", "llm", "m", "ready"), T0)
    extra = {"model_hash": model_hash} if model_hash else {}
    node.handle(WorkerStatus("emb", "embedding", "all-MiniLM-L6-v2", "ready", **extra), T0)
    acts = node.handle(PacketReceived(req_env, "sim", T0 + 5), T0 + 5)
    run = next(a for a in acts if isinstance(a, RunInference))
    acts = node.handle(InferenceFinished(run.job_id, f"out of {name}", 5, T0 + 5, inferred_at), inferred_at)
    emb = next(a for a in acts if isinstance(a, RunEmbedding))
    return node, node.handle(EmbeddingFinished(emb.job_id, (bytes(48),)), embedded_at)


def test_v2_commit_window_edge():
    """The commit window, exactly. Rule: a node commits its own result only while
    now <= endingAt (an embedding finishing at exactly endingAt is committed; 1 ms later it is
    "too_late_to_commit"). Received commits have no clock bound of their own: they are taken
    until this node adopts an agreed set. So a commit arriving at exactly endingAt, and one
    arriving at exactly endingAt + commitGraceMs (the coordinator's earliest send) but handled
    before the coordinator's timer, both enter the set; one arriving after the set is LATE."""
    req_env, rid, end = _request_envelope()
    on_time, acts = _worker_node("a", req_env, end - 100, end)
    assert len(sends(acts, "inferenceCommit")) == 1 and "committed" in states(acts)
    too_late, acts = _worker_node("b", req_env, end - 100, end + 1)
    assert sends(acts, "inferenceCommit") == [] and states(acts) == ["too_late_to_commit"]
    assert too_late.quorums.get(rid) is None

    node = on_time
    grace = node.requests[rid].frame.commit_grace_ms
    x, y, z = ident("x"), ident("y"), ident("z")
    for who, t in ((x, end), (y, end + grace)):
        env = who.envelope(builders.inference_commit("cd" * 32, rid, f"{rid}.{who.synthient_id[:6]}",
                                                     format_js_date(t)))
        assert codes(node.handle(PacketReceived(env, "sim", t), t)) == []
    # The coordinator timer: re-armed until this node's rank comes (x or y may rank first).
    at, acts = end + grace, []
    for _ in range(5):
        if sends(acts, "inferenceRevealRequest"):
            break
        acts = node.handle(TimerFired(f"coord:{rid}"), at)
        rearm = [a.at for a in acts if isinstance(a, SetTimer) and a.timer_id == f"coord:{rid}"]
        if rearm:
            at = rearm[0]
    listed = {e["synthientId"] for e in sends(acts, "inferenceRevealRequest")[0]["packet"]["quorum"]}
    assert listed == {node.me, x.synthient_id, y.synthient_id}
    assert {e[0] for e in node.quorums[rid].agreed} == listed
    env = z.envelope(builders.inference_commit("ef" * 32, rid, f"{rid}.zzzzzz", format_js_date(at)))
    assert codes(node.handle(PacketReceived(env, "sim", at), at)) == ["late"]


# -- §15.9: late reveals -----------------------------------------------------------------------

def test_v2_reveal_after_the_final_deadline_is_refused_late():
    """§15.9, v2 rule: a reveal is refused with RejectCode.LATE when it arrives after the
    request's final deadline (endingAt + commitGraceMs + revealWindowMs + consensusWindowMs +
    2 s per agreed commit, `Frame.final_at`), and is not stored; one arriving at exactly that
    ms is still taken. NB: the reveal window's close (the `timeoutMs` of the reveal request)
    is not where reveals are refused: between it and the final deadline a reveal is still
    stored (it may make the node recompute its result)."""
    net = Net([NodeSpec() for _ in range(4)], seed=32, jitter=0)
    net.drop = lambda a, b, env: a == 3 and env["packet"]["type"] == "inferenceReveal"
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    req = net.nodes[0].requests[rid]
    final = req.frame.final_at(req.ending_at, 4)
    close = req.frame.reveal_close_at(req.ending_at)
    net.run_until(final - 5)
    reveals = [env for i, env in net.sent if i == 3 and env["packet"]["type"] == "inferenceReveal"]
    assert reveals, "node 3 revealed (its reveals were dropped on the way)"
    env = reveals[0]
    iid = env["packet"]["inferenceId"]
    for i in range(3):
        assert net.nodes[i].rules_for(net.nodes[i].requests[rid]).final_at(net.nodes[i].requests[rid]) == final
        assert net.nodes[i].quorums[rid].find(net.ids[3], iid).output is None
    # 1 ms after the final deadline: refused, not stored.
    acts = net.nodes[0].handle(PacketReceived(env, "sim", final + 1), final + 1)
    assert codes(acts) == ["late"]
    assert net.nodes[0].quorums[rid].find(net.ids[3], iid).output is None
    # At exactly the final deadline: stored.
    acts = net.nodes[1].handle(PacketReceived(env, "sim", final), final)
    assert codes(acts) == []
    assert net.nodes[1].quorums[rid].find(net.ids[3], iid).output is not None
    # After the reveal window closed, before the final deadline: stored too.
    assert close < final - 5
    acts = net.nodes[2].handle(PacketReceived(env, "sim", final - 5), final - 5)
    assert codes(acts) == []
    assert net.nodes[2].quorums[rid].find(net.ids[3], iid).output is not None


def test_v1_reveal_after_its_35_s_window_is_refused_late():
    """§15.9, v1 rule (spec §6.9 step 2): a received reveal whose receipt time is after
    endingAt + 35 000 ms is refused (RejectCode.LATE here; v1 dropped it silently); at exactly
    endingAt + 35 000 it is stored."""
    net = Net([NodeSpec() for _ in range(4)], seed=33, jitter=0)
    net.drop = lambda a, b, env: a == 3 and env["packet"]["type"] == "inferenceReveal"
    rid = net.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    end = ending_at(net, rid)
    net.run_until(end + V1_REVEAL_TIMEOUT_MS - 5)
    reveals = [env for i, env in net.sent if i == 3 and env["packet"]["type"] == "inferenceReveal"]
    assert len(reveals) >= 2
    iid = reveals[0]["packet"]["inferenceId"]
    t_late = end + V1_REVEAL_TIMEOUT_MS + 1
    acts = net.nodes[0].handle(PacketReceived(reveals[0], "sim", t_late), t_late)
    assert codes(acts) == ["late"]
    assert net.nodes[0].quorums[rid].find(net.ids[3], iid).output is None
    t_edge = end + V1_REVEAL_TIMEOUT_MS
    acts = net.nodes[1].handle(PacketReceived(reveals[1], "sim", t_edge), t_edge)
    assert codes(acts) == []
    assert net.nodes[1].quorums[rid].find(net.ids[3], iid).output is not None


# -- §15.8: own result apart from external ones -------------------------------------------------

def test_own_v2_result_is_kept_apart_from_external_results():
    """§15.8: v1 stores its own inferenceQuorumComputed as an "external" result (spec §6.11). A
    v2 node keeps its own result in `consensus` (consensusResults) only: never in `external`,
    never persisted to externalConsensusResults, its own packet echoed back is dropped, and
    the agree/disagree counts are over other nodes' results."""
    net = RecNet([NodeSpec() for _ in range(5)], seed=34, jitter=1)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid)
    assert len(set(res)) == 1 and res[0][0], res
    published = [i for i, env in net.sent if env["packet"]["type"] == "inferenceQuorumComputed"]
    assert len(published) == 3
    for p in published:
        node = net.nodes[p]
        assert node.consensus[rid]["computedQuorumPacket"]["verifiedBy"] == node.me
        assert (rid, node.me) not in node.external
        assert {by for r, by in node.external if r == rid} == {net.ids[j] for j in published if j != p}
        keys = [a.key for _, a in net.actions(p, Persist) if a.table == "externalConsensusResults"]
        assert f"{rid}:{node.me}" not in keys and len(keys) == 2
        view = node.request_view(rid)
        assert view["result"]["verifiedBy"] == node.me          # its own, not a copy of another's
        assert (view["agree"], view["disagree"]) == (2, 0)
        own = next(env for i, env in net.sent if i == p and env["packet"]["type"] == "inferenceQuorumComputed")
        acts = node.handle(PacketReceived(own, "nostr", net.now), net.now)
        assert not any(isinstance(a, Persist) for a in acts) and (rid, node.me) not in node.external
    # A non-publisher holds all three as external results.
    other = next(i for i in range(5) if i not in published)
    assert {by for r, by in net.nodes[other].external if r == rid} == {net.ids[j] for j in published}

    # v1 contrast: the own packet lands in the external table (v1 behaviour, kept for v1 requests).
    v1 = Net([NodeSpec() for _ in range(4)], seed=34, jitter=0)
    rid1 = v1.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    v1.run_until(v1.now + RUN_MS)
    assert all((rid1, v1.ids[i]) in v1.nodes[i].external for i in range(4))


# -- §15.12: rejections for analytics; submitted = the agreed set -------------------------------

def _liar_and_silent_net(seed: int):
    """5 committers: 0-2 honest, 3 a liar (its bits are not its output's), 4 silent after
    committing (never reveals)."""
    net = RecNet([NodeSpec() for _ in range(5)], seed=seed, jitter=1)
    net.liars = (3,)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(ending_at(net, rid) - 500)
    assert net.nodes[0].quorums[rid].committed == 5
    net.down.add(4)
    net.run_until(net.now + RUN_MS)
    return net, rid


def test_v2_rejections_are_emitted_naming_the_commit_and_reason():
    """§15.12: v1's rejections had no consumer. A v2 verifier's consensus names each rejected
    commit (inferenceId, synthientId, reason) in its ConsensusReached notice and in the
    consensusResults record it persists (what the analytics recorder reads)."""
    net, rid = _liar_and_silent_net(35)
    liar_iid = net.nodes[0].quorums[rid].by_sender(net.ids[3]).inference_id
    want = {"inferenceId": liar_iid, "synthientId": net.ids[3], "reason": "computed_bembedding_fails_threshold"}
    silent_iid = net.nodes[0].quorums[rid].by_sender(net.ids[4]).inference_id
    for i in range(3):
        emits = [a for _, a in net.actions(i, Notice) if a.KIND == "consensus" and a.request_id == rid]
        assert emits and emits[-1].success
        named = emits[-1].rejections
        assert want in named, named
        assert not any(r["synthientId"] == net.ids[4] for r in named)
        assert emits[-1].rejected == len(named)
        # The silent member is not "rejected" by verification: it is simply not accepted.
        assert silent_iid not in emits[-1].accepted and liar_iid not in emits[-1].accepted
        stored = [a.record for _, a in net.actions(i, Persist) if a.table == "consensusResults" and a.key == rid]
        assert want in stored[-1]["rejections"]


def test_v2_consensus_packet_submits_the_whole_agreed_set():
    """§15.12: v1's submittedInferences lists only the verified commits. A v2 result lists
    every member of the agreed commit set as submitted, in canonical order, including a
    rejected one and one never revealed; validInferences lists only the accepted ones."""
    net, rid = _liar_and_silent_net(35)
    q = net.nodes[0].quorums[rid]
    agreed = [inf for _, inf, _ in q.agreed]
    assert len(agreed) == 5
    packets = [env["packet"] for i, env in net.sent if i < 3 and env["packet"]["type"] == "inferenceQuorumComputed"]
    assert packets
    for p in packets:
        assert [e["inferenceId"] for e in p["submittedInferences"]] == agreed
        assert p["commitSetHash"] == q.agreed_hash and p["protocol"] == 2
        valid = {e["inferenceId"] for e in p["validInferences"]}
        assert valid == {q.by_sender(net.ids[i]).inference_id for i in range(3)}


# -- v1 timing, exactly (spec §6.8, §6.10, §19) ---------------------------------------------------

def test_v1_timing_is_exact():
    """v1 mode, per spec §6.8/§6.10/§19 and quorum.V1_*: the reveal-request timer is armed at
    endingAt + 1 ms (JS timers fire after their delay; Dexie's window [now-15 s, now) excludes
    now == endingAt) and every node sends its reveal request then. 15 s is not a delay: it is
    how late the check may still issue (endingAt >= now - 15 000). The consensus check runs at
    endingAt + 35 000 + 10 ms (armed on each stored reveal), queues the verification embedding
    at once with a 40 000 ms expiry, and the result follows the embedding."""
    net = RecNet([NodeSpec() for _ in range(4)], seed=36, jitter=0)
    rid = net.submit(0, quorum=3, max_time_ms=10_000, protocol=1)
    end = ending_at(net, rid)
    net.run_until(net.now + RUN_MS)
    reveal_at = end + V1_TIMER_SLACK_MS
    consensus_at = end + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_OFFSET_MS
    assert (reveal_at, consensus_at) == (end + 1, end + 35_010)
    for i in range(4):
        def timer_ats(kind: str) -> set:
            return {a.at for _, a in net.actions(i, SetTimer) if a.timer_id == f"{kind}:{rid}"}
        assert timer_ats("v1reveal") == {reveal_at}
        assert timer_ats("v1consensus") == {consensus_at}
        assert timer_ats("v1expire") == {consensus_at + V1_CONSENSUS_WINDOW_MS}
        sent = [at for at, a in net.actions(i, Send) if a.envelope["packet"]["type"] == "inferenceRevealRequest"]
        assert sent == [reveal_at]
        state_at = {e.state: e.t for e in net.emits[i]
                    if e.KIND == "request" and e.request_id == rid}
        assert state_at["reveal_requested"] == reveal_at
        assert state_at["consensus"] == consensus_at
        verify = [at for at, a in net.actions(i, RunEmbedding) if a.job_id.startswith("verify")]
        assert verify == [consensus_at]
        assert net.consensus_of(i, rid).t == consensus_at + net.specs[i].embed_ms


def test_v1_timer_window_edges():
    """The v1 windows' edges (spec §6.8, §6.10, Dexie `between` lower-inclusive,
    upper-exclusive): a reveal check at exactly endingAt does nothing (§15.10's edge), at
    endingAt + 15 000 it still issues the reveal request, at endingAt + 15 001 it no longer
    does. A consensus check at endingAt + 35 000 does nothing, at endingAt + 35 001 it starts."""
    def at_deadline():
        net = Net([NodeSpec() for _ in range(3)], seed=37, jitter=0)
        rid = net.submit(0, quorum=2, max_time_ms=10_000, protocol=1)
        net.run_until(ending_at(net, rid) - 1)
        return net, rid, ending_at(net, rid)

    for offset, issues in ((0, False), (V1_REVEAL_ISSUE_MS, True), (V1_REVEAL_ISSUE_MS + 1, False)):
        net, rid, end = at_deadline()
        acts = net.nodes[1].handle(TimerFired(f"v1reveal:{rid}"), end + offset)
        assert bool(sends(acts, "inferenceRevealRequest")) is issues, offset
        assert (net.nodes[1].quorums[rid].status == "awaiting_reveal") is issues

    for offset, starts in ((V1_REVEAL_TIMEOUT_MS, False), (V1_REVEAL_TIMEOUT_MS + 1, True)):
        net, rid, end = at_deadline()
        net.run_until(end + 30_000)          # reveal requests and reveals done
        q = net.nodes[1].quorums[rid]
        assert q.status == "awaiting_reveal" and q.revealed == 3
        acts = net.nodes[1].handle(TimerFired(f"v1consensus:{rid}"), end + offset)
        assert ("consensus" in states(acts)) is starts, offset
        assert (q.consensus_requested_at is not None) is starts


# -- property: duplicated packets over two channels in any order ---------------------------------

class TwoChannelNet(Net):
    """Every packet reaches each peer over "mqtt", often also over "nostr", sometimes twice on
    one channel; each copy has its own delay, so copies arrive in any order."""

    p_second = 0.7
    p_dup = 0.3

    def apply(self, i, a, at) -> None:
        if not isinstance(a, Send):
            super().apply(i, a, at)
            return
        self.sent.append((i, a.envelope))
        for j in range(len(self.nodes)):
            if j == i or self.drop(i, j, a.envelope):
                continue
            copies = ["mqtt"]
            if self.rng.random() < self.p_second:
                copies.append("nostr")
            if self.rng.random() < self.p_dup:
                copies.append(self.rng.choice(("mqtt", "nostr")))
            for channel in copies:
                self.push(at + self.delay(self.rng, i, j), j, PacketReceived(a.envelope, channel, 0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), max_delay=st.integers(1, 1500),
       garbage=st.integers(0, 1), jitter=st.integers(0, 6), quorum=st.integers(2, 3),
       p_second=st.floats(0, 1), p_dup=st.floats(0, 1))
def test_property_identical_result_with_duplicated_packets_over_two_channels(
        seed, n, max_delay, garbage, jitter, quorum, p_second, p_dup):
    """The sibling of test_node.py's property test: the same claim (every honest node publishes
    the identical result, §15.7) when each packet arrives once or more, over one or two
    channels, copies in random order."""
    net = TwoChannelNet(property_specs(n, garbage), seed=seed, jitter=jitter,
                        delay=lambda rng, a, b: rng.randint(1, max_delay))
    net.p_second, net.p_dup = p_second, p_dup
    assert_honest_nodes_agree(net, seed, n, quorum)
    # Copies were dropped as duplicates, never processed twice, and seen on both channels.
    dups = sum(e.outcome == "duplicate" for i in range(n) for e in net.emits[i] if e.KIND == "packet")
    assert dups > 0 or (p_second < 0.05 and p_dup < 0.05)


# -- the embedding model file named by sha256 in the security frame -------------------------------

H_FRAME, H_OTHER = "1f" * 32, "2e" * 32


def _node_with(name: str, embedders: dict, llm: bool = True) -> Node:
    """A node with an LLM ("m") and embedders {workerId: (state, reported sha256 or None)}."""
    node = Node(NodeConfig(status_updates=False), ident(name), random.Random(3))
    if llm:
        node.handle(WorkerStatus("llm", "llm", "m", "ready"), T0)
    for wid, (state, h) in embedders.items():
        node.handle(WorkerStatus(wid, "embedding", "all-MiniLM-L6-v2", state, model_hash=h), T0)
    return node


def _mismatch_notes(actions) -> list:
    return [a for a in actions if isinstance(a, Notice) and (
        (a.KIND == "request" and a.reason == "embedding_model_mismatch")
        or (a.KIND == "log" and "embedding model sha256" in a.message))]


def test_embedder_running_another_model_file_does_not_commit_and_says_why():
    """A v2 frame names the embedding model file by sha256 (embeddingModelHash). A node whose
    embedder reports another sha256 takes no inference for the request (so never commits),
    and says why once: a warn log and a request state "following" with reason
    "embedding_model_mismatch". An embedder reporting the named hash (any case) works as
    before; with two embedders the one running the named file gets the jobs."""
    requester = Node(NodeConfig(status_updates=False, embedding_model_hash=H_FRAME), ident("rq"), random.Random(1))
    req_env = sends(requester.handle(RequestSubmitted(prompt="p", accepted_models=("m",), quorum=1,
                                                      max_time_ms=10_000), T0), "p2pInferenceRequest")[0]
    assert req_env["packet"]["payload"]["securityFrame"]["embeddingModelHash"] == H_FRAME
    rid, t = req_env["packet"]["requestId"], T0 + 5

    other = _node_with("other", {"emb": ("ready", H_OTHER)})
    acts = other.handle(PacketReceived(req_env, "sim", t), t)
    assert not any(isinstance(a, RunInference) for a in acts)
    log = [a for a in _mismatch_notes(acts) if a.KIND == "log"]
    state = [a for a in _mismatch_notes(acts) if a.KIND == "request"]
    assert len(log) == 1 and log[0].level == "warn" and H_FRAME in log[0].message and H_OTHER in log[0].message
    assert len(state) == 1 and state[0].state == "following" and state[0].request_id == rid
    assert (state[0].frame_model_hash, state[0].embedder_model_hash) == (H_FRAME, [H_OTHER])
    assert other.request_view(rid)["status"] == "awaiting_commitments"
    # Said once: a later worker event does not repeat it.
    assert _mismatch_notes(other.handle(WorkerStatus("emb", "embedding", "all-MiniLM-L6-v2", "ready",
                                                     model_hash=H_OTHER), t + 1)) == []

    same = _node_with("same", {"emb": ("ready", H_FRAME.upper())})
    acts = same.handle(PacketReceived(req_env, "sim", t), t)
    assert any(isinstance(a, RunInference) for a in acts) and _mismatch_notes(acts) == []

    both = _node_with("both", {"embA": ("ready", H_OTHER), "embB": ("ready", H_FRAME)})
    acts = both.handle(PacketReceived(req_env, "sim", t), t)
    run = next(a for a in acts if isinstance(a, RunInference))
    acts = both.handle(InferenceFinished(run.job_id, "out", 5, t, t + 500), t + 500)
    assert [a.worker_id for a in acts if isinstance(a, RunEmbedding)] == ["embB"]
    acts = both.handle(EmbeddingFinished(next(a for a in acts if isinstance(a, RunEmbedding)).job_id,
                                         (bytes(48),)), t + 600)
    assert len(sends(acts, "inferenceCommit")) == 1

    # A hash reported only once the worker has loaded (after the inference started): the
    # result is never embedded by the other model, so no commit; the reason is given then.
    loading = _node_with("loading", {"emb": ("loading", None)})
    acts = loading.handle(PacketReceived(req_env, "sim", t), t)
    run = next(a for a in acts if isinstance(a, RunInference))
    acts = loading.handle(WorkerStatus("emb", "embedding", "all-MiniLM-L6-v2", "ready", model_hash=H_OTHER), t + 100)
    assert len(_mismatch_notes(acts)) == 2
    acts = loading.handle(InferenceFinished(run.job_id, "out", 5, t, t + 500), t + 500)
    assert not any(isinstance(a, RunEmbedding) for a in acts)
    acts = loading.handle(TimerFired(f"coord:{rid}"), T0 + 10_000 + 2_000)
    assert sends(acts, "inferenceCommit") == [] and loading.quorums.get(rid) is None


def test_no_reported_hash_or_no_frame_hash_keeps_todays_behaviour():
    """An embedder that reports no sha256, or a frame that names none (v1 frames never do),
    leaves everything as before: the node infers and commits, nothing is said."""
    named = Node(NodeConfig(status_updates=False, embedding_model_hash=H_FRAME), ident("rq"), random.Random(1))
    unnamed = Node(NodeConfig(status_updates=False), ident("rq2"), random.Random(1))
    cases = [(named, None, 2), (unnamed, H_OTHER, 2), (named, H_OTHER, 1)]
    for requester, reported, protocol in cases:
        env = sends(requester.handle(RequestSubmitted(prompt="p", accepted_models=("m",), quorum=1,
                                                      max_time_ms=10_000, protocol=protocol), T0),
                    "p2pInferenceRequest")[0]
        node = _node_with(f"n{reported}{protocol}", {"emb": ("ready", reported)})
        acts = node.handle(PacketReceived(env, "sim", T0 + 5), T0 + 5)
        run = next(a for a in acts if isinstance(a, RunInference))
        assert _mismatch_notes(acts) == []
        acts = node.handle(InferenceFinished(run.job_id, "out", 5, T0 + 5, T0 + 500), T0 + 500)
        emb = next(a for a in acts if isinstance(a, RunEmbedding))
        acts = node.handle(EmbeddingFinished(emb.job_id, (bytes(48),)), T0 + 600)
        assert len(sends(acts, "inferenceCommit")) == 1, (reported, protocol)


def test_embedder_running_another_model_file_neither_verifies_nor_publishes_and_follows():
    """End to end: the frame names H; node 3's embedder reports another file. Node 3 never
    commits, never re-embeds a reveal (even with verify_all), computes no result of its own,
    and shows the network's published result, like a node without an embedder."""
    net = RecNet([NodeSpec() for _ in range(4)], seed=38, jitter=1)
    net.nodes[0].config.embedding_model_hash = H_FRAME
    net.nodes[3].config.verify_all = True
    for i, h in ((1, H_FRAME), (3, H_OTHER)):        # node 2's embedder reports nothing
        net.deliver(i, WorkerStatus(f"emb{i}", "embedding", "all-MiniLM-L6-v2", "ready", model_hash=h), net.now)
    rid = net.submit(0, quorum=3, max_time_ms=10_000)
    net.run_until(net.now + RUN_MS)
    res = results(net, rid, range(3))
    assert len(set(res)) == 1 and res[0][0] and len(res[0][2]) == 3, res
    assert not any(i == 3 for i, env in net.sent if env["packet"]["type"] in ("inferenceCommit", "inferenceQuorumComputed"))
    assert net.actions(3, RunEmbedding) == [] and net.actions(3, RunInference) == []
    assert net.consensus_of(3, rid) is None
    # Said once, when the request arrived. (At the final deadline a follower with reveals it did
    # not check is also marked "following"/"verification_timeout", as any non-verifier is today.)
    reasons = [e.reason for e in net.emits[3] if e.KIND == "request" and e.state == "following"]
    assert reasons[0] == "embedding_model_mismatch" and reasons.count("embedding_model_mismatch") == 1
    assert net.nodes[3].request_view(rid)["result"]["validInferenceJointHash"] == res[0][1]


def test_browser_worker_event_passes_the_model_sha256_through():
    """The page's worker event carries the "loaded" message's sha256 (web/js/workers.js); the
    codec hands it to the core as WorkerStatus.model_hash (absent or null: None)."""
    from rakis_py.browser.codec import event_from_dict
    base = {"type": "worker", "workerId": "w", "kind": "embedding", "model": "all-MiniLM-L6-v2", "state": "ready"}
    assert event_from_dict({**base, "sha256": H_FRAME}, T0).model_hash == H_FRAME
    assert event_from_dict({**base, "sha256": None}, T0).model_hash is None
    assert event_from_dict(base, T0).model_hash is None
