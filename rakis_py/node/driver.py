"""The one place the CPython node meets the protocol core: events in, actions out.

`CoreDriver` owns the core `Node`, feeds it events (boot, packets from the rooms, timers) with the
wall clock in ms, and carries out what it returns, as the page's bridge does (web/js/bridge.js):
every `Persist` of one answer in one SQLite transaction, `SetTimer`/`CancelTimer` on the asyncio
loop, `Send` through the `send` callback (every live channel), notices to the log. A core error on
one event is logged, never raised (one bad packet or bug must not stop the node).

A follower has no model workers, so the core never asks it to run a job; if it did, the job fails
at once so the core moves on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from typing import Callable, Optional

from ..protocol.actions import CancelTimer, Persist, RunEmbedding, RunInference, Send, SetTimer
from ..protocol.events import Booted, EmbeddingFailed, InferenceFailed, PacketReceived, TimerFired
from ..protocol.node import Node, NodeConfig
from ..protocol.notices import Notice
from ..runtime.sqlite_store import SqliteStorage
from ..runtime.storage import DATA_TABLES

__all__ = ["CoreDriver", "now_ms"]

log = logging.getLogger("rakis.node.core")
# Notices (by KIND) worth a line at INFO (the rest at DEBUG): what an operator follows.
INFO_EMITS = {"consensus", "submitted", "error"}


def now_ms() -> int:
    return int(time.time() * 1000)


class CoreDriver:
    def __init__(self, identity, store: SqliteStorage, send: Callable[[dict, Optional[tuple]], None],
                 config: Optional[NodeConfig] = None, seed: Optional[int] = None) -> None:
        self.identity = identity
        self.store = store
        self.send = send
        # No per-packet analytics emits: the node keeps no dataset (yet); packets are stored.
        self.config = config or NodeConfig(emit_packets=False)
        self.rng = random.Random(seed)
        self.node: Optional[Node] = None
        self.restored = False
        self.listeners: list[Callable[[str, dict], None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def boot(self) -> None:
        """A new node, or the stored one (timers re-armed, unfinished work resumed). It says it is
        up (`announce`) once it has someone to say it to."""
        tables = self.store.load_all()
        now = now_ms()
        if any(tables.get(t) for t in DATA_TABLES):
            self.node, actions = Node.restore(self.config, self.identity, self.rng, tables, now)
            self.restored = True
            self._carry_out(list(actions))
        else:
            self.node = Node(self.config, self.identity, self.rng)

    def announce(self) -> None:
        """The core's Booted (its `boot` status packet). The page sends it at start, when its links
        are usually still forming; a node that may run for weeks sends it when its first peer is
        linked, so the network's peer tables list it from then on."""
        self.handle(Booted())

    def packet(self, envelope: dict, channel: str, received_at: int, size: Optional[int] = None) -> None:
        self.handle(PacketReceived(envelope, channel, received_at, size))

    def handle(self, event) -> None:
        try:
            actions = self.node.handle(event, now_ms())
        except Exception:  # noqa: BLE001 - isolate the node from core bugs, but show them
            log.error("core error on %s:\n%s", type(event).__name__, traceback.format_exc(limit=6))
            return
        self._carry_out(actions)

    def _carry_out(self, actions: list) -> None:
        persists = [a for a in actions if isinstance(a, Persist)]
        if persists:
            try:
                self.store.apply(persists)
            except Exception:  # noqa: BLE001 - a storage error is shown; the node keeps running
                log.error("storage error:\n%s", traceback.format_exc(limit=4))
        follow_up = []
        for a in actions:
            if isinstance(a, Send):
                self.send(a.envelope, a.to)
            elif isinstance(a, SetTimer):
                self._set_timer(a.timer_id, a.at)
            elif isinstance(a, CancelTimer):
                handle = self._timers.pop(a.timer_id, None)
                if handle:
                    handle.cancel()
            elif isinstance(a, Notice):
                self._emit(a.KIND, a.to_json())
            elif isinstance(a, RunInference):
                follow_up.append(InferenceFailed(a.job_id, "this node runs no models"))
            elif isinstance(a, RunEmbedding):
                follow_up.append(EmbeddingFailed(a.job_id, "this node runs no models"))
        for event in follow_up:
            self.handle(event)

    def _set_timer(self, timer_id: str, at: int) -> None:
        old = self._timers.pop(timer_id, None)
        if old:
            old.cancel()
        delay = max(0.0, (at - now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[timer_id] = loop.call_later(delay, self._fire, timer_id)

    def _fire(self, timer_id: str) -> None:
        self._timers.pop(timer_id, None)
        self.handle(TimerFired(timer_id))

    def _emit(self, kind: str, data: dict) -> None:
        level = logging.INFO if kind in INFO_EMITS else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s %s", kind, _short(data))
        for listener in self.listeners:
            listener(kind, data)

    def request_view(self, request_id: str) -> Optional[dict]:
        return self.node.request_view(request_id) if self.node else None

    def status(self) -> dict:
        s = self.node.status()
        return {"synthientId": s.synthient_id, "restored": self.restored, "peers": s.peers,
                "requests": s.requests, "totalTokens": s.total_tokens}

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


def _short(data: dict, limit: int = 300) -> str:
    import json
    text = json.dumps(data, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "…"
