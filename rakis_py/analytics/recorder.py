"""`DatasetRecorder`: turns a node's actions into `rakis-dataset/1` records (pure, sans-IO).

Feed it every action list `Node.handle` returns, with the same `now`:

    rec = DatasetRecorder(node_id, runtime="browser", started=now)
    new_records = rec.feed(node.handle(event, now), now)
    ...
    write_jsonl(rec.records(), path)

Each notice (protocol/notices.py) becomes its record (`_ON`): PacketSeen and PacketRefused a
`packet`, RequestChanged a `request` (and an inference's `worker` speed), CommitStored a `commit`,
RevealStored a `reveal`, ConsensusReached a `consensus` (and its rejections' `verification`s),
ResultReceived a `published`, RevealRejectedSeen a `verification`, WorkerChanged a `worker`,
PeerChanged a `peer` sample. `Send` gives `sent` (with the encoded size) and our own `published`.
Everything else is ignored. Records are kept in bounded buffers (`Retention`): raw packets for a shorter span
than the compact analytics records, since they dominate the volume (v1 kept only 5,000 packets).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional

from ..protocol import notices as N
from ..protocol.actions import Send
from .schema import RAW_KINDS, SCHEMA, new_record



@dataclass(frozen=True)
class Retention:
    """How much a node keeps in memory. Counts are records; ages are ms before the newest record.
    For longer spans a runtime appends what `feed` returns to its own storage as it goes."""

    max_packets: int = 20_000          # packet + sent records (v1: 5,000 packets, regretted)
    max_records: int = 200_000         # every other kind together (~30 per request)
    max_packet_age_ms: Optional[int] = 24 * 3600_000
    max_record_age_ms: Optional[int] = 60 * 24 * 3600_000
    peer_sample_ms: int = 60_000       # at most one unchanged peer sample per peer per this span


def estimate_tokens(text: Optional[str]) -> int:
    """Tokens of an output we only have as text: ~4 characters per token (English BPE rule of
    thumb). An estimate; our own inferences carry exact counts in `request` records."""
    if not text:
        return 0
    return max(1, round(len(text) / 4))


def estimate_tokens_of_chars(chars: Optional[int]) -> int:
    """`estimate_tokens` of a text of `chars` characters."""
    return max(1, round(chars / 4)) if chars else 0


def commit_set_identity(inference_ids: Iterable[str]) -> str:
    """A short identity of a set of inferenceIds (order-free): sha256 of the sorted ids."""
    joined = "\n".join(sorted(inference_ids))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def _encoded_size(envelope: dict) -> int:
    try:
        from rakis_py.protocol.canonical import js_stringify
        return len(js_stringify(envelope).encode("utf-8"))
    except Exception:       # a non-JSON-able test double: fall back to Python's JSON
        return len(json.dumps(envelope, separators=(",", ":"), default=str).encode("utf-8"))


def cluster_distances(debug: dict) -> dict:
    """Winning-cluster size and distances from a consensus record's `debug`.

    v1 (`distances` matrix over the verified reveals, `centre`, `clusterSizes`): the cluster is the
    `clusterSizes[centre]` nearest reveals to the centre (self included, distance 0); the in-cluster
    distance is the mean distance of the other members to the centre. v2 (`centreSpread`, the sum
    of the members' Hamming distances to the centre): spread / (size - 1), in bits."""
    centre, sizes = debug.get("centre"), debug.get("clusterSizes")
    if not isinstance(centre, int) or not isinstance(sizes, list) or centre >= len(sizes):
        return {}
    size = int(sizes[centre])
    out: dict = {"clusterSize": size}
    matrix = debug.get("distances")
    if isinstance(matrix, list) and centre < len(matrix):
        row = [float(d) for d in matrix[centre]]
        members = sorted(row)[:size]
        out["clusterDistance"] = sum(members) / (size - 1) if size > 1 else 0.0
        out["centreDistances"] = [d for j, d in enumerate(row) if j != centre]
        out["distanceUnit"] = "v1-euclid-bytes"
    elif "centreSpread" in debug:
        out["clusterDistance"] = float(debug["centreSpread"]) / (size - 1) if size > 1 else 0.0
        out["distanceUnit"] = "bits"
    return out


class DatasetRecorder:
    def __init__(self, node_id: str, runtime: str, started: int, protocol: Optional[dict] = None,
                 retention: Retention = Retention(), software: Optional[str] = None,
                 keep: bool = True) -> None:
        self.node_id = node_id
        self.retention = retention
        # keep=False: `feed` only returns the records, for a runtime that stores them itself under
        # this retention (the browser's IndexedDB) and need not hold a second copy in memory.
        self.keep = keep
        self.meta = new_record("meta", schema=SCHEMA, node=node_id, runtime=runtime, started=started,
                               protocol=protocol or {}, retention=asdict(retention), software=software)
        self._raw: deque = deque()
        self._compact: deque = deque()
        self._seq = 0
        self._counts: dict[str, list[int]] = {}           # requestId -> [committed, revealed] as last announced
        self._peers: dict[str, tuple] = {}                # sid -> (last sample t, material state)

    # ------------------------------------------------------------------ input

    def feed(self, actions: Iterable[Any], now: int) -> list[dict]:
        """Take one batch of node actions; return the records they produced (also buffered)."""
        out: list[dict] = []
        for a in actions:
            on = self._ON.get(type(a))
            if on is not None:
                on(self, a, now, out)
        for r in out:
            self._keep(r)
        return out

    def records(self) -> list[dict]:
        """meta first, then every kept record in time order (ties in arrival order)."""
        kept = sorted(list(self._raw) + list(self._compact), key=lambda x: (x[1].get("t", 0), x[0]))
        return [self.meta] + [r for _, r in kept]

    # ------------------------------------------------------------------ notices, one record kind each

    def _on_packet(self, n: N.PacketSeen, now: int, out: list) -> None:
        tokens = (estimate_tokens_of_chars(n.output_chars)
                  if n.outcome == "accepted" and n.output_chars is not None else None)
        out.append(new_record("packet", t=n.t, type=n.type, channel=n.channel or "?", size=n.size,
                              outcome=n.outcome, requestId=n.request_id, createdAt=n.created_at,
                              tokens=tokens, **{"from": n.synthient_id}))

    def _on_refused(self, n: N.PacketRefused, now: int, out: list) -> None:
        out.append(new_record("packet", t=n.t, type=n.type, channel=n.channel or "?", size=n.size,
                              outcome=n.code, **{"from": n.synthient_id}))

    def _on_request(self, n: N.RequestChanged, now: int, out: list) -> None:
        out.append(new_record("request", **n.to_json()))
        if (n.state is N.RequestState.INFERRED and n.started_at is not None and n.tokens is not None
                and n.job_worker_id):
            secs = max(n.t - n.started_at, 1) / 1000
            out.append(new_record("worker", t=n.t, workerId=n.job_worker_id, workerKind="llm", state="ready",
                                  tokens=n.tokens, tokensPerSecond=round(n.tokens / secs, 3)))

    def _on_commit(self, n: N.CommitStored, now: int, out: list) -> None:
        self._counts.setdefault(n.request_id, [0, 0])[0] = n.committed
        out.append(new_record("commit", t=n.t, requestId=n.request_id, synthientId=n.synthient_id,
                              committed=n.committed))

    def _on_reveal(self, n: N.RevealStored, now: int, out: list) -> None:
        self._counts.setdefault(n.request_id, [0, 0])[1] = n.revealed
        out.append(new_record("reveal", t=n.t, requestId=n.request_id, synthientId=n.synthient_id,
                              revealed=n.revealed, inferenceId=n.inference_id,
                              tokens=estimate_tokens_of_chars(n.output_chars),
                              bEmbedding=n.b_embedding.hex() if n.b_embedding is not None else None))

    def _on_consensus(self, n: N.ConsensusReached, now: int, out: list) -> None:
        committed, revealed = self._counts.get(n.request_id, [None, None])
        dist = cluster_distances(n.debug or {})
        out.append(new_record("consensus", t=n.t, requestId=n.request_id, success=bool(n.success),
                              reason=n.reason, failure=n.failure, protocol=n.protocol,
                              jointHash=n.joint_hash, accepted=n.accepted, winner=n.winner,
                              commitSetHash=n.commit_set_hash, committed=committed,
                              revealed=revealed, rejected=n.rejected, **dist))
        for r in n.rejections or []:
            out.append(new_record("verification", t=n.t, requestId=n.request_id, ok=False, by="self",
                                  synthientId=r.get("synthientId"), inferenceId=r.get("inferenceId"),
                                  reason=r.get("reason")))

    def _on_result(self, n: N.ResultReceived, now: int, out: list) -> None:
        out.append(self._published(n.packet or {}, n.request_id, n.verified_by, n.t, own=False,
                                   bEmbeddingHash=n.b_embedding_hash, agree=n.agree, disagree=n.disagree))

    def _on_reveal_rejected(self, n: N.RevealRejectedSeen, now: int, out: list) -> None:
        out.append(new_record("verification", t=n.t, requestId=n.request_id, ok=False,
                              synthientId=None, inferenceId=n.inference_id, reason=n.reason, by=n.by or "?"))

    def _on_worker(self, n: N.WorkerChanged, now: int, out: list) -> None:
        out.append(new_record("worker", t=n.t, workerId=n.worker_id, workerKind=n.kind,
                              model=n.model, backend=n.backend, state=n.state))

    # ------------------------------------------------------------------ sends and peers

    def _on_send(self, a: Send, now: int, out: list) -> None:
        envelope, to = a.envelope or {}, a.to
        p = envelope.get("packet") or {}
        ptype = p.get("type")
        out.append(new_record("sent", t=now, type=ptype or "?", requestId=p.get("requestId"),
                              size=_encoded_size(envelope), to=len(to) if to is not None else None))
        if ptype == "inferenceQuorumComputed":
            out.append(self._published(p, p.get("requestId"), self.node_id, now, own=True,
                                       bEmbeddingHash=(p.get("validSingleInference") or {}).get("bEmbeddingHash")))

    def _on_peer(self, n: N.PeerChanged, now: int, out: list) -> None:
        r, sid = n.record, n.synthient_id
        if not sid or sid == self.node_id:
            return
        state = (tuple(r.get("seenOn") or ()), r.get("totalTokens"), r.get("totalWorkers"),
                 len(r.get("chainIds") or ()), bool(r.get("direct")))
        last = self._peers.get(sid)
        if last is not None and last[1] == state and now - last[0] < self.retention.peer_sample_ms:
            return
        self._peers[sid] = (now, state)
        out.append(new_record("peer", t=now, synthientId=sid, seenOn=list(r.get("seenOn") or []),
                              totalTokens=r.get("totalTokens"), totalWorkers=r.get("totalWorkers"),
                              chainIds=[dict(c) for c in r.get("chainIds") or []],
                              direct=bool(r.get("direct"))))

    def _published(self, p: dict, rid: str, by: str, t: int, own: bool, **extra: Any) -> dict:
        submitted = [s.get("inferenceId") for s in p.get("submittedInferences") or []
                     if isinstance(s, dict)]
        return new_record("published", t=t, requestId=rid, verifiedBy=by, own=own,
                          jointHash=p.get("validInferenceJointHash"),
                          submitted=len(submitted) if p else None,
                          submittedHash=commit_set_identity(submitted) if p else None,
                          valid=len(p.get("validInferences") or []) if p else None,
                          commitSetHash=p.get("commitSetHash"), **extra)

    # ------------------------------------------------------------------ retention

    _ON: dict[type, Any] = {
        N.PacketSeen: _on_packet, N.PacketRefused: _on_refused, N.RequestChanged: _on_request,
        N.CommitStored: _on_commit, N.RevealStored: _on_reveal, N.ConsensusReached: _on_consensus,
        N.ResultReceived: _on_result, N.RevealRejectedSeen: _on_reveal_rejected, N.WorkerChanged: _on_worker,
        N.PeerChanged: _on_peer, Send: _on_send,
    }

    def _keep(self, record: dict) -> None:
        if not self.keep:
            return
        self._seq += 1
        raw = record["kind"] in RAW_KINDS
        buf = self._raw if raw else self._compact
        limit = self.retention.max_packets if raw else self.retention.max_records
        age = self.retention.max_packet_age_ms if raw else self.retention.max_record_age_ms
        buf.append((self._seq, record))
        while len(buf) > limit:
            buf.popleft()
        if age is not None:
            newest = record.get("t", 0)
            while buf and newest - buf[0][1].get("t", newest) > age:
                buf.popleft()
