"""Seeded sampling and its re-scoring: the reference (workers/sampler.js must give identical bits).

docs/verifiable-inference.md is the specification; this module is its executable form and the
known-answer table tests/cases/sampling_kat.json is generated from it.

Every honest node that runs the same pinned model file on the same request draws the same tokens:
the randomness of output position t is one uniform u_t = SHA-256(domain, request id, model sha256,
t) -> 53-bit float, and the token is an inverse-CDF choice over float64 weights in token-id order.
Every step is an IEEE-754 float64 operation that JS and numpy both round the same way (no libm:
`det_exp` is our own polynomial, because Math.exp and the C library's exp may differ in the last
bit), so the only thing that can make two nodes disagree is the model's logits themselves.

A verifier that has recomputed the logits (one teacher-forced forward pass over prompt + claimed
output) scores each position with `score_position`; `judge_output` turns the per-position scores
into a verdict.

Pure: no IO, no clock; numpy for the vector arithmetic.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "DOMAIN", "SamplingParams", "uniform_message", "uniform", "uniforms", "det_exp", "weights",
    "kept_ids", "sample_token", "PositionScore", "score_position", "structure_problem",
    "VerdictRule", "DEFAULT_RULE", "Verdict", "judge_output",
]

DOMAIN = b"rakis-seeded-sampling-v1"

# det_exp constants (fdlibm's split of ln 2: k * LN2_HI is exact for |k| < 2**20).
INV_LN2 = 1.4426950408889634        # 0x3FF71547652B82FE
LN2_HI = 6.93147180369123816490e-01  # 0x3FE62E42FEE00000
LN2_LO = 1.90821492927058770002e-10  # 0x3DEA39EF35793C76
EXP_MIN = -708.0                     # below: weight 0 (e**-708 ~ 3e-308; 2**k stays a normal number)
EXP_DEGREE = 13                      # Taylor degree: r**14/14! < 5e-18 for |r| <= ln2/2
COEF = tuple(1.0 / float(math.factorial(n)) for n in range(EXP_DEGREE + 1))   # n! exact in float64


@dataclass(frozen=True)
class SamplingParams:
    """temperature 0 = greedy (ties to the lowest id); top_k 0 = off; top_p 1.0 = off."""

    temperature: float
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        t = self.temperature
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {t!r}")
        if not (isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and self.top_k >= 0):
            raise ValueError(f"top_k must be an int >= 0, got {self.top_k!r}")
        p = self.top_p
        if not (isinstance(p, (int, float)) and 0 < p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {p!r}")


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def uniform_message(request_id: str, model_sha256: str, position: int) -> bytes:
    """The SHA-256 input of position `position`: DOMAIN, then the request id (UTF-8) and the model
    sha256 (64 lowercase hex, ASCII), each behind its 4-byte big-endian length, then the position
    as a 4-byte big-endian unsigned int."""
    if len(model_sha256) != 64 or any(c not in "0123456789abcdef" for c in model_sha256):
        raise ValueError("model_sha256 must be 64 lowercase hex digits")
    if not 0 <= position < 2**32:
        raise ValueError(f"position out of range: {position}")
    return (DOMAIN + _field(request_id.encode("utf-8")) + _field(model_sha256.encode("ascii"))
            + struct.pack(">I", position))


def uniform(request_id: str, model_sha256: str, position: int) -> float:
    """u in [0, 1): the first 8 digest bytes as a big-endian uint64, its top 53 bits / 2**53."""
    digest = hashlib.sha256(uniform_message(request_id, model_sha256, position)).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53


def uniforms(request_id: str, model_sha256: str, count: int) -> list[float]:
    return [uniform(request_id, model_sha256, t) for t in range(count)]


def det_exp(x: np.ndarray) -> np.ndarray:
    """exp(x) for float64 x <= 0 by a fixed sequence of IEEE operations (0.0 below EXP_MIN and for
    NaN): k = floor(x/ln2 + 0.5), r = (x - k*LN2_HI) - k*LN2_LO, Horner over 1/n! (n = 13..0),
    times 2**k. Within 1 ulp-ish of the true exp; what matters is that JS gives the same bits."""
    x = np.asarray(x, dtype=np.float64)
    ok = x >= EXP_MIN                               # False for NaN and -inf
    if np.any(x[ok] > 0):
        raise ValueError("det_exp is defined for x <= 0")
    xs = np.where(ok, x, 0.0)
    k = np.floor(xs * INV_LN2 + 0.5)
    r = (xs - k * LN2_HI) - k * LN2_LO
    p = np.full_like(xs, COEF[EXP_DEGREE])
    for c in COEF[EXP_DEGREE - 1::-1]:
        p = p * r + c
    return np.where(ok, np.ldexp(p, k.astype(np.int32)), 0.0)


def _logits64(logits: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float32 logits as float64, finite mask); refuses a vector with no finite logit."""
    lg = np.asarray(logits, dtype=np.float32).astype(np.float64)
    finite = np.isfinite(lg)
    if not finite.any():
        raise ValueError("no finite logit")
    return lg, finite


def weights(logits: Sequence[float] | np.ndarray, temperature: float) -> np.ndarray:
    """w_i = det_exp((l_i - max) / T) for finite l_i, else 0 (T > 0)."""
    lg, finite = _logits64(logits)
    m = lg[finite].max()
    with np.errstate(invalid="ignore"):
        x = np.where(finite, (np.where(finite, lg, m) - m) / temperature, -np.inf)
    return det_exp(x)


def _rank_order(lg: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Finite ids by logit descending, then id ascending."""
    ids = np.flatnonzero(finite)
    return ids[np.lexsort((ids, -lg[ids]))]


def kept_ids(logits: Sequence[float] | np.ndarray, params: SamplingParams,
             w: Optional[np.ndarray] = None) -> np.ndarray:
    """The ids the draw is over, ascending: all finite ids, or the top-k by rank order, then the
    shortest rank-order prefix whose weight (summed in rank order) reaches top_p of the kept total."""
    lg, finite = _logits64(logits)
    if params.top_k == 0 and params.top_p >= 1:
        return np.flatnonzero(finite)
    w = weights(logits, params.temperature) if w is None else w
    order = _rank_order(lg, finite)
    if params.top_k:
        order = order[:params.top_k]
    if params.top_p < 1:
        s = np.cumsum(w[order])                        # sequential, in rank order
        reached = np.flatnonzero(s >= params.top_p * s[-1])
        order = order[:reached[0] + 1] if reached.size else order
    return np.sort(order)


def _greedy(lg: np.ndarray, finite: np.ndarray) -> int:
    return int(np.flatnonzero(finite & (lg == lg[finite].max()))[0])


def _draw(kept: np.ndarray, w: np.ndarray, u: float) -> tuple[int, np.ndarray, float]:
    """(choice, cumulative weights over `kept` in id order, target = u * total)."""
    c = np.cumsum(w[kept])                              # sequential, in id order
    target = u * c[-1]
    above = np.flatnonzero(c > target)
    if above.size:
        return int(kept[above[0]]), c, target
    positive = kept[w[kept] > 0]                        # u * total rounded up to total
    return int(positive[-1]), c, target


def sample_token(logits: Sequence[float] | np.ndarray, params: SamplingParams, u: float) -> int:
    """The seeded choice for one position (`logits`: the model's float32 logits, one per id)."""
    lg, finite = _logits64(logits)
    if params.temperature == 0:
        return _greedy(lg, finite)
    w = weights(logits, params.temperature)
    return _draw(kept_ids(logits, params, w), w, u)[0]


@dataclass(frozen=True)
class PositionScore:
    """How a claimed token compares with the verifier's seeded choice at one position.

    rank: 1-based rank of the claimed token by (logit desc, id asc); logit_gap: logit of the choice
    minus logit of the claimed token; cdf_gap (temperature > 0 only): distance from u to the
    claimed token's interval of the id-order CDF, as a share of the total (0 when it holds u; 1.0
    when the token has no interval: weight 0 or cut by top-k/top-p)."""

    choice: int
    claimed: int
    rank: int
    logit_gap: float
    cdf_gap: Optional[float]

    @property
    def match(self) -> bool:
        return self.choice == self.claimed


def score_position(logits: Sequence[float] | np.ndarray, params: SamplingParams, u: float,
                   claimed: int) -> PositionScore:
    lg, finite = _logits64(logits)
    if not 0 <= claimed < lg.size:
        raise ValueError(f"claimed token {claimed} outside the vocabulary")
    if finite[claimed]:
        lc = lg[claimed]
        rank = 1 + int(np.count_nonzero(finite & ((lg > lc) | ((lg == lc) & (np.arange(lg.size) < claimed)))))
    else:
        rank = int(np.count_nonzero(finite)) + 1
    if params.temperature == 0:
        choice = _greedy(lg, finite)
        cdf_gap = None
    else:
        w = weights(logits, params.temperature)
        kept = kept_ids(logits, params, w)
        choice, c, target = _draw(kept, w, u)
        at = np.searchsorted(kept, claimed)
        if at < kept.size and kept[at] == claimed and w[claimed] > 0:
            hi = c[at]
            lo = c[at - 1] if at else 0.0
            cdf_gap = 0.0 if lo <= target < hi else float(max(lo - target, target - hi) / c[-1])
        else:
            cdf_gap = 1.0
    gap = float(lg[choice] - lg[claimed]) if finite[claimed] else math.inf
    return PositionScore(choice, claimed, rank, gap, cdf_gap)


def structure_problem(token_ids: Sequence[int], max_tokens: int, stop_ids: Sequence[int],
                      vocab_size: int) -> Optional[str]:
    """Why a claimed output cannot be what the decode loop produces, or None. The loop stops at the
    first stop token (kept as the last id) or after max_tokens ids."""
    n = len(token_ids)
    if n == 0:
        return "empty output"
    if n > max_tokens:
        return f"{n} tokens, more than max tokens {max_tokens}"
    if any(not (0 <= t < vocab_size) for t in token_ids):
        return "a token id outside the vocabulary"
    stops = set(stop_ids)
    if any(t in stops for t in token_ids[:-1]):
        return "a stop token before the end"
    if n < max_tokens and token_ids[-1] not in stops:
        return f"ends after {n} of {max_tokens} tokens without a stop token (truncated)"
    return None


@dataclass(frozen=True)
class VerdictRule:
    """A mismatch is "near" when it is within what honest numeric noise can produce (sampled: u
    lies within near_cdf of the claimed token's interval; greedy: its logit is within near_logit of
    the best), else "far". Accept: no structural problem, at most max_far far mismatches and at most
    max(near_min, floor(near_share * n)) near ones. docs/verifiable-inference.md says how these were
    calibrated: honest fp32 prefill re-scores miss ~1% of positions at T=1, each with a CDF gap below
    6e-7 (the draw had landed in a tail token's sliver of the CDF)."""

    near_cdf: float = 1e-3
    near_logit: float = 0.25
    max_far: int = 0
    near_share: float = 0.05
    near_min: int = 3


DEFAULT_RULE = VerdictRule()


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str                 # "" when accepted
    positions: int
    matches: int
    near: int
    far: int

    @property
    def match_share(self) -> float:
        return self.matches / self.positions if self.positions else 0.0


def judge_output(mismatches: Sequence[PositionScore], positions: int, temperature: float,
                 problem: Optional[str] = None, rule: VerdictRule = DEFAULT_RULE) -> Verdict:
    """The verdict on one output from its mismatched positions (`mismatches`, PositionScores whose
    choice differs from the claim), the number of positions scored and `structure_problem`'s word."""
    near = sum(1 for s in mismatches if _is_near(s, temperature, rule))
    far = len(mismatches) - near
    matches = positions - len(mismatches)
    reason = ""
    if problem:
        reason = problem
    elif far > rule.max_far:
        reason = f"{far} of {positions} tokens are not the seeded choice (far from it)"
    elif near > max(rule.near_min, math.floor(rule.near_share * positions)):
        reason = f"{near} of {positions} tokens differ from the seeded choice (each near it)"
    return Verdict(not reason, reason, positions, matches, near, far)


def _is_near(s: PositionScore, temperature: float, rule: VerdictRule) -> bool:
    if temperature == 0:
        return s.logit_gap <= rule.near_logit
    return s.cdf_gap is not None and s.cdf_gap <= rule.near_cdf
