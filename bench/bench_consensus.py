"""Consensus speed: one full run_consensus_v2 (and v1 for comparison) over n commits.

Usage (from the repo root):  python bench/bench_consensus.py [--n 256] [--runs 30] [--bits 384]
Prints one JSON object. Times include everything a verifier does: sorting, hash checks, reveal
vs recomputation checks, the n x n distance matrix, clustering, joint hash and winner.
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

import numpy as np  # noqa: E402

from rakis_py.bench.core import build  # noqa: E402  (the commit set `rakis bench` times too)
from rakis_py.protocol.consensus import (  # noqa: E402
    binary_embedding_hash,
    hamming_matrix,
    run_consensus_v1,
    run_consensus_v2,
)


def timed(fn, runs: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median": round(statistics.median(times), 3), "min": round(min(times), 3),
            "max": round(max(times), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bits", type=int, default=384)
    args = ap.parse_args()
    n, nbytes = args.n, args.bits // 8
    commits, by_iid, by_output = build(n, nbytes)

    v2 = timed(lambda: run_consensus_v2("req", commits, by_iid, 2, 40, 0.5, 4), args.runs)
    v1 = timed(lambda: run_consensus_v1("req", commits, by_output, "none", 2, 4500, 0.5), args.runs)
    bits = np.frombuffer(b"".join(c.b_embedding for c in commits), np.uint8).reshape(n, nbytes)
    ham = timed(lambda: hamming_matrix(bits), args.runs)
    hashing = timed(lambda: [binary_embedding_hash(c.b_embedding, c.synthient_id) for c in commits],
                    args.runs)
    out = run_consensus_v2("req", commits, by_iid, 2, 40, 0.5, 4)

    key = f"consensus_ms_n{n}"
    print(json.dumps({
        key: v2["median"], "min": v2["min"], "max": v2["max"], "runs": args.runs,
        "n": n, "bits": args.bits, "accepted": len(out.accepted), "success": out.success,
        "v1_ms": v1, "hamming_matrix_ms": ham, "commit_hashes_ms": hashing,
        "numpy": np.__version__, "bitwise_count": hasattr(np, "bitwise_count"),
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
