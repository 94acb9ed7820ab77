"""NodeModel: a MODEL of who is online, with what hardware, and how honest (not the node itself).

Draws one ``NodeProfile`` per node that ever takes part in a run:

* churn: ``initial_share`` of the nodes are online at the start, the rest arrive as a Poisson
  process spread over the run; each stays for a lognormal session (median ``session_median_s``)
  and then leaves (``leave``) or, with probability ``crash_share``, crashes (``crash``: it stops
  mid-work; for the simulator both mean "no more events", the difference is kept for metrics);
* workers: ``follower_share`` of nodes run no model; the others draw their LLM worker count from
  ``worker_weights`` (v1's test: most nodes ran the default 2, a smooth spread around it);
* speed: tokens per second per worker, lognormal around ``tps_median`` (heterogeneous devices);
* clock skew: the node's ``now`` is virtual time + ``skew_ms`` (normal, sd ``skew_sd_ms``);
* followers load the embedding model (so they verify and publish) only if ``follower_embedder``;
* ``byzantine_share`` of worker nodes publish garbage outputs (see standins.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeParams:
    initial_share: float = 1.0           # share of nodes online at t=0; others arrive later
    session_median_s: float = 1e9        # lognormal session length (huge = never leaves)
    session_sigma: float = 1.0
    crash_share: float = 0.3             # share of departures that are crashes
    follower_share: float = 0.1          # nodes without LLM workers
    worker_weights: tuple[tuple[int, float], ...] = ((1, 0.15), (2, 0.6), (3, 0.12), (4, 0.09), (6, 0.04))
    tps_median: float = 25.0             # tokens/s of one worker
    tps_sigma: float = 0.5
    skew_sd_ms: float = 500.0            # clock skew between nodes
    byzantine_share: float = 0.0
    boot_ms: int = 2_000                 # time from joining to workers ready
    follower_embedder: bool = True       # followers still load the embedding model (and verify)


@dataclass(frozen=True)
class NodeProfile:
    index: int
    region: int
    join_ms: int            # offset from run start
    leave_ms: int           # offset from run start (may exceed the run)
    leave_kind: str         # "leave" | "crash"
    workers: int
    tokens_per_s: float
    skew_ms: int
    byzantine: bool


class NodeModel:
    def __init__(self, params: NodeParams) -> None:
        self.p = params

    def draw(self, n: int, duration_ms: int, region_weights: list[float], seed: int) -> list[NodeProfile]:
        p, rng = self.p, random.Random(seed)
        counts, weights = zip(*p.worker_weights)
        out = []
        for i in range(n):
            if rng.random() < p.initial_share:
                join = 0
            else:
                join = int(rng.random() * duration_ms * 0.95)
            session = rng.lognormvariate(0.0, p.session_sigma) * p.session_median_s * 1000
            leave = join + int(min(session, 1e15))
            kind = "crash" if rng.random() < p.crash_share else "leave"
            workers = 0 if rng.random() < p.follower_share else rng.choices(counts, weights)[0]
            tps = p.tps_median * rng.lognormvariate(0.0, p.tps_sigma)
            skew = int(rng.gauss(0.0, p.skew_sd_ms))
            byz = workers > 0 and rng.random() < p.byzantine_share
            region = rng.choices(range(len(region_weights)), region_weights)[0]
            out.append(NodeProfile(i, region, join, leave, kind, workers, tps, skew, byz))
        return out
