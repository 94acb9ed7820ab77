"""Figures of the protocol core on CPython: the consensus computation for 256 commits, decoding a
v1-shaped reveal from the wire, signing and verifying it. The commit set is the one
bench/bench_consensus.py prints figures for (that script imports `build` from here)."""

from __future__ import annotations

import random

from .runner import Context, Group, repeat, timed_ms

CONSENSUS_N = 256
EMBEDDING_BITS = 384


def flip(rng: random.Random, emb: bytes, count: int) -> bytes:
    b = bytearray(emb)
    for p in rng.sample(range(len(b) * 8), count):
        b[p // 8] ^= 0x80 >> (p % 8)
    return bytes(b)


def build(n: int, nbytes: int, seed: int = 1):
    """3/4 honest outputs near one truth (model noise <= 8 bits), 1/4 garbage; verifier noise <= 3.
    Returns (commits, recomputed bits by inference id (v2), recomputed bits by output (v1))."""
    from rakis_py.protocol.consensus import CommitEntry, binary_embedding_hash

    rng = random.Random(seed)
    truth = bytes(rng.randrange(256) for _ in range(nbytes))
    commits, by_iid, by_output = [], {}, {}
    for i in range(n):
        synthient = f"{rng.getrandbits(256):064x}"
        honest = i < n - n // 4
        emb = flip(rng, truth, rng.randint(0, 8)) if honest else bytes(
            rng.randrange(256) for _ in range(nbytes))
        c = CommitEntry(f"req.{i:06d}", synthient, binary_embedding_hash(emb, synthient),
                        f"output {i}", emb)
        commits.append(c)
        by_iid[c.inference_id] = flip(rng, emb, rng.randint(0, 3)) if honest else emb
        by_output[c.output] = emb  # v1 demands exact bytes; give it what it needs to get through
    rng.shuffle(commits)
    return commits, by_iid, by_output


def consensus_v2(commits, by_iid):
    """One full v2 consensus as a verifier runs it (quorum 2, 40 bits, 50%, 4 publishers)."""
    from rakis_py.protocol.consensus import run_consensus_v2
    return run_consensus_v2("req", commits, by_iid, 2, 40, 0.5, 4)


def _reveal_envelope():
    """A signed v1 inferenceReveal: 768 float32s and 96 bytes as index-keyed objects, ~2 KB output."""
    from rakis_py.protocol import builders as B
    from rakis_py.protocol.identity import Identity

    rng = random.Random(7)
    ident = Identity.from_private_key(bytes(range(32)))
    output = ("The network agrees on one answer. " * 60)[:2000]
    packet = B.inference_reveal("d7" * 32, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", output,
                                rng.randbytes(96), [rng.gauss(0, 0.05) for _ in range(768)],
                                "2024-07-25T21:17:41.123+08:00", v1_typed_arrays=True)
    return ident, packet


def measure(ctx: Context, wanted: frozenset[str]) -> dict:
    out = {}
    if "consensus_ms_n256" in wanted:
        commits, by_iid, _ = build(CONSENSUS_N, EMBEDDING_BITS // 8)
        assert consensus_v2(commits, by_iid).success  # the benchmark must time a successful run
        out["consensus_ms_n256"] = repeat(lambda: timed_ms(lambda: consensus_v2(commits, by_iid)),
                                          ctx.runs(10, 30), "ms", warmup=1)
    if wanted & {"decode_reveal_us", "sign_reveal_ms", "verify_reveal_ms"}:
        from rakis_py.protocol.identity import verify_packet
        from rakis_py.protocol.packets import decode_envelope, encode_envelope

        ident, packet = _reveal_envelope()
        env = ident.envelope(packet)
        wire = encode_envelope(env)
        batch = 50  # one call is tens of microseconds: time batches, report per call
        out["decode_reveal_us"] = repeat(
            lambda: timed_ms(lambda: [decode_envelope(wire) for _ in range(batch)]) * 1000 / batch,
            ctx.runs(5, 20), "us", warmup=1, digits=1, note=f"{len(wire)} wire bytes")
        out["sign_reveal_ms"] = repeat(
            lambda: timed_ms(lambda: [ident.sign_packet(packet) for _ in range(10)]) / 10,
            ctx.runs(5, 20), "ms", warmup=1)
        sig = env["signature"]
        out["verify_reveal_ms"] = repeat(
            lambda: timed_ms(lambda: [verify_packet(ident.synthient_id, sig, packet) for _ in range(10)]) / 10,
            ctx.runs(5, 20), "ms", warmup=1)
    return out


GROUP = Group("core", ("consensus_ms_n256", "decode_reveal_us", "sign_reveal_ms", "verify_reveal_ms"),
              measure)
