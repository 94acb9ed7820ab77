"""The network-wide per-copy ledger (``--out DIR --network-log`` -> ``DIR/network.jsonl``),
schema ``rakis-dataset/0``.

Not a node's dataset (those are ``rakis-dataset/1``, recording.py): it lists every copy of every
packet to every receiver on every channel with what happened to it, lost and dropped copies
included, which no node can see. It grows with nodes x packets x channels: for small runs.
rakis_py.analytics.io reads it (``adapt_sim_v0``: one receiver's view).

Every line is one JSON object with ``"schema"`` and ``"kind"``:
* ``run``: the scenario, seed and protocol (first line);
* ``packet``: one copy of one sent envelope: ``t`` (virtual ms), ``node`` (sender id), ``to``
  (receiver id), ``channel``, ``type``, ``size`` (bytes), ``outcome`` (links.py outcomes);
* ``quorum``: one request's outcome (metrics.py verdict fields);
* ``summary``: the summary object (last line).
"""

from __future__ import annotations

import json
import os

SCHEMA = "rakis-dataset/0"


class NetworkLog:
    def __init__(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "network.jsonl")
        self._f = open(self.path, "w", encoding="utf-8")
        self.lines = 0

    def write(self, kind: str, **fields) -> None:
        rec = {"schema": SCHEMA, "kind": kind}
        rec.update(fields)
        self._f.write(json.dumps(rec, separators=(",", ":"), sort_keys=False) + "\n")
        self.lines += 1

    def packet(self, t: int, node: str, to: str, channel: str, typ: str, size: int, outcome: str) -> None:
        self._f.write(
            f'{{"schema":"{SCHEMA}","kind":"packet","t":{t},"node":"{node}","to":"{to}",'
            f'"channel":"{channel}","type":{json.dumps(typ)},"size":{size},"outcome":"{outcome}"}}\n')
        self.lines += 1

    def close(self) -> None:
        self._f.close()
