"""v2 rules: a coordinated commit set, reveals to everyone, bounded-bit verification, catch-up.

Commits are collected until `endingAt`. After a short grace the committer whose
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
A deterministic few of the accepted committers publish it (`results.publishers`).
"""

from __future__ import annotations

from typing import Any, Optional

from . import builders
from .consensus import CommitEntry, ConsensusOutcome, binary_embedding_hash, run_consensus_v2
from .errors import PacketRejected, RejectCode
from .packets import Envelope, InferenceReveal, InferenceRevealMissing, InferenceRevealRequest
from .quorum import (AWAITING_REVEAL, COMPLETED, FAILED, FINAL_STATUSES, V2_REASK_MS,
                     VERIFYING_CONSENSUS, Commit, Quorum, commit_set_hash, rank_key)
from .records import Request
from .results import publishers
from .notices import RequestState
from .rules import SELF_CHANNEL, Rules
from .timefmt import format_js_date
from .work import EmbedItem

__all__ = ["V2Rules", "LATE_VERIFY_MS"]

LATE_VERIFY_MS = 120_000           # after the final deadline, a node out of time may still finish its own check


class V2Rules(Rules):
    protocol = 2
    timer_kinds = frozenset({"coord", "missing", "reask", "close", "final"})

    def final_at(self, req: Request) -> int:
        q = self.node.quorums.get(req.request_id)
        n = len(q.agreed) if q is not None and q.agreed else 0
        return req.frame.final_at(req.ending_at, n)

    def last_at(self, req: Request) -> int:
        return self.final_at(req)

    def arm_timers(self, req: Request, q: Optional[Quorum], now: int) -> None:
        n, rid, f, e = self.node, req.request_id, req.frame, req.ending_at
        n._timer(f"coord:{rid}", f.coordinator_at(e, 0))
        # Spread over 2 s so that one node's inferenceRevealMissing can suppress the others'.
        n._timer(f"missing:{rid}", f.missing_at(e) + n._stagger(rid, 2_000))
        n._timer(f"close:{rid}", f.reveal_close_at(e))
        n._timer(f"reask:{rid}", f.reveal_close_at(e) + n._stagger(rid, 2_000))
        n._timer(f"final:{rid}", self.final_at(req))

    def on_timer(self, kind: str, req: Request, q: Optional[Quorum], now: int) -> None:
        if kind == "coord":
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
                q.update(publish_due=False)
                packet = (self.node.consensus.get(req.request_id) or {}).get("computedQuorumPacket")
                if q.status == COMPLETED and packet is not None:
                    self.node._send(packet, now)
            if q is None or q.status not in FINAL_STATUSES:
                if q is not None and q.agreed is not None:
                    self._v2_maybe_consensus(q, now, final=True)
                else:
                    self._v2_fail(req, q, "missing_commits", now)

    def quorum_for_commit(self, req: Request, q: Optional[Quorum], sid: str, inference_id: str,
                          now: int) -> Quorum:
        if q is not None and q.agreed is not None and q.find(sid, inference_id) is None:
            raise PacketRejected(RejectCode.LATE, "commit set already agreed")
        if q is not None and q.by_sender(sid) is not None and q.find(sid, inference_id) is None:
            raise PacketRejected(RejectCode.CONFLICT, "second commit from the same node")
        return q if q is not None else self.node._new_quorum(req)

    def too_late_to_commit(self, req: Request, q: Optional[Quorum], now: int) -> bool:
        return now > req.ending_at or (q is not None and q.agreed is not None)

    def outranked(self, req: Request, q: Optional[Quorum]) -> bool:
        """Our commit could no longer make the agreed set (maxCommits best-ranked commits):
        an inference for it would be wasted work."""
        return q is not None and q.outranked(self.node.me, req.frame.max_commits)

    def resume(self, q: Quorum, now: int) -> None:
        if q.status not in FINAL_STATUSES:
            self._queue_missing_verifications(q, now)

    def on_verified(self, q: Quorum, targets: tuple, bembeddings: Any, now: int) -> None:
        for key, bits in zip(targets, bembeddings):
            c = q.find(*key)
            if c is not None:
                q.set_recomputed(c, bytes(bits))
        self._v2_maybe_consensus(q, now)

    def published_fields(self, q: Quorum, out: ConsensusOutcome) -> tuple[list[str], Optional[int], Optional[str]]:
        # v2 lists the whole agreed set as submitted (v1 listed only verified commits, v1 spec §15.12).
        return [e[1] for e in q.agreed or []], 2, q.agreed_hash

    def on_reveal_request(self, req: Request, sid: str, p: InferenceRevealRequest, envelope: dict, channel: str,
                          now: int) -> None:
        self._v2_on_reveal_request(req, sid, p, envelope, channel, now)

    def on_reveal(self, req: Request, q: Optional[Quorum], sid: str, p: InferenceReveal, envelope: dict,
                  channel: str, now: int, env: Optional[Envelope]) -> None:
        # `env` is the decoded envelope of a received reveal (None for our own): held as it is.
        n = self.node
        if q is None:
            if env is not None:
                n._hold(req.request_id, env, channel, now)
            return
        c = q.find(sid, p.inference_id)
        if c is None:
            if any(x.inference_id == p.inference_id for x in q.commits):
                raise PacketRejected(RejectCode.MISMATCH, "reveal for another node's commit")
            # Not in the set we follow now; a better coordinator's set may list it. Holding it
            # (instead of refusing) matters: a re-sent copy would be a duplicate and dropped.
            if env is not None:
                n._hold(req.request_id, env, channel, now)
            return
        if c.output is not None:
            return
        if now > self.final_at(req):
            raise PacketRejected(RejectCode.LATE, "reveal after the consensus deadline")
        if binary_embedding_hash(p.b_embedding, sid) != c.b_embedding_hash:
            # A reveal that does not open its commit is refused outright (and logged), v2 only.
            raise PacketRejected(RejectCode.MISMATCH, "revealed bEmbedding does not match the commit")
        n._store_reveal(q, c, p, envelope, now)
        if sid == n.me:
            emb = n.embeddings.get(c.inference_id)
            q.set_recomputed(c, bytes.fromhex(emb["bEmbedding"]) if emb else None)
        if c.recomputed is None and self._verifies(req, q):
            self._queue_verification(req, q, c, now)
            n._pump_embeddings(now)
        self._v2_maybe_consensus(q, now)

    def on_reveal_missing(self, sid: str, p: InferenceRevealMissing, now: int) -> None:
        self._on_reveal_missing(sid, p, now)

    def _verifies(self, req: Request, q: Quorum) -> bool:
        """Does this node compute the v2 result itself (it committed, asked, or verifies all)?"""
        return (self.node.config.verify_all or req.from_id == self.node.me
                or q.by_sender(self.node.me) is not None) and self.node.work.has_embedder(req.frame)


    def _v2_coordinate(self, req: Request, q: Optional[Quorum], now: int) -> None:
        """Coordinator election: the committer with the lowest rank key sends the commit set; the
        next one takes over after a timeout if no better reveal request was seen."""
        if q is None or q.status in FINAL_STATUSES or q.by_sender(self.node.me) is None or q.request_sent:
            return
        mine = rank_key(req.request_id, self.node.me)
        if q.coordinator is not None and rank_key(req.request_id, q.coordinator) < mine:
            return
        rank = sum(1 for c in q.commits if rank_key(req.request_id, c.synthient_id) < mine)
        if rank >= req.frame.max_commits:
            return                      # our commit is outside any set we could send
        at = req.frame.coordinator_at(req.ending_at, rank)
        if at > now:
            self.node._timer(f"coord:{req.request_id}", at)
            return
        best = sorted(q.commits, key=lambda c: rank_key(req.request_id, c.synthient_id))[:req.frame.max_commits]
        entries = sorted({(c.synthient_id, c.inference_id, c.b_embedding_hash) for c in best})
        if len(entries) < req.frame.quorum:
            return                      # nothing to agree on: the close timer fails the quorum
        q.update(request_sent=True)
        quorum = [{"inferenceId": inf, "synthientId": sid, "bEmbeddingHash": bh} for sid, inf, bh in entries]
        self.node._send(builders.inference_reveal_request(req.request_id, quorum, req.frame.reveal_window_ms,
                                                     format_js_date(now), protocol=2, rank=rank), now)

    def _v2_on_reveal_request(self, req: Request, sid: str, p: InferenceRevealRequest, envelope: dict, channel: str,
                              now: int) -> None:
        entries = sorted({(e.synthient_id, e.inference_id, e.b_embedding_hash) for e in p.quorum})
        if not any(e[0] == sid for e in entries):
            raise PacketRejected(RejectCode.NOT_IN_QUORUM, "coordinator is not a committer of its set")
        if len({e[0] for e in entries}) != len(entries):
            raise PacketRejected(RejectCode.CONFLICT, "commit set lists a node twice")
        if len(entries) > req.frame.max_commits:
            raise PacketRejected(RejectCode.TOO_LARGE, f"commit set of {len(entries)} commits, the request's "
                                                       f"maxCommits is {req.frame.max_commits}")
        if now > self.final_at(req):
            raise PacketRejected(RejectCode.LATE, "reveal request after the consensus deadline")
        q = self.node.quorums.get(req.request_id)
        if q is None:
            q = self.node._new_quorum(req)
        set_hash = commit_set_hash(req.request_id, entries)
        if q.coordinator is not None:
            cur, new = rank_key(req.request_id, q.coordinator), rank_key(req.request_id, sid)
            if (new, set_hash) >= (cur, q.agreed_hash or ""):
                # Not better than the set we follow. If it differs, some nodes may follow it (it
                # reached them, ours did not): the coordinator and relayers of ours send them ours.
                if (set_hash != q.agreed_hash and channel != SELF_CHANNEL and q.agreed_envelope is not None
                        and self._sends_set_to(q, sid)):
                    to = tuple(sorted(({e[0] for e in entries} | {sid}) - {self.node.me}))
                    self.node._forward(q.agreed_envelope, to)
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
        # agreed_envelope: re-sent to a node that asks while following another set
        q.update(agreed=entries, coordinator=sid, agreed_hash=set_hash, agreed_envelope=envelope)
        self.node._timer(f"final:{req.request_id}", self.final_at(req))   # the deadline grows with the set
        if channel != SELF_CHANNEL and self.node.me in self._relayers(req.request_id, entries, sid):
            # The set must reach everyone: two deterministic members re-send the signed original,
            # so a node with no working route to the coordinator still hears it.
            self.node._forward(envelope, None)
        if recompute:
            q.move(AWAITING_REVEAL, failure=None)
        else:
            q.move(AWAITING_REVEAL)
        self.node._request_state(req.request_id, RequestState.REVEAL_REQUESTED, now, commits=len(entries), coordinator=sid)
        own = next((e for e in entries if e[0] == self.node.me), None)
        if own is not None and not q.reveal_sent:
            q.update(reveal_sent=True)
            self.node._send_reveal(req, own[1], sid, now)
        self.node._replay_held(req.request_id, now)
        self._v2_maybe_consensus(q, now)

    @staticmethod
    def _relayers(rid: str, entries: list, coordinator: str, n: int = 2) -> list:
        others = sorted((e[0] for e in entries if e[0] != coordinator), key=lambda x: rank_key(rid, x))
        return others[:n]

    def _v2_ask_missing(self, req: Request, q: Optional[Quorum], now: int) -> None:
        if q is None or q.agreed is None or q.status in FINAL_STATUSES or q.missing_sent:
            return
        missing = [c.inference_id for c in q.agreed_commits() if c.output is None]
        if not missing:
            return
        q.update(missing_sent=True)
        self._ask(req, q, missing, now)

    def _ask(self, req: Request, q: Quorum, missing: list, now: int) -> None:
        q.update(asked_at=now)
        self.node._send(builders.inference_reveal_missing(req.request_id, missing, format_js_date(now),
                                                     commit_set_hash=q.agreed_hash), now)

    def _v2_reask(self, req: Request, q: Optional[Quorum], now: int) -> None:
        """After the reveal window, a verifier that still lacks reveals of its agreed set asks
        again every V2_REASK_MS until the final deadline (the first re-request is one-shot and may
        be lost: a partition, a stalled relay). Reveals that arrive in answer are accepted until
        the final deadline and the result recomputed, so a node cut off during the reveal phase
        ends with the same reveals, hence the same result, as the others. Another node's
        re-request naming everything we lack counts as ours (asked_at), as for the first one."""
        if q is None or not self._verifies(req, q):
            return                       # commits are over: a node that does not verify never will
        final = self.final_at(req)
        if now + V2_REASK_MS < final:
            self.node._timer(f"reask:{req.request_id}", now + V2_REASK_MS)
        if q.failure == "verification_timeout":
            return
        if q.asked_at is not None and now - q.asked_at < V2_REASK_MS:
            return
        if q.agreed is None:
            # A committer that never heard a commit set (cut off when it was sent) asks for its
            # own reveal with no set named: holders of a set send it theirs (_on_reveal_missing).
            own = q.by_sender(self.node.me)
            if own is not None:
                self._ask(req, q, [own.inference_id], now)
            return
        missing = [c.inference_id for c in q.agreed_commits() if c.output is None]
        if missing:
            q.update(missing_sent=True)
            self._ask(req, q, missing, now)

    def _on_reveal_missing(self, sid: str, p: InferenceRevealMissing, now: int) -> None:
        q = self.node.quorums.get(p.request_id)
        if q is None or sid == self.node.me:
            return
        req = self.node.requests[q.request_id]
        theirs = p.commit_set_hash
        same_set = theirs is None or theirs == q.agreed_hash
        if q.agreed is not None and same_set and self._resends_reach_me(req, q):
            # Someone asked already; if it asked for everything we lack, we need not ask: the
            # re-sent reveals are addressed to us too (see _resend_targets).
            ours = {c.inference_id for c in q.agreed_commits() if c.output is None}
            if ours <= set(p.inference_ids):
                q.update(missing_sent=True, asked_at=now)
        relay = q.agreed is not None and (q.coordinator == self.node.me or self.node.me in self._relayers(
            q.request_id, q.agreed, q.coordinator or ""))
        if theirs != q.agreed_hash and q.agreed_envelope is not None and self._sends_set_to(q, sid):
            # The asker follows another commit set or none (it missed ours, e.g. cut off when it
            # was sent): send it ours, addressed; it switches if ours ranks better.
            self.node._forward(q.agreed_envelope, (sid,))
        for inf in p.inference_ids:
            c = next((c for c in q.commits if c.inference_id == inf), None)
            if c is None or c.reveal_envelope is None:
                continue
            # The committer re-sends its own reveal; the coordinator and the two set relayers
            # relay others' too, for nodes with no route to the committer. Addressed: only the
            # asker and the request's participants use a reveal (everyone else follows the
            # published result); the re-request itself stays a broadcast (it suppresses others').
            to = self._resend_targets(req, q, sid, c.synthient_id)
            if to and (c.synthient_id == self.node.me or relay):
                self.node._forward(c.reveal_envelope, to)

    def _sends_set_to(self, q: Quorum, other: str) -> bool:
        """Do we re-send our set to `other` (who follows another set, or none)? The coordinator and
        the two best-ranked other members, `other` left out: the relayers of a set are exactly the
        nodes most likely to have missed the same packets as a node that missed it."""
        if q.agreed is None or q.coordinator is None:
            return False
        rest = [e for e in q.agreed if e[0] != other]
        return q.coordinator == self.node.me or self.node.me in self._relayers(q.request_id, rest, q.coordinator)

    def _resend_targets(self, req: Request, q: Quorum, asker: str, committer: str) -> tuple[str, ...]:
        """Who gets a reveal re-sent in answer to an inferenceRevealMissing (v2): the asker, every
        committer we know of (the agreed set's members and any other committer: all of them
        verify) and the requester (it verifies too). The committer and we hold it already."""
        ids = {c.synthient_id for c in q.commits} | {e[0] for e in q.agreed or []}
        ids |= {asker, req.from_id}
        ids -= {self.node.me, committer}
        return tuple(sorted(ids))

    def _resends_reach_me(self, req: Request, q: Quorum) -> bool:
        """Will reveals re-sent for someone else's re-request be addressed to us? Every responder
        that follows our agreed set addresses its members and the requester. A verifier outside
        the set (verify_all, a committer the set left out) asks for itself instead. A node that
        does not verify needs no reveal: it stays suppressed as before (no extra re-requests)."""
        if not self._verifies(req, q):
            return True
        return req.from_id == self.node.me or any(e[0] == self.node.me for e in q.agreed or [])

    def _queue_verification(self, req: Request, q: Quorum, c: Commit, now: int) -> None:
        """Queue the re-embedding of one reveal, once (one text per job: no batch effects)."""
        tag = (q.request_id, *c.key)
        if not self.node.work.claim_verification(tag):
            return
        self.node.work.queue.append(EmbedItem("consensusVerification", q.request_id, self.final_at(req), now,
                                           priority=q.by_sender(self.node.me) is not None,
                                           texts=(c.output,), targets=(c.key,)))

    def _queue_late_verifications(self, req: Request, q: Quorum, now: int) -> None:
        """After the final deadline, keep re-embedding the reveals we hold (no new ones are taken)
        at low priority for LATE_VERIFY_MS, so a slow verifier ends with its own checked result
        instead of only following. Fresh work keeps its order: these are not 'own' items, do not
        count in the back-pressure and never jump the queue for waiting long."""
        late_until = now + LATE_VERIFY_MS
        for item in self.node.work.queue:
            if item.kind == "consensusVerification" and item.request_id == q.request_id:
                item.expires_at, item.priority, item.enqueued_at = late_until, False, None
        for c in q.agreed_commits():
            if c.output is None or c.recomputed is not None:
                continue
            tag = (q.request_id, *c.key)
            if not self.node.work.claim_verification(tag):      # queued (updated above) or running
                continue
            self.node.work.queue.append(EmbedItem("consensusVerification", q.request_id, late_until, None,
                                               priority=False, texts=(c.output,), targets=(c.key,)))
        self.node._pump_embeddings(now)

    def _queue_missing_verifications(self, q: Quorum, now: int) -> None:
        req = self.node.requests.get(q.request_id)
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
        req = self.node.requests[q.request_id]
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
                q.update(failure="verification_timeout")
                self.node._request_state(q.request_id, RequestState.FOLLOWING, now, reason="verification_timeout")
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
        q.update(consensus_requested_at=q.consensus_requested_at or now)
        chosen = publishers(q.request_id, out, f.publishers)
        # A late check (after a verification timeout) is kept, not published: the publishers
        # have spoken by then, and the result is the same (same agreed set, same reveals).
        late = q.failure == "verification_timeout"
        publish = out.success and self.node.me in chosen and not late
        # Computed without every reveal of the agreed set (reveal window closed): a missing
        # reveal may still come (re-asked until the final deadline) and change the result, so a
        # publisher publishes the result it holds at the final deadline, not this one at once.
        partial = len(revealed) < len(members) and not final
        q.update(publish_due=publish and partial)
        self.node._finish_consensus(q, out, now, publish=publish and not partial)

    def _v2_fail(self, req: Request, q: Optional[Quorum], reason: str, now: int) -> None:
        if q is not None and q.status in FINAL_STATUSES:
            return
        if q is None:
            q = self.node._new_quorum(req)
        q.move(FAILED, failure=reason)
        self.node._request_state(req.request_id, RequestState.FAILED, now, reason=reason)

