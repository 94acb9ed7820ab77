"""Builders of outgoing packets: plain dicts in v1's field order (v1 spec §4).

Key order matters because the signature covers `js_stringify(packet)`: building fields in the
order v1 builds them gives byte-identical packets to a v1 node's for the same values. Builders
read no clock: `created_at` is a `timefmt.format_js_date` string supplied by the caller. Optional
v2 fields are appended after v1's fields, and only when given (a v1 node ignores them).

Typed arrays: v1 signs and sends `Float32Array`/`Uint8Array` values, which `JSON.stringify`
turns into index-keyed objects; `v1_typed_arrays=True` reproduces that shape, the default sends
plain lists (every receiver accepts both).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from .canonical import float32_array_object

__all__ = [
    "NOMIC_EMBEDDING_MODEL", "PEER_STATUS_FIELDS", "uint8_array_object", "chain_identity",
    "known_peer_entry", "security_frame", "reject_reason_threshold",
    "reject_reason_hash_mismatch", "peer_status_update", "peer_heart", "peer_info",
    "peer_connected_chain", "known_peers", "p2p_inference_request", "inference_commit",
    "inference_reveal_request", "inference_reveal", "inference_reveal_rejected",
    "inference_quorum_computed", "inference_reveal_missing",
]

NOMIC_EMBEDDING_MODEL = "nomic-ai/nomic-embed-text-v1.5"

# peerStatusUpdate: fields of each status, in v1's order; None marks where createdAt goes.
PEER_STATUS_FIELDS: dict[str, tuple[Optional[str], ...]] = {
    "boot": ("totalTokens", None),
    "loaded_worker": ("totalWorkers", None, "modelName"),
    "inferencing": ("modelName", None),
    "completed_inference": ("modelName", "tps", "totalTokens", None),
    "computing_bEmbeddingHash": ("embeddingModels", None),
    "verifying quorum": ("requestId", None),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def uint8_array_object(data: bytes) -> dict[str, int]:
    """What `JSON.stringify(new Uint8Array(data))` describes: {"0": b0, "1": b1, ...}."""
    return {str(i): b for i, b in enumerate(bytes(data))}


def _bytes_field(data: bytes, v1_typed_arrays: bool) -> Any:
    return uint8_array_object(data) if v1_typed_arrays else list(bytes(data))


def _float32_list(values: Iterable[float]) -> list[float]:
    # Values as a Float32Array holds them, so both wire shapes carry the same numbers.
    return array("f", values).tolist()


def chain_identity(address: str, chain: str, signed_with_wallet: str,
                   synthient_id_signature: str) -> dict:
    """A ChainIdentity in the order v1's addChainIdentity builds it (v1 spec §2.5)."""
    return {"address": address, "chain": chain, "signedWithWallet": signed_with_wallet,
            "synthientIdSignature": synthient_id_signature}


def known_peer_entry(synthient_id: str, total_workers: float, total_tokens: float,
                     last_seen: str, seen_on: Sequence[str],
                     identities: Optional[Sequence[Mapping]] = None) -> dict:
    """One knownPeers entry (v1 spec §4.5/§11); `identities` is left out when None."""
    entry: dict[str, Any] = {"synthientId": synthient_id}
    if identities is not None:
        entry["identities"] = [dict(i) for i in identities]
    entry["totalWorkers"] = total_workers
    entry["totalTokens"] = total_tokens
    entry["lastSeen"] = last_seen
    entry["seenOn"] = list(seen_on)
    return entry


def security_frame(quorum: int, max_time_ms: int, sec_distance: float, sec_percentage: float,
                   embedding_model: str = NOMIC_EMBEDDING_MODEL, *,
                   protocol: Optional[int] = None, reveal_window_ms: Optional[int] = None,
                   consensus_window_ms: Optional[int] = None,
                   commit_grace_ms: Optional[int] = None, bit_tolerance: Optional[int] = None,
                   embedding_model_hash: Optional[str] = None,
                   publishers: Optional[int] = None, max_commits: Optional[int] = None) -> dict:
    """securityFrame of a request; the keyword-only v2 fields are included when not None."""
    frame: dict[str, Any] = {"quorum": quorum, "maxTimeMs": max_time_ms,
                             "secDistance": sec_distance, "secPercentage": sec_percentage,
                             "embeddingModel": embedding_model}
    for name, value in (("protocol", protocol), ("revealWindowMs", reveal_window_ms),
                        ("consensusWindowMs", consensus_window_ms),
                        ("commitGraceMs", commit_grace_ms), ("bitTolerance", bit_tolerance),
                        ("embeddingModelHash", embedding_model_hash),
                        ("publishers", publishers), ("maxCommits", max_commits)):
        if value is not None:
            frame[name] = value
    return frame


def reject_reason_threshold(computed_b_embedding: bytes, revealed_b_embedding: bytes,
                            v1_typed_arrays: bool = False) -> dict:
    return {"type": "computed_bembedding_fails_threshold",
            "computedBEmbedding": _bytes_field(computed_b_embedding, v1_typed_arrays),
            "revealedBEmbedding": _bytes_field(revealed_b_embedding, v1_typed_arrays)}


def reject_reason_hash_mismatch(computed_b_embedding_hash: str, revealed_b_embedding_hash: str,
                                revealed_b_embedding: bytes,
                                v1_typed_arrays: bool = False) -> dict:
    # order as built at consensus-core.ts:128-133
    return {"type": "bembedding_hash_mismatch",
            "computedBEmbeddingHash": computed_b_embedding_hash,
            "revealedBEmbeddingHash": revealed_b_embedding_hash,
            "revealedBEmbedding": _bytes_field(revealed_b_embedding, v1_typed_arrays)}


# --- packets ------------------------------------------------------------------------------

def peer_status_update(status: str, created_at: str, **fields: Any) -> dict:
    """peerStatusUpdate; `fields` in snake_case (total_tokens, total_workers, model_name, tps,
    embedding_models, request_id). Known statuses take exactly their v1 fields, in v1 order;
    another status gets the given fields in the given order before createdAt."""
    given = {_camel(k): v for k, v in fields.items()}
    packet: dict[str, Any] = {"type": "peerStatusUpdate", "status": status}
    order = PEER_STATUS_FIELDS.get(status)
    if order is None:
        packet.update(given)
        packet["createdAt"] = created_at
        return packet
    expected = {f for f in order if f is not None}
    if set(given) != expected:
        raise TypeError(f"status {status!r} takes exactly {sorted(expected)}, got {sorted(given)}")
    for name in order:
        if name is None:
            packet["createdAt"] = created_at
        else:
            value = given[name]
            packet[name] = list(value) if name == "embeddingModels" else value
    return packet


def peer_heart(window_x: float, window_y: float, created_at: str) -> dict:
    return {"type": "peerHeart", "windowX": window_x, "windowY": window_y,
            "createdAt": created_at}


def peer_info(device_info: str, created_at: str) -> dict:
    return {"type": "peerInfo", "deviceInfo": device_info, "createdAt": created_at}


def peer_connected_chain(identities: Sequence[Mapping], created_at: str) -> dict:
    return {"type": "peerConnectedChain", "createdAt": created_at,
            "identities": [dict(i) for i in identities]}


def known_peers(peer_list: Sequence[Mapping], created_at: str) -> dict:
    """knownPeers; entries as made by `known_peer_entry`."""
    return {"type": "knownPeers", "peerList": [dict(p) for p in peer_list],
            "createdAt": created_at}


def p2p_inference_request(request_id: str, prompt: str, accepted_models: Sequence[str],
                          security_frame: Mapping, created_at: str, *,
                          from_chain: str = "rakis", block_number: int = 0,
                          temperature: float = 1, max_tokens: int = 2048,
                          payload_created_at: Optional[str] = None) -> dict:
    """p2pInferenceRequest; defaults are v1's UI values (v1 spec §8). The payload's createdAt
    (the basis of the request deadline) defaults to the packet's."""
    payload = {"fromChain": from_chain, "blockNumber": block_number,
               "createdAt": created_at if payload_created_at is None else payload_created_at,
               "prompt": prompt, "acceptedModels": list(accepted_models),
               "temperature": temperature, "maxTokens": max_tokens,
               "securityFrame": dict(security_frame)}
    return {"type": "p2pInferenceRequest", "requestId": request_id, "payload": payload,
            "createdAt": created_at}


def inference_commit(b_embedding_hash: str, request_id: str, inference_id: str,
                     created_at: str) -> dict:
    return {"type": "inferenceCommit", "bEmbeddingHash": b_embedding_hash,
            "requestId": request_id, "inferenceId": inference_id, "createdAt": created_at}


def _quorum_entry(entry: Any) -> dict:
    """A commit as {inferenceId, synthientId, bEmbeddingHash}, from a camelCase mapping or an
    object with snake_case attributes (e.g. consensus.CommitEntry)."""
    if isinstance(entry, Mapping):
        return {"inferenceId": entry["inferenceId"], "synthientId": entry["synthientId"],
                "bEmbeddingHash": entry["bEmbeddingHash"]}
    return {"inferenceId": entry.inference_id, "synthientId": entry.synthient_id,
            "bEmbeddingHash": entry.b_embedding_hash}


def inference_reveal_request(request_id: str, quorum_entries: Iterable[Any], timeout_ms: int,
                             created_at: str, protocol: Optional[int] = None,
                             rank: Optional[int] = None) -> dict:
    packet: dict[str, Any] = {"createdAt": created_at, "type": "inferenceRevealRequest",
                              "requestId": request_id,
                              "quorum": [_quorum_entry(e) for e in quorum_entries],
                              "timeoutMs": timeout_ms}
    if protocol is not None:
        packet["protocol"] = protocol
    if rank is not None:
        packet["rank"] = rank
    return packet


def inference_reveal(requested_synthient_id: str, request_id: str, inference_id: str,
                     output: str, b_embedding: bytes, embedding: Optional[Iterable[float]],
                     created_at: str, v1_typed_arrays: bool = False) -> dict:
    """inferenceReveal. v1 shape: typed arrays as index-keyed objects (a v1 reveal always has
    the float embedding). Default (v2) shape: plain lists; `embedding` left out when None."""
    packet: dict[str, Any] = {"createdAt": created_at, "type": "inferenceReveal",
                              "requestedSynthientId": requested_synthient_id,
                              "requestId": request_id, "inferenceId": inference_id,
                              "output": output}
    if embedding is not None:
        packet["embedding"] = (float32_array_object(embedding) if v1_typed_arrays
                               else _float32_list(embedding))
    elif v1_typed_arrays:
        raise ValueError("a v1-shaped reveal needs the float embedding")
    packet["bEmbedding"] = _bytes_field(b_embedding, v1_typed_arrays)
    return packet


def inference_reveal_rejected(request_id: str, inference_id: str, reject_reason: Mapping,
                              created_at: str) -> dict:
    """inferenceRevealRejected; `reject_reason` from `reject_reason_threshold` or
    `reject_reason_hash_mismatch`."""
    return {"createdAt": created_at, "type": "inferenceRevealRejected",
            "requestId": request_id, "inferenceId": inference_id,
            "rejectReason": dict(reject_reason)}


def inference_quorum_computed(request_id: str, verified_by: str,
                              submitted_inference_ids: Iterable[str],
                              valid_inference_ids: Iterable[str],
                              valid_inference_joint_hash: str, output: str,
                              from_synthient_id: str, b_embedding_hash: str, created_at: str,
                              protocol: Optional[int] = None,
                              commit_set_hash: Optional[str] = None) -> dict:
    """inferenceQuorumComputed (consensus-core.ts:285-302 order); output/from_synthient_id/
    b_embedding_hash describe the winning inference (validSingleInference)."""
    packet: dict[str, Any] = {
        "type": "inferenceQuorumComputed", "createdAt": created_at, "requestId": request_id,
        "verifiedBy": verified_by,
        "submittedInferences": [{"inferenceId": i} for i in submitted_inference_ids],
        "validInferences": [{"inferenceId": i} for i in valid_inference_ids],
        "validInferenceJointHash": valid_inference_joint_hash,
        "validSingleInference": {"output": output, "fromSynthientId": from_synthient_id,
                                 "bEmbeddingHash": b_embedding_hash},
    }
    if protocol is not None:
        packet["protocol"] = protocol
    if commit_set_hash is not None:
        packet["commitSetHash"] = commit_set_hash
    return packet


def inference_reveal_missing(request_id: str, inference_ids: Iterable[str],
                             created_at: str, commit_set_hash: Optional[str] = None) -> dict:
    """v2 inferenceRevealMissing: ask holders to re-send these inferences' signed reveals.
    `commitSetHash`: the set the asker follows (a holder of another set re-sends its set)."""
    packet = {"type": "inferenceRevealMissing", "requestId": request_id,
              "inferenceIds": list(inference_ids), "createdAt": created_at}
    if commit_set_hash is not None:
        packet["commitSetHash"] = commit_set_hash
    return packet
