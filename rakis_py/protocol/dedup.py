"""Duplicate and replay protection for received packets (fixes v1 spec §3.1 and §15.15).

v1 deduplicated only against the rows of its packet table (about 5050), and never looked at
`createdAt`, so any packet older than the table could be replayed. Here two small parts work
together:

- `SeenSignatures` remembers (at least) the newest `cap` keys `(synthientId, signature)` (Ed25519 is
  deterministic, so a byte-identical packet has the same key);
- `ReplayGuard` refuses every packet whose `createdAt` lies outside `[now - past, now + future]`.

Invariant (what makes the pair sound): a packet accepted at time `t` has
`createdAt >= t - past`, and `createdAt <= t + future` by the sender's own claim, so a replay of it is
refused by the guard from `createdAt + past <= t + future + past` on. The memory therefore only has to
hold a key for `window_ms = past + future` after it was added. That holds as long as fewer than `cap`
other keys are added in any `window_ms` span, i.e. `cap >= rate * window_ms / 1000 + 1` where
`rate` is the number of *distinct accepted* packets per second (see `ReplayGuard.covers`).
Beyond that rate a replay inside the window can slip through, which higher-layer dedupe
(request id, commit per inference id, ...) still catches.

Add a key only after its signature verified: a copy with the same key and a forged body would
otherwise mark the genuine packet as already seen.
"""

from __future__ import annotations

from typing import Iterable

from .errors import PacketRejected, RejectCode

__all__ = ["SeenSignatures", "ReplayGuard", "DEFAULT_PAST_MS", "DEFAULT_FUTURE_MS"]

DEFAULT_PAST_MS = 10 * 60_000
DEFAULT_FUTURE_MS = 2 * 60_000


class SeenSignatures:
    """Remembers at least the newest `cap` keys `(synthientId, signature)`, at most `2 * cap - 1`.

    Two generations of plain dicts, signature -> synthientId: keys go into the young one; when it
    holds `cap` keys the old one is dropped whole and the young one becomes old. So the newest
    `cap` keys are always held (what the replay invariant above needs). Why not one FIFO: an
    OrderedDict of tuple keys costs ~160 bytes per key, a plain dict holding the packet's own
    strings ~35, and a plain dict cannot evict its oldest key cheaply (it scans the deleted slots
    at its front). Memory per key matters: a node keeps one per accepted packet, and the simulator
    keeps thousands of nodes in one process.
    """

    def __init__(self, cap: int) -> None:
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise ValueError(f"cap must be a positive int, got {cap!r}")
        self.cap = cap
        self._old: dict[str, str] = {}
        self._young: dict[str, str] = {}

    def seen(self, synthient_id: str, signature: str) -> bool:
        return self._young.get(signature) == synthient_id or self._old.get(signature) == synthient_id

    def add(self, synthient_id: str, signature: str) -> bool:
        """Remember a key; True if it was new. A repeated key keeps its original age."""
        if self.seen(synthient_id, signature):
            return False
        # Another sender with the same signature (never for Ed25519: a signature verifies under one
        # key) would replace the first: its key is then forgotten, as if evicted.
        self._young[signature] = synthient_id
        if len(self._young) >= self.cap:
            self._old, self._young = self._young, {}
        return True

    def __len__(self) -> int:
        return len(self._old) + len(self._young)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self.seen(*key)

    def to_list(self) -> list[list[str]]:
        """JSON-able snapshot, oldest generation first."""
        return [[sid, sig] for gen in (self._old, self._young) for sig, sid in gen.items()]

    @classmethod
    def from_list(cls, cap: int, items: Iterable[object]) -> "SeenSignatures":
        """Rebuild from `to_list()` output; malformed entries are skipped (storage is not trusted)."""
        memory = cls(cap)
        for item in items or ():
            if (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], str)
            ):
                memory.add(item[0], item[1])
        return memory


class ReplayGuard:
    """Refuses packets whose `createdAt` is too old or too far in the future of our clock."""

    def __init__(self, past_ms: int = DEFAULT_PAST_MS, future_ms: int = DEFAULT_FUTURE_MS) -> None:
        if past_ms < 0 or future_ms < 0:
            raise ValueError("past_ms and future_ms must be >= 0")
        self.past_ms = int(past_ms)
        self.future_ms = int(future_ms)

    @property
    def window_ms(self) -> int:
        """How long a key must stay in `SeenSignatures` for the pair to block every replay."""
        return self.past_ms + self.future_ms

    def check(self, created_at_ms: int, now: int) -> None:
        """Raise `PacketRejected(REPLAY)` unless `now - past <= created_at_ms <= now + future`."""
        if created_at_ms < now - self.past_ms:
            raise PacketRejected(
                RejectCode.REPLAY,
                f"createdAt {created_at_ms} is {now - created_at_ms} ms old (max {self.past_ms})",
            )
        if created_at_ms > now + self.future_ms:
            raise PacketRejected(
                RejectCode.REPLAY,
                f"createdAt {created_at_ms} is {created_at_ms - now} ms ahead (max {self.future_ms})",
            )

    def required_cap(self, packets_per_second: float) -> int:
        """Smallest `SeenSignatures` cap that covers this rate of distinct accepted packets."""
        if packets_per_second < 0:
            raise ValueError("packets_per_second must be >= 0")
        # Keys added strictly after ours within the window, plus ours.
        whole, rest = divmod(packets_per_second * self.window_ms, 1000)
        return int(whole) + (1 if rest else 0) + 1

    def covers(self, cap: int, packets_per_second: float) -> bool:
        """Whether a memory of `cap` keys blocks every replay at this packet rate."""
        return cap >= self.required_cap(packets_per_second)
