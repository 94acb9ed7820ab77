"""What a run measured: consensus outcomes per request, traffic, throughput.

The simulator sees every node, so unlike the stability test (two observers' logs) it can judge a
request by all of them. Definitions (these are what the summary JSON reports):

* request: one ``RequestSubmitted`` (the load model's arrivals).
* participant: an honest node that sent an ``inferenceCommit`` for the request and was still
  online when the request's consensus should be done (``endingAt`` + reveal and consensus windows).
* result of a node for a request: what the node computed, from its LATEST ``ConsensusReached`` notice
  (a v2 node recomputes when a late reveal or a better commit set arrives; ``recomputed_verdicts``
  counts the verdicts replaced that way)
  (``success``, ``winner``/``bEmbeddingHash``, ``jointHash``), or else from the
  ``inferenceQuorumComputed`` it sent (``validSingleInference.bEmbeddingHash``,
  ``validInferenceJointHash``). Two results are identical when winner hash AND joint hash match.
* quorum: a request for which at least ``quorum`` (the frame's threshold) commits were sent
  network-wide, or for which any node produced a result.
* outcome of a node: its result, or else its failed consensus verdict (``ConsensusReached``
  with success False: ``("failed", reason)``, e.g. no cluster of the needed size among the honest
  outputs, which no protocol could certify). A participant that gave up (v2 ``following`` after
  a verification timeout) or never ran consensus has no outcome.
* full agreement (per quorum): at least one honest node has an outcome, every honest node with an
  outcome has the identical one, and every participant has one: every honest node ends the
  same way. ``full_agreement`` = share of quorums with full agreement.
  ``full_agreement_with_result``: the same, and that outcome is a result (not a shared failure);
  quorums whose honest nodes all agreed that there is no result are counted by phase in
  ``agreed_no_result_by_phase``.
* majority agreement: the most common honest outcome is held by > 50% of the honest nodes that
  participated or produced an outcome. ``majority_agreement`` = share of quorums.
* ``publisher_agreement``: share of quorums with >= 1 result where all honest results are
  identical.
* ``observer_agreement`` / ``observer_majority``: what the stability test measured from one
  node's log: among quorums with at least one published ``inferenceQuorumComputed``, the share
  where every published ``validSingleInference.bEmbeddingHash`` is the same (the v1 UI's
  agree/disagree count) / where the most common one has > 50% of the published packets.
* failed_by_phase (requests without full agreement, quorum or not, first matching cause;
  ``failed_quorums_by_phase``: the same over quorums only, what ``full_agreement`` misses):
  ``missing_commits`` (fewer commits sent than the threshold), ``missing_reveals`` (fewer reveals
  sent than the threshold), ``verification`` (reveals were rejected or a node reports a
  threshold failure after pruning), ``clustering`` (a node reports no cluster of the needed size),
  ``timing`` (everything else: nodes judged different commit/reveal sets, late packets, or
  participants that never produced a result).
* ``observer_divergence``: two always-online follower nodes in different regions (the stability
  test's two observers on different continents) each log the requests they learn of
  (``RequestChanged`` to ``REQUESTED``) and the published results they receive
  (``ResultReceived``: one per (request, verifier)); divergence = |A xor B| / |A or B| over
  requests and results together (the test saw ~5%).
* traffic, counting each sent envelope ONCE (redundant copies and receivers ignored, like the
  report's "packet size as proxy"): ``packets`` (envelopes sent), ``bytes`` (their encoded
  sizes), ``packets_per_request`` = packets / requests, ``bytes_per_token`` = bytes / tokens,
  ``tokens_per_packet`` = tokens / packets, where tokens = tokens of every finished inference.
  A relayed copy of a signed envelope (v2 relays the commit set and missing reveals) counts in
  ``packets``/``bytes`` (it is wire traffic) but not in ``distinct_packets``/``distinct_bytes``
  (what one observer can tell apart).
  The copy-level book (every copy on every channel to every receiver) is in ``links``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rakis_py.protocol.notices import ConsensusReached, RequestChanged, RequestState, ResultReceived


@dataclass
class RequestRecord:
    index: int
    prompt: str
    submitted_ms: int
    threshold: int
    window_end_ms: int                # when consensus should be done (virtual, run-relative + start)
    request_id: str | None = None
    requester: int | None = None
    commits: dict[int, str] = field(default_factory=dict)      # node -> inferenceId
    reveals: Counter = field(default_factory=Counter)          # node -> reveals sent
    rejections: int = 0
    computed: dict[int, tuple] = field(default_factory=dict)   # node -> (winner, joint)
    failed: dict[int, str] = field(default_factory=dict)       # node -> its failed consensus verdict
    published: dict[int, tuple] = field(default_factory=dict)  # node -> (winner, joint)
    failure_reasons: Counter = field(default_factory=Counter)


class Metrics:
    def __init__(self, byzantine: list[bool], observers: tuple[int, ...] = ()) -> None:
        self.byzantine = byzantine
        self.observers = observers
        self.observed: dict[int, set] = {o: set() for o in observers}
        self.requests: list[RequestRecord] = []
        self.by_prompt: dict[str, RequestRecord] = {}
        self.by_id: dict[str, RequestRecord] = {}
        self.packets = 0
        self.bytes = 0
        self.signatures: set[str] = set()   # distinct envelopes: relays re-send a signed original
        self.distinct_bytes = 0
        self.by_type: Counter[str] = Counter()
        self.bytes_by_type: Counter[str] = Counter()
        self.tokens = 0
        self.inferences = 0
        self.emits: Counter[str] = Counter()
        self.recomputed = 0                 # consensus verdicts a node later replaced with another

    # -- observations -------------------------------------------------------------------------
    def add_request(self, rec: RequestRecord) -> None:
        self.requests.append(rec)
        self.by_prompt[rec.prompt] = rec

    def on_submit(self, rec: RequestRecord, node: int) -> None:
        rec.requester = node

    def on_tokens(self, tokens: int) -> None:
        self.tokens += tokens
        self.inferences += 1

    def on_send(self, node: int, envelope: dict, size: int) -> None:
        pkt = envelope.get("packet") or {}
        typ = pkt.get("type", "?")
        self.packets += 1
        self.bytes += size
        self.by_type[typ] += 1
        self.bytes_by_type[typ] += size
        sig = envelope.get("signature")
        if sig in self.signatures:
            return                      # a relayed copy: wire traffic, but not a new packet
        self.signatures.add(sig)
        self.distinct_bytes += size
        if typ == "p2pInferenceRequest":
            rec = self.by_prompt.get((pkt.get("payload") or {}).get("prompt"))
            if rec is not None and rec.request_id is None:
                rec.request_id = pkt.get("requestId")
                self.by_id[rec.request_id] = rec
            return
        rec = self.by_id.get(pkt.get("requestId"))
        if rec is None:
            return
        if typ == "inferenceCommit":
            rec.commits.setdefault(node, pkt.get("inferenceId"))
        elif typ == "inferenceReveal":
            rec.reveals[node] += 1
        elif typ == "inferenceRevealRejected":
            rec.rejections += 1
        elif typ == "inferenceQuorumComputed":
            single = pkt.get("validSingleInference") or {}
            rec.published.setdefault(node, (single.get("bEmbeddingHash"), pkt.get("validInferenceJointHash")))

    def on_notice(self, node: int, n) -> None:
        self.emits[n.KIND] += 1
        seen = self.observed.get(node)
        if seen is not None:
            if type(n) is RequestChanged and n.state is RequestState.REQUESTED:
                seen.add(("request", n.request_id))
            elif type(n) is ResultReceived:
                seen.add(("result", n.request_id, n.verified_by))
        if type(n) is ConsensusReached:
            rec = self.by_id.get(n.request_id)
            if rec is None:
                return
            # A node's outcome is its LATEST verdict: a v2 node recomputes when a late reveal or a
            # better-ranked commit set arrives (the earlier one was shown only meanwhile).
            if n.success:
                new = (n.winner, n.joint_hash)
                if rec.computed.get(node, new) != new or node in rec.failed:
                    self.recomputed += 1
                rec.computed[node] = new
                rec.failed.pop(node, None)
            else:
                why = str(n.failure or n.reason or "failed")
                rec.failure_reasons[why] += 1
                if node in rec.computed:
                    self.recomputed += 1
                rec.computed.pop(node, None)
                rec.failed[node] = why
        elif type(n) is RequestChanged and n.state is RequestState.FAILED and n.reason:
            rec = self.by_id.get(n.request_id)
            if rec is not None:
                rec.failure_reasons[str(n.reason)] += 1

    # -- judgement ----------------------------------------------------------------------------
    def judge(self, rec: RequestRecord, online_at) -> dict:
        honest = lambda n: not self.byzantine[n]  # noqa: E731
        results = {n: r for n, r in rec.published.items() if honest(n)}
        results.update({n: r for n, r in rec.computed.items() if honest(n)})
        outcomes = {n: ("failed", why) for n, why in rec.failed.items() if honest(n) and n not in results}
        outcomes.update(results)
        participants = {n for n in rec.commits if honest(n) and online_at(n, rec.window_end_ms)}
        is_quorum = len(rec.commits) >= rec.threshold or bool(results)
        pub = Counter(w for n, (w, _j) in rec.published.items() if honest(n))
        distinct = Counter(results.values())
        identical = len(distinct) == 1
        kinds = Counter(outcomes.values())
        full = bool(outcomes) and len(kinds) == 1 and participants <= set(outcomes)
        with_result = full and bool(results)
        pool = participants | set(outcomes)
        majority = bool(kinds) and kinds.most_common(1)[0][1] * 2 > len(pool)
        phase = None
        if not with_result:
            reasons = " ".join(rec.failure_reasons).lower()
            if len(rec.commits) < rec.threshold or "commitments" in reasons:
                phase = "missing_commits"
            elif (sum(1 for n in rec.reveals if rec.reveals[n]) < rec.threshold and not results) \
                    or "reveals" in reasons:
                phase = "missing_reveals"
            elif rec.rejections or "verification" in reasons:
                phase = "verification"
            elif "cluster" in reasons:
                phase = "clustering"
            else:
                phase = "timing"
        return {"quorum": is_quorum, "full": full, "full_with_result": with_result, "majority": majority,
                "publisher_agreement": bool(results) and identical, "has_result": bool(results),
                "has_published": bool(pub), "observer_agreement": bool(pub) and len(pub) == 1,
                "observer_majority": bool(pub) and pub.most_common(1)[0][1] * 2 > sum(pub.values()),
                "phase": phase, "results": len(results), "distinct_results": len(distinct),
                "participants": len(participants), "commits": len(rec.commits)}

    def _divergence(self) -> float | None:
        if len(self.observers) < 2:
            return None
        a, b = self.observed[self.observers[0]], self.observed[self.observers[1]]
        union = a | b
        return round(len(a ^ b) / len(union), 6) if union else None

    def summary(self, online_at) -> tuple[dict, list[dict]]:
        verdicts = [self.judge(r, online_at) for r in self.requests]
        quorums = [v for v in verdicts if v["quorum"]]
        nq = len(quorums)
        with_result = [v for v in quorums if v["has_result"]]
        published = [v for v in quorums if v["has_published"]]
        share = lambda k, vs: round(sum(1 for v in vs if v[k]) / len(vs), 6) if vs else None  # noqa: E731
        phases = Counter(v["phase"] for v in verdicts if v["phase"] and not (v["full"] and v["quorum"]))
        agreed_none = Counter(v["phase"] for v in verdicts if v["phase"] and v["full"] and v["quorum"])
        nreq = len(self.requests)
        s = {
            "requests": nreq,
            "quorums": nq,
            "full_agreement": share("full", quorums),
            "full_agreement_with_result": share("full_with_result", quorums),
            "majority_agreement": share("majority", quorums),
            "publisher_agreement": share("publisher_agreement", with_result),
            "quorums_with_result": len(with_result),
            "observer_agreement": share("observer_agreement", published),
            "observer_majority": share("observer_majority", published),
            "quorums_published": len(published),
            "failed_by_phase": dict(sorted(phases.items())),
            "agreed_no_result_by_phase": dict(sorted(agreed_none.items())),
            "failed_quorums_by_phase": dict(sorted(Counter(v["phase"] for v in quorums if not v["full"]).items())),
            "recomputed_verdicts": self.recomputed,
            "observer_divergence": self._divergence(),
            "packets": self.packets,
            "bytes": self.bytes,
            "distinct_packets": len(self.signatures),
            "distinct_bytes": self.distinct_bytes,
            "tokens": self.tokens,
            "inferences": self.inferences,
            "packets_per_request": round(self.packets / nreq, 3) if nreq else None,
            "bytes_per_token": round(self.bytes / self.tokens, 3) if self.tokens else None,
            "tokens_per_packet": round(self.tokens / self.packets, 3) if self.packets else None,
            "packets_by_type": dict(sorted(self.by_type.items())),
            "bytes_by_type": dict(sorted(self.bytes_by_type.items())),
        }
        return s, verdicts
