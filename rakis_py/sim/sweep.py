"""``rakis sim sweep``: run a scenario over a grid and find where agreement breaks, and why.

    rakis sim sweep --scenario small --nodes 10 20 40 80 --protocol v1 v2 --loss 0.01 0.1 \
        --rate 2 6 --partition-s 0 30 --duration 300 --seed 1 --json

One run per grid point (nodes x protocol x rate x loss x partition length). Each row holds the
point, full/majority agreement and the most common failed phase. ``breaking_points`` gives, per
protocol and per (rate, loss, partition) setting, the smallest node count whose full agreement is
below ``--threshold`` (default 0.95), with that point's ``failed_by_phase`` and the phase that
failed most among its quorums (``breaks_at_nodes`` null: never below the threshold on the grid).
``--out DIR`` writes ``DIR/sweep.json`` (the same object ``--json`` prints) and
``DIR/agreement_vs_nodes.png``: full agreement vs network size, v1 and v2 on one chart (plots.py).
``--merge A/sweep.json ...`` adds the rows of earlier sweeps of the same scenario (the breaking
points and the chart then cover them too): big sizes can run in parts, on other days.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace

from . import scenarios
from .links import PartitionParams


def point(base: scenarios.Scenario, nodes: int, protocol: int, rate: float | None, loss: float | None,
          partition_s: float | None, duration: float | None) -> scenarios.Scenario:
    sc = base.with_size(nodes, duration).with_protocol(protocol)
    if rate is not None:
        sc = replace(sc, load=replace(sc.load, steady_per_min=rate))
    if loss is not None:
        sc = replace(sc, links=replace(sc.links, channels=tuple(replace(c, loss=loss) for c in sc.links.channels)))
    if partition_s is not None:
        pp = sc.links.partitions
        pp = PartitionParams(per_hour=max(pp.per_hour, 4.0), mean_s=partition_s, share=pp.share) \
            if partition_s > 0 else PartitionParams(per_hour=0.0)
        sc = replace(sc, links=replace(sc.links, partitions=pp))
    return sc


def _setting(row: dict) -> tuple:
    return (row["protocol"], row["rate"], row["loss"], row["partition_s"])


def _order(row: dict) -> tuple:
    return tuple(-1 if v is None else v for v in _setting(row)) + (row["nodes"],)


def load_rows(paths: list[str], scenario: str) -> tuple[list[dict], dict]:
    """Rows of earlier sweeps of the same scenario (a long grid can run in parts), and the
    duration and seed they share (None where they differ)."""
    rows, shared = [], {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("sweep") != scenario:
            raise SystemExit(f"rakis sim sweep: {path} is a sweep of {data.get('sweep')!r}, not {scenario!r}")
        rows.extend(data["rows"])
        for k in ("duration_s", "seed"):
            shared[k] = data.get(k) if shared.get(k, data.get(k)) == data.get(k) else None
    return rows, shared


def merge_rows(earlier: list[dict], new: list[dict]) -> list[dict]:
    """One row per point (the newest wins), ordered by setting then nodes."""
    by_point = {(*_setting(r), r["nodes"]): r for r in earlier}
    by_point.update({(*_setting(r), r["nodes"]): r for r in new})
    return sorted(by_point.values(), key=_order)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="rakis sim sweep")
    ap.add_argument("--scenario", default="small", choices=sorted(scenarios.SCENARIOS))
    ap.add_argument("--nodes", type=int, nargs="*", default=None,
                    help="network sizes (default 10 20 40; none with --merge: only combine earlier sweeps)")
    ap.add_argument("--protocol", nargs="+", choices=("v1", "v2"), default=["v1", "v2"])
    ap.add_argument("--rate", type=float, nargs="+", default=[None], help="steady requests per minute")
    ap.add_argument("--loss", type=float, nargs="+", default=[None], help="loss per copy on every channel")
    ap.add_argument("--partition-s", type=float, nargs="+", default=[None], help="mean partition length (0 = none)")
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="skip a setting's bigger sizes after this many consecutive points below the threshold (0: run all)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="write sweep.json and agreement_vs_nodes.png here")
    ap.add_argument("--merge", nargs="+", default=[], metavar="SWEEP_JSON",
                    help="rows of earlier sweeps (sweep.json) to report and plot with this one's; "
                         "a point run again here replaces the earlier row")
    a = ap.parse_args(argv)
    earlier, shared = load_rows(a.merge, a.scenario)
    if a.nodes is None:
        a.nodes = [] if a.merge else [10, 20, 40]
    if not a.nodes and a.merge:          # only combining: say what the parts ran
        a.duration, a.seed = shared.get("duration_s"), shared.get("seed")
    from .simulation import Simulation
    base = scenarios.get(a.scenario)
    rows = []
    below_run: dict[tuple, int] = {}     # setting -> consecutive points below the threshold
    for proto, rate, loss, part, n in itertools.product(a.protocol, a.rate, a.loss, a.partition_s, sorted(a.nodes)):
        p = 1 if proto == "v1" else 2
        setting = (proto, rate, loss, part)
        if a.stop_after and below_run.get(setting, 0) >= a.stop_after:
            continue                     # broken for good: bigger sizes only cost time
        s = Simulation(point(base, n, p, rate, loss, part, a.duration), seed=a.seed).run()
        phases = s["failed_quorums_by_phase"]
        fa = s["full_agreement"]
        below_run[setting] = below_run.get(setting, 0) + 1 if fa is not None and fa < a.threshold else 0
        rows.append({"protocol": proto, "nodes": n, "rate": rate, "loss": loss, "partition_s": part,
                     "requests": s["requests"], "quorums": s["quorums"],
                     "nodes_max_online": s["nodes_max_online"],
                     "full_agreement": s["full_agreement"], "majority_agreement": s["majority_agreement"],
                     "full_agreement_with_result": s["full_agreement_with_result"],
                     "failed_by_phase": s["failed_by_phase"], "failed_quorums_by_phase": phases,
                     "top_phase": max(phases, key=lambda k: (phases[k], k)) if phases else None,
                     "packets_per_request": s["packets_per_request"], "wall_seconds": s["wall_seconds"]})
        if not a.json:
            print(json.dumps(rows[-1]))
    rows = merge_rows(earlier, rows)
    breaking = []
    for key, group in itertools.groupby(rows, key=_setting):
        below = [r for r in group if r["full_agreement"] is not None and r["full_agreement"] < a.threshold]
        first = below[0] if below else None
        breaking.append({"protocol": key[0], "rate": key[1], "loss": key[2], "partition_s": key[3],
                         "breaks_at_nodes": first["nodes"] if first else None,
                         "full_agreement": first["full_agreement"] if first else None,
                         "failed_by_phase": first["failed_by_phase"] if first else None,
                         "failed_quorums_by_phase": first["failed_quorums_by_phase"] if first else None,
                         "phase": first["top_phase"] if first else None})
    out = {"sweep": a.scenario, "threshold": a.threshold, "duration_s": a.duration, "seed": a.seed,
           "rows": rows, "breaking_points": breaking}
    if a.merge:
        out["merged"] = a.merge
    if a.out:
        import os
        from .plots import plot_sweep
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "sweep.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
        out["plot"] = plot_sweep(rows, a.threshold, os.path.join(a.out, "agreement_vs_nodes.png"),
                                 f"rakis sim sweep {a.scenario}: full agreement vs nodes (seed {a.seed})")
    print(json.dumps(out, separators=(",", ":")) if a.json else json.dumps(breaking, indent=1))
    return 0
