"""Reading and writing datasets: JSON Lines (everywhere) and Parquet (CPython, pyarrow imported lazily).

`load_dataset(path)` reads a `rakis-dataset/1` file (.jsonl: a browser export, or a simulator
observer's `observer-<k>.jsonl`), a Parquet directory written by `write_parquet`, a directory
holding `dataset.jsonl`, or the simulator's network-wide `rakis-dataset/0` ledger (`network.jsonl`
of `rakis sim --out DIR --network-log`: every copy sent to every receiver), which it adapts to ONE
observer's view.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import IO, Iterable, Optional, Union

from .schema import FIELDS, SCHEMA, SIM_V0, new_record


@dataclass
class Dataset:
    """One node's records, grouped by kind (each list in file order, i.e. time order)."""

    meta: dict
    kinds: dict[str, list[dict]] = field(default_factory=dict)
    path: str = ""

    def of(self, kind: str) -> list[dict]:
        return self.kinds.get(kind, [])

    @property
    def node(self) -> str:
        return str(self.meta.get("node", "?"))

    @property
    def label(self) -> str:
        """A short name for charts: the node id's first 8 characters (or the sim observer)."""
        n = self.node
        return n[:8] if len(n) > 16 else n

    def span(self) -> tuple[int, int]:
        """(first t, last t) over every timed record, (0, 0) if none."""
        ts = [r["t"] for recs in self.kinds.values() for r in recs if isinstance(r.get("t"), (int, float))]
        return (int(min(ts)), int(max(ts))) if ts else (0, 0)

    @classmethod
    def from_records(cls, records: Iterable[dict], path: str = "") -> "Dataset":
        meta: dict = {}
        kinds: dict[str, list[dict]] = {}
        for r in records:
            if r.get("kind") == "meta" and not meta:
                meta = dict(r)
                continue
            kinds.setdefault(r.get("kind", "?"), []).append(r)
        for recs in kinds.values():
            recs.sort(key=lambda x: x.get("t", 0))
        return cls(meta or {"kind": "meta", "schema": SCHEMA, "node": "?"}, kinds, path)

    def records(self) -> list[dict]:
        """Every record, meta first, then all kinds merged in time order (what `write_jsonl`
        and `write_parquet` take; the order a browser export has)."""
        rest = sorted((r for recs in self.kinds.values() for r in recs), key=lambda r: r.get("t") or 0)
        return [self.meta] + rest


class MissingDependency(ImportError):
    """A CPython-only library the asked-for work needs is not installed; the message says which
    and how to get it (`pip install 'rakis-py[analyze]'`)."""


def require(module: str, purpose: str):
    """Import `module` (matplotlib, pyarrow, ...) or raise MissingDependency naming the extra."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise MissingDependency(f"{purpose} needs {top}, which is not installed ({e}): "
                                f"pip install 'rakis-py[analyze]' (or pip install {top})") from e


# ---------------------------------------------------------------------- writers

def write_jsonl(records: Iterable[dict], dest: Union[str, IO[str]]) -> int:
    """Write records one per line (compact JSON). Returns the number of lines."""
    def _write(f: IO[str]) -> int:
        n = 0
        for r in records:
            f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")
            n += 1
        return n
    if isinstance(dest, str):
        with open(dest, "w", encoding="utf-8") as f:
            return _write(f)
    return _write(dest)


def write_parquet(records: Iterable[dict], out_dir: str) -> list[str]:
    """One Parquet file per kind (`<kind>.parquet`) in `out_dir`; list and dict fields are stored
    as JSON strings (they are small and ragged). Needs pyarrow (CPython only)."""
    pa = require("pyarrow", "writing Parquet")
    pq = require("pyarrow.parquet", "writing Parquet")

    os.makedirs(out_dir, exist_ok=True)
    by_kind: dict[str, list[dict]] = {}
    for r in records:
        by_kind.setdefault(r.get("kind", "?"), []).append(r)
    paths = []
    for kind, recs in by_kind.items():
        names = list(FIELDS.get(kind, {})) or []
        for r in recs:
            names += [k for k in r if k not in names and k != "kind"]
        cols = {}
        for name in names:
            typ = FIELDS.get(kind, {}).get(name, ("any",))[0]
            values = [r.get(name) for r in recs]
            if typ in ("list", "dict", "any") or any(isinstance(v, (list, dict)) for v in values):
                values = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
                cols[name] = pa.array(values, type=pa.string())
            elif typ == "float":
                cols[name] = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
            else:
                cols[name] = pa.array(values)
        path = os.path.join(out_dir, f"{kind}.parquet")
        pq.write_table(pa.table(cols), path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------- readers

def load_dataset(path: str, observer: Optional[str] = None) -> Dataset:
    """Read a dataset file or directory (see module doc). `observer` picks the receiver whose view
    a `rakis-dataset/0` file is adapted to (default: the one that received the most packets)."""
    if os.path.isdir(path):
        names = os.listdir(path)
        if any(n.endswith(".parquet") for n in names):
            return _read_parquet(path)
        if "dataset.jsonl" not in names:
            observers = sorted(n for n in names if n.startswith("observer-") and n.endswith(".jsonl"))
            if observers:      # `rakis sim --out DIR`: one dataset per observer node
                files = " ".join(os.path.join(path, n) for n in observers[:2])
                raise ValueError(f"{path} is simulator output with {len(observers)} observer datasets: "
                                 f"name them, e.g. {files}")
            if "network.jsonl" in names:
                return load_dataset(os.path.join(path, "network.jsonl"), observer)
        return load_dataset(os.path.join(path, "dataset.jsonl"), observer)
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    if records and records[0].get("schema") == SIM_V0:
        return adapt_sim_v0(records, observer, path)
    return Dataset.from_records(records, path)


def _read_parquet(path: str) -> Dataset:
    pq = require("pyarrow.parquet", "reading a Parquet dataset")

    records: list[dict] = []
    for name in sorted(os.listdir(path)):
        if not name.endswith(".parquet"):
            continue
        kind = name[: -len(".parquet")]
        spec = FIELDS.get(kind, {})
        for row in pq.read_table(os.path.join(path, name)).to_pylist():
            rec = {"kind": kind}
            for k, v in row.items():
                if v is None:
                    continue
                if spec.get(k, ("any",))[0] in ("list", "dict", "any") and isinstance(v, str):
                    try:
                        v = json.loads(v)
                    except ValueError:
                        pass
                rec[k] = v
            records.append(rec)
    metas = [r for r in records if r["kind"] == "meta"]
    rest = [r for r in records if r["kind"] != "meta"]
    return Dataset.from_records(metas[:1] + rest, path)


# The simulator's link outcomes -> what the receiving node made of the copy. Copies that never
# reached the receiver (lost, dropped) are not in its dataset.
_V0_OUTCOMES = {"delivered": "accepted", "duplicate": "duplicate"}


def adapt_sim_v0(records: list[dict], observer: Optional[str] = None, path: str = "") -> Dataset:
    """One receiver's view of a `rakis-dataset/0` file: its packet receptions (first copy =
    accepted, later copies = duplicate), the senders as peers, the run's per-request verdicts
    as `sim_quorum` records and the summary as `sim_summary` (the metrics use them where the
    v0 file has no per-node equivalent)."""
    packets = [r for r in records if r.get("kind") == "packet"]
    if observer is None:
        counts = Counter(r["to"] for r in packets if r.get("outcome") == "delivered")
        observer = counts.most_common(1)[0][0] if counts else "0"
    run = next((r for r in records if r.get("kind") == "run"), {})
    out: list[dict] = [new_record("meta", schema=SCHEMA, node=f"sim:{observer}", runtime="sim",
                                  started=min((r["t"] for r in packets), default=0),
                                  protocol={"protocol": run.get("protocol")},
                                  source={"schema": SIM_V0, "observer": observer, "run": run})]
    for r in packets:
        if r.get("to") != observer or r.get("outcome") not in _V0_OUTCOMES:
            continue
        out.append(new_record("packet", t=r["t"], type=r.get("type"), channel=r.get("channel", "?"),
                              size=r.get("size"), outcome=_V0_OUTCOMES[r["outcome"]],
                              **{"from": r.get("node")}))
    me = _v0_own_id(packets, observer)
    if me is not None:
        out[0]["node"] = me
        # Each of our packets reached each other receiver at most once as a first copy: the
        # receiver that got the most of them stands in for our send log (t = its delivery time).
        firsts: dict[str, list] = defaultdict(list)
        for r in packets:
            if r.get("node") == me and r.get("outcome") == "delivered":
                firsts[r.get("to")].append(r)
        best = max(firsts.values(), key=len, default=[])
        out += [new_record("sent", t=r["t"], type=r.get("type") or "?", size=r.get("size") or 0) for r in best]
    for r in records:
        if r.get("kind") == "quorum":
            out.append({**{k: v for k, v in r.items() if k != "schema"}, "kind": "sim_quorum",
                        "t": r.get("submitted", 0), "requestId": r.get("request_id")})
        elif r.get("kind") == "summary":
            out.append({**{k: v for k, v in r.items() if k != "schema"}, "kind": "sim_summary"})
    return Dataset.from_records(out, path)


def _v0_own_id(packets: list[dict], observer: str) -> Optional[str]:
    """The observer's synthientId in a v0 file (which names receivers by index): the one sender
    whose copies went to other receivers but never to the observer (nobody receives its own)."""
    receivers: dict[str, set] = defaultdict(set)
    for r in packets:
        receivers[r.get("node")].add(r.get("to"))
    cands = [sid for sid, tos in receivers.items() if observer not in tos and tos]
    return cands[0] if len(cands) == 1 else None
