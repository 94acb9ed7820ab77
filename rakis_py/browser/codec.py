"""Plain-JSON shapes of the node's events and actions, for the one JS <-> Python crossing per event.

The page speaks JSON objects with a `type` field (camelCase keys, like the wire packets); the core
speaks frozen dataclasses. Crossing as JSON strings keeps the FFI trivial (no proxies to destroy, no
typed-array conversions) and makes the adapter testable on CPython.

Events from JS (all times are ms since the epoch; `now` is Date.now() at the crossing):
  {type: "boot"}                                             -> Booted (when the core has it)
  {type: "packet", data: envelope-object|JSON-string, channel, size?, receivedAt? (default now)}
  {type: "timer", timerId}
  {type: "submit", prompt, acceptedModels?, quorum?, agreement? (percent, 0-100], distance? (bits),
   timeMs?, maxTokens?, temperature?, protocol?}
  {type: "worker", workerId, kind: "llm"|"embedding", model, state, backend?, detail?, sha256?}
      (sha256: the model file's, as the worker's "loaded" message reports it)
  {type: "inferenceFinished", jobId, output, tokenCount, startedAt, completedAt}
  {type: "inferenceFailed", jobId, error}
  {type: "embeddingFinished", jobId, bits: [[int 0..255, ...] per text], embeddings?: [[float, ...]]}
      (float vectors only matter for v1-shaped reveals; v2 sends bits alone)
  {type: "embeddingFailed", jobId, error}

Actions to JS: {type: "send"|"runInference"|"runEmbedding"|"persist"|"setTimer"|"cancelTimer"|"emit",
...fields in camelCase} (see `action_to_dict`); a notice (protocol/notices.py) crosses as
{type: "emit", kind: notice.KIND, data: notice.to_json()}.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import Any, Callable

from ..protocol import events as ev
from ..protocol.actions import CancelTimer, Persist, RunEmbedding, RunInference, Send, SetTimer
from ..protocol.notices import Notice
from ..protocol.quorum import max_commits_problem

DEFAULT_LLM_MODEL = "SmolLM2-135M-Instruct"


class BadEvent(ValueError):
    """The page handed over an event of an unknown type or with missing/ill-typed fields."""


def _req(obj: dict, key: str, kind: type | tuple) -> Any:
    if key not in obj:
        raise BadEvent(f"{obj.get('type')}: missing field {key!r}")
    value = obj[key]
    if isinstance(value, bool):      # JSON true/false are not numbers here (bool is an int subclass)
        raise BadEvent(f"{obj.get('type')}: field {key!r} must not be a boolean")
    if not isinstance(value, kind):
        raise BadEvent(f"{obj.get('type')}: field {key!r} has type {type(value).__name__}")
    return value


def _opt(obj: dict, key: str, kind: type | tuple, default: Any) -> Any:
    if obj.get(key) is None:
        return default
    return _req(obj, key, kind)


def _bits(value: Any) -> bytes:
    if not isinstance(value, list) or not all(isinstance(b, int) and not isinstance(b, bool)
                                              and 0 <= b <= 255 for b in value):
        raise BadEvent("embeddingFinished: each entry of bits must be a list of ints 0..255")
    return bytes(value)


def _floats(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            for v in value):
        raise BadEvent("embeddingFinished: embeddings must be lists of numbers")
    return tuple(tuple(float(x) for x in v) for v in value)


# The submit defaults are RequestSubmitted's own (one place; the page's form reads them too).
_SUBMIT_DEFAULTS = {f.name: f.default for f in fields(ev.RequestSubmitted) if f.default is not MISSING}


def _submit(o: dict, now: int) -> ev.RequestSubmitted:
    d = _SUBMIT_DEFAULTS
    agreement = float(_opt(o, "agreement", (int, float), round(d["sec_percentage"] * 100)))
    if not 0 < agreement <= 100:
        raise BadEvent("submit: agreement is a percentage in (0, 100]")
    models = _opt(o, "acceptedModels", list, [DEFAULT_LLM_MODEL])
    if not models or not all(isinstance(m, str) and m for m in models):
        raise BadEvent("submit: acceptedModels must be a non-empty list of model names")
    distance = _opt(o, "distance", (int, float), None)
    quorum = int(_opt(o, "quorum", int, d["quorum"]))
    extra: tuple = ()
    max_commits = _opt(o, "maxCommits", int, None)
    if max_commits is not None:
        problem = max_commits_problem(quorum, max_commits)
        if problem:
            raise BadEvent(f"submit: {problem}")
        extra = (("maxCommits", max_commits),)
    return ev.RequestSubmitted(
        prompt=_req(o, "prompt", str),
        accepted_models=tuple(models),
        quorum=quorum,
        sec_percentage=agreement / 100.0,
        sec_distance=float(distance) if distance is not None else None,
        max_time_ms=int(_opt(o, "timeMs", int, d["max_time_ms"])),
        temperature=float(_opt(o, "temperature", (int, float), d["temperature"])),
        max_tokens=int(_opt(o, "maxTokens", int, d["max_tokens"])),
        protocol=int(_opt(o, "protocol", int, d["protocol"])),
        security_extra=extra,
    )


_EVENTS: dict[str, Callable[[dict, int], Any]] = {
    "boot": lambda o, now: ev.Booted(),
    "packet": lambda o, now: ev.PacketReceived(
        data=_req(o, "data", (dict, str)), channel=_req(o, "channel", str),
        received_at=int(_opt(o, "receivedAt", int, now)),
        size=_opt(o, "size", int, None)),
    "timer": lambda o, now: ev.TimerFired(_req(o, "timerId", str)),
    "submit": _submit,
    "worker": lambda o, now: ev.WorkerStatus(
        worker_id=_req(o, "workerId", str), kind=_req(o, "kind", str), model=_req(o, "model", str),
        state=_req(o, "state", str), backend=_opt(o, "backend", str, ""), detail=_opt(o, "detail", str, ""),
        model_hash=_opt(o, "sha256", str, None)),
    "inferenceFinished": lambda o, now: ev.InferenceFinished(
        job_id=_req(o, "jobId", str), output=_req(o, "output", str),
        token_count=_req(o, "tokenCount", int), started_at=_req(o, "startedAt", int),
        completed_at=_req(o, "completedAt", int)),
    "inferenceFailed": lambda o, now: ev.InferenceFailed(_req(o, "jobId", str), str(o.get("error", ""))),
    "embeddingFinished": lambda o, now: ev.EmbeddingFinished(
        job_id=_req(o, "jobId", str), bembeddings=tuple(_bits(b) for b in _req(o, "bits", list)),
        embeddings=_floats(o.get("embeddings"))),
    "embeddingFailed": lambda o, now: ev.EmbeddingFailed(_req(o, "jobId", str), str(o.get("error", ""))),
}

EVENT_TYPES = tuple(_EVENTS)


def event_from_dict(obj: Any, now: int) -> Any:
    """The core event for one page event. Raises `BadEvent` (never anything else) on bad input."""
    if not isinstance(obj, dict):
        raise BadEvent(f"an event is a JSON object, got {type(obj).__name__}")
    build = _EVENTS.get(obj.get("type"))
    if build is None:
        raise BadEvent(f"unknown event type {obj.get('type')!r}; known: {', '.join(EVENT_TYPES)}")
    try:
        return build(obj, now)
    except BadEvent:
        raise
    except (TypeError, ValueError) as e:
        raise BadEvent(f"{obj.get('type')}: {e}") from None


def action_to_dict(action: Any) -> dict:
    """The page's JSON form of one core action."""
    if isinstance(action, Send):
        return {"type": "send", "envelope": action.envelope,
                "to": list(action.to) if action.to is not None else None}
    if isinstance(action, RunInference):
        return {"type": "runInference", "jobId": action.job_id, "workerId": action.worker_id,
                "model": action.model, "prompt": action.prompt, "temperature": action.temperature,
                "maxTokens": action.max_tokens}
    if isinstance(action, RunEmbedding):
        return {"type": "runEmbedding", "jobId": action.job_id, "workerId": action.worker_id,
                "model": action.model, "texts": list(action.texts)}
    if isinstance(action, Persist):
        return {"type": "persist", "table": action.table, "key": action.key, "record": action.record}
    if isinstance(action, SetTimer):
        return {"type": "setTimer", "timerId": action.timer_id, "at": action.at}
    if isinstance(action, CancelTimer):
        return {"type": "cancelTimer", "timerId": action.timer_id}
    if isinstance(action, Notice):
        return {"type": "emit", "kind": action.KIND, "data": action.to_json()}
    raise TypeError(f"unknown action {type(action).__name__}")


def _jsonable(value: Any) -> Any:
    # Binary embeddings may sit in records/emits as bytes: JS gets them as lists of ints.
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON for the page: NaN/Infinity become null rather than invalid JSON for JSON.parse."""
    text = json.dumps(value, default=_jsonable, ensure_ascii=False, separators=(",", ":"))
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(_finite(json.loads(text)), ensure_ascii=False, separators=(",", ":"))
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
