"""The tab's dataset (`rakis-dataset/1`, docs/dataset.md): every action list the node returns goes
through a `DatasetRecorder`; the new records go back to the page in the same JSON answer (an emit
of kind "dataset"), and the page appends them to IndexedDB (web/js/dataset.js) under the retention
stated in the meta record. Python keeps no copy (`keep=False`): IndexedDB is the dataset.

Worker load: the core reports worker state changes, not how busy a worker is over time, so at most
every `sample_ms` (when an event arrives) one `worker` record per worker states `busy` or its state.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Iterable, Optional

from .. import __version__
from ..analytics.recorder import DatasetRecorder, Retention
from ..analytics.schema import new_record

SAMPLE_MS = 10_000
# camelCase (page options, rakis.retention in localStorage) -> Retention field.
RETENTION_OPTIONS = {"maxPackets": "max_packets", "maxRecords": "max_records",
                     "maxPacketAgeMs": "max_packet_age_ms", "maxRecordAgeMs": "max_record_age_ms",
                     "peerSampleMs": "peer_sample_ms"}


def retention_from_options(options: Optional[dict]) -> Retention:
    """A Retention from the page's camelCase options (unknown keys refused, null = no age limit)."""
    options = options or {}
    unknown = set(options) - set(RETENTION_OPTIONS)
    if unknown:
        raise ValueError(f"unknown retention options: {', '.join(sorted(unknown))}")
    kw: dict[str, Any] = {}
    for key, name in RETENTION_OPTIONS.items():
        if key not in options:
            continue
        value = options[key]
        if value is None and name.endswith("age_ms"):
            kw[name] = None
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            kw[name] = int(value)
        else:
            raise ValueError(f"retention {key} must be a positive number of records or ms")
    return Retention(**kw)


def retention_to_options(r: Retention) -> dict:
    names = {f.name for f in fields(r)}
    return {key: getattr(r, name) for key, name in RETENTION_OPTIONS.items() if name in names}


class TabDataset:
    def __init__(self, node_id: str, started: int, protocol: dict, retention: Retention,
                 sample_ms: int = SAMPLE_MS) -> None:
        self.recorder = DatasetRecorder(node_id, runtime="browser", started=int(started),
                                        protocol=protocol, retention=retention,
                                        software=f"rakis_py {__version__}", keep=False)
        self.sample_ms = sample_ms
        self._last_sample: Optional[int] = None

    @property
    def meta(self) -> dict:
        return self.recorder.meta

    def feed(self, actions: Iterable[Any], now: int, workers: Iterable[dict] = ()) -> list[dict]:
        """Records for one action list (core action objects), plus a worker-load sample when due.
        `workers`: NodeHost's worker list ({workerId, kind, model, state, backend, busy})."""
        out = self.recorder.feed(actions, now)
        if self._last_sample is None or now - self._last_sample >= self.sample_ms:
            self._last_sample = now
            out.extend(new_record("worker", t=now, workerId=w["workerId"], workerKind=w["kind"],
                                  model=w["model"], backend=w.get("backend") or None,
                                  state="busy" if w.get("busy") else w["state"])
                       for w in workers)
        return out
