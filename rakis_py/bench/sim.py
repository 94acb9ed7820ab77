"""Simulator figures: share of fully agreed quorums in st1 under v1 and v2 rules, network-wide
(every honest node ends the same way) and as the recorded observers saw it (the published figure's
definition), and events/s.

Full mode runs st1 at its own size (2,000 nodes over one simulated hour; v1 rules take tens of
minutes per run here). Quick mode shrinks it with `Scenario.with_size` (what `rakis sim --nodes
--duration` does): fewer nodes over 10 simulated minutes, same models, so the figures are noisier
(each run has only ~10 quorums) but come out in about a minute."""

from __future__ import annotations

from .runner import Context, Group, summarize, unavailable

QUICK_SIZE = (150, 600)    # nodes over the run, simulated seconds
FULL_SIZE = (None, None)   # st1's own


def run_st1(protocol: int, seed: int, nodes: int | None, duration_s: float | None) -> dict:
    """One st1 run with its observers recorded (to a temporary folder), so the summary also has
    `observer_outcomes`: the published figures are one node's view, not the network-wide share."""
    import tempfile
    from rakis_py.sim import scenarios
    from rakis_py.sim.simulation import Simulation
    sc = scenarios.st1().with_size(nodes, duration_s).with_protocol(protocol)
    with tempfile.TemporaryDirectory(prefix="rakis-bench-sim-") as out:
        return Simulation(sc, seed=seed, out_dir=out).run()


def observer_full(summary: dict) -> float | None:
    """Mean of the recorded observers' full-agreement shares (the stability test's 27.7% is this
    figure for v1), None when no observer saw a quorum."""
    shares = [o["share_full"] for o in summary.get("observer_outcomes") or [] if o.get("share_full") is not None]
    return sum(shares) / len(shares) if shares else None


def measure(ctx: Context, wanted: frozenset[str]) -> dict:
    nodes, duration = QUICK_SIZE if ctx.quick else FULL_SIZE
    runs = ctx.runs(2, 3)
    size = f"st1 at {nodes or 'its'} nodes, {duration or 'its'} simulated s" if ctx.quick else "st1 (2000 nodes, 3600 s)"
    protocols = []
    if wanted & {"sim_st1_v1_full_agreement", "sim_st1_v1_observer_full_agreement", "sim_events_per_s"}:
        protocols.append(1)
    if wanted & {"sim_st1_full_agreement", "sim_st1_observer_full_agreement", "sim_events_per_s"}:
        protocols.append(2)
    agreement: dict[int, list[float]] = {p: [] for p in protocols}
    observed: dict[int, list[float]] = {p: [] for p in protocols}
    rates, quorums = [], {p: 0 for p in protocols}
    for p in protocols:
        for seed in range(1, runs + 1):
            s = run_st1(p, seed, nodes, duration)
            seen = observer_full(s)
            ctx.log(f"[bench]   st1 v{p} seed {seed}: full_agreement {s['full_agreement']} of "
                    f"{s['quorums']} quorums (observers' view {seen}), {s['wall_seconds']} s wall, "
                    f"{s['events_per_s']} events/s")
            if s.get("full_agreement") is not None:
                agreement[p].append(s["full_agreement"])
            if seen is not None:
                observed[p].append(seen)
            quorums[p] += s.get("quorums") or 0
            if s.get("events_per_s"):
                rates.append(s["events_per_s"])
    out = {}
    for name, p in (("sim_st1_v1_full_agreement", 1), ("sim_st1_full_agreement", 2)):
        if p in agreement and agreement[p]:
            out[name] = summarize(agreement[p], "share", 4,
                                  note=f"{size}, protocol v{p}, {quorums[p]} quorums over {runs} seeds")
    for name, p in (("sim_st1_v1_observer_full_agreement", 1), ("sim_st1_observer_full_agreement", 2)):
        if name in wanted and observed.get(p):
            out[name] = summarize(observed[p], "share", 4,
                                  note=f"{size}, protocol v{p}: mean over the recorded observers of the share "
                                       f"of quorums where every result they received equals their own (the "
                                       f"stability test's full agreement, 27.7% under v1)")
    if rates:
        out["sim_events_per_s"] = summarize(rates, "events/s", 0, note=f"{size}, v1 and v2 runs")
    return out


GROUP = Group("sim", ("sim_st1_v1_full_agreement", "sim_st1_full_agreement", "sim_st1_v1_observer_full_agreement",
                      "sim_st1_observer_full_agreement", "sim_events_per_s"), measure)

# Packets per request as a function of the number of nodes (how traffic scales): the
# real core for every node in the simulator's `tiny` model (always online, lossless links, every
# node a worker), so the count is the protocol's own, not losses' or churn's. One figure per
# (protocol, size); the 4-tab browser figure packets_per_request_n4 is the measured counterpart.
SCALING_QUICK = (4, 8, 16, 32)
SCALING_FULL = (4, 8, 16, 32, 64, 128)
SCALING_DURATION_S = 120


def scaling_name(protocol: int, nodes: int) -> str:
    return f"sim_packets_per_request_v{protocol}_n{nodes}"


SCALING_FIGURES = tuple(scaling_name(p, n) for p in (1, 2) for n in SCALING_FULL)


def measure_scaling(ctx: Context, wanted: frozenset[str]) -> dict:
    from rakis_py.sim import scenarios
    from rakis_py.sim.simulation import Simulation
    out = {}
    sizes = SCALING_QUICK if ctx.quick else SCALING_FULL
    for p in (1, 2):
        for n in SCALING_FULL:
            name = scaling_name(p, n)
            if name not in wanted:
                continue
            if n not in sizes:
                out[name] = unavailable(f"{n} nodes: full mode only (`rakis bench` without --quick)")
                continue
            values, quorums = [], 0
            for seed in range(1, ctx.runs(2, 3) + 1):
                sc = scenarios.tiny().with_size(n, SCALING_DURATION_S).with_protocol(p)
                summary = Simulation(sc, seed=seed).run()
                if summary.get("packets_per_request") is not None:
                    values.append(summary["packets_per_request"])
                quorums += summary.get("quorums") or 0
            ctx.log(f"[bench]   v{p} {n} nodes: packets/request {values}")
            out[name] = (summarize(values, "packets", 1, note=f"sim model `tiny` at {n} nodes (every one a worker, "
                                   f"lossless), protocol v{p}, {quorums} quorums; each packet counted once")
                         if values else unavailable("no request in the run"))
    return out


SCALING_GROUP = Group("sim_scaling", SCALING_FIGURES, measure_scaling)
