"""LoadModel: a MODEL of the users: when requests arrive, with which security frame, how long
the answers are.

Arrivals are the union of three processes (all optional):
* steady: Poisson with ``steady_per_min`` requests a minute over the whole run;
* bursts: ``(at_s, count, spread_s)``: ``count`` requests uniformly within ``spread_s`` seconds
  from ``at_s`` (the stability test's two big load-test batches);
* sustained: ``(start_s, end_s, per_min)`` Poisson windows of extra load.

Each request gets a security frame (``SecurityFrameParams``: quorum, maxTimeMs, secPercentage,
secDistance, protocol) and an expected output length (lognormal, median ``output_tokens_median``,
clipped to ``[output_tokens_min, max_tokens]``). The requester is a random online node, picked
when the request is due.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SecurityFrameParams:
    quorum: int = 3
    max_time_ms: int = 30_000
    sec_percentage: float = 0.5
    sec_distance: float | None = None    # None: the protocol's default (v1 UI sent 4500)
    protocol: int = 2                    # 1 = v1 rules, 2 = v2 rules


@dataclass(frozen=True)
class LoadParams:
    steady_per_min: float = 2.0
    bursts: tuple[tuple[float, int, float], ...] = ()
    sustained: tuple[tuple[float, float, float], ...] = ()
    frame: SecurityFrameParams = field(default_factory=SecurityFrameParams)
    output_tokens_median: float = 200.0
    output_tokens_sigma: float = 0.6
    output_tokens_min: int = 8
    max_tokens: int = 1024
    prompt_chars: int = 300
    model: str = "gemma-2b-it-q4f16_1"


@dataclass(frozen=True)
class RequestSpec:
    index: int
    at_ms: int                 # offset from run start
    prompt: str                # unique per request: the stand-in LLM keys its clusters on it
    output_tokens: int         # typical answer length for this prompt


class LoadModel:
    def __init__(self, params: LoadParams) -> None:
        self.p = params

    def draw(self, duration_ms: int, seed: int) -> list[RequestSpec]:
        p, rng = self.p, random.Random(seed)
        times: list[float] = []

        def poisson(start: float, end: float, per_min: float) -> None:
            if per_min <= 0:
                return
            t = start
            while True:
                t += rng.expovariate(per_min / 60_000.0)
                if t >= end:
                    return
                times.append(t)

        poisson(0.0, duration_ms, p.steady_per_min)
        for at_s, count, spread_s in p.bursts:
            times.extend(at_s * 1000 + rng.random() * spread_s * 1000 for _ in range(count))
        for start_s, end_s, per_min in p.sustained:
            poisson(start_s * 1000, min(end_s * 1000, duration_ms), per_min)
        times = sorted(t for t in times if t < duration_ms)
        out = []
        for i, t in enumerate(times):
            tokens = int(p.output_tokens_median * rng.lognormvariate(0.0, p.output_tokens_sigma))
            tokens = max(p.output_tokens_min, min(p.max_tokens, tokens))
            filler = "lorem ipsum dolor sit amet " * (p.prompt_chars // 27 + 1)
            prompt = f"[sim-prompt {i} {rng.getrandbits(32):08x}] " + filler[: p.prompt_chars]
            out.append(RequestSpec(i, int(t), prompt, tokens))
        return out
