"""v2 consensus: order independence, garbage exclusion, tolerance, tie-breaks; Hamming matrix."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rakis_py.protocol.consensus as consensus
from rakis_py.protocol.consensus import (
    REASON_NO_CLUSTER,
    REASON_SUCCESS,
    REASON_THRESHOLD,
    REJECT_HASH_MISMATCH,
    REJECT_MALFORMED,
    REJECT_NOT_RECOMPUTED,
    REJECT_THRESHOLD,
    CommitEntry,
    binary_embedding_hash,
    hamming_matrix,
    joint_hash,
    run_consensus_v2,
)
from tests.unit._consensus_fixtures import (
    by_iid,
    ids,
    commit,
    flip_bits,
    flip_random,
    hamming,
    random_bits,
    sid,
    unrevealed,
)

NBYTES = 48  # 384-bit binary embeddings






def summary(out):
    return (out.success, out.reason, out.cluster_size_needed, ids(out.verified), ids(out.accepted),
            out.winner.inference_id if out.winner else None, out.joint_hash,
            [(r.inference_id, r.reason) for r in out.rejections])


# ---- hamming_matrix ---------------------------------------------------------------------------

@pytest.mark.parametrize("nbytes", [1, 7, 8, 13, 48, 96])
@pytest.mark.parametrize("use_bitwise_count", [True, False])
def test_hamming_matrix_matches_naive(nbytes, use_bitwise_count, monkeypatch):
    if use_bitwise_count and not hasattr(np, "bitwise_count"):
        pytest.skip("numpy < 2")
    monkeypatch.setattr(consensus, "_HAS_BITWISE_COUNT", use_bitwise_count)
    rng = random.Random(nbytes)
    rows = [random_bits(rng, nbytes) for _ in range(11)]
    rows[3] = rows[5]  # a duplicate
    rows[4] = bytes([255] * nbytes)
    rows[6] = bytes(nbytes)
    m = hamming_matrix(np.frombuffer(b"".join(rows), np.uint8).reshape(11, nbytes))
    assert m.shape == (11, 11) and np.issubdtype(m.dtype, np.integer)
    for i in range(11):
        for j in range(11):
            assert m[i, j] == hamming(rows[i], rows[j])
    assert m[4, 6] == 8 * nbytes


def test_hamming_matrix_edge_shapes():
    assert hamming_matrix(np.zeros((0, 48), np.uint8)).shape == (0, 0)
    assert hamming_matrix(np.zeros((1, 48), np.uint8)).tolist() == [[0]]
    with pytest.raises(ValueError):
        hamming_matrix(np.zeros(48, np.uint8))
    # Non-contiguous / other integer dtypes are accepted as byte values.
    a = np.arange(96, dtype=np.int64).reshape(2, 48)
    assert hamming_matrix(a[:, ::1])[0, 1] == hamming(bytes(range(48)), bytes(range(48, 96)))


# ---- scenario builder -------------------------------------------------------------------------

def scenario(rng: random.Random, n_honest: int, n_garbage: int, *, model_noise: int,
             verifier_noise: int, colluding: bool, n_unrevealed: int = 0):
    """Honest outputs near one truth (model variance), garbage far from it, verifier noise."""
    truth = random_bits(rng, NBYTES)
    far = flip_random(rng, truth, 200)  # colluders' shared junk: >= 200 - noise bits away
    commits, recomputed = [], {}
    k = 0
    for _ in range(n_honest):
        k += 1
        emb = flip_random(rng, truth, rng.randint(0, model_noise))
        c = commit(k, emb, output=f"honest {k}")
        commits.append(c)
        recomputed[c.inference_id] = flip_random(rng, emb, rng.randint(0, verifier_noise))
    for _ in range(n_garbage):
        k += 1
        # Garbage committers hash their junk honestly, so they pass the reveal checks.
        emb = far if colluding else flip_random(rng, truth, rng.randint(150, 250))
        c = commit(k, emb, output=f"garbage {k}")
        commits.append(c)
        recomputed[c.inference_id] = emb
    for _ in range(n_unrevealed):
        k += 1
        commits.append(unrevealed(commit(k, truth)))
    return commits, recomputed


# ---- properties ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_outcome_is_independent_of_input_order(seed, data):
    rng = random.Random(seed)
    commits, recomputed = scenario(rng, rng.randint(1, 8), rng.randint(0, 6), model_noise=12,
                                   verifier_noise=4, colluding=rng.random() < 0.5,
                                   n_unrevealed=rng.randint(0, 2))
    # Some broken reveals too, so rejections are part of what must be order independent.
    if len(commits) > 2 and commits[0].b_embedding is not None:
        c = commits[0]
        commits[0] = CommitEntry(c.inference_id, c.synthient_id, "0" * 64, c.output, c.b_embedding)
    params = dict(quorum_threshold=rng.randint(1, 4), sec_distance_bits=rng.choice([0, 8, 24, 40]),
                  sec_percentage=rng.choice([0.3, 0.5, 0.7]), bit_tolerance=rng.choice([0, 2, 4]))
    base = run_consensus_v2("req", commits, recomputed, **params)
    perm = data.draw(st.permutations(commits))
    rec_items = data.draw(st.permutations(list(recomputed.items())))
    again = run_consensus_v2("req", perm, dict(rec_items), **params)
    assert summary(again) == summary(base)
    # The canonical order is (synthient_id, inference_id).
    assert ids(base.verified) == ids(sorted(base.verified,
                                            key=lambda c: (c.synthient_id, c.inference_id)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_honest=st.integers(3, 12), data=st.data())
def test_garbage_is_never_accepted_and_honest_cluster_wins(seed, n_honest, data):
    n_garbage = data.draw(st.integers(0, n_honest - 1))  # honest majority
    colluding = data.draw(st.booleans())
    rng = random.Random(seed)
    commits, recomputed = scenario(rng, n_honest, n_garbage, model_noise=8, verifier_noise=4,
                                   colluding=colluding)
    out = run_consensus_v2("req", commits, recomputed, quorum_threshold=2, sec_distance_bits=40,
                           sec_percentage=0.5, bit_tolerance=4)
    assert out.success and out.reason == REASON_SUCCESS, out.reason
    honest_ids = {c.inference_id for c in commits if c.output.startswith("honest")}
    assert set(ids(out.accepted)) == honest_ids  # all honest (noise within tolerance), no garbage
    assert out.winner.inference_id in honest_ids
    assert out.rejections == []
    assert out.joint_hash == joint_hash("req", out.accepted)
    assert out.winner == out.accepted[int(out.joint_hash[:16], 16) % len(out.accepted)]


def test_garbage_majority_cluster_is_what_v2_cannot_fix_but_minority_never_wins():
    # Sanity bound of the property above: honest 3 vs colluding garbage 2 -> honest; 2 vs 3 -> junk.
    rng = random.Random(12)
    c1, r1 = scenario(rng, 3, 2, model_noise=4, verifier_noise=0, colluding=True)
    out = run_consensus_v2("req", c1, r1, 2, 40, 0.5, 0)
    assert all(c.output.startswith("honest") for c in out.accepted)
    c2, r2 = scenario(rng, 2, 3, model_noise=4, verifier_noise=0, colluding=True)
    out = run_consensus_v2("req", c2, r2, 2, 40, 0.5, 0)
    assert all(c.output.startswith("garbage") for c in out.accepted)


# ---- verification -----------------------------------------------------------------------------

def test_bit_tolerance_boundary():
    rng = random.Random(1)
    emb = random_bits(rng, NBYTES)
    c = commit(1, emb)
    for t in (0, 1, 3, 10):
        at = flip_random(rng, emb, t)
        over = flip_random(rng, emb, t + 1)
        ok = run_consensus_v2("req", [c], {c.inference_id: at}, 1, 8, 0.5, t)
        assert ok.success and ok.rejections == []
        bad = run_consensus_v2("req", [c], {c.inference_id: over}, 1, 8, 0.5, t)
        assert not bad.success and bad.reason == REASON_THRESHOLD
        [r] = bad.rejections
        assert (r.reason, r.computed, r.revealed) == (REJECT_THRESHOLD, over, emb)


def test_hash_mismatch_rejected_even_when_bits_match():
    emb = bytes(range(NBYTES))
    c = commit(1, emb, hash_of=bytes(NBYTES))
    out = run_consensus_v2("req", [c], by_iid([c]), 1, 8, 0.5, 4)
    [r] = out.rejections
    assert r.reason == REJECT_HASH_MISMATCH
    assert r.computed_hash == binary_embedding_hash(emb, c.synthient_id) != r.revealed_hash
    assert r.revealed_hash == c.b_embedding_hash
    # The hash binds the committer: someone else's bits under my id do not pass.
    stolen = CommitEntry("req.x", sid(9), binary_embedding_hash(emb, sid(1)), "o", emb)
    assert run_consensus_v2("req", [stolen], by_iid([stolen]), 1, 8, 0.5, 4).rejections[0].reason \
        == REJECT_HASH_MISMATCH


def test_missing_recomputation_and_malformed_reveals():
    emb = bytes(range(NBYTES))
    ok = commit(1, emb)
    not_recomputed = commit(2, emb)
    short = commit(3, emb[:-1])
    no_bits = CommitEntry("req.000004", sid(4), binary_embedding_hash(emb, sid(4)), "text", None)
    silent = unrevealed(commit(5, emb))
    commits = [ok, not_recomputed, short, no_bits, silent]
    rec = {ok.inference_id: emb, short.inference_id: emb, no_bits.inference_id: emb}
    out = run_consensus_v2("req", commits, rec, 1, 8, 0.5, 4)
    assert ids(out.verified) == [ok.inference_id]
    assert not out.success and out.reason == REASON_NO_CLUSTER  # 1 verified < ceil(0.5 x 5)
    assert [(r.inference_id, r.reason) for r in out.rejections] == [
        (not_recomputed.inference_id, REJECT_NOT_RECOMPUTED),
        (short.inference_id, REJECT_MALFORMED),
        (no_bits.inference_id, REJECT_MALFORMED),
    ]
    assert out.cluster_size_needed == 3  # ceil(0.5 x 5): unrevealed still count in the agreed set


# ---- clustering and tie-breaks -----------------------------------------------------------------

def test_cluster_needed_uses_decimal_percentage():
    emb = bytes(range(NBYTES))
    commits = [commit(i, emb) for i in range(1, 11)]
    out = run_consensus_v2("req", commits, by_iid(commits), 1, 0, 0.7, 0)
    assert out.cluster_size_needed == 7  # float 0.7 * 10 = 7.000000000000001 would give 8
    assert out.success and len(out.accepted) == 10


def test_cluster_needed_reports_the_quorum_when_it_is_larger():
    near, far = bytes(NBYTES), flip_bits(bytes(NBYTES), range(100))
    commits = [commit(1, near), commit(2, near), commit(3, far), commit(4, far)]
    out = run_consensus_v2("req", commits, by_iid(commits), 3, 8, 0.5, 0)
    # ceil(0.5 x 4) = 2 clusters of 2 exist, yet the quorum of 3 is what a cluster must reach.
    assert not out.success and out.reason == REASON_NO_CLUSTER and out.debug["clusterSizes"] == [2, 2, 2, 2]
    assert out.cluster_size_needed == out.debug["clusterSizeNeeded"] == 3
    ok = run_consensus_v2("req", commits[:2] + [commit(5, near)], by_iid(commits[:2] + [commit(5, near)]),
                          3, 8, 0.5, 0)
    assert ok.success and ok.cluster_size_needed == 3 and len(ok.accepted) == 3
    # v1 keeps its own report (byte-compatible with the original): Math.ceil(p x n), quorum apart.
    v1 = consensus.run_consensus_v1("req", commits, {c.output: c.b_embedding for c in commits}, "me", 3, 10, 0.5)
    assert v1.cluster_size_needed == v1.debug["clusterSizeNeeded"] == 2


def test_neighbourhood_is_inclusive():
    base = bytes(NBYTES)
    c1, c2 = commit(1, base), commit(2, flip_bits(base, range(8)))  # exactly 8 bits apart
    rec = by_iid([c1, c2])
    assert run_consensus_v2("req", [c1, c2], rec, 2, 8, 1.0, 0).success
    out = run_consensus_v2("req", [c1, c2], rec, 2, 7, 1.0, 0)
    assert not out.success and out.reason == REASON_NO_CLUSTER


def test_winning_cluster_must_reach_quorum_threshold():
    rng = random.Random(3)
    commits = [commit(i, random_bits(rng, NBYTES)) for i in range(1, 4)]  # 3 verified, all far
    out = run_consensus_v2("req", commits, by_iid(commits), 2, 16, 0.0, 0)
    assert out.reason == REASON_NO_CLUSTER and len(out.verified) == 3
    assert run_consensus_v2("req", commits, by_iid(commits), 4, 16, 0.0, 0).reason == REASON_THRESHOLD
    assert run_consensus_v2("req", commits, by_iid(commits), 1, 16, 0.0, 0).success


def test_tie_on_size_goes_to_tighter_cluster():
    rng = random.Random(4)
    a, b = random_bits(rng, NBYTES), random_bits(rng, NBYTES)
    loose = [commit(1, a), commit(2, flip_bits(a, range(10)))]  # 10 bits apart
    tight = [commit(3, b), commit(4, flip_bits(b, range(2)))]   # 2 bits apart
    commits = loose + tight
    for order in (commits, commits[::-1]):
        out = run_consensus_v2("req", order, by_iid(commits), 2, 12, 0.5, 0)
        assert ids(out.accepted) == ids(tight)
        assert out.debug["centreSpread"] == 2


def test_full_tie_goes_to_canonical_first():
    rng = random.Random(5)
    a, b = random_bits(rng, NBYTES), random_bits(rng, NBYTES)
    # Same size, same spread; cluster b holds the smallest synthient id.
    ca = [commit(5, a), commit(6, flip_bits(a, [1]))]
    cb = [commit(2, b), commit(9, flip_bits(b, [1]))]
    for order in (ca + cb, cb + ca, [ca[0], cb[1], ca[1], cb[0]]):
        out = run_consensus_v2("req", order, by_iid(ca + cb), 2, 4, 0.5, 0)
        assert ids(out.accepted) == ids(cb)


def test_centre_is_medoid_like_not_first_arrival():
    # A chain x - y - z (each 6 bits apart, x..z 12): with radius 6 only y reaches both.
    x = bytes(NBYTES)
    y = flip_bits(x, range(6))
    z = flip_bits(y, range(6, 12))
    commits = [commit(1, x), commit(2, y), commit(3, z)]
    out = run_consensus_v2("req", commits, by_iid(commits), 2, 6, 0.5, 0)
    assert out.success and len(out.accepted) == 3 and out.debug["centre"] == 1


# ---- speed --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [256, 300])
def test_speed_large_quorum(n):
    rng = random.Random(n)
    commits, rec = scenario(rng, n - n // 4, n // 4, model_noise=8, verifier_noise=3,
                            colluding=False)
    run_consensus_v2("req", commits, rec, 2, 40, 0.5, 4)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = run_consensus_v2("req", commits, rec, 2, 40, 0.5, 4)
        times.append(time.perf_counter() - t0)
    assert out.success and len(out.accepted) == n - n // 4
    # Generous bound for a shared 2-core machine; bench/bench_consensus.py reports the real figure.
    assert sorted(times)[1] < 0.25


# ---- hostile parameters (they come from a remote request's securityFrame) ----------------------

@pytest.mark.parametrize("p", [float("nan"), float("inf"), float("-inf"), 1e308, -1.0, 2.0])
def test_non_finite_or_odd_percentages_never_raise(p):
    emb = bytes(range(NBYTES))
    commits = [commit(i, emb) for i in range(1, 4)]
    for run in (
        lambda: run_consensus_v2("req", commits, by_iid(commits), 1, 8, p, 0),
        lambda: consensus.run_consensus_v1("req", commits, {c.output: emb for c in commits},
                                           "me", 1, 10, p),
    ):
        out = run()
        # A cluster can satisfy "needed" only when it is at most the number of commits.
        assert out.success == (out.cluster_size_needed <= 3)
    assert run_consensus_v2("req", commits, by_iid(commits), 1, 8, p, 0).success == (
        p in (float("-inf"), -1.0))


def test_zero_length_embeddings_do_not_crash():
    commits = [commit(1, b""), commit(2, b"")]
    out = run_consensus_v2("req", commits, by_iid(commits), 1, 0, 0.5, 0)
    assert out.success and len(out.accepted) == 2


def test_expected_length_is_the_common_recomputed_length_or_given():
    rng = random.Random(21)
    commits = [commit(i, random_bits(rng, NBYTES)) for i in range(1, 4)]
    odd = commit(4, random_bits(rng, NBYTES + 4))
    rec = by_iid(commits + [odd])  # our embedder returned one odd-length vector
    out = run_consensus_v2("req", commits + [odd], rec, 1, 400, 0.5, 0)
    assert out.success and ids(out.verified) == ids(commits)
    assert [(r.inference_id, r.reason) for r in out.rejections] == [(odd.inference_id,
                                                                     REJECT_MALFORMED)]
    forced = run_consensus_v2("req", commits + [odd], rec, 1, 400, 0.25, 0,
                              embedding_bytes=NBYTES + 4)
    assert ids(forced.verified) == [odd.inference_id] and len(forced.rejections) == 3
