"""`DatasetRecorder`: turns a node's actions into `rakis-dataset/1` records (pure, sans-IO).

Feed it every action list `Node.handle` returns, with the same `now` (action objects, or their
JSON form from `rakis_py.browser.codec.action_to_dict`):

    rec = DatasetRecorder(node_id, runtime="browser", started=now)
    new_records = rec.feed(node.handle(event, now), now)
    ...
    write_jsonl(rec.records(), path)

It reads `Emit` (packet, rejected, request, quorum, consensus, external, revealRejected, worker),
`Send` (our own packets and published results, with their encoded size) and a few `Persist`
records that carry what the emits leave out (peers, the full packets for reveal embeddings and
output sizes, consensus debug for cluster distances, published results' commit sets). Everything
else is ignored. Records are kept in bounded buffers (`Retention`): raw packets for a shorter span
than the compact analytics records, since they dominate the volume (v1 kept only 5,000 packets).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional, Sequence

from .schema import RAW_KINDS, SCHEMA, new_record

STASH_CAP = 4096          # pending per-packet details awaiting their emit (bounded against floods)


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


def commit_set_identity(inference_ids: Iterable[str]) -> str:
    """A short identity of a set of inferenceIds (order-free): sha256 of the sorted ids."""
    joined = "\n".join(sorted(inference_ids))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def _bytes_hex(value: Any) -> Optional[str]:
    """A typed-array field (bytes, list of ints, JS index-keyed object) as hex, or None."""
    try:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).hex()
        if isinstance(value, dict):
            value = [value[str(i)] for i in range(len(value))]
        return bytes(int(v) & 0xFF for v in value).hex()
    except (KeyError, TypeError, ValueError):
        return None


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
        self._counts: dict[str, list[int]] = {}           # requestId -> [committed, revealed]
        self._inferring: dict[str, tuple[int, str]] = {}  # requestId -> (start t, workerId)
        self._reveals: dict[tuple, dict] = {}             # (requestId, synthientId) -> reveal details
        self._packet_tokens: dict[tuple, int] = {}        # (sid, requestId) -> tokens of a stored reveal
        self._debug: dict[str, dict] = {}                 # requestId -> consensus record (Persist)
        self._external: dict[tuple, dict] = {}            # (requestId, verifiedBy) -> packet (Persist)
        self._peers: dict[str, tuple] = {}                # sid -> (last sample t, material state)

    # ------------------------------------------------------------------ input

    def feed(self, actions: Iterable[Any], now: int) -> list[dict]:
        """Take one batch of node actions; return the records they produced (also buffered)."""
        out: list[dict] = []
        for a in actions:
            if isinstance(a, dict):         # the page's JSON form (browser/codec.action_to_dict)
                name = {"emit": "Emit", "send": "Send", "persist": "Persist"}.get(a.get("type"), "")
                get = a.get
            else:
                name = type(a).__name__
                get = lambda key, _a=a: getattr(_a, key, None)  # noqa: E731
            if name == "Emit":
                self._on_emit(get("kind"), get("data") or {}, now, out)
            elif name == "Send":
                self._on_send(get("envelope") or {}, get("to"), now, out)
            elif name == "Persist" and get("record") is not None:
                self._on_persist(get("table"), get("record"), now, out)
        for r in out:
            self._keep(r)
        return out

    def records(self) -> list[dict]:
        """meta first, then every kept record in time order (ties in arrival order)."""
        kept = sorted(list(self._raw) + list(self._compact), key=lambda x: (x[1].get("t", 0), x[0]))
        return [self.meta] + [r for _, r in kept]

    # ------------------------------------------------------------------ emits

    def _on_emit(self, kind: str, d: dict, now: int, out: list) -> None:
        t = d.get("t", now)
        if kind == "packet":
            sid, rid = d.get("synthientId"), d.get("requestId")
            tokens = self._packet_tokens.pop((sid, rid), None) if d.get("outcome") == "accepted" else None
            out.append(new_record("packet", t=t, type=d.get("type"), channel=d.get("channel", "?"),
                                  size=d.get("size"), outcome=d.get("outcome", "accepted"),
                                  requestId=rid, createdAt=d.get("createdAt"), tokens=tokens,
                                  **{"from": sid}))
        elif kind == "rejected":
            out.append(new_record("packet", t=t, type=d.get("type"), channel=d.get("channel", "?"),
                                  size=d.get("size"), outcome=d.get("code", "rejected"),
                                  **{"from": d.get("synthientId")}))
        elif kind == "request":
            self._on_request(d, t, out)
        elif kind == "quorum":
            rid, sid = d.get("requestId"), d.get("synthientId")
            counts = self._counts.setdefault(rid, [0, 0])
            if d.get("event") == "commit":
                counts[0] = d.get("committed", counts[0] + 1)
                out.append(new_record("commit", t=t, requestId=rid, synthientId=sid, committed=counts[0]))
            elif d.get("event") == "reveal":
                counts[1] = d.get("revealed", counts[1] + 1)
                extra = self._reveals.pop((rid, sid), {})
                out.append(new_record("reveal", t=t, requestId=rid, synthientId=sid,
                                      revealed=counts[1], **extra))
        elif kind == "consensus":
            self._on_consensus(d, t, out)
        elif kind == "external":
            rid, by = d.get("requestId"), d.get("verifiedBy")
            p = self._external.pop((rid, by), {})
            out.append(self._published(p, rid, by, t, own=False, bEmbeddingHash=d.get("bEmbeddingHash"),
                                       agree=d.get("agree"), disagree=d.get("disagree")))
        elif kind == "revealRejected":
            out.append(new_record("verification", t=t, requestId=d.get("requestId"), ok=False,
                                  synthientId=None, inferenceId=d.get("inferenceId"),
                                  reason=d.get("reason"), by=d.get("by") or "?"))
        elif kind == "worker":
            out.append(new_record("worker", t=t, workerId=d.get("workerId"), workerKind=d.get("kind"),
                                  model=d.get("model"), backend=d.get("backend"), state=d.get("state")))

    def _on_request(self, d: dict, t: int, out: list) -> None:
        rid, state = d.get("requestId"), d.get("state")
        out.append(new_record("request", **{**d, "t": t}))
        if state == "inferring":
            self._inferring[rid] = (t, d.get("workerId"))
        elif state in ("inferred", "inference_failed"):
            start, worker = self._inferring.pop(rid, (None, None))
            tokens = d.get("tokens")
            if state == "inferred" and start is not None and tokens is not None and worker:
                secs = max(t - start, 1) / 1000
                out.append(new_record("worker", t=t, workerId=worker, workerKind="llm", state="ready",
                                      tokens=tokens, tokensPerSecond=round(tokens / secs, 3)))

    def _on_consensus(self, d: dict, t: int, out: list) -> None:
        rid = d.get("requestId")
        committed, revealed = self._counts.get(rid, [None, None])
        stored = self._debug.pop(rid, {})
        dist = cluster_distances(stored.get("debug") or {})
        out.append(new_record("consensus", t=t, requestId=rid, success=bool(d.get("success")),
                              reason=d.get("reason"), failure=d.get("failure"),
                              protocol=d.get("protocol"), jointHash=d.get("jointHash"),
                              accepted=d.get("accepted"), winner=d.get("winner"),
                              commitSetHash=d.get("commitSetHash"), committed=committed,
                              revealed=revealed, rejected=d.get("rejected"), **dist))
        for r in stored.get("rejections") or []:
            out.append(new_record("verification", t=t, requestId=rid, ok=False, by="self",
                                  synthientId=r.get("synthientId"), inferenceId=r.get("inferenceId"),
                                  reason=r.get("reason")))

    # ------------------------------------------------------------------ sends and persists

    def _on_send(self, envelope: dict, to: Optional[Sequence], now: int, out: list) -> None:
        p = envelope.get("packet") or {}
        ptype = p.get("type")
        out.append(new_record("sent", t=now, type=ptype or "?", requestId=p.get("requestId"),
                              size=_encoded_size(envelope), to=len(to) if to is not None else None))
        if ptype == "inferenceReveal":
            self._stash_reveal(self.node_id, p)
        elif ptype == "inferenceQuorumComputed":
            out.append(self._published(p, p.get("requestId"), self.node_id, now, own=True,
                                       bEmbeddingHash=(p.get("validSingleInference") or {}).get("bEmbeddingHash")))

    def _on_persist(self, table: str, record: dict, now: int, out: list) -> None:
        if table == "packets":
            p, sid = record.get("packet") or {}, record.get("synthientId")
            if p.get("type") == "inferenceReveal":
                tokens = self._stash_reveal(sid, p)
                self._bounded_put(self._packet_tokens, (sid, p.get("requestId")), tokens)
        elif table == "consensusResults":
            self._bounded_put(self._debug, record.get("requestId"), record)
        elif table == "externalConsensusResults":
            self._bounded_put(self._external, (record.get("requestId"), record.get("verifiedBy")), record)
        elif table == "peers":
            self._on_peer(record, now, out)

    def _stash_reveal(self, sid: str, p: dict) -> int:
        tokens = estimate_tokens(p.get("output"))
        self._bounded_put(self._reveals, (p.get("requestId"), sid),
                          {"inferenceId": p.get("inferenceId"), "tokens": tokens,
                           "bEmbedding": _bytes_hex(p.get("bEmbedding"))})
        return tokens

    def _on_peer(self, r: dict, now: int, out: list) -> None:
        sid = r.get("synthientId")
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

    @staticmethod
    def _bounded_put(stash: dict, key: Any, value: Any) -> None:
        if len(stash) >= STASH_CAP and key not in stash:
            stash.pop(next(iter(stash)))
        stash[key] = value

    # ------------------------------------------------------------------ retention

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
