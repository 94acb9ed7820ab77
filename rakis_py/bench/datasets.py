"""Figures of a run of several node tabs from their exported datasets (rakis-dataset/1,
docs/dataset.md; `window.rakis.exportDataset().text`). Pure functions over the records, so they are
unit-tested on hand-built datasets (tests/bench/test_datasets.py); network.py feeds them the tabs'
exports.

Counting each packet once across tabs: every tab records the first delivery of each packet it
accepted (`packet` records, outcome `accepted`; redundant copies are `duplicate`, our own echoes
`own_echo`, and both are ignored). A packet sent by one tab is accepted by each of the others, so
the union of the tabs' accepted packets, deduplicated by packet identity, holds each packet once
(relayed re-sends of a signed original included: same signature, same packet). Identity is
(sender, signature) where a record carries a `signature`; the rakis-dataset/1 `packet` record
does not, so the key falls back to the signed fields it does carry: sender, type, requestId and
the sender's createdAt (ms). A packet that no other tab accepted is not counted (in a full mesh of
the run's tabs every packet reaches the others).

Tokens are exact: each tab's `request` record of state `inferred` carries the token count of its
own inference (once per tab and request)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

Records = Sequence[dict]


def parse_jsonl(text: str) -> list[dict]:
    """The records of one exported dataset (meta first)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def node_of(records: Records) -> str | None:
    return next((r.get("node") for r in records if r.get("kind") == "meta"), None)


def packet_key(record: dict) -> tuple:
    """Identity of the packet a `packet` record saw (see the module docstring)."""
    if record.get("signature"):
        return ("signature", record.get("from"), record["signature"])
    return ("fields", record.get("from"), record.get("type"), record.get("requestId"), record.get("createdAt"))


def distinct_packets(datasets: Iterable[Records]) -> dict[tuple, dict]:
    """Every packet accepted by any tab, once: key -> {from, type, requestId, size, receivers}.
    `size` is the largest encoded size reported for it (copies of one packet have one size);
    None when no tab recorded a size."""
    out: dict[tuple, dict] = {}
    for records in datasets:
        me = node_of(records)
        for r in records:
            if r.get("kind") != "packet" or r.get("outcome") != "accepted":
                continue
            key = packet_key(r)
            p = out.setdefault(key, {"from": r.get("from"), "type": r.get("type"),
                                     "requestId": r.get("requestId"), "size": None, "receivers": set()})
            if isinstance(r.get("size"), int) and (p["size"] is None or r["size"] > p["size"]):
                p["size"] = r["size"]
            p["receivers"].add(me)
    return out


def inferred_tokens(datasets: Iterable[Records]) -> dict[str, int]:
    """requestId -> tokens generated for it over all tabs (each tab's own inference, counted once
    per tab and request even when a dataset is given twice)."""
    per: dict[tuple, int] = {}
    for records in datasets:
        me = node_of(records)
        for r in records:
            if r.get("kind") == "request" and r.get("state") == "inferred" and isinstance(r.get("tokens"), int):
                per[(me, r["requestId"])] = r["tokens"]
    out: Counter = Counter()
    for (_, rid), n in per.items():
        out[rid] += n
    return dict(out)


def request_traffic(datasets: Sequence[Records], request_ids: Sequence[str]) -> dict[str, dict]:
    """requestId -> {packets, bytes, tokens, unsized, by_type} for the given requests: the
    distinct packets that refer to the request (each once over all tabs), their encoded bytes
    (`unsized`: packets no tab recorded a size for, counted as 0 bytes) and the tokens generated."""
    packets = distinct_packets(datasets)
    tokens = inferred_tokens(datasets)
    out = {rid: {"packets": 0, "bytes": 0, "tokens": tokens.get(rid, 0), "unsized": 0, "by_type": Counter()}
           for rid in request_ids}
    for p in packets.values():
        t = out.get(p["requestId"])
        if t is None:
            continue
        t["packets"] += 1
        t["bytes"] += p["size"] or 0
        t["unsized"] += p["size"] is None
        t["by_type"][p["type"] or "?"] += 1
    for t in out.values():
        t["by_type"] = dict(t["by_type"])
    return out


def traffic_totals(per_request: Iterable[dict]) -> dict:
    """Sums over some requests' `request_traffic` and the two ratios (None when undefined)."""
    rows = list(per_request)
    packets = sum(r["packets"] for r in rows)
    nbytes = sum(r["bytes"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    return {"requests": len(rows), "packets": packets, "bytes": nbytes, "tokens": tokens,
            "unsized": sum(r["unsized"] for r in rows),
            "bytes_per_token": nbytes / tokens if tokens else None,
            "tokens_per_packet": tokens / packets if packets and tokens else None}


PUBLISHED_FIELDS = ("bEmbeddingHash", "jointHash", "commitSetHash", "submittedHash", "valid")


def published_results(datasets: Iterable[Records], request_id: str) -> dict[str, dict]:
    """publisher synthientId -> its published result for the request (inferenceQuorumComputed),
    from every tab's `published` records (a publisher's own record, kept when it sent it, and the
    copies others received), merged field by field."""
    out: dict[str, dict] = {}
    for records in datasets:
        for r in records:
            if r.get("kind") != "published" or r.get("requestId") != request_id:
                continue
            merged = out.setdefault(r["verifiedBy"], {})
            for f in PUBLISHED_FIELDS:
                if r.get(f) is not None:
                    merged.setdefault(f, set()).add(r[f])
    return {by: {f: (next(iter(v)) if len(v) == 1 else sorted(v, key=str)) for f, v in fields.items()}
            for by, fields in out.items()}


def published_differences(datasets: Sequence[Records], request_id: str) -> list[str]:
    """Why the published results of a request are not all identical ([] = identical, or none
    published; check the count separately). A field is compared among the results that carry it."""
    pubs = published_results(datasets, request_id)
    problems = []
    for f in PUBLISHED_FIELDS:
        values = {by: v[f] for by, v in pubs.items() if f in v}
        if any(isinstance(v, list) for v in values.values()):
            problems.append(f"{f}: one publisher seen with several values")
        elif len(set(values.values())) > 1:
            problems.append(f"{f} differs: " + ", ".join(f"{by[:8]} {str(v)[:12]}" for by, v in sorted(values.items())))
    return problems
