"""Events the node accepts. Plain frozen dataclasses: adapters build them, the core reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "Event", "PacketReceived", "Booted", "TimerFired", "RequestSubmitted", "WorkerStatus",
    "InferenceFinished", "InferenceFailed", "EmbeddingFinished", "EmbeddingFailed",
]


@dataclass(frozen=True)
class PacketReceived:
    """An envelope arrived on a channel. `data` is untrusted: bytes/str JSON, a parsed dict, or an
    `Envelope` an adapter already decoded with `packets.decode_envelope` (the simulator shares one
    decode between receivers). `size` is the encoded size in bytes when the adapter knows it."""

    data: Any
    channel: str
    received_at: int
    size: Optional[int] = None


@dataclass(frozen=True)
class Booted:
    """The node is up (first start or after a restore): it announces itself (v1 `boot` status)."""


@dataclass(frozen=True)
class TimerFired:
    timer_id: str


@dataclass(frozen=True)
class RequestSubmitted:
    """The local user asks the network for an inference. `protocol` 2 (default) or 1 (v1 rules)."""

    prompt: str
    accepted_models: tuple[str, ...]
    quorum: int = 1
    sec_percentage: float = 0.5
    sec_distance: Optional[float] = None      # bits for v2; None = protocol default
    max_time_ms: int = 30_000
    temperature: float = 1.0
    max_tokens: int = 64                      # the page's form default: fits the 30 s window on WASM
    protocol: int = 2
    security_extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # extra frame fields


@dataclass(frozen=True)
class WorkerStatus:
    """A model worker changed state. kind: "llm" | "embedding"; state: "loading" | "ready" |
    "failed" | "gone". Busy/free is tracked by the node from the jobs it hands out.
    `model_hash`: sha256 (hex) of the model file the worker runs, when it reports one; an
    embedder whose hash differs from the `embeddingModelHash` a request's security frame names
    is not used for that request (the node follows it)."""

    worker_id: str
    kind: str
    model: str
    state: str
    backend: str = ""
    detail: str = ""
    model_hash: Optional[str] = None


@dataclass(frozen=True)
class InferenceFinished:
    job_id: str
    output: str
    token_count: int
    started_at: int
    completed_at: int


@dataclass(frozen=True)
class InferenceFailed:
    job_id: str
    error: str


@dataclass(frozen=True)
class EmbeddingFinished:
    """Binary embeddings (sign bits packed MSB-first, like numpy.packbits(v > 0)), one per text."""

    job_id: str
    bembeddings: tuple[bytes, ...]
    embeddings: Optional[tuple] = None     # float vectors, only needed to send v1-shaped reveals


@dataclass(frozen=True)
class EmbeddingFailed:
    job_id: str
    error: str


Event = (PacketReceived | Booted | TimerFired | RequestSubmitted | WorkerStatus | InferenceFinished
         | InferenceFailed | EmbeddingFinished | EmbeddingFailed)
