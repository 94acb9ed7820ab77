"""One simulation run: the unchanged protocol core for every node, in one process, virtual time.

``Simulation(scenario, seed).run()`` wires the models together:
engine.py (time), nodes.py (who is online, how fast), links.py (what every copy of every packet
does), load.py (requests), standins.py (LLM and embedding stand-ins), crypto_model.py (signing),
metrics.py (what it all means), recording.py (``out_dir``: the datasets of a few recorded
observer nodes in the browser's schema ``rakis-dataset/1``), dataset.py (``network_log``: the
network-wide per-copy ledger, ``rakis-dataset/0``).

Each node is a ``Node`` from ``rakis_py.protocol.node`` (or whatever ``node_factory`` builds, for
tests). The simulator is its adapter: it feeds events to ``node.handle(event, now)`` with the
node's skewed clock, and carries out the actions it returns:
``Send`` -> LinkModel fan-out (encoded once, one shared envelope object for all receivers),
``RunInference``/``RunEmbedding`` -> stand-ins, finishing later in virtual time,
``SetTimer``/``CancelTimer`` -> engine callbacks with a generation check, ``Persist`` -> counted
(and, for a node that will come back, written to its simulated storage), notices -> metrics.

Departures (nodes.py): both kinds stop the node at once (its running jobs and timers die with
the tab: completions and timers of an earlier session never reach a later one); a ``crash``
also loses the storage writes of its last ``crash_unflushed_ms``. A node that comes back keeps
its identity and is rebuilt by ``Node.restore`` from its stored records (``node_restore``; a test
factory without one starts afresh), then boots its workers again.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections import deque
from dataclasses import replace
from typing import Callable, Optional

import numpy as np

from rakis_py.protocol import actions as A
from rakis_py.protocol import events as E

from .crypto_model import canonical, make_signer, make_verifier
from .dataset import NetworkLog
from .engine import DEFAULT_EPOCH_MS, Engine
from .links import (DUPLICATE, FIRST, IN_FLIGHT, NO_RECEIVERS, OFFLINE, OUTCOME_NAMES, UNKNOWN_RECEIVER,
                    LinkModel, undelivered_fate)
from .load import LoadModel, RequestSpec
from .metrics import Metrics, RequestRecord
from .nodes import NodeModel, NodeProfile
from .recording import ObserverRecorders
from .scenarios import Scenario
from .standins import ModelStandins

NodeFactory = Callable[[NodeProfile, object, random.Random, Callable, Scenario], object]


def _decoder():
    """Decode once per sent envelope and share the result (PacketReceived accepts an Envelope)."""
    from rakis_py.protocol.errors import PacketRejected
    from rakis_py.protocol.packets import decode_envelope

    def decode(env: dict):
        try:
            return decode_envelope(env)
        except PacketRejected:
            return env          # let each receiver reject it itself
    return decode


def observer_outcomes(paths: list[str]) -> tuple[list[dict], Optional[float]]:
    """What each recorded observer's own dataset says, computed by rakis_py.analytics exactly as
    for a browser node: the stability test's consensus figures (full, majority, corrected for commit
    counts, corrected for identical commit sets) are ONE node's view of the published results.
    Also the first two observers' divergence: requests and published results (request, verifier)
    seen by one and not the other, over those seen by either (the test: ~5%)."""
    from rakis_py.analytics import metrics as M
    from rakis_py.analytics.io import load_dataset
    out, seen = [], []
    for p in paths:
        ds = load_dataset(p)
        c = M.consensus_outcomes(ds)
        out.append({"dataset": os.path.basename(p), "quorums": c["quorums"],
                    **{k: None if c[k] is None else round(c[k], 6)
                       for k in ("share_full", "share_majority", "share_same_commit_count", "share_same_commit_set",
                                 "share_full_one_commit_count", "share_full_one_commit_set")},
                    "quorums_one_commit_count": c["quorums_one_commit_count"],
                    "quorums_one_commit_set": c["quorums_one_commit_set"]})
        seen.append({("request", r) for r in M.requests_seen(ds)} | {("result", *k) for k in M.results_seen(ds)})
    div = None
    if len(seen) >= 2 and (seen[0] | seen[1]):
        div = round(len(seen[0] ^ seen[1]) / len(seen[0] | seen[1]), 6)
    return out, div


class SimNode:
    __slots__ = ("profile", "core", "signer", "rng", "online", "timers", "tgen", "skew", "sid", "session",
                 "store", "unflushed")

    def __init__(self, profile: NodeProfile) -> None:
        self.profile = profile
        self.core = None
        self.signer = None
        self.rng: random.Random | None = None
        self.online = False
        self.timers: dict[str, int] = {}
        self.tgen = 0                      # timer generations, never reset (stale timers never match)
        self.skew = profile.skew_ms
        self.sid = ""
        self.session = 0                   # 1 = first session; completions carry the session
        # Simulated storage (only for nodes that will come back): table -> key -> record, and the
        # writes not yet flushed to it ((virtual ms, table, key, record), oldest first).
        self.store: dict[str, dict[str, dict]] | None = {} if profile.returns else None
        self.unflushed: deque = deque()


class Simulation:
    def __init__(self, scenario: Scenario, seed: int = 0, node_factory: Optional[NodeFactory] = None,
                 out_dir: Optional[str] = None, share_decode: bool = True, strict: bool = False,
                 record: int = 2, network_log: bool = False, node_restore: Optional[Callable] = None) -> None:
        self.sc = scenario
        self.seed = seed
        self.start = DEFAULT_EPOCH_MS
        self.duration_ms = int(scenario.duration_s * 1000)
        self.engine = Engine(self.start)
        self.rng = random.Random(f"sim:{seed}")
        if node_factory is None:
            from .core_node import core_node_factory, core_node_restore
            node_factory, node_restore = core_node_factory, node_restore or core_node_restore
        self.factory = node_factory
        self.restore = node_restore        # (profile, signer, rng, verify, scenario, tables, now) -> (node, actions)
        self.churn = {"joins": 0, "leaves": 0, "crashes": 0, "rejoins": 0, "restored": 0,
                      "restored_records": 0, "lost_writes": 0, "lost_work": 0}
        regions = [w for _, w in scenario.links.regions]
        self.profiles = NodeModel(scenario.node_model).draw(scenario.nodes, self.duration_ms, regions, seed * 7 + 1)
        self.observers = self._make_observers()
        self.nodes = [SimNode(p) for p in self.profiles]
        self.link = LinkModel(scenario.links, np.array([p.region for p in self.profiles]), seed * 7 + 2,
                              self.start, self.duration_ms)
        self.requests = LoadModel(scenario.load).draw(self.duration_ms, seed * 7 + 3)
        # Embedding sizes of the model each protocol's network runs (v1: 768-d, v2: 384-d).
        self.standins = ModelStandins(scenario.standins, scenario.load.frame.protocol)
        self._v1 = scenario.load.frame.protocol == 1
        self.metrics = Metrics([p.byzantine for p in self.profiles], self.observers)
        self.verify = make_verifier(scenario.crypto)
        self.decode = _decoder() if share_decode else None
        self.by_sid: dict[str, int] = {}
        # Packets with copies still travelling and none delivered yet: id -> [copies left,
        # outcome matrix at send, reasons found since] (links.py: packet fates).
        self._pending: dict[int, list] = {}
        self._next_pid = 0
        self._online: list[int] = []
        self._online_arr: np.ndarray | None = None
        self.timeline: dict[int, list[tuple[int, int]]] = {}   # node -> [(join, leave)] virtual
        self.persists = 0
        # An exception out of node.handle is a bug in the core: counted (and the event dropped)
        # so a long run survives it, or re-raised with strict=True (tests).
        self.strict = strict
        self.core_errors: dict[str, int] = {}
        # out_dir: datasets of `record` observer nodes (recording.py); network_log: every copy.
        self.recorders = ObserverRecorders(out_dir, self._recorded(record)) if out_dir else None
        self.dataset = NetworkLog(out_dir) if out_dir and network_log else None
        self.wall_seconds = 0.0
        frame = scenario.load.frame
        # Consensus should be over by endingAt + reveal/consensus windows (v1: 35 s + 40 s).
        self._settle_ms = frame.max_time_ms + 35_000 + 40_000 + 10_000
        for p in self.profiles:
            for k, (join, depart, kind) in enumerate(p.sessions()):
                self.engine.at(self.start + join, self._join if k == 0 else self._rejoin, p.index)
                if depart < self.duration_ms:
                    self.engine.at(self.start + depart, self._depart, p.index, kind)
        for spec in self.requests:
            rec = RequestRecord(spec.index, spec.prompt, self.start + spec.at_ms, frame.quorum,
                                self.start + spec.at_ms + self._settle_ms)
            self.metrics.add_request(rec)
            self.engine.at(self.start + spec.at_ms, self._submit, spec, rec)
        self._specs = {s.prompt: s for s in self.requests}

    def _make_observers(self) -> tuple[int, ...]:
        """Nodes 0 and 1 become the two observers: online all run, regions 0 and 1, with the
        scenario's ``observer_workers`` (0: followers)."""
        if not self.sc.observers or len(self.profiles) < 2 or len(self.sc.links.regions) < 2:
            return ()
        for i in (0, 1):
            self.profiles[i] = replace(self.profiles[i], region=i, join_ms=0, leave_ms=1 << 50, returns=(),
                                       workers=self.sc.observer_workers, byzantine=False)
        return (0, 1)

    def _recorded(self, k: int) -> tuple[int, ...]:
        """The nodes whose datasets are recorded: the scenario's observers first, then the
        nodes that join first (tiny: always-online nodes 0, 1, ...)."""
        order = list(self.observers) + sorted(
            (p.index for p in self.profiles if p.index not in self.observers), key=lambda j: (self.profiles[j].join_ms, j))
        return tuple(order[:max(0, k)])

    # -- membership ---------------------------------------------------------------------------
    def _join(self, i: int) -> None:
        sn = self.nodes[i]
        p = sn.profile
        sn.signer = make_signer(self.sc.crypto, f"{self.seed}:{i}".encode())
        sn.sid = sn.signer.synthient_id
        sn.rng = random.Random(f"node:{self.seed}:{i}")
        recorded = self.recorders is not None and i in self.recorders.nodes
        if recorded:
            sn.core = self.factory(p, sn.signer, sn.rng, self.verify, self.sc, record=True)
            self.recorders.start(i, sn.sid, self.engine.now + sn.skew, self._protocol_meta())
        else:
            sn.core = self.factory(p, sn.signer, sn.rng, self.verify, self.sc)
        self._go_online(i, sn)

    def _go_online(self, i: int, sn: SimNode) -> None:
        sn.online = True
        sn.session += 1
        self.churn["joins"] += 1
        self.by_sid[sn.sid] = i
        self._online.append(i)
        self._online_arr = None
        self.timeline.setdefault(i, []).append((self.engine.now, 1 << 62))
        p = sn.profile
        boot = self.engine.now + self.sc.node_model.boot_ms
        model = self.sc.load.model
        if p.workers or self.sc.node_model.follower_embedder:
            self.engine.at(boot, self._call_in, i, sn.session,
                           E.WorkerStatus("embed-0", "embedding", self.sc.embedding_model, "ready", "sim"))
        for k in range(p.workers):
            self.engine.at(boot, self._call_in, i, sn.session,
                           E.WorkerStatus(f"llm-{k}", "llm", model, "ready", "sim"))

    def _rejoin(self, i: int) -> None:
        """The same identity comes back: a new tab rebuilt from what its storage holds."""
        sn = self.nodes[i]
        if sn.online:
            return
        self.churn["rejoins"] += 1
        sn.rng = random.Random(f"node:{self.seed}:{i}:{sn.session + 1}")
        now = self.engine.now + sn.skew
        recorded = self.recorders is not None and i in self.recorders.nodes
        extra = {"record": True} if recorded else {}
        actions = ()
        if self.restore is not None:
            tables = {t: list(recs.values()) for t, recs in (sn.store or {}).items()}
            sn.core, actions = self.restore(sn.profile, sn.signer, sn.rng, self.verify, self.sc, tables, now, **extra)
            self.churn["restored"] += 1
            self.churn["restored_records"] += sum(len(v) for v in tables.values())
        else:
            sn.core = self.factory(sn.profile, sn.signer, sn.rng, self.verify, self.sc, **extra)
        self._go_online(i, sn)
        if actions:
            if recorded:
                self.recorders.feed(i, actions, now)
            self._apply(i, sn, actions)

    def _protocol_meta(self) -> dict:
        f = self.sc.load.frame
        return {"protocol": f.protocol, "quorum": f.quorum, "maxTimeMs": f.max_time_ms,
                "secPercentage": f.sec_percentage, "embeddingModel": self.sc.embedding_model,
                "scenario": self.sc.name, "seed": self.seed}

    def _depart(self, i: int, kind: str = "leave") -> None:
        """A clean leave or a crash (module docstring): the node stops at once; a crash also
        loses its unflushed storage writes."""
        sn = self.nodes[i]
        if not sn.online:
            return
        self.churn["crashes" if kind == "crash" else "leaves"] += 1
        if sn.store is not None:
            keep_before = self.engine.now - (self.sc.node_model.crash_unflushed_ms if kind == "crash" else -1)
            self._flush_writes(sn, keep_before)
            self.churn["lost_writes"] += len(sn.unflushed)
            sn.unflushed.clear()
        sn.online = False
        sn.timers.clear()
        # The tab is gone: free its core (memory grows with departed nodes otherwise); a return
        # rebuilds it from the simulated storage, as a reopened tab does.
        sn.core = None
        self._online.remove(i)
        self._online_arr = None
        join, _ = self.timeline[i][-1]
        self.timeline[i][-1] = (join, self.engine.now)

    def online_at(self, i: int, t: int) -> bool:
        return any(a <= t < b for a, b in self.timeline.get(i, ()))

    def _online_array(self) -> np.ndarray:
        if self._online_arr is None:
            self._online_arr = np.array(sorted(self._online), dtype=np.int64)
        return self._online_arr

    # -- driving the core ---------------------------------------------------------------------
    def _call_in(self, i: int, session: int, event) -> None:
        """An event of work the node started in ``session`` (job done, worker booted): it died
        with that session if the node has departed since."""
        sn = self.nodes[i]
        if sn.session == session and sn.online:
            self._call(i, event)
        else:
            self.churn["lost_work"] += 1

    @staticmethod
    def _flush_writes(sn: SimNode, before: int) -> None:
        """Move the writes made before ``before`` (virtual ms) into the node's storage."""
        q, store = sn.unflushed, sn.store
        while q and q[0][0] < before:
            _t, table, key, record = q.popleft()
            if record is None:
                store.get(table, {}).pop(key, None)
            else:
                store.setdefault(table, {})[key] = record

    def _call(self, i: int, event) -> None:
        sn = self.nodes[i]
        if not sn.online:
            return
        try:
            actions = sn.core.handle(event, self.engine.now + sn.skew)
        except Exception as exc:
            if self.strict:
                raise
            key = f"{type(event).__name__}: {type(exc).__name__}: {str(exc)[:80]}"
            self.core_errors[key] = self.core_errors.get(key, 0) + 1
            return
        if actions:
            if self.recorders is not None and i in self.recorders:
                self.recorders.feed(i, actions, self.engine.now + sn.skew)
            self._apply(i, sn, actions)

    def _apply(self, i: int, sn: SimNode, actions) -> None:
        eng = self.engine
        for act in actions:
            t = type(act)
            if t is A.Send:
                self._send(i, sn, act)
            elif t is A.SetTimer:
                sn.tgen += 1
                sn.timers[act.timer_id] = sn.tgen
                eng.at(act.at - sn.skew, self._fire, i, act.timer_id, sn.tgen)
            elif t is A.CancelTimer:
                sn.timers.pop(act.timer_id, None)
            elif t is A.Persist:
                self.persists += 1
                if sn.store is not None:
                    # a copy, as storage holds it: later changes reach it only by another write
                    sn.unflushed.append((eng.now, act.table, act.key, copy.deepcopy(act.record)))
                    self._flush_writes(sn, eng.now - self.sc.node_model.crash_unflushed_ms)
            elif t is A.RunInference:
                self._run_inference(i, sn, act)
            elif t is A.RunEmbedding:
                self._run_embedding(i, sn, act)
            else:
                self.metrics.on_notice(i, act)

    def _fire(self, i: int, timer_id: str, gen: int) -> None:
        sn = self.nodes[i]
        if sn.online and sn.timers.get(timer_id) == gen:
            del sn.timers[timer_id]
            self._call(i, E.TimerFired(timer_id))

    def _run_inference(self, i: int, sn: SimNode, act) -> None:
        spec = self._specs.get(act.prompt)
        base = spec.output_tokens if spec else self.sc.load.output_tokens_median
        p = sn.profile
        text, tokens = self.standins.infer(act.prompt, i, p.byzantine, int(base), act.max_tokens, sn.rng)
        dur = max(1, int(tokens / p.tokens_per_s * 1000))
        started = self.engine.now + sn.skew
        self.metrics.on_tokens(tokens)
        self.engine.at(self.engine.now + dur, self._call_in, i, sn.session,
                       E.InferenceFinished(act.job_id, text, tokens, started, started + dur))

    def _run_embedding(self, i: int, sn: SimNode, act) -> None:
        embs = tuple(self.standins.embed(t, sn.rng) for t in act.texts)
        st = self.sc.standins
        per_text = st.embed_ms_per_text_v1 if self._v1 and st.embed_ms_per_text_v1 else st.embed_ms_per_text
        dur = per_text * max(1, len(act.texts))
        # Float vectors only for v1 runs: a v1-shaped reveal carries them (v2 never sends floats).
        floats = (tuple(self.standins.float_embedding(b) for b in embs)
                  if self.sc.load.frame.protocol == 1 else None)
        self.engine.at(self.engine.now + dur, self._call_in, i, sn.session,
                       E.EmbeddingFinished(act.job_id, embs, floats))

    def _send(self, i: int, sn: SimNode, act) -> None:
        """Fan one Send out; every packet ends with a fate in the ledger (links.py), every copy
        with an outcome (addressees already offline: their copies are dropped:offline)."""
        env = act.envelope
        size = len(canonical(env).encode("utf-8"))
        self.metrics.on_send(i, env, size)
        led = self.link.ledger
        led.packets += 1
        gone: list[int] = []
        if act.to is None:
            rec = self._online_array()
            rec = rec[rec != i]
        else:
            idx = {self.by_sid.get(s) for s in act.to}
            idx.discard(None)
            idx.discard(i)
            rec = np.array(sorted(j for j in idx if self.nodes[j].online), dtype=np.int64)
            gone = sorted(j for j in idx if not self.nodes[j].online)
            if gone:
                self.link.book_gone(len(gone), size)
                if self.dataset is not None:
                    self._ds_gone(sn, env, gone, size)
        if len(rec) == 0:
            led.fates[OFFLINE if gone else NO_RECEIVERS if act.to is None else UNKNOWN_RECEIVER] += 1
            return
        now = self.engine.now
        fan = self.link.fanout(i, rec, now, size)
        data = (act.decoded or self.decode(env)) if self.decode else env
        names = self.link.channel_names
        at = self.engine.at
        deliver = self._deliver
        recips = fan.recipients.tolist()
        firsts = fan.first_channel.tolist()
        lat = fan.latency_ms
        live = sum(1 for c in firsts if c >= 0)
        if live == 0:
            led.fates[self._fate(fan.outcome, {OFFLINE} if gone else set())] += 1
        else:
            pid = self._next_pid
            self._next_pid += 1
            self._pending[pid] = [live, fan.outcome, {OFFLINE} if gone else set()]
            led.pending += 1
            for row, (r, c) in enumerate(zip(recips, firsts)):
                if c >= 0:
                    at(now + int(lat[row, c]), deliver, r, data, c, size, pid)
        if self.dataset is not None:
            typ = (env.get("packet") or {}).get("type", "?")
            out = fan.outcome
            for row, r in enumerate(recips):
                for c in range(len(names)):
                    code = int(out[row, c])
                    if code != FIRST:
                        self.dataset.packet(now, sn.sid, self.nodes[r].sid, names[c], typ, size, OUTCOME_NAMES[code])

    @staticmethod
    def _fate(outcome: np.ndarray, reasons: set[str]) -> str:
        """An undelivered packet's fate from its copies' outcomes at send and since."""
        codes = set(np.unique(outcome).tolist()) - {FIRST, DUPLICATE}
        return undelivered_fate(reasons | {OUTCOME_NAMES[k] for k in codes})

    def _undelivered(self, pid: int, reason: str) -> None:
        """A copy booked to be delivered did not reach its node (offline, or the run ended)."""
        pend = self._pending.get(pid)
        if pend is None:                 # the packet already reached some node
            return
        pend[0] -= 1
        pend[2].add(reason)
        if pend[0] == 0:
            del self._pending[pid]
            led = self.link.ledger
            led.pending -= 1
            led.fates[self._fate(pend[1], pend[2])] += 1

    def _ds_gone(self, sn: SimNode, env: dict, gone: list[int], size: int) -> None:
        typ = (env.get("packet") or {}).get("type", "?")
        for r in gone:
            for ch in self.link.channel_names:
                self.dataset.packet(self.engine.now, sn.sid, self.nodes[r].sid, ch, typ, size, OFFLINE)

    def _deliver(self, r: int, data, c: int, size: int, pid: int) -> None:
        sn = self.nodes[r]
        ch = self.link.channel_names[c]
        if not sn.online:
            self.link.settle(OFFLINE, c, size)
            self._undelivered(pid, OFFLINE)
            if self.dataset is not None:
                self._ds_delivery(r, data, ch, size, OFFLINE)
            return
        if self._pending.pop(pid, None) is not None:    # the packet's first delivery
            led = self.link.ledger
            led.pending -= 1
            led.fates["delivered"] += 1
        if self.dataset is not None:
            self._ds_delivery(r, data, ch, size, "delivered")
        self._call(r, E.PacketReceived(data, ch, self.engine.now + sn.skew, size))

    def _ds_delivery(self, r, data, ch, size, outcome) -> None:
        env = data if isinstance(data, dict) else None
        typ = (env.get("packet") or {}).get("type", "?") if env else getattr(getattr(data, "packet", None), "type", "?")
        sender = env.get("synthientId", "?") if env else getattr(data, "synthient_id", "?")
        self.dataset.packet(self.engine.now, sender, self.nodes[r].sid, ch, typ, size, outcome)

    # -- load ---------------------------------------------------------------------------------
    def _submit(self, spec: RequestSpec, rec: RequestRecord) -> None:
        if not self._online:
            return
        i = self.rng.choice(sorted(self._online))
        f = self.sc.load.frame
        self.metrics.on_submit(rec, i)
        self._call(i, E.RequestSubmitted(
            prompt=spec.prompt, accepted_models=(self.sc.load.model,), quorum=f.quorum,
            sec_percentage=f.sec_percentage, sec_distance=f.sec_distance, max_time_ms=f.max_time_ms,
            temperature=1.0, max_tokens=self.sc.load.max_tokens, protocol=f.protocol))

    # -- run ----------------------------------------------------------------------------------
    def run(self) -> dict:
        w0 = time.perf_counter()
        if self.dataset is not None:
            f = self.sc.load.frame
            self.dataset.write("run", scenario=self.sc.name, nodes=self.sc.nodes, duration_s=self.sc.duration_s,
                               protocol=f.protocol, seed=self.seed, crypto=self.sc.crypto)
        # Let the last requests settle: run past the duration by the consensus windows.
        end = self.start + self.duration_ms + self._settle_ms
        self.engine.run(end)
        for _t, fn, args in self.engine.drain():
            if fn == self._deliver:
                r, data, c, size, pid = args
                self.link.settle(IN_FLIGHT, c, size)
                self._undelivered(pid, IN_FLIGHT)
                if self.dataset is not None:
                    self._ds_delivery(r, data, self.link.channel_names[c], size, IN_FLIGHT)
        self.wall_seconds = time.perf_counter() - w0
        return self.summary()

    def summary(self) -> dict:
        s, verdicts = self.metrics.summary(self.online_at)
        ever = len(self.timeline)
        out = {
            "scenario": self.sc.name,
            "protocol": self.sc.load.frame.protocol,
            "seed": self.seed,
            "nodes": ever,
            "nodes_max_online": self._max_online(),
            **s,
            "links": self.link.ledger.summary(),
            "churn": dict(self.churn),
            "persists": self.persists,
            "core_errors": dict(sorted(self.core_errors.items())),
            "events": self.engine.events,
            "sim_seconds": round((self.engine.now - self.start) / 1000, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "events_per_s": round(self.engine.events / self.wall_seconds, 1) if self.wall_seconds else None,
        }
        if self.recorders is not None:
            paths = self.recorders.close()
            out["observer_datasets"] = [os.path.basename(p) for p in paths]
            out["observer_outcomes"], out["observer_dataset_divergence"] = observer_outcomes(paths)
            self._write_quorums(verdicts)
            self._plot(out, verdicts)
        if self.dataset is not None:
            for rec, v in zip(self.metrics.requests, verdicts):
                self.dataset.write("quorum", request=rec.index, request_id=rec.request_id,
                                   submitted=rec.submitted_ms, **v)
            self.dataset.write("summary", **{k: v for k, v in out.items() if k not in ("wall_seconds", "events_per_s")})
            self.dataset.close()
        return out

    def _plot(self, out: dict, verdicts: list[dict]) -> None:
        from . import plots
        reqs = [((rec.submitted_ms - self.start) / 60_000, v) for rec, v in zip(self.metrics.requests, verdicts)]
        online = plots.online_series(self.timeline, self.start, self.engine.now)
        try:
            plots.plot_run(out, reqs, online, os.path.join(self.recorders.out_dir, "sim.png"))
        except ImportError:         # pragma: no cover - no matplotlib (not a CPython dev install)
            pass

    def _write_quorums(self, verdicts: list[dict]) -> None:
        """``quorums.jsonl``: the network-wide verdict of every request (metrics.py definitions)."""
        with open(os.path.join(self.recorders.out_dir, "quorums.jsonl"), "w", encoding="utf-8") as f:
            for rec, v in zip(self.metrics.requests, verdicts):
                row = {"request": rec.index, "requestId": rec.request_id, "submitted": rec.submitted_ms, **v}
                f.write(json.dumps(row, separators=(",", ":")) + "\n")

    def _max_online(self) -> int:
        edges = []
        for spans in self.timeline.values():
            for a, b in spans:
                edges.append((a, 1))
                edges.append((min(b, 1 << 62), -1))
        edges.sort()
        cur = best = 0
        for _, d in edges:
            cur += d
            best = max(best, cur)
        return best
