"""The node: one Rakis participant as a pure state machine. Events in, actions out.

`Node.handle(event, now)` never reads a clock or does IO: it updates its state and returns the
actions (send, run a model, persist, arm a timer, emit) the adapter must carry out. It is the
dispatcher: each event type has one handler (`Node._HANDLERS`), each request's phases run under
the rules its security frame names (`rules_v1.V1Rules`, exactly v1 spec §6, §7, §19; or
`rules_v2.V2Rules`, docs/protocol-v2.md), picked once per request by `rules_for`.

The parts, one job each: `intake.Intake` (the receive checks and packets held for unseen requests),
`work.Work` (workers, jobs, the embedding queue), `rules_v1`/`rules_v2` (the phases), `results`
(what a consensus becomes, who publishes, which published result is the reference), `records`
(the storage schema). Adapters read the node only through the query methods at the end
(`status`, `workers`, `commits`, `peer_records`, `request_ids`, `request_view`): copies, never
live state.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import builders, records, results
from .actions import Action, CancelTimer, Persist, RunEmbedding, RunInference, Send, SetTimer
from .consensus import ConsensusOutcome, binary_embedding_hash
from .errors import PacketRejected, RejectCode
from .events import (Booted, EmbeddingFailed, EmbeddingFinished, InferenceFailed, InferenceFinished,
                     PacketReceived, RequestSubmitted, TimerFired, WorkerStatus)
from .identity import verify_packet
from .intake import Intake
from .notices import (CommitStored, ConsensusReached, Log, Notice, PacketRefused, PacketSeen, PacketSent,
                      PeerChanged, RequestChanged, RequestState, ResultReceived, RevealRejectedSeen, RevealStored,
                      Submitted, WorkerChanged)
from .packets import (Envelope, InferenceCommit, InferenceQuorumComputed, InferenceReveal, P2PInferenceRequest,
                      Packet, PeerStatusBoot, decode_packet)
from .peers import PeerTable
from .quorum import (AWAITING_COMMITMENTS, COMPLETED, FAILED, FINAL_STATUSES, V2_SEC_DISTANCE_BITS,
                     Commit, Frame, Quorum, rank_key)
from .records import Request
from .rules import SELF_CHANNEL, Rules
from .rules_v1 import V1Rules
from .rules_v2 import V2Rules
from .scheduler import pick_inference
from .timefmt import format_js_date, parse_js_date
from .work import EmbedItem, Job, Work, WorkerView

__all__ = ["CommitView", "Node", "NodeConfig", "NodeStatus"]

LETTERS = string.ascii_letters
JOB_GRACE_MS = 60_000              # a job not answered by then is failed and its worker freed
EMBED_BUDGET_MS = 5_000            # per text of an embedding job, on top of the grace


@dataclass
class NodeConfig:
    """What a node is and how it treats traffic. Time values in ms."""

    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_model_hash: Optional[str] = None      # sha256 of the pinned embedding model file
    store_packets: bool = True                      # Persist every accepted packet (the packets table)
    # Persist state records at all (quorums, peers, requests, results...). Off only where nothing
    # will ever read them back (the simulator's nodes that never come back): the core works the
    # same, it just does not build the records.
    persist_state: bool = True
    emit_packets: bool = True                       # a PacketSeen notice per received packet (analytics)
    seen_cap: int = 100_000                         # dedup memory, must cover the replay window
    replay_past_ms: int = 10 * 60_000
    replay_future_ms: int = 2 * 60_000
    forget_after_ms: int = 10 * 60_000              # drop finished requests from memory (storage keeps them)
    status_updates: bool = True                     # send peerStatusUpdate packets
    # Chain-identity claims are kept as unverified claims unless a checker is injected (the EVM
    # crypto is not in the pure core): rakis_py.runtime.chain_identity.verify_chain_identity.
    identity_check: Optional[Callable[[str, dict], bool]] = None
    # Peer-list gossip. v1 answered every new peer and every boot with probability 40/n, which is
    # O(n^2) packets of O(n) entries; by default we answer only a newcomer's boot, ~4 of n nodes.
    gossip_expected: int = 4
    # v2: re-embed the reveals of every request, not only those we committed to or asked for.
    # Off by default: a node's embedding worker would otherwise grow busier with every request in
    # the network; others follow the published result.
    verify_all: bool = False
    gossip_on_new_peer: bool = False



@dataclass(frozen=True)
class NodeStatus:
    """A snapshot of the node for a status line."""

    synthient_id: str
    workers: tuple[WorkerView, ...]
    peers: int
    total_tokens: int
    requests: int


@dataclass(frozen=True)
class CommitView:
    """One commit a node holds for a request, as a UI shows it."""

    synthient_id: str
    inference_id: str
    b_embedding_hash: str
    received_at: int
    revealed: bool
    revealed_at: Optional[int]
    in_agreed_set: bool


class Node:
    def __init__(self, config: NodeConfig, identity: Any, rng: random.Random,
                 verify: Callable[[str, str, dict], bool] = verify_packet) -> None:
        self.config = config
        self.identity = identity
        self.me: str = identity.synthient_id
        self.rng = rng
        self.intake = Intake(self.me, verify, config.seen_cap, config.replay_past_ms, config.replay_future_ms)
        self.peers = PeerTable(own_id=self.me, identity_check=config.identity_check)
        self.work = Work()
        self.requests: dict[str, Request] = {}
        self.quorums: dict[str, Quorum] = {}
        self.results: dict[str, dict] = {}           # inferenceId -> our result record
        self.result_of: dict[str, str] = {}          # requestId -> inferenceId of our result
        self.embeddings: dict[str, dict] = {}        # inferenceId -> our embedding record
        self.consensus: dict[str, dict] = {}         # requestId -> our consensus record
        self.external: dict[tuple[str, str], dict] = {}
        self.total_tokens = 0
        self._rules: dict[int, Rules] = {1: V1Rules(self), 2: V2Rules(self)}
        self._out: list[Action] = []
        self._dirty_quorums: dict[str, None] = {}    # changed quorums (Quorum.watch), persisted once per event
        self._model_mismatch: set[str] = set()       # requestIds whose embedding-model mismatch was reported

    # ------------------------------------------------------------------ entry points

    def handle(self, event: Any, now: int) -> list[Action]:
        self._out = []
        handler = self._HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"unknown event {type(event).__name__}")
        handler(self, event, now)
        self._flush()
        out, self._out = self._out, []
        return out

    @classmethod
    def restore(cls, config: NodeConfig, identity: Any, rng: random.Random,
                tables: Mapping[str, list], now: int,
                verify: Callable[[str, str, dict], bool] = verify_packet) -> tuple["Node", list[Action]]:
        """Rebuild a node from its stored records (records.py); returns the node and the actions
        that re-arm its timers and resume unfinished work (jobs in flight at the crash are re-run)."""
        node = cls(config, identity, rng, verify)
        for r in tables.get("inferenceRequests", []):
            node.requests[r["requestId"]] = Request.from_record(r)
        for r in tables.get("inferenceResults", []):
            node.results[r["inferenceId"]] = r
            node.result_of[r["requestId"]] = r["inferenceId"]
            if r.get("result", {}).get("success"):
                node.total_tokens += int(r["result"].get("tokenCount", 0))
        for r in tables.get("inferenceEmbeddings", []):
            node.embeddings[r["inferenceId"]] = r
        for r in tables.get("quorums", []):
            node.quorums[r["requestId"]] = Quorum.from_record(r).watch(node._dirty_quorums)
        for r in tables.get("consensusResults", []):
            node.consensus[r["requestId"]] = r
        for r in tables.get("externalConsensusResults", []):
            node.external[(r["requestId"], r["verifiedBy"])] = r
        node.peers.load_records(tables.get("peers", []))
        for r in tables.get("packets", []):
            node.intake.remember(r["synthientId"], r["signature"])
        node._out = []
        for req in node.requests.values():
            node._arm_timers(req, now)
            q = node.quorums.get(req.request_id)
            if q is not None:
                node.rules_for(req).resume(q, now)
        node._schedule(now)
        node._pump_embeddings(now)
        node._flush()
        out, node._out = node._out, []
        return node, out

    def rules_for(self, req: Request) -> Rules:
        """The rules a request runs under (its security frame's protocol)."""
        return self._rules[req.frame.protocol]

    # ------------------------------------------------------------------ output

    def _notify(self, notice: Notice) -> None:
        self._out.append(notice)

    def _persist(self, table: str, key: str, record: Optional[dict]) -> None:
        if self.config.persist_state or table == "packets":
            self._out.append(Persist(table, key, record))

    def _timer(self, timer_id: str, at: int) -> None:
        self._out.append(SetTimer(timer_id, at))

    def _forward(self, envelope: dict, to: Optional[tuple[str, ...]]) -> None:
        """Send an already signed envelope again (ours or another node's), as it is."""
        self._out.append(Send(envelope, to))

    def _stagger(self, rid: str, spread_ms: int) -> int:
        """A per-node, per-request delay in [0, spread): deterministic, so restores re-arm alike."""
        return int(rank_key(rid, self.me)[:8], 16) % spread_ms

    def _rand(self, n: int) -> str:
        return "".join(self.rng.choice(LETTERS) for _ in range(n))

    def _send(self, packet: dict, now: int, to: Optional[tuple[str, ...]] = None) -> dict:
        """Sign and send our packet, then process it locally like a received one (as v1 does)."""
        envelope = self.identity.envelope(packet)
        try:
            # Our packet is read through its typed model like any other; the decoded envelope
            # rides along with the Send, so an adapter need not decode it again (the simulator).
            decoded = Envelope(self.me, envelope["signature"], decode_packet(packet), packet)
        except PacketRejected as e:      # a packet we built that our own decoder refuses: a bug
            self._out.append(Send(envelope, to))
            self._notify(PacketSent(packet["type"], packet.get("requestId"), now))
            self._reject(e.code, e.detail, SELF_CHANNEL, now, self.me, packet["type"])
            return envelope
        self._out.append(Send(envelope, to, decoded))
        self._notify(PacketSent(packet["type"], packet.get("requestId"), now))
        try:
            self._dispatch(self.me, decoded.packet, envelope, SELF_CHANNEL, now)
        except PacketRejected as e:      # our own packet refused by our own rules: log, never raise
            self._reject(e.code, e.detail, SELF_CHANNEL, now, self.me, packet["type"])
        return envelope

    def _new_quorum(self, req: Request) -> Quorum:
        q = Quorum(req.request_id, req.frame.protocol, AWAITING_COMMITMENTS, req.frame.quorum,
                   req.ending_at, req.frame.embedding_model).watch(self._dirty_quorums)
        self.quorums[req.request_id] = q
        return q

    def _request_state(self, request_id: str, state: RequestState, now: int, **fields: Any) -> None:
        self._notify(RequestChanged(request_id, state, now, **fields))

    def _flush(self) -> None:
        """Persist what changed during this event, once each."""
        persist, announce = self.config.persist_state, self.config.emit_packets
        if persist:
            for rid in self._dirty_quorums:
                q = self.quorums.get(rid)
                if q is not None:
                    self._persist("quorums", rid, q.to_record())
        self._dirty_quorums.clear()
        if not (persist or announce):
            self.peers.discard_dirty()
            return
        for sid, record in self.peers.dirty():
            if persist:
                self._persist("peers", sid, record)
            if announce:
                self._notify(PeerChanged(sid, record))

    # ------------------------------------------------------------------ receive pipeline

    def _reject(self, code: RejectCode, detail: str, channel: str, now: int,
                sender: Optional[str] = None, ptype: Optional[str] = None, size: Optional[int] = None) -> None:
        self._notify(PacketRefused(code.value, detail, channel, now, sender, ptype, size))

    def _on_packet(self, ev: PacketReceived, now: int) -> None:
        try:
            env = Intake.decode(ev.data)
        except PacketRejected as e:
            self._reject(e.code, e.detail, ev.channel, now, size=ev.size)
            return
        sid, sig, raw, pkt = env.synthient_id, env.signature, env.raw_packet, env.packet
        ptype = pkt.type
        try:
            created = self.intake.admit(env, now)
        except PacketRejected as e:
            if e.code is RejectCode.DUPLICATE:
                self.peers.saw_copy(sid, ev.channel)
            if e.code not in (RejectCode.DUPLICATE, RejectCode.OWN_ECHO):
                self._reject(e.code, e.detail, ev.channel, now, sid, ptype, ev.size)
            elif self.config.emit_packets:
                self._notify(PacketSeen(now, sid, ptype, ev.channel, ev.size, e.code.value,
                                        getattr(pkt, "request_id", None)))
            return
        envelope = {"synthientId": sid, "signature": sig, "packet": raw}
        if self.config.store_packets:
            self._persist("packets", records.packet_key(sid, sig),
                          records.packet_record(envelope, ev.received_at, ev.channel, ev.size))
        if self.config.emit_packets:
            output = pkt.output if isinstance(pkt, InferenceReveal) else None
            self._notify(PacketSeen(now, sid, ptype, ev.channel, ev.size, "accepted",
                                    getattr(pkt, "request_id", None), created,
                                    len(output) if output is not None else None))
        new_peer = sid not in self.peers
        self.peers.observe(sid, ev.channel, now, ptype, raw)
        booted = isinstance(pkt, PeerStatusBoot)
        if (booted or (new_peer and self.config.gossip_on_new_peer)) and self.config.status_updates \
                and self.peers.should_gossip(self.rng, expected=self.config.gossip_expected):
            self._gossip(now)
        try:
            self._dispatch(sid, pkt, envelope, ev.channel, ev.received_at, env)
        except PacketRejected as e:
            self._reject(e.code, e.detail, ev.channel, now, sid, ptype, ev.size)

    # Packet types that name a request and wait for it when it is not known yet.
    _HELD_TYPES = frozenset({"inferenceCommit", "inferenceReveal", "inferenceRevealRequest",
                             "inferenceQuorumComputed"})
    _PEER_TYPES = frozenset({"peerStatusUpdate", "peerHeart", "peerInfo", "peerConnectedChain"})

    def _dispatch(self, sid: str, p: Packet, envelope: dict, channel: str, now: int,
                  env: Optional[Envelope] = None) -> None:
        """Act on one checked packet: `p` its typed model, `envelope` the signed original (for
        records and re-sends), `env` the decoded envelope of a received one (None for our own)."""
        t = p.type
        if t == "p2pInferenceRequest":
            self._on_request(sid, p, envelope["packet"], now)
            return
        if t == "knownPeers":
            # The peer table sanitises gossip itself (hostile numbers, v1's NaN totals).
            self.peers.merge_known_peers(envelope["packet"].get("peerList") or [], now)
            return
        if t in self._PEER_TYPES:
            return
        rid = p.request_id          # every other packet type names its request
        req = self.requests.get(rid)
        if req is None:
            # Out-of-order delivery: hold it until the request arrives (v1 dropped these).
            if t in self._HELD_TYPES and env is not None:
                self._hold(rid, env, channel, now)
            return
        if t == "inferenceCommit":
            self._on_commit(req, sid, p, now)
        elif t == "inferenceRevealRequest":
            self._rules[req.frame.protocol].on_reveal_request(req, sid, p, envelope, channel, now)
        elif t == "inferenceReveal":
            self._rules[req.frame.protocol].on_reveal(req, self.quorums.get(rid), sid, p, envelope,
                                                      channel, now, env)
        elif t == "inferenceRevealMissing":
            self._rules[req.frame.protocol].on_reveal_missing(sid, p, now)
        elif t == "inferenceQuorumComputed":
            self._on_external_consensus(sid, p, envelope["packet"], now)
        elif t == "inferenceRevealRejected":
            self._notify(RevealRejectedSeen(rid, sid, p.inference_id, p.reject_reason.type, now))

    def _gossip(self, now: int) -> None:
        """Share the most recently seen peers (v1 shared the oldest, v1 spec §15.17)."""
        entries = [builders.known_peer_entry(r["synthientId"], r.get("totalWorkers", 0),
                                             r.get("totalTokens", 0), format_js_date(r["lastSeen"]),
                                             r.get("seenOn", []))
                   for r in self.peers.select_for_gossip(now)]
        self._send(builders.known_peers(entries, format_js_date(now)), now)

    def _hold(self, rid: str, env: Envelope, channel: str, now: int) -> None:
        self.intake.hold(rid, env, channel, now)

    def _replay_held(self, rid: str, now: int) -> None:
        """Dispatch the packets held for `rid`, each on its own (one refusal stops no other)."""
        for env, channel, _ in self.intake.release(rid):
            envelope = {"synthientId": env.synthient_id, "signature": env.signature, "packet": env.raw_packet}
            try:
                self._dispatch(env.synthient_id, env.packet, envelope, channel, now, env)
            except PacketRejected as e:
                self._reject(e.code, e.detail, channel, now, env.synthient_id, env.packet.type)

    # ------------------------------------------------------------------ requests

    def _on_boot(self, ev: Booted, now: int) -> None:
        if self.config.status_updates:
            self._send(builders.peer_status_update("boot", format_js_date(now),
                                                   total_tokens=self.total_tokens), now)

    def _on_submit(self, ev: RequestSubmitted, now: int) -> None:
        rid = self._rand(10)
        v2 = ev.protocol == 2
        default_distance = V2_SEC_DISTANCE_BITS if v2 else 4500   # the v1 UI always sent 4500 (v1 spec §15.3)
        sf = builders.security_frame(
            ev.quorum, ev.max_time_ms,
            ev.sec_distance if ev.sec_distance is not None else default_distance,
            ev.sec_percentage, self.config.embedding_model,
            protocol=2 if v2 else None,
            embedding_model_hash=self.config.embedding_model_hash if v2 else None)
        sf.update(dict(ev.security_extra))
        packet = builders.p2p_inference_request(
            rid, ev.prompt, list(ev.accepted_models), sf, format_js_date(now),
            temperature=ev.temperature, max_tokens=ev.max_tokens)
        self._send(packet, now)
        self._notify(Submitted(rid, now))

    def _on_request(self, sid: str, p: P2PInferenceRequest, raw: dict, now: int) -> None:
        rid = p.request_id
        if rid in self.requests:
            return
        payload = raw["payload"]      # stored as signed (records.Request); the Frame is read from it
        try:
            ending_at = parse_js_date(p.payload.created_at) + p.payload.security_frame.max_time_ms
            frame = Frame.from_security_frame(payload["securityFrame"])
        except (ValueError, KeyError, TypeError) as e:
            raise PacketRejected(RejectCode.BAD_SCHEMA, f"request {rid}: {e}") from None
        req = Request(rid, sid, payload, ending_at, now, frame)
        self.requests[rid] = req
        self._persist("inferenceRequests", rid, req.record())
        self._request_state(rid, RequestState.REQUESTED, now, from_id=sid, ending_at=ending_at,
                            protocol=frame.protocol, prompt=p.payload.prompt[:200])
        self._arm_timers(req, now)
        self._note_model_mismatch(req, now)
        if ending_at > now:
            self._schedule(now)
        self._replay_held(rid, now)

    def _arm_timers(self, req: Request, now: int) -> None:
        """(Re-)arm the timers of a request from its state alone (also after a restart)."""
        rules = self.rules_for(req)
        q = self.quorums.get(req.request_id)
        self._timer(f"forget:{req.request_id}", rules.last_at(req) + self.config.forget_after_ms)
        if q is not None and q.status in FINAL_STATUSES:
            return
        rules.arm_timers(req, q, now)

    # ------------------------------------------------------------------ local inference

    def _on_worker(self, ev: WorkerStatus, now: int) -> None:
        orphan = self.work.update_worker(ev)
        if orphan is not None:
            self._fail_job(orphan, "worker gone", now)
        self._notify(WorkerChanged(ev.worker_id, ev.kind, ev.model, ev.state, ev.backend, ev.detail,
                                   ev.model_hash, now))
        if ev.kind == "embedding" and ev.model_hash is not None:
            for req in list(self.requests.values()):
                q = self.quorums.get(req.request_id)
                if q is None or q.status not in FINAL_STATUSES:
                    self._note_model_mismatch(req, now)
        if ev.state == "ready" and ev.kind == "embedding":
            # Reveals stored while no embedder was there (e.g. right after a restore) get verified now.
            for q in list(self.quorums.values()):
                self._rules[q.protocol].resume(q, now)
        if ev.state == "ready" and ev.kind == "llm" and self.config.status_updates:
            self._send(builders.peer_status_update("loaded_worker", format_js_date(now),
                                                   total_workers=self.work.count("llm"), model_name=ev.model), now)
        self._schedule(now)
        self._pump_embeddings(now)

    def _note_model_mismatch(self, req: Request, now: int) -> None:
        """Say once per request why this node follows it: its frame names an embedding model file
        our embedders do not run (a commit or a check from another model would not be comparable)."""
        f = req.frame
        if f.embedding_model_hash is None or req.request_id in self._model_mismatch:
            return
        live = self.work.live_embedders(f.embedding_model)
        if not live or self.work.has_embedder(f):
            return
        self._model_mismatch.add(req.request_id)
        ours = sorted({w.model_hash for w in live if w.model_hash})
        self._notify(Log("warn", t=now,
                         message=f"request {req.request_id}: its security frame names embedding model sha256 "
                           f"{f.embedding_model_hash}, our {f.embedding_model} embedder runs "
                                 f"{', '.join(ours)}: following it (no commit, no verification)"))
        self._request_state(req.request_id, RequestState.FOLLOWING, now, reason="embedding_model_mismatch",
                            frame_model_hash=f.embedding_model_hash, embedder_model_hash=ours)

    def _outranked(self, req: Request) -> bool:
        return self.rules_for(req).outranked(req, self.quorums.get(req.request_id))

    def _schedule(self, now: int) -> None:
        """Start inferences on free LLM workers (latest deadline first, any accepted model)."""
        while True:
            free = self.work.free("llm")
            if not free or self.work.verification_backlog():
                return
            cands = [{"request_id": r.request_id, "ending_at": r.ending_at,
                      "accepted_models": r.accepted_models,
                      "temperature": r.payload.get("temperature"),
                      "max_tokens": r.payload.get("maxTokens")}
                     for r in self.requests.values()
                     if r.ending_at > now and self.work.has_embedder(r.frame)
                     and r.request_id not in self.result_of and not self._outranked(r)]
            pick = pick_inference(cands, free, now, self.rng, in_process=self.work.in_process)
            if pick is None:
                return
            rid = pick.request["request_id"]
            job = self._new_job("inference", rid, pick.worker_id, now)
            self.work.in_process.add(rid)
            req = self.requests[rid]
            self._out.append(RunInference(job.job_id, pick.worker_id, pick.model,
                                          req.payload.get("prompt", ""), pick.temperature,
                                          pick.max_tokens))
            self._request_state(rid, RequestState.INFERRING, now, worker_id=pick.worker_id, model=pick.model)
            if self.config.status_updates and self.rules_for(req).announces_inferencing:
                self._send(builders.peer_status_update("inferencing", format_js_date(now),
                                                       model_name=pick.model), now)

    def _new_job(self, kind: str, rid: str, worker_id: str, now: int, inference_id: str = "",
                 targets: tuple = ()) -> Job:
        job = self.work.start(kind, rid, worker_id, now, self._rand(4), inference_id, targets)
        # A worker message can be lost (a crashed worker, a reload): never wait for it forever.
        req = self.requests.get(rid)
        if kind == "inference":
            limit = max(req.ending_at if req else now, now) + JOB_GRACE_MS
        else:
            limit = now + JOB_GRACE_MS + EMBED_BUDGET_MS * max(len(targets or ()), 1)
        self._timer(f"job:{job.job_id}", limit)
        return job

    def _finish_job(self, job_id: str) -> Optional[Job]:
        job = self.work.finish(job_id)
        if job is not None:
            self._out.append(CancelTimer(f"job:{job_id}"))
        return job

    def _fail_job(self, job: Job, error: str, now: int) -> None:
        if job.kind == "inference":
            self.work.in_process.discard(job.request_id)
            self._request_state(job.request_id, RequestState.INFERENCE_FAILED, now, error=error)
        else:
            self._notify(Log("warn", f"embedding job for {job.request_id} failed: {error}", now))
            q = self.quorums.get(job.request_id)
            if job.kind == "verify" and q is not None:
                self._rules[q.protocol].resume(q, now)

    def _keep_result(self, record: dict) -> None:
        self.results[record["inferenceId"]] = record
        self.result_of[record["requestId"]] = record["inferenceId"]
        self._persist("inferenceResults", record["inferenceId"], record)

    def _on_inference_done(self, ev: InferenceFinished, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is None:
            return
        rid = job.request_id
        self.work.in_process.discard(rid)
        req = self.requests.get(rid)
        inference_id = f"{rid}.{self._rand(6)}"
        self._keep_result(records.result_record(rid, inference_id, ev.started_at, ev.completed_at,
                                                output=ev.output, token_count=ev.token_count))
        # Counted before the status goes out: v1 read it before adding, so its totalTokens lagged
        # one inference behind (v1 spec §15.21) and a first inference reported 0.
        self.total_tokens += ev.token_count
        if self.config.status_updates:
            secs = max(ev.completed_at - ev.started_at, 1) / 1000
            self._send(builders.peer_status_update(
                "completed_inference", format_js_date(now), model_name=self.work.model_of(job.worker_id),
                tps=round(ev.token_count / secs, 3), total_tokens=self.total_tokens), now)
        self._request_state(rid, RequestState.INFERRED, now, inference_id=inference_id, tokens=ev.token_count,
                            job_worker_id=job.worker_id, started_at=job.started_at)
        if req is not None and req.ending_at > now:
            self.work.queue.append(EmbedItem("resultEmbedding", rid, req.ending_at, now,
                                             inference_id=inference_id, texts=(ev.output,)))
        self._pump_embeddings(now)
        self._schedule(now)

    def _on_inference_failed(self, ev: InferenceFailed, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is None:
            return
        self.work.in_process.discard(job.request_id)
        inference_id = f"{job.request_id}.{self._rand(6)}"
        self._keep_result(records.result_record(job.request_id, inference_id, job.started_at, now,
                                                error=ev.error[:1000]))
        self._request_state(job.request_id, RequestState.INFERENCE_FAILED, now, error=ev.error[:200])
        self._schedule(now)

    # ------------------------------------------------------------------ embeddings

    def _frame_of(self, rid: str) -> Optional[Frame]:
        req = self.requests.get(rid)
        return req.frame if req is not None else None

    def _pump_embeddings(self, now: int) -> None:
        """Hand queued embedding items to free embedding workers (priority order of v1 spec §6.5)."""
        for item, worker, model in self.work.assign(now, self._frame_of, self.config.embedding_model):
            kind = "embed_result" if item.kind == "resultEmbedding" else "verify"
            job = self._new_job(kind, item.request_id, worker, now, inference_id=item.inference_id,
                                targets=item.targets)
            self._out.append(RunEmbedding(job.job_id, worker, model, tuple(item.texts)))

    def _on_embedding_failed(self, ev: EmbeddingFailed, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is not None:
            self._fail_job(job, ev.error, now)
        self._pump_embeddings(now)

    def _on_embedding_done(self, ev: EmbeddingFinished, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is None:
            return
        if job.kind == "embed_result":
            self._commit_own(job, ev.bembeddings[0], ev, now)
        elif job.kind == "verify":
            q = self.quorums.get(job.request_id)
            if q is not None:
                self._rules[q.protocol].on_verified(q, job.targets, ev.bembeddings, now)
        self._pump_embeddings(now)
        self._schedule(now)

    def _commit_own(self, job: Job, bits: bytes, ev: EmbeddingFinished, now: int) -> None:
        req = self.requests.get(job.request_id)
        bits = bytes(bits)
        h = binary_embedding_hash(bits, self.me)
        rules = self.rules_for(req) if req is not None else None
        floats = list(ev.embeddings[0]) if ev.embeddings and rules is not None and rules.v1_shapes else None
        record = records.embedding_record(job.inference_id, job.request_id, bits, h, floats)
        self.embeddings[job.inference_id] = record
        self._persist("inferenceEmbeddings", job.inference_id, record)
        q = self.quorums.get(job.request_id)
        if req is None or rules.too_late_to_commit(req, q, now):
            self._request_state(job.request_id, RequestState.TOO_LATE_TO_COMMIT, now)
            return
        if rules.outranked(req, q):
            # maxCommits better-ranked commits are known: ours would not make the set. Not
            # committing spares every verifier a reveal and us the checks of a set we are not in.
            self._request_state(job.request_id, RequestState.OUTRANKED, now, max_commits=req.frame.max_commits)
            return
        self._send(builders.inference_commit(h, job.request_id, job.inference_id, format_js_date(now)), now)
        self._request_state(job.request_id, RequestState.COMMITTED, now, inference_id=job.inference_id, b_embedding_hash=h)

    # ------------------------------------------------------------------ commits and reveals

    def _on_commit(self, req: Request, sid: str, p: InferenceCommit, now: int) -> None:
        q = self.rules_for(req).quorum_for_commit(req, self.quorums.get(req.request_id), sid,
                                                  p.inference_id, now)
        if q.find(sid, p.inference_id) is None:
            q.add(Commit(p.inference_id, sid, p.b_embedding_hash, now))
            self._notify(CommitStored(req.request_id, sid, q.committed, now))

    def _send_reveal(self, req: Request, inference_id: str, requester: str, now: int) -> Optional[dict]:
        res, emb = self.results.get(inference_id), self.embeddings.get(inference_id)
        if res is None or not res["result"].get("success") or emb is None:
            return None
        v1 = self.rules_for(req).v1_shapes
        packet = builders.inference_reveal(
            requester, req.request_id, inference_id, res["result"]["result"],
            bytes.fromhex(emb["bEmbedding"]), (emb.get("embedding") or []) if v1 else None,
            format_js_date(now), v1_typed_arrays=v1)
        return self._send(packet, now)

    def _store_reveal(self, q: Quorum, c: Commit, p: InferenceReveal, envelope: Optional[dict], now: int) -> None:
        q.store_reveal(c, p.output, p.b_embedding, now, envelope)
        self._notify(RevealStored(q.request_id, c.synthient_id, q.revealed, now, c.inference_id,
                                  len(c.output), c.b_embedding))

    # ------------------------------------------------------------------ timers

    def _on_timer(self, ev: TimerFired, now: int) -> None:
        kind, _, rid = ev.timer_id.partition(":")
        if kind == "job":
            job = self._finish_job(rid)
            if job is not None:
                self._fail_job(job, "no answer from the worker in time", now)
                self._schedule(now)
                self._pump_embeddings(now)
            return
        req = self.requests.get(rid)
        if req is None:
            return
        if kind == "forget":
            self._forget(rid)
            return
        rules = self.rules_for(req)
        if kind in rules.timer_kinds:
            rules.on_timer(kind, req, self.quorums.get(rid), now)

    def _forget(self, rid: str) -> None:
        """Drop a long-finished request from memory; its records stay in storage."""
        self.requests.pop(rid, None)
        self.quorums.pop(rid, None)
        self._model_mismatch.discard(rid)
        self.consensus.pop(rid, None)
        for key in [k for k in self.external if k[0] == rid]:
            del self.external[key]
        iid = self.result_of.pop(rid, None)
        if iid is not None:
            self.results.pop(iid, None)
            self.embeddings.pop(iid, None)

    # ------------------------------------------------------------------ results

    def _finish_consensus(self, q: Quorum, out: ConsensusOutcome, now: int, publish: bool) -> None:
        rid = q.request_id
        submitted, protocol, set_hash = self._rules[q.protocol].published_fields(q, out)
        packet = results.quorum_computed_packet(rid, self.me, out, submitted, now, protocol, set_hash)
        rejections = [{"inferenceId": r.inference_id, "synthientId": r.synthient_id, "reason": r.reason}
                      for r in out.rejections]
        record = records.consensus_record(rid, out.success, out.reason,
                                          {"clusterSizeNeeded": out.cluster_size_needed, **out.debug},
                                          rejections, packet, now, q.agreed_hash, q.protocol)
        self.consensus[rid] = record
        self._persist("consensusResults", rid, record)
        q.move(COMPLETED if out.success else FAILED, failure=None if out.success else results.failure_phase(out))
        q.update(result_key=out.joint_hash)
        self._notify(ConsensusReached(
            rid, out.success, out.reason, out.joint_hash, now, q.protocol, q.failure,
            [c.inference_id for c in out.accepted], out.winner.b_embedding_hash if out.winner else None,
            out.winner.output if out.winner else None, len(out.rejections), rejections, q.agreed_hash,
            out.debug.get("centreDistances"), record["debug"]))
        self._request_state(rid, RequestState.DONE if out.success else RequestState.FAILED, now,
                            reason=out.reason if not out.success else None)
        if publish and packet is not None:
            self._send(packet, now)

    def _on_external_consensus(self, sid: str, p: InferenceQuorumComputed, raw: dict, now: int) -> None:
        if p.verified_by != sid:
            raise PacketRejected(RejectCode.MISMATCH, "verifiedBy differs from the sender")
        rid = p.request_id
        key = (rid, sid)
        if key in self.external:
            return
        if sid == self.me and p.protocol == 2:
            return                      # our own result is in `consensus`, not an external one (v1 spec §15.8)
        record = records.external_record(raw, now)
        self.external[key] = record
        self._persist("externalConsensusResults", records.external_key(rid, sid), record)
        agree = self._agreement(rid)
        self._notify(ResultReceived(rid, sid, now, p.valid_single_inference.b_embedding_hash,
                                    agree["agree"], agree["disagree"], raw))

    def _own_packet(self, rid: str) -> Optional[dict]:
        return (self.consensus.get(rid) or {}).get("computedQuorumPacket")

    def _published(self, rid: str) -> list[dict]:
        return [r for (r_id, _), r in self.external.items() if r_id == rid]

    def _agreement(self, rid: str) -> dict:
        """Agree/disagree counts of published results against ours (or the most common one)."""
        return results.agreement(self._own_packet(rid), self._published(rid))

    # ------------------------------------------------------------------ queries (read-only copies)

    def status(self) -> NodeStatus:
        return NodeStatus(self.me, self.work.views(), len(self.peers), self.total_tokens, len(self.requests))

    def workers(self) -> tuple[WorkerView, ...]:
        return self.work.views()

    def request_ids(self) -> tuple[str, ...]:
        """The requests the node holds in memory, in the order it learnt them."""
        return tuple(self.requests)

    def commits(self, rid: str) -> tuple[CommitView, ...]:
        """The commits this node holds for a request, in arrival order (empty if none)."""
        q = self.quorums.get(rid)
        if q is None:
            return ()
        agreed = {(sid, inf) for sid, inf, _ in q.agreed or []}
        return tuple(CommitView(c.synthient_id, c.inference_id, c.b_embedding_hash, c.received_at,
                                c.output is not None, c.revealed_at, c.key in agreed) for c in q.commits)

    def peer_records(self) -> list[dict]:
        """Every peer ever seen (copies of the peer records), most recently seen first."""
        return self.peers.all_records()

    def peer_record(self, sid: str) -> Optional[dict]:
        """One peer's record (a copy), or None if never seen."""
        return self.peers.to_record(sid)

    def request_view(self, rid: str) -> Optional[dict]:
        """Everything a UI needs about one request, JSON-able (a deep copy)."""
        req = self.requests.get(rid)
        if req is None:
            return None
        q = self.quorums.get(rid)
        mine = self.consensus.get(rid)
        published = self._published(rid)
        own = self._own_packet(rid)
        view = {"requestId": rid, "fromSynthientId": req.from_id, "endingAt": req.ending_at,
                "protocol": req.frame.protocol, "prompt": req.payload.get("prompt"),
                "status": q.status if q else AWAITING_COMMITMENTS,
                "failure": q.failure if q else None,
                "committed": q.committed if q else 0, "revealed": q.revealed if q else 0,
                "agreedSet": len(q.agreed) if q and q.agreed is not None else None,
                "consensus": mine, "result": results.reference_result(own, published),
                **results.agreement(own, published)}
        return copy.deepcopy(view)

    _HANDLERS: dict[type, Callable[["Node", Any, int], None]] = {
        PacketReceived: _on_packet,
        TimerFired: _on_timer,
        Booted: _on_boot,
        RequestSubmitted: _on_submit,
        WorkerStatus: _on_worker,
        InferenceFinished: _on_inference_done,
        InferenceFailed: _on_inference_failed,
        EmbeddingFinished: _on_embedding_done,
        EmbeddingFailed: _on_embedding_failed,
    }
