"""NodeModel: a MODEL of who is online, with what hardware, and how honest (not the node itself).

Draws one ``NodeProfile`` per node that ever takes part in a run:

* churn: ``initial_share`` of the nodes are online at the start, the rest arrive as a Poisson
  process spread over the run; each stays for a lognormal session (median ``session_median_s``)
  and then departs, one of two ways (what the simulator does with each: simulation.py):

  - ``leave`` (a clean leave: the tab is closed or put away): its work in progress stops (the
    inference/embedding jobs running and its timers: the core keeps no in-memory state across a
    restart), but every record it persisted is on disk; with probability ``rejoin_share`` the
    same identity comes back after a lognormal absence (median ``away_median_s``) and the core is
    rebuilt from those records with ``Node.restore`` (timers re-armed, unfinished jobs re-run);
  - ``crash`` (probability ``crash_share``: the tab or browser dies): the same, and in addition
    the writes of its last ``crash_unflushed_ms`` never reached storage; it comes back with
    probability ``crash_rejoin_share`` (default 0), restored from what was flushed.

  A node that comes back gets a new session and may depart (and return) again, up to
  ``max_returns`` times. Returns are drawn from their own random stream, so enabling them does
  not change the other draws;
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
    rejoin_share: float = 0.0            # share of clean leaves that come back (Node.restore)
    crash_rejoin_share: float = 0.0      # share of crashes that come back (from flushed records)
    away_median_s: float = 300.0         # lognormal absence before a return (sigma session_sigma)
    max_returns: int = 3
    crash_unflushed_ms: int = 1_000      # storage writes a crash loses (the last this many ms)
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
    # Later sessions of the same identity: (rejoin, depart, kind) offsets from run start; each
    # follows the previous session's departure (leave_ms / the previous tuple's depart).
    returns: tuple[tuple[int, int, str], ...] = ()

    def sessions(self) -> list[tuple[int, int, str]]:
        """Every session: (join, depart, kind of departure)."""
        return [(self.join_ms, self.leave_ms, self.leave_kind), *self.returns]


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
        if p.rejoin_share > 0 or p.crash_rejoin_share > 0:
            out = self._draw_returns(out, duration_ms, random.Random(f"returns:{seed}"))
        return out

    def _draw_returns(self, profiles: list[NodeProfile], duration_ms: int,
                      rng: random.Random) -> list[NodeProfile]:
        from dataclasses import replace
        p = self.p
        out = []
        for prof in profiles:
            returns: list[tuple[int, int, str]] = []
            depart, kind = prof.leave_ms, prof.leave_kind
            while depart < duration_ms and len(returns) < p.max_returns:
                share = p.rejoin_share if kind == "leave" else p.crash_rejoin_share
                if rng.random() >= share:
                    break
                back = depart + max(1, int(rng.lognormvariate(0.0, p.session_sigma) * p.away_median_s * 1000))
                if back >= duration_ms:
                    break
                session = rng.lognormvariate(0.0, p.session_sigma) * p.session_median_s * 1000
                depart = back + int(min(session, 1e15))
                kind = "crash" if rng.random() < p.crash_share else "leave"
                returns.append((back, depart, kind))
            out.append(replace(prof, returns=tuple(returns)) if returns else prof)
        return out
