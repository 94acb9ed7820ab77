"""v1 rules (v1 spec §6.7-6.11, §19), reproduced exactly: fixed windows after the deadline, a
reveal request from every node, cosine/Euclidean checks over packed bytes, JS float modulo."""

from __future__ import annotations

from typing import Any, Optional

from . import builders
from .consensus import CommitEntry, ConsensusOutcome, run_consensus_v1
from .errors import PacketRejected, RejectCode
from .packets import Envelope, InferenceReveal, InferenceRevealRequest
from .quorum import (AWAITING_COMMITMENTS, AWAITING_CONSENSUS, AWAITING_REVEAL, FAILED,
                     V1_CONSENSUS_OFFSET_MS, V1_CONSENSUS_WINDOW_MS, V1_REVEAL_ISSUE_MS,
                     V1_REVEAL_TIMEOUT_MS, V1_TIMER_SLACK_MS, VERIFYING_CONSENSUS, Quorum)
from .records import Request
from .notices import RequestState
from .rules import SELF_CHANNEL, Rules
from .timefmt import format_js_date
from .work import EmbedItem

__all__ = ["V1Rules"]


class V1Rules(Rules):
    protocol = 1
    timer_kinds = frozenset({"v1reveal", "v1consensus", "v1expire"})
    v1_shapes = True
    announces_inferencing = True

    def last_at(self, req: Request) -> int:
        return req.ending_at + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_WINDOW_MS

    def arm_timers(self, req: Request, q: Optional[Quorum], now: int) -> None:
        rid, e = req.request_id, req.ending_at
        if q is not None and q.status == AWAITING_COMMITMENTS and q.reveal_timer_armed:
            self.node._timer(f"v1reveal:{rid}", e + V1_TIMER_SLACK_MS)
        if q is not None and q.status == AWAITING_REVEAL and q.revealed:
            self.node._timer(f"v1consensus:{rid}", e + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_OFFSET_MS)

    def on_timer(self, kind: str, req: Request, q: Optional[Quorum], now: int) -> None:
        if kind == "v1reveal":
            self._reveal_check(now)
        elif kind == "v1consensus":
            self._consensus_check(now)
        elif kind == "v1expire":
            self.node.work.drop_expired(now)

    def quorum_for_commit(self, req: Request, q: Optional[Quorum], sid: str, inference_id: str,
                          now: int) -> Quorum:
        if q is None:
            q = self.node._new_quorum(req)
            if req.ending_at > now:
                # v1 only arms the reveal timer for quorums created before the deadline (v1 spec §15.10).
                q.update(reveal_timer_armed=True)
                self.node._timer(f"v1reveal:{req.request_id}", req.ending_at + V1_TIMER_SLACK_MS)
        return q

    def _fail(self, q: Quorum, failure: str, reason: str, now: int) -> None:
        q.move(FAILED, failure=failure)
        self.node._request_state(q.request_id, RequestState.FAILED, now, reason=reason)

    def _reveal_check(self, now: int) -> None:
        n = self.node
        for q in list(n.quorums.values()):
            if q.protocol != 1 or q.status != AWAITING_COMMITMENTS:
                continue
            if not (now - V1_REVEAL_ISSUE_MS <= q.ending_at < now):
                continue
            if q.committed < q.threshold:
                self._fail(q, "missing_commits", "Not enough commitments", now)
            else:
                q.move(AWAITING_REVEAL)
                n._send(builders.inference_reveal_request(q.request_id, q.commits, V1_REVEAL_TIMEOUT_MS,
                                                          format_js_date(now)), now)
                n._request_state(q.request_id, RequestState.REVEAL_REQUESTED, now, commits=q.committed)

    def on_reveal_request(self, req: Request, sid: str, p: InferenceRevealRequest, envelope: dict, channel: str,
                          now: int) -> None:
        if req.ending_at > now:
            raise PacketRejected(RejectCode.LATE, "reveal request before the deadline")
        mine = next((e for e in p.quorum if e.synthient_id == self.node.me), None)
        if mine is None:
            return
        self.node._send_reveal(req, mine.inference_id, sid, now)

    def on_reveal(self, req: Request, q: Optional[Quorum], sid: str, p: InferenceReveal, envelope: dict,
                  channel: str, now: int, env: Optional[Envelope]) -> None:
        if q is None:
            return
        c = q.find(sid, p.inference_id)
        if channel != SELF_CHANNEL and now > q.ending_at + V1_REVEAL_TIMEOUT_MS:
            raise PacketRejected(RejectCode.LATE, "reveal after the v1 reveal window")
        if c is None or c.output is not None:
            return
        self.node._store_reveal(q, c, p, None, now)
        self.node._timer(f"v1consensus:{q.request_id}", q.ending_at + V1_REVEAL_TIMEOUT_MS + V1_CONSENSUS_OFFSET_MS)
        self._consensus_check(now)

    def _consensus_check(self, now: int) -> None:
        n = self.node
        for q in list(n.quorums.values()):
            if q.protocol != 1 or q.status != AWAITING_REVEAL or q.consensus_requested_at is not None:
                continue
            window_end = V1_REVEAL_TIMEOUT_MS
            if not (now - window_end - V1_CONSENSUS_WINDOW_MS <= q.ending_at < now - window_end):
                continue
            if q.revealed < q.threshold:
                self._fail(q, "missing_reveals", "Not enough reveals", now)
            else:
                q.move(AWAITING_CONSENSUS)
                q.update(consensus_requested_at=now)
                texts = tuple(c.output for c in q.commits if c.output is not None and c.synthient_id != n.me)
                expires = now + V1_CONSENSUS_WINDOW_MS
                if texts:      # v1 drops an empty verification item (the quorum then never finishes)
                    n.work.queue.append(EmbedItem(
                        "consensusVerification", q.request_id, expires, now,
                        priority=q.by_sender(n.me) is not None, texts=texts, targets=texts))
                    n._timer(f"v1expire:{q.request_id}", expires)
                n._request_state(q.request_id, RequestState.CONSENSUS, now)
        n._pump_embeddings(now)

    def on_verified(self, q: Quorum, targets: tuple, bembeddings: Any, now: int) -> None:
        n = self.node
        recomputed = dict(zip(targets, bembeddings))
        req = n.requests[q.request_id]
        q.move(VERIFYING_CONSENSUS)
        f = req.frame
        commits = [CommitEntry(c.inference_id, c.synthient_id, c.b_embedding_hash, c.output, c.b_embedding)
                   for c in q.commits]
        out = run_consensus_v1(q.request_id, commits, recomputed, n.me, q.threshold,
                               f.sec_distance, f.sec_percentage)
        created = format_js_date(now)
        for rej in out.rejections:
            if rej.reason == "bembedding_hash_mismatch":
                reason = builders.reject_reason_hash_mismatch(rej.computed_hash, rej.revealed_hash,
                                                              rej.revealed or b"", v1_typed_arrays=True)
            else:
                reason = builders.reject_reason_threshold(rej.computed or b"", rej.revealed or b"",
                                                          v1_typed_arrays=True)
            n._send(builders.inference_reveal_rejected(q.request_id, rej.inference_id, reason, created), now)
        n._finish_consensus(q, out, now, publish=out.success)

    def published_fields(self, q: Quorum, out: ConsensusOutcome) -> tuple[list[str], Optional[int], Optional[str]]:
        # v1 listed only the verified commits as submitted (v1 spec §15.12).
        return [c.inference_id for c in out.verified], None, None
