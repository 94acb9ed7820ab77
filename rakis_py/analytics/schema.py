"""The dataset schema `rakis-dataset/1`: what ONE node records, shared by the browser and the simulator.

A dataset is JSON Lines: one JSON object per line, each with a `kind`. The first line is `meta`.
Times `t` are int ms since the Unix epoch (virtual ms in the simulator). Fields marked optional may
be absent or null. docs/dataset.md explains every kind and field; `FIELDS` below is the machine
form of the same table (tests check that the two agree).

Only the standard library is imported here, so the browser can use it under Pyodide.
"""

from __future__ import annotations

from typing import Any, Mapping

SCHEMA = "rakis-dataset/1"
SIM_V0 = "rakis-dataset/0"      # the simulator's provisional network-wide format (read-only here)

# kind -> {field: (type, required, description)}. Types: int, float, str, bool, list, dict, any.
FIELDS: dict[str, dict[str, tuple[str, bool, str]]] = {
    "meta": {
        "schema": ("str", True, "always rakis-dataset/1"),
        "node": ("str", True, "synthientId of the recording node"),
        "runtime": ("str", True, "browser | sim | cpython"),
        "started": ("int", True, "ms when recording started"),
        "protocol": ("dict", False, "protocol defaults of the node (quorum, windows, embedding model)"),
        "retention": ("dict", False, "the retention limits in force (see Retention)"),
        "software": ("str", False, "rakis_py version or build id"),
        "source": ("dict", False, "set by the reader when a file was adapted (e.g. from rakis-dataset/0)"),
    },
    "packet": {
        "t": ("int", True, "receive time"),
        "from": ("str", False, "sender synthientId (null when the envelope did not decode)"),
        "type": ("str", False, "packet type"),
        "channel": ("str", True, "delivering channel (nostr, torrent, gun, nkn, mqtt, ...)"),
        "size": ("int", False, "encoded size in bytes"),
        "outcome": ("str", True, "accepted | duplicate | own_echo | <RejectCode value>"),
        "requestId": ("str", False, "requestId the packet refers to"),
        "createdAt": ("int", False, "sender's createdAt (accepted packets)"),
        "tokens": ("int", False, "tokens carried (reveals: estimated from the output text)"),
    },
    "sent": {
        "t": ("int", True, "send time"),
        "type": ("str", True, "packet type"),
        "requestId": ("str", False, "requestId the packet refers to"),
        "size": ("int", True, "encoded size in bytes (UTF-8 of the JSON envelope)"),
        "to": ("int", False, "number of addressed peers (null = broadcast)"),
    },
    "peer": {
        "t": ("int", True, "sample time"),
        "synthientId": ("str", True, "the peer"),
        "seenOn": ("list", False, "channels the peer was heard on"),
        "totalTokens": ("int", False, "tokens the peer reports having inferred"),
        "totalWorkers": ("int", False, "AI workers the peer reports"),
        "chainIds": ("list", False, "claimed chain identities [{chain, address}]"),
        "direct": ("bool", False, "heard from the peer itself, not only through gossip"),
    },
    "request": {
        "t": ("int", True, "time of the state change"),
        "requestId": ("str", True, "request"),
        "state": ("str", True, "requested | inferring | inferred | inference_failed | done | failed"),
        "fromSynthientId": ("str", False, "requester (state requested)"),
        "endingAt": ("int", False, "commit deadline (state requested)"),
        "protocol": ("int", False, "1 or 2 (state requested)"),
        "tokens": ("int", False, "tokens of our inference (state inferred)"),
        "workerId": ("str", False, "worker (inferring/inferred)"),
        "reason": ("str", False, "why it failed"),
    },
    "commit": {
        "t": ("int", True, "time the commit was taken into the quorum"),
        "requestId": ("str", True, "request"),
        "synthientId": ("str", True, "committer"),
        "committed": ("int", False, "commits this node holds for the request after this one"),
    },
    "reveal": {
        "t": ("int", True, "time the reveal was stored"),
        "requestId": ("str", True, "request"),
        "synthientId": ("str", True, "revealer"),
        "revealed": ("int", False, "reveals held for the request after this one"),
        "inferenceId": ("str", False, "inference"),
        "bEmbedding": ("str", False, "revealed binary embedding, hex (for the embedding-space chart)"),
        "tokens": ("int", False, "estimated tokens of the revealed output"),
    },
    "verification": {
        "t": ("int", True, "time"),
        "requestId": ("str", True, "request"),
        "synthientId": ("str", False, "node whose reveal was checked"),
        "inferenceId": ("str", False, "inference checked"),
        "ok": ("bool", True, "false = the reveal was rejected"),
        "reason": ("str", False, "rejection reason"),
        "by": ("str", True, "'self' (our consensus) or the synthientId that sent inferenceRevealRejected"),
    },
    "consensus": {
        "t": ("int", True, "time our consensus finished"),
        "requestId": ("str", True, "request"),
        "success": ("bool", True, "a winner was chosen"),
        "reason": ("str", False, "success | did_not_reach_threshold_after_prune | no_clusters_found_of_needed_size | ..."),
        "failure": ("str", False, "failing phase"),
        "protocol": ("int", False, "1 or 2"),
        "jointHash": ("str", False, "validInferenceJointHash"),
        "accepted": ("list", False, "accepted inferenceIds"),
        "winner": ("str", False, "bEmbeddingHash of the winning inference"),
        "commitSetHash": ("str", False, "v2 agreed commit set hash"),
        "committed": ("int", False, "commits this node held for the request"),
        "revealed": ("int", False, "reveals this node held"),
        "rejected": ("int", False, "reveals our verification rejected"),
        "clusterSize": ("int", False, "size of the winning cluster"),
        "clusterDistance": ("float", False, "mean distance of the cluster members to its centre"),
        "centreDistances": ("list", False, "distance of every verified reveal to the centre"),
        "distanceUnit": ("str", False, "v1-euclid-bytes | bits"),
    },
    "published": {
        "t": ("int", True, "time the published result (inferenceQuorumComputed) was seen or sent"),
        "requestId": ("str", True, "request"),
        "verifiedBy": ("str", True, "publisher"),
        "own": ("bool", True, "true for the result this node published"),
        "bEmbeddingHash": ("str", False, "winner's bEmbeddingHash"),
        "jointHash": ("str", False, "validInferenceJointHash"),
        "submitted": ("int", False, "number of submittedInferences (commits the publisher used)"),
        "submittedHash": ("str", False, "sha256 of the sorted submitted inferenceIds (commit-set identity)"),
        "valid": ("int", False, "number of validInferences"),
        "commitSetHash": ("str", False, "v2 agreed commit set hash"),
        "agree": ("int", False, "published results agreeing with ours (node's count at that time)"),
        "disagree": ("int", False, "published results disagreeing"),
    },
    "worker": {
        "t": ("int", True, "sample time"),
        "workerId": ("str", True, "worker"),
        "workerKind": ("str", False, "llm | embedding"),
        "model": ("str", False, "model"),
        "backend": ("str", False, "webgpu | wasm | sim ..."),
        "state": ("str", False, "loading | ready | busy | error | gone"),
        "tokensPerSecond": ("float", False, "tokens/s of the inference that just finished"),
        "tokens": ("int", False, "tokens of that inference"),
    },
}

KINDS = tuple(FIELDS)
# Kinds whose volume grows with traffic, not with requests: kept for a shorter span by default.
RAW_KINDS = ("packet", "sent")


def new_record(kind: str, **fields: Any) -> dict:
    """A record of `kind` with the known fields only (unknown ones are dropped, None kept out)."""
    spec = FIELDS[kind]
    rec: dict = {"kind": kind}
    for name, value in fields.items():
        if name in spec and value is not None:
            rec[name] = value
    return rec


def problems(record: Mapping[str, Any]) -> list[str]:
    """What is wrong with a record (empty list = valid). Unknown kinds are reported, extra fields not."""
    kind = record.get("kind")
    if kind not in FIELDS:
        return [f"unknown kind {kind!r}"]
    out = []
    for name, (typ, required, _doc) in FIELDS[kind].items():
        if name not in record or record[name] is None:
            if required:
                out.append(f"{kind}: missing {name}")
            continue
        if not _type_ok(record[name], typ):
            out.append(f"{kind}.{name}: expected {typ}, got {type(record[name]).__name__}")
    return out


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "any":
        return True
    if typ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "bool": bool, "list": list, "dict": dict}[typ])
