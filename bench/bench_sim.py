"""Simulator benchmark: wall time and events/s of the st1 scenario at a few sizes (prints JSON).

    .venv/bin/python bench/bench_sim.py                 # ~1-2 min: st1 at 250/500/1000 nodes, 10 min each
    .venv/bin/python bench/bench_sim.py --nodes 2000 --duration 3600 --protocol v2   # the issue's target

Each row: nodes (over the run), nodes_max_online, sim_seconds, wall_seconds, events, events_per_s,
packets, copies. The issue's target: 2,000 nodes for one simulated hour in < 10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rakis_py.sim import scenarios  # noqa: E402
from rakis_py.sim.simulation import Simulation  # noqa: E402


def one(nodes: int, duration: float, protocol: int, seed: int) -> dict:
    # Scale the node count with the duration so the online population stays like st1's.
    sc = scenarios.st1().with_size(nodes, duration).with_protocol(protocol)
    s = Simulation(sc, seed=seed).run()
    return {k: s[k] for k in ("nodes", "nodes_max_online", "requests", "quorums", "full_agreement",
                              "sim_seconds", "wall_seconds", "events", "events_per_s", "packets")} \
        | {"protocol": protocol, "copies": s["links"]["copies"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="*", default=[250, 500, 1000])
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--protocol", choices=("v1", "v2"), default="v2")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    rows = [one(n, a.duration, 1 if a.protocol == "v1" else 2, a.seed) for n in a.nodes]
    print(json.dumps({"bench": "sim", "scenario": "st1", "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
