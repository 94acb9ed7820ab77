"""Simulator benchmark: wall time and events/s of the st1 scenario at a few sizes (prints JSON).

    .venv/bin/python bench/bench_sim.py                 # ~2.5 min: st1 at 250/500/1000 nodes, 20 simulated min each, v2
    .venv/bin/python bench/bench_sim.py --nodes 2000 --duration 3600 --protocol v2   # the target

Each row: nodes (over the run), nodes_max_online, sim_seconds, wall_seconds, events, events_per_s,
packets, copies, and the run's agreement figures. The protocol is always passed explicitly
(``--protocol``, default v2 like ``rakis sim``). The target: 2,000 nodes for one simulated
hour in < 10 min on 2 cores. ``--save PATH`` also writes the JSON there (bench/results/sim-*.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rakis_py.sim import scenarios  # noqa: E402
from rakis_py.sim.simulation import Simulation  # noqa: E402


def one(nodes: int, duration: float, protocol: int, seed: int, out: str | None = None) -> dict:
    # `nodes` distinct nodes over `duration` s: at a fixed duration the online population grows
    # with the node count (README "Performance").
    sc = scenarios.st1().with_size(nodes, duration).with_protocol(protocol)
    # --out: the two observers' datasets too (the stability test's consensus figures are theirs).
    s = Simulation(sc, seed=seed, out_dir=os.path.join(out, f"st1-v{protocol}-{nodes}") if out else None).run()
    keys = ("nodes", "nodes_max_online", "requests", "quorums", "full_agreement", "full_agreement_with_result",
            "majority_agreement", "observer_agreement", "observer_majority", "observer_divergence",
            "failed_by_phase", "agreed_no_result_by_phase", "bytes_per_token", "tokens_per_packet",
            "packets_per_request", "observer_outcomes", "observer_dataset_divergence", "recomputed_verdicts", "core_errors", "sim_seconds", "wall_seconds", "events", "events_per_s", "packets")
    return {k: s.get(k) for k in keys} | {"protocol": protocol, "seed": seed, "copies": s["links"]["copies"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="*", default=[250, 500, 1000])
    ap.add_argument("--duration", type=float, default=1200, help="simulated s of load (1200: incl. st1's first burst)")
    ap.add_argument("--protocol", choices=("v1", "v2"), default="v2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", default=None, help="also write the JSON to this path")
    ap.add_argument("--out", default=None, help="record the two observers' datasets under this directory")
    a = ap.parse_args(argv)
    rows = [one(n, a.duration, 1 if a.protocol == "v1" else 2, a.seed, a.out) for n in a.nodes]
    out = json.dumps({"bench": "sim", "scenario": "st1", "duration_s": a.duration, "cpus": os.cpu_count(),
                      "rows": rows}, indent=1)
    print(out)
    if a.save:
        with open(a.save, "w", encoding="utf-8") as f:
            f.write(out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
