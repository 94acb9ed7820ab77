"""What ``--out DIR`` writes: the datasets of a few observer nodes, in the browser's schema.

A browser tab records ITS OWN view (``rakis-dataset/1``, rakis_py.analytics: a ``DatasetRecorder``
fed the actions its node returns). The simulator does the same for a few chosen nodes (the
scenario's two observers by default, so ``rakis analyze`` can draw the two-observer charts): those
nodes are built with full per-packet ``PacketSeen`` notices and ``Persist`` (core_node.py ``record=True``), every
action list they return goes to their recorder, and each record is streamed to
``DIR/observer-<k>.jsonl`` as it is produced (meta first; records arrive in time order since
virtual time only moves forward). Everything else in DIR is network-wide and simulator-only:
``summary.json``, ``quorums.jsonl`` (one verdict per request, metrics.py) and ``sim.png``.
"""

from __future__ import annotations

import json
import os
from typing import Iterable

from rakis_py.analytics.recorder import DatasetRecorder, Retention

# The simulator streams records to disk, so the in-memory buffers only bound memory.
SIM_RETENTION = Retention(max_packets=5_000, max_records=20_000, max_packet_age_ms=None,
                          max_record_age_ms=None)


class ObserverRecorders:
    def __init__(self, out_dir: str, nodes: Iterable[int]) -> None:
        self.out_dir = out_dir
        self.nodes = tuple(nodes)
        self._rec: dict[int, DatasetRecorder] = {}
        self._files: dict[int, object] = {}
        self.paths: dict[int, str] = {}
        self.records: dict[int, int] = {}
        os.makedirs(out_dir, exist_ok=True)

    def __contains__(self, i: int) -> bool:
        return i in self._rec

    def start(self, i: int, node_id: str, now: int, protocol: dict) -> None:
        """Node ``i`` joined: open its dataset (once; a node that rejoins keeps its recorder)."""
        if i not in self.nodes or i in self._rec:
            return
        k = self.nodes.index(i)
        rec = DatasetRecorder(node_id, runtime="sim", started=now, protocol=protocol,
                              retention=SIM_RETENTION, software="rakis_py.sim")
        path = os.path.join(self.out_dir, f"observer-{k}.jsonl")
        f = open(path, "w", encoding="utf-8")
        self._rec[i], self._files[i], self.paths[i] = rec, f, path
        self.records[i] = 0
        self._write(i, [rec.meta])

    def feed(self, i: int, actions, now: int) -> None:
        out = self._rec[i].feed(actions, now)
        if out:
            self._write(i, out)

    def _write(self, i: int, records: list[dict]) -> None:
        f = self._files[i]
        for r in records:
            f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")
        self.records[i] += len(records)

    def close(self) -> list[str]:
        for f in self._files.values():
            f.close()
        return [self.paths[i] for i in self.nodes if i in self.paths]
