"""The simulator's own charts (matplotlib, Agg backend, imported lazily: CPython only).

* ``plot_run``: one run, network-wide (what no single node sees): per-request outcome over time,
  failed phases, online nodes over time, packets by type. Written to ``DIR/sim.png`` by
  ``rakis sim --out DIR`` (the observers' own charts are ``rakis analyze``'s report).
* ``plot_sweep``: full agreement vs network size, one line per protocol (and per other grid
  setting), the threshold as a dashed line. Written by ``rakis sim sweep --out DIR``.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

PHASES = ("missing_commits", "missing_reveals", "verification", "clustering", "timing")
COLORS = {"full": "#2a9d8f", "none": "#8ab17d", "majority": "#e9c46a", "failed": "#e76f51"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def online_series(timeline: dict, start: int, end: int, step_ms: int = 10_000) -> tuple[list, list]:
    """(minutes, nodes online) sampled every ``step_ms`` from {node: [(join, leave)]}."""
    edges = Counter()
    for spans in timeline.values():
        for a, b in spans:
            edges[a] += 1
            edges[min(b, end + 1)] -= 1
    xs, ys, cur, pending = [], [], 0, sorted(edges.items())
    k = 0
    for t in range(start, end + 1, step_ms):
        while k < len(pending) and pending[k][0] <= t:
            cur += pending[k][1]
            k += 1
        xs.append((t - start) / 60_000)
        ys.append(cur)
    return xs, ys


def plot_run(summary: dict, requests: Sequence[tuple[float, dict]], online: tuple[list, list], path: str) -> str:
    """``requests``: (minutes since start, verdict) per request (metrics.py verdicts)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), dpi=100)
    try:
        ax = axes[0][0]
        for label, color, pick in (("full agreement on a result", "full", lambda v: v["full_with_result"]),
                                   ("all agreed: no result", "none", lambda v: v["full"] and not v["full_with_result"]),
                                   ("majority only", "majority", lambda v: v["majority"] and not v["full"]),
                                   ("no majority", "failed", lambda v: not v["majority"])):
            pts = [(m, v["participants"]) for m, v in requests if v["quorum"] and pick(v)]
            if pts:
                color = COLORS[color]
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, label=f"{label} ({len(pts)})",
                           color=color, alpha=0.8)
        ax.set_xlabel("simulated minutes")
        ax.set_ylabel("participants (honest committers)")
        ax.set_title("Quorums by outcome over time")
        ax.legend(fontsize=8)

        ax = axes[0][1]
        phases = summary.get("failed_by_phase") or {}
        names = [p for p in PHASES if p in phases] + sorted(set(phases) - set(PHASES))
        ax.bar(names, [phases[p] for p in names], color=COLORS["failed"])
        if not names:
            ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"Requests without full agreement, by phase ({sum(phases.values())} of "
                     f"{summary.get('requests')})")
        ax.tick_params(axis="x", labelsize=8)

        ax = axes[1][0]
        ax.plot(online[0], online[1], color="#264653")
        ax.set_xlabel("simulated minutes")
        ax.set_ylabel("nodes online")
        ax.set_title(f"Nodes online ({summary.get('nodes')} distinct over the run)")

        ax = axes[1][1]
        by_type = summary.get("packets_by_type") or {}
        kinds = sorted(by_type, key=lambda k: -by_type[k])
        ax.barh(kinds, [by_type[k] for k in kinds], color="#8ab17d")
        ax.set_xscale("log")
        ax.set_title(f"Packets sent by type ({summary.get('packets_per_request')} per request)")
        ax.tick_params(axis="y", labelsize=8)

        full, maj = summary.get("full_agreement"), summary.get("majority_agreement")
        fmt = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        fig.suptitle(f"rakis sim {summary.get('scenario')} v{summary.get('protocol')} seed {summary.get('seed')}: "
                     f"{summary.get('quorums')} quorums, full agreement {fmt(full)}, majority {fmt(maj)}")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def plot_sweep(rows: Sequence[dict], threshold: float, path: str, title: str = "") -> str:
    """Full agreement vs nodes; one line per (protocol, rate, loss, partition) setting."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    try:
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault((r["protocol"], r.get("rate"), r.get("loss"), r.get("partition_s")), []).append(r)
        styles = {"v1": ("#e76f51", "o"), "v2": ("#2a9d8f", "s")}
        for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            rs = sorted((r for r in rs if r["full_agreement"] is not None), key=lambda r: r["nodes"])
            if not rs:
                continue
            extra = ", ".join(f"{n} {v}" for n, v in zip(("rate", "loss", "partition s"), key[1:]) if v is not None)
            color, marker = styles.get(key[0], ("#264653", "^"))
            ax.plot([r["nodes"] for r in rs], [100 * r["full_agreement"] for r in rs], marker=marker,
                    color=color, label=key[0] + (f" ({extra})" if extra else ""),
                    alpha=1.0 if not extra else 0.75)
        ax.axhline(100 * threshold, color="#888", linestyle="--", linewidth=1, label=f"threshold {100 * threshold:.0f}%")
        ax.set_xscale("log")
        ax.set_xlabel("nodes over the run (log)")
        ax.set_ylabel("quorums with full agreement (%)")
        ax.set_ylim(-2, 102)
        ax.set_title(title or "Agreement vs network size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
