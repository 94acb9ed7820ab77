"""Per-request quorum state: the commits a node knows, their reveals, the agreed commit set.

Data with a record form for storage, so every state survives a restart. Its status moves only
through `Quorum.move`, checked against `TRANSITIONS` (one table; an illegal move raises
`IllegalTransition`, a bug of ours, never a peer's fault). Every change (`move`, `update`, `add`,
`remove`, `store_reveal`, `set_recomputed`) marks the quorum in the journal its node watches it
with, and the node persists the marked quorums once at the end of each event. The rules that move
a quorum live in rules_v1.py / rules_v2.py; the timing parameters of a request live in `Frame`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "Frame", "Quorum", "Commit", "TRANSITIONS", "IllegalTransition", "rank_key", "commit_set_hash",
    "max_commits_problem", "AWAITING_COMMITMENTS", "AWAITING_REVEAL", "AWAITING_CONSENSUS",
    "VERIFYING_CONSENSUS", "COMPLETED", "FAILED", "FINAL_STATUSES", "V1_REVEAL_ISSUE_MS",
    "V1_REVEAL_TIMEOUT_MS", "V1_CONSENSUS_WINDOW_MS", "V1_TIMER_SLACK_MS",
    "V1_CONSENSUS_OFFSET_MS", "V2_COMMIT_GRACE_MS", "V2_COORDINATOR_TIMEOUT_MS",
    "V2_REVEAL_WINDOW_MS", "V2_CONSENSUS_WINDOW_MS", "V2_BIT_TOLERANCE", "V2_SEC_DISTANCE_BITS",
    "V2_PUBLISHERS", "V2_VERIFY_BUDGET_MS", "V2_REASK_MS", "V2_MAX_COMMITS",
]

# v1 timing (v1 spec §8, settings.ts:209-211): fixed windows after the deadline.
V1_REVEAL_ISSUE_MS = 15_000
V1_REVEAL_TIMEOUT_MS = 35_000
V1_CONSENSUS_WINDOW_MS = 40_000
V1_TIMER_SLACK_MS = 1      # JS setTimeout fires after its delay, never at it (Dexie `between` is upper-exclusive)
V1_CONSENSUS_OFFSET_MS = 10

# v2 defaults, used when the request's security frame does not say (docs/protocol-v2.md). The windows are
# upper bounds: every phase closes as soon as it is complete.
V2_COMMIT_GRACE_MS = 2_000
V2_COORDINATOR_TIMEOUT_MS = 3_000
V2_REVEAL_WINDOW_MS = 15_000
V2_CONSENSUS_WINDOW_MS = 20_000
V2_BIT_TOLERANCE = 16          # of 384 bits: measured non-determinism is ~0 (same file) to ~4 (fp32 vs int8)
V2_SEC_DISTANCE_BITS = 100     # cluster radius in bits for 384-bit embeddings
V2_PUBLISHERS = 3
V2_VERIFY_BUDGET_MS = 2_000    # added to the consensus window per agreed commit (one re-embedding each)
V2_REASK_MS = 8_000            # after the reveal window: a verifier still lacking reveals asks again this often
# Largest agreed set: the coordinator keeps the best-ranked commits. Every participant re-embeds
# every reveal of the set, so without a bound the work per quorum grows with the network (the
# simulator's st1 at 1,600 nodes: sets of 20-28, participants out of time). 12 keeps a cluster of
# 6 needed at secPercentage 0.5 and ~7 s of re-embedding per quorum (550 ms each).
V2_MAX_COMMITS = 12

# Quorum statuses (v1 names, v1 spec §9.1).
AWAITING_COMMITMENTS = "awaiting_commitments"
AWAITING_REVEAL = "awaiting_reveal"
AWAITING_CONSENSUS = "awaiting_consensus"
VERIFYING_CONSENSUS = "verifying_consensus"
COMPLETED = "completed"
FAILED = "failed"
FINAL_STATUSES = (COMPLETED, FAILED)

# The legal status moves, per protocol: TRANSITIONS[protocol][from] = the statuses it may move to.
# v1 (v1 spec §6.7-6.11) walks the phases once. v2 may go back to awaiting_reveal from a final
# status when a better-ranked commit set arrives, and computes again (completed or failed) when a
# late reveal arrives; it never uses awaiting_consensus / verifying_consensus.
TRANSITIONS: dict[int, dict[str, frozenset[str]]] = {
    1: {
        AWAITING_COMMITMENTS: frozenset({AWAITING_REVEAL, FAILED}),
        AWAITING_REVEAL: frozenset({AWAITING_CONSENSUS, FAILED}),
        AWAITING_CONSENSUS: frozenset({VERIFYING_CONSENSUS}),
        VERIFYING_CONSENSUS: frozenset({COMPLETED, FAILED}),
        COMPLETED: frozenset(),
        FAILED: frozenset(),
    },
    2: {
        AWAITING_COMMITMENTS: frozenset({AWAITING_REVEAL, FAILED}),
        AWAITING_REVEAL: frozenset({AWAITING_REVEAL, COMPLETED, FAILED}),
        COMPLETED: frozenset({AWAITING_REVEAL, COMPLETED, FAILED}),
        FAILED: frozenset({AWAITING_REVEAL, COMPLETED, FAILED}),
    },
}

# Fields `Quorum.update` may change (status only through `move`).
_UPDATABLE = frozenset({"consensus_requested_at", "reveal_timer_armed", "agreed", "coordinator",
                        "agreed_hash", "reveal_sent", "request_sent", "missing_sent", "failure",
                        "result_key", "asked_at", "agreed_envelope", "publish_due"})
_KEEP: Any = object()


class IllegalTransition(RuntimeError):
    """A quorum was asked to move where TRANSITIONS does not allow: a bug in the rules."""


@dataclass(frozen=True)
class Frame:
    """A request's security frame with v2 defaults filled in."""

    protocol: int
    quorum: int
    max_time_ms: int
    sec_distance: float
    sec_percentage: float
    embedding_model: str
    embedding_model_hash: Optional[str] = None
    commit_grace_ms: int = V2_COMMIT_GRACE_MS
    reveal_window_ms: int = V2_REVEAL_WINDOW_MS
    consensus_window_ms: int = V2_CONSENSUS_WINDOW_MS
    bit_tolerance: int = V2_BIT_TOLERANCE
    publishers: int = V2_PUBLISHERS
    max_commits: int = V2_MAX_COMMITS

    @classmethod
    def from_security_frame(cls, sf: dict) -> "Frame":
        protocol = 2 if sf.get("protocol") == 2 else 1
        base = dict(protocol=protocol, quorum=int(sf["quorum"]), max_time_ms=int(sf["maxTimeMs"]),
                    sec_distance=float(sf["secDistance"]), sec_percentage=float(sf["secPercentage"]),
                    embedding_model=str(sf["embeddingModel"]))
        if protocol == 2:
            opt = {"embedding_model_hash": "embeddingModelHash", "commit_grace_ms": "commitGraceMs",
                   "reveal_window_ms": "revealWindowMs", "consensus_window_ms": "consensusWindowMs",
                   "bit_tolerance": "bitTolerance", "publishers": "publishers",
                   "max_commits": "maxCommits"}
            for attr, key in opt.items():
                if sf.get(key) is not None:
                    base[attr] = sf[key] if attr == "embedding_model_hash" else int(sf[key])
            problem = max_commits_problem(base["quorum"], base.get("max_commits", V2_MAX_COMMITS))
            if problem:
                raise ValueError(problem)
        return cls(**base)

    # v2 phase deadlines, relative to the request's endingAt.
    def coordinator_at(self, ending_at: int, rank: int) -> int:
        return ending_at + self.commit_grace_ms + rank * V2_COORDINATOR_TIMEOUT_MS

    def missing_at(self, ending_at: int) -> int:
        return ending_at + self.commit_grace_ms + self.reveal_window_ms // 2

    def reveal_close_at(self, ending_at: int) -> int:
        return ending_at + self.commit_grace_ms + self.reveal_window_ms

    def final_at(self, ending_at: int, agreed: int = 0) -> int:
        """Last moment to finish verification: bigger agreed sets get more time, since every
        reveal is re-embedded; every node following the same set has the same deadline."""
        return self.reveal_close_at(ending_at) + self.consensus_window_ms + agreed * V2_VERIFY_BUDGET_MS


def max_commits_problem(quorum: int, max_commits: int) -> Optional[str]:
    """Why a frame's maxCommits cannot work with its quorum, or None (also checked by the page
    before it submits, so the user sees this reason instead of a refused request)."""
    if max_commits < max(quorum, 1):
        return (f"maxCommits ({max_commits}) must be at least the quorum ({quorum}): below the quorum "
                "no agreed set could ever be big enough")
    return None


def rank_key(request_id: str, synthient_id: str) -> str:
    """Deterministic per-request ordering of nodes (coordinator election, publisher choice)."""
    return hashlib.sha256((request_id + synthient_id).encode()).hexdigest()


def commit_set_hash(request_id: str, entries: list[tuple[str, str, str]]) -> str:
    """Hash of an agreed commit set (entries in canonical order)."""
    h = hashlib.sha256(request_id.encode())
    for sid, inf, bh in entries:
        h.update(f"|{sid}:{inf}:{bh}".encode())
    return h.hexdigest()


@dataclass
class Commit:
    inference_id: str
    synthient_id: str
    b_embedding_hash: str
    received_at: int
    output: Optional[str] = None
    b_embedding: Optional[bytes] = None
    revealed_at: Optional[int] = None
    reveal_envelope: Optional[dict] = None   # the signed original, re-sent on request (v2)
    recomputed: Optional[bytes] = None       # this node's own embedding of `output`

    @property
    def key(self) -> tuple[str, str]:
        return (self.synthient_id, self.inference_id)

    def to_record(self) -> dict:
        return {"inferenceId": self.inference_id, "synthientId": self.synthient_id,
                "bEmbeddingHash": self.b_embedding_hash, "commitReceivedAt": self.received_at,
                "output": self.output,
                "bEmbedding": self.b_embedding.hex() if self.b_embedding is not None else None,
                "revealedAt": self.revealed_at, "revealEnvelope": self.reveal_envelope,
                "recomputed": self.recomputed.hex() if self.recomputed is not None else None}

    @classmethod
    def from_record(cls, r: dict) -> "Commit":
        def unhex(v: Any) -> Optional[bytes]:
            return bytes.fromhex(v) if v is not None else None
        return cls(r["inferenceId"], r["synthientId"], r["bEmbeddingHash"], r["commitReceivedAt"],
                   r.get("output"), unhex(r.get("bEmbedding")), r.get("revealedAt"),
                   r.get("revealEnvelope"), unhex(r.get("recomputed")))


@dataclass
class Quorum:
    request_id: str
    protocol: int
    status: str
    threshold: int
    ending_at: int
    embedding_model: str
    commits: list[Commit] = field(default_factory=list)      # local arrival order (v1 depends on it)
    consensus_requested_at: Optional[int] = None
    reveal_timer_armed: bool = False                          # v1: only armed if created before endingAt
    # v2: the agreed commit set, as adopted from the best coordinator seen so far.
    agreed: Optional[list[tuple[str, str, str]]] = None       # (synthientId, inferenceId, hash), canonical order
    coordinator: Optional[str] = None
    agreed_hash: Optional[str] = None
    reveal_sent: bool = False
    request_sent: bool = False
    missing_sent: bool = False
    failure: Optional[str] = None
    result_key: Optional[str] = None                          # joint hash of our latest result
    asked_at: Optional[int] = None                            # v2: last re-request we sent or were covered by
    agreed_envelope: Optional[dict] = None                    # v2: the signed set we follow, re-sent on request
    publish_due: bool = False                                 # v2: our latest result is published at the final deadline

    def __post_init__(self) -> None:
        # Lookups by (sender, inference) and by sender: quorums of hundreds of commits are
        # searched on every reveal. Keep `commits` and these in step via add/remove.
        self._by_key = {c.key: c for c in self.commits}
        self._by_sender: dict[str, Commit] = {}
        for c in self.commits:
            self._by_sender.setdefault(c.synthient_id, c)
        self._journal: Optional[dict[str, None]] = None

    # ------------------------------------------------------------------ changes

    def watch(self, journal: dict[str, None]) -> "Quorum":
        """Mark every later change of this quorum in `journal` (request ids, insertion-ordered)."""
        self._journal = journal
        return self

    def _changed(self) -> None:
        if self._journal is not None:
            self._journal[self.request_id] = None

    def move(self, status: str, failure: Any = _KEEP) -> None:
        """Move to `status` (and set `failure` when given); raises IllegalTransition if the table
        does not allow it."""
        if status not in TRANSITIONS[self.protocol].get(self.status, ()):
            raise IllegalTransition(f"quorum {self.request_id} (v{self.protocol}): {self.status} -> {status}")
        self.status = status
        if failure is not _KEEP:
            self.failure = failure
        self._changed()

    def update(self, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise AttributeError(f"Quorum.update: not updatable: {', '.join(sorted(unknown))}")
        for name, value in fields.items():
            setattr(self, name, value)
        self._changed()

    def store_reveal(self, c: Commit, output: str, bits: Optional[bytes], at: int,
                     envelope: Optional[dict]) -> None:
        c.output, c.b_embedding, c.revealed_at, c.reveal_envelope = output, bits, at, envelope
        self._changed()

    def set_recomputed(self, c: Commit, bits: Optional[bytes]) -> None:
        """Our own embedding of `c`'s output (the verification input)."""
        c.recomputed = bits
        self._changed()

    def add(self, c: Commit) -> None:
        self.commits.append(c)
        self._by_key[c.key] = c
        self._by_sender.setdefault(c.synthient_id, c)
        self._changed()

    def remove(self, c: Commit) -> None:
        self._changed()
        self.commits.remove(c)
        del self._by_key[c.key]
        if self._by_sender.get(c.synthient_id) is c:
            del self._by_sender[c.synthient_id]
            for other in self.commits:
                if other.synthient_id == c.synthient_id:
                    self._by_sender[c.synthient_id] = other
                    break

    def find(self, synthient_id: str, inference_id: str) -> Optional[Commit]:
        return self._by_key.get((synthient_id, inference_id))

    def by_sender(self, synthient_id: str) -> Optional[Commit]:
        return self._by_sender.get(synthient_id)

    @property
    def committed(self) -> int:
        return len(self.commits)

    @property
    def revealed(self) -> int:
        return sum(1 for c in self.commits if c.output is not None)

    def outranked(self, me: str, limit: int) -> bool:
        """v2: can a commit from `me` no longer make the agreed set (at most `limit` commits, the
        best-ranked the coordinator knows)? Yes once a set is agreed without us, or once `limit`
        commits from others that rank better than ours are known."""
        if self.agreed is not None:
            return not any(e[0] == me for e in self.agreed)
        if sum(1 for c in self.commits if c.synthient_id != me) < limit:
            return False
        mine = rank_key(self.request_id, me)
        better = sum(1 for c in self.commits
                     if c.synthient_id != me and rank_key(self.request_id, c.synthient_id) < mine)
        return better >= limit

    def agreed_commits(self) -> list[Commit]:
        """The commits of the agreed set, in canonical order (those we know reveals or not)."""
        if self.agreed is None:
            return []
        out = []
        for sid, inf, _ in self.agreed:
            c = self.find(sid, inf)
            if c is not None:
                out.append(c)
        return out

    def to_record(self) -> dict:
        return {"requestId": self.request_id, "protocol": self.protocol, "status": self.status,
                "quorumThreshold": self.threshold, "endingAt": self.ending_at,
                "embeddingModel": self.embedding_model, "quorumCommitted": self.committed,
                "quorumRevealed": self.revealed,
                "consensusRequestedAt": self.consensus_requested_at,
                "revealTimerArmed": self.reveal_timer_armed,
                "quorum": [c.to_record() for c in self.commits],
                "agreed": [list(e) for e in self.agreed] if self.agreed is not None else None,
                "coordinator": self.coordinator, "agreedHash": self.agreed_hash,
                "revealSent": self.reveal_sent, "requestSent": self.request_sent,
                "missingSent": self.missing_sent, "failure": self.failure,
                "resultKey": self.result_key, "askedAt": self.asked_at,
                "agreedEnvelope": self.agreed_envelope, "publishDue": self.publish_due}

    @classmethod
    def from_record(cls, r: dict) -> "Quorum":
        q = cls(r["requestId"], r["protocol"], r["status"], r["quorumThreshold"], r["endingAt"],
                r["embeddingModel"], [Commit.from_record(c) for c in r["quorum"]],
                r.get("consensusRequestedAt"), r.get("revealTimerArmed", False))
        if r.get("agreed") is not None:
            q.agreed = [tuple(e) for e in r["agreed"]]
        q.coordinator, q.agreed_hash = r.get("coordinator"), r.get("agreedHash")
        q.reveal_sent, q.request_sent = r.get("revealSent", False), r.get("requestSent", False)
        q.missing_sent, q.failure = r.get("missingSent", False), r.get("failure")
        q.result_key = r.get("resultKey")
        q.asked_at, q.agreed_envelope = r.get("askedAt"), r.get("agreedEnvelope")
        q.publish_due = r.get("publishDue", False)
        return q
