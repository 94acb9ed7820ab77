"""The receive pipeline's checks and the packets held for requests not seen yet.

`Intake.admit` runs the checks every received envelope passes before the node looks at its
content, in this order: decoded (`packets.decode_envelope`), not our own echo, not a duplicate,
signature, createdAt parses, inside the replay window. A refusal raises `PacketRejected`; the
caller decides what to say about it. `hold`/`release` keep packets that arrived before their
request (out-of-order delivery; v1 dropped them), bounded per request and in total.
"""

from __future__ import annotations

from typing import Callable

from .dedup import ReplayGuard, SeenSignatures
from .errors import PacketRejected, RejectCode
from .packets import Envelope, decode_envelope
from .timefmt import parse_js_date

__all__ = ["Intake", "MAX_PENDING_PER_REQUEST", "MAX_PENDING_REQUESTS"]

MAX_PENDING_PER_REQUEST = 256      # packets held for a request we have not seen yet
MAX_PENDING_REQUESTS = 1024


class Intake:
    def __init__(self, me: str, verify: Callable[[str, str, dict], bool], seen_cap: int,
                 replay_past_ms: int, replay_future_ms: int) -> None:
        self.me = me
        self.verify = verify
        self.seen = SeenSignatures(seen_cap)
        self.replay = ReplayGuard(replay_past_ms, replay_future_ms)
        self.pending: dict[str, list[tuple[Envelope, str, int]]] = {}

    @staticmethod
    def decode(data: object) -> Envelope:
        """The envelope of received data (already decoded by an adapter, or raw); raises PacketRejected."""
        return data if isinstance(data, Envelope) else decode_envelope(data)

    def admit(self, env: Envelope, now: int) -> int:
        """Check a decoded envelope (echo, duplicate, signature, timestamp, replay window),
        remember its signature and return its createdAt (ms); raises PacketRejected with the
        first failed check's code."""
        sid, sig, raw = env.synthient_id, env.signature, env.raw_packet
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
        self.seen.add(sid, sig)
        return created

    def remember(self, synthient_id: str, signature: str) -> None:
        """A packet known from storage (after a restore): a copy of it is a duplicate."""
        self.seen.add(synthient_id, signature)

    def hold(self, rid: str, env: Envelope, channel: str, now: int) -> None:
        if rid not in self.pending and len(self.pending) >= MAX_PENDING_REQUESTS:
            self.pending.pop(next(iter(self.pending)))
        held = self.pending.setdefault(rid, [])
        if len(held) < MAX_PENDING_PER_REQUEST:
            held.append((env, channel, now))

    def release(self, rid: str) -> list[tuple[Envelope, str, int]]:
        """The packets held for `rid`, in arrival order; they are no longer held."""
        return self.pending.pop(rid, [])
