"""Decoder speed: decode_envelope on a v1-shaped, signed inferenceReveal (768 float32 values and
96 bytes as index-keyed objects, a ~2 KB output), from wire bytes and from a parsed dict, plus
signature verification of the decoded packet for comparison.

Usage (from the repo root):  python bench/bench_decode.py [--runs 2000]
Prints one JSON object with medians in microseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rakis_py.protocol import builders as B  # noqa: E402
from rakis_py.protocol.identity import Identity, verify_packet  # noqa: E402
from rakis_py.protocol.packets import decode_envelope, encode_envelope  # noqa: E402
from tests.unit._packet_samples import CREATED, SID_B, bembedding_96, embedding_768  # noqa: E402


def median_us(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e6, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    ident = Identity.from_private_key(bytes(range(32)))
    output = ("The network agrees on one answer. " * 60)[:2000]
    packet = B.inference_reveal(SID_B, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", output, bembedding_96(),
                                embedding_768(), CREATED, v1_typed_arrays=True)
    wire = encode_envelope(ident.envelope(packet))
    parsed = json.loads(wire)
    env = decode_envelope(wire)
    result = {
        "packet": "v1 inferenceReveal, 768 floats + 96 bytes as index-keyed objects",
        "wire_bytes": len(wire),
        "runs": args.runs,
        "decode_bytes_median_us": median_us(lambda: decode_envelope(wire), args.runs),
        "decode_dict_median_us": median_us(lambda: decode_envelope(parsed), args.runs),
        "json_loads_only_median_us": median_us(lambda: json.loads(wire), args.runs),
        "verify_median_us": median_us(
            lambda: verify_packet(env.synthient_id, env.signature, env.raw_packet), args.runs // 4),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
