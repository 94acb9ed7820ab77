"""``rakis bench`` / ``python -m rakis_py.bench``: measure every figure, print them, keep them.

    python -m rakis_py.bench [--quick] [--json] [--only NAME,...] [--out FILE]
    python -m rakis_py.bench --markdown bench/results/latest.json   # a saved run as a Markdown table

``--json`` prints one JSON object on stdout: {"figures": {name: {median, min, max, runs, unit} |
{value: null, reason}}, "machine": {...}, "mode": "quick"|"full", "only": [names] | null, "finished",
"wall_s"}; progress goes to stderr.
Without it, a table. The same object is written to bench/results/latest.json (or --out).

--only measures some figures: its result goes to bench/results/partial.json (or --out), never to
latest.json, which always holds one complete run (every figure of the same run, machine and mode:
the README table is made from it)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import browser, build, core, machine, network, sim
from .chromium import stop_session
from .runner import ROOT, Context, is_measured, run_groups

# Order of the table and of the JSON object; cheap groups first.
GROUPS = (core.GROUP, sim.GROUP, sim.SCALING_GROUP, build.GROUP, browser.READY, browser.LLM, browser.EMBED,
          network.MESH, network.NODES)
FIGURES = tuple(name for g in GROUPS for name in g.figures)
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
PARTIAL_OUT = ROOT / "bench" / "results" / "partial.json"   # where --only writes unless --out is given


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="rakis bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and a reduced st1 (a few minutes)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--only", default="", help=f"comma-separated figure names; known: {', '.join(FIGURES)}")
    ap.add_argument("--out", type=Path, default=None,
                    help="where to write the results (JSON); default bench/results/latest.json, or "
                         "bench/results/partial.json with --only (latest.json keeps only complete runs)")
    ap.add_argument("--list", action="store_true", help="list the figure names and exit")
    ap.add_argument("--markdown", type=Path, metavar="RESULT_JSON",
                    help="print a saved result as a Markdown table (for the README) and exit")
    return ap.parse_args(argv)


def fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"


@dataclass(frozen=True)
class Layout:
    """One way of writing the results table: str.format templates for the lines above the rows, a
    measured figure's row, the row of one that could not be measured, and the closing line."""
    head: tuple[str, ...]
    measured: str
    missing: str
    foot: str


TEXT = Layout(
    head=("rakis bench ({mode}) {finished}",
          f"{'figure':<38} {'median':>10} {'min':>10} {'max':>10} {'runs':>4}  unit"),
    measured="{name:<38} {median:>10} {min:>10} {max:>10} {runs:>4}  {unit}",
    missing="{name:<38} " + "-".rjust(10) + "  {reason}",
    foot="machine: {machine}")
MARKDOWN = Layout(   # for the README
    head=("| figure | median | min | max | runs | unit |", "|---|---:|---:|---:|---:|---|"),
    measured="| `{name}` | {median} | {min} | {max} | {runs} | {unit} |",
    missing="| `{name}` | – | | | | {reason} |",
    foot="\n`rakis bench{quick}`, {finished}: {machine}")
MACHINE = "{cores} cores, {memory_gb} GB, load {load_avg_1m}, Python {python}, Node {node}, {chromium}"


def render(result: dict, layout: Layout) -> str:
    run = {"mode": result["mode"], "finished": result.get("finished", ""),
           "quick": " --quick" if result["mode"] == "quick" else "",
           "machine": MACHINE.format(**result["machine"])}
    rows = [line.format(**run) for line in layout.head]
    for name, fig in result["figures"].items():
        if is_measured(fig):
            rows.append(layout.measured.format(name=name, median=fmt(fig["median"]), min=fmt(fig["min"]),
                                               max=fmt(fig["max"]), runs=fig["runs"], unit=fig["unit"]))
        else:
            rows.append(layout.missing.format(name=name, reason=fig["reason"]))
    rows.append(layout.foot.format(**run))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list:
        print("\n".join(FIGURES))
        return 0
    if args.markdown:
        print(render(json.loads(args.markdown.read_text(encoding="utf-8")), MARKDOWN))
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
    result = {"figures": figures, "machine": machine.info(), "mode": ctx.mode, "only": only or None,
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "wall_s": round(time.monotonic() - t0, 1)}
    out = args.out or (PARTIAL_OUT if only else DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result))
    else:
        print(render(result, TEXT))
        print(f"(written to {out})")
    return 0
