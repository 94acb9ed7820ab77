"""Builders for consensus test scenarios (shared by the v1 and v2 tests)."""

from __future__ import annotations

import random

from rakis_py.protocol.consensus import CommitEntry, binary_embedding_hash


def sid(i: int) -> str:
    """A synthient id (64 hex) that sorts by i."""
    return f"{i:064x}"


def commit(
    i: int,
    emb: bytes | None,
    output: str | None = None,
    *,
    request_id: str = "req",
    hash_of: bytes | None = None,
    synthient: str | None = None,
) -> CommitEntry:
    """Commit number i: honest hash over `emb` (or over `hash_of`), revealed iff emb is given."""
    s = synthient if synthient is not None else sid(i)
    basis = hash_of if hash_of is not None else emb
    h = binary_embedding_hash(basis if basis is not None else b"", s)
    if emb is not None and output is None:
        output = f"output {i}"
    return CommitEntry(
        inference_id=f"{request_id}.{i:06d}",
        synthient_id=s,
        b_embedding_hash=h,
        output=output if emb is not None else None,
        b_embedding=emb,
    )


def unrevealed(c: CommitEntry) -> CommitEntry:
    return CommitEntry(c.inference_id, c.synthient_id, c.b_embedding_hash)


def flip_bits(emb: bytes, positions) -> bytes:
    """Flip the given bit positions (0 = MSB of byte 0, as np.unpackbits orders them)."""
    b = bytearray(emb)
    for p in positions:
        b[p // 8] ^= 0x80 >> (p % 8)
    return bytes(b)


def random_bits(rng: random.Random, nbytes: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(nbytes))


def flip_random(rng: random.Random, emb: bytes, count: int) -> bytes:
    return flip_bits(emb, rng.sample(range(len(emb) * 8), count))


def hamming(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


def by_iid(commits, overrides=None):
    """The verifier's recomputation keyed by inference id (v2): the revealed bits, overridable."""
    out = {c.inference_id: c.b_embedding for c in commits if c.b_embedding is not None}
    out.update(overrides or {})
    return out


def ids(entries):
    return [c.inference_id for c in entries]
