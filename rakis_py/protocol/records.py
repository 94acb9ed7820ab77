"""The storage schema: the tables a node writes (v1 spec §9.1 names) and the shape of each record.

The node never writes storage itself: it returns `Persist(table, key, record | None)`. Every
record it builds is built here, and `Node.restore` reads them back through here, so the schema is
in one place. Records are JSON-able dicts (camelCase, times in int ms unless v1 stored a date string).

| table | key | record |
|---|---|---|
| `packets` | `synthientId:signature` | the envelope + receivedTime, deliveredThrough, size |
| `peers` | synthientId | `peers.PeerTable` records |
| `inferenceRequests` | requestId | `Request.record()` |
| `inferenceResults` | inferenceId | our inference: requestId, startedAt/completedAt (JS dates), result |
| `inferenceEmbeddings` | inferenceId | our result's binary embedding (hex) and its hash (+ v1 floats) |
| `quorums` | requestId | `quorum.Quorum.to_record()` |
| `consensusResults` | requestId | our consensus outcome and the packet we computed |
| `externalConsensusResults` | `requestId:verifiedBy` | a received inferenceQuorumComputed + receivedAt |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .quorum import Frame
from .timefmt import format_js_date

__all__ = ["DATA_TABLES", "Request", "consensus_record", "embedding_record", "external_key",
           "external_record", "packet_key", "packet_record", "result_record"]

DATA_TABLES: tuple[str, ...] = (
    "packets",
    "peers",
    "inferenceRequests",
    "inferenceResults",
    "inferenceEmbeddings",
    "quorums",
    "consensusResults",
    "externalConsensusResults",
)


@dataclass
class Request:
    """A request this node knows: who asked, the signed payload, its deadline and frame."""

    request_id: str
    from_id: str
    payload: dict
    ending_at: int
    fetched_at: int
    frame: Frame

    @property
    def accepted_models(self) -> list:
        return list(self.payload.get("acceptedModels") or [])

    def record(self) -> dict:
        return {"fromSynthientId": self.from_id, "requestId": self.request_id,
                "payload": self.payload, "endingAt": self.ending_at, "fetchedAt": self.fetched_at}

    @classmethod
    def from_record(cls, r: dict) -> "Request":
        return cls(r["requestId"], r["fromSynthientId"], r["payload"], r["endingAt"], r["fetchedAt"],
                   Frame.from_security_frame(r["payload"]["securityFrame"]))


def packet_key(synthient_id: str, signature: str) -> str:
    return f"{synthient_id}:{signature}"


def packet_record(envelope: dict, received_at: int, channel: str, size: Optional[int]) -> dict:
    return {**envelope, "receivedTime": received_at, "deliveredThrough": channel, "size": size}


def result_record(request_id: str, inference_id: str, started_at: int, completed_at: int,
                  output: Optional[str] = None, token_count: int = 0,
                  error: Optional[str] = None) -> dict:
    """Our inference's outcome: its output and token count, or (error given) the failure."""
    result = ({"success": False, "error": error} if error is not None
              else {"success": True, "result": output, "tokenCount": token_count})
    return {"requestId": request_id, "inferenceId": inference_id,
            "startedAt": format_js_date(started_at), "completedAt": format_js_date(completed_at),
            "result": result}


def embedding_record(inference_id: str, request_id: str, bits: bytes, b_embedding_hash: str,
                     floats: Optional[list] = None) -> dict:
    record = {"inferenceId": inference_id, "requestId": request_id,
              "bEmbedding": bits.hex(), "bEmbeddingHash": b_embedding_hash}
    if floats is not None:
        record["embedding"] = floats
    return record


def consensus_record(request_id: str, success: bool, reason: str, debug: dict, rejections: list,
                     packet: Optional[dict], computed_at: int, commit_set_hash: Optional[str],
                     protocol: int) -> dict:
    return {"requestId": request_id, "success": success, "reason": reason, "debug": debug,
            "rejections": rejections, "computedQuorumPacket": packet, "computedAt": computed_at,
            "commitSetHash": commit_set_hash, "protocol": protocol}


def external_key(request_id: str, verified_by: str) -> str:
    return f"{request_id}:{verified_by}"


def external_record(packet: dict, received_at: int) -> dict:
    return {**packet, "receivedAt": received_at}
