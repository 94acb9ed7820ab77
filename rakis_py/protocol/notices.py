"""Notices: what the node tells its adapter happened (for the UI, logs, the simulator's metrics and
the analytics dataset). Frozen dataclasses, returned among the actions; every consumer reads the
same typed fields.

`to_json()` is the page's form `{kind, ...}` (kind = the notice's `KIND`, then its JSON fields in
camelCase, as the page has always received them); fields marked `json=False` in `_JSON_HIDDEN`
are for Python consumers only (the dataset recorder) and never cross to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Optional

__all__ = ["CommitStored", "ConsensusReached", "Log", "Notice", "PacketRefused", "PacketSeen",
           "PacketSent", "PeerChanged", "RequestChanged", "RequestState", "ResultReceived", "RevealRejectedSeen",
           "RevealStored", "Submitted", "WorkerChanged"]


class RequestState(str, Enum):
    """The states a request goes through on one node (the page shows them as steps)."""

    REQUESTED = "requested"                 # the request arrived (or we sent it)
    FOLLOWING = "following"                 # we neither commit nor verify: we show published results
    INFERRING = "inferring"
    INFERRED = "inferred"
    INFERENCE_FAILED = "inference_failed"
    TOO_LATE_TO_COMMIT = "too_late_to_commit"
    OUTRANKED = "outranked"                 # v2: our commit could not make the agreed set
    COMMITTED = "committed"
    REVEAL_REQUESTED = "reveal_requested"
    CONSENSUS = "consensus"                 # v1: verification queued
    DONE = "done"
    FAILED = "failed"


class Notice:
    """Base of every notice. `KIND` names it in the page's JSON."""

    __slots__ = ()     # notices are many (one per packet on a recording node): no per-instance dict
    KIND: ClassVar[str] = ""
    # (python attribute, JSON key) in the order the page receives them; None values are left out
    # unless the key is in _KEEP_NONE.
    _JSON: ClassVar[tuple[tuple[str, str], ...]] = ()
    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key in self._JSON:
            value = getattr(self, attr)
            if value is None and key not in self._KEEP_NONE:
                continue
            out[key] = value.value if isinstance(value, Enum) else value
        return out


def _json(*pairs: str) -> tuple[tuple[str, str], ...]:
    """("request_id:requestId", "t") -> (("request_id", "requestId"), ("t", "t"))."""
    return tuple(tuple(p.split(":")) if ":" in p else (p, p) for p in pairs)  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class RequestChanged(Notice):
    """A request moved to `state` on this node. Only the fields of that state are set."""

    KIND: ClassVar[str] = "request"
    request_id: str
    state: RequestState
    t: int
    from_id: Optional[str] = None              # requested
    ending_at: Optional[int] = None            # requested
    protocol: Optional[int] = None             # requested
    prompt: Optional[str] = None               # requested (first 200 characters)
    worker_id: Optional[str] = None            # inferring
    model: Optional[str] = None                # inferring
    inference_id: Optional[str] = None         # inferred, committed
    tokens: Optional[int] = None               # inferred
    # inferred, for the dataset (not sent to the page): the worker that ran it and when it started
    job_worker_id: Optional[str] = None
    started_at: Optional[int] = None
    error: Optional[str] = None                # inference_failed
    b_embedding_hash: Optional[str] = None     # committed
    commits: Optional[int] = None              # reveal_requested
    coordinator: Optional[str] = None          # reveal_requested (v2)
    max_commits: Optional[int] = None          # outranked
    reason: Optional[str] = None               # following, failed, done (None)
    frame_model_hash: Optional[str] = None     # following (embedding model mismatch)
    embedder_model_hash: Optional[list] = None  # following (embedding model mismatch)

    def __post_init__(self) -> None:
        if not isinstance(self.state, RequestState):
            object.__setattr__(self, "state", RequestState(self.state))

    def to_json(self) -> dict[str, Any]:
        out = {"requestId": self.request_id, "state": self.state.value, "t": self.t}
        for attr, key in _REQUEST_EXTRAS:
            value = getattr(self, attr)
            if value is not None or (key == "reason" and self.state is RequestState.DONE):
                out[key] = value
        return out


_REQUEST_EXTRAS = _json("from_id:fromSynthientId", "ending_at:endingAt", "protocol", "prompt",
                        "reason", "frame_model_hash:frameModelHash",
                        "embedder_model_hash:embedderModelHash", "worker_id:workerId", "model",
                        "inference_id:inferenceId", "tokens", "error", "b_embedding_hash:bEmbeddingHash",
                        "commits", "coordinator", "max_commits:maxCommits")


@dataclass(frozen=True, slots=True)
class Submitted(Notice):
    """The local user's request went out under `request_id`."""

    KIND: ClassVar[str] = "submitted"
    _JSON: ClassVar = _json("request_id:requestId", "t")
    request_id: str
    t: int


@dataclass(frozen=True, slots=True)
class PacketSent(Notice):
    """We signed and sent a packet of `type`."""

    KIND: ClassVar[str] = "sent"
    _JSON: ClassVar = _json("type", "request_id:requestId", "t")
    _KEEP_NONE: ClassVar = frozenset({"requestId"})
    type: str
    request_id: Optional[str]
    t: int


@dataclass(frozen=True, slots=True)
class PacketSeen(Notice):
    """A received packet that passed the checks (`outcome` "accepted") or was a copy of one we
    have ("duplicate") or our own echo ("own_echo"). `output_chars`: a reveal's output length
    (the dataset's token estimate; not sent to the page)."""

    KIND: ClassVar[str] = "packet"
    _JSON: ClassVar = _json("t", "synthient_id:synthientId", "type", "channel", "size", "outcome",
                            "request_id:requestId", "created_at:createdAt")
    _KEEP_NONE: ClassVar = frozenset({"synthientId", "type", "size", "requestId"})
    t: int
    synthient_id: str
    type: Optional[str]
    channel: str
    size: Optional[int]
    outcome: str
    request_id: Optional[str]
    created_at: Optional[int] = None
    output_chars: Optional[int] = None


@dataclass(frozen=True, slots=True)
class PacketRefused(Notice):
    """A received packet refused (`code`: errors.RejectCode value), or our own refused by our rules."""

    KIND: ClassVar[str] = "rejected"
    _JSON: ClassVar = _json("code", "detail", "channel", "t", "synthient_id:synthientId", "type", "size")
    _KEEP_NONE: ClassVar = frozenset({"synthientId", "type", "size"})
    code: str
    detail: str
    channel: str
    t: int
    synthient_id: Optional[str] = None
    type: Optional[str] = None
    size: Optional[int] = None


@dataclass(frozen=True, slots=True)
class CommitStored(Notice):
    """A commit joined a request's quorum (`committed`: commits held now)."""

    KIND: ClassVar[str] = "quorum"
    request_id: str
    synthient_id: str
    committed: int
    t: int

    def to_json(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "event": "commit", "synthientId": self.synthient_id,
                "committed": self.committed, "t": self.t}


@dataclass(frozen=True, slots=True)
class RevealStored(Notice):
    """A reveal opened its commit (`revealed`: reveals held now). The inference, output length and
    bits are for the dataset (not sent to the page)."""

    KIND: ClassVar[str] = "quorum"
    request_id: str
    synthient_id: str
    revealed: int
    t: int
    inference_id: Optional[str] = None
    output_chars: int = 0
    b_embedding: Optional[bytes] = None

    def to_json(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "event": "reveal", "synthientId": self.synthient_id,
                "revealed": self.revealed, "t": self.t}


@dataclass(frozen=True, slots=True)
class ConsensusReached(Notice):
    """This node computed a consensus outcome for a request (a v2 node may compute again when a
    late reveal or a better commit set arrives: the latest one counts). `debug` (cluster sizes and
    distances) is for the dataset, not sent to the page."""

    KIND: ClassVar[str] = "consensus"
    _JSON: ClassVar = _json("request_id:requestId", "success", "reason", "joint_hash:jointHash", "t",
                            "protocol", "failure", "accepted", "winner", "output", "rejected",
                            "rejections", "commit_set_hash:commitSetHash", "centre_distances:centreDistances")
    _KEEP_NONE: ClassVar = frozenset(k for _, k in _JSON)
    request_id: str
    success: bool
    reason: str
    joint_hash: Optional[str]
    t: int
    protocol: int
    failure: Optional[str]
    accepted: list
    winner: Optional[str]                  # the winner's bEmbeddingHash
    output: Optional[str]
    rejected: int
    rejections: list                       # [{inferenceId, synthientId, reason}]
    commit_set_hash: Optional[str]
    centre_distances: Optional[list]
    debug: Optional[dict] = None


@dataclass(frozen=True, slots=True)
class ResultReceived(Notice):
    """Another node published its result (an inferenceQuorumComputed); agree/disagree count the
    published results against the reference (results.agreement). `packet` is the received packet."""

    KIND: ClassVar[str] = "external"
    _JSON: ClassVar = _json("request_id:requestId", "verified_by:verifiedBy", "t",
                            "b_embedding_hash:bEmbeddingHash", "agree", "disagree")
    _KEEP_NONE: ClassVar = frozenset({"bEmbeddingHash"})
    request_id: str
    verified_by: str
    t: int
    b_embedding_hash: Optional[str]
    agree: int
    disagree: int
    packet: Optional[dict] = None


@dataclass(frozen=True, slots=True)
class RevealRejectedSeen(Notice):
    """A node said a reveal failed its check (a v1 inferenceRevealRejected)."""

    KIND: ClassVar[str] = "revealRejected"
    _JSON: ClassVar = _json("request_id:requestId", "by", "inference_id:inferenceId", "reason", "t")
    _KEEP_NONE: ClassVar = frozenset({"inferenceId", "reason"})
    request_id: str
    by: str
    inference_id: Optional[str]
    reason: Optional[str]
    t: int


@dataclass(frozen=True, slots=True)
class WorkerChanged(Notice):
    """A model worker reported a state (events.WorkerStatus, as the node applied it)."""

    KIND: ClassVar[str] = "worker"
    _JSON: ClassVar = _json("worker_id:workerId", "kind", "model", "state", "backend", "detail",
                            "model_hash:modelHash", "t")
    _KEEP_NONE: ClassVar = frozenset({"modelHash"})
    worker_id: str
    kind: str
    model: str
    state: str
    backend: str
    detail: str
    model_hash: Optional[str]
    t: int


@dataclass(frozen=True, slots=True)
class PeerChanged(Notice):
    """A peer's record changed during this event (the peers table's row as it now stands, a
    copy). Announced with the packet notices (`NodeConfig.emit_packets`): the dataset samples it."""

    KIND: ClassVar[str] = "peer"
    _JSON: ClassVar = _json("synthient_id:synthientId", "record")
    synthient_id: str
    record: dict


@dataclass(frozen=True, slots=True)
class Log(Notice):
    """A line for the node's log."""

    KIND: ClassVar[str] = "log"
    _JSON: ClassVar = _json("level", "message", "t")
    level: str
    message: str
    t: int
