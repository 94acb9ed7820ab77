"""The figures and chart series of v1's stability test 1 (docs/stability-test-1.md), computed from
one node's dataset (two for the two-observer charts). Each function's docstring states the
definition; the report prints the same text. Chart numbers follow the test's list.

Conventions: "self" is the recording node (`meta.node`) and is never counted as a visitor/peer.
A packet is counted once: its first delivery is the `accepted` record; `duplicate` records are the
redundant copies (other channels, relays) and are ignored in traffic figures. Time series use
buckets of `bucket_ms` (default: `auto_bucket` of the dataset's span).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Optional, Sequence

import numpy as np

from ..protocol.reference import reference_hash
from .io import Dataset

NICE_BUCKETS_MS = (1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
                   6 * 3_600_000, 86_400_000)
ACTIVE_WINDOW_MS = 10 * 60_000       # a node counts as online this long after its last packet


def auto_bucket(span_ms: int, max_buckets: int = 120) -> int:
    """The smallest 'nice' bucket that splits the span into at most `max_buckets`."""
    for b in NICE_BUCKETS_MS:
        if span_ms / b <= max_buckets:
            return b
    return NICE_BUCKETS_MS[-1]


def _edges(datasets: Sequence[Dataset], bucket_ms: Optional[int]) -> tuple[int, int, int]:
    spans = [d.span() for d in datasets if d.span() != (0, 0)]
    if not spans:
        return 0, 0, bucket_ms or 60_000
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
    b = bucket_ms or auto_bucket(hi - lo)
    return lo - lo % b, hi, b


def _bucket_index(t: float, lo: int, b: int) -> int:
    return int((t - lo) // b)


def _series(lo: int, hi: int, b: int) -> list[int]:
    return list(range(lo, hi + 1, b)) if hi >= lo else []


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over `window` points (shorter at the start)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _others(ds: Dataset, ids) -> set:
    return {i for i in ids if i and i != ds.node}


def accepted(ds: Dataset, ptype: Optional[str] = None) -> list[dict]:
    return [p for p in ds.of("packet") if p.get("outcome") == "accepted"
            and (ptype is None or p.get("type") == ptype)]


# ---------------------------------------------------------------------- 1. visitors

def visitor_shares(ds: Dataset) -> dict:
    """Chart 1. Visitors = distinct peers this node heard from (senders of valid packets, or peers
    in its peer samples, gossip included). Requesting = visitors whose p2pInferenceRequest this node
    saw (request records `fromSynthientId`, or accepted request packets). Working = visitors that
    committed an inference or reported more than 0 AI workers. Shares are of visitors."""
    visitors = _others(ds, [p.get("from") for p in ds.of("packet") if p.get("outcome") in ("accepted", "duplicate")] +
                       [p.get("synthientId") for p in ds.of("peer")])
    requesters = _others(ds, [r.get("fromSynthientId") for r in ds.of("request") if r.get("state") == "requested"] +
                         [p.get("from") for p in accepted(ds, "p2pInferenceRequest")])
    workers = _others(ds, [c.get("synthientId") for c in ds.of("commit")] +
                      [p.get("from") for p in accepted(ds, "inferenceCommit")] +
                      [p.get("synthientId") for p in ds.of("peer") if (p.get("totalWorkers") or 0) > 0])
    n = len(visitors)
    return {"visitors": n, "requesting": len(requesters & visitors), "working": len(workers & visitors),
            "share_requesting": len(requesters & visitors) / n if n else None,
            "share_working": len(workers & visitors) / n if n else None}


# ---------------------------------------------------------------------- 2. tokens

def seen_tokens(ds: Dataset) -> list[tuple[int, int]]:
    """(t, tokens) of every inference output this node saw revealed, each (request, revealer)
    once: `reveal` records' `tokens` (estimated from the output text), else accepted
    inferenceReveal packets' `tokens`."""
    out, seen = [], set()
    for r in ds.of("reveal"):
        key = (r.get("requestId"), r.get("synthientId"))
        if r.get("tokens") is not None and key not in seen:
            seen.add(key)
            out.append((r["t"], int(r["tokens"])))
    if not out:
        out = [(p["t"], int(p["tokens"])) for p in accepted(ds, "inferenceReveal") if p.get("tokens") is not None]
    return out


def tokens_over_time(ds: Dataset, bucket_ms: Optional[int] = None, window: int = 5) -> dict:
    """Chart 2. Reported: per bucket, the increase of Σ over peers of the latest `totalTokens` they
    reported (peer samples; each peer's maximum so far, so restarts do not subtract). Seen: per
    bucket, tokens of the outputs this node saw revealed (`seen_tokens`). Moving averages are
    trailing over `window` buckets."""
    lo, hi, b = _edges([ds], bucket_ms)
    t = _series(lo, hi, b)
    reported, seen = [0.0] * len(t), [0.0] * len(t)
    best: dict[str, int] = {}
    for p in ds.of("peer"):
        sid, v = p.get("synthientId"), p.get("totalTokens") or 0
        if sid == ds.node or v <= best.get(sid, 0):
            continue
        i = _bucket_index(p["t"], lo, b)
        if 0 <= i < len(t):
            reported[i] += v - best.get(sid, 0)
        best[sid] = v
    for ts, n in seen_tokens(ds):
        i = _bucket_index(ts, lo, b)
        if 0 <= i < len(t):
            seen[i] += n
    return {"t": t, "bucket_ms": b, "reported": reported, "seen": seen,
            "reported_ma": moving_average(reported, window), "seen_ma": moving_average(seen, window),
            "total_reported": sum(best.values()), "total_seen": sum(seen)}


# ---------------------------------------------------------------------- 3-4. two observers

def requests_seen(ds: Dataset) -> dict[str, int]:
    """requestId -> first time this node saw the request (request record or accepted packet)."""
    out: dict[str, int] = {}
    for r in ds.of("request"):
        if r.get("state") == "requested":
            out.setdefault(r["requestId"], r["t"])
    for p in accepted(ds, "p2pInferenceRequest"):
        if p.get("requestId"):
            out[p["requestId"]] = min(out.get(p["requestId"], p["t"]), p["t"])
    return out


def results_seen(ds: Dataset) -> dict[tuple, int]:
    """(requestId, publisher) -> first time this node saw that published result (inferenceQuorumComputed)."""
    out: dict[tuple, int] = {}
    for r in ds.of("published"):
        out.setdefault((r["requestId"], r["verifiedBy"]), r["t"])
    for p in accepted(ds, "inferenceQuorumComputed"):
        out.setdefault((p.get("requestId"), p.get("from")), p["t"])
    return out


def divergence(a: Dataset, b: Dataset, bucket_ms: Optional[int] = None) -> dict:
    """Chart 3. For requests (by requestId) and results (by requestId + publisher): per bucket of
    the first time either observer saw the item, how many only A saw, only B saw, both saw.
    `share` = items seen by exactly one / items seen by either (the test: ~5%)."""
    lo, hi, bk = _edges([a, b], bucket_ms)
    t = _series(lo, hi, bk)
    out: dict = {"t": t, "bucket_ms": bk, "labels": (a.label, b.label)}
    for name, fn in (("requests", requests_seen), ("results", results_seen)):
        sa, sb = fn(a), fn(b)
        only_a, only_b, both = [0] * len(t), [0] * len(t), [0] * len(t)
        for key in set(sa) | set(sb):
            first = min(x for x in (sa.get(key), sb.get(key)) if x is not None)
            i = min(max(_bucket_index(first, lo, bk), 0), max(len(t) - 1, 0))
            if not t:
                continue
            (both if key in sa and key in sb else only_a if key in sa else only_b)[i] += 1
        union = len(set(sa) | set(sb))
        out[name] = {"only_a": only_a, "only_b": only_b, "both": both, "union": union,
                     "share": (sum(only_a) + sum(only_b)) / union if union else None}
    return out


def commits_reveals(a: Dataset, b: Optional[Dataset] = None, load_window_ms: int = 60_000) -> dict:
    """Chart 4. Per request this node saw: commits and reveals it held (distinct committers /
    revealers in `commit`/`reveal` records) and, given a second observer, the difference A - B.
    Network load = requests either observer saw in the `load_window_ms` before the request."""
    def per_request(ds: Dataset, kind: str) -> dict[str, int]:
        sets: dict[str, set] = defaultdict(set)
        for r in ds.of(kind):
            sets[r["requestId"]].add(r.get("synthientId"))
        return {k: len(v) for k, v in sets.items()}

    seen = requests_seen(a)
    if b is not None:
        for k, v in requests_seen(b).items():
            seen[k] = min(seen.get(k, v), v)
    times = sorted(seen.values())
    rows = []
    ca, ra = per_request(a, "commit"), per_request(a, "reveal")
    cb, rb = (per_request(b, "commit"), per_request(b, "reveal")) if b is not None else ({}, {})
    for rid, t0 in sorted(seen.items(), key=lambda kv: kv[1]):
        lo = np.searchsorted(times, t0 - load_window_ms, side="right")
        hi = np.searchsorted(times, t0, side="right")
        row = {"requestId": rid, "t": t0, "load": int(hi - lo),
               "commits_a": ca.get(rid, 0), "reveals_a": ra.get(rid, 0)}
        if b is not None:
            row.update(commits_b=cb.get(rid, 0), reveals_b=rb.get(rid, 0),
                       commits_diff=ca.get(rid, 0) - cb.get(rid, 0),
                       reveals_diff=ra.get(rid, 0) - rb.get(rid, 0))
        rows.append(row)
    return {"rows": rows, "two": b is not None}


# ---------------------------------------------------------------------- 5-6. channels, traffic

def channel_mix(ds: Dataset, recent_share: float = 0.1) -> dict:
    """Chart 5. The delivering channel of a packet is the channel of its first delivery (the
    `accepted` record). Overall and per packet type: how many packets each channel delivered
    first; recent: the same over the last `recent_share` of the packets. Per peer: the channel
    that first-delivered most of that peer's packets (peers counted per channel), and how many
    channels carried each peer's packets at all (first or redundant copies)."""
    acc = [p for p in accepted(ds) if p.get("from") != ds.node]
    overall = Counter(p["channel"] for p in acc)
    by_type: dict[str, Counter] = defaultdict(Counter)
    per_peer: dict[str, Counter] = defaultdict(Counter)
    for p in acc:
        by_type[p.get("type") or "?"][p["channel"]] += 1
        per_peer[p.get("from")][p["channel"]] += 1
    n_recent = max(int(len(acc) * recent_share), 1) if acc else 0
    recent = Counter(p["channel"] for p in acc[-n_recent:]) if n_recent else Counter()
    carried: dict[str, set] = defaultdict(set)
    for p in ds.of("packet"):
        if p.get("outcome") in ("accepted", "duplicate") and p.get("from") != ds.node:
            carried[p.get("from")].add(p["channel"])
    dominant = Counter(c.most_common(1)[0][0] for c in per_peer.values() if c)
    return {"channels": sorted(set(overall) | {c for s in carried.values() for c in s}),
            "overall": dict(overall), "recent": dict(recent), "recent_packets": n_recent,
            "by_type": {k: dict(v) for k, v in sorted(by_type.items())},
            "peers_by_dominant": dict(dominant),
            "channels_per_peer": dict(Counter(len(s) for s in carried.values()))}


def traffic_efficiency(ds: Dataset) -> dict:
    """Chart 6. Bytes = encoded sizes of every distinct packet this node saw (first deliveries;
    redundant copies, own echoes and rejected packets ignored) plus the packets it sent. Tokens =
    tokens of the outputs it saw revealed (`seen_tokens`; for a simulator v0 file, the run's token
    total). Bytes per token = bytes / tokens; tokens per packet = tokens / distinct packets."""
    acc = accepted(ds)
    sent = ds.of("sent")
    nbytes = sum(p.get("size") or 0 for p in acc) + sum(s.get("size") or 0 for s in sent)
    npackets = len(acc) + len(sent)
    tokens = sum(n for _, n in seen_tokens(ds))
    if not tokens and ds.of("sim_summary"):
        tokens = int(ds.of("sim_summary")[-1].get("tokens") or 0)
    by_type: Counter = Counter()
    for p in list(acc) + list(sent):
        by_type[p.get("type") or "?"] += p.get("size") or 0
    return {"bytes": nbytes, "packets": npackets, "tokens": tokens,
            "bytes_per_token": nbytes / tokens if tokens else None,
            "tokens_per_packet": tokens / npackets if npackets else None,
            "bytes_by_type": dict(by_type)}


# ---------------------------------------------------------------------- 7-10. peers

def _latest_peers(ds: Dataset) -> dict[str, dict]:
    """Per peer, the maximum totalTokens/totalWorkers it ever reported and its identities."""
    out: dict[str, dict] = {}
    for p in ds.of("peer"):
        sid = p.get("synthientId")
        if not sid or sid == ds.node:
            continue
        cur = out.setdefault(sid, {"totalTokens": 0, "totalWorkers": 0, "chainIds": set()})
        cur["totalTokens"] = max(cur["totalTokens"], p.get("totalTokens") or 0)
        cur["totalWorkers"] = max(cur["totalWorkers"], p.get("totalWorkers") or 0)
        for c in p.get("chainIds") or []:
            cur["chainIds"].add((str(c.get("chain")), str(c.get("address")).lower()))
    return out


def chain_distribution(ds: Dataset) -> dict:
    """Chart 7. Distinct chain identities (chain, address) claimed by peers, counted per chain;
    and how many peers connected at least one."""
    peers = _latest_peers(ds)
    ids = {c for p in peers.values() for c in p["chainIds"]}
    return {"by_chain": dict(Counter(chain for chain, _ in ids)), "identities": len(ids),
            "peers_with_identity": sum(1 for p in peers.values() if p["chainIds"]), "peers": len(peers)}


def node_counts(ds: Dataset, bucket_ms: Optional[int] = None, active_ms: int = ACTIVE_WINDOW_MS) -> dict:
    """Chart 8. At the end of each bucket: nodes = peers this node heard a packet from in the last
    `active_ms` (10 min); AI workers = Σ over those nodes of the latest totalWorkers they reported
    by then (peer samples)."""
    lo, hi, b = _edges([ds], bucket_ms)
    t = _series(lo, hi, b)
    heard = sorted((p["t"], p.get("from")) for p in ds.of("packet")
                   if p.get("from") and p.get("from") != ds.node and p.get("outcome") in ("accepted", "duplicate"))
    samples = sorted((p["t"], p["synthientId"], p.get("totalWorkers") or 0) for p in ds.of("peer"))
    last_heard: dict[str, int] = {}
    workers: dict[str, int] = {}
    nodes_out, workers_out = [], []
    i = j = 0
    for start in t:
        end = start + b
        while i < len(heard) and heard[i][0] < end:
            last_heard[heard[i][1]] = heard[i][0]
            i += 1
        while j < len(samples) and samples[j][0] < end:
            workers[samples[j][1]] = samples[j][2]
            j += 1
        active = [s for s, ts in last_heard.items() if end - ts <= active_ms]
        nodes_out.append(len(active))
        workers_out.append(sum(workers.get(s, 0) for s in active))
    return {"t": t, "bucket_ms": b, "nodes": nodes_out, "workers": workers_out,
            "max_nodes": max(nodes_out, default=0), "distinct_nodes": len(last_heard)}


def worker_distribution(ds: Dataset) -> dict:
    """Chart 9. Per peer that reported any AI worker: the most workers it reported; counted per
    worker count (the test: most ran the default 2)."""
    counts = Counter(p["totalWorkers"] for p in _latest_peers(ds).values() if p["totalWorkers"] > 0)
    return {"counts": dict(sorted(counts.items())), "nodes": sum(counts.values()),
            "mode": counts.most_common(1)[0][0] if counts else None}


def workers_run(ds: Dataset) -> dict:
    """Headline "workers" (the test: >1,000 AI workers run). Peers' workers = Σ over peers of the
    most AI workers each reported (peer samples' totalWorkers, which counts a node's LLM workers);
    own = distinct LLM workers in this node's `worker` samples (workerKind llm, or a sample of a
    finished inference); total = peers' + own. None when the dataset has neither peer samples nor
    worker samples."""
    peers = _latest_peers(ds)
    own = {w.get("workerId") for w in ds.of("worker") if w.get("workerId") and (
        w.get("workerKind") == "llm" or (w.get("workerKind") is None and w.get("tokensPerSecond") is not None))}
    reported = sum(p["totalWorkers"] for p in peers.values())
    known = bool(peers) or bool(own)
    return {"peers": reported, "own": len(own), "total": reported + len(own) if known else None,
            "nodes_with_workers": sum(1 for p in peers.values() if p["totalWorkers"] > 0)}


def tokens_per_node(ds: Dataset) -> dict:
    """Chart 10. Per peer that reported tokens: the largest totalTokens it reported."""
    vals = sorted(p["totalTokens"] for p in _latest_peers(ds).values() if p["totalTokens"] > 0)
    return {"tokens": vals, "nodes": len(vals), "median": float(np.median(vals)) if vals else None,
            "total": sum(vals)}


# ---------------------------------------------------------------------- 11-12. consensus

def _commit_set(published: dict):
    """The commit set a published result used: v2 `commitSetHash`, else v1 `submittedHash`."""
    return published.get("commitSetHash") or published.get("submittedHash")


def consensus_outcomes(ds: Dataset) -> dict:
    """Chart 11, from one node's view of the published results (inferenceQuorumComputed, its own
    included). Quorums counted: requests with at least 2 published results seen. The reference
    result is this node's own published result, else the most common winner hash (ties: the
    smallest hash: `rakis_py.protocol.reference`, the one rule the node and the page use too).
    A result agrees when its winner bEmbeddingHash equals the reference's.
    * full agreement: every published result agrees;
    * majority: more than 50% of the published results agree;
    * corrected for commit counts: every result agrees among the publishers that used as many
      commits (`submitted` count) as the reference;
    * corrected for identical commit sets: every result agrees among the publishers whose
      submitted set (`submittedHash`, or v2 `commitSetHash`) is identical to the reference's.
    A subset always holds the reference, so the corrected figures only drop disagreements
    explained by different commits. Shares are of the quorums counted.
    The report's wording ("after correcting for differing commit counts") also reads as a filter
    on quorums, so both are given; this reading:
    * full agreement among the quorums whose publishers all used one commit count
      (`share_full_one_commit_count`, of `quorums_one_commit_count`), and likewise one commit set
      (`share_full_one_commit_set`, of `quorums_one_commit_set`). Also: this node's own
    consensus outcomes by reason. (A simulator v0 file carries network-wide verdicts instead:
    its full/majority flags are used and the corrected figures are not available.)"""
    by_req: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in ds.of("published"):
        by_req[r["requestId"]].setdefault(r["verifiedBy"], r)
    counted = full = majority = same_count = same_set = 0
    one_count = [0, 0]          # [quorums whose publishers used one commit count, of them full]
    one_set = [0, 0]
    for rid, pubs in by_req.items():
        results = list(pubs.values())
        if len(results) < 2:
            continue
        counted += 1
        ref = pubs.get(ds.node)
        if ref is None:
            ref_hash = reference_hash(None, [r.get("bEmbeddingHash") for r in results])
            ref = next(r for r in results if (r.get("bEmbeddingHash") or None) == ref_hash)
        agree = [r.get("bEmbeddingHash") == ref.get("bEmbeddingHash") for r in results]
        counts = [r.get("submitted") for r in results]
        sets = [_commit_set(r) for r in results]
        full += all(agree)
        majority += sum(agree) > len(agree) / 2
        same_count += all(ok for c, ok in zip(counts, agree) if c == ref.get("submitted"))
        same_set += all(ok for c, ok in zip(sets, agree) if c == _commit_set(ref))
        if len(set(counts)) == 1:
            one_count[0] += 1
            one_count[1] += all(agree)
        if len(set(sets)) == 1:
            one_set[0] += 1
            one_set[1] += all(agree)
    own = Counter(("success" if c.get("success") else (c.get("reason") or "failed")) for c in ds.of("consensus"))
    out = {"quorums": counted, "full": full, "majority": majority, "same_commit_count": same_count,
           "same_commit_set": same_set, "quorums_one_commit_count": one_count[0],
           "full_one_commit_count": one_count[1], "quorums_one_commit_set": one_set[0],
           "full_one_commit_set": one_set[1], "own_outcomes": dict(own), "source": "published"}
    if not counted and ds.of("sim_quorum"):
        qs = [q for q in ds.of("sim_quorum") if q.get("has_result")]
        out.update(quorums=len(qs), full=sum(bool(q.get("full")) for q in qs),
                   majority=sum(bool(q.get("majority")) for q in qs),
                   same_commit_count=None, same_commit_set=None, quorums_one_commit_count=None,
                   full_one_commit_count=None, quorums_one_commit_set=None, full_one_commit_set=None,
                   source="sim-v0 verdicts")
    for k in ("full", "majority", "same_commit_count", "same_commit_set"):
        out[f"share_{k}"] = out[k] / out["quorums"] if out["quorums"] and out[k] is not None else None
    for k in ("one_commit_count", "one_commit_set"):
        n = out[f"quorums_{k}"]
        out[f"share_full_{k}"] = out[f"full_{k}"] / n if n else None
    return out


def verification_failures(ds: Dataset, bucket_ms: Optional[int] = None) -> dict:
    """Chart 12. Rejected reveals per bucket: those this node's own verification rejected
    (`verification` by self) and those other nodes announced (inferenceRevealRejected), plus
    the reveals seen per bucket for scale."""
    lo, hi, b = _edges([ds], bucket_ms)
    t = _series(lo, hi, b)
    own, remote, reveals = [0] * len(t), [0] * len(t), [0] * len(t)

    def add(arr, ts):
        i = _bucket_index(ts, lo, b)
        if 0 <= i < len(arr):
            arr[i] += 1
    for v in ds.of("verification"):
        if not v.get("ok"):
            add(own if v.get("by") == "self" else remote, v["t"])
    for r in ds.of("reveal"):
        add(reveals, r["t"])
    return {"t": t, "bucket_ms": b, "own": own, "remote": remote, "reveals": reveals,
            "total_own": sum(own), "total_remote": sum(remote)}


# ---------------------------------------------------------------------- 13-15. embeddings, speed

def embedding_projection(ds: Dataset, max_requests: int = 6) -> dict:
    """Chart 13. The binary embeddings revealed for the `max_requests` requests with the most
    reveals, unpacked to bits and projected to 2-D with PCA (SVD of the centred bit matrix).
    Points are marked accepted when the node's consensus accepted that inference."""
    by_req: dict[str, list[dict]] = defaultdict(list)
    for r in ds.of("reveal"):
        if r.get("bEmbedding"):
            by_req[r["requestId"]].append(r)
    widths = Counter(len(r["bEmbedding"]) for rs in by_req.values() for r in rs)
    if not widths:
        return {"points": [], "requests": []}
    width = widths.most_common(1)[0][0]
    chosen = sorted(by_req, key=lambda k: (-len(by_req[k]), k))[:max_requests]
    accepted_ids = {i for c in ds.of("consensus") for i in c.get("accepted") or []}
    rows, meta = [], []
    for rid in chosen:
        for r in by_req[rid]:
            if len(r["bEmbedding"]) == width:
                rows.append(np.unpackbits(np.frombuffer(bytes.fromhex(r["bEmbedding"]), dtype=np.uint8)))
                meta.append((rid, r.get("inferenceId") in accepted_ids))
    if len(rows) < 2:
        return {"points": [], "requests": chosen}
    x = np.asarray(rows, dtype=float)
    x -= x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    xy = u[:, :2] * s[:2] if s.size >= 2 else np.column_stack([u[:, 0] * s[0], np.zeros(len(rows))])
    points = [{"x": float(a), "y": float(c), "requestId": rid, "accepted": ok}
              for (a, c), (rid, ok) in zip(xy, meta)]
    return {"points": points, "requests": chosen}


def cluster_distance_stats(ds: Dataset, coverage: float = 0.94) -> dict:
    """Chart 14. Per successful quorum: the mean distance of the winning cluster's members to its
    centre (`clusterDistance`; v1: Euclidean over packed bytes, v2: Hamming bits) against the
    commits this node held. `covering` = the distance within which `coverage` of the inferences
    lie from their quorum's centre (from `centreDistances` when recorded, else over the quorums'
    mean in-cluster distances)."""
    rows = [c for c in ds.of("consensus") if c.get("success") and c.get("clusterDistance") is not None]
    dists = [float(c["clusterDistance"]) for c in rows]
    pooled = [float(d) for c in rows for d in c.get("centreDistances") or []]
    basis = pooled or dists
    units = Counter(c.get("distanceUnit") for c in rows)
    return {"distances": dists, "commits": [c.get("committed") or 0 for c in rows],
            "unit": units.most_common(1)[0][0] if units else None, "coverage": coverage,
            "covering": float(np.quantile(basis, coverage)) if basis else None,
            "covering_basis": "inferences" if pooled else "quorums",
            "mean": float(np.mean(dists)) if dists else None}


def tokens_per_second(ds: Dataset, bucket_ms: Optional[int] = None) -> dict:
    """Chart 15. This node's tokens/s: one point per inference it finished (`worker` samples with
    tokensPerSecond = tokens / inference time), and per bucket their mean; against the network
    request rate = requests first seen per minute in the bucket."""
    lo, hi, b = _edges([ds], bucket_ms)
    t = _series(lo, hi, b)
    samples = [(w["t"], float(w["tokensPerSecond"])) for w in ds.of("worker") if w.get("tokensPerSecond") is not None]
    sums, counts, reqs = [0.0] * len(t), [0] * len(t), [0] * len(t)
    for ts, v in samples:
        i = _bucket_index(ts, lo, b)
        if 0 <= i < len(t):
            sums[i] += v
            counts[i] += 1
    for ts in requests_seen(ds).values():
        i = _bucket_index(ts, lo, b)
        if 0 <= i < len(t):
            reqs[i] += 1
    return {"t": t, "bucket_ms": b, "samples": samples,
            "tps_mean": [s / c if c else None for s, c in zip(sums, counts)],
            "requests_per_min": [n * 60_000 / b for n in reqs],
            "mean_tps": float(np.mean([v for _, v in samples])) if samples else None}


# ---------------------------------------------------------------------- headline

def _duration(ms: int) -> str:
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.1f} s"


def headline(datasets: Sequence[Dataset]) -> list[dict]:
    """The headline-figures table: our value (first dataset; divergence needs two) next to the test's."""
    ds = datasets[0]
    lo, hi = ds.span()
    vis, eff, cons = visitor_shares(ds), traffic_efficiency(ds), consensus_outcomes(ds)
    nodes, tok, wrk = node_counts(ds), tokens_over_time(ds), workers_run(ds)
    dist = cluster_distance_stats(ds)
    rows = [
        ("duration", _duration(hi - lo), "~1 month"),
        ("nodes heard from", nodes["distinct_nodes"], "~2,000"),
        ("tokens seen / reported by peers", f"{tok['total_seen']:.0f} / {tok['total_reported']:.0f}", "~10 M at the report"),
        ("AI workers run (peers' reported + own)", wrk["total"], ">1,000"),
        ("visitors who sent a request (%)", vis["share_requesting"], "just over 25%"),
        ("visitors who ran workers (%)", vis["share_working"], "over 15%"),
        ("packets kept", len(ds.of("packet")), "last 5,000"),
        ("bytes per token", eff["bytes_per_token"], "~23 B/token"),
        ("tokens per packet", eff["tokens_per_packet"], "~300"),
        ("quorums counted (≥2 published results)", cons["quorums"], ""),
        ("full (100%) agreement (%)", cons["share_full"], "27.7%"),
        ("majority (>50%) agreement (%)", cons["share_majority"], "~49.3%"),
        ("corrected for commit counts, per publisher (%)", cons["share_same_commit_count"], "82.75%"),
        ("corrected for identical commit sets, per publisher (%)", cons["share_same_commit_set"], "85.8%"),
        (f"full agreement, quorums with one commit count ({cons['quorums_one_commit_count'] or 0}) (%)",
         cons["share_full_one_commit_count"], "82.75% (if read this way)"),
        (f"full agreement, quorums with one commit set ({cons['quorums_one_commit_set'] or 0}) (%)",
         cons["share_full_one_commit_set"], "85.8% (if read this way)"),
        (f"distance covering {dist['coverage']:.0%} of inferences ({dist['unit'] or '-'})", dist["covering"], "720 (v1 metric)"),
    ]
    if len(datasets) >= 2:
        d = divergence(datasets[0], datasets[1])
        at = next(i for i, r in enumerate(rows) if r[0] == "packets kept") + 1     # the test's order
        rows.insert(at, ("requests seen by one observer only (%)", d["requests"]["share"], "~5%"))
        rows.insert(at + 1, ("results seen by one observer only (%)", d["results"]["share"], "~5%"))
    return [{"figure": f, "value": v, "test": tv, "percent": f.endswith("(%)")} for f, v, tv in rows]
