"""``rakis bench`` / ``python -m rakis_py.bench``: measure every figure, print them, keep them.

    python -m rakis_py.bench [--quick] [--json] [--only NAME,...] [--out FILE]
    python -m rakis_py.bench --markdown bench/results/latest.json   # a saved run as a Markdown table

``--json`` prints one JSON object on stdout: {"figures": {name: {median, min, max, runs, unit} |
{value: null, reason}}, "machine": {...}, "mode": "quick"|"full"}; progress goes to stderr.
Without it, a table. The same object is written to bench/results/latest.json (or --out)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import browser, core, machine, network, sim
from .chromium import stop_session
from .runner import ROOT, Context, is_measured, run_groups

# Order of the table and of the JSON object; cheap groups first.
GROUPS = (core.GROUP, sim.GROUP, browser.READY, browser.LLM, browser.EMBED, network.MESH, network.NODES)
FIGURES = tuple(name for g in GROUPS for name in g.figures)
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="rakis bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and a reduced st1 (a few minutes)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--only", default="", help=f"comma-separated figure names; known: {', '.join(FIGURES)}")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the results (JSON)")
    ap.add_argument("--list", action="store_true", help="list the figure names and exit")
    ap.add_argument("--markdown", type=Path, metavar="RESULT_JSON",
                    help="print a saved result as a Markdown table (for the README) and exit")
    return ap.parse_args(argv)


def fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"


def table(result: dict) -> str:
    rows = [f"rakis bench ({result['mode']}) {result['finished']}",
            f"{'figure':<38} {'median':>10} {'min':>10} {'max':>10} {'runs':>4}  unit"]
    for name, fig in result["figures"].items():
        if is_measured(fig):
            rows.append(f"{name:<38} {fmt(fig['median']):>10} {fmt(fig['min']):>10} {fmt(fig['max']):>10} "
                        f"{fig['runs']:>4}  {fig['unit']}")
        else:
            rows.append(f"{name:<38} {'-':>10}  {fig['reason']}")
    m = result["machine"]
    rows.append(f"machine: {m['cores']} cores, {m['memory_gb']} GB, load {m['load_avg_1m']}, "
                f"Python {m['python']}, Node {m['node']}, {m['chromium']}")
    return "\n".join(rows)


def markdown(result: dict) -> str:
    rows = ["| figure | median | min | max | runs | unit |", "|---|---:|---:|---:|---:|---|"]
    for name, fig in result["figures"].items():
        if is_measured(fig):
            rows.append(f"| `{name}` | {fmt(fig['median'])} | {fmt(fig['min'])} | {fmt(fig['max'])} | "
                        f"{fig['runs']} | {fig['unit']} |")
        else:
            rows.append(f"| `{name}` | – | | | | {fig['reason']} |")
    m = result["machine"]
    rows.append(f"\n`rakis bench{' --quick' if result['mode'] == 'quick' else ''}`, {result.get('finished', '')}: "
                f"{m['cores']} cores, {m['memory_gb']} GB, load {m['load_avg_1m']}, Python {m['python']}, "
                f"Node {m['node']}, {m['chromium']}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list:
        print("\n".join(FIGURES))
        return 0
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        print(f"rakis bench: unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}",
              file=sys.stderr)
        return 2
    ctx = Context(quick=args.quick)
    t0 = time.monotonic()
    try:
        figures = run_groups(GROUPS, ctx, only or None)
    finally:
        stop_session(ctx)
    result = {"figures": figures, "machine": machine.info(), "mode": ctx.mode,
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "wall_s": round(time.monotonic() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result))
    else:
        print(table(result))
        print(f"(written to {args.out})")
    return 0
