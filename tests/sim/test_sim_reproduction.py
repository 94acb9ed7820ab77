"""st1 reduced to 300 nodes (v1) / 200 nodes (v2) over 20 simulated minutes (fixed seed, about a
minute each): under v1 rules its observers' figures land near the public test's, under v2 every
honest node agrees.

The published consensus figures are ONE node's view of the published results, so they are
compared with what rakis_py.analytics computes from the recorded observers' datasets
(`observer_outcomes`, the mean of the two observers). Tolerances (rakis_py/sim/README.md):
full agreement 27.7% +- 12 points, majority 49.3% +- 20 points (at 300 nodes the simulator's v1
majority lands ~10 points high over seeds 1-5: a known gap, README), the corrected rates (published
82.75% / 85.8%) read as a filter on quorums (full agreement among the quorums whose publishers used
one commit count / one commit set) +- 12 points; read per publisher they come out lower, so those
are only bounded.
"""

from __future__ import annotations

import pytest

from rakis_py.sim import scenarios
from rakis_py.sim.simulation import Simulation


# Nodes over the run, simulated seconds. The v1 figures move with the online population (README:
# majority 68 / 59 / 41% at 200 / 300 / 400 nodes); 300 (~100 online) is where they land nearest.
V1_SIZE = (300, 1200)
SIZE = (200, 1200)
PUBLISHED = {"share_full": 0.277, "share_majority": 0.493,
             "share_full_one_commit_count": 0.8275, "share_full_one_commit_set": 0.858}
TOLERANCE = {"share_full": 0.12, "share_majority": 0.20,
             "share_full_one_commit_count": 0.12, "share_full_one_commit_set": 0.12}


def mean(outcomes: list[dict], key: str) -> float:
    return sum(o[key] for o in outcomes) / len(outcomes)


def test_reduced_st1_under_v1_lands_near_the_published_figures(tmp_path):
    s = Simulation(scenarios.st1().with_size(*V1_SIZE).with_protocol(1), seed=1, out_dir=str(tmp_path)).run()
    obs = s["observer_outcomes"]
    assert len(obs) == 2 and all(o["quorums"] >= 25 and o["quorums_one_commit_count"] >= 5 for o in obs), obs
    for key, published in PUBLISHED.items():
        assert abs(mean(obs, key) - published) <= TOLERANCE[key], (key, obs)
    for o in obs:
        # correcting for differing commits only removes disagreements (as in the report)
        assert o["share_full"] <= o["share_same_commit_count"] and o["share_full"] <= o["share_same_commit_set"]
    assert 0.5 <= mean(obs, "share_same_commit_set") <= 0.95, obs
    # network-wide, v1 rarely has every honest node end the same way; verification (exact-match
    # embeddings) and differing views are what fail
    assert s["full_agreement"] < 0.3
    assert s["failed_by_phase"].get("verification", 0) > 0 and s["failed_by_phase"].get("timing", 0) > 0


def test_same_reduced_st1_under_v2_every_honest_node_agrees(tmp_path):
    s = Simulation(scenarios.st1().with_size(*SIZE).with_protocol(2), seed=1, out_dir=str(tmp_path)).run()
    assert s["quorums"] >= 30
    assert s["full_agreement"] >= 0.99, s["failed_by_phase"]
    # what the observers see of the published results: a publisher that computed at the reveal
    # deadline without a late reveal (and recomputed when it came) leaves a differing published
    # packet behind (README: known v2 limit), so a little under the network-wide figure
    assert all(o["share_full"] >= 0.95 for o in s["observer_outcomes"]), s["observer_outcomes"]
    # what is left is requests that never reached quorum (not quorums)
    assert set(s["failed_by_phase"]) <= {"missing_commits"}, s["failed_by_phase"]
    assert s["core_errors"] == {}
