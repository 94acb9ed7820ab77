"""Decoder fuzzing at volume: N inputs (default 1,000,000) through `decode_envelope`, the one entry
point every received packet takes. tests/unit/test_decoder_fuzz.py fuzzes briefly with hypothesis
on every test run; this runs the same contract a thousand times longer, with cheap seeded
mutations instead of hypothesis' search:

- bytes: a real signed envelope (every v1 and v2 packet sample, plus a reveal with 768 floats)
  as wire bytes, then 1-8 byte edits (flip a bit, set a byte, delete, insert, duplicate or cut a
  span, splice in a JSON token);
- tree: the same envelopes as parsed dicts with 1-4 edits at a random path (drop a key, replace a
  value with a tricky one, add a key, wrap a value in lists, deep nesting, swap types), passed as a
  dict or re-encoded as JSON text;
- random: random bytes of random length (0-4096), and random JSON-ish token soup.

Contract: every input gives an Envelope or PacketRejected, nothing else; a PacketRejected whose
detail starts with "internal" is the decoder's own safety net catching a bug, and is counted too.

Usage (from the repo root):  python bench/bench_decoder_fuzz.py [--inputs 1000000] [--seed 1]
Prints one JSON object: inputs, seconds, inputs_per_s, outcomes per code, exceptions (must be 0),
internal (must be 0), and the first few failing inputs (repr, cut) when there are any.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rakis_py.protocol import builders as B  # noqa: E402
from rakis_py.protocol.identity import Identity  # noqa: E402
from rakis_py.protocol.errors import PacketRejected  # noqa: E402
from rakis_py.protocol.packets import decode_envelope  # noqa: E402
from tests.unit._packet_samples import (CREATED, SID_B, bembedding_96, embedding_768,  # noqa: E402
                                        v1_packets, v2_packets)

TRICKY = [None, True, False, 0, -1, 1, 255, 256, 2**53, 2**53 + 1, 10**21, -(10**21), 2**64, 0.5,
          -0.0, 1e-7, 1e308, float("inf"), float("nan"), "", "0", "a" * 65, "ab" * 64, SID_B,
          SID_B.upper(), "x" * 5000, "\ud800", "🍂", "<img src=x onerror=alert(1)>", [], {}, [0] * 96,
          [256] * 96, {"0": 1, "2": 3}, {"0": 1, "1": 2}, [[[[[[]]]]]], {"__proto__": {}},
          "peerStatusUpdate", "inferenceReveal", "inferenceCommit", "boot", "2024-07-25T21:17:41Z",
          "Invalid Date", {"type": "bembedding_hash_mismatch"}]
TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u0000", b"\\ud800", b"null", b"true",
          b"1e999", b"-0", b"NaN", b"Infinity", b"9" * 400, b'"type"', b'"packet"', b'"synthientId"',
          b'"signature"', b" ", b"\x00", b"\xff", b"\xc3\x28", b'"' + b"ab" * 64 + b'"']
KEYS = ["type", "packet", "synthientId", "signature", "createdAt", "requestId", "payload",
        "securityFrame", "embedding", "bEmbedding", "output", "x", "", "__proto__", "constructor"]


def corpus() -> list[dict]:
    """Real signed envelopes: every packet sample, and a v1-shaped reveal (the largest packet)."""
    ident = Identity.from_private_key(bytes(range(32)))
    packets = list({**v1_packets(), **v2_packets()}.values())
    packets.append(B.inference_reveal(SID_B, "req1", "inf1", "out " * 500, bembedding_96(),
                                      embedding_768(), CREATED, v1_typed_arrays=True))
    return [ident.envelope(p) for p in packets]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        n = len(b)
        op = rng.randrange(7)
        i = rng.randrange(n + 1) if n else 0
        if op == 0 and n:
            b[i % n] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[i % n] = rng.randrange(256)
        elif op == 2 and n:
            del b[i:i + rng.randint(1, 64)]
        elif op == 3:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and n:
            j = rng.randrange(n)
            b[i:i] = b[j:j + rng.randint(1, 256)]
        elif op == 5:
            del b[rng.randrange(n + 1):]
        else:
            b[i:i] = rng.choice(TOKENS)
    return bytes(b)


def _containers(tree, out, depth=0):
    if isinstance(tree, dict):
        out.append(tree)
        for v in tree.values():
            _containers(v, out, depth + 1)
    elif isinstance(tree, list) and depth < 6:
        out.append(tree)
        for v in tree[:8]:
            _containers(v, out, depth + 1)
    return out


def mutate_tree(rng: random.Random, wire: bytes) -> dict:
    env = json.loads(wire)          # a fresh copy, ~10x faster than deepcopy for the reveal
    for _ in range(rng.randint(1, 4)):
        target = rng.choice(_containers(env, []))
        op = rng.randrange(6)
        if isinstance(target, dict):
            key = rng.choice(list(target)) if target and op < 4 else rng.choice(KEYS)
            if op == 0 and target:
                target.pop(key, None)
            elif op in (1, 4):
                target[key] = copy.deepcopy(rng.choice(TRICKY))
            elif op == 2:
                target[key] = [target.get(key)] * rng.randint(1, 3)
            elif op == 3:
                value = target.get(key)
                target[key] = str(value) if not isinstance(value, str) else len(value)
            else:
                nest = x = {}
                for _ in range(rng.choice((3, 30, 300))):
                    x["a"] = {}
                    x = x["a"]
                target[key] = nest
        elif target:
            i = rng.randrange(len(target))
            if op < 3:
                target[i] = copy.deepcopy(rng.choice(TRICKY))
            elif op < 5:
                del target[i]
            else:
                target.extend(target[: rng.randint(1, 50)])
    return env


def random_input(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.choice((0, 1, 8, 64, 512, 4096)) and rng.randrange(4097))
    return b"".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 200)))


def decode(data) -> str:
    try:
        decode_envelope(data)
    except PacketRejected as r:
        return "internal" if r.detail.startswith("internal") else r.code.value
    return "ok"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    envs = corpus()
    wires = [json.dumps(e, separators=(",", ":")).encode() for e in envs]
    outcomes: Counter = Counter()
    kinds: Counter = Counter()
    failures = []
    decode_s = 0.0
    t0 = time.perf_counter()
    for _ in range(args.inputs):
        r = rng.random()
        if r < 0.45:
            kind, data = "bytes", mutate_bytes(rng, rng.choice(wires))
        elif r < 0.75:
            kind, tree = "tree", mutate_tree(rng, rng.choice(wires))
            data = tree if rng.random() < 0.5 else json.dumps(tree, allow_nan=True)
        elif r < 0.80:
            kind, data = "valid", rng.choice(wires)
        else:
            kind, data = "random", random_input(rng)
        kinds[kind] += 1
        d0 = time.perf_counter()
        try:
            outcome = decode(data)
        except BaseException as e:  # noqa: BLE001 - the contract under test
            if isinstance(e, KeyboardInterrupt):
                raise
            outcome = f"exception:{type(e).__name__}"
        decode_s += time.perf_counter() - d0
        outcomes[outcome] += 1
        if (outcome == "internal" or outcome.startswith("exception")) and len(failures) < 5:
            failures.append({"outcome": outcome, "kind": kind, "input": repr(data)[:300]})
    seconds = time.perf_counter() - t0
    exceptions = sum(v for k, v in outcomes.items() if k.startswith("exception"))
    print(json.dumps({
        "bench": "decoder_fuzz", "inputs": args.inputs, "seed": args.seed,
        "seconds": round(seconds, 1), "inputs_per_s": round(args.inputs / seconds),
        "decode_only_inputs_per_s": round(args.inputs / decode_s),
        "exceptions": exceptions, "internal": outcomes.get("internal", 0),
        "accepted": outcomes.get("ok", 0), "kinds": dict(kinds),
        "outcomes": dict(outcomes.most_common()), "failures": failures,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
    }, indent=1))
    sys.exit(1 if exceptions or outcomes.get("internal") else 0)


if __name__ == "__main__":
    main()
