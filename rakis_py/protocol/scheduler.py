"""Which inference to run next, and in which order to embed (v1 spec §6.3 and §6.5). Pure functions.

Fixes over v1: any accepted model that has a free worker is run (v1 always ran
`acceptedModels[0]` and failed when only another accepted model was loaded, v1 spec §15.6); the
request's `temperature` and `maxTokens` are carried to the engine (v1 ignored them); the
embedding queue ages items so a low-priority item cannot be starved until it expires.

Items may be objects with attributes or dicts; snake_case names are read first, then the v1
camelCase ones (`requestId`, `endingAt`, `acceptedModels`, `maxTokens`, `expiresAt`).
"""

from __future__ import annotations

import math
import random
from typing import Any, Collection, Iterable, Mapping, NamedTuple, Sequence

__all__ = [
    "pick_inference", "embedding_queue_order", "embedding_class", "InferencePick",
    "sanitise_temperature", "sanitise_max_tokens",
]

DEFAULT_SIMILARITY_WINDOW_MS = 2000        # v1 requestSimilarityTimeWindowMs
DEFAULT_TEMPERATURE = 1.0                  # v1 UI default and engine constant
DEFAULT_MAX_TOKENS = 2048                  # v1 UI default and engine max_gen_len
MAX_TEMPERATURE = 2.0
DEFAULT_STARVATION_MS = 10_000             # embedding items waiting longer jump the queue


def _get(item: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(item, Mapping):
            if name in item:
                return item[name]
        elif hasattr(item, name):
            return getattr(item, name)
    return default


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


class InferencePick(NamedTuple):
    """What `pick_inference` chose: the request, the worker and model to run it on, and the
    generation parameters (sanitised, defaults filled in)."""

    request: Any
    worker_id: str
    model: str
    temperature: float
    max_tokens: int


def sanitise_temperature(value: Any) -> float:
    """Requested temperature clamped to [0, 2]; missing or not a finite number -> 1.0."""
    t = _number(value)
    if t is None:
        return DEFAULT_TEMPERATURE
    return float(min(max(t, 0.0), MAX_TEMPERATURE))


def sanitise_max_tokens(value: Any, cap: int = DEFAULT_MAX_TOKENS) -> int:
    """Requested token budget clamped to [1, cap]; missing or not a finite number -> cap."""
    n = _number(value)
    if n is None:
        return cap
    return int(min(max(n, 1), cap))


def pick_inference(
    requests: Iterable[Any],
    free_llm_workers: Mapping[str, str],
    now: int,
    rng: random.Random,
    similarity_window_ms: int = DEFAULT_SIMILARITY_WINDOW_MS,
    in_process: Collection[str] = (),
    max_tokens_cap: int = DEFAULT_MAX_TOKENS,
) -> InferencePick | None:
    """Choose one request to run now, or None.

    Candidates: `ending_at > now`, not in `in_process`, and some accepted model has a free
    worker (`free_llm_workers`: worker_id -> model name). Latest deadline first; among the
    requests whose deadline is within `similarity_window_ms` of the latest, pick one at random
    (sorted by request id first, so the result depends only on the inputs and the rng state).
    The model is the first accepted one (requester's order) that has a free worker; the worker
    is a random free one for that model.
    """
    workers_by_model: dict[str, list[str]] = {}
    for worker_id, model in free_llm_workers.items():
        workers_by_model.setdefault(model, []).append(worker_id)

    candidates: list[tuple[float, str, Any, str]] = []
    for request in requests:
        request_id = _get(request, "request_id", "requestId")
        ending_at = _number(_get(request, "ending_at", "endingAt"))
        if not isinstance(request_id, str) or ending_at is None or ending_at <= now:
            continue
        if request_id in in_process:
            continue
        models = _get(request, "accepted_models", "acceptedModels", default=())
        if isinstance(models, str) or not isinstance(models, Sequence):
            continue
        model = next((m for m in models if isinstance(m, str) and m in workers_by_model), None)
        if model is None:
            continue
        candidates.append((ending_at, request_id, request, model))
    if not candidates:
        return None

    latest = max(c[0] for c in candidates)
    group = sorted(
        (c for c in candidates if c[0] >= latest - similarity_window_ms), key=lambda c: c[1]
    )
    _, _, request, model = rng.choice(group)
    worker_id = rng.choice(sorted(workers_by_model[model]))
    return InferencePick(
        request=request,
        worker_id=worker_id,
        model=model,
        temperature=sanitise_temperature(_get(request, "temperature")),
        max_tokens=sanitise_max_tokens(_get(request, "max_tokens", "maxTokens"), max_tokens_cap),
    )


# Embedding queue classes (v1 spec §6.5), lower runs first.
CLASS_STARVED = 0          # waited longer than starvation_ms: runs before everything else
CLASS_OWN_VERIFICATION = 1  # consensus verification of a quorum we contributed to
CLASS_RESULT = 2            # embedding of our own result (leads to our commit)
CLASS_OTHER_VERIFICATION = 3

RESULT_EMBEDDING = "resultEmbedding"
CONSENSUS_VERIFICATION = "consensusVerification"


def embedding_class(item: Any) -> int:
    """The v1 spec §6.5 priority class of a queue item (without ageing)."""
    kind = _get(item, "kind", "type")
    if kind == CONSENSUS_VERIFICATION:
        priority = _get(item, "priority", "priorityConsensusVerification", default=False)
        return CLASS_OWN_VERIFICATION if priority is True else CLASS_OTHER_VERIFICATION
    return CLASS_RESULT


def embedding_queue_order(
    items: Iterable[Any],
    now: int | None = None,
    starvation_ms: int = DEFAULT_STARVATION_MS,
) -> list[Any]:
    """Order embedding jobs: verifications of quorums we contributed to, then result
    embeddings, then other verifications; earliest `expires_at` first within a class, then
    `enqueued_at`, then input order (stable).

    With `now`: items with `expires_at <= now` are dropped (too late to matter), and an item
    queued more than `starvation_ms` ago (`enqueued_at`) moves to a class ahead of all others,
    oldest first. Without that, a steady stream of higher-class work could hold an item back
    until it expires, which is how v1 lost verifications under load. Items without
    `enqueued_at` never age.
    """
    keyed = []
    for index, item in enumerate(items):
        expires_at = _number(_get(item, "expires_at", "expiresAt"))
        enqueued_at = _number(_get(item, "enqueued_at", "enqueuedAt"))
        if now is not None and expires_at is not None and expires_at <= now:
            continue
        cls = embedding_class(item)
        starved = (
            now is not None and enqueued_at is not None and now - enqueued_at > starvation_ms
        )
        if starved:
            key = (CLASS_STARVED, enqueued_at, expires_at if expires_at is not None else math.inf)
        else:
            key = (
                cls,
                expires_at if expires_at is not None else math.inf,
                enqueued_at if enqueued_at is not None else math.inf,
            )
        keyed.append((key, index, item))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [item for _, _, item in keyed]
