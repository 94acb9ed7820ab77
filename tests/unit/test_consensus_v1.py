"""v1 consensus (spec §7) reproduced step by step, and each weakness of §15 it keeps, next to v2."""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol.consensus import (
    REASON_NO_CLUSTER,
    REASON_SUCCESS,
    REASON_THRESHOLD,
    REJECT_HASH_MISMATCH,
    REJECT_THRESHOLD,
    binary_embedding_hash,
    euclidean_byte_matrix,
    js_cosine_similarity,
    run_consensus_v1,
    run_consensus_v2,
)
from tests.unit._consensus_fixtures import (
    by_iid,
    ids,
    commit,
    flip_bits,
    flip_random,
    random_bits,
    sid,
    unrevealed,
)

OUR = sid(0)
NODE = shutil.which("node")


def recomputed_of(commits, overrides=None):
    """Verifier's recomputation keyed by output text (v1) — honest unless overridden."""
    out = {c.output: c.b_embedding for c in commits if c.output is not None}
    out.update(overrides or {})
    return out






# ---- a naive transcription of spec §7, to cross-check the vectorised version ----------------

def reference_v1(request_id, commits, recomputed, our_id, q, d, p):
    needed = math.ceil(p * len(commits))
    revealed = [c for c in commits if c.output is not None and c.b_embedding is not None]
    verified, rejected = [], []
    for c in revealed:
        if c.synthient_id == our_id:
            verified.append(c)
            continue
        r = recomputed.get(c.output)
        if r is None:
            continue
        a, b = list(c.b_embedding), list(r)
        m = min(len(a), len(b))
        dot = sum(a[i] * b[i] for i in range(m))
        na = sum(a[i] * a[i] for i in range(m))
        nb = sum(b[i] * b[i] for i in range(m))
        mag = math.sqrt(float(na) * float(nb))
        sim = 0 if mag == 0 else dot / mag
        if sim < 1:
            rejected.append((c.inference_id, REJECT_THRESHOLD))
            continue
        if hashlib.sha256(bytes(a) + c.synthient_id.encode()).hexdigest() != c.b_embedding_hash:
            rejected.append((c.inference_id, REJECT_HASH_MISMATCH))
            continue
        verified.append(c)
    if len(verified) < q:
        return REASON_THRESHOLD, verified, rejected, [], None, None
    n = len(verified)
    dist = [[0.0 if i == j else math.sqrt(sum((x - y) ** 2 for x, y in
                                              zip(verified[i].b_embedding, verified[j].b_embedding)))
             for j in range(n)] for i in range(n)]
    sizes = [sum(1 for j in range(n) if dist[i][j] < d) for i in range(n)]
    cands = sorted([i for i in range(n) if sizes[i] >= needed], key=lambda i: -sizes[i])
    if not cands:
        return REASON_NO_CLUSTER, verified, rejected, [], None, None
    centre = cands[0]
    acc = [verified[j] for j in range(n) if dist[centre][j] < d]
    jh = hashlib.sha256((request_id + "".join(c.b_embedding_hash + c.inference_id for c in acc))
                        .encode()).hexdigest()
    return REASON_SUCCESS, verified, rejected, acc, jh, acc[int(math.fmod(float(int(jh[:16], 16)),
                                                                          len(acc)))]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_matches_naive_transcription_of_spec(seed):
    rng = random.Random(seed)
    nbytes = 12
    centres = [random_bits(rng, nbytes) for _ in range(2)]
    commits, recomputed = [], {}
    for i in range(rng.randint(1, 9)):
        kind = rng.choice(["honest", "honest", "own", "unrevealed", "unknown", "flip", "badhash"])
        emb = flip_random(rng, rng.choice(centres), rng.randint(0, 6))
        c = commit(i + 1, emb, synthient=OUR if kind == "own" else None,
                   hash_of=random_bits(rng, nbytes) if kind == "badhash" else None)
        if kind == "unrevealed":
            c = unrevealed(c)
        elif kind == "flip":
            recomputed[c.output] = flip_random(rng, emb, 1)
        elif kind != "unknown":
            recomputed[c.output] = emb
        commits.append(c)
    q = rng.randint(0, 4)
    d = rng.choice([0.5, 1, 30, 60, 150, 4500])
    p = rng.choice([0, 0.34, 0.5, 0.66, 1.0])
    out = run_consensus_v1("req", commits, recomputed, OUR, q, d, p)
    reason, verified, rejected, acc, jh, winner = reference_v1("req", commits, recomputed, OUR, q, d, p)
    assert out.reason == reason
    assert out.success == (reason == REASON_SUCCESS)
    assert ids(out.verified) == ids(verified)
    assert [(r.inference_id, r.reason) for r in out.rejections] == rejected
    assert ids(out.accepted) == ids(acc)
    assert out.joint_hash == jh
    assert (out.winner.inference_id if out.winner else None) == (winner.inference_id if winner else None)
    assert out.cluster_size_needed == math.ceil(p * len(commits))


# ---- building blocks ------------------------------------------------------------------------

def test_euclidean_byte_matrix_matches_direct_formula():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 256, (9, 96), dtype=np.uint8)
    d = euclidean_byte_matrix(bits)
    for i in range(9):
        for j in range(9):
            expected = 0.0 if i == j else math.sqrt(sum((int(x) - int(y)) ** 2
                                                        for x, y in zip(bits[i], bits[j])))
            assert d[i, j] == expected  # bit-identical double, not approximately
    assert euclidean_byte_matrix(np.zeros((0, 96), np.uint8)).shape == (0, 0)


def test_cosine_edge_cases():
    a = bytes([3, 0, 200, 17])
    assert js_cosine_similarity(a, a) == 1.0
    assert js_cosine_similarity(a, bytes(x * 0 for x in a)) == 0  # zero magnitude -> 0
    assert js_cosine_similarity(bytes([1, 2]), bytes([2, 4])) == 1.0  # positive multiple passes
    assert js_cosine_similarity(a, a[:2]) == 1.0  # only the common prefix is compared
    assert js_cosine_similarity(a, flip_bits(a, [31])) < 1.0


@pytest.mark.skipif(NODE is None, reason="node not on PATH")
def test_cosine_matches_js_doubles():
    # The loop of the cos-similarity package (v1.1.1) run by node, compared bit for bit.
    rng = random.Random(11)
    pairs = []
    for _ in range(40):
        a = random_bits(rng, 96)
        b = rng.choice([a, flip_random(rng, a, rng.randint(1, 5)), random_bits(rng, 96), a[:50]])
        pairs.append([list(a), list(b)])
    js = """
const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));
function sim(A, B) {
  const n = Math.min(A.length, B.length); let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) { ab += A[i] * B[i]; aa += A[i] * A[i]; bb += B[i] * B[i]; }
  const m = Math.sqrt(aa * bb); return m === 0 ? 0 : ab / m;
}
console.log(JSON.stringify(d.map(([a, b]) => sim(a, b).toString())));
"""
    proc = subprocess.run([NODE, "-e", js], input=json.dumps(pairs), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    expected = [float(x) for x in json.loads(proc.stdout)]
    assert [js_cosine_similarity(bytes(a), bytes(b)) for a, b in pairs] == expected


# ---- §15 weaknesses, one scenario each ------------------------------------------------------

def test_own_commit_is_accepted_unverified_in_v1_but_not_in_v2():  # §15.8
    rng = random.Random(1)
    honest = random_bits(rng, 96)
    mine = commit(0, random_bits(rng, 96), synthient=OUR, hash_of=b"not my bits")  # wrong hash
    others = [commit(i, honest) for i in (1, 2)]
    commits = [mine] + others
    # Nobody recomputed our output, and our hash is wrong: v1 still takes it.
    v1 = run_consensus_v1("req", commits, recomputed_of(others), OUR, 3, 4500, 0.5)
    assert v1.success and mine in v1.verified and mine in v1.accepted
    assert v1.rejections == []
    # v2 checks every reveal, its own included.
    v2 = run_consensus_v2("req", commits, by_iid(commits), 2, 40, 0.5, 4)
    assert mine not in v2.verified
    assert [(r.inference_id, r.reason) for r in v2.rejections] == [(mine.inference_id,
                                                                     REJECT_HASH_MISMATCH)]


def test_one_flipped_bit_rejected_by_v1_accepted_by_v2_with_tolerance():  # §15.11
    rng = random.Random(2)
    emb = random_bits(rng, 96)
    c = commit(1, emb)
    near = flip_bits(emb, [rng.randrange(768)])  # verifier's model flipped one sign bit
    v1 = run_consensus_v1("req", [c], {c.output: near}, OUR, 1, 4500, 0.5)
    assert not v1.success and v1.reason == REASON_THRESHOLD
    [rej] = v1.rejections
    assert rej.reason == REJECT_THRESHOLD and rej.computed == near and rej.revealed == emb
    v2 = run_consensus_v2("req", [c], {c.inference_id: near}, 1, 40, 0.5, 2)
    assert v2.success and v2.accepted == [c] and v2.rejections == []


def test_vacuous_sec_distance_lets_garbage_win_in_v1_never_in_v2():  # §15.3, §15.5
    assert 255 * math.sqrt(96) < 4500  # the UI's secDistance exceeds any possible distance
    rng = random.Random(3)
    truth = random_bits(rng, 96)
    honest = [commit(i, flip_random(rng, truth, 2)) for i in (1, 2, 3, 4)]
    garbage = commit(5, bytes(255 - x for x in truth), output="garbage")  # honestly hashed junk
    commits = honest + [garbage]
    garbage_won = None
    for k in range(200):
        rid = f"req-{k}"
        v1 = run_consensus_v1(rid, commits, recomputed_of(commits), OUR, 2, 4500, 0.5)
        assert v1.success and garbage in v1.accepted  # every verified reveal is in the cluster
        v2 = run_consensus_v2(rid, commits, by_iid(commits), 2, 40, 0.5, 0)
        assert v2.success and garbage not in v2.accepted and v2.winner in honest
        if v1.winner == garbage:
            garbage_won = rid
            break
    assert garbage_won is not None, "v1 should hand the win to the garbage output for some request id"


def test_euclidean_over_bytes_depends_on_bit_position():  # §15.4
    base = bytes([0x10] * 96)
    lsb = flip_bits(base, [7])  # lowest bit of byte 0
    msb = flip_bits(base, [0])  # highest bit of byte 0
    many_low = flip_bits(base, [8 * k + 7 for k in range(40)])  # 40 low bits
    d = euclidean_byte_matrix(np.frombuffer(base + lsb + msb + many_low, np.uint8).reshape(4, 96))
    assert d[0, 1] == 1.0 and d[0, 2] == 128.0  # one bit each, 1 vs 128 apart
    assert d[0, 3] == math.sqrt(40)  # 40 differing bits count as "closer" than one high bit
    commits = [commit(1, base), commit(2, msb), commit(3, many_low)]
    v1 = run_consensus_v1("req", commits, recomputed_of(commits), OUR, 2, 100, 0.5)
    assert ids(v1.accepted) == ids([commits[0], commits[2]])  # the 1-bit neighbour is left out
    v2 = run_consensus_v2("req", commits, by_iid(commits), 2, 8, 0.5, 0)
    assert ids(v2.accepted) == ids(commits[:2])  # Hamming: 1 bit close, 40 bits far


def test_local_order_changes_v1_result_but_not_v2():  # §15.7
    rng = random.Random(4)
    truth = random_bits(rng, 96)
    commits = [commit(i, flip_random(rng, truth, 1)) for i in range(1, 6)]
    rec, rec2 = recomputed_of(commits), by_iid(commits)
    v1_hashes, v1_winners, v2_results = set(), set(), set()
    for k in range(12):
        order = commits[:]
        random.Random(k).shuffle(order)
        v1 = run_consensus_v1("req", order, rec, OUR, 3, 4500, 0.5)
        v1_hashes.add(v1.joint_hash)
        v1_winners.add(v1.winner.inference_id)
        v2 = run_consensus_v2("req", order, rec2, 3, 40, 0.5, 0)
        v2_results.add((v2.joint_hash, v2.winner.inference_id, tuple(ids(v2.accepted))))
    assert len(v1_hashes) > 1 and len(v1_winners) > 1
    assert len(v2_results) == 1


def test_v1_tie_between_equal_clusters_goes_to_earliest_arrival():  # §15.7 tie-break
    rng = random.Random(5)
    a, b = random_bits(rng, 96), random_bits(rng, 96)
    ca = [commit(1, a), commit(2, a)]
    cb = [commit(3, b), commit(4, b)]
    rec = recomputed_of(ca + cb)
    first_a = run_consensus_v1("req", ca + cb, rec, OUR, 2, 10, 0.5)
    first_b = run_consensus_v1("req", cb + ca, rec, OUR, 2, 10, 0.5)
    assert ids(first_a.accepted) == ids(ca) and ids(first_b.accepted) == ids(cb)


def test_cluster_size_needed_counts_unrevealed_commits():  # §15.7
    rng = random.Random(6)
    emb = random_bits(rng, 96)
    revealed = [commit(1, emb), commit(2, emb)]
    silent = [unrevealed(commit(i, emb)) for i in (3, 4)]
    rec = recomputed_of(revealed)
    with_silent = run_consensus_v1("req", revealed + silent, rec, OUR, 2, 10, 0.75)
    assert with_silent.cluster_size_needed == 3
    assert not with_silent.success and with_silent.reason == REASON_NO_CLUSTER
    without = run_consensus_v1("req", revealed, rec, OUR, 2, 10, 0.75)
    assert without.cluster_size_needed == 2 and without.success


def test_verified_lists_only_verified_commits():  # §15.12
    rng = random.Random(7)
    emb = random_bits(rng, 96)
    good = [commit(1, emb), commit(2, emb)]
    silent_drop = commit(3, emb, output="nobody recomputed this")
    bad_hash = commit(4, emb, hash_of=b"x")
    flipped = commit(5, emb)
    never = unrevealed(commit(6, emb))
    commits = [good[0], silent_drop, bad_hash, flipped, never, good[1]]
    rec = recomputed_of(good + [bad_hash], {flipped.output: flip_bits(emb, [3])})
    out = run_consensus_v1("req", commits, rec, OUR, 2, 10, 0.3)
    assert out.success
    assert ids(out.verified) == ids(good)  # what v1 publishes as submittedInferences
    assert {r.inference_id: r.reason for r in out.rejections} == {
        bad_hash.inference_id: REJECT_HASH_MISMATCH, flipped.inference_id: REJECT_THRESHOLD}


# ---- each failure reason and rejection payload ----------------------------------------------

def test_hash_mismatch_rejection_payload():
    emb = bytes(range(96))
    c = commit(1, emb, hash_of=bytes(96))
    out = run_consensus_v1("req", [c], recomputed_of([c]), OUR, 1, 10, 0.5)
    assert out.reason == REASON_THRESHOLD and not out.success and out.verified == []
    [r] = out.rejections
    assert r.reason == REJECT_HASH_MISMATCH and r.revealed == emb and r.computed == emb
    assert r.computed_hash == binary_embedding_hash(emb, c.synthient_id)
    assert r.revealed_hash == c.b_embedding_hash != r.computed_hash


def test_no_cluster_of_needed_size():
    rng = random.Random(8)
    commits = [commit(i, random_bits(rng, 96)) for i in range(1, 5)]  # all far apart
    out = run_consensus_v1("req", commits, recomputed_of(commits), OUR, 2, 100, 0.5)
    assert not out.success and out.reason == REASON_NO_CLUSTER
    assert out.accepted == [] and out.winner is None and out.joint_hash is None
    assert out.debug["clusterSizes"] == [1, 1, 1, 1]
    assert len(out.verified) == 4


def test_strict_less_than_sec_distance():
    base = bytes([0x10] * 96)  # not all-zero: a zero vector has cosine 0 and is always rejected
    near = flip_bits(base, [7])  # Euclidean distance exactly 1
    commits = [commit(1, base), commit(2, near)]
    rec = recomputed_of(commits)
    assert not run_consensus_v1("req", commits, rec, OUR, 2, 1, 1.0).success
    assert run_consensus_v1("req", commits, rec, OUR, 2, 1.0000001, 1.0).success


def test_positive_scalar_multiple_passes_v1_cosine_check():
    # A quirk of the cosine check: doubling every byte keeps similarity 1.0.
    emb = bytes(range(0, 96))
    doubled = bytes(2 * x for x in emb)
    c = commit(1, doubled)
    out = run_consensus_v1("req", [c], {c.output: emb}, OUR, 1, 10, 0.5)
    assert out.success and out.winner == c
    v2 = run_consensus_v2("req", [c], {c.inference_id: emb}, 1, 10, 0.5, 4)
    assert not v2.success and v2.rejections[0].reason == REJECT_THRESHOLD


def test_debug_and_outcome_shape():
    emb = bytes([0x10] * 96)
    commits = [commit(1, emb), commit(2, emb), commit(3, flip_bits(emb, [0]))]
    out = run_consensus_v1("req", commits, recomputed_of(commits), OUR, 2, 10, 0.5)
    assert out.success and out.debug["clusterSizeNeeded"] == 2
    assert out.debug["distances"][0][2] == 128.0
    assert out.debug["clusterSizes"] == [2, 2, 1]
    assert ids(out.accepted) == ids(commits[:2])
    assert out.winner in out.accepted
    assert out.joint_hash == hashlib.sha256(
        ("req" + "".join(c.b_embedding_hash + c.inference_id for c in commits[:2])).encode()
    ).hexdigest()


def test_all_zero_embedding_is_always_rejected_by_v1():
    # cos-similarity returns 0 for a zero vector, and 0 < 1: an honest all-zero bEmbedding fails.
    c = commit(1, bytes(96))
    out = run_consensus_v1("req", [c], recomputed_of([c]), OUR, 1, 10, 0.5)
    assert not out.success and out.rejections[0].reason == REJECT_THRESHOLD
    assert run_consensus_v2("req", [c], by_iid([c]), 1, 10, 0.5, 0).success


def test_v1_winner_index_is_biased_for_even_cluster_sizes():
    # parseInt rounds a 64-bit prefix >= 2**62 to a multiple of 2**10, so `% 4` is always 0:
    # in a 4-member cluster v1 always picks the earliest arrival. v2's exact modulo does not.
    from rakis_py.protocol.consensus import v1_winner_index, v2_winner_index

    rng = random.Random(9)
    hashes = ["".join(rng.choice("456789abcdef") for _ in range(1)) +
              "".join(rng.choice("0123456789abcdef") for _ in range(63)) for _ in range(200)]
    assert {v1_winner_index(h, 4) for h in hashes} == {0}
    assert {v2_winner_index(h, 4) for h in hashes} == {0, 1, 2, 3}
