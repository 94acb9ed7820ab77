"""The node: one Rakis participant as a pure state machine. Events in, actions out.

`Node.handle(event, now)` never reads a clock or does IO: it updates its state and returns the
actions (send, run a model, persist, arm a timer, emit) the adapter must carry out. Each request
runs under the rules its security frame names: v1 (spec §6, §7, §19, exactly) or v2 (DESIGN.md 1-6).

v2 in one paragraph. Commits are collected until `endingAt`. After a short grace the committer whose
`sha256(requestId + synthientId)` is lowest (the coordinator) sends one reveal request that lists the
commit set it saw; if it stays silent, the next one takes over after a timeout. Every node adopts the
set of the best coordinator it has seen: that is the agreed commit set, and it also teaches nodes
the commits they missed. Each listed committer reveals once (output + binary embedding, no floats),
to everyone. Every node with an embedding worker re-embeds each revealed output as it arrives (one
text per job), so when the last reveal lands the consensus runs at once. Missing reveals are asked
for once (`inferenceRevealMissing`); the committer or the coordinator re-sends the signed original,
addressed to the asker, the committers and the requester (v2 also addresses a commit set re-sent
to a node that follows another set or none). After the reveal window a verifier that still lacks
reveals keeps asking until the final deadline, and a publisher whose result lacked reveals publishes
at the final deadline (docs/protocol-v2.md, "Catch-up").
Consensus is `consensus.run_consensus_v2` over the agreed set: canonical order, Hamming distance,
bounded-bit verification, deterministic tie-breaks; so every honest node computes the same result.
A deterministic few of the accepted committers publish it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import builders
from .actions import (Action, CancelTimer, Emit, Persist, RunEmbedding, RunInference, Send,
                      SetTimer)
from .consensus import (CommitEntry, ConsensusOutcome, binary_embedding_hash, run_consensus_v1,
                        run_consensus_v2)
from .dedup import ReplayGuard, SeenSignatures
from .errors import PacketRejected, RejectCode
from .events import (Booted, EmbeddingFailed, EmbeddingFinished, InferenceFailed, InferenceFinished,
                     PacketReceived, RequestSubmitted, TimerFired, WorkerStatus)
from .identity import verify_packet
from .packets import Envelope, decode_envelope
from .peers import PeerTable
from .quorum import (AWAITING_COMMITMENTS, AWAITING_CONSENSUS, AWAITING_REVEAL, COMPLETED, FAILED,
                     FINAL_STATUSES, V1_CONSENSUS_OFFSET_MS, V1_CONSENSUS_WINDOW_MS,
                     V1_REVEAL_ISSUE_MS, V1_REVEAL_TIMEOUT_MS, V1_TIMER_SLACK_MS,
                     V2_REASK_MS, V2_SEC_DISTANCE_BITS, VERIFYING_CONSENSUS, Commit, Frame, Quorum,
                     commit_set_hash, rank_key)
from .scheduler import embedding_queue_order, pick_inference
from .timefmt import format_js_date, parse_js_date

LETTERS = string.ascii_letters
SELF_CHANNEL = "self"
MAX_PENDING_PER_REQUEST = 256      # packets held for a request we have not seen yet
MAX_PENDING_REQUESTS = 1024
JOB_GRACE_MS = 60_000              # a job not answered by then is failed and its worker freed
VERIFY_BACKLOG_PER_EMBEDDER = 4    # owed verifications per embedder before we stop taking inferences
EMBED_BUDGET_MS = 5_000            # per text of an embedding job, on top of the grace
LATE_VERIFY_MS = 120_000           # v2: after the final deadline, a node out of time may still finish its own check


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
    emit_packets: bool = True                       # Emit("packet") per received packet (analytics)
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


@dataclass
class _Worker:
    worker_id: str
    kind: str
    model: str
    state: str
    backend: str = ""
    job: Optional[str] = None
    model_hash: Optional[str] = None     # sha256 of the model file, when the worker reports it


@dataclass
class _Job:
    job_id: str
    kind: str                    # "inference" | "embed_result" | "verify"
    request_id: str
    worker_id: str
    inference_id: str = ""
    started_at: int = 0
    targets: tuple = ()          # verify: commit keys (v2) or texts (v1) in job order


@dataclass
class _EmbedItem:
    kind: str                    # "resultEmbedding" | "consensusVerification"
    request_id: str
    expires_at: int
    enqueued_at: Optional[int]   # None: never jumps the queue for waiting long (late checks)
    priority: bool = False
    inference_id: str = ""       # result item: our inference
    texts: tuple = ()
    targets: tuple = ()


@dataclass
class _Request:
    request_id: str
    from_id: str
    payload: dict
    ending_at: int
    fetched_at: int
    frame: Frame

    @property
    def accepted_models(self) -> list:
        return list(self.payload.get("acceptedModels") or [])

    def record(self) -> dict:
        return {"fromSynthientId": self.from_id, "requestId": self.request_id,
                "payload": self.payload, "endingAt": self.ending_at, "fetchedAt": self.fetched_at}


def _as_bytes(value: Any) -> Optional[bytes]:
    """A binary embedding as bytes, from bytes, a list of ints or a JS index-keyed object."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, Mapping):
        value = [value[str(i)] for i in range(len(value))]
    try:
        return bytes(value)                    # a list of ints 0..255: the usual case, fast
    except TypeError:
        return bytes(int(v) for v in value)    # e.g. floats from JS numbers


class Node:
    def __init__(self, config: NodeConfig, identity: Any, rng: random.Random,
                 verify: Callable[[str, str, dict], bool] = verify_packet) -> None:
        self.config = config
        self.identity = identity
        self.me: str = identity.synthient_id
        self.rng = rng
        self.verify = verify
        self.seen = SeenSignatures(config.seen_cap)
        self.replay = ReplayGuard(config.replay_past_ms, config.replay_future_ms)
        self.peers = PeerTable(own_id=self.me, identity_check=config.identity_check)
        self.requests: dict[str, _Request] = {}
        self.quorums: dict[str, Quorum] = {}
        self.results: dict[str, dict] = {}           # inferenceId -> our result record
        self.result_of: dict[str, str] = {}          # requestId -> inferenceId of our result
        self.embeddings: dict[str, dict] = {}        # inferenceId -> our embedding record
        self.consensus: dict[str, dict] = {}         # requestId -> our consensus record
        self.external: dict[tuple[str, str], dict] = {}
        self.workers: dict[str, _Worker] = {}
        self.jobs: dict[str, _Job] = {}
        self.in_process: set[str] = set()            # requestIds being inferred locally
        self.embed_queue: list[_EmbedItem] = []
        self.pending: dict[str, list[tuple[Envelope, str, int]]] = {}
        self.total_tokens = 0
        self._job_seq = 0
        self._out: list[Action] = []
        self._dirty_quorums: dict[str, None] = {}    # persisted once at the end of each event
        self._verify_queued: set[tuple] = set()      # (requestId, synthientId, inferenceId) queued or running
        self._model_mismatch: set[str] = set()       # requestIds whose embedding-model mismatch was reported

    # ------------------------------------------------------------------ entry points

    def handle(self, event: Any, now: int) -> list[Action]:
        self._out = []
        if isinstance(event, PacketReceived):
            self._on_packet(event, now)
        elif isinstance(event, TimerFired):
            self._on_timer(event.timer_id, now)
        elif isinstance(event, Booted):
            if self.config.status_updates:
                self._send(builders.peer_status_update("boot", format_js_date(now),
                                                       total_tokens=self.total_tokens), now)
        elif isinstance(event, RequestSubmitted):
            self._on_submit(event, now)
        elif isinstance(event, WorkerStatus):
            self._on_worker(event, now)
        elif isinstance(event, InferenceFinished):
            self._on_inference_done(event, now)
        elif isinstance(event, InferenceFailed):
            self._on_inference_failed(event, now)
        elif isinstance(event, EmbeddingFinished):
            self._on_embedding_done(event, now)
        elif isinstance(event, EmbeddingFailed):
            self._on_embedding_failed(event, now)
        else:
            raise TypeError(f"unknown event {type(event).__name__}")
        self._flush()
        out, self._out = self._out, []
        return out

    @classmethod
    def restore(cls, config: NodeConfig, identity: Any, rng: random.Random,
                tables: Mapping[str, list], now: int,
                verify: Callable[[str, str, dict], bool] = verify_packet) -> tuple["Node", list[Action]]:
        """Rebuild a node from its stored records; returns the node and the actions that re-arm
        its timers and resume unfinished work (jobs in flight at the crash are re-run)."""
        node = cls(config, identity, rng, verify)
        for r in tables.get("inferenceRequests", []):
            sf = r["payload"]["securityFrame"]
            node.requests[r["requestId"]] = _Request(r["requestId"], r["fromSynthientId"], r["payload"],
                                                     r["endingAt"], r["fetchedAt"],
                                                     Frame.from_security_frame(sf))
        for r in tables.get("inferenceResults", []):
            node.results[r["inferenceId"]] = r
            node.result_of[r["requestId"]] = r["inferenceId"]
            if r.get("result", {}).get("success"):
                node.total_tokens += int(r["result"].get("tokenCount", 0))
        for r in tables.get("inferenceEmbeddings", []):
            node.embeddings[r["inferenceId"]] = r
        for r in tables.get("quorums", []):
            node.quorums[r["requestId"]] = Quorum.from_record(r)
        for r in tables.get("consensusResults", []):
            node.consensus[r["requestId"]] = r
        for r in tables.get("externalConsensusResults", []):
            node.external[(r["requestId"], r["verifiedBy"])] = r
        node.peers.load_records(tables.get("peers", []))
        for r in tables.get("packets", []):
            node.seen.add(r["synthientId"], r["signature"])
        node._out = []
        for req in node.requests.values():
            node._arm_timers(req, now)
            q = node.quorums.get(req.request_id)
            if q is not None and q.protocol == 2 and q.status not in FINAL_STATUSES:
                node._queue_missing_verifications(q, now)
        node._schedule(now)
        node._pump_embeddings(now)
        node._flush()
        out, node._out = node._out, []
        return node, out

    # ------------------------------------------------------------------ helpers

    def _emit(self, _kind: str, **data: Any) -> None:
        self._out.append(Emit(_kind, data))

    def _persist(self, table: str, key: str, record: Optional[dict]) -> None:
        if self.config.persist_state or table == "packets":
            self._out.append(Persist(table, key, record))

    def _timer(self, timer_id: str, at: int) -> None:
        self._out.append(SetTimer(timer_id, at))

    def _stagger(self, rid: str, spread_ms: int) -> int:
        """A per-node, per-request delay in [0, spread): deterministic, so restores re-arm alike."""
        return int(rank_key(rid, self.me)[:8], 16) % spread_ms

    def _rand(self, n: int) -> str:
        return "".join(self.rng.choice(LETTERS) for _ in range(n))

    def _send(self, packet: dict, now: int, to: Optional[tuple[str, ...]] = None) -> dict:
        """Sign and send our packet, then process it locally like a received one (as v1 does)."""
        envelope = self.identity.envelope(packet)
        self._out.append(Send(envelope, to))
        self._emit("sent", type=packet["type"], requestId=packet.get("requestId"), t=now)
        try:
            self._dispatch(self.me, packet, envelope, SELF_CHANNEL, now)
        except PacketRejected as e:      # our own packet refused by our own rules: log, never raise
            self._reject(e.code, e.detail, SELF_CHANNEL, now, self.me, packet["type"])
        return envelope

    def _final_at(self, req: "_Request") -> int:
        q = self.quorums.get(req.request_id)
        n = len(q.agreed) if q is not None and q.agreed else 0
        return req.frame.final_at(req.ending_at, n)

    def _save_quorum(self, q: Quorum) -> None:
        self._dirty_quorums[q.request_id] = None

    def _request_state(self, request_id: str, state: str, now: int, **extra: Any) -> None:
        self._emit("request", requestId=request_id, state=state, t=now, **extra)

    def _flush(self) -> None:
        """Persist what changed during this event, once each."""
        if not self.config.persist_state:
            self._dirty_quorums.clear()
            self.peers.discard_dirty()
            return
        for rid in self._dirty_quorums:
            q = self.quorums.get(rid)
            if q is not None:
                self._persist("quorums", rid, q.to_record())
        self._dirty_quorums.clear()
        for sid, record in self.peers.dirty():
            self._persist("peers", sid, record)

    # ------------------------------------------------------------------ receive pipeline

    def _reject(self, code: RejectCode, detail: str, channel: str, now: int,
                sender: Optional[str] = None, ptype: Optional[str] = None, size: Optional[int] = None) -> None:
        self._emit("rejected", code=code.value, detail=detail, channel=channel, t=now,
                   synthientId=sender, type=ptype, size=size)

    def _on_packet(self, ev: PacketReceived, now: int) -> None:
        try:
            env = ev.data if isinstance(ev.data, Envelope) else decode_envelope(ev.data)
        except PacketRejected as e:
            self._reject(e.code, e.detail, ev.channel, now, size=ev.size)
            return
        sid, sig, raw = env.synthient_id, env.signature, env.raw_packet
        ptype = raw.get("type")
        try:
            if sid == self.me:
                raise PacketRejected(RejectCode.OWN_ECHO)
            if self.seen.seen(sid, sig):
                raise PacketRejected(RejectCode.DUPLICATE)
            if not self.verify(sid, sig, raw):
                raise PacketRejected(RejectCode.BAD_SIGNATURE, "signature does not verify")
            try:
                created = parse_js_date(raw["createdAt"])
            except (ValueError, TypeError, KeyError) as e:
                raise PacketRejected(RejectCode.BAD_TIMESTAMP, str(e)) from None
            self.replay.check(created, now)
        except PacketRejected as e:
            if e.code is RejectCode.DUPLICATE:
                self.peers.saw_copy(sid, ev.channel)
            if e.code not in (RejectCode.DUPLICATE, RejectCode.OWN_ECHO):
                self._reject(e.code, e.detail, ev.channel, now, sid, ptype, ev.size)
            elif self.config.emit_packets:
                self._emit("packet", t=now, synthientId=sid, type=ptype, channel=ev.channel,
                           size=ev.size, outcome=e.code.value, requestId=raw.get("requestId"))
            return
        self.seen.add(sid, sig)
        envelope = {"synthientId": sid, "signature": sig, "packet": raw}
        if self.config.store_packets:
            self._persist("packets", f"{sid}:{sig}", {**envelope, "receivedTime": ev.received_at,
                                                       "deliveredThrough": ev.channel, "size": ev.size})
        if self.config.emit_packets:
            self._emit("packet", t=now, synthientId=sid, type=ptype, channel=ev.channel,
                       size=ev.size, outcome="accepted", requestId=raw.get("requestId"),
                       createdAt=created)
        new_peer = sid not in self.peers
        self.peers.observe(sid, ev.channel, now, ptype, raw)
        booted = ptype == "peerStatusUpdate" and raw.get("status") == "boot"
        if (booted or (new_peer and self.config.gossip_on_new_peer)) and self.config.status_updates \
                and self.peers.should_gossip(self.rng, expected=self.config.gossip_expected):
            self._gossip(now)
        try:
            self._dispatch(sid, raw, envelope, ev.channel, ev.received_at, env)
        except PacketRejected as e:
            self._reject(e.code, e.detail, ev.channel, now, sid, ptype, ev.size)

    def _dispatch(self, sid: str, p: dict, envelope: dict, channel: str, now: int,
                  env: Optional[Envelope] = None) -> None:
        t = p.get("type")
        if t == "p2pInferenceRequest":
            self._on_request(sid, p, now)
            return
        if t == "knownPeers":
            self.peers.merge_known_peers(p.get("peerList") or [], now)
            return
        rid = p.get("requestId")
        if rid is None or t in ("peerStatusUpdate", "peerHeart", "peerInfo", "peerConnectedChain"):
            return
        if rid not in self.requests:
            # Out-of-order delivery: hold it until the request arrives (v1 dropped these).
            if t in ("inferenceCommit", "inferenceReveal", "inferenceRevealRequest",
                     "inferenceQuorumComputed") and env is not None:
                self._hold(rid, env, channel, now)
            return
        if t == "inferenceCommit":
            self._on_commit(sid, p, now)
        elif t == "inferenceRevealRequest":
            self._on_reveal_request(sid, p, envelope, channel, now)
        elif t == "inferenceReveal":
            self._on_reveal(sid, p, envelope, channel, now, env)
        elif t == "inferenceRevealMissing":
            self._on_reveal_missing(sid, p, now)
        elif t == "inferenceQuorumComputed":
            self._on_external_consensus(sid, p, now)
        elif t == "inferenceRevealRejected":
            self._emit("revealRejected", requestId=rid, by=sid, inferenceId=p.get("inferenceId"),
                       reason=(p.get("rejectReason") or {}).get("type"), t=now)

    def _gossip(self, now: int) -> None:
        """Share the most recently seen peers (v1 shared the oldest, §15.17)."""
        entries = [builders.known_peer_entry(r["synthientId"], r.get("totalWorkers", 0),
                                             r.get("totalTokens", 0), format_js_date(r["lastSeen"]),
                                             r.get("seenOn", []))
                   for r in self.peers.select_for_gossip(now)]
        self._send(builders.known_peers(entries, format_js_date(now)), now)

    def _hold(self, rid: str, env: Envelope, channel: str, now: int) -> None:
        if rid not in self.pending and len(self.pending) >= MAX_PENDING_REQUESTS:
            self.pending.pop(next(iter(self.pending)))
        held = self.pending.setdefault(rid, [])
        if len(held) < MAX_PENDING_PER_REQUEST:
            held.append((env, channel, now))

    def _replay_held(self, rid: str, now: int) -> None:
        """Dispatch the packets held for `rid`, each on its own (one refusal stops no other)."""
        for env, channel, _ in self.pending.pop(rid, []):
            raw = env.raw_packet
            envelope = {"synthientId": env.synthient_id, "signature": env.signature, "packet": raw}
            try:
                self._dispatch(env.synthient_id, raw, envelope, channel, now, env)
            except PacketRejected as e:
                self._reject(e.code, e.detail, channel, now, env.synthient_id, raw.get("type"))

    # ------------------------------------------------------------------ requests

    def _on_submit(self, ev: RequestSubmitted, now: int) -> None:
        rid = self._rand(10)
        v2 = ev.protocol == 2
        default_distance = V2_SEC_DISTANCE_BITS if v2 else 4500   # v1 UI always sent 4500 (§15.3)
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
        self._emit("submitted", requestId=rid, t=now)

    def _on_request(self, sid: str, p: dict, now: int) -> None:
        rid = p["requestId"]
        if rid in self.requests:
            return
        payload = p["payload"]
        try:
            ending_at = parse_js_date(payload["createdAt"]) + int(payload["securityFrame"]["maxTimeMs"])
            frame = Frame.from_security_frame(payload["securityFrame"])
        except (ValueError, KeyError, TypeError) as e:
            raise PacketRejected(RejectCode.BAD_SCHEMA, f"request {rid}: {e}") from None
        req = _Request(rid, sid, payload, ending_at, now, frame)
        self.requests[rid] = req
        self._persist("inferenceRequests", rid, req.record())
        self._request_state(rid, "requested", now, fromSynthientId=sid, endingAt=ending_at,
                            protocol=frame.protocol, prompt=payload.get("prompt", "")[:200])
        self._arm_timers(req, now)
        self._note_model_mismatch(req, now)
        if ending_at > now:
            self._schedule(now)
        self._replay_held(rid, now)

    def _arm_timers(self, req: _Request, now: int) -> None:
        """(Re-)arm the phase timers of a request from its state alone (also after a restart)."""
        rid, f, e = req.request_id, req.frame, req.ending_at
        q = self.quorums.get(rid)
        last = self._final_at(req) if f.protocol == 2 else e + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_WINDOW_MS
        self._timer(f"forget:{rid}", last + self.config.forget_after_ms)
        if q is not None and q.status in FINAL_STATUSES:
            return
        if f.protocol == 1:
            if q is not None and q.status == AWAITING_COMMITMENTS and q.reveal_timer_armed:
                self._timer(f"v1reveal:{rid}", e + V1_TIMER_SLACK_MS)
            if q is not None and q.status == AWAITING_REVEAL and q.revealed:
                self._timer(f"v1consensus:{rid}", e + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_OFFSET_MS)
            return
        self._timer(f"coord:{rid}", f.coordinator_at(e, 0))
        # Spread over 2 s so that one node's inferenceRevealMissing can suppress the others'.
        self._timer(f"missing:{rid}", f.missing_at(e) + self._stagger(rid, 2_000))
        self._timer(f"close:{rid}", f.reveal_close_at(e))
        self._timer(f"reask:{rid}", f.reveal_close_at(e) + self._stagger(rid, 2_000))
        self._timer(f"final:{rid}", self._final_at(req))

    # ------------------------------------------------------------------ local inference

    def _on_worker(self, ev: WorkerStatus, now: int) -> None:
        w = self.workers.get(ev.worker_id)
        if ev.state == "gone":
            if w is not None:
                del self.workers[ev.worker_id]
                if w.job and w.job in self.jobs:
                    self._fail_job(self.jobs.pop(w.job), "worker gone", now)
        elif w is None:
            self.workers[ev.worker_id] = _Worker(ev.worker_id, ev.kind, ev.model, ev.state, ev.backend,
                                                 model_hash=ev.model_hash)
        else:
            w.state, w.backend, w.model = ev.state, ev.backend, ev.model
            if ev.model_hash is not None:
                w.model_hash = ev.model_hash
        self._emit("worker", workerId=ev.worker_id, kind=ev.kind, model=ev.model, state=ev.state,
                   backend=ev.backend, detail=ev.detail, modelHash=ev.model_hash, t=now)
        if ev.kind == "embedding" and ev.model_hash is not None:
            for req in list(self.requests.values()):
                q = self.quorums.get(req.request_id)
                if q is None or q.status not in FINAL_STATUSES:
                    self._note_model_mismatch(req, now)
        if ev.state == "ready" and ev.kind == "embedding":
            # Reveals stored while no embedder was there (e.g. right after a restore) get verified now.
            for q in list(self.quorums.values()):
                if q.protocol == 2 and q.status not in FINAL_STATUSES:
                    self._queue_missing_verifications(q, now)
        if ev.state == "ready" and ev.kind == "llm" and self.config.status_updates:
            n = sum(1 for x in self.workers.values() if x.kind == "llm")
            self._send(builders.peer_status_update("loaded_worker", format_js_date(now),
                                                   total_workers=n, model_name=ev.model), now)
        self._schedule(now)
        self._pump_embeddings(now)

    def _free(self, kind: str) -> dict[str, str]:
        return {w.worker_id: w.model for w in self.workers.values()
                if w.kind == kind and w.state == "ready" and w.job is None}

    @staticmethod
    def _embedder_fits(w: _Worker, frame: Frame) -> bool:
        """An embedding worker for this frame: its model, and (v2) the model file the frame names
        by sha256, unless the frame names none or the worker reports none (then trusted as is)."""
        if w.kind != "embedding" or w.model != frame.embedding_model:
            return False
        want, have = frame.embedding_model_hash, w.model_hash
        return want is None or have is None or str(want).lower() == str(have).lower()

    def _has_embedder(self, frame: Frame) -> bool:
        return any(w.state in ("ready", "loading") and self._embedder_fits(w, frame)
                   for w in self.workers.values())

    def _note_model_mismatch(self, req: "_Request", now: int) -> None:
        """Say once per request why this node follows it: its frame names an embedding model file
        our embedders do not run (a commit or a check from another model would not be comparable)."""
        f = req.frame
        if f.embedding_model_hash is None or req.request_id in self._model_mismatch:
            return
        live = [w for w in self.workers.values() if w.kind == "embedding" and w.model == f.embedding_model
                and w.state in ("ready", "loading")]
        if not live or self._has_embedder(f):
            return
        self._model_mismatch.add(req.request_id)
        ours = sorted({w.model_hash for w in live if w.model_hash})
        self._emit("log", level="warn", t=now,
                   message=f"request {req.request_id}: its security frame names embedding model sha256 "
                           f"{f.embedding_model_hash}, our {f.embedding_model} embedder runs "
                           f"{', '.join(ours)}: following it (no commit, no verification)")
        self._request_state(req.request_id, "following", now, reason="embedding_model_mismatch",
                            frameModelHash=f.embedding_model_hash, embedderModelHash=ours)

    def _done_locally(self, rid: str) -> bool:
        return rid in self.result_of

    def _schedule(self, now: int) -> None:
        """Start inferences on free LLM workers (latest deadline first, any accepted model)."""
        while True:
            free = self._free("llm")
            if not free or self._verification_backlog():
                return
            cands = [{"request_id": r.request_id, "ending_at": r.ending_at,
                      "accepted_models": r.accepted_models,
                      "temperature": r.payload.get("temperature"),
                      "max_tokens": r.payload.get("maxTokens")}
                     for r in self.requests.values()
                     if r.ending_at > now and self._has_embedder(r.frame)
                     and not self._done_locally(r.request_id) and not self._outranked(r)]
            pick = pick_inference(cands, free, now, self.rng, in_process=self.in_process)
            if pick is None:
                return
            rid = pick.request["request_id"]
            job = self._new_job("inference", rid, pick.worker_id, now)
            self.in_process.add(rid)
            req = self.requests[rid]
            self._out.append(RunInference(job.job_id, pick.worker_id, pick.model,
                                          req.payload.get("prompt", ""), pick.temperature,
                                          pick.max_tokens))
            self._request_state(rid, "inferring", now, workerId=pick.worker_id, model=pick.model)
            if self.config.status_updates and req.frame.protocol == 1:
                self._send(builders.peer_status_update("inferencing", format_js_date(now),
                                                       model_name=pick.model), now)

    def _outranked(self, req: "_Request") -> bool:
        """v2: our commit could no longer make the agreed set (maxCommits best-ranked commits):
        an inference for it would be wasted work."""
        q = self.quorums.get(req.request_id)
        return req.frame.protocol == 2 and q is not None and q.outranked(self.me, req.frame.max_commits)

    def _verification_backlog(self) -> bool:
        """Back-pressure: while our embedders still owe verifications of quorums we joined, take
        no new inference (the stability test saw nodes starve their reveals this way)."""
        embedders = sum(1 for w in self.workers.values() if w.kind == "embedding" and w.state == "ready")
        owed = sum(1 for i in self.embed_queue if i.kind == "consensusVerification" and i.priority)
        return owed > VERIFY_BACKLOG_PER_EMBEDDER * max(embedders, 1)

    def _new_job(self, kind: str, rid: str, worker_id: str, now: int, **kw: Any) -> _Job:
        self._job_seq += 1
        job = _Job(f"{kind}-{self._job_seq}-{self._rand(4)}", kind, rid, worker_id, started_at=now, **kw)
        self.jobs[job.job_id] = job
        self.workers[worker_id].job = job.job_id
        # A worker message can be lost (a crashed worker, a reload): never wait for it forever.
        req = self.requests.get(rid)
        if kind == "inference":
            limit = max(req.ending_at if req else now, now) + JOB_GRACE_MS
        else:
            limit = now + JOB_GRACE_MS + EMBED_BUDGET_MS * max(len(kw.get("targets") or ()), 1)
        self._timer(f"job:{job.job_id}", limit)
        return job

    def _finish_job(self, job_id: str) -> Optional[_Job]:
        job = self.jobs.pop(job_id, None)
        if job is not None:
            self._out.append(CancelTimer(f"job:{job_id}"))
            if job.kind == "verify":
                for key in job.targets:
                    if isinstance(key, tuple):
                        self._verify_queued.discard((job.request_id, *key))
        if job is not None and job.worker_id in self.workers:
            self.workers[job.worker_id].job = None
        return job

    def _fail_job(self, job: _Job, error: str, now: int) -> None:
        if job.kind == "inference":
            self.in_process.discard(job.request_id)
            self._request_state(job.request_id, "inference_failed", now, error=error)
        else:
            self._emit("log", level="warn", message=f"embedding job for {job.request_id} failed: {error}", t=now)
            q = self.quorums.get(job.request_id)
            if job.kind == "verify" and q is not None and q.protocol == 2 and q.status not in FINAL_STATUSES:
                self._queue_missing_verifications(q, now)

    def _on_inference_done(self, ev: InferenceFinished, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is None:
            return
        rid = job.request_id
        self.in_process.discard(rid)
        req = self.requests.get(rid)
        inference_id = f"{rid}.{self._rand(6)}"
        record = {"requestId": rid, "inferenceId": inference_id,
                  "startedAt": format_js_date(ev.started_at), "completedAt": format_js_date(ev.completed_at),
                  "result": {"success": True, "result": ev.output, "tokenCount": ev.token_count}}
        self.results[inference_id] = record
        self.result_of[rid] = inference_id
        self._persist("inferenceResults", inference_id, record)
        # Counted before the status goes out: v1 read it before adding, so its totalTokens lagged
        # one inference behind (spec §15.21) and a first inference reported 0.
        self.total_tokens += ev.token_count
        if self.config.status_updates:
            secs = max(ev.completed_at - ev.started_at, 1) / 1000
            model = self.workers[job.worker_id].model if job.worker_id in self.workers else ""
            self._send(builders.peer_status_update(
                "completed_inference", format_js_date(now), model_name=model,
                tps=round(ev.token_count / secs, 3), total_tokens=self.total_tokens), now)
        self._request_state(rid, "inferred", now, inferenceId=inference_id, tokens=ev.token_count)
        if req is not None and req.ending_at > now:
            self.embed_queue.append(_EmbedItem("resultEmbedding", rid, req.ending_at, now,
                                               inference_id=inference_id, texts=(ev.output,)))
        self._pump_embeddings(now)
        self._schedule(now)

    def _on_inference_failed(self, ev: InferenceFailed, now: int) -> None:
        job = self._finish_job(ev.job_id)
        if job is None:
            return
        self.in_process.discard(job.request_id)
        inference_id = f"{job.request_id}.{self._rand(6)}"
        record = {"requestId": job.request_id, "inferenceId": inference_id,
                  "startedAt": format_js_date(job.started_at), "completedAt": format_js_date(now),
                  "result": {"success": False, "error": ev.error[:1000]}}
        self.results[inference_id] = record
        self.result_of[job.request_id] = inference_id
        self._persist("inferenceResults", inference_id, record)
        self._request_state(job.request_id, "inference_failed", now, error=ev.error[:200])
        self._schedule(now)

    # ------------------------------------------------------------------ embeddings

    def _pump_embeddings(self, now: int) -> None:
        """Hand queued embedding items to free embedding workers (priority order of §6.5)."""
        if not self.embed_queue:
            return
        free = self._free("embedding")
        if not free:
            return
        kept = embedding_queue_order(self.embed_queue, now)
        if len(kept) != len(self.embed_queue):     # expired items may be queued again later
            alive = {id(i) for i in kept}
            for item in self.embed_queue:
                if id(item) not in alive:
                    for key in item.targets:
                        if isinstance(key, tuple):
                            self._verify_queued.discard((item.request_id, *key))
        self.embed_queue = kept
        remaining = []
        for item in self.embed_queue:
            req = self.requests.get(item.request_id)
            model = req.frame.embedding_model if req else self.config.embedding_model
            worker = next((w for w, m in sorted(free.items()) if m == model
                           and (req is None or self._embedder_fits(self.workers[w], req.frame))), None)
            if worker is None:
                remaining.append(item)
                continue
            del free[worker]
            kind = "embed_result" if item.kind == "resultEmbedding" else "verify"
            job = self._new_job(kind, item.request_id, worker, now, inference_id=item.inference_id,
                                targets=item.targets)
            self._out.append(RunEmbedding(job.job_id, worker, model, tuple(item.texts)))
        self.embed_queue = remaining

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
                if q.protocol == 1:
                    self._v1_verified(q, dict(zip(job.targets, ev.bembeddings)), now)
                else:
                    for key, bits in zip(job.targets, ev.bembeddings):
                        c = q.find(*key)
                        if c is not None:
                            c.recomputed = bytes(bits)
                    self._save_quorum(q)
                    self._v2_maybe_consensus(q, now)
        self._pump_embeddings(now)
        self._schedule(now)

    def _commit_own(self, job: _Job, bits: bytes, ev: EmbeddingFinished, now: int) -> None:
        req = self.requests.get(job.request_id)
        bits = bytes(bits)
        h = binary_embedding_hash(bits, self.me)
        floats = list(ev.embeddings[0]) if getattr(ev, "embeddings", None) else None
        record = {"inferenceId": job.inference_id, "requestId": job.request_id,
                  "bEmbedding": bits.hex(), "bEmbeddingHash": h}
        if floats is not None and req is not None and req.frame.protocol == 1:
            record["embedding"] = floats
        self.embeddings[job.inference_id] = record
        self._persist("inferenceEmbeddings", job.inference_id, record)
        q = self.quorums.get(job.request_id)
        late = req is not None and req.frame.protocol == 2 and (
            now > req.ending_at or (q is not None and q.agreed is not None))
        if req is None or late:
            self._request_state(job.request_id, "too_late_to_commit", now)
            return
        if self._outranked(req):
            # maxCommits better-ranked commits are known: ours would not make the set. Not
            # committing spares every verifier a reveal and us the checks of a set we are not in.
            self._request_state(job.request_id, "outranked", now, maxCommits=req.frame.max_commits)
            return
        self._send(builders.inference_commit(h, job.request_id, job.inference_id, format_js_date(now)), now)
        self._request_state(job.request_id, "committed", now, inferenceId=job.inference_id, bEmbeddingHash=h)

    # ------------------------------------------------------------------ commits

    def _on_commit(self, sid: str, p: dict, now: int) -> None:
        req = self.requests[p["requestId"]]
        rid = req.request_id
        q = self.quorums.get(rid)
        if req.frame.protocol == 2:
            if q is not None and q.agreed is not None and q.find(sid, p["inferenceId"]) is None:
                raise PacketRejected(RejectCode.LATE, "commit set already agreed")
            if q is not None and q.by_sender(sid) is not None and q.find(sid, p["inferenceId"]) is None:
                raise PacketRejected(RejectCode.CONFLICT, "second commit from the same node")
        if q is None:
            q = Quorum(rid, req.frame.protocol, AWAITING_COMMITMENTS, req.frame.quorum, req.ending_at,
                       req.frame.embedding_model)
            self.quorums[rid] = q
            if req.frame.protocol == 1 and req.ending_at > now:
                # v1 only arms the reveal timer for quorums created before the deadline (§15.10).
                q.reveal_timer_armed = True
                self._timer(f"v1reveal:{rid}", req.ending_at + V1_TIMER_SLACK_MS)
        if q.find(sid, p["inferenceId"]) is None:
            q.add(Commit(p["inferenceId"], sid, p["bEmbeddingHash"], now))
            self._save_quorum(q)
            self._emit("quorum", requestId=rid, event="commit", synthientId=sid, committed=q.committed, t=now)

    # ------------------------------------------------------------------ timers

    def _on_timer(self, timer_id: str, now: int) -> None:
        kind, _, rid = timer_id.partition(":")
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
        q = self.quorums.get(rid)
        if kind == "v1reveal":
            self._v1_reveal_check(now)
        elif kind == "v1consensus":
            self._v1_consensus_check(now)
        elif kind == "v1expire":
            self.embed_queue = [i for i in self.embed_queue if i.expires_at > now]
        elif kind == "coord":
            self._v2_coordinate(req, q, now)
        elif kind == "missing":
            self._v2_ask_missing(req, q, now)
        elif kind == "reask":
            self._v2_reask(req, q, now)
        elif kind == "close":
            if q is None or q.agreed is None:
                self._v2_fail(req, q, "missing_commits" if q is None or q.committed < req.frame.quorum
                              else "no_commit_set", now)
            else:
                self._v2_maybe_consensus(q, now, closing=True)
        elif kind == "final":
            if q is not None and q.publish_due:
                q.publish_due = False
                self._save_quorum(q)
                packet = (self.consensus.get(rid) or {}).get("computedQuorumPacket")
                if q.status == COMPLETED and packet is not None:
                    self._send(packet, now)
            if q is None or q.status not in FINAL_STATUSES:
                if q is not None and q.agreed is not None:
                    self._v2_maybe_consensus(q, now, final=True)
                else:
                    self._v2_fail(req, q, "missing_commits", now)
        elif kind == "forget":
            self._forget(rid)

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

    # ------------------------------------------------------------------ v1 rules (spec §6.7-6.11, §19)

    def _v1_fail(self, q: Quorum, failure: str, reason: str, now: int) -> None:
        q.status, q.failure = FAILED, failure
        self._request_state(q.request_id, "failed", now, reason=reason)

    def _v1_reveal_check(self, now: int) -> None:
        for q in list(self.quorums.values()):
            if q.protocol != 1 or q.status != AWAITING_COMMITMENTS:
                continue
            if not (now - V1_REVEAL_ISSUE_MS <= q.ending_at < now):
                continue
            if q.committed < q.threshold:
                self._v1_fail(q, "missing_commits", "Not enough commitments", now)
            else:
                q.status = AWAITING_REVEAL
                self._save_quorum(q)
                self._send(builders.inference_reveal_request(q.request_id, q.commits, V1_REVEAL_TIMEOUT_MS,
                                                             format_js_date(now)), now)
                self._request_state(q.request_id, "reveal_requested", now, commits=q.committed)
            self._save_quorum(q)

    def _on_reveal_request(self, sid: str, p: dict, envelope: dict, channel: str, now: int) -> None:
        req = self.requests[p["requestId"]]
        if req.frame.protocol == 2:
            self._v2_on_reveal_request(req, sid, p, envelope, channel, now)
            return
        if req.ending_at > now:
            raise PacketRejected(RejectCode.LATE, "reveal request before the deadline")
        mine = next((e for e in p.get("quorum") or [] if e.get("synthientId") == self.me), None)
        if mine is None:
            return
        self._send_reveal(req, mine["inferenceId"], sid, now)

    def _send_reveal(self, req: _Request, inference_id: str, requester: str, now: int) -> Optional[dict]:
        res, emb = self.results.get(inference_id), self.embeddings.get(inference_id)
        if res is None or not res["result"].get("success") or emb is None:
            return None
        v1 = req.frame.protocol == 1
        packet = builders.inference_reveal(
            requester, req.request_id, inference_id, res["result"]["result"],
            bytes.fromhex(emb["bEmbedding"]), (emb.get("embedding") or []) if v1 else None,
            format_js_date(now), v1_typed_arrays=v1)
        return self._send(packet, now)

    def _on_reveal(self, sid: str, p: dict, envelope: dict, channel: str, now: int,
                   env: Optional[Envelope] = None) -> None:
        # `env` is the decoded envelope of a received reveal (None for our own): held as it is.
        req = self.requests[p["requestId"]]
        q = self.quorums.get(req.request_id)
        if q is None:
            if req.frame.protocol == 2 and env is not None:
                self._hold(req.request_id, env, channel, now)
            return
        c = q.find(sid, p["inferenceId"])
        if req.frame.protocol == 1:
            if channel != SELF_CHANNEL and now > q.ending_at + V1_REVEAL_TIMEOUT_MS:
                raise PacketRejected(RejectCode.LATE, "reveal after the v1 reveal window")
            if c is None or c.output is not None:
                return
            self._store_reveal(q, c, p, None, now)
            self._timer(f"v1consensus:{q.request_id}", q.ending_at + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_OFFSET_MS)
            self._v1_consensus_check(now)
            return
        if c is None:
            if any(x.inference_id == p["inferenceId"] for x in q.commits):
                raise PacketRejected(RejectCode.MISMATCH, "reveal for another node's commit")
            # Not in the set we follow now; a better coordinator's set may list it. Holding it
            # (instead of refusing) matters: a re-sent copy would be a duplicate and dropped.
            if env is not None:
                self._hold(req.request_id, env, channel, now)
            return
        if c.output is not None:
            return
        if now > self._final_at(req):
            raise PacketRejected(RejectCode.LATE, "reveal after the consensus deadline")
        bits = _as_bytes(p.get("bEmbedding"))
        if bits is None or binary_embedding_hash(bits, sid) != c.b_embedding_hash:
            # A reveal that does not open its commit is refused outright (and logged), v2 only.
            raise PacketRejected(RejectCode.MISMATCH, "revealed bEmbedding does not match the commit")
        self._store_reveal(q, c, p, envelope, now)
        if sid == self.me:
            emb = self.embeddings.get(c.inference_id)
            c.recomputed = bytes.fromhex(emb["bEmbedding"]) if emb else None
        if c.recomputed is None and self._verifies(req, q):
            self._queue_verification(req, q, c, now)
            self._pump_embeddings(now)
        self._v2_maybe_consensus(q, now)

    def _verifies(self, req: _Request, q: Quorum) -> bool:
        """Does this node compute the v2 result itself (it committed, asked, or verifies all)?"""
        return (self.config.verify_all or req.from_id == self.me
                or q.by_sender(self.me) is not None) and self._has_embedder(req.frame)

    def _store_reveal(self, q: Quorum, c: Commit, p: dict, envelope: Optional[dict], now: int) -> None:
        c.output = p.get("output", "")
        c.b_embedding = _as_bytes(p.get("bEmbedding"))
        c.revealed_at = now
        c.reveal_envelope = envelope
        self._save_quorum(q)
        self._emit("quorum", requestId=q.request_id, event="reveal", synthientId=c.synthient_id,
                   revealed=q.revealed, t=now)

    def _v1_consensus_check(self, now: int) -> None:
        for q in list(self.quorums.values()):
            if q.protocol != 1 or q.status != AWAITING_REVEAL or q.consensus_requested_at is not None:
                continue
            window_end = V1_REVEAL_TIMEOUT_MS
            if not (now - window_end - V1_CONSENSUS_WINDOW_MS <= q.ending_at < now - window_end):
                continue
            if q.revealed < q.threshold:
                self._v1_fail(q, "missing_reveals", "Not enough reveals", now)
            else:
                q.status = AWAITING_CONSENSUS
                q.consensus_requested_at = now
                texts = tuple(c.output for c in q.commits if c.output is not None and c.synthient_id != self.me)
                expires = now + V1_CONSENSUS_WINDOW_MS
                if texts:      # v1 drops an empty verification item (the quorum then never finishes)
                    self.embed_queue.append(_EmbedItem(
                        "consensusVerification", q.request_id, expires, now,
                        priority=q.by_sender(self.me) is not None, texts=texts, targets=texts))
                    self._timer(f"v1expire:{q.request_id}", expires)
                self._request_state(q.request_id, "consensus", now)
            self._save_quorum(q)
        self._pump_embeddings(now)

    def _v1_verified(self, q: Quorum, recomputed: dict, now: int) -> None:
        req = self.requests[q.request_id]
        q.status = VERIFYING_CONSENSUS
        f = req.frame
        commits = [CommitEntry(c.inference_id, c.synthient_id, c.b_embedding_hash, c.output, c.b_embedding)
                   for c in q.commits]
        out = run_consensus_v1(q.request_id, commits, recomputed, self.me, q.threshold,
                               f.sec_distance, f.sec_percentage)
        created = format_js_date(now)
        for rej in out.rejections:
            if rej.reason == "bembedding_hash_mismatch":
                reason = builders.reject_reason_hash_mismatch(rej.computed_hash, rej.revealed_hash,
                                                              rej.revealed or b"", v1_typed_arrays=True)
            else:
                reason = builders.reject_reason_threshold(rej.computed or b"", rej.revealed or b"",
                                                          v1_typed_arrays=True)
            self._send(builders.inference_reveal_rejected(q.request_id, rej.inference_id, reason, created), now)
        self._finish_consensus(q, out, now, publish=out.success)

    # ------------------------------------------------------------------ v2 rules

    def _v2_coordinate(self, req: _Request, q: Optional[Quorum], now: int) -> None:
        """Coordinator election: the committer with the lowest rank key sends the commit set; the
        next one takes over after a timeout if no better reveal request was seen."""
        if q is None or q.status in FINAL_STATUSES or q.by_sender(self.me) is None or q.request_sent:
            return
        mine = rank_key(req.request_id, self.me)
        if q.coordinator is not None and rank_key(req.request_id, q.coordinator) < mine:
            return
        rank = sum(1 for c in q.commits if rank_key(req.request_id, c.synthient_id) < mine)
        if rank >= req.frame.max_commits:
            return                      # our commit is outside any set we could send
        at = req.frame.coordinator_at(req.ending_at, rank)
        if at > now:
            self._timer(f"coord:{req.request_id}", at)
            return
        best = sorted(q.commits, key=lambda c: rank_key(req.request_id, c.synthient_id))[:req.frame.max_commits]
        entries = sorted({(c.synthient_id, c.inference_id, c.b_embedding_hash) for c in best})
        if len(entries) < req.frame.quorum:
            return                      # nothing to agree on: the close timer fails the quorum
        q.request_sent = True
        self._save_quorum(q)
        quorum = [{"inferenceId": inf, "synthientId": sid, "bEmbeddingHash": bh} for sid, inf, bh in entries]
        self._send(builders.inference_reveal_request(req.request_id, quorum, req.frame.reveal_window_ms,
                                                     format_js_date(now), protocol=2, rank=rank), now)

    def _v2_on_reveal_request(self, req: _Request, sid: str, p: dict, envelope: dict, channel: str,
                              now: int) -> None:
        entries = []
        for e in p.get("quorum") or []:
            entries.append((e["synthientId"], e["inferenceId"], e["bEmbeddingHash"]))
        entries = sorted(set(entries))
        if not any(e[0] == sid for e in entries):
            raise PacketRejected(RejectCode.NOT_IN_QUORUM, "coordinator is not a committer of its set")
        if len({e[0] for e in entries}) != len(entries):
            raise PacketRejected(RejectCode.CONFLICT, "commit set lists a node twice")
        if len(entries) > req.frame.max_commits:
            raise PacketRejected(RejectCode.TOO_LARGE, f"commit set of {len(entries)} commits, the request's "
                                                       f"maxCommits is {req.frame.max_commits}")
        if now > self._final_at(req):
            raise PacketRejected(RejectCode.LATE, "reveal request after the consensus deadline")
        q = self.quorums.get(req.request_id)
        if q is None:
            q = Quorum(req.request_id, 2, AWAITING_COMMITMENTS, req.frame.quorum, req.ending_at,
                       req.frame.embedding_model)
            self.quorums[req.request_id] = q
        set_hash = commit_set_hash(req.request_id, entries)
        if q.coordinator is not None:
            cur, new = rank_key(req.request_id, q.coordinator), rank_key(req.request_id, sid)
            if (new, set_hash) >= (cur, q.agreed_hash or ""):
                # Not better than the set we follow. If it differs, some nodes may follow it (it
                # reached them, ours did not): the coordinator and relayers of ours send them ours.
                if (set_hash != q.agreed_hash and channel != SELF_CHANNEL and q.agreed_envelope is not None
                        and self._sends_set_to(q, sid)):
                    to = tuple(sorted(({e[0] for e in entries} | {sid}) - {self.me}))
                    self._out.append(Send(q.agreed_envelope, to))
                return
        for esid, inf, bh in entries:   # the set teaches us commits we missed
            c = q.by_sender(esid)
            if c is None:
                q.add(Commit(inf, esid, bh, now))
            elif c.inference_id != inf or c.b_embedding_hash != bh:
                # The coordinator saw another commit from this node (equivocation): follow the set.
                q.remove(c)
                q.add(Commit(inf, esid, bh, now))
        recompute = q.status == COMPLETED or q.status == FAILED
        q.agreed, q.coordinator, q.agreed_hash = entries, sid, set_hash
        q.agreed_envelope = envelope     # re-sent to a node that asks while following another set
        self._timer(f"final:{req.request_id}", self._final_at(req))   # the deadline grows with the set
        if channel != SELF_CHANNEL and self.me in self._relayers(req.request_id, entries, sid):
            # The set must reach everyone: two deterministic members re-send the signed original,
            # so a node with no working route to the coordinator still hears it.
            self._out.append(Send(envelope, None))
        q.status = AWAITING_REVEAL
        if recompute:
            q.failure = None
        self._save_quorum(q)
        self._request_state(req.request_id, "reveal_requested", now, commits=len(entries), coordinator=sid)
        own = next((e for e in entries if e[0] == self.me), None)
        if own is not None and not q.reveal_sent:
            q.reveal_sent = True
            self._save_quorum(q)
            self._send_reveal(req, own[1], sid, now)
        self._replay_held(req.request_id, now)
        self._v2_maybe_consensus(q, now)

    @staticmethod
    def _relayers(rid: str, entries: list, coordinator: str, n: int = 2) -> list:
        others = sorted((e[0] for e in entries if e[0] != coordinator), key=lambda x: rank_key(rid, x))
        return others[:n]

    def _v2_ask_missing(self, req: _Request, q: Optional[Quorum], now: int) -> None:
        if q is None or q.agreed is None or q.status in FINAL_STATUSES or q.missing_sent:
            return
        missing = [c.inference_id for c in q.agreed_commits() if c.output is None]
        if not missing:
            return
        q.missing_sent = True
        self._ask(req, q, missing, now)

    def _ask(self, req: _Request, q: Quorum, missing: list, now: int) -> None:
        q.asked_at = now
        self._save_quorum(q)
        self._send(builders.inference_reveal_missing(req.request_id, missing, format_js_date(now),
                                                     commit_set_hash=q.agreed_hash), now)

    def _v2_reask(self, req: _Request, q: Optional[Quorum], now: int) -> None:
        """After the reveal window, a verifier that still lacks reveals of its agreed set asks
        again every V2_REASK_MS until the final deadline (the first re-request is one-shot and may
        be lost: a partition, a stalled relay). Reveals that arrive in answer are accepted until
        the final deadline and the result recomputed, so a node cut off during the reveal phase
        ends with the same reveals, hence the same result, as the others. Another node's
        re-request naming everything we lack counts as ours (asked_at), as for the first one."""
        if q is None or not self._verifies(req, q):
            return                       # commits are over: a node that does not verify never will
        final = self._final_at(req)
        if now + V2_REASK_MS < final:
            self._timer(f"reask:{req.request_id}", now + V2_REASK_MS)
        if q.failure == "verification_timeout":
            return
        if q.asked_at is not None and now - q.asked_at < V2_REASK_MS:
            return
        if q.agreed is None:
            # A committer that never heard a commit set (cut off when it was sent) asks for its
            # own reveal with no set named: holders of a set send it theirs (_on_reveal_missing).
            own = q.by_sender(self.me)
            if own is not None:
                self._ask(req, q, [own.inference_id], now)
            return
        missing = [c.inference_id for c in q.agreed_commits() if c.output is None]
        if missing:
            q.missing_sent = True
            self._ask(req, q, missing, now)

    def _on_reveal_missing(self, sid: str, p: dict, now: int) -> None:
        q = self.quorums.get(p["requestId"])
        if q is None or sid == self.me:
            return
        req = self.requests[q.request_id]
        theirs = p.get("commitSetHash")
        same_set = theirs is None or theirs == q.agreed_hash
        if q.agreed is not None and same_set and self._resends_reach_me(req, q):
            # Someone asked already; if it asked for everything we lack, we need not ask: the
            # re-sent reveals are addressed to us too (see _resend_targets).
            ours = {c.inference_id for c in q.agreed_commits() if c.output is None}
            if ours <= set(p.get("inferenceIds") or []):
                q.missing_sent = True
                q.asked_at = now
                self._save_quorum(q)
        relay = q.agreed is not None and (q.coordinator == self.me or self.me in self._relayers(
            q.request_id, q.agreed, q.coordinator or ""))
        if theirs != q.agreed_hash and q.agreed_envelope is not None and self._sends_set_to(q, sid):
            # The asker follows another commit set or none (it missed ours, e.g. cut off when it
            # was sent): send it ours, addressed; it switches if ours ranks better.
            self._out.append(Send(q.agreed_envelope, (sid,)))
        for inf in p.get("inferenceIds") or []:
            c = next((c for c in q.commits if c.inference_id == inf), None)
            if c is None or c.reveal_envelope is None:
                continue
            # The committer re-sends its own reveal; the coordinator and the two set relayers
            # relay others' too, for nodes with no route to the committer. Addressed: only the
            # asker and the request's participants use a reveal (everyone else follows the
            # published result); the re-request itself stays a broadcast (it suppresses others').
            to = self._resend_targets(req, q, sid, c.synthient_id)
            if to and (c.synthient_id == self.me or relay):
                self._out.append(Send(c.reveal_envelope, to))

    def _sends_set_to(self, q: Quorum, other: str) -> bool:
        """Do we re-send our set to `other` (who follows another set, or none)? The coordinator and
        the two best-ranked other members, `other` left out: the relayers of a set are exactly the
        nodes most likely to have missed the same packets as a node that missed it."""
        if q.agreed is None or q.coordinator is None:
            return False
        rest = [e for e in q.agreed if e[0] != other]
        return q.coordinator == self.me or self.me in self._relayers(q.request_id, rest, q.coordinator)

    def _resend_targets(self, req: _Request, q: Quorum, asker: str, committer: str) -> tuple[str, ...]:
        """Who gets a reveal re-sent in answer to an inferenceRevealMissing (v2): the asker, every
        committer we know of (the agreed set's members and any other committer: all of them
        verify) and the requester (it verifies too). The committer and we hold it already."""
        ids = {c.synthient_id for c in q.commits} | {e[0] for e in q.agreed or []}
        ids |= {asker, req.from_id}
        ids -= {self.me, committer}
        return tuple(sorted(ids))

    def _resends_reach_me(self, req: _Request, q: Quorum) -> bool:
        """Will reveals re-sent for someone else's re-request be addressed to us? Every responder
        that follows our agreed set addresses its members and the requester. A verifier outside
        the set (verify_all, a committer the set left out) asks for itself instead. A node that
        does not verify needs no reveal: it stays suppressed as before (no extra re-requests)."""
        if not self._verifies(req, q):
            return True
        return req.from_id == self.me or any(e[0] == self.me for e in q.agreed or [])

    def _queue_verification(self, req: _Request, q: Quorum, c: Commit, now: int) -> None:
        """Queue the re-embedding of one reveal, once (one text per job: no batch effects)."""
        tag = (q.request_id, *c.key)
        if tag in self._verify_queued:
            return
        self._verify_queued.add(tag)
        self.embed_queue.append(_EmbedItem("consensusVerification", q.request_id, self._final_at(req), now,
                                           priority=q.by_sender(self.me) is not None,
                                           texts=(c.output,), targets=(c.key,)))

    def _queue_late_verifications(self, req: _Request, q: Quorum, now: int) -> None:
        """After the final deadline, keep re-embedding the reveals we hold (no new ones are taken)
        at low priority for LATE_VERIFY_MS, so a slow verifier ends with its own checked result
        instead of only following. Fresh work keeps its order: these are not 'own' items, do not
        count in the back-pressure and never jump the queue for waiting long."""
        late_until = now + LATE_VERIFY_MS
        for item in self.embed_queue:
            if item.kind == "consensusVerification" and item.request_id == q.request_id:
                item.expires_at, item.priority, item.enqueued_at = late_until, False, None
        for c in q.agreed_commits():
            if c.output is None or c.recomputed is not None:
                continue
            tag = (q.request_id, *c.key)
            if tag in self._verify_queued:      # queued (updated above) or running
                continue
            self._verify_queued.add(tag)
            self.embed_queue.append(_EmbedItem("consensusVerification", q.request_id, late_until, None,
                                               priority=False, texts=(c.output,), targets=(c.key,)))
        self._pump_embeddings(now)

    def _queue_missing_verifications(self, q: Quorum, now: int) -> None:
        req = self.requests.get(q.request_id)
        if req is None or not self._verifies(req, q):
            return
        for c in q.commits:
            if c.output is not None and c.recomputed is None:
                self._queue_verification(req, q, c, now)

    def _v2_maybe_consensus(self, q: Quorum, now: int, closing: bool = False, final: bool = False) -> None:
        """Run the v2 consensus as soon as every agreed commit is revealed and re-embedded; at the
        reveal deadline without the missing reveals; at the final deadline with what we have."""
        if q.agreed is None or q.status == VERIFYING_CONSENSUS:
            return
        req = self.requests[q.request_id]
        members = q.agreed_commits()
        revealed = [c for c in members if c.output is not None]
        verified = [c for c in revealed if c.recomputed is not None]
        closed = closing or final or now >= req.frame.reveal_close_at(req.ending_at)
        complete = len(revealed) == len(members) or closed
        if not complete or (len(verified) < len(revealed) and not final):
            return
        if not self._verifies(req, q):
            return                       # a follower for this request: it shows published results
        if len(verified) < len(revealed):
            # Out of time before every reveal was re-embedded: a result from a partial check could
            # differ from everyone else's, so this node publishes nothing and shows the network's.
            # It still finishes its own check later, behind fresh work (below).
            if q.failure != "verification_timeout":
                q.failure = "verification_timeout"
                self._save_quorum(q)
                self._request_state(q.request_id, "following", now, reason="verification_timeout")
                self._queue_late_verifications(req, q, now)
            return
        entries = [CommitEntry(c.inference_id, c.synthient_id, c.b_embedding_hash, c.output, c.b_embedding)
                   for c in members]
        recomputed = {c.inference_id: c.recomputed for c in verified}
        f = req.frame
        out = run_consensus_v2(q.request_id, entries, recomputed, q.threshold, int(f.sec_distance),
                               f.sec_percentage, f.bit_tolerance)
        if out.joint_hash is not None and out.joint_hash == q.result_key and q.status == COMPLETED:
            return
        q.consensus_requested_at = q.consensus_requested_at or now
        publishers = self._publishers(q.request_id, out, f.publishers)
        # A late check (after a verification timeout) is kept, not published: the publishers
        # have spoken by then, and the result is the same (same agreed set, same reveals).
        late = q.failure == "verification_timeout"
        publish = out.success and self.me in publishers and not late
        # Computed without every reveal of the agreed set (reveal window closed): a missing
        # reveal may still come (re-asked until the final deadline) and change the result, so a
        # publisher publishes the result it holds at the final deadline, not this one at once.
        partial = len(revealed) < len(members) and not final
        q.publish_due = publish and partial
        self._finish_consensus(q, out, now, publish=publish and not partial)

    def _publishers(self, rid: str, out: ConsensusOutcome, n: int) -> list[str]:
        if not out.success or out.joint_hash is None:
            return []
        ranked = sorted(out.accepted, key=lambda c: rank_key(out.joint_hash + rid, c.synthient_id))
        return [c.synthient_id for c in ranked[:max(n, 1)]]

    def _v2_fail(self, req: _Request, q: Optional[Quorum], reason: str, now: int) -> None:
        if q is not None and q.status in FINAL_STATUSES:
            return
        if q is None:
            q = Quorum(req.request_id, 2, FAILED, req.frame.quorum, req.ending_at, req.frame.embedding_model)
            self.quorums[req.request_id] = q
        q.status, q.failure = FAILED, reason
        self._save_quorum(q)
        self._request_state(req.request_id, "failed", now, reason=reason)

    # ------------------------------------------------------------------ results

    def _finish_consensus(self, q: Quorum, out: ConsensusOutcome, now: int, publish: bool) -> None:
        rid = q.request_id
        packet = None
        if out.success and out.winner is not None:
            v2 = q.protocol == 2
            # v2 lists the whole agreed set as submitted (v1 listed only verified commits, §15.12).
            submitted = [e[1] for e in q.agreed or []] if v2 else [c.inference_id for c in out.verified]
            packet = builders.inference_quorum_computed(
                rid, self.me, submitted,
                [c.inference_id for c in out.accepted], out.joint_hash, out.winner.output or "",
                out.winner.synthient_id, out.winner.b_embedding_hash, format_js_date(now),
                protocol=2 if v2 else None, commit_set_hash=q.agreed_hash if v2 else None)
        rejections = [{"inferenceId": r.inference_id, "synthientId": r.synthient_id, "reason": r.reason}
                      for r in out.rejections]
        record = {"requestId": rid, "success": out.success, "reason": out.reason,
                  "debug": {"clusterSizeNeeded": out.cluster_size_needed, **out.debug},
                  "rejections": rejections,
                  "computedQuorumPacket": packet, "computedAt": now,
                  "commitSetHash": q.agreed_hash, "protocol": q.protocol}
        self.consensus[rid] = record
        self._persist("consensusResults", rid, record)
        q.status = COMPLETED if out.success else FAILED
        q.failure = None if out.success else self._failure_phase(out)
        q.result_key = out.joint_hash
        self._save_quorum(q)
        self._emit("consensus", requestId=rid, success=out.success, reason=out.reason,
                   jointHash=out.joint_hash, t=now, protocol=q.protocol, failure=q.failure,
                   accepted=[c.inference_id for c in out.accepted],
                   winner=out.winner.b_embedding_hash if out.winner else None,
                   output=out.winner.output if out.winner else None,
                   rejected=len(out.rejections), rejections=rejections, commitSetHash=q.agreed_hash,
                   centreDistances=out.debug.get("centreDistances"))
        self._request_state(rid, "done" if out.success else "failed", now,
                            reason=out.reason if not out.success else None)
        if publish and packet is not None:
            self._send(packet, now)

    @staticmethod
    def _failure_phase(out: ConsensusOutcome) -> str:
        if out.reason == "did_not_reach_threshold_after_prune":
            return "verification" if out.rejections else "missing_reveals"
        if out.reason == "no_clusters_found_of_needed_size":
            return "clustering"
        return out.reason

    def _on_external_consensus(self, sid: str, p: dict, now: int) -> None:
        if p.get("verifiedBy") != sid:
            raise PacketRejected(RejectCode.MISMATCH, "verifiedBy differs from the sender")
        key = (p["requestId"], sid)
        if key in self.external:
            return
        if sid == self.me and p.get("protocol") == 2:
            return                      # our own result is in `consensus`, not an external one (§15.8)
        record = {**p, "receivedAt": now}
        self.external[key] = record
        self._persist("externalConsensusResults", f"{p['requestId']}:{sid}", record)
        agree = self._agreement(p["requestId"])
        self._emit("external", requestId=p["requestId"], verifiedBy=sid, t=now,
                   bEmbeddingHash=(p.get("validSingleInference") or {}).get("bEmbeddingHash"), **agree)

    def _agreement(self, rid: str) -> dict:
        """Agree/disagree counts of published results against ours (or the most common one)."""
        hashes = [(r.get("validSingleInference") or {}).get("bEmbeddingHash")
                  for (r_id, _), r in self.external.items() if r_id == rid]
        mine = self.consensus.get(rid)
        ref = None
        if mine and mine.get("computedQuorumPacket"):
            ref = mine["computedQuorumPacket"]["validSingleInference"]["bEmbeddingHash"]
        elif hashes:
            ref = max(set(hashes), key=lambda h: (hashes.count(h), h or ""))
        agree = sum(1 for h in hashes if h == ref)
        return {"agree": agree, "disagree": len(hashes) - agree}

    # ------------------------------------------------------------------ queries (for adapters/UI)

    def request_view(self, rid: str) -> Optional[dict]:
        """Everything a UI needs about one request, JSON-able."""
        req = self.requests.get(rid)
        if req is None:
            return None
        q = self.quorums.get(rid)
        mine = self.consensus.get(rid)
        ext = [r for (r_id, _), r in self.external.items() if r_id == rid]
        result = None
        if mine and mine.get("computedQuorumPacket"):
            result = mine["computedQuorumPacket"]
        elif ext:
            counts: dict = {}
            for r in ext:
                h = (r.get("validSingleInference") or {}).get("bEmbeddingHash")
                counts[h] = counts.get(h, 0) + 1
            best = max(counts, key=lambda h: (counts[h], h or ""))
            result = next(r for r in ext if (r.get("validSingleInference") or {}).get("bEmbeddingHash") == best)
        return {"requestId": rid, "fromSynthientId": req.from_id, "endingAt": req.ending_at,
                "protocol": req.frame.protocol, "prompt": req.payload.get("prompt"),
                "status": q.status if q else ("awaiting_commitments"),
                "failure": q.failure if q else None,
                "committed": q.committed if q else 0, "revealed": q.revealed if q else 0,
                "agreedSet": len(q.agreed) if q and q.agreed is not None else None,
                "consensus": mine, "result": result, **self._agreement(rid)}
