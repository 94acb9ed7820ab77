"""A tiny in-process network of real `Node`s for unit and property tests (not the simulator).

Test doubles live here only: the LLM and the embedding model are stand-ins. Each request has
"true answer" clusters; a node's output is unique text in one cluster, and its binary embedding is
the cluster centre with a few text-dependent bit flips. Re-embedding the same text gives the same
bits plus `jitter` random flips (model non-determinism). Garbage nodes output far-away bits.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
from typing import Callable, Optional

from rakis_py.protocol.actions import (CancelTimer, Persist, RunEmbedding, RunInference, Send,
                                       SetTimer)
from rakis_py.protocol.events import (EmbeddingFinished, InferenceFinished, PacketReceived,
                                      RequestSubmitted, TimerFired, WorkerStatus)
from rakis_py.protocol.identity import Identity, packet_verifier
from rakis_py.protocol.node import Node, NodeConfig
from rakis_py.protocol.notices import ConsensusReached, Notice, Submitted

NBYTES = 48  # 384 bits, all-MiniLM-L6-v2

# The Ed25519 provider every node of a Net signs and verifies with (None: CPython's
# `cryptography`); the Pyodide build test sets a Node.js one.
CRYPTO = None


def _bits_from(seed: bytes) -> bytes:
    out = b""
    while len(out) < NBYTES:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return out[:NBYTES]


def _flip(bits: bytes, n: int, rng: random.Random) -> bytes:
    b = bytearray(bits)
    for i in rng.sample(range(NBYTES * 8), n):
        b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


@dataclass
class NodeSpec:
    llm: bool = True
    embedder: bool = True
    garbage: bool = False
    infer_ms: int = 1000
    embed_ms: int = 20


@dataclass
class Net:
    specs: list[NodeSpec]
    seed: int = 0
    delay: Callable[[random.Random, int, int], int] = lambda rng, a, b: rng.randint(5, 300)
    jitter: int = 2                    # bit flips when re-embedding the same text
    text_flips: int = 6                # spread of honest outputs around their cluster centre
    drop: Callable[[int, int, dict], bool] = lambda a, b, env: False
    start: int = 1_750_000_000_000
    nodes: list[Node] = field(init=False)
    now: int = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = self.start
        self.nodes, self.ids = [], []
        for i, _ in enumerate(self.specs):
            ident = Identity.from_private_key(hashlib.sha256(f"node{i}-{self.seed}".encode()).digest(), CRYPTO)
            self.nodes.append(Node(NodeConfig(), ident, random.Random(self.seed * 1000 + i),
                                   verify=packet_verifier(CRYPTO)))
            self.ids.append(ident.synthient_id)
        self.heap: list = []
        self.seq = 0
        self.timers: dict[tuple[int, str], int] = {}
        self.emits: list[list[Notice]] = [[] for _ in self.specs]
        self.tables: list[dict] = [{} for _ in self.specs]
        self.sent: list[tuple[int, dict]] = []
        self.sends: list[tuple[int, Send]] = []    # the Send actions themselves (with `to`)
        self.down: set[int] = set()
        for i, s in enumerate(self.specs):
            if s.llm:
                self.deliver(i, WorkerStatus(f"llm{i}", "llm", "smollm2", "ready"), self.now)
            if s.embedder:
                self.deliver(i, WorkerStatus(f"emb{i}", "embedding", "all-MiniLM-L6-v2", "ready"), self.now)

    # -- scheduling
    def push(self, at: int, target: int, event) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, target, event))

    def deliver(self, i: int, event, at: int) -> None:
        if i in self.down:
            return
        for a in self.nodes[i].handle(event, at):
            self.apply(i, a, at)

    def apply(self, i: int, a, at: int) -> None:
        if isinstance(a, Send):
            self.sent.append((i, a.envelope))
            self.sends.append((i, a))
            to = None if a.to is None else set(a.to)
            for j in range(len(self.nodes)):
                if to is not None and self.ids[j] not in to:
                    continue                       # addressed: only those peers get it
                if j != i and not self.drop(i, j, a.envelope):
                    self.push(at + self.delay(self.rng, i, j), j, PacketReceived(a.envelope, "sim", 0))
        elif isinstance(a, SetTimer):
            self.timers[(i, a.timer_id)] = self.seq + 1
            self.push(a.at, i, ("timer", a.timer_id, self.seq + 1))
        elif isinstance(a, CancelTimer):
            self.timers.pop((i, a.timer_id), None)
        elif isinstance(a, RunInference):
            spec = self.specs[i]
            self.push(at + spec.infer_ms, i, ("infer", a))
        elif isinstance(a, RunEmbedding):
            self.push(at + self.specs[i].embed_ms, i, ("embed", a))
        elif isinstance(a, Persist):
            t = self.tables[i].setdefault(a.table, {})
            if a.record is None:
                t.pop(a.key, None)
            else:
                t[a.key] = a.record
        elif isinstance(a, Notice):
            self.emits[i].append(a)

    def output_for(self, i: int, prompt: str) -> str:
        if self.specs[i].garbage:
            return f"garbage from {i} {self.rng.random()}"
        return f"{prompt} -> cluster A, said by node {i}"

    def embed(self, text: str) -> bytes:
        if text.startswith("garbage"):
            return _bits_from(text.encode())
        prompt, _, rest = text.partition(" -> cluster ")
        centre = _bits_from(("centre" + prompt + rest[:1]).encode())
        honest = _flip(centre, self.text_flips, random.Random(text))
        return _flip(honest, self.jitter, self.rng) if self.jitter else honest

    def run_until(self, t: int) -> None:
        while self.heap and self.heap[0][0] <= t:
            at, _, i, ev = heapq.heappop(self.heap)
            self.now = max(self.now, at)
            if isinstance(ev, tuple):
                kind = ev[0]
                if kind == "timer":
                    if self.timers.get((i, ev[1])) != ev[2]:
                        continue
                    self.deliver(i, TimerFired(ev[1]), at)
                elif kind == "infer":
                    a = ev[1]
                    out = self.output_for(i, a.prompt)
                    self.deliver(i, InferenceFinished(a.job_id, out, 20, at - self.specs[i].infer_ms, at), at)
                elif kind == "embed":
                    a = ev[1]
                    self.deliver(i, EmbeddingFinished(a.job_id, tuple(self.embed(x) for x in a.texts)), at)
            elif isinstance(ev, PacketReceived):
                self.deliver(i, PacketReceived(ev.data, ev.channel, at), at)
            else:
                self.deliver(i, ev, at)
        self.now = max(self.now, t)

    def submit(self, i: int, prompt: str = "What is 2+2?", **kw) -> str:
        ev = RequestSubmitted(prompt=prompt, accepted_models=("smollm2",), **kw)
        before = len(self.emits[i])
        self.deliver(i, ev, self.now)
        return next(e.request_id for e in self.emits[i][before:] if isinstance(e, Submitted))

    def consensus_of(self, i: int, rid: str) -> Optional[ConsensusReached]:
        evs = [e for e in self.emits[i] if isinstance(e, ConsensusReached) and e.request_id == rid]
        return evs[-1] if evs else None

    def restart(self, i: int) -> None:
        """Crash node i and rebuild it from what it persisted (timers re-armed by restore)."""
        node = self.nodes[i]
        tables = {name: list(t.values()) for name, t in self.tables[i].items()}
        self.timers = {k: v for k, v in self.timers.items() if k[0] != i}
        new, actions = Node.restore(node.config, node.identity, random.Random(99 + i), tables, self.now,
                                    verify=packet_verifier(CRYPTO))
        self.nodes[i] = new
        for w in node.workers():
            for a in new.handle(WorkerStatus(w.worker_id, w.kind, w.model, "ready"), self.now):
                self.apply(i, a, self.now)
        for a in actions:
            self.apply(i, a, self.now)
