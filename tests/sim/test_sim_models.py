"""The declared models do what their docs say: clock skew, bursts, per-pair region delays,
leave vs crash (and returns through Node.restore), and a forced total failure classified by phase."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rakis_py.protocol import actions as A
from rakis_py.protocol import events as E
from rakis_py.sim import scenarios
from rakis_py.sim.links import ChannelParams, LinkModel, LinkParams, region_medians
from rakis_py.sim.load import LoadModel, LoadParams
from rakis_py.sim.nodes import NodeModel, NodeParams
from rakis_py.sim.simulation import Simulation



class SkewProbe:
    """Records the `now` each event brings against the engine's virtual time; sets one timer."""

    def __init__(self, sim_ref, index):
        self.sim_ref, self.index, self.calls, self.timer = sim_ref, index, [], None

    def handle(self, ev, now):
        self.calls.append((self.sim_ref[0].engine.now, now))
        if isinstance(ev, E.WorkerStatus) and self.timer is None:
            self.timer = (now + 1_234, None)
            return [A.SetTimer("t", now + 1_234)]
        if isinstance(ev, E.TimerFired):
            self.timer = (self.timer[0], now)
        return []


def test_clock_skew_is_applied_to_every_event_and_timer():
    ref, probes = [None], {}

    def factory(profile, signer, rng, verify, scenario, record=False):
        probes[profile.index] = SkewProbe(ref, profile.index)
        return probes[profile.index]
    sc = replace(scenarios.tiny(), node_model=replace(scenarios.tiny().node_model, skew_sd_ms=3_000))
    sim = Simulation(sc, seed=4, node_factory=factory, share_decode=False)
    ref[0] = sim
    sim.run()
    skews = [p.skew_ms for p in sim.profiles]
    assert len(set(skews)) == len(skews) and all(skews)
    for i, probe in probes.items():
        assert probe.calls and all(now - virtual == skews[i] for virtual, now in probe.calls)
        asked, fired = probe.timer
        assert fired == asked          # a timer fires when the node's own (skewed) clock says


def test_bursts_arrive_as_declared():
    params = LoadParams(steady_per_min=1.0, bursts=((100, 40, 10), (200, 30, 5)))
    reqs = LoadModel(params).draw(300_000, seed=3)
    at = np.array([r.at_ms for r in reqs])
    assert ((at >= 100_000) & (at < 110_000)).sum() >= 40
    assert ((at >= 200_000) & (at < 205_000)).sum() >= 30
    outside = at[~(((at >= 100_000) & (at < 110_000)) | ((at >= 200_000) & (at < 205_000)))]
    assert len(outside) < 15                           # ~5 steady arrivals over 5 minutes
    # ... and the simulation submits them then (fake nodes: plumbing only)
    from .fake_node import fake_factory
    sc = replace(scenarios.tiny(), duration_s=300, load=replace(scenarios.tiny().load, steady_per_min=0.0,
                                                                 bursts=((100, 40, 10),)))
    sim = Simulation(sc, seed=3, node_factory=fake_factory, share_decode=False)
    s = sim.run()
    submitted = [(r.submitted_ms - sim.start) / 1000 for r in sim.metrics.requests]
    assert s["requests"] == 40 and all(100 <= t < 110 for t in submitted)
    assert all(r.requester is not None for r in sim.metrics.requests)


def test_per_pair_region_delays_with_the_single_number_default():
    regions = (("eu", 0.5), ("na", 0.3), ("asia", 0.2))
    default = region_medians(LinkParams(regions=regions))
    assert default.tolist() == [[40, 160, 160], [160, 40, 160], [160, 160, 40]]
    params = LinkParams(regions=regions, sigma=0.0, region_median_ms=(("eu", "asia", 400), ("na", "asia", 250)),
                        channels=(ChannelParams("a", loss=0.0),))
    assert region_medians(params).tolist() == [[40, 160, 400], [160, 40, 250], [400, 250, 40]]
    lm = LinkModel(params, np.array([0, 1, 2]), seed=1, start_ms=0, duration_ms=1000)
    fan = lm.fanout(0, np.array([1, 2]), 0, 100)
    assert fan.latency_ms[:, 0].tolist() == [161, 401]
    assert lm.fanout(2, np.array([1]), 0, 100).latency_ms[0, 0] == 251
    with pytest.raises(ValueError):
        region_medians(LinkParams(regions=regions, region_median_ms=(("eu", "mars", 9),)))


def churny(crash_share: float, **kw):
    sc = scenarios.small().with_size(16, 300)
    nm = replace(sc.node_model, session_median_s=60, crash_share=crash_share, crash_unflushed_ms=5_000,
                 away_median_s=20, **kw)
    return replace(sc, node_model=nm)


def test_returns_are_drawn_per_departure_kind_without_moving_other_draws():
    base = NodeModel(NodeParams(initial_share=0.5, session_median_s=60)).draw(200, 600_000, [1.0], seed=2)
    back = NodeModel(NodeParams(initial_share=0.5, session_median_s=60, rejoin_share=1.0)).draw(
        200, 600_000, [1.0], seed=2)
    assert [replace(p, returns=()) for p in back] == base
    returned = [p for p in back if p.returns]
    assert returned and all(p.leave_kind == "leave" for p in returned)   # crashes do not come back by default
    for p in returned:
        sessions = p.sessions()
        assert all(a[1] < b[0] for a, b in zip(sessions, sessions[1:]))  # back only after departing


def test_leavers_come_back_restored_from_their_records_and_crashes_lose_writes():
    """Real core: a leaver that comes back is rebuilt by Node.restore from what it persisted; its
    earlier session's jobs and timers never reach the new one; a crash also loses the writes of its
    last `crash_unflushed_ms` (a clean leave loses none)."""
    restored = []
    from rakis_py.sim.core_node import core_node_restore

    def spy(profile, signer, rng, verify, scenario, tables, now, **kw):
        node, actions = core_node_restore(profile, signer, rng, verify, scenario, tables, now, **kw)
        restored.append((profile.index, sum(len(v) for v in tables.values()), len(node.requests)))
        return node, actions

    leave = Simulation(churny(0.0, rejoin_share=1.0), seed=2, strict=True, node_restore=spy)
    s = leave.run()
    c = s["churn"]
    assert c["crashes"] == 0 and c["leaves"] > 0 and c["lost_writes"] == 0
    assert c["rejoins"] == c["restored"] == len(restored) > 0
    assert c["joins"] == s["nodes"] + c["rejoins"] and c["lost_work"] > 0
    assert any(n_records and n_requests for _i, n_records, n_requests in restored)   # it resumes known requests
    again = {i for i, *_ in restored}
    assert all(len(leave.timeline[i]) >= 2 for i in again)
    assert s["core_errors"] == {} and s["links"]["pending"] == 0
    # a departed tab's core is freed (memory), an online one's kept
    gone = [sn for sn in leave.nodes if sn.session and not sn.online]
    assert gone and all(sn.core is None for sn in gone)
    assert all(sn.core is not None for sn in leave.nodes if sn.online)

    crash = Simulation(churny(1.0, crash_rejoin_share=1.0), seed=2, strict=True).run()
    c = crash["churn"]
    assert c["leaves"] == 0 and c["crashes"] > 0 and c["rejoins"] > 0 and c["lost_writes"] > 0
    assert crash["core_errors"] == {}


@pytest.mark.parametrize("protocol,blackout_s,phase", [
    (2, 0, "missing_commits"), (1, 0, "missing_commits"),
    # every channel goes dark 3 s after the requests went out: they reach every node, the commits
    # do not (v1 nodes report "Not enough commitments"; a v2 node with only its own commit never
    # reveals)
    (2, 13, "missing_reveals"), (1, 13, "missing_commits"),
])
def test_forced_total_loss_is_classified_by_phase(protocol, blackout_s, phase):
    base = scenarios.tiny()
    sc = replace(base, load=replace(base.load, steady_per_min=0.0, bursts=((10, 3, 1),)),
                 links=replace(base.links, blackouts=((blackout_s, 1e6),))).with_protocol(protocol)
    s = Simulation(sc, seed=1, strict=True).run()
    assert s["requests"] == 3
    assert s["failed_by_phase"] == {phase: 3}, s["failed_by_phase"]
    assert not s["full_agreement_with_result"]
    fates = s["links"]["packet_fates"]
    assert fates["dropped:relay_outage"] > 0 and sum(fates.values()) == s["packets"]
