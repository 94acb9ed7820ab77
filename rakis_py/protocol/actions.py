"""Actions the node returns. The adapter carries them out (send, run a model, store, arm a timer)
and hands the notices (notices.py) to whoever listens (UI, metrics, the dataset recorder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .notices import Notice
from .packets import Envelope

__all__ = ["Action", "CancelTimer", "Persist", "RunEmbedding", "RunInference", "Send", "SetTimer"]


@dataclass(frozen=True)
class Send:
    """Send a signed envelope. `to` None = everyone on every live channel; else those peers only
    (an adapter without addressing may broadcast: receivers filter)."""

    envelope: dict
    to: Optional[tuple[str, ...]] = None
    # Our own packet as the node decoded it (the typed model it acted on): an adapter that decodes
    # what it sends for its receivers (the simulator) can use it instead of decoding again.
    decoded: Optional[Envelope] = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RunInference:
    job_id: str
    worker_id: str
    model: str
    prompt: str
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class RunEmbedding:
    job_id: str
    worker_id: str
    model: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Persist:
    """Write `record` under (table, key); record None deletes. Tables: see runtime/storage.py."""

    table: str
    key: str
    record: Optional[dict]


@dataclass(frozen=True)
class SetTimer:
    """Fire TimerFired(timer_id) at `at` (ms). Setting an id again replaces the earlier timer."""

    timer_id: str
    at: int


@dataclass(frozen=True)
class CancelTimer:
    timer_id: str


Action = Send | RunInference | RunEmbedding | Persist | SetTimer | CancelTimer | Notice
"""What `Node.handle` returns: the six commands above, and notices (notices.py) of what happened."""
