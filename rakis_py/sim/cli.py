"""``rakis sim``: run one scenario and print/write what it measured.

    rakis sim --scenario st1 --nodes 2000 --duration 3600 --protocol v1 --seed 1 --json --out DIR

``--json`` prints one JSON object (the summary) on stdout; without it a short human summary.
``--out DIR`` writes the datasets of ``--record`` observer nodes in the browser's schema
(``DIR/observer-<k>.jsonl``, ``rakis-dataset/1``, recording.py), ``DIR/summary.json``,
``DIR/quorums.jsonl`` (network-wide verdicts), ``DIR/sim.png`` (plots.py) and, unless
``--no-report``, the stability report of the observers (``DIR/report/report.html``, the same as
``rakis analyze DIR/observer-0.jsonl DIR/observer-1.jsonl --out DIR/report``).
``--network-log`` adds ``DIR/network.jsonl``: every copy of every packet (``rakis-dataset/0``,
dataset.py; small runs only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import scenarios


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rakis sim", description="Discrete-event simulator of a Rakis network.")
    ap.add_argument("--scenario", default="small", choices=sorted(scenarios.SCENARIOS))
    ap.add_argument("--nodes", type=int, default=None, help="nodes over the whole run (default: the scenario's)")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds of load (default: the scenario's)")
    ap.add_argument("--protocol", choices=("v1", "v2"), default="v2",
                    help="protocol rules of every request (default v2, for every scenario; v1 only when asked)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crypto", choices=("standin", "ed25519"), default=None,
                    help="signing: declared stand-in (fast) or real Ed25519")
    ap.add_argument("--strict", action="store_true", help="stop at the first exception out of the core")
    ap.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    ap.add_argument("--out", default=None, help="write observer datasets, summary.json, quorums.jsonl and plots here")
    ap.add_argument("--record", type=int, default=2, help="observer nodes whose datasets --out writes (default 2)")
    ap.add_argument("--no-report", action="store_true", help="with --out: skip the observers' HTML report")
    ap.add_argument("--network-log", action="store_true",
                    help="with --out: also write network.jsonl, every copy of every packet (large)")
    return ap


def configure(args: argparse.Namespace) -> scenarios.Scenario:
    from dataclasses import replace
    sc = scenarios.get(args.scenario).with_size(args.nodes, args.duration)
    sc = sc.with_protocol(1 if args.protocol == "v1" else 2)
    if args.crypto:
        sc = replace(sc, crypto=args.crypto)
    return sc


def write_report(out: str, datasets: list[str], sc: scenarios.Scenario, seed: int) -> str:
    """The observers' stability report, built by rakis_py.analytics from the files just written."""
    from rakis_py.analytics.io import load_dataset
    from rakis_py.analytics.report import write_report as analytics_report
    loaded = [load_dataset(os.path.join(out, name)) for name in datasets]
    title = f"rakis sim {sc.name} (v{sc.load.frame.protocol}, {sc.nodes} nodes, seed {seed}): observers"
    path = analytics_report(loaded, os.path.join(out, "report"), title)
    return os.path.relpath(path, out)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sweep":
        from .sweep import main as sweep_main
        return sweep_main(argv[1:])
    args = build_parser().parse_args(argv)
    sc = configure(args)
    from .simulation import Simulation
    sim = Simulation(sc, seed=args.seed, out_dir=args.out, strict=args.strict, record=args.record,
                     network_log=args.network_log)
    summary = sim.run()
    if args.out:
        if not args.no_report and summary.get("observer_datasets"):
            summary["report"] = write_report(args.out, summary["observer_datasets"], sc, args.seed)
        with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)
    if args.json:
        print(json.dumps(summary, separators=(",", ":")))
    else:
        keys = ("scenario", "protocol", "nodes", "nodes_max_online", "requests", "quorums",
                "full_agreement", "majority_agreement", "publisher_agreement", "failed_by_phase",
                "packets_per_request", "bytes_per_token", "tokens_per_packet", "core_errors",
                "sim_seconds", "wall_seconds", "events_per_s")
        for k in keys:
            print(f"{k:>22}: {summary.get(k)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
