"""The browser adapter: owns one `Node` in the tab and speaks JSON strings with the page.

The page (web/js/bridge.js) calls, always one at a time and through `callPromising` (see
webcrypto.py for why):

    host = NodeHost.start(private_key_hex, options_json, tables_json, now, seed, expected_id,
                          crypto, dataset_json)
    host.boot(now)                  -> JSON list of actions (restore re-arms timers and resumes
                                       unfinished work; then the node announces itself)
    host.handle(event_json, now)    -> JSON list of actions (codec.py documents both shapes)
                                       Both answers end with an emit of kind "status":
                                       {status, requests: [views touched], peers: [rows touched]}
    host.request_view(request_id)   -> JSON object or null
    host.requests()                 -> JSON list of every request the node holds, newest first
    host.status()                   -> JSON object (synthientId, crypto, workers, peers, tokens)
    host.commits(request_id)        -> JSON list of the commits this node holds for a request
                                       (synthientId, inferenceId, bEmbeddingHash, revealed, inAgreedSet)
    host.peer_table(now, limit)     -> JSON list of peer records, most recently seen first
                                       (synthientId, seenOn, lastSeen, totalTokens, totalWorkers, ...)
    host.dataset_meta()             -> JSON meta record of the tab's dataset, or null
    request_defaults()              -> JSON object: the submit defaults (the page's request form)

`dataset_json` ({started, retention: {maxPackets, maxRecords, maxPacketAgeMs, maxRecordAgeMs,
peerSampleMs}}, or null for none) turns on the tab's dataset (dataset.py): every answer of boot()
and handle() then ends with an emit of kind "dataset" ({records: [...]}) when it produced any.

`now` is the page's Date.now(); `tables_json` is what IndexedDB holds ({table: [records]}, the
tables of runtime/storage.py). The page carries the actions out: persist (one IndexedDB transaction
per returned list), timers, sends (a transport hook), model jobs (workers), emits (UI).
Nothing here touches JS, so it runs and is tested on CPython as well.
"""

from __future__ import annotations

import json
import random
import traceback
from dataclasses import MISSING, fields
from typing import Any, Optional

from ..protocol.events import RequestSubmitted
from ..protocol.identity import Identity, packet_verifier
from ..protocol.node import Node, NodeConfig
from ..protocol.quorum import V2_MAX_COMMITS, V2_SEC_DISTANCE_BITS
from ..runtime.storage import DATA_TABLES
from . import webcrypto
from .codec import DEFAULT_LLM_MODEL, BadEvent, action_to_dict, dumps, event_from_dict
from .dataset import TabDataset, retention_from_options

# NodeConfig fields the page may set (camelCase in options_json -> NodeConfig attribute).
OPTION_FIELDS = {
    "embeddingModel": "embedding_model",
    "embeddingModelHash": "embedding_model_hash",
    "storePackets": "store_packets",
    "emitPackets": "emit_packets",
    "statusUpdates": "status_updates",
}


def config_from_options(options: dict) -> NodeConfig:
    unknown = set(options) - set(OPTION_FIELDS)
    if unknown:
        raise ValueError(f"unknown node options: {', '.join(sorted(unknown))}")
    return NodeConfig(**{OPTION_FIELDS[k]: v for k, v in options.items() if v is not None})


def _error_action(where: str, exc: BaseException, detail: Optional[str] = None) -> dict:
    return {"type": "emit", "kind": "error",
            "data": {"where": where, "message": f"{type(exc).__name__}: {exc}", "detail": detail}}


class NodeHost:
    def __init__(self, node: Node, pending: list, restored: bool, crypto: str = "",
                 dataset: Optional[TabDataset] = None) -> None:
        self.node = node
        self.restored = restored
        self.crypto = crypto
        self.dataset = dataset
        self._pending = pending           # restore actions, handed out by boot()

    @classmethod
    def start(cls, private_key_hex: str, options_json: str, tables_json: str, now: int, seed: int,
              expected_id: Optional[str] = None, crypto: str = "",
              dataset_json: Optional[str] = None) -> "NodeHost":
        """A node for this identity; restored from `tables_json` when it holds any record."""
        provider = webcrypto.chosen()
        identity = Identity.from_private_key(private_key_hex, provider)
        verify = packet_verifier(provider)
        if expected_id and identity.synthient_id != expected_id:
            raise ValueError(f"identity mismatch: the page derived {expected_id[:12]}…, "
                             f"Python derived {identity.synthient_id[:12]}…")
        config = config_from_options(json.loads(options_json or "{}"))
        tables = json.loads(tables_json or "{}")
        rng = random.Random(int(seed))
        dataset = None
        if dataset_json:
            d = json.loads(dataset_json)
            protocol = {"embeddingModel": config.embedding_model,
                        "embeddingModelHash": config.embedding_model_hash, "verifyAll": config.verify_all}
            dataset = TabDataset(identity.synthient_id, int(d.get("started") or now), protocol,
                                 retention_from_options(d.get("retention")))
        if any(tables.get(t) for t in DATA_TABLES):
            node, actions = Node.restore(config, identity, rng, tables, int(now), verify=verify)
            return cls(node, list(actions), True, crypto, dataset)
        return cls(Node(config, identity, rng, verify=verify), [], False, crypto, dataset)

    @property
    def synthient_id(self) -> str:
        return self.node.me

    def boot(self, now: int) -> str:
        actions = list(self._pending)
        self._pending = []
        actions.extend(self.node.handle(event_from_dict({"type": "boot"}, int(now)), int(now)))
        return self._answer([action_to_dict(a) for a in actions] + self._record(actions, int(now)))

    def handle(self, event_json: str, now: int) -> str:
        """Actions for one page event. Never raises: bad events and core errors come back as an
        `emit` of kind "error", so one bad packet or bug cannot stop the tab's node."""
        try:
            event = event_from_dict(json.loads(event_json), int(now))
        except (BadEvent, ValueError) as e:
            return self._answer([_error_action("event", e)])
        try:
            actions = self.node.handle(event, int(now))
        except Exception as e:  # noqa: BLE001 - isolate the page from core bugs, but show them
            return self._answer([_error_action(type(event).__name__, e, traceback.format_exc(limit=6))])
        return self._answer([action_to_dict(a) for a in actions] + self._record(actions, int(now)))

    def _answer(self, actions: list[dict]) -> str:
        """`actions` and, last, an emit of kind "status": the node's status (as `status()`), the
        views of the requests these actions touched and the peer-table rows of the peers they
        touched. The page thus learns everything its UI shows from the answer itself: no second
        crossing for status() after every event, no polling of request views or the peer table."""
        rids: dict[str, None] = {}
        sids: dict[str, None] = {}
        for a in actions:
            data = a.get("data") if a["type"] == "emit" else None
            if isinstance(data, dict) and isinstance(data.get("requestId"), str):
                rids[data["requestId"]] = None
            if a["type"] == "emit" and a["kind"] == "packet" and isinstance(data.get("synthientId"), str):
                sids[data["synthientId"]] = None
            elif a["type"] == "persist" and a["table"] == "peers":
                sids[a["key"]] = None
        views = [v for v in map(self.node.request_view, rids) if v is not None]
        peers = [r for r in map(self.node.peer_record, sids) if r is not None]
        actions.append({"type": "emit", "kind": "status",
                        "data": {"status": self._status(), "requests": views, "peers": peers}})
        return dumps(actions)

    def _record(self, actions: list, now: int) -> list[dict]:
        """The dataset emit for these actions ([] when none); a recorder bug is shown, not raised."""
        if self.dataset is None:
            return []
        try:
            records = self.dataset.feed(actions, now, self._workers())
        except Exception as e:  # noqa: BLE001 - analytics must never stop the node
            return [_error_action("dataset", e, traceback.format_exc(limit=6))]
        return [{"type": "emit", "kind": "dataset", "data": {"records": records}}] if records else []

    def dataset_meta(self) -> str:
        return dumps(self.dataset.meta if self.dataset else None)

    def _workers(self) -> list[dict]:
        return [{"workerId": w.worker_id, "kind": w.kind, "model": w.model, "state": w.state,
                 "backend": w.backend, "busy": w.busy} for w in self.node.workers()]

    def request_view(self, request_id: str) -> str:
        return dumps(self.node.request_view(str(request_id)))

    def requests(self) -> str:
        views = [self.node.request_view(rid) for rid in self.node.request_ids()]
        views = [v for v in views if v is not None]
        views.sort(key=lambda v: v.get("endingAt") or 0, reverse=True)
        return dumps(views)

    def status(self) -> str:
        return dumps(self._status())

    def _status(self) -> dict:
        s = self.node.status()
        return {"synthientId": s.synthient_id, "crypto": self.crypto, "restored": self.restored,
                "workers": self._workers(), "peers": s.peers, "totalTokens": s.total_tokens,
                "requests": s.requests}

    def commits(self, request_id: str) -> str:
        """The commits (and whether each was revealed) of one request, in arrival order."""
        return dumps([{"synthientId": c.synthient_id, "inferenceId": c.inference_id,
                       "bEmbeddingHash": c.b_embedding_hash, "receivedAt": c.received_at,
                       "revealed": c.revealed, "revealedAt": c.revealed_at,
                       "inAgreedSet": c.in_agreed_set}
                      for c in self.node.commits(str(request_id))])

    def peer_table(self, now: int, limit: int = 100) -> str:
        """The node's peer table for the UI: every peer ever seen (window = all time), newest first."""
        return dumps(self.node.peer_records()[: int(limit)])


def request_defaults() -> str:
    """The submit defaults, for the page's request form (web/js/ui.js): the core's own, read from
    `RequestSubmitted` and the v2 frame constants, so the form cannot drift from the node.
    `distance` (bits) and `maxCommits` are v2 values the form leaves empty unless changed."""
    d = {f.name: f.default for f in fields(RequestSubmitted) if f.default is not MISSING}
    return dumps({"acceptedModels": [DEFAULT_LLM_MODEL], "quorum": d["quorum"],
                  "agreement": round(d["sec_percentage"] * 100), "timeMs": d["max_time_ms"],
                  "maxTokens": d["max_tokens"], "temperature": d["temperature"],
                  "protocol": d["protocol"], "distance": V2_SEC_DISTANCE_BITS,
                  "maxCommits": V2_MAX_COMMITS})


def start(*args: Any, **kwargs: Any) -> NodeHost:
    """Module-level alias of `NodeHost.start` (simpler to call from JS through pyimport)."""
    return NodeHost.start(*args, **kwargs)
