"""Embedding consensus: the commit/joint hashes, v1's algorithm reproduced exactly, and v2's fix.

v1 (v1 spec §7) is kept step by step, weaknesses included, so a v2 node can read and recompute what a v1
node publishes. v2 (docs/protocol-v2.md) fixes what the stability test showed to be broken:
Hamming distance in bits instead of Euclidean over packed bytes, bounded bit tolerance when checking
a reveal, every reveal checked (our own too), and a result that depends only on the agreed commit set
(canonical order, cluster size over that set, total tie-breaks, exact integer winner index), so every
honest verifier publishes the same consensus.

Pure functions of their inputs: no clock, no IO; numpy for the n x n distance work.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Union

import numpy as np

__all__ = [
    "CommitEntry",
    "Rejection",
    "ConsensusOutcome",
    "REASON_SUCCESS",
    "REASON_THRESHOLD",
    "REASON_NO_CLUSTER",
    "REJECT_THRESHOLD",
    "REJECT_HASH_MISMATCH",
    "REJECT_NOT_RECOMPUTED",
    "REJECT_MALFORMED",
    "binary_embedding_hash",
    "joint_hash",
    "v1_winner_index",
    "v2_winner_index",
    "hamming_matrix",
    "euclidean_byte_matrix",
    "js_cosine_similarity",
    "run_consensus_v1",
    "run_consensus_v2",
]

# Outcome reasons (v1 strings, v1 spec §7).
REASON_SUCCESS = "success"
REASON_THRESHOLD = "did_not_reach_threshold_after_prune"
REASON_NO_CLUSTER = "no_clusters_found_of_needed_size"

# Rejection reasons. The first two are v1's wire `rejectReason.type` values (v1 spec §4.10).
REJECT_THRESHOLD = "computed_bembedding_fails_threshold"
REJECT_HASH_MISMATCH = "bembedding_hash_mismatch"
# v2 only, never put on the wire as-is: the verifier holds no recomputation of this output
# (the node avoids it by recomputing every reveal), or the reveal carries no usable bEmbedding.
REJECT_NOT_RECOMPUTED = "not_recomputed"
REJECT_MALFORMED = "malformed_reveal"


@dataclass(frozen=True)
class CommitEntry:
    """One commit of a quorum, with its reveal (output, bEmbedding) once received."""

    inference_id: str
    synthient_id: str
    b_embedding_hash: str
    output: str | None = None
    b_embedding: bytes | None = None


@dataclass(frozen=True)
class Rejection:
    """A reveal the verifier refused; carries what an `inferenceRevealRejected` packet needs.

    computed: the verifier's recomputed bEmbedding (None if it has none);
    revealed: the bEmbedding in the reveal;
    computed_hash: binary_embedding_hash(revealed, committer), i.e. the hash the commit should hold;
    revealed_hash: the hash the commit actually holds (added field, defaulted, for the wire packet).
    """

    inference_id: str
    synthient_id: str
    reason: str
    computed: bytes | None
    revealed: bytes | None
    computed_hash: str | None
    revealed_hash: str | None = None


@dataclass
class ConsensusOutcome:
    """Result of one consensus run. `verified` = reveals that passed checks (v1's submittedInferences)."""

    success: bool
    reason: str
    cluster_size_needed: int
    verified: list[CommitEntry]
    accepted: list[CommitEntry]
    winner: CommitEntry | None
    joint_hash: str | None
    rejections: list[Rejection]
    debug: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Hashes and winner index
# --------------------------------------------------------------------------------------------

def binary_embedding_hash(bembedding: bytes, synthient_id: str) -> str:
    """v1 commit hash (v1 spec §2.3): sha256(bEmbedding bytes || utf8(synthientId)), lowercase hex."""
    h = hashlib.sha256(bytes(bembedding))
    h.update(synthient_id.encode("utf-8"))
    return h.hexdigest()


def joint_hash(request_id: str, accepted: Sequence[Union[CommitEntry, tuple[str, str]]]) -> str:
    """sha256 hex of utf8(requestId + concat(bEmbeddingHash + inferenceId)) over `accepted` (v1 spec §7 step 8).

    Takes CommitEntry objects or (b_embedding_hash, inference_id) pairs.
    """
    parts = [request_id]
    for c in accepted:
        if isinstance(c, CommitEntry):
            parts.append(c.b_embedding_hash)
            parts.append(c.inference_id)
        else:
            h, iid = c
            parts.append(h)
            parts.append(iid)
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def v1_winner_index(joint_hash_hex: str, n: int) -> int:
    """JS `parseInt(h.slice(0, 16), 16) % n`: the 64-bit value rounded to a double, then exact fmod.

    Differs from integer modulo for values above 2**53 (ffffffffffffffff % 3: JS 1, exact 0).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    # float(int) rounds to nearest, ties to even, like V8's parseInt for radix 16; fmod is exact.
    return int(math.fmod(float(int(joint_hash_hex[:16], 16)), n))


def v2_winner_index(joint_hash_hex: str, n: int) -> int:
    """v2 winner index: exact integer `int(h[:16], 16) % n` (no double rounding)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return int(joint_hash_hex[:16], 16) % n


# --------------------------------------------------------------------------------------------
# Distance matrices
# --------------------------------------------------------------------------------------------

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # numpy >= 2.0


def _as_byte_matrix(bits: Any) -> np.ndarray:
    a = np.asarray(bits)
    if a.ndim != 2:
        raise ValueError("expected a 2-D (n, nbytes) array")
    return np.ascontiguousarray(a, dtype=np.uint8)


def _hamming_bitwise_count(a: np.ndarray) -> np.ndarray:
    # Pad rows to whole 64-bit words (zero bytes XOR to zero), then popcount one word column at a
    # time: n x n per word, never an n x n x nbytes temporary (measured ~3x faster than that).
    n, nbytes = a.shape
    pad = (-nbytes) % 8
    if pad:
        a = np.concatenate([a, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    words = a.view(np.uint64)
    out = np.zeros((n, n), dtype=np.int64)
    for j in range(words.shape[1]):
        col = words[:, j]
        out += np.bitwise_count(col[:, None] ^ col[None, :])
    return out


def _hamming_matmul(a: np.ndarray) -> np.ndarray:
    # Fallback for numpy < 2: H(x, y) = |x| + |y| - 2 x.y over 0/1 bit vectors. float64 sums of
    # small integers are exact (far below 2**53), so the result is exact.
    u = np.unpackbits(a, axis=1).astype(np.float64)
    ones = u.sum(axis=1)
    gram = u @ u.T
    return np.rint(ones[:, None] + ones[None, :] - 2.0 * gram).astype(np.int64)


def hamming_matrix(bits: np.ndarray) -> np.ndarray:
    """(n, nbytes) uint8 packed bits -> (n, n) int64 Hamming distances in bits."""
    a = _as_byte_matrix(bits)
    if a.shape[0] == 0 or a.shape[1] == 0:
        return np.zeros((a.shape[0], a.shape[0]), dtype=np.int64)
    if _HAS_BITWISE_COUNT:
        return _hamming_bitwise_count(a)
    return _hamming_matmul(a)


def euclidean_byte_matrix(bits: np.ndarray) -> np.ndarray:
    """v1 distance (v1 spec §7 step 5): Euclidean over packed bytes as integers 0..255; float64, diagonal 0.

    Squared distances are computed exactly (integer-valued float64 sums far below 2**53), so the one
    correctly rounded sqrt gives the same double as JS's loop + Math.sqrt.
    """
    a = _as_byte_matrix(bits).astype(np.float64)
    n = a.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=np.float64)
    sq = (a * a).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (a @ a.T)
    np.maximum(d2, 0.0, out=d2)  # exact anyway; guards -0.0
    d = np.sqrt(d2)
    np.fill_diagonal(d, 0.0)
    return d


def js_cosine_similarity(a: bytes, b: bytes) -> float:
    """The `cos-similarity` npm package (v1.1.1) over byte values, in the same float64 steps.

    Runs over the first min(len) components; returns 0 when `sqrt(|a|^2 * |b|^2)` is 0.
    """
    m = min(len(a), len(b))
    va = np.frombuffer(bytes(a[:m]), dtype=np.uint8).astype(np.int64)
    vb = np.frombuffer(bytes(b[:m]), dtype=np.uint8).astype(np.int64)
    # Integer sums equal JS's running double sums exactly (all partial sums < 2**53).
    dot_ab = float(int(va @ vb))
    dot_a = float(int(va @ va))
    dot_b = float(int(vb @ vb))
    magnitude = math.sqrt(dot_a * dot_b)
    return 0.0 if magnitude == 0 else dot_ab / magnitude


def _unreachable_needed(p: float, n: int) -> int | None:
    """Cluster size needed for a non-finite secPercentage (it comes from a remote request).

    JS: Math.ceil(NaN or +Infinity) never satisfies `size >= needed`; -Infinity always does.
    We return n + 1 (no cluster can be that large) or 0 instead of raising.
    """
    x = float(p) * n
    if math.isnan(x) or x == math.inf:
        return n + 1
    if x == -math.inf:
        return 0
    return None


def _ceil_js(p: float, n: int) -> int:
    """v1's Math.ceil(p * n) in doubles (0.7 * 10 -> 8), total over non-finite p."""
    special = _unreachable_needed(p, n)
    return special if special is not None else math.ceil(float(p) * n)


def _ceil_fraction(p: float, n: int) -> int:
    """ceil(p * n) taking p as the decimal it was written as (0.7 * 10 -> 7, not float's 8)."""
    special = _unreachable_needed(p, n)
    if special is not None:
        return special
    return math.ceil(Fraction(repr(float(p))) * n)


# --------------------------------------------------------------------------------------------
# v1 (v1 spec §7, exact)
# --------------------------------------------------------------------------------------------

def _v1_distance_matrix(embs: list[bytes]) -> np.ndarray:
    """Euclidean byte matrix; pairs of unequal length get NaN (never `<` secDistance).

    v1 lets a reveal shorter than the recomputed vector through (its cosine runs over the common
    prefix); the spec does not pin the distance for such pairs, so we treat them as infinitely far.
    """
    n = len(embs)
    lengths = {len(e) for e in embs}
    if len(lengths) <= 1:
        width = lengths.pop() if lengths else 0
        arr = np.frombuffer(b"".join(embs), dtype=np.uint8).reshape(n, width)
        return euclidean_byte_matrix(arr)
    width = max(lengths)
    arr = np.zeros((n, width), dtype=np.uint8)
    for i, e in enumerate(embs):
        arr[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
    d = euclidean_byte_matrix(arr)
    lens = np.array([len(e) for e in embs])
    d[lens[:, None] != lens[None, :]] = np.nan
    return d


def run_consensus_v1(
    request_id: str,
    commits_in_local_order: Sequence[CommitEntry],
    recomputed_by_output: Mapping[str, bytes],
    our_id: str,
    quorum_threshold: int,
    sec_distance: float,
    sec_percentage: float,
    *,
    bembedding_threshold: float = 0.0,
) -> ConsensusOutcome:
    """v1 consensus exactly as `consensus-core.ts` runs it (v1 spec §7), weaknesses kept (v1 spec §15)."""
    commits = list(commits_in_local_order)

    # 1. Over ALL commits, unrevealed included (v1 spec §15.7); JS float Math.ceil.
    needed = _ceil_js(sec_percentage, len(commits))

    # 2. Drop commits without a reveal.
    revealed = [c for c in commits if c.output is not None and c.b_embedding is not None]

    # 3. Verify, local order preserved.
    verified: list[CommitEntry] = []
    rejections: list[Rejection] = []
    for c in revealed:
        rev = bytes(c.b_embedding)  # type: ignore[arg-type]
        if c.synthient_id == our_id:  # own commit accepted unchecked (v1 spec §15.8)
            verified.append(c)
            continue
        computed = recomputed_by_output.get(c.output)  # type: ignore[arg-type]
        if computed is None:  # no recomputation with exactly this text: dropped silently
            continue
        computed = bytes(computed)
        sim = js_cosine_similarity(rev, computed)
        if sim < 1 - bembedding_threshold:  # exact-byte check in practice (v1 spec §15.11)
            rejections.append(
                Rejection(c.inference_id, c.synthient_id, REJECT_THRESHOLD, computed, rev, None,
                          c.b_embedding_hash)
            )
            continue
        rehash = binary_embedding_hash(rev, c.synthient_id)
        if rehash != c.b_embedding_hash:
            rejections.append(
                Rejection(c.inference_id, c.synthient_id, REJECT_HASH_MISMATCH, computed, rev,
                          rehash, c.b_embedding_hash)
            )
            continue
        verified.append(c)

    debug: dict = {"clusterSizeNeeded": needed}

    def fail(reason: str) -> ConsensusOutcome:
        return ConsensusOutcome(False, reason, needed, verified, [], None, None, rejections, debug)

    # 4. Threshold on verified reveals.
    if len(verified) < quorum_threshold:
        return fail(REASON_THRESHOLD)

    # 5. Euclidean over packed bytes, in local order.
    dist = _v1_distance_matrix([bytes(c.b_embedding) for c in verified])  # type: ignore[arg-type]
    debug["distances"] = dist.tolist()

    # 6. Cluster sizes, strict `<`, self included (D[i][i] = 0).
    within = dist < sec_distance
    sizes = within.sum(axis=1)
    debug["clusterSizes"] = sizes.tolist()
    qualifying = np.flatnonzero(sizes >= needed)
    if qualifying.size == 0:
        return fail(REASON_NO_CLUSTER)

    # 7. Stable sort by size desc: the first maximum in local order.
    order = qualifying[np.argsort(-sizes[qualifying], kind="stable")]
    centre = int(order[0])
    debug["centre"] = centre
    accepted = [verified[j] for j in np.flatnonzero(within[centre])]
    if not accepted:  # only reachable with secDistance <= 0 and secPercentage 0; JS would crash
        return fail(REASON_NO_CLUSTER)

    # 8-9. Joint hash, JS float modulo.
    jh = joint_hash(request_id, accepted)
    winner = accepted[v1_winner_index(jh, len(accepted))]
    return ConsensusOutcome(True, REASON_SUCCESS, needed, verified, accepted, winner, jh,
                            rejections, debug)


# --------------------------------------------------------------------------------------------
# v2 (docs/protocol-v2.md)
# --------------------------------------------------------------------------------------------

def _canonical_key(c: CommitEntry) -> tuple:
    # (synthient_id, inference_id) is the documented order; the rest only makes it total, so that
    # even duplicated/conflicting entries cannot make the result depend on input order.
    return (c.synthient_id, c.inference_id, c.b_embedding_hash,
            c.output is not None, c.output or "",
            c.b_embedding is not None, bytes(c.b_embedding or b""))


def _common_length(recomputed: Mapping[str, bytes], commits: Sequence[CommitEntry]) -> int:
    """Most common length of our recomputations for these commits (ties: the longer); 0 if none.

    One embedding model gives one length, so this is that length; it only matters if our own
    embedder misbehaves, and then it is still a pure function of the inputs.
    """
    counts: dict[int, int] = {}
    for c in commits:
        r = recomputed.get(c.inference_id)
        if r is not None:
            counts[len(r)] = counts.get(len(r), 0) + 1
    return max(counts, key=lambda k: (counts[k], k)) if counts else 0


def _bit_distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def run_consensus_v2(
    request_id: str,
    agreed_commits: Iterable[CommitEntry],
    recomputed_by_inference_id: Mapping[str, bytes],
    quorum_threshold: int,
    sec_distance_bits: int,
    sec_percentage: float,
    bit_tolerance: int,
    *,
    embedding_bytes: int | None = None,
) -> ConsensusOutcome:
    """v2 consensus: a pure function of the agreed commit set (any input order gives the same result).

    - canonical order: sorted by (synthient_id, inference_id);
    - cluster size needed = max(ceil(sec_percentage x len(agreed_commits)), quorum_threshold, 1),
      sec_percentage read as the decimal it was written as (0.7 x 10 -> 7);
    - every revealed commit is checked, ours too: bEmbedding present with the expected length
      (`embedding_bytes`, by default the most common length of our recomputations), the
      hash binds it to the committer, and it lies within `bit_tolerance` bits of our recomputation;
    - Hamming distance in bits; a neighbourhood is `<= sec_distance_bits` (inclusive, so the radius
      reads "at most d bits differ" and 0 means "identical bits");
    - centre = max cluster size, then smallest sum of distances to its members, then canonical index;
      the centre's cluster must reach `needed`;
    - winner = accepted[int(jointHash[:16], 16) % len(accepted)] (exact integer).
    Unrevealed commits are skipped (no rejection): they still count in `needed`.
    """
    commits = sorted(agreed_commits, key=_canonical_key)
    # Reported as it is required: the share of the agreed set, but never below the quorum.
    needed = max(_ceil_fraction(sec_percentage, len(commits)), quorum_threshold, 1)

    width = embedding_bytes if embedding_bytes is not None else _common_length(
        recomputed_by_inference_id, commits)

    verified: list[CommitEntry] = []
    rejections: list[Rejection] = []
    for c in commits:
        if c.output is None and c.b_embedding is None:
            continue  # never revealed
        rev = bytes(c.b_embedding) if c.b_embedding is not None else None
        computed = recomputed_by_inference_id.get(c.inference_id)
        computed = bytes(computed) if computed is not None else None
        if (rev is None or c.output is None or len(rev) != width
                or (computed is not None and len(computed) != width)):
            rejections.append(Rejection(c.inference_id, c.synthient_id, REJECT_MALFORMED,
                                        computed, rev, None, c.b_embedding_hash))
            continue
        rehash = binary_embedding_hash(rev, c.synthient_id)
        if rehash != c.b_embedding_hash:
            rejections.append(Rejection(c.inference_id, c.synthient_id, REJECT_HASH_MISMATCH,
                                        computed, rev, rehash, c.b_embedding_hash))
            continue
        if computed is None:
            rejections.append(Rejection(c.inference_id, c.synthient_id, REJECT_NOT_RECOMPUTED,
                                        None, rev, rehash, c.b_embedding_hash))
            continue
        if _bit_distance(rev, computed) > bit_tolerance:
            rejections.append(Rejection(c.inference_id, c.synthient_id, REJECT_THRESHOLD,
                                        computed, rev, rehash, c.b_embedding_hash))
            continue
        verified.append(c)

    debug: dict = {"clusterSizeNeeded": needed, "canonicalIds": [c.inference_id for c in commits]}

    def fail(reason: str) -> ConsensusOutcome:
        return ConsensusOutcome(False, reason, needed, verified, [], None, None, rejections, debug)

    if len(verified) < quorum_threshold:
        return fail(REASON_THRESHOLD)
    if not verified:
        return fail(REASON_NO_CLUSTER)

    embs = [bytes(c.b_embedding) for c in verified]  # type: ignore[arg-type]
    bits = np.frombuffer(b"".join(embs), dtype=np.uint8).reshape(len(embs), width)
    dist = hamming_matrix(bits)
    within = dist <= sec_distance_bits
    sizes = within.sum(axis=1)
    spread = np.where(within, dist, 0).sum(axis=1)
    debug["clusterSizes"] = sizes.tolist()

    if int(sizes.max()) < needed:
        return fail(REASON_NO_CLUSTER)

    # lexsort: last key is primary. Size desc, spread asc, canonical index asc.
    idx = np.arange(len(verified))
    centre = int(np.lexsort((idx, spread, -sizes))[0])
    debug["centre"] = centre
    debug["centreSpread"] = int(spread[centre])
    # Bits from the centre to every verified reveal (analytics: in-cluster distance, chart 14).
    debug["centreDistances"] = {c.inference_id: int(d) for c, d in zip(verified, dist[centre])}
    accepted = [verified[j] for j in np.flatnonzero(within[centre])]

    jh = joint_hash(request_id, accepted)
    winner = accepted[v2_winner_index(jh, len(accepted))]
    return ConsensusOutcome(True, REASON_SUCCESS, needed, verified, accepted, winner, jh,
                            rejections, debug)
