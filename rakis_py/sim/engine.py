"""Discrete-event engine: a heap of (time, seq, callback, args) in virtual time.

Virtual time is an ``int`` of milliseconds since the Unix epoch, like the `now` the protocol core
takes. Ties are broken by insertion order (`seq`), so a run is a pure function of its seed: the
engine never reads the wall clock (the simulation reports wall time separately).
"""

from __future__ import annotations

import heapq
from typing import Any, Callable

# 2024-07-01T00:00:00Z: the stability test's month, so createdAt strings look like the real ones.
DEFAULT_EPOCH_MS = 1_719_792_000_000


class Engine:
    """Runs callbacks in time order. Callbacks may schedule more callbacks (never in the past)."""

    __slots__ = ("now", "events", "_heap", "_seq")

    def __init__(self, start_ms: int = DEFAULT_EPOCH_MS) -> None:
        self.now = start_ms
        self.events = 0          # callbacks run so far
        self._heap: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._seq = 0

    def at(self, t: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` at virtual time ``t`` (clamped to now: nothing runs in the past)."""
        if t < self.now:
            t = self.now
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, args))

    def after(self, delay_ms: int, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + delay_ms, fn, *args)

    def pending(self) -> int:
        return len(self._heap)

    def run(self, until: int) -> None:
        """Run every callback scheduled at or before ``until``; leave later ones queued."""
        heap = self._heap
        pop = heapq.heappop
        n = 0
        while heap and heap[0][0] <= until:
            t, _, fn, args = pop(heap)
            self.now = t
            fn(*args)
            n += 1
        self.events += n
        if self.now < until:
            self.now = until

    def drain(self) -> list[tuple[int, Callable[..., Any], tuple]]:
        """Remove and return what is still queued (for end-of-run accounting)."""
        out = [(t, fn, args) for t, _, fn, args in self._heap]
        self._heap.clear()
        return out
