"""Packets in the exact shape v1 sends them (spec §4 field orders, typed arrays as index-keyed
objects), written out by hand, not by our builders, so tests compare the two."""

from __future__ import annotations

import random
import struct

CREATED = "2024-07-25T21:17:41.123+08:00"
SID_A = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
SID_B = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
HASH_1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HASH_2 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
MODEL = "gemma-2b-it-q4f16_1"
NOMIC = "nomic-ai/nomic-embed-text-v1.5"


def float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def embedding_768(seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [float32(rng.gauss(0, 0.05)) for _ in range(768)]


def bembedding_96(seed: int = 7) -> bytes:
    return bytes(random.Random(seed).randrange(256) for _ in range(96))


def index_keyed(values) -> dict:
    return {str(i): v for i, v in enumerate(values)}


def v1_packets() -> dict[str, dict]:
    """One v1-shaped packet per variant, keyed by a short name."""
    emb, bemb = embedding_768(), bembedding_96()
    return {
        "status_boot": {"type": "peerStatusUpdate", "status": "boot", "totalTokens": 1234,
                        "createdAt": CREATED},
        "status_loaded_worker": {"type": "peerStatusUpdate", "status": "loaded_worker",
                                 "totalWorkers": 2, "createdAt": CREATED, "modelName": MODEL},
        "status_inferencing": {"type": "peerStatusUpdate", "status": "inferencing",
                               "modelName": MODEL, "createdAt": CREATED},
        "status_completed": {"type": "peerStatusUpdate", "status": "completed_inference",
                             "modelName": MODEL, "tps": 12.345678901234567, "totalTokens": 99,
                             "createdAt": CREATED},
        "status_embedding": {"type": "peerStatusUpdate", "status": "computing_bEmbeddingHash",
                             "embeddingModels": [NOMIC], "createdAt": CREATED},
        "peer_heart": {"type": "peerHeart", "windowX": 0.5, "windowY": 0.25, "createdAt": CREATED},
        "peer_info": {"type": "peerInfo", "deviceInfo": "Mozilla/5.0 (X11; Linux x86_64)",
                      "createdAt": CREATED},
        "peer_connected_chain": {"type": "peerConnectedChain", "createdAt": CREATED,
                                 "identities": [{"address": "0x" + "ab" * 20, "chain": "Ethereum",
                                                 "signedWithWallet": "MetaMask",
                                                 "synthientIdSignature": "0x" + "cd" * 65}]},
        "known_peers": {"type": "knownPeers", "peerList": [
            {"synthientId": SID_A, "identities": [], "totalWorkers": 2, "totalTokens": 5000,
             "lastSeen": CREATED, "seenOn": ["nostr", "torrent"]},
            # a gossip-only peer: v1's NaN totals arrive as null
            {"synthientId": SID_B, "totalWorkers": None, "totalTokens": 0,
             "lastSeen": "2024-07-25T13:17:41.123+00:00", "seenOn": []},
        ], "createdAt": CREATED},
        "p2p_request": {"type": "p2pInferenceRequest", "requestId": "AbCdEfGhIj", "payload": {
            "fromChain": "rakis", "blockNumber": 0, "createdAt": CREATED,
            "prompt": "Write a haiku about consensus.", "acceptedModels": [MODEL],
            "temperature": 1, "maxTokens": 2048,
            "securityFrame": {"quorum": 3, "maxTimeMs": 30000, "secDistance": 4500,
                              "secPercentage": 0.5, "embeddingModel": NOMIC}},
            "createdAt": CREATED},
        "commit": {"type": "inferenceCommit", "bEmbeddingHash": HASH_1, "requestId": "AbCdEfGhIj",
                   "inferenceId": "AbCdEfGhIj.xYzAbC", "createdAt": CREATED},
        "reveal_request": {"createdAt": CREATED, "type": "inferenceRevealRequest",
                           "requestId": "AbCdEfGhIj",
                           "quorum": [{"inferenceId": "AbCdEfGhIj.xYzAbC", "synthientId": SID_A,
                                       "bEmbeddingHash": HASH_1},
                                      {"inferenceId": "AbCdEfGhIj.QqQqQq", "synthientId": SID_B,
                                       "bEmbeddingHash": HASH_2}],
                           "timeoutMs": 35000},
        "reveal": {"createdAt": CREATED, "type": "inferenceReveal", "requestedSynthientId": SID_B,
                   "requestId": "AbCdEfGhIj", "inferenceId": "AbCdEfGhIj.xYzAbC",
                   "output": "Nodes agree in light —\nhashes fall like autumn leaves\n“ünïcødé” 🍂",
                   "embedding": index_keyed(emb), "bEmbedding": index_keyed(bemb)},
        "reveal_rejected_threshold": {
            "createdAt": CREATED, "type": "inferenceRevealRejected", "requestId": "AbCdEfGhIj",
            "inferenceId": "AbCdEfGhIj.QqQqQq",
            "rejectReason": {"type": "computed_bembedding_fails_threshold",
                             "computedBEmbedding": index_keyed(bemb),
                             "revealedBEmbedding": index_keyed(bembedding_96(8))}},
        "reveal_rejected_hash": {
            "createdAt": CREATED, "type": "inferenceRevealRejected", "requestId": "AbCdEfGhIj",
            "inferenceId": "AbCdEfGhIj.QqQqQq",
            "rejectReason": {"type": "bembedding_hash_mismatch", "computedBEmbeddingHash": HASH_1,
                             "revealedBEmbeddingHash": HASH_2,
                             "revealedBEmbedding": index_keyed(bemb)}},
        "quorum_computed": {"type": "inferenceQuorumComputed", "createdAt": CREATED,
                            "requestId": "AbCdEfGhIj", "verifiedBy": SID_A,
                            "submittedInferences": [{"inferenceId": "AbCdEfGhIj.xYzAbC"},
                                                    {"inferenceId": "AbCdEfGhIj.QqQqQq"}],
                            "validInferences": [{"inferenceId": "AbCdEfGhIj.xYzAbC"}],
                            "validInferenceJointHash": HASH_2,
                            "validSingleInference": {"output": "Nodes agree in light",
                                                     "fromSynthientId": SID_A,
                                                     "bEmbeddingHash": HASH_1}},
    }


def v2_packets() -> dict[str, dict]:
    """Packets using the v2 additions (docs/core-api.md)."""
    return {
        "v2_request": {"type": "p2pInferenceRequest", "requestId": "v2req", "payload": {
            "fromChain": "rakis", "blockNumber": 0, "createdAt": CREATED, "prompt": "hi",
            "acceptedModels": [MODEL, "other-model"], "temperature": 0.7, "maxTokens": 256,
            "securityFrame": {"quorum": 5, "maxTimeMs": 20000, "secDistance": 40,
                              "secPercentage": 0.6, "embeddingModel": NOMIC, "protocol": 2,
                              "revealWindowMs": 8000, "consensusWindowMs": 6000,
                              "commitGraceMs": 1500, "bitTolerance": 12,
                              "embeddingModelHash": HASH_1, "publishers": 3}},
            "createdAt": CREATED},
        "v2_reveal_request": {"createdAt": CREATED, "type": "inferenceRevealRequest",
                              "requestId": "v2req",
                              "quorum": [{"inferenceId": "v2req.aaaaaa", "synthientId": SID_A,
                                          "bEmbeddingHash": HASH_1}],
                              "timeoutMs": 8000, "protocol": 2, "rank": 1},
        "v2_reveal": {"createdAt": CREATED, "type": "inferenceReveal", "requestedSynthientId": SID_B,
                      "requestId": "v2req", "inferenceId": "v2req.aaaaaa", "output": "ok",
                      "bEmbedding": list(bembedding_96(3))},
        "v2_quorum_computed": {"type": "inferenceQuorumComputed", "createdAt": CREATED,
                               "requestId": "v2req", "verifiedBy": SID_A,
                               "submittedInferences": [{"inferenceId": "v2req.aaaaaa"}],
                               "validInferences": [{"inferenceId": "v2req.aaaaaa"}],
                               "validInferenceJointHash": HASH_2,
                               "validSingleInference": {"output": "ok", "fromSynthientId": SID_A,
                                                        "bEmbeddingHash": HASH_1},
                               "protocol": 2, "commitSetHash": HASH_1},
        "v2_reveal_missing": {"type": "inferenceRevealMissing", "requestId": "v2req",
                              "inferenceIds": ["v2req.aaaaaa", "v2req.bbbbbb"],
                              "createdAt": CREATED},
    }


def envelope(packet: dict, sid: str = SID_A, sig: str = "ab" * 64) -> dict:
    return {"synthientId": sid, "signature": sig, "packet": packet}
