"""Results: what a finished consensus becomes, who publishes it, and how published results compare.

Pure functions over `consensus.ConsensusOutcome` and received `inferenceQuorumComputed` packets.
Which published result is the reference is `reference.reference_hash` (one rule for the node, the
analytics and the page).
"""

from __future__ import annotations

from typing import Iterable, Optional

from . import builders
from .consensus import ConsensusOutcome
from .quorum import rank_key
from .reference import agreement_counts, reference_hash
from .timefmt import format_js_date

__all__ = ["agreement", "failure_phase", "published_hash", "publishers", "quorum_computed_packet",
           "reference_result"]


def published_hash(packet: Optional[dict]) -> Optional[str]:
    """The winner's bEmbeddingHash an inferenceQuorumComputed names (None if it names none)."""
    return ((packet or {}).get("validSingleInference") or {}).get("bEmbeddingHash")


def agreement(own: Optional[dict], published: list[dict]) -> dict:
    """Agree/disagree counts of `published` results against the reference (our own packet
    `own` when we computed one, else the most common winner hash)."""
    agree, disagree = agreement_counts(published_hash(own) if own else None,
                                       [published_hash(p) for p in published])
    return {"agree": agree, "disagree": disagree}


def reference_result(own: Optional[dict], published: list[dict]) -> Optional[dict]:
    """The result a UI shows: our own packet, else the first published one naming the reference hash."""
    if own:
        return own
    ref = reference_hash(None, [published_hash(p) for p in published])
    return next((p for p in published if (published_hash(p) or None) == ref), None)


def publishers(request_id: str, out: ConsensusOutcome, n: int) -> list[str]:
    """The accepted committers that publish a successful result: the `n` best by
    rank_key(jointHash + requestId, synthientId) (deterministic: every verifier agrees)."""
    if not out.success or out.joint_hash is None:
        return []
    ranked = sorted(out.accepted, key=lambda c: rank_key(out.joint_hash + request_id, c.synthient_id))
    return [c.synthient_id for c in ranked[:max(n, 1)]]


def failure_phase(out: ConsensusOutcome) -> str:
    """The quorum failure a failed consensus stands for (its phase)."""
    if out.reason == "did_not_reach_threshold_after_prune":
        return "verification" if out.rejections else "missing_reveals"
    if out.reason == "no_clusters_found_of_needed_size":
        return "clustering"
    return out.reason


def quorum_computed_packet(request_id: str, me: str, out: ConsensusOutcome, submitted: Iterable[str],
                           now: int, protocol: Optional[int], commit_set_hash: Optional[str]) -> Optional[dict]:
    """The inferenceQuorumComputed of a successful outcome (None for a failed one)."""
    if not out.success or out.winner is None:
        return None
    return builders.inference_quorum_computed(
        request_id, me, list(submitted), [c.inference_id for c in out.accepted], out.joint_hash,
        out.winner.output or "", out.winner.synthient_id, out.winner.b_embedding_hash,
        format_js_date(now), protocol=protocol, commit_set_hash=commit_set_hash)
