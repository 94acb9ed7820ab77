"""The stability report: one self-contained HTML file (PNG charts embedded as base64) with the
15 charts of stability test 1 and the headline figures table. A chart whose data is absent says
so instead of failing; each chart carries the definition of what it measures (the metric's
docstring). matplotlib is imported lazily with the Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import inspect
import io
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from . import metrics as M
from .io import Dataset

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass
class Chart:
    number: int
    title: str
    metric: Callable            # its docstring is the chart's text
    compute: Callable[[Sequence[Dataset]], Any]
    has_data: Callable[[Any], bool]
    draw: Callable[[Any, Any, Sequence[Dataset]], None]    # (figure, data, datasets)
    needs_two: bool = False
    needs: str = ""             # which records feed it (said when they are missing)


def _times(ts: Sequence[int]) -> list:
    return [_dt.datetime.fromtimestamp(t / 1000, tz=_dt.timezone.utc) for t in ts]


def _time_axis(ax) -> None:
    import matplotlib.dates as mdates
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    ax.set_xlabel("time (UTC)")


def _bars(ax, counts: dict, title: str, color=PALETTE[0], horizontal: bool = False) -> None:
    keys = list(counts)
    vals = [counts[k] for k in keys]
    if horizontal:
        ax.barh([str(k) for k in keys], vals, color=color)
    else:
        ax.bar([str(k) for k in keys], vals, color=color)
    ax.set_title(title, fontsize=10)


# ---------------------------------------------------------------------- drawing, one per chart

def _draw_visitors(fig, d, _ds) -> None:
    ax = fig.subplots()
    labels = ["sent a request", "ran AI workers"]
    shares = [100 * (d["share_requesting"] or 0), 100 * (d["share_working"] or 0)]
    bars = ax.bar(labels, shares, color=PALETTE[:2])
    for b, n in zip(bars, (d["requesting"], d["working"])):
        ax.annotate(f"{b.get_height():.1f}% ({n})", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom")
    ax.set_ylabel(f"% of {d['visitors']} visitors")
    ax.set_ylim(0, max(shares + [10]) * 1.2)


def _draw_tokens(fig, d, _ds) -> None:
    ax = fig.subplots()
    t = _times(d["t"])
    ax.plot(t, d["reported"], color=PALETTE[0], alpha=0.35, label="reported by peers")
    ax.plot(t, d["reported_ma"], color=PALETTE[0], label="reported (moving avg)")
    ax.plot(t, d["seen"], color=PALETTE[1], alpha=0.35, label="seen in reveals")
    ax.plot(t, d["seen_ma"], color=PALETTE[1], label="seen (moving avg)")
    ax.set_ylabel(f"tokens per {d['bucket_ms'] // 1000} s")
    ax.legend(fontsize=8)
    _time_axis(ax)


def _draw_divergence(fig, d, _ds) -> None:
    axes = fig.subplots(1, 2, sharey=False)
    a, b = d["labels"]
    t = _times(d["t"])
    for ax, name in zip(axes, ("requests", "results")):
        s = d[name]
        ax.bar(t, s["only_a"], width=d["bucket_ms"] / 86_400_000, color=PALETTE[0], label=f"only {a}")
        ax.bar(t, [-x for x in s["only_b"]], width=d["bucket_ms"] / 86_400_000, color=PALETTE[1],
               label=f"only {b}")
        ax.step(t, s["both"], where="post", color=PALETTE[7], lw=1, label="seen by both")
        share = f"{100 * s['share']:.1f}%" if s["share"] is not None else "n/a"
        ax.set_title(f"{name} seen by one observer only ({share} of {s['union']})", fontsize=10)
        ax.axhline(0, color="black", lw=0.5)
        ax.legend(fontsize=8)
        _time_axis(ax)
    axes[0].set_ylabel("items (B below the axis)")


def _draw_commits(fig, d, _ds) -> None:
    rows = d["rows"]
    ax = fig.subplots()
    x = list(range(len(rows)))
    keys = ("commits_diff", "reveals_diff") if d["two"] else ("commits_a", "reveals_a")
    names = ("commits A − B", "reveals A − B") if d["two"] else ("commits seen", "reveals seen")
    for k, (key, name) in enumerate(zip(keys, names)):
        ax.bar([i + (k - 0.5) * 0.4 for i in x], [r[key] for r in rows], width=0.4, color=PALETTE[k], label=name)
    ax.set_ylabel("difference between observers" if d["two"] else "per request")
    ax.axhline(0, color="black", lw=0.5)
    ax2 = ax.twinx()
    ax2.plot(x, [r["load"] for r in rows], color=PALETTE[3], lw=1, label="load: requests in the minute before")
    ax2.set_ylabel("network load (requests/min)", color=PALETTE[3])
    ax2.set_ylim(bottom=0)
    ax.set_xlabel("requests in order of first sight")
    _legend(ax, ax2)


def _legend(*axes) -> None:
    """One legend for twin axes, outside the plotting area (above it)."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    axes[0].legend(handles, labels, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.01),
                   ncol=min(len(labels), 4), frameon=False)


def _draw_channels(fig, d, _ds) -> None:
    import numpy as np
    chans = d["channels"]
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 1.2, 1.2]})
    types = list(d["by_type"])
    left = np.zeros(len(types))
    for i, c in enumerate(chans):
        vals = np.array([d["by_type"][tp].get(c, 0) / max(sum(d["by_type"][tp].values()), 1) for tp in types])
        axes[0].barh(types, 100 * vals, left=100 * left, color=PALETTE[i % 8], label=c)
        left += vals
    axes[0].set_yticks(range(len(types)), [f"{tp} ({sum(d['by_type'][tp].values())})" for tp in types])
    axes[0].set_xlabel("% of packets first delivered by the channel")
    _legend(axes[0])
    axes[0].tick_params(axis="y", labelsize=8)
    for ax, key, title in ((axes[1], "recent", f"recent {d['recent_packets']} packets"),
                           (axes[2], "peers_by_dominant", "peers by main channel")):
        ax.bar(chans, [d[key].get(c, 0) for c in chans], color=[PALETTE[i % 8] for i in range(len(chans))])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=30)


def _draw_efficiency(fig, d, _ds) -> None:
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    vals = [d["bytes_per_token"] or 0, d["tokens_per_packet"] or 0]
    bars = ax1.bar(["bytes / token", "tokens / packet"], vals, color=PALETTE[:2])
    for b, v in zip(bars, vals):
        ax1.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom")
    ax1.set_title(f"{d['bytes']:,} B, {d['packets']:,} packets, {d['tokens']:,} tokens", fontsize=9)
    by = sorted(d["bytes_by_type"].items(), key=lambda kv: kv[1])
    ax2.barh([k for k, _ in by], [v / 1024 for _, v in by], color=PALETTE[2])
    ax2.set_xlabel("KiB (distinct packets)")
    ax2.tick_params(axis="y", labelsize=8)


def _draw_chains(fig, d, _ds) -> None:
    _bars(fig.subplots(), d["by_chain"], f"{d['identities']} identities from {d['peers_with_identity']} of {d['peers']} peers")


def _draw_nodes(fig, d, _ds) -> None:
    ax = fig.subplots()
    t = _times(d["t"])
    ax.plot(t, d["nodes"], color=PALETTE[0], label="nodes online (heard in the last 10 min)")
    ax.plot(t, d["workers"], color=PALETTE[2], label="AI workers they report")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    _time_axis(ax)


def _draw_worker_dist(fig, d, _ds) -> None:
    ax = fig.subplots()
    _bars(ax, d["counts"], f"{d['nodes']} nodes with workers (mode {d['mode']})")
    ax.set_xlabel("AI workers per node")
    ax.set_ylabel("nodes")


def _draw_tokens_per_node(fig, d, _ds) -> None:
    import numpy as np
    ax = fig.subplots()
    vals = np.asarray(d["tokens"], dtype=float)
    bins = np.logspace(np.log10(max(vals.min(), 1)), np.log10(max(vals.max(), 2)), 30) if vals.max() > 10 * max(vals.min(), 1) else 20
    ax.hist(vals, bins=bins, color=PALETTE[0])
    if not isinstance(bins, int):
        ax.set_xscale("log")
    ax.set_xlabel("tokens reported by the node")
    ax.set_ylabel("nodes")
    ax.set_title(f"{d['nodes']} nodes, median {d['median']:,.0f} tokens", fontsize=10)


def _draw_consensus(fig, d, _ds) -> None:
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    # The last two: the corrections read as a filter on quorums (their own denominators).
    names = ["full agreement", "majority (>50%)", "same commit count", "identical commit sets",
             f"full, one count\n({d.get('quorums_one_commit_count') or 0} quorums)",
             f"full, one set\n({d.get('quorums_one_commit_set') or 0} quorums)"]
    keys = ["share_full", "share_majority", "share_same_commit_count", "share_same_commit_set",
            "share_full_one_commit_count", "share_full_one_commit_set"]
    vals = [100 * d[k] if d.get(k) is not None else 0 for k in keys]
    bars = ax1.bar(names, vals, color=PALETTE[:6])
    for b, k in zip(bars, keys):
        ax1.annotate("n/a" if d.get(k) is None else f"{100 * d[k]:.1f}%",
                     (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom")
    ax1.set_ylim(0, 110)
    ax1.set_ylabel(f"% of {d['quorums']} quorums")
    ax1.tick_params(axis="x", labelsize=7, rotation=15)
    own = d["own_outcomes"] or {"(none)": 0}
    ax2.barh(list(own), list(own.values()), color=PALETTE[7])
    ax2.set_title("this node's consensus runs", fontsize=10)
    ax2.tick_params(axis="y", labelsize=7)


def _draw_verification(fig, d, _ds) -> None:
    ax = fig.subplots()
    t = _times(d["t"])
    w = d["bucket_ms"] / 86_400_000
    ax.bar(t, d["own"], width=w, color=PALETTE[3], label="rejected by this node")
    ax.bar(t, d["remote"], width=w, bottom=d["own"], color=PALETTE[1], label="rejections announced by others")
    ax.set_ylabel(f"rejected reveals per {d['bucket_ms'] // 1000} s")
    ax.set_ylim(0, max([a + b for a, b in zip(d["own"], d["remote"])] + [1]) * 1.15)
    ax2 = ax.twinx()
    ax2.plot(t, d["reveals"], color=PALETTE[7], lw=1, label="reveals seen (right axis)")
    ax2.set_ylabel("reveals seen")
    ax2.set_ylim(bottom=0)
    _legend(ax, ax2)
    _time_axis(ax)


def _draw_embeddings(fig, d, _ds) -> None:
    ax = fig.subplots()
    for i, rid in enumerate(d["requests"]):
        pts = [p for p in d["points"] if p["requestId"] == rid]
        for ok, marker in ((True, "o"), (False, "x")):
            sel = [p for p in pts if p["accepted"] == ok]
            if sel:
                ax.scatter([p["x"] for p in sel], [p["y"] for p in sel], color=PALETTE[i % 8], marker=marker,
                           label=f"{rid}{'' if ok else ' (not accepted)'}", s=30)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7)


def _draw_distances(fig, d, _ds) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(d["distances"], bins=20, color=PALETTE[0])
    if d["covering"] is not None:
        ax1.axvline(d["covering"], color=PALETTE[3], ls="--",
                    label=f"{d['coverage']:.0%} of {d['covering_basis']} within {d['covering']:.1f}")
        ax1.legend(fontsize=8)
    ax1.set_xlabel(f"mean in-cluster distance ({d['unit']})")
    ax1.set_ylabel("quorums")
    ax2.scatter(d["commits"], d["distances"], color=PALETTE[1], s=15)
    ax2.set_xlabel("commits held")
    ax2.set_ylabel("in-cluster distance")


def _draw_tps(fig, d, _ds) -> None:
    ax = fig.subplots()
    ax.scatter(_times([s[0] for s in d["samples"]]), [s[1] for s in d["samples"]], s=10,
               color=PALETTE[0], alpha=0.6, label="tokens/s of each inference")
    ax.set_ylabel("tokens/s", color=PALETTE[0])
    ax.set_ylim(bottom=0, top=max(v for _, v in d["samples"]) * 1.15)
    ax2 = ax.twinx()
    ax2.plot(_times(d["t"]), d["requests_per_min"], color=PALETTE[3], lw=1, label="network requests/min (right axis)")
    ax2.set_ylabel("requests/min", color=PALETTE[3])
    ax2.set_ylim(bottom=0)
    _legend(ax, ax2)
    _time_axis(ax)


CHARTS: list[Chart] = [
    Chart(1, "Visitors who sent a request / ran workers", M.visitor_shares,
          lambda ds: M.visitor_shares(ds[0]), lambda d: d["visitors"] > 0, _draw_visitors, needs="packet or peer records"),
    Chart(2, "Tokens reported by peers vs tokens seen", M.tokens_over_time,
          lambda ds: M.tokens_over_time(ds[0]), lambda d: bool(d["t"]) and (d["total_seen"] or d["total_reported"]) > 0,
          _draw_tokens, needs="peer samples (totalTokens) or reveal records with tokens"),
    Chart(3, "Two observers: requests and results seen by one but not the other", M.divergence,
          lambda ds: M.divergence(ds[0], ds[1]), lambda d: d["requests"]["union"] + d["results"]["union"] > 0,
          _draw_divergence, needs_two=True, needs="request/published records in two datasets"),
    Chart(4, "Commits and reveals per request, against network load", M.commits_reveals,
          lambda ds: M.commits_reveals(ds[0], ds[1] if len(ds) > 1 else None),
          lambda d: any(r["commits_a"] or r["reveals_a"] or r.get("commits_b") or r.get("reveals_b") for r in d["rows"]),
          _draw_commits, needs="request records with commit/reveal records"),
    Chart(5, "Delivery channel mix", M.channel_mix, lambda ds: M.channel_mix(ds[0]),
          lambda d: bool(d["overall"]), _draw_channels, needs="accepted packet records"),
    Chart(6, "Bytes per token and tokens per packet", M.traffic_efficiency,
          lambda ds: M.traffic_efficiency(ds[0]), lambda d: d["packets"] > 0 and d["tokens"] > 0, _draw_efficiency, needs="packet/sent records and reveal tokens"),
    Chart(7, "Wallet / chain distribution of chain identities", M.chain_distribution,
          lambda ds: M.chain_distribution(ds[0]), lambda d: d["identities"] > 0, _draw_chains, needs="peer samples with chainIds"),
    Chart(8, "Node count and AI worker count over time", M.node_counts, lambda ds: M.node_counts(ds[0]),
          lambda d: d["distinct_nodes"] > 0, _draw_nodes, needs="packet records (and peer samples for workers)"),
    Chart(9, "Worker-count distribution per node", M.worker_distribution,
          lambda ds: M.worker_distribution(ds[0]), lambda d: d["nodes"] > 0, _draw_worker_dist, needs="peer samples with totalWorkers"),
    Chart(10, "Tokens contributed per node", M.tokens_per_node, lambda ds: M.tokens_per_node(ds[0]),
          lambda d: d["nodes"] > 0, _draw_tokens_per_node, needs="peer samples with totalTokens"),
    Chart(11, "Consensus outcomes", M.consensus_outcomes, lambda ds: M.consensus_outcomes(ds[0]),
          lambda d: d["quorums"] > 0 or bool(d["own_outcomes"]), _draw_consensus, needs="published (or consensus) records"),
    Chart(12, "Embedding verification failures over time", M.verification_failures,
          lambda ds: M.verification_failures(ds[0]), lambda d: bool(d["t"]) and sum(d["reveals"]) + d["total_own"] + d["total_remote"] > 0,
          _draw_verification, needs="verification and reveal records"),
    Chart(13, "Embedding space: outputs of a few requests (2-D projection)", M.embedding_projection,
          lambda ds: M.embedding_projection(ds[0]), lambda d: len(d["points"]) >= 2, _draw_embeddings, needs="reveal records with bEmbedding"),
    Chart(14, "In-cluster distance per quorum", M.cluster_distance_stats,
          lambda ds: M.cluster_distance_stats(ds[0]), lambda d: bool(d["distances"]), _draw_distances, needs="successful consensus records with clusterDistance"),
    Chart(15, "This node's tokens per second vs network request rate", M.tokens_per_second,
          lambda ds: M.tokens_per_second(ds[0]), lambda d: bool(d["samples"]), _draw_tps, needs="worker records with tokensPerSecond"),
]


# ---------------------------------------------------------------------- rendering

def render_png(chart: Chart, data: Any, datasets: Sequence[Dataset], width: float = 10, height: float = 4) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), dpi=100)
    try:
        chart.draw(fig, data, datasets)
        fig.suptitle(f"{chart.number}. {chart.title}", fontsize=12)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def chart_section(chart: Chart, datasets: Sequence[Dataset]) -> dict:
    """{number, title, text, png (bytes|None), note}: the chart rendered, or why it is absent."""
    text = inspect.getdoc(chart.metric) or ""
    out = {"number": chart.number, "title": chart.title, "text": text, "png": None, "note": None}
    if chart.needs_two and len(datasets) < 2:
        out["note"] = "Needs two datasets (two observer nodes): run `rakis analyze A B --out DIR`."
        return out
    try:
        data = chart.compute(datasets)
        if not chart.has_data(data):
            out["note"] = f"No data for this chart in the dataset(s): it needs {chart.needs}."
            return out
        out["png"] = render_png(chart, data, datasets)
    except Exception as e:          # one broken chart must not sink the report
        out["note"] = f"Could not draw this chart: {type(e).__name__}: {e}"
    return out


def _fmt(row: dict) -> str:
    v = row["value"]
    if v is None:
        return "n/a"
    if row.get("percent") and isinstance(v, (int, float)):
        return f"{100 * v:.1f}%"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
section{margin:2em 0;border-top:1px solid #ddd}pre{white-space:pre-wrap;font-family:inherit;color:#444}
img{max-width:100%}.note{color:#a33;font-style:italic}"""


def build_report(datasets: Sequence[Dataset], title: str = "Rakis stability report",
                 sections: Optional[Sequence[dict]] = None) -> str:
    """The whole report as one HTML string (no external resources). `sections`: already rendered
    `chart_section`s (default: render every chart)."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"]
    parts.append("<h2>Datasets</h2><ul>")
    for ds in datasets:
        lo, hi = ds.span()
        counts = ", ".join(f"{k}: {len(v)}" for k, v in sorted(ds.kinds.items()))
        parts.append(f"<li><b>{e(ds.label)}</b> ({e(str(ds.meta.get('runtime', '?')))}, "
                     f"{e(str(ds.meta.get('schema', '?')))}) {e(ds.path)}: {(hi - lo) / 60000:.1f} min; {e(counts)}</li>")
    parts.append("</ul><h2>Headline figures</h2><table><tr><th>figure</th><th>this run</th>"
                 "<th>stability test 1</th></tr>")
    for row in M.headline(datasets):
        parts.append(f"<tr><td>{e(row['figure'])}</td><td>{e(_fmt(row))}</td><td>{e(row['test'])}</td></tr>")
    parts.append("</table>")
    for s in sections if sections is not None else (chart_section(c, datasets) for c in CHARTS):
        parts.append(f"<section id='chart-{s['number']}'><h2>{s['number']}. {e(s['title'])}</h2>")
        if s["png"] is not None:
            b64 = base64.b64encode(s["png"]).decode("ascii")
            parts.append(f"<img alt='chart {s['number']}' src='data:image/png;base64,{b64}'>")
        else:
            parts.append(f"<p class='note'>{e(s['note'] or '')}</p>")
        parts.append(f"<pre>{e(s['text'])}</pre></section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(datasets: Sequence[Dataset], out_dir: str, title: Optional[str] = None) -> str:
    """Write `out_dir/report.html`; returns its path."""
    import os
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(build_report(datasets, title or "Rakis stability report"))
    return path
