"""The interface the node's shared handlers use to apply a request's rules (v1 or v2).

Each request runs under the rules its security frame names (`Frame.protocol`); the node picks
the `Rules` object once per request (`Node.rules_for`) and never branches on the protocol itself.
`rules_v1.V1Rules` reproduces v1 (v1 spec §6, §7, §19, exactly); `rules_v2.V2Rules` is the
coordinated commit set, bounded-bit verification and catch-up (docs/protocol-v2.md).

A `Rules` object holds no state of its own: everything lives in the node (requests, quorums,
work), so a restore needs nothing from here.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Optional

from .consensus import ConsensusOutcome
from .packets import Envelope, InferenceReveal, InferenceRevealMissing, InferenceRevealRequest
from .quorum import Quorum
from .records import Request

if TYPE_CHECKING:                      # pragma: no cover
    from .node import Node

__all__ = ["Rules", "SELF_CHANNEL"]

SELF_CHANNEL = "self"   # the channel our own packets are processed on (never a transport's name)


class Rules:
    """What differs between v1 and v2, as seen from the node's shared handlers."""

    protocol: int = 0
    timer_kinds: frozenset[str] = frozenset()   # the timer ids (`kind:requestId`) `on_timer` handles
    v1_shapes: bool = False                     # v1 packet shapes: float embeddings, typed-array objects
    announces_inferencing: bool = False         # a peerStatusUpdate "inferencing" when an inference starts

    def __init__(self, node: "Node") -> None:
        # A weak reference: a strong one would make every node a reference cycle, which only the
        # cyclic collector frees (the simulator drops thousands of departed nodes' cores).
        self.node = weakref.proxy(node)

    # --- timing
    def last_at(self, req: Request) -> int:
        """When the request's last phase ends (it is forgotten some time after)."""
        raise NotImplementedError

    def arm_timers(self, req: Request, q: Optional[Quorum], now: int) -> None:
        """(Re-)arm the phase timers of an unfinished request from its state alone (also after a restart)."""
        raise NotImplementedError

    def on_timer(self, kind: str, req: Request, q: Optional[Quorum], now: int) -> None:
        raise NotImplementedError

    # --- packets
    def quorum_for_commit(self, req: Request, q: Optional[Quorum], sid: str, inference_id: str,
                          now: int) -> Quorum:
        """The quorum a commit goes into (created on the first one); raises PacketRejected."""
        raise NotImplementedError

    def on_reveal_request(self, req: Request, sid: str, p: InferenceRevealRequest, envelope: dict,
                          channel: str, now: int) -> None:
        raise NotImplementedError

    def on_reveal(self, req: Request, q: Optional[Quorum], sid: str, p: InferenceReveal, envelope: dict,
                  channel: str, now: int, env: Optional[Envelope]) -> None:
        """`envelope`: the signed original (re-sent on request); `env`: the decoded envelope of a
        received reveal, held as it is when it cannot be placed yet (None for our own)."""
        raise NotImplementedError

    def on_reveal_missing(self, sid: str, p: InferenceRevealMissing, now: int) -> None:
        """Someone lacks reveals of a request's commit set (a v2 packet; v1 ignores it)."""

    # --- local work
    def on_verified(self, q: Quorum, targets: tuple, bembeddings: Any, now: int) -> None:
        """Our embedder re-embedded the outputs `targets` of a verification job."""
        raise NotImplementedError

    def resume(self, q: Quorum, now: int) -> None:
        """Queue again what an unfinished quorum still needs from our embedders (after a restore,
        a new embedder, a failed verification job)."""

    def too_late_to_commit(self, req: Request, q: Optional[Quorum], now: int) -> bool:
        return False

    def outranked(self, req: Request, q: Optional[Quorum]) -> bool:
        """Could our commit no longer make the agreed set (an inference would be wasted)?"""
        return False

    # --- results
    def published_fields(self, q: Quorum, out: ConsensusOutcome) -> tuple[list[str], Optional[int], Optional[str]]:
        """(submitted inferenceIds, protocol field, commitSetHash field) of our inferenceQuorumComputed."""
        raise NotImplementedError
